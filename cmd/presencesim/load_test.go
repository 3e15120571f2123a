package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestOnlineTarget(t *testing.T) {
	cfg := Config{UUIDs: 1000, Online: 0.8, RampUp: 5 * time.Minute, Wave: 0.4, Duration: time.Hour}
	for _, c := range []struct {
		at   time.Duration
		want float64
	}{
		{0, 0},
		{150 * time.Second, 800 * 0.5 * (1 - 0.4*(1-math.Cos(2*math.Pi*150/3600))/2)}, // mid-ramp: half
		{30 * time.Minute, 800 * 0.6}, // the wave's trough
		{time.Hour, 800},              // a whole period: the peak again
	} {
		if got := cfg.onlineTarget(c.at); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("onlineTarget(%v) = %v, want %v", c.at, got, c.want)
		}
	}
	cfg.RampUp, cfg.WavePeriod = 0, 20*time.Minute
	if got, want := cfg.onlineTarget(0), 800.0; got != want {
		t.Errorf("without ramp-up: onlineTarget(0) = %v, want the peak %v", got, want)
	}
	if got, want := cfg.onlineTarget(10*time.Minute), 800*0.6; math.Abs(got-want) > 1e-9 {
		t.Errorf("period 20m: onlineTarget(10m) = %v, want the trough %v", got, want)
	}
}

func TestChannelPicker(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n, draws = 10_000, 200_000
	zipf := newChannelPicker(n, 1)
	first := 0
	for range draws {
		if zipf.pick(r) == 0 {
			first++
		}
	}
	// Weight 1/1 of H(10000) ≈ 9.7876.
	if got, want := float64(first)/draws, 1/9.7876; math.Abs(got-want) > 0.01 {
		t.Errorf("skew 1: share of the first channel %.4f, want about %.4f", got, want)
	}
	uniform := newChannelPicker(4, 0)
	var counts [4]int
	for range 40_000 {
		counts[uniform.pick(r)]++
	}
	for i, c := range counts {
		if c < 9000 || c > 11000 {
			t.Errorf("skew 0: channel %d drawn %d times of 40000, want about 10000", i, c)
		}
	}
	all := zipf.pickDistinct(r, 100)
	small := newChannelPicker(5, 2).pickDistinct(r, 5)
	for _, got := range [][]int{all, small} {
		s := slices.Clone(got)
		slices.Sort(s)
		if len(slices.Compact(s)) != len(got) {
			t.Errorf("pickDistinct = %v: repeats a channel", got)
		}
	}
	if len(small) != 5 {
		t.Errorf("pickDistinct(5 of 5) = %v, want all five", small)
	}
}

func TestWatchedRanks(t *testing.T) {
	for _, c := range []struct {
		channels, n int
		want        []int
	}{
		{10_000, 3, []int{0, 99, 9999}},
		{1000, 1, []int{0}},
		{5, 5, []int{0, 1, 2, 3, 4}},
		{1, 3, []int{0}},
		{20, 0, nil},
	} {
		if got := watchedRanks(c.channels, c.n); !slices.Equal(got, c.want) {
			t.Errorf("watchedRanks(%d, %d) = %v, want %v", c.channels, c.n, got, c.want)
		}
	}
}

func TestPool(t *testing.T) {
	pos := make([]int32, 10)
	var a, b pool
	a.pos, b.pos = pos, pos
	for i := range int32(10) {
		a.add(i)
	}
	r := rand.New(rand.NewPCG(3, 4))
	seen := map[int32]bool{}
	for range 10 {
		i := a.take(r)
		if seen[i] {
			t.Fatalf("take returned %d twice", i)
		}
		seen[i] = true
		b.add(i)
	}
	if len(a.ids) != 0 || len(b.ids) != 10 {
		t.Fatalf("after moving all: %d and %d in the pools, want 0 and 10", len(a.ids), len(b.ids))
	}
	b.remove(b.ids[3])
	for j, i := range b.ids {
		if pos[i] != int32(j) {
			t.Errorf("client %d at index %d, pos says %d", i, j, pos[i])
		}
	}
}
