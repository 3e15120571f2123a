// names.go holds the naming rules of channels, groups and uuids and the
// canonical JSON of states, the same as the core's (SPEC §5, §7). They are
// copies: the core keeps them unexported.

package presenceredis

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/presencekit/presence"
)

const presenceSuffix = "-pnpres"

// checkName validates one name. kind is "channel", "group" or "uuid";
// channelLike adds the "-pnpres" rule and, with StrictNames, PubNub's
// stricter characters.
func (b *Backend) checkName(kind, name string, channelLike bool) error {
	if name == "" {
		return newError(presence.ErrInvalidName, "invalid %s %q: empty", kind, name)
	}
	if len(name) > b.cfg.MaxNameBytes {
		return newError(presence.ErrInvalidName, "invalid %s %q: longer than %d bytes", kind, name, b.cfg.MaxNameBytes)
	}
	for i := 0; i < len(name); {
		c := name[i]
		if c < utf8.RuneSelf {
			switch {
			case c < 0x20 || c == 0x7f:
				return newError(presence.ErrInvalidName, "invalid %s %q: contains control character %U", kind, name, rune(c))
			case c == ',':
				return newError(presence.ErrInvalidName, "invalid %s %q: contains ','", kind, name)
			case channelLike && b.cfg.StrictNames && strings.IndexByte(":*/\\ ", c) >= 0:
				return newError(presence.ErrInvalidName, "invalid %s %q: contains %q (strict names)", kind, name, rune(c))
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(name[i:])
		if r == utf8.RuneError && size == 1 {
			return newError(presence.ErrInvalidName, "invalid %s %q: not valid UTF-8", kind, name)
		}
		if r >= 0x80 && r <= 0x9f {
			return newError(presence.ErrInvalidName, "invalid %s %q: contains control character %U", kind, name, r)
		}
		i += size
	}
	if channelLike && strings.HasSuffix(name, presenceSuffix) {
		return newError(presence.ErrInvalidName, "invalid %s %q: the suffix %q is reserved", kind, name, presenceSuffix)
	}
	return nil
}

func (b *Backend) checkUUID(uuid string) error { return b.checkName("uuid", uuid, false) }

// checkNames validates the channels and groups of a call and the per-call
// limit on distinct names.
func (b *Backend) checkNames(channels, groups []string) error {
	for _, c := range channels {
		if err := b.checkName("channel", c, true); err != nil {
			return err
		}
	}
	for _, g := range groups {
		if err := b.checkName("group", g, true); err != nil {
			return err
		}
	}
	if n := distinct(channels) + distinct(groups); n > b.cfg.MaxNamesPerCall {
		return newError(presence.ErrTooManyNames, "too many names: %d channels and groups in one call, at most %d", n, b.cfg.MaxNamesPerCall)
	}
	return nil
}

// distinct counts the distinct strings of l.
func distinct(l []string) int {
	if len(l) <= 16 {
		n := 0
	outer:
		for i, s := range l {
			for _, p := range l[:i] {
				if p == s {
					continue outer
				}
			}
			n++
		}
		return n
	}
	seen := make(map[string]struct{}, len(l))
	for _, s := range l {
		seen[s] = struct{}{}
	}
	return len(seen)
}

// dedup appends to dst the strings of l in order, without duplicates.
func dedup(dst, l []string) []string {
	seen := make(map[string]struct{}, len(l)+len(dst))
	for _, s := range dst {
		seen[s] = struct{}{}
	}
	for _, s := range l {
		if _, ok := seen[s]; !ok {
			seen[s] = struct{}{}
			dst = append(dst, s)
		}
	}
	return dst
}

// canonicalState turns a state given as json.RawMessage, []byte, string
// (raw JSON) or any value json.Marshal turns into an object into canonical
// JSON: keys sorted, no white space, numbers as written; "{}" gives "".
func (b *Backend) canonicalState(v any) (string, error) {
	var raw []byte
	switch s := v.(type) {
	case json.RawMessage:
		raw = s
	case []byte:
		raw = s
	case string:
		raw = []byte(s)
	case nil:
		return "", newError(presence.ErrInvalidState, "invalid state null: not a JSON object")
	default:
		out, err := json.Marshal(v)
		if err != nil {
			return "", newError(presence.ErrInvalidState, "invalid state of type %T: %v", v, err)
		}
		raw = out
	}
	return canonicalJSON(raw, b.cfg.MaxStateBytes)
}

func canonicalJSON(raw []byte, maxBytes int) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return "", newError(presence.ErrInvalidState, "invalid state %s: not a JSON object", quoteState(raw))
	}
	if !utf8.Valid(raw) {
		return "", newError(presence.ErrInvalidState, "invalid state %s: not valid UTF-8", quoteState(raw))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return "", newError(presence.ErrInvalidState, "invalid state %s: %v", quoteState(raw), err)
	}
	if len(bytes.TrimSpace(raw[dec.InputOffset():])) != 0 { // Decoder.More misses a '}' after the object
		return "", newError(presence.ErrInvalidState, "invalid state %s: data after the object", quoteState(raw))
	}
	if obj == nil {
		return "", newError(presence.ErrInvalidState, "invalid state %s: not a JSON object", quoteState(raw))
	}
	if len(obj) == 0 {
		return "", nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return "", newError(presence.ErrInvalidState, "invalid state %s: %v", quoteState(raw), err)
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
	if len(out) > maxBytes {
		return "", newError(presence.ErrStateTooLarge, "state of %d bytes too large: at most %d", len(out), maxBytes)
	}
	return string(out), nil
}

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
	val string
}

// heartbeatStates picks, for each target channel, the state of a heartbeat's
// state map: the channel's own entry, else the entry of the first named
// group that contains it. Only entries that apply are validated.
func (b *Backend) heartbeatStates(m map[string]any, channels, groups []string, t targets) ([]stateArg, error) {
	out := make([]stateArg, len(t.channels))
	canon := make(map[string]string, len(m))
	get := func(key string) (string, error) {
		if v, ok := canon[key]; ok {
			return v, nil
		}
		v, err := b.canonicalState(m[key])
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

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// deltaJSONSize is the length of the deltas' JSON as PubNub's interval
// payload carries them (the core's rule for here_now_refresh).
func deltaJSONSize(ds []presence.Delta) int {
	var n, items [3]int
	for _, d := range ds {
		i := int(d.Action - presence.Join)
		n[i] += jsonStringLen(d.UUID)
		items[i]++
	}
	size, lists := 0, 0
	for i, key := range [3]string{"join", "leave", "timeout"} {
		if items[i] == 0 {
			continue
		}
		size += len(key) + 5 + n[i] + items[i] - 1
		lists++
	}
	if lists > 1 {
		size += lists - 1
	}
	return size
}

func jsonStringLen(s string) int {
	n := 2
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			n += 2
		case r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += utf8.RuneLen(r)
		}
	}
	return n
}
