package main

import (
	"strings"
	"testing"
	"time"
)

// TestTimeTicks pins the labels of a few axes. (Before, ticks were the
// duration over 6 rounded to whole minutes: a 3-minute run read
// "0 0 1 2 2 2 3".)
func TestTimeTicks(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{3 * time.Minute, "0 30s 1m 1m30s 2m 2m30s 3m"},
		{time.Hour, "0 10m 20m 30m 40m 50m 1h"},
		{90 * time.Second, "0 15s 30s 45s 1m 1m15s 1m30s"},
		{7 * time.Hour, "0 1h 2h 3h 4h 5h 6h 7h"},
		{7*time.Minute + 13*time.Second, "0 1m 2m 3m 4m 5m 6m 7m"},
		{10 * time.Minute, "0 2m 4m 6m 8m 10m"},
		{2500 * time.Millisecond, "0 500ms 1s 1.5s 2s 2.5s"},
		{25 * time.Hour, "0 3h 6h 9h 12h 15h 18h 21h 24h"},
		{50 * time.Hour, "0 6h 12h 18h 24h 30h 36h 42h 48h"},
		{9 * 24 * time.Hour, "0 48h 96h 144h 192h"},
		{100 * time.Minute, "0 15m 30m 45m 1h 1h15m 1h30m"},
		{time.Second, "0 200ms 400ms 600ms 800ms 1s"},
		{0, "0"},
	} {
		_, labels := timeTicks(c.d, 8)
		if got := strings.Join(labels, " "); got != c.want {
			t.Errorf("timeTicks(%v, 8) labels %q, want %q", c.d, got, c.want)
		}
	}
}

// TestTimeTicksProperties checks many durations, odd ones included: ticks
// start at 0, are evenly spaced, stay within the duration, number at most
// maxIntervals+1 and at least two, and each label reads back as its tick.
func TestTimeTicksProperties(t *testing.T) {
	var ds []time.Duration
	for d := 3 * time.Millisecond; d < 400*24*time.Hour; d = d*13/10 + 7*time.Millisecond {
		ds = append(ds, d)
	}
	for _, maxIntervals := range []int{3, 6, 8, 10} {
		for _, d := range ds {
			ticks, labels := timeTicks(d, maxIntervals)
			if len(ticks) < 2 || len(ticks) > maxIntervals+1 || ticks[0] != 0 || ticks[len(ticks)-1] > d {
				t.Errorf("timeTicks(%v, %d) = %v: want 2..%d ticks from 0 to at most %v", d, maxIntervals, ticks, maxIntervals+1, d)
				continue
			}
			step := ticks[1]
			for i, tk := range ticks {
				if tk != time.Duration(i)*step {
					t.Errorf("timeTicks(%v, %d) = %v: not evenly spaced", d, maxIntervals, ticks)
					break
				}
				back, err := time.ParseDuration(labels[i])
				if err != nil || back != tk {
					t.Errorf("timeTicks(%v, %d): label %q of tick %v reads back as %v, %v", d, maxIntervals, labels[i], tk, back, err)
				}
			}
		}
	}
}

func TestValueTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi  float64
		want    []float64
		zoomed  bool
		minStep float64
	}{
		{0, 103_000, []float64{0, 25_000, 50_000, 75_000, 100_000, 125_000}, false, 1},
		{0, 7, []float64{0, 2, 4, 6, 8}, false, 1},
		{0, 0, []float64{0, 1}, false, 1},
		{0, 3, []float64{0, 1, 2, 3}, false, 1},
		{940_000, 1_020_000, []float64{940_000, 960_000, 980_000, 1_000_000, 1_020_000}, true, 1},
	} {
		got, zoomed := valueTicks(c.lo, c.hi, 5, c.minStep)
		if len(got) != len(c.want) || zoomed != c.zoomed {
			t.Errorf("valueTicks(%v, %v) = %v zoomed %v, want %v zoomed %v", c.lo, c.hi, got, zoomed, c.want, c.zoomed)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("valueTicks(%v, %v) = %v, want %v", c.lo, c.hi, got, c.want)
				break
			}
		}
	}
}
