package presence

import (
	"fmt"
	"hash/maphash"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestMemberIndex checks memberIndex against a map through inserts and
// swap-deletes, with tags drawn from a few values so probe runs collide,
// wrap around the table and shift back on delete.
func TestMemberIndex(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		seed := maphash.MakeSeed()
		tagBits := rapid.SampledFrom([]uint32{0, 0xff000000, 0xffffffff}).Draw(t, "tagMask")
		tagOf := func(s string) uint32 { return uint32(maphash.String(seed, s)>>32) & tagBits }
		var x memberIndex
		var members []uuidEntry
		want := map[string]int{}
		next := 0
		t.Repeat(map[string]func(*rapid.T){
			"insert": func(t *rapid.T) {
				u := fmt.Sprintf("u%d", next)
				next++
				pos := len(members)
				members = append(members, uuidEntry{name: u})
				x.insert(tagOf(u), pos)
				want[u] = pos
			},
			"remove": func(t *rapid.T) {
				if len(members) == 0 {
					t.Skip("empty")
				}
				pos := rapid.IntRange(0, len(members)-1).Draw(t, "pos")
				u := members[pos].name
				slot, p := find(&x, tagOf(u), u, members)
				if p != pos {
					t.Fatalf("find(%s) = %d, want %d", u, p, pos)
				}
				var moved bool
				if members, moved = removeAt(&x, slot, pos, members, tagOf); moved {
					want[members[pos].name] = pos
				}
				delete(want, u)
			},
			"": func(t *rapid.T) {
				if x.n != len(want) {
					t.Fatalf("n = %d, want %d", x.n, len(want))
				}
				for u, pos := range want {
					if _, p := find(&x, tagOf(u), u, members); p != pos {
						t.Fatalf("find(%s) = %d, want %d", u, p, pos)
					}
				}
				if _, p := find(&x, tagOf("absent"), "absent", members); p != -1 {
					t.Fatalf("find(absent) = %d", p)
				}
			},
		})
	})
}

// TestUUIDEntry checks a uuid's channel list (four in place, the rest in
// more) against a plain set through adds and drops, with the channels'
// references resolved by a real engine's shards.
func TestUUIDEntry(t *testing.T) {
	e, err := New(Config{SweepInterval: -1, Shards: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	chans := make([]*channel, 12)
	refs := map[*channel]chanRef{}
	for i := range chans {
		name := fmt.Sprint("c", i)
		cs := e.chanShard(name)
		cs.mu.Lock()
		chans[i] = cs.newChannel(name)
		refs[chans[i]] = cs.ref(chans[i])
		cs.mu.Unlock()
	}
	rapid.Check(t, func(t *rapid.T) {
		var u uuidEntry
		want := map[string]bool{}
		t.Repeat(map[string]func(*rapid.T){
			"add": func(t *rapid.T) {
				ch := rapid.SampledFrom(chans).Draw(t, "ch")
				if want[ch.name] {
					t.Skip("present")
				}
				u.add(refs[ch])
				want[ch.name] = true
			},
			"drop": func(t *rapid.T) {
				ch := rapid.SampledFrom(chans).Draw(t, "ch")
				if !want[ch.name] {
					t.Skip("absent")
				}
				delete(want, ch.name)
				if empty := u.drop(refs[ch]); empty != (len(want) == 0) {
					t.Fatalf("drop reported empty %v with %d left", empty, len(want))
				}
			},
			"": func(t *rapid.T) {
				got := u.appendNames(e, nil, 0, 0) // nothing due in the shards: every channel
				if len(got) != len(want) || u.len() != len(want) {
					t.Fatalf("names %q (len %d), want %d", got, u.len(), len(want))
				}
				for _, n := range got {
					if !want[n] {
						t.Fatalf("names %q: %s not added", got, n)
					}
				}
				if len(want) <= len(u.inline) && u.more != nil {
					t.Fatalf("%d channels but an overflow list", len(want))
				}
			},
		})
	})
}

// TestGroupByUUIDShard checks the sweep's counting sort: every candidate
// once, grouped by uuid shard in shard order, each shard's in the order
// found, with the runs' ends where the groups end.
func TestGroupByUUIDShard(t *testing.T) {
	e, err := New(Config{SweepInterval: -1, Shards: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var buf sweepBuf // reused across checks, as a sweep worker reuses it
	rapid.Check(t, func(t *rapid.T) {
		hs := rapid.SliceOf(rapid.Uint64()).Draw(t, "hashes")
		cands := make([]candidate, len(hs))
		for i, h := range hs {
			cands[i] = candidate{uuid: fmt.Sprint(i), h: h}
		}
		got := buf.groupByUUIDShard(e, cands)
		if len(got) != len(cands) || len(buf.end) != len(e.uuids) {
			t.Fatalf("%d candidates and %d ends for %d candidates, %d shards", len(got), len(buf.end), len(cands), len(e.uuids))
		}
		lo := 0
		for s, hi := range buf.end {
			var want []candidate
			for _, c := range cands {
				if c.h&e.mask == uint64(s) {
					want = append(want, c)
				}
			}
			if !slices.Equal(got[lo:hi], want) {
				t.Fatalf("shard %d: run %v, want %v", s, got[lo:hi], want)
			}
			lo = hi
		}
	})
}
