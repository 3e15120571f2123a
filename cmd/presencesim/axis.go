// axis.go chooses the chart's axis ticks: time ticks at a "nice" step (1,
// 2, 5, 10, 15, 30 of a unit) with labels such as "1m30s", and value ticks
// at 1, 2 or 5 times a power of ten.

package main

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// timeSteps are the candidate steps of a time axis, smallest first.
var timeSteps = func() []time.Duration {
	var s []time.Duration
	for _, ms := range []time.Duration{1, 2, 5, 10, 20, 50, 100, 200, 500} {
		s = append(s, ms*time.Millisecond)
	}
	for _, n := range []time.Duration{1, 2, 5, 10, 15, 30} {
		s = append(s, n*time.Second)
	}
	for _, n := range []time.Duration{1, 2, 5, 10, 15, 30} {
		s = append(s, n*time.Minute)
	}
	for _, n := range []time.Duration{1, 2, 3, 6, 12, 24, 48} {
		s = append(s, n*time.Hour)
	}
	// Then whole weeks times 1, 2, 5, 10, ... (up to about 190 years).
	for p := time.Duration(1); p <= 1000; p *= 10 {
		for _, m := range []time.Duration{1, 2, 5} {
			s = append(s, m*p*7*24*time.Hour)
		}
	}
	return s
}()

// timeTicks returns the ticks of a time axis from 0 to d: the multiples of
// the smallest step of timeSteps that makes at most maxIntervals intervals,
// up to d, and their labels. Labels are distinct and evenly spaced in time.
// A zero or negative d has the single tick 0.
func timeTicks(d time.Duration, maxIntervals int) (ticks []time.Duration, labels []string) {
	if d <= 0 {
		return []time.Duration{0}, []string{"0"}
	}
	maxIntervals = max(maxIntervals, 1)
	step := timeSteps[len(timeSteps)-1]
	for _, s := range timeSteps {
		if d/s <= time.Duration(maxIntervals) {
			step = s
			break
		}
	}
	for t := time.Duration(0); t <= d; t += step {
		ticks = append(ticks, t)
		labels = append(labels, durLabel(t))
	}
	return ticks, labels
}

// durLabel writes t compactly: "0", "500ms", "1.5s", "45s", "1m30s", "2h",
// "1h30m", "36h". Parts that are zero are left out.
func durLabel(t time.Duration) string {
	if t == 0 {
		return "0"
	}
	var b strings.Builder
	if t < 0 {
		b.WriteByte('-')
		t = -t
	}
	if t < time.Second {
		return b.String() + strconv.FormatFloat(float64(t)/float64(time.Millisecond), 'f', -1, 64) + "ms"
	}
	h, m := t/time.Hour, t%time.Hour/time.Minute
	s := t % time.Minute
	if h > 0 {
		b.WriteString(strconv.FormatInt(int64(h), 10) + "h")
	}
	if m > 0 {
		b.WriteString(strconv.FormatInt(int64(m), 10) + "m")
	}
	if s > 0 {
		b.WriteString(strconv.FormatFloat(s.Seconds(), 'f', -1, 64) + "s")
	}
	return b.String()
}

// valueTicks returns the ticks of a linear value axis covering [lo, hi]
// with at most maxIntervals intervals of a step of 1, 2, 2.5 or 5 times a
// power of ten (at least minStep; see niceCeil), starting from zero unless the values stay in
// the top half of the range, where a zero-based axis would flatten them;
// zoomed reports that case.
func valueTicks(lo, hi float64, maxIntervals int, minStep float64) (ticks []float64, zoomed bool) {
	maxIntervals = max(maxIntervals, 1)
	if hi <= 0 || math.IsInf(lo, 0) {
		return []float64{0, minStep}, false
	}
	from := 0.0
	if lo > hi/2 && hi-lo > 0 {
		zoomed = true
	}
	step := niceCeil(hi/float64(maxIntervals), minStep)
	if zoomed {
		step = niceCeil((hi-lo)/float64(maxIntervals), minStep)
		for {
			from = math.Floor(lo/step) * step
			if from+float64(maxIntervals)*step >= hi {
				break
			}
			step = niceCeil(step*1.01, minStep)
		}
		if from == 0 {
			zoomed = false
		}
	}
	n := max(1, int(math.Ceil((hi-from)/step-1e-9)))
	for i := 0; i <= n; i++ {
		ticks = append(ticks, from+float64(i)*step)
	}
	return ticks, zoomed
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten, at least
// floor; 2.5 only where it is a multiple of 10 × floor, so that a count
// axis (floor 1) has steps such as 25 and 2,500 but never 2.5.
func niceCeil(v, floor float64) float64 {
	if v <= floor {
		return floor
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m == 2.5 && p < 10*floor {
			continue
		}
		if v <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// shortNum writes v with a k or M suffix: 1.25M, 980k, 12.5.
func shortNum(v float64) string {
	switch {
	case math.Abs(v) >= 1e6:
		return strconv.FormatFloat(math.Round(v/1e4)/100, 'f', -1, 64) + "M"
	case math.Abs(v) >= 1e3:
		return strconv.FormatFloat(math.Round(v/10)/100, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}
