package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeNow returns a clock for progress that advances by tick at each call.
func fakeNow(tick time.Duration) func() time.Time {
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time {
		t = t.Add(tick)
		return t
	}
}

func TestProgressTerminal(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, true)
	p.now = fakeNow(time.Second) // one second per step: ETA = steps left
	p.begin(100, time.Second)
	for step := 1; step <= 100; step++ {
		p.update(step, 1000+step)
		if step == 50 {
			// begin read the clock once, so 50 steps took 50 s.
			if s := buf.String(); !strings.Contains(s[strings.LastIndex(s, "\r"):], " 50%  simulated 50s of 1m40s  memberships 1050  elapsed 50s  ETA 50s") {
				t.Errorf("bar at step 50: %q, want 50%%, simulated 50s of 1m40s, memberships 1050, elapsed 50s, ETA 50s", s[strings.LastIndex(s, "\r"):])
			}
		}
	}
	p.done()
	out := buf.String()
	if got := strings.Count(out, "\r"); got != 100 {
		t.Errorf("%d redraws, want 100 (one per step, a second apart)", got)
	}
	if !strings.HasPrefix(out, "\r[") || strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "ETA 0\x1b[K\n") ||
		!strings.Contains(out, "[##############################] 100%") {
		t.Errorf("terminal progress %q: want \\r-redrawn bars, a full one at 100%% with ETA 0, one final newline", out[max(0, len(out)-200):])
	}

	// A fast run redraws at most ten times a second, and always at the end.
	buf.Reset()
	p = newProgress(&buf, true)
	p.now = fakeNow(time.Millisecond)
	p.begin(1000, time.Second)
	for step := 1; step <= 1000; step++ {
		p.update(step, 0)
	}
	if got := strings.Count(buf.String(), "\r"); got != 11 {
		t.Errorf("1000 steps of 1 ms: %d redraws, want 11 (every 100 ms and the last)", got)
	}
}

func TestProgressLines(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, false)
	p.now = fakeNow(time.Second)
	p.begin(1000, time.Second)
	for step := 1; step <= 1000; step++ {
		p.update(step, 7)
	}
	p.done()
	out := buf.String()
	if strings.ContainsAny(out, "\r\x1b") {
		t.Errorf("line progress contains \\r or an escape: %q", out)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 20 {
		t.Fatalf("%d lines, want 20 (every 5%%):\n%s", len(lines), out)
	}
	if want := "presencesim:  50%  simulated 8m20s of 16m40s  memberships 7  elapsed 8m20s  ETA 8m20s"; lines[9] != want {
		t.Errorf("line 10: %q, want %q", lines[9], want)
	}
	if !strings.HasPrefix(lines[0], "presencesim:   5%") || !strings.HasPrefix(lines[19], "presencesim: 100%") || !strings.HasSuffix(lines[19], "ETA 0") {
		t.Errorf("first and last lines %q, %q: want 5%% and 100%% with ETA 0", lines[0], lines[19])
	}

	// Fewer steps than lines: one line per step that crosses a 5% mark.
	buf.Reset()
	p = newProgress(&buf, false)
	p.now = fakeNow(time.Second)
	p.begin(3, time.Second)
	for step := 1; step <= 3; step++ {
		p.update(step, 0)
	}
	if got := strings.Count(buf.String(), "\n"); got != 3 {
		t.Errorf("3 steps: %d lines, want 3:\n%s", got, buf.String())
	}
}

func TestProgressOfRun(t *testing.T) {
	var buf bytes.Buffer
	cfg := tiny()
	cfg.Duration = time.Minute
	if _, err := Run(context.Background(), cfg, newProgress(&buf, false)); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); strings.Count(out, "\n") != 20 || !strings.Contains(out, "100%  simulated 1m of 1m") {
		t.Errorf("progress of a 60-step run: %q, want 20 lines ending at 100%%", out)
	}
	// A nil progress reports nothing and does not fail.
	if _, err := Run(context.Background(), cfg, nil); err != nil {
		t.Fatal(err)
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(f) || isTerminal(w) {
		t.Errorf("isTerminal: file %v, pipe %v, want false for both", isTerminal(f), isTerminal(w))
	}
}
