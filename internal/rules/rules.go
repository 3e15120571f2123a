// Package rules holds the input rules of the presence API: names
// (non-empty, valid UTF-8, bounded in bytes, no control character or ',',
// no "-pnpres" suffix on channels and groups, PubNub's stricter characters
// on request), the per-call limit on distinct names, canonical JSON state
// and the choice of a heartbeat's state per channel. The in-memory engine and the other
// backends of the module tree (the Redis backend) share them, so a name or
// a state is accepted or refused, with the same message, whichever backend
// gets it.
package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// PresenceSuffix ends the names of presence event channels: a channel or
// group may not end in it.
const PresenceSuffix = "-pnpres"

// Rules are the limits of one backend and the sentinel errors its input
// errors wrap.
type Rules struct {
	MaxNameBytes    int
	MaxNamesPerCall int
	MaxStateBytes   int
	StrictNames     bool

	ErrInvalidName    error // wrapped by every name error, with the kind's own below
	ErrInvalidChannel error
	ErrInvalidGroup   error
	ErrInvalidUUID    error
	ErrTooManyNames   error
	ErrInvalidState   error
	ErrStateTooLarge  error
}

// inputError wraps a sentinel and carries its own message, so the text
// reads `presence: invalid channel "a,b": contains ','` while errors.Is
// still finds the sentinel.
type inputError struct {
	sentinels []error
	msg       string
}

func (e *inputError) Error() string   { return e.msg }
func (e *inputError) Unwrap() []error { return e.sentinels }

// NewError returns an error wrapping sentinel whose message is "presence: "
// and the formatted text.
func NewError(sentinel error, format string, args ...any) error {
	return &inputError{sentinels: []error{sentinel}, msg: "presence: " + fmt.Sprintf(format, args...)}
}

// nameError returns an error wrapping ErrInvalidName and the sentinel of
// kind ("channel", "group" or "uuid").
func (r *Rules) nameError(kind, format string, args ...any) error {
	sentinels := []error{r.ErrInvalidName}
	switch kind {
	case "channel":
		sentinels = append(sentinels, r.ErrInvalidChannel)
	case "group":
		sentinels = append(sentinels, r.ErrInvalidGroup)
	case "uuid":
		sentinels = append(sentinels, r.ErrInvalidUUID)
	}
	return &inputError{sentinels: sentinels, msg: "presence: " + fmt.Sprintf(format, args...)}
}

// CheckName validates one name. kind is "channel", "group" or "uuid";
// channelLike adds the "-pnpres" rule and, with StrictNames, PubNub's
// stricter characters.
func (r *Rules) CheckName(kind, name string, channelLike bool) error {
	if name == "" {
		return r.nameError(kind, "invalid %s %s: empty", kind, strconv.Quote(name))
	}
	if len(name) > r.MaxNameBytes {
		return r.nameError(kind, "invalid %s %s: longer than %d bytes", kind, strconv.Quote(name), r.MaxNameBytes)
	}
	if PlainASCII(name) && !(channelLike && (r.StrictNames || strings.HasSuffix(name, PresenceSuffix))) {
		return nil
	}
	for i := 0; i < len(name); {
		c := name[i]
		if c < utf8.RuneSelf {
			switch {
			case c < 0x20 || c == 0x7f:
				return r.nameError(kind, "invalid %s %s: contains control character %U", kind, strconv.Quote(name), rune(c))
			case c == ',':
				return r.nameError(kind, "invalid %s %s: contains ','", kind, strconv.Quote(name))
			case channelLike && r.StrictNames && strings.IndexByte(":*/\\ ", c) >= 0:
				return r.nameError(kind, "invalid %s %s: contains %q (strict names)", kind, strconv.Quote(name), rune(c))
			}
			i++
			continue
		}
		c2, size := utf8.DecodeRuneInString(name[i:])
		if c2 == utf8.RuneError && size == 1 {
			return r.nameError(kind, "invalid %s %s: not valid UTF-8", kind, strconv.Quote(name))
		}
		if c2 >= 0x80 && c2 <= 0x9f {
			return r.nameError(kind, "invalid %s %s: contains control character %U", kind, strconv.Quote(name), c2)
		}
		i += size
	}
	if channelLike && strings.HasSuffix(name, PresenceSuffix) {
		return r.nameError(kind, "invalid %s %s: the suffix %q is reserved", kind, strconv.Quote(name), PresenceSuffix)
	}
	return nil
}

// CheckTargets validates the channels and groups of one call and the limit
// on the distinct names it counts.
func (r *Rules) CheckTargets(channels, groups []string) error {
	for _, c := range channels {
		if err := r.CheckName("channel", c, true); err != nil {
			return err
		}
	}
	for _, g := range groups {
		if err := r.CheckName("group", g, true); err != nil {
			return err
		}
	}
	if n := Distinct(channels) + Distinct(groups); n > r.MaxNamesPerCall {
		return NewError(r.ErrTooManyNames, "too many names: %d channels and groups in one call, at most %d", n, r.MaxNamesPerCall)
	}
	return nil
}

// PlainASCII reports whether s has only printable ASCII other than ',',
// eight bytes at a time: the common name passes without a branch per byte.
func PlainASCII(s string) bool {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		bad := w & high                    // non-ASCII
		bad |= (w - ones*0x20) &^ w & high // a byte below 0x20
		c := w ^ ones*','                  // a byte equal to ','
		bad |= (c - ones) &^ c & high
		d := w ^ ones*0x7f // DEL
		bad |= (d - ones) &^ d & high
		if bad != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == ',' {
			return false
		}
	}
	return true
}

