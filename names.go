// names.go applies the naming rules of channels, groups and uuids (in
// internal/rules, shared with the other backends: non-empty, valid UTF-8,
// at most MaxNameBytes, no control character or ',', no "-pnpres" suffix on
// a channel or group), and holds resolve, which validates the targets of
// one call and expands its channel groups into a duplicate-free channel
// list.

package presence

import "github.com/presencekit/presence/internal/rules"

// checkUUID validates a uuid: the basic rules only.
func (e *Engine) checkUUID(uuid string) error { return e.rules.CheckName("uuid", uuid, false) }

// checkName validates one name (see rules.CheckName).
func (e *Engine) checkName(kind, name string, channelLike bool) error {
	return e.rules.CheckName(kind, name, channelLike)
}

// targets are the channels of one call after group expansion, in the order
// first named (channels, then each group's channels), without duplicates.
// groupChans holds each named group's channels at the moment of the call,
// aligned with the call's groups.
type targets struct {
	channels   []string
	groupChans [][]string
}

// resolve validates channels and groups, checks the per-call limit on
// distinct names, and expands the groups. It allocates nothing for a call
// naming distinct channels and no group.
func (e *Engine) resolve(channels, groups []string) (targets, error) {
	if err := e.rules.CheckTargets(channels, groups); err != nil {
		return targets{}, err
	}
	if len(groups) == 0 {
		if rules.Distinct(channels) == len(channels) {
			return targets{channels: channels}, nil
		}
		return targets{channels: rules.Dedup(nil, channels)}, nil
	}
	t := targets{channels: rules.Dedup(nil, channels), groupChans: make([][]string, len(groups))}
	e.groups.mu.RLock()
	for i, g := range groups {
		if grp := e.groups.byName[g]; grp != nil {
			t.groupChans[i] = append([]string(nil), grp.channels...)
		}
	}
	e.groups.mu.RUnlock()
	seen := make(map[string]struct{}, len(t.channels))
	for _, c := range t.channels {
		seen[c] = struct{}{}
	}
	for _, gc := range t.groupChans {
		for _, c := range gc {
			if _, ok := seen[c]; !ok {
				seen[c] = struct{}{}
				t.channels = append(t.channels, c)
			}
		}
	}
	return t, nil
}

// itoa formats small integers without fmt.
func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
