// names.go applies the core's input rules (internal/rules): the naming
// rules of channels, groups and uuids, the per-call limit, the canonical
// JSON of states and the choice of a heartbeat's state per channel, with
// this backend's limits, so a name or a state is accepted or refused with
// the same message as by the in-memory engine.

package presenceredis

import (
	"github.com/presencekit/presence"
	"github.com/presencekit/presence/internal/rules"
)

// newRules returns the core's rules with the limits of cfg (defaults
// applied) and the core's sentinel errors.
func newRules(cfg presence.Config) rules.Rules {
	return rules.Rules{
		MaxNameBytes:      cfg.MaxNameBytes,
		MaxNamesPerCall:   cfg.MaxNamesPerCall,
		MaxStateBytes:     cfg.MaxStateBytes,
		StrictNames:       cfg.StrictNames,
		ErrInvalidName:    presence.ErrInvalidName,
		ErrInvalidChannel: presence.ErrInvalidChannel,
		ErrInvalidGroup:   presence.ErrInvalidGroup,
		ErrInvalidUUID:    presence.ErrInvalidUUID,
		ErrTooManyNames:   presence.ErrTooManyNames,
		ErrInvalidState:   presence.ErrInvalidState,
		ErrStateTooLarge:  presence.ErrStateTooLarge,
	}
}

// checkName validates one name (see rules.Rules.CheckName).
func (b *Backend) checkName(kind, name string, channelLike bool) error {
	return b.rules.CheckName(kind, name, channelLike)
}

func (b *Backend) checkUUID(uuid string) error { return b.rules.CheckName("uuid", uuid, false) }

// checkNames validates the channels and groups of a call and the per-call
// limit on distinct names.
func (b *Backend) checkNames(channels, groups []string) error {
	return b.rules.CheckTargets(channels, groups)
}

// canonicalState is rules.Rules.CanonicalState with this backend's limits.
func (b *Backend) canonicalState(v any) (string, error) { return b.rules.CanonicalState(v) }

// stateArg is the state a heartbeat sets on one channel.
type stateArg = rules.StateArg

// heartbeatStates picks the state of each target channel from a heartbeat's
// state map (see rules.Rules.HeartbeatStates).
func (b *Backend) heartbeatStates(m map[string]any, channels, groups []string, t targets) ([]stateArg, error) {
	return b.rules.HeartbeatStates(m, channels, groups, t.channels, t.groupChans)
}
