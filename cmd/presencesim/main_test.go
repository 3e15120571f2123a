package main

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/presencekit/presence"
)

// tiny is a simulation small enough for every test run: a ramp-up, a wave,
// churn, state, leaves and vanishing within ten simulated minutes, on
// channels below and above AnnounceMax.
func tiny() Config {
	return Config{
		UUIDs: 300, Online: 0.8, Channels: 40, Skew: 1, PerUUID: 3,
		Heartbeat: 10 * time.Second, Timeout: 30 * time.Second,
		RampUp: time.Minute, Wave: 0.5,
		Churn: 0.2, Vanish: 0.4, State: 0.2,
		HereNow: 5, Occupancy: 20,
		Duration: 10 * time.Minute, Step: time.Second,
		Workers: 3, Seed: 7, Deltas: true, Sample: 10 * time.Second, Watch: 3,
	}
}

func TestRunInvariants(t *testing.T) {
	for _, announce := range []int{presence.NoIntervalMode, 0} {
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
		var binned EventCounts
		peak := 0
		for _, s := range rep.Samples {
			binned.merge(&s.Events)
			if s.Memberships < 0 || s.Memberships > cfg.UUIDs*cfg.PerUUID {
				t.Errorf("AnnounceMax %d: sample at %v: memberships %d outside 0..%d", announce, s.At, s.Memberships, cfg.UUIDs*cfg.PerUUID)
			}
			if want := int(cfg.onlineTarget(s.At) + 0.5); s.At > 0 && s.Online != want {
				t.Errorf("AnnounceMax %d: sample at %v: %d clients online, want the target %d", announce, s.At, s.Online, want)
			}
			for j, n := range s.Channels {
				if n < 0 || n > cfg.UUIDs {
					t.Errorf("AnnounceMax %d: sample at %v: channel %d occupancy %d outside 0..%d", announce, s.At, j, n, cfg.UUIDs)
				}
			}
			peak = max(peak, s.Memberships)
		}
		if binned != rep.Events {
			t.Errorf("AnnounceMax %d: the samples' event bins add up to %+v, the run's counts are %+v", announce, binned, rep.Events)
		}
		if rep.PeakMemberships != peak {
			t.Errorf("AnnounceMax %d: peak memberships %d, samples' peak %d", announce, rep.PeakMemberships, peak)
		}
		last := rep.Samples[len(rep.Samples)-1]
		if last.Memberships != rep.FinalMemberships || last.At != cfg.Duration {
			t.Errorf("AnnounceMax %d: last sample %d at %v, want the final %d at %v", announce, last.Memberships, last.At, rep.FinalMemberships, cfg.Duration)
		}
		if got := rep.Arrivals - rep.Leaves - rep.Vanished; got != last.Online {
			t.Errorf("AnnounceMax %d: %d sessions started - %d left - %d vanished = %d, want the %d online at the end",
				announce, rep.Arrivals, rep.Leaves, rep.Vanished, got, last.Online)
		}
		if rep.Vanished == 0 || rep.Leaves == 0 || rep.Ops[OpLeave].Count != uint64(rep.Leaves) ||
			rep.Ops[OpJoin].Count != uint64(rep.Arrivals) || rep.Ops[OpSetState].Count == 0 || rep.Ops[OpHereNow].Count == 0 {
			t.Errorf("AnnounceMax %d: %d arrivals, %d leaves, %d vanished, ops %+v: want every kind, one join per arrival and one leave per leaving client",
				announce, rep.Arrivals, rep.Leaves, rep.Vanished, rep.Ops)
		}
		for o, s := range rep.Ops {
			if s.Count > 0 && !(s.P50 <= s.P90 && s.P90 <= s.P99 && s.P99 <= s.Max) {
				t.Errorf("AnnounceMax %d: %s percentiles out of order: %+v", announce, Op(o), s)
			}
		}
		ev := rep.Events.Events
		if announce == presence.NoIntervalMode {
			// Every change is announced: replaying the stream's joins,
			// leaves and timeouts gives the final memberships.
			replay := int(ev[presence.Join]) - int(ev[presence.Leave]) - int(ev[presence.Timeout])
			if replay != rep.FinalMemberships {
				t.Errorf("joins %d - leaves %d - timeouts %d = %d, want final memberships %d",
					ev[presence.Join], ev[presence.Leave], ev[presence.Timeout], replay, rep.FinalMemberships)
			}
			if ev[presence.Timeout] == 0 || ev[presence.Interval] != 0 {
				t.Errorf("events %v: want timeouts (vanished clients) and no interval events", ev)
			}
		}
		var buf bytes.Buffer
		printReport(&buf, rep)
		for _, want := range []string{"heartbeat", "here_now", "p99", "slow subscriptions: 0", "B per membership", "ended by leave", "as interval deltas"} {
			if !strings.Contains(buf.String(), want) {
				t.Errorf("AnnounceMax %d: report lacks %q:\n%s", announce, want, buf.String())
			}
		}
	}
}

