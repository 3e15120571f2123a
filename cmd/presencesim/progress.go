package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress draws a one-line progress bar, rewritten in place with '\r'.
type progress struct {
	w     io.Writer
	total int
	start time.Time
	last  time.Time
}

func newProgress(w io.Writer, total int) *progress {
	return &progress{w: w, total: total, start: time.Now()}
}

// update redraws the bar for step of total, at most ten times a second.
func (p *progress) update(step int, rep *Report) {
	if p.w == nil || (time.Since(p.last) < 100*time.Millisecond && step != p.total) {
		return
	}
	p.last = time.Now()
	const width = 30
	frac := float64(step) / float64(max(p.total, 1))
	done := int(frac * width)
	members := 0
	if n := len(rep.Samples); n > 0 {
		members = rep.Samples[n-1].Memberships
	}
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%%  simulated %v of %v  memberships %d  elapsed %v ",
		strings.Repeat("#", done), strings.Repeat(".", width-done), frac*100,
		time.Duration(step)*rep.Config.Step, rep.Config.Duration, members,
		time.Since(p.start).Round(100*time.Millisecond))
}

// done ends the bar's line.
func (p *progress) done() {
	if p.w != nil {
		fmt.Fprintln(p.w)
	}
}
