package rules

import (
	"testing"
	"unicode/utf8"
)

// TestPlainASCII checks the eight-bytes-at-a-time test against the byte
// loop it replaces, for every byte value at every position of a word.
func TestPlainASCII(t *testing.T) {
	slow := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c >= 0x7f || c == ',' {
				return false
			}
		}
		return true
	}
	base := []byte("abcdefghijklmnopq")
	for n := 0; n <= len(base); n++ {
		for pos := 0; pos < n; pos++ {
			for b := 0; b < 256; b++ {
				s := append([]byte(nil), base[:n]...)
				s[pos] = byte(b)
				if got, want := PlainASCII(string(s)), slow(string(s)); got != want {
					t.Fatalf("PlainASCII(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
	if !utf8.ValidString("é") || PlainASCII("é") {
		t.Fatal("non-ASCII passed")
	}
}

func TestDedup(t *testing.T) {
	got := Dedup([]string{"a", "b"}, []string{"b", "c", "a", "c", "d"})
	if want := []string{"a", "b", "c", "d"}; len(got) != len(want) || got[2] != "c" || got[3] != "d" {
		t.Fatalf("Dedup = %q, want %q", got, want)
	}
	if n := Distinct([]string{"x", "y", "x"}); n != 2 {
		t.Fatalf("Distinct = %d, want 2", n)
	}
}

// TestDeltaSizeUnknownKinds is finding 5 of the reliability issue: a kind
// outside 0..2 (a zero Delta's Action minus Join is -1) counts for nothing
// and does not panic.
func TestDeltaSizeUnknownKinds(t *testing.T) {
	var s DeltaSize
	for _, kind := range []int{-1, 3, -1 << 31, 1 << 31} {
		s.Add(kind, "uuid")
	}
	if got := s.Bytes(); got != 0 {
		t.Fatalf("Bytes after unknown kinds only = %d, want 0", got)
	}
	s.Add(0, "a")
	s.Add(-1, "ignored")
	if got, want := s.Bytes(), len(`"join":["a"]`); got != want {
		t.Fatalf("Bytes = %d, want %d", got, want)
	}
}
