// axis.go chooses the chart's time axis ticks: a "nice" step (1, 2, 5, 10,
// 15, 30 of a unit) with labels such as "1m30s".

package main

import (
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
