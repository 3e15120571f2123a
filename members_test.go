package presence

import (
	"bytes"
	"context"
	"fmt"
	"hash/maphash"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
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
					if m := &ch.members[i]; m.name != 0 {
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

// TestMemberNamesSurviveCollection checks that a member record's uuid,
// which the record holds as an address the collector does not see (see
// member), stays readable: uuids built afresh for each call and dropped by
// the caller join, leave, time out and join again under repeated
// collections, while garbage of the names' size is allocated to reuse any
// memory a collection freed, and every name read back from the records
// (AppendOccupants, WhereNow's channels, events) is the one that joined.
func TestMemberNamesSurviveCollection(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewMock()
	e, err := New(Config{Clock: clk, MinTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sub, err := e.Subscribe(ctx, SubscribeOptions{All: true, Buffer: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	const users, chans = 300, 7
	name := func(u int) string { return fmt.Sprintf("user-%06d-%s", u, strings.Repeat("x", u%40)) }
	ch := func(c int) string { return "room-" + strconv.Itoa(c) }
	var junk [][]byte
	for round := range 12 {
		for u := range users {
			c := (u + round) % chans
			if u%3 == round%3 {
				if err := e.Leave(ctx, LeaveRequest{UUID: name(u), Channels: []string{ch(c)}}); err != nil {
					t.Fatal(err)
				}
				continue
			}
			timeout := time.Duration(0)
			if u%5 == 0 {
				timeout = time.Second // these time out at the next Sweep
			}
			if err := e.Heartbeat(ctx, HeartbeatRequest{UUID: name(u), Channels: []string{ch(c)}, Timeout: timeout}); err != nil {
				t.Fatal(err)
			}
		}
		runtime.GC()
		junk = junk[:0]
		for i := range 20000 {
			junk = append(junk, bytes.Repeat([]byte{'#'}, 16+i%48))
		}
		if round%4 == 3 {
			clk.Add(2 * time.Second)
			if err := e.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for c := range chans {
			occ, err := e.AppendOccupants(ctx, nil, ch(c))
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range occ {
				var n int
				if _, err := fmt.Sscanf(u, "user-%06d-", &n); err != nil || u != name(n) {
					t.Fatalf("round %d: %s holds %q, not a uuid that joined", round, ch(c), u)
				}
				where, err := e.WhereNow(ctx, u)
				if err != nil || !slices.Contains(where, ch(c)) {
					t.Fatalf("round %d: where_now(%q) = %v, %v: want %s in it", round, u, where, err, ch(c))
				}
			}
		}
	}
	runtime.KeepAlive(junk)
	for {
		select {
		case ev := <-sub.Events():
			var n int
			if ev.UUID == "" {
				continue // interval events name no uuid
			}
			if _, err := fmt.Sscanf(ev.UUID, "user-%06d-", &n); err != nil || ev.UUID != name(n) {
				t.Fatalf("%v event of %q on %s: not a uuid that joined", ev.Action, ev.UUID, ev.Channel)
			}
		default:
			return
		}
	}
}
