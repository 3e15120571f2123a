package presence

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
				if got, want := plainASCII(string(s)), slow(string(s)); got != want {
					t.Fatalf("plainASCII(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
	if !utf8.ValidString("é") || plainASCII("é") {
		t.Fatal("non-ASCII passed")
	}
}