// Distinct counts the distinct strings of l without allocating for short
// lists.
func Distinct(l []string) int {
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

// Dedup appends to dst the strings of l that are not in dst yet, in order,
// each once.
func Dedup(dst, l []string) []string {
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

// Contains reports whether l holds s.
func Contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// CanonicalState turns a state given as json.RawMessage or []byte (raw
// JSON), or any value json.Marshal turns into an object (a map, a struct),
// into canonical JSON: keys sorted, no white space, numbers as written. "{}"
// gives "" (no state). A non-object is ErrInvalidState (a Go string is a
// JSON string, and is refused with a message saying how to pass raw JSON);
// canonical JSON longer than MaxStateBytes is ErrStateTooLarge.
func (r *Rules) CanonicalState(v any) (string, error) {
	var raw []byte
	switch s := v.(type) {
	case json.RawMessage:
		raw = s
	case []byte:
		raw = s
	case string:
		return "", NewError(r.ErrInvalidState, "invalid state %s of type string: not a JSON object (pass raw JSON as json.RawMessage, or a map or struct)", quoteState([]byte(strconv.Quote(s))))
	case nil:
		return "", NewError(r.ErrInvalidState, "invalid state null: not a JSON object")
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return "", NewError(r.ErrInvalidState, "invalid state of type %T: %v", v, err)
		}
		raw = b
	}
	return r.canonicalJSON(raw)
}

// canonicalJSON validates raw as a JSON object and returns its canonical
// form, "" for an empty object.
func (r *Rules) canonicalJSON(raw []byte) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return "", NewError(r.ErrInvalidState, "invalid state %s: not a JSON object", quoteState(raw))
	}
	if !utf8.Valid(raw) {
		return "", NewError(r.ErrInvalidState, "invalid state %s: not valid UTF-8", quoteState(raw))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return "", NewError(r.ErrInvalidState, "invalid state %s: %v", quoteState(raw), err)
	}
	// Decoder.More misses a '}' after the object: look at the rest itself
	if len(bytes.TrimSpace(raw[dec.InputOffset():])) != 0 {
		return "", NewError(r.ErrInvalidState, "invalid state %s: data after the object", quoteState(raw))
	}
	if obj == nil {
		return "", NewError(r.ErrInvalidState, "invalid state %s: not a JSON object", quoteState(raw))
	}
	if len(obj) == 0 {
		return "", nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return "", NewError(r.ErrInvalidState, "invalid state %s: %v", quoteState(raw), err)
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
	if len(out) > r.MaxStateBytes {
		return "", NewError(r.ErrStateTooLarge, "state of %d bytes too large: at most %d", len(out), r.MaxStateBytes)
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

// StateArg is the state a heartbeat sets on one channel: Set is false when
// the heartbeat gives none; Val "" is "no state".
type StateArg struct {
	Set bool
	Val string // canonical
}

// HeartbeatStates picks, for each of a heartbeat's target channels (its
// channels then its groups' channels, expanded, without duplicates), the
// state of its state map: the channel's own entry, else the entry of the
// first named group that contains it (groupChans holds each group's
// channels at the moment of the call). Only entries that apply are
// validated; keys that name no target are ignored.
func (r *Rules) HeartbeatStates(m map[string]any, channels, groups, expanded []string, groupChans [][]string) ([]StateArg, error) {
	out := make([]StateArg, len(expanded))
	canon := make(map[string]string, len(m))
	for i, c := range expanded {
		key, found := "", false
		if _, ok := m[c]; ok && Contains(channels, c) {
			key, found = c, true
		} else {
			for gi, g := range groups {
				if _, ok := m[g]; ok && Contains(groupChans[gi], c) {
					key, found = g, true
					break
				}
			}
		}
		if !found {
			continue
		}
		v, ok := canon[key]
		if !ok {
			var err error
			if v, err = r.CanonicalState(m[key]); err != nil {
				return nil, err
			}
			canon[key] = v
		}
		out[i] = StateArg{Set: true, Val: v}
	}
	return out, nil
}

// JSONStringLen is the length of s encoded as a JSON string by
// encoding/json (HTML-safe escaping, U+2028/2029 escaped).
func JSONStringLen(s string) int {
	n := 2
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			n += 2
		case c == '\n' || c == '\r' || c == '\t':
			n += 2
		case c < 0x20 || c == '<' || c == '>' || c == '&' || c == '\u2028' || c == '\u2029':
			n += 6
		default:
			n += utf8.RuneLen(c)
		}
	}
	return n
}

// DeltaSize adds up the length of the JSON of an interval event's deltas as
// PubNub's payload carries them: "join":[…],"leave":[…],"timeout":[…], each
// list present only when non-empty, strings encoded as encoding/json does.
// Above 30,000 bytes an interval event carries here_now_refresh instead. The
// zero value is an empty list.
type DeltaSize struct {
	n, items [3]int
}

// Add counts uuid in list kind: 0 join, 1 leave, 2 timeout. Any other kind
// counts for nothing.
func (s *DeltaSize) Add(kind int, uuid string) {
	if kind < 0 || kind >= len(s.n) {
		return
	}
	s.n[kind] += JSONStringLen(uuid)
	s.items[kind]++
}

// Bytes returns the JSON length of the lists counted so far.
func (s *DeltaSize) Bytes() int {
	size, lists := 0, 0
	for i, key := range [3]string{"join", "leave", "timeout"} {
		if s.items[i] == 0 {
			continue
		}
		size += len(key) + 5 + s.n[i] + s.items[i] - 1 // "key":[ … ] with commas
		lists++
	}
	if lists > 1 {
		size += lists - 1
	}
	return size
}

// Timetoken returns PubNub's 17-digit timetoken of t: 100 ns units since
// the Unix epoch.
func Timetoken(t time.Time) int64 { return t.UnixNano() / 100 }
