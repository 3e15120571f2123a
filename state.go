// state.go holds per-membership state: its canonical JSON form, the choice of
// a heartbeat's state per channel, and pending state, the state set on a
// channel where the uuid is not present, kept for one default timeout in
// case it joins. States are stored as canonical JSON strings: compared
// byte for byte, shared without copying, copied out to callers.

package presence

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// canonicalState turns a state given as json.RawMessage, []byte, string
// (raw JSON) or any value json.Marshal turns into an object into canonical
// JSON: keys sorted, no white space, numbers as written. "{}" gives "" (no
// state). A non-object is ErrInvalidState; canonical JSON longer than
// MaxStateBytes is ErrStateTooLarge.
func (e *Engine) canonicalState(v any) (string, error) {
	var raw []byte
	switch s := v.(type) {
	case json.RawMessage:
		raw = s
	case []byte:
		raw = s
	case string:
		raw = []byte(s)
	case nil:
		return "", newError(ErrInvalidState, "invalid state null: not a JSON object")
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return "", newError(ErrInvalidState, "invalid state of type %T: %v", v, err)
		}
		raw = b
	}
	return canonicalJSON(raw, e.cfg.MaxStateBytes)
}

// canonicalJSON validates raw as a JSON object and returns its canonical
// form, "" for an empty object.
func canonicalJSON(raw []byte, maxBytes int) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return "", newError(ErrInvalidState, "invalid state %s: not a JSON object", quoteState(raw))
	}
	if !utf8.Valid(raw) {
		return "", newError(ErrInvalidState, "invalid state %s: not valid UTF-8", quoteState(raw))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return "", newError(ErrInvalidState, "invalid state %s: %v", quoteState(raw), err)
	}
	if len(bytes.TrimSpace(raw[dec.InputOffset():])) != 0 {
		return "", newError(ErrInvalidState, "invalid state %s: data after the object", quoteState(raw))
	}
	if obj == nil {
		return "", newError(ErrInvalidState, "invalid state %s: not a JSON object", quoteState(raw))
	}
	if len(obj) == 0 {
		return "", nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return "", newError(ErrInvalidState, "invalid state %s: %v", quoteState(raw), err)
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
	if len(out) > maxBytes {
		return "", newError(ErrStateTooLarge, "state of %d bytes too large: at most %d", len(out), maxBytes)
	}
	return string(out), nil
}

// quoteState shortens a state for an error message.
func quoteState(raw []byte) string {
	const max = 64
	if len(raw) > max {
		return string(bytes.ToValidUTF8(raw[:max], nil)) + "…"
	}
	return string(raw)
}

// stateArg is the state a heartbeat sets on one channel: set is false when
// the heartbeat gives none.
type stateArg struct {
	set bool
	val string // canonical; "" is "no state"
}

// heartbeatStates picks, for each target channel, the state of a heartbeat's
// state map: the channel's own entry, else the entry of the first named
// group that contains it. Only entries that apply are validated.
func (e *Engine) heartbeatStates(m map[string]any, channels, groups []string, t targets) ([]stateArg, error) {
	out := make([]stateArg, len(t.channels))
	canon := make(map[string]string, len(m))
	get := func(key string) (string, error) {
		if v, ok := canon[key]; ok {
			return v, nil
		}
		v, err := e.canonicalState(m[key])
		if err != nil {
			return "", err
		}
		canon[key] = v
		return v, nil
	}
	for i, c := range t.channels {
		key, found := "", false
		if _, ok := m[c]; ok && contains(channels, c) {
			key, found = c, true
		} else {
			for gi, g := range groups {
				if _, ok := m[g]; ok && contains(t.groupChans[gi], c) {
					key, found = g, true
					break
				}
			}
		}
		if !found {
			continue
		}
		v, err := get(key)
		if err != nil {
			return nil, err
		}
		out[i] = stateArg{set: true, val: v}
	}
	return out, nil
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
