// state.go holds per-membership state: its canonical JSON form and the
// choice of a heartbeat's state per channel (both in internal/rules), and
// pending state, the state set on a
// channel where the uuid is not present, kept for one default timeout in
// case it joins. States are stored as canonical JSON strings: compared
// byte for byte, shared without copying, copied out to callers.

package presence

import "github.com/presencekit/presence/internal/rules"

// canonicalState is rules.CanonicalState with the engine's limits.
func (e *Engine) canonicalState(v any) (string, error) { return e.rules.CanonicalState(v) }

// stateArg is the state a heartbeat sets on one channel.
type stateArg = rules.StateArg

// heartbeatStates picks the state of each target channel from a heartbeat's
// state map (see rules.HeartbeatStates).
func (e *Engine) heartbeatStates(m map[string]any, channels, groups []string, t targets) ([]stateArg, error) {
	return e.rules.HeartbeatStates(m, channels, groups, t.channels, t.groupChans)
}

// pendingKey names a pending state.
type pendingKey struct{ channel, uuid string }

// pendingState is state set where the uuid is not present, kept until
// expires (ns) in a channel shard's pending heap.
type pendingState struct {
	key     pendingKey
	val     string
	expires int64
	hidx    int
}

// pendingHeap orders pending states by expiry.
type pendingHeap []*pendingState

func (h pendingHeap) Len() int           { return len(h) }
func (h pendingHeap) Less(i, j int) bool { return h[i].expires < h[j].expires }
func (h pendingHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}
func (h *pendingHeap) Push(x any) {
	p := x.(*pendingState)
	p.hidx = len(*h)
	*h = append(*h, p)
}
func (h *pendingHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return p
}
