// progress.go reports a run's progress on stderr: on a terminal a bar
// redrawn in place, elsewhere (a file, a pipe, a CI log) a line every few
// percent; both with an estimate of the time left.

package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// linePercent is how often, in percent of the run, line mode writes a line.
const linePercent = 5

// progress reports the steps of a run. On a terminal it draws a bar
// rewritten in place with '\r', at most ten times a second; otherwise it
// writes one line at every linePercent percent. A nil *progress reports
// nothing.
type progress struct {
	w        io.Writer
	terminal bool
	now      func() time.Time // time.Now; tests replace it

	total   int
	step    time.Duration // simulated time per step
	start   time.Time
	last    time.Time // of the last redraw (terminal)
	nextPct int       // the next percentage to write a line at (lines)
}

// newProgress returns a progress writing to w, as a bar when terminal is
// true and as lines otherwise.
func newProgress(w io.Writer, terminal bool) *progress {
	return &progress{w: w, terminal: terminal, now: time.Now}
}

// isTerminal reports whether f is a terminal (a character device), as a
// redirected or piped stderr is not.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// begin starts the clock of a run of total steps of step simulated time.
func (p *progress) begin(total int, step time.Duration) {
	if p == nil {
		return
	}
	p.total, p.step = max(total, 1), step
	p.start = p.now()
	p.nextPct = linePercent
}

// update reports that step of total steps are done, with memberships
// memberships at the last sample.
func (p *progress) update(step, memberships int) {
	if p == nil {
		return
	}
	now := p.now()
	pct := 100 * step / p.total
	if p.terminal {
		if now.Sub(p.last) < 100*time.Millisecond && step != p.total {
			return
		}
	} else if pct < p.nextPct && step != p.total {
		return
	}
	p.last = now
	elapsed := now.Sub(p.start)
	eta := "?"
	if step > 0 {
		eta = durLabel((elapsed * time.Duration(p.total-step) / time.Duration(step)).Round(time.Second))
	}
	status := fmt.Sprintf("%3d%%  simulated %s of %s  memberships %d  elapsed %s  ETA %s",
		pct, durLabel(time.Duration(step)*p.step), durLabel(time.Duration(p.total)*p.step), memberships,
		durLabel(elapsed.Round(100*time.Millisecond)), eta)
	if p.terminal {
		const width = 30
		done := width * step / p.total
		// \x1b[K clears what a longer previous line left.
		fmt.Fprintf(p.w, "\r[%s%s] %s\x1b[K", strings.Repeat("#", done), strings.Repeat(".", width-done), status)
		return
	}
	fmt.Fprintf(p.w, "presencesim: %s\n", status)
	for p.nextPct <= pct {
		p.nextPct += linePercent
	}
}

// done ends the bar's line; lines need no ending.
func (p *progress) done() {
	if p != nil && p.terminal {
		fmt.Fprintln(p.w)
	}
}
