package presence

import (
	"fmt"
	"hash/maphash"
	"testing"

	"pgregory.net/rapid"
)

// TestMemberTable checks a channel's member table against a set through
// adds and removals, with tags drawn from a few values so probe runs
// collide, wrap around the table and shift back on removal, and the table
// grows and shrinks.
func TestMemberTable(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		seed := maphash.MakeSeed()
		tagBits := rapid.SampledFrom([]uint32{0, 0xff000000, 0xffffffff}).Draw(t, "tagMask")
		tagOf := func(s string) uint32 { return uint32(maphash.String(seed, s)>>32) & tagBits }
		var ch channel
		want := map[string]int64{} // uuid → deadline
		next := 0
		t.Repeat(map[string]func(*rapid.T){
			"add": func(t *rapid.T) {
				for range rapid.IntRange(1, 8).Draw(t, "n") {
					u := fmt.Sprintf("u%d", next)
					next++
					pos := ch.add(newMember(u, tagOf(u), int64(next)))
					if got := ch.members[pos].uuid(); got != u {
						t.Fatalf("add(%s) returned the position of %s", u, got)
					}
					want[u] = int64(next)
				}
			},
			"remove": func(t *rapid.T) {
				if len(want) == 0 {
					t.Skip("empty")
				}
				u := fmt.Sprintf("u%d", rapid.IntRange(0, next-1).Draw(t, "u"))
				pos := ch.find(tagOf(u), u)
				if _, ok := want[u]; ok != (pos >= 0) {
					t.Fatalf("find(%s) = %d, want present %v", u, pos, ok)
				}
				if pos >= 0 {
					ch.removeAt(pos)
					delete(want, u)
				}
			},
			"": func(t *rapid.T) {
				if ch.n != len(want) {
					t.Fatalf("n = %d, want %d", ch.n, len(want))
				}
				if len(want) > 0 && (len(ch.members)*3 < ch.n*4 || (len(ch.members) > 16 && ch.n*4 < len(ch.members))) {
					t.Fatalf("%d members in %d records: outside the table's load bounds", ch.n, len(ch.members))
				}
				records := 0
				for i := range ch.members {
					if m := &ch.members[i]; m.name != nil {
						records++
						if d, ok := want[m.uuid()]; !ok || d != m.deadline || m.tag != tagOf(m.uuid()) {
							t.Fatalf("record %d holds %s (deadline %d, tag %x), not a member", i, m.uuid(), m.deadline, m.tag)
						}
					}
				}
				if records != len(want) {
					t.Fatalf("%d records, want %d", records, len(want))
				}
				for u := range want {
					if pos := ch.find(tagOf(u), u); pos < 0 || ch.members[pos].uuid() != u {
						t.Fatalf("find(%s) = %d", u, pos)
					}
				}
				if pos := ch.find(tagOf("absent"), "absent"); pos != -1 {
					t.Fatalf("find(absent) = %d", pos)
				}
			},
		})
	})
}
