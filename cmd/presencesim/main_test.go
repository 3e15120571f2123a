package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// tiny is a simulation small enough for every test run: every action
// happens (churn, state, vanishing, timeouts) within ten simulated minutes.
func tiny() Config {
	return Config{
		UUIDs: 200, Channels: 20, PerUUID: 3,
		Heartbeat: 10 * time.Second, Timeout: 30 * time.Second,
		Churn: 0.2, State: 0.2, Vanish: 0.3,
		HereNow: 5, Occupancy: 20,
		Duration: 10 * time.Minute, Step: time.Second,
		Workers: 3, Seed: 7, Sample: 10 * time.Second, Watch: 3,
	}
}

func TestRunInvariants(t *testing.T) {
	for _, announce := range []int{-1, 0} {
		cfg := tiny()
		cfg.AnnounceMax = announce
		rep, err := Run(context.Background(), cfg, nil)
		if err != nil {
			t.Fatalf("AnnounceMax %d: Run: %v", announce, err)
		}
		if rep.SubscriptionErr != nil || rep.SlowSubscribers != 0 {
			t.Fatalf("AnnounceMax %d: subscription ended with %v, %d slow", announce, rep.SubscriptionErr, rep.SlowSubscribers)
		}
		if rep.EventsReceived != rep.EngineEvents {
			t.Errorf("AnnounceMax %d: events received %d, engine's Stats().Events %d", announce, rep.EventsReceived, rep.EngineEvents)
		}
		if got, want := rep.MembershipsAtJoin, cfg.UUIDs*cfg.PerUUID; got != want {
			t.Errorf("AnnounceMax %d: memberships after the initial join %d, want %d", announce, got, want)
		}
		peak := 0
		for _, s := range rep.Samples {
			if s.Memberships < 0 || s.Memberships > cfg.UUIDs*cfg.PerUUID {
				t.Errorf("AnnounceMax %d: sample at %v: memberships %d outside 0..%d", announce, s.At, s.Memberships, cfg.UUIDs*cfg.PerUUID)
			}
			for j, n := range s.Channels {
				if n < 0 || n > cfg.UUIDs {
					t.Errorf("AnnounceMax %d: sample at %v: channel %d occupancy %d outside 0..%d", announce, s.At, j, n, cfg.UUIDs)
				}
			}
			peak = max(peak, s.Memberships)
		}
		if rep.PeakMemberships != peak {
			t.Errorf("AnnounceMax %d: peak memberships %d, samples' peak %d", announce, rep.PeakMemberships, peak)
		}
		if last := rep.Samples[len(rep.Samples)-1]; last.Memberships != rep.FinalMemberships || last.At != cfg.Duration {
			t.Errorf("AnnounceMax %d: last sample %d at %v, want the final %d at %v", announce, last.Memberships, last.At, rep.FinalMemberships, cfg.Duration)
		}
		if rep.Vanished == 0 || rep.Ops[OpLeave].Count == 0 || rep.Ops[OpSetState].Count == 0 || rep.Ops[OpHereNow].Count == 0 {
			t.Errorf("AnnounceMax %d: tiny run exercised too little: %d vanished, ops %+v", announce, rep.Vanished, rep.Ops)
		}
		for o, s := range rep.Ops {
			if s.Count > 0 && !(s.P50 <= s.P90 && s.P90 <= s.P99 && s.P99 <= s.Max) {
				t.Errorf("AnnounceMax %d: %s percentiles out of order: %+v", announce, Op(o), s)
			}
		}
		if announce < 0 {
			// Every change is announced: replaying the stream's joins,
			// leaves and timeouts gives the final memberships.
			ev := rep.Events
			replay := int(ev["join"]) - int(ev["leave"]) - int(ev["timeout"])
			if replay != rep.FinalMemberships {
				t.Errorf("joins %d - leaves %d - timeouts %d = %d, want final memberships %d",
					ev["join"], ev["leave"], ev["timeout"], replay, rep.FinalMemberships)
			}
			if ev["timeout"] == 0 || ev["interval"] != 0 {
				t.Errorf("events %v: want timeouts (vanished clients) and no interval events", ev)
			}
		}
		var buf bytes.Buffer
		printReport(&buf, rep)
		for _, want := range []string{"heartbeat", "here_now", "p99", "slow subscriptions: 0", "B per membership"} {
			if !strings.Contains(buf.String(), want) {
				t.Errorf("AnnounceMax %d: report lacks %q:\n%s", announce, want, buf.String())
			}
		}
	}
}

func TestSVGWellFormed(t *testing.T) {
	rep, err := Run(context.Background(), tiny(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := writeSVG(&buf, rep); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(&buf)
	polylines := 0
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			if se.Name.Local == "polyline" {
				polylines++
			}
		}
	}
	if root != "svg" {
		t.Errorf("root element %q, want svg", root)
	}
	if want := 1 + len(rep.WatchedChannels); polylines != want {
		t.Errorf("%d polylines, want %d (total and each watched channel)", polylines, want)
	}
}

func TestBadConfig(t *testing.T) {
	for _, mod := range []func(*Config){
		func(c *Config) { c.UUIDs = 0 },
		func(c *Config) { c.PerUUID = c.Channels + 1 },
		func(c *Config) { c.Vanish = 2 },
		func(c *Config) { c.Timeout = 0 },
		func(c *Config) { c.Step = 0 },
		func(c *Config) { c.Workers = 0 },
	} {
		cfg := tiny()
		mod(&cfg)
		if _, err := Run(context.Background(), cfg, nil); err == nil {
			t.Errorf("Run(%+v) = nil error, want one", cfg)
		}
	}
}

func TestFlagsDefaults(t *testing.T) {
	cfg, svg, progress, _ := parseFlags(nil)
	if cfg.UUIDs*cfg.PerUUID != 1_000_000 || cfg.Duration != time.Hour || cfg.Heartbeat != time.Minute ||
		cfg.Timeout != 2*time.Minute || svg != "occupancy.svg" || !progress || cfg.Realtime {
		t.Errorf("defaults %+v svg %q progress %v: want 1M memberships for a simulated hour, heartbeat 1m, timeout 2m", cfg, svg, progress)
	}
}

func TestHistQuantiles(t *testing.T) {
	var h hist
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.9, 900 * time.Microsecond}, {0.99, 990 * time.Microsecond}} {
		got := h.quantile(c.q)
		if got < c.want || got > c.want+c.want/16 {
			t.Errorf("quantile(%v) = %v, want within [%v, %v]", c.q, got, c.want, c.want+c.want/16)
		}
	}
	if h.quantile(1) != time.Millisecond || h.max != int64(time.Millisecond) {
		t.Errorf("quantile(1) = %v, max %v, want 1ms", h.quantile(1), time.Duration(h.max))
	}
}