// TestDefaultsTeach runs the default settings scaled down a hundredfold:
// the run must show every kind of event, and interval events carrying
// deltas. (Before, every channel stayed above AnnounceMax, so leaves and
// timeouts were 0 although thousands of clients vanished.)
func TestDefaultsTeach(t *testing.T) {
	cfg, _, _, _ := parseFlags(nil)
	cfg.UUIDs /= 100
	cfg.Channels /= 100
	cfg.Duration /= 3
	rep, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for a := presence.Join; a <= presence.Interval; a++ {
		if rep.Events.Events[a] == 0 {
			t.Errorf("%s events: 0, want some (events %+v)", a, rep.Events)
		}
	}
	for a := presence.Join; a <= presence.Timeout; a++ {
		if rep.Events.Deltas[a] == 0 {
			t.Errorf("%s deltas in interval events: 0, want some (events %+v)", a, rep.Events)
		}
	}
	var buf bytes.Buffer
	printEvents(&buf, rep)
	for a := presence.Join; a <= presence.Interval; a++ {
		if !strings.Contains(buf.String(), a.String()+"  ") {
			t.Errorf("events table lacks a %s row:\n%s", a, buf.String())
		}
	}
}

func TestBadConfig(t *testing.T) {
	for _, mod := range []func(*Config){
		func(c *Config) { c.UUIDs = 0 },
		func(c *Config) { c.PerUUID = c.Channels + 1 },
		func(c *Config) { c.Vanish = 2 },
		func(c *Config) { c.Vanish = math.NaN() },
		func(c *Config) { c.Timeout = 0 },
		func(c *Config) { c.Step = 0 },
		func(c *Config) { c.Workers = 0 },
		func(c *Config) { c.Online = 0 },
		func(c *Config) { c.Online = 1.5 },
		func(c *Config) { c.Skew = -1 },
		func(c *Config) { c.Wave = 1.1 },
		func(c *Config) { c.Churn = -0.1 },
		func(c *Config) { c.State = math.Inf(1) },
		func(c *Config) { c.RampUp = -time.Second },
		func(c *Config) { c.Watch = -1 },
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
	peak := cfg.onlineTarget(cfg.Duration) * float64(cfg.PerUUID)
	if peak < 1_000_000 || peak > 1_100_000 || cfg.Duration != time.Hour || cfg.Heartbeat != time.Minute ||
		cfg.Timeout != 2*time.Minute || svg != "occupancy.svg" || !progress || cfg.Realtime ||
		!cfg.Deltas || cfg.Skew != 1 || cfg.RampUp <= 0 || cfg.Wave <= 0 || cfg.Vanish <= 0 {
		t.Errorf("defaults %+v svg %q progress %v (peak %v memberships): want about 1M memberships at the peak of a simulated hour, heartbeat 1m, timeout 2m, a ramp-up, a wave, vanishing, skewed channels and deltas",
			cfg, svg, progress, peak)
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
