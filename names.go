// names.go holds the naming rules of channels, groups and uuids (SPEC §5),
// and resolve, which validates the targets of one call and expands its
// channel groups into a duplicate-free channel list.

package presence

import (
	"strings"
	"unicode/utf8"
)

const presenceSuffix = "-pnpres"

// checkUUID validates a uuid: the basic rules only.
func (e *Engine) checkUUID(uuid string) error { return e.checkName("uuid", uuid, false) }

// checkName validates one name. kind is "channel", "group" or "uuid";
// channelLike adds the "-pnpres" rule and, with StrictNames, PubNub's
// stricter characters.
func (e *Engine) checkName(kind, name string, channelLike bool) error {
	if name == "" {
		return newError(ErrInvalidName, "invalid %s %q: empty", kind, name)
	}
	if len(name) > e.cfg.MaxNameBytes {
		return newError(ErrInvalidName, "invalid %s %q: longer than %d bytes", kind, name, e.cfg.MaxNameBytes)
	}
	if plainASCII(name) && !(channelLike && (e.cfg.StrictNames || strings.HasSuffix(name, presenceSuffix))) {
		return nil
	}
	for i := 0; i < len(name); {
		c := name[i]
		if c < utf8.RuneSelf {
			switch {
			case c < 0x20 || c == 0x7f:
				return newError(ErrInvalidName, "invalid %s %q: contains control character %U", kind, name, rune(c))
			case c == ',':
				return newError(ErrInvalidName, "invalid %s %q: contains ','", kind, name)
			case channelLike && e.cfg.StrictNames && strings.IndexByte(":*/\\ ", c) >= 0:
				return newError(ErrInvalidName, "invalid %s %q: contains %q (strict names)", kind, name, rune(c))
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(name[i:])
		if r == utf8.RuneError && size == 1 {
			return newError(ErrInvalidName, "invalid %s %q: not valid UTF-8", kind, name)
		}
		if r >= 0x80 && r <= 0x9f {
			return newError(ErrInvalidName, "invalid %s %q: contains control character %U", kind, name, r)
		}
		i += size
	}
	if channelLike && strings.HasSuffix(name, presenceSuffix) {
		return newError(ErrInvalidName, "invalid %s %q: the suffix %q is reserved", kind, name, presenceSuffix)
	}
	return nil
}

// plainASCII reports whether s has only printable ASCII other than ',',
// eight bytes at a time: the common name passes without a branch per byte.
func plainASCII(s string) bool {
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
	for _, c := range channels {
		if err := e.checkName("channel", c, true); err != nil {
			return targets{}, err
		}
	}
	for _, g := range groups {
		if err := e.checkName("group", g, true); err != nil {
			return targets{}, err
		}
	}
	if n := distinct(channels) + distinct(groups); n > e.cfg.MaxNamesPerCall {
		return targets{}, newError(ErrTooManyNames, "too many names: %d channels and groups in one call, at most %d", n, e.cfg.MaxNamesPerCall)
	}
	if len(groups) == 0 {
		if distinct(channels) == len(channels) {
			return targets{channels: channels}, nil
		}
		return targets{channels: dedup(nil, channels)}, nil
	}
	t := targets{channels: dedup(nil, channels), groupChans: make([][]string, len(groups))}
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

// distinct counts the distinct strings of l without allocating for short lists.
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
	seen := make(map[string]struct{}, len(l))
	for _, s := range l {
		if _, ok := seen[s]; !ok {
			seen[s] = struct{}{}
			dst = append(dst, s)
		}
	}
	return dst
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
