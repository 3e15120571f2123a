// Package compare runs one presence workload against the presence engine,
// two centrifuge peers (MemoryPresenceManager and MemoryMapBroker used with
// key TTLs) and a floor of two plain Go maps, so that their costs can be
// compared side by side with benchstat. The benchmarks are in
// compare_test.go; run.sh runs each one in its own process.
//
// This file holds the shared workload: uuids, channels and the shuffled
// memberships every backend is filled with.
package compare

import (
	"fmt"
	"math/rand/v2"
	"os"
)

// Scale sizes a workload. Channels must divide into PerUUID equal blocks
// and UUIDs must be a multiple of a block's size.
type Scale struct {
	UUIDs    int // distinct uuids
	Channels int // distinct channels
	PerUUID  int // channels per uuid
	Hot      int // members of the hot channel used by the 10,000-member rows
}

// Full is the workload of the issue: 1,000,000 memberships, 250,000 uuids on
// 4 channels each over 10,000 channels of 100 members, and a hot channel of
// 10,000 members.
var Full = Scale{UUIDs: 250_000, Channels: 10_000, PerUUID: 4, Hot: 10_000}

// Small is the same shape at 1/100 of the size, for the CI smoke run: 10,000
// memberships, channels of 100 members, a hot channel of 1,000.
var Small = Scale{UUIDs: 2_500, Channels: 100, PerUUID: 4, Hot: 1_000}

// ScaleFromEnv returns Small when PRESENCE_BENCH_SCALE is "small" and Full
// otherwise.
func ScaleFromEnv() Scale {
	if os.Getenv("PRESENCE_BENCH_SCALE") == "small" {
		return Small
	}
	return Full
}

// Pair is one membership: a uuid (by index) on a channel (by index).
type Pair struct {
	U int32
	C int32
}

// Workload is the data every backend is filled with. Its slices are shared
// and read-only once built.
type Workload struct {
	Scale
	UUIDs      []string   // 36-byte uuid-like names
	Channels   []string   // 16-byte names; Channels[HotChannel] is the hot one
	ChanSlices [][]string // ChanSlices[c] is []string{Channels[c]}, so calls need not allocate
	Pairs      []Pair     // the memberships, in shuffled insertion order
	HotChannel int        // index of the hot channel (not among Pairs)
	HotMembers []int32    // uuids of the hot channel

	// Extra uuids and their memberships, disjoint from Pairs, for joins of
	// members that are not present yet (the "join into 1M" row).
	ExtraUUIDs []string
	ExtraPairs []Pair
}

// Seed is the fixed seed of every workload.
const Seed = 20261123

// NewWorkload builds the workload of s with the fixed seed.
func NewWorkload(s Scale) *Workload {
	if s.Channels%s.PerUUID != 0 || s.UUIDs%(s.Channels/s.PerUUID) != 0 || s.Hot > s.UUIDs {
		panic(fmt.Sprintf("compare: scale %+v does not divide evenly", s))
	}
	r := rand.New(rand.NewPCG(Seed, 1))
	w := &Workload{Scale: s}
	w.UUIDs = makeUUIDs(r, s.UUIDs)
	w.ExtraUUIDs = makeUUIDs(r, s.UUIDs)

	w.Channels = make([]string, s.Channels+1)
	for i, p := range r.Perm(s.Channels) {
		w.Channels[i] = fmt.Sprintf("channel-%08d", p) // 16 bytes, in shuffled order
	}
	w.HotChannel = s.Channels
	w.Channels[w.HotChannel] = "hot-channel-0000"
	w.ChanSlices = make([][]string, len(w.Channels))
	for i, c := range w.Channels {
		w.ChanSlices[i] = []string{c}
	}

	w.Pairs = makePairs(r, s)
	w.ExtraPairs = makePairs(r, s)
	for _, u := range r.Perm(s.UUIDs)[:s.Hot] {
		w.HotMembers = append(w.HotMembers, int32(u))
	}
	return w
}

// Memberships returns the number of memberships of Pairs.
func (w *Workload) Memberships() int { return len(w.Pairs) }

// makeUUIDs returns n distinct random uuids in the canonical 8-4-4-4-12 form
// (36 bytes), version 4 style.
func makeUUIDs(r *rand.Rand, n int) []string {
	out := make([]string, n)
	const hex = "0123456789abcdef"
	seen := make(map[string]struct{}, n)
	for i := 0; i < n; {
		var b [36]byte
		for j := range b {
			b[j] = hex[r.IntN(16)]
		}
		b[8], b[13], b[18], b[23] = '-', '-', '-', '-'
		b[14] = '4'
		s := string(b[:])
		if _, dup := seen[s]; dup {
			continue
		}
		seen[s] = struct{}{}
		out[i] = s
		i++
	}
	return out
}

// makePairs puts every uuid on PerUUID channels, one in each block of
// Channels/PerUUID channels, so that every channel gets exactly
// UUIDs·PerUUID/Channels members and no uuid is twice on a channel; the
// pairs are returned in shuffled order.
func makePairs(r *rand.Rand, s Scale) []Pair {
	block := s.Channels / s.PerUUID
	per := s.UUIDs / block
	pairs := make([]Pair, 0, s.UUIDs*s.PerUUID)
	for k := 0; k < s.PerUUID; k++ {
		for u, p := range r.Perm(s.UUIDs) {
			pairs = append(pairs, Pair{U: int32(u), C: int32(k*block + p/per)})
		}
	}
	r.Shuffle(len(pairs), func(i, j int) { pairs[i], pairs[j] = pairs[j], pairs[i] })
	return pairs
}

// PerChannel returns the number of members of each channel of Pairs.
func (w *Workload) PerChannel() int { return w.Scale.UUIDs * w.PerUUID / w.Scale.Channels }
