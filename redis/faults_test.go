package presenceredis

// faults_test.go holds the multi-instance fault tests: three instances on
// the real clock, each with its own client (go-redis's default options and
// tuned ones), members heartbeating through them concurrently while Redis
// is killed, restarted, stalled or an instance process is killed. Each
// checks that every instance's event stream replays to the true membership
// set, that no presence episode has two joins or two ends, that nothing
// stays present past its deadline plus the documented bound once the fault
// is over, and that calls made while Redis is away return ErrUnavailable
// within their deadline. The short versions run by default; set
// PRESENCE_REDIS_SOAK=1 for the long ones.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/presencekit/presence"
	"github.com/redis/go-redis/v9"
)

// soak reports whether the long fault tests were asked for.
func soak() bool { return os.Getenv("PRESENCE_REDIS_SOAK") != "" }

// clientOptions are the go-redis options the fault tests run every fault
// with, for all three instances at once: go-redis's defaults (as in the
// README's quick start: long timeouts, three retries, the context's
// deadline not used on the connection) and tuned ones (short timeouts that
// honour the context, no retries).
var clientOptions = []struct {
	name string
	opts func(addr string) *redis.Options
}{
	{"DefaultOptions", func(addr string) *redis.Options { return &redis.Options{Addr: addr} }},
	{"TunedOptions", func(addr string) *redis.Options {
		return &redis.Options{Addr: addr, DialTimeout: 500 * time.Millisecond, ReadTimeout: time.Second, WriteTimeout: time.Second,
			PoolTimeout: time.Second, MaxRetries: -1, ContextTimeoutEnabled: true}
	}},
}

// lateSlack is how much later than its deadline a call may return before
// the fault tests call it a hang: scheduling on a loaded machine, not a
// performance figure.
const lateSlack = 2 * time.Second

// faultSpec shapes one fault test's load.
type faultSpec struct {
	members  int
	channels int
	timeout  time.Duration // the members' presence timeout
	interval time.Duration // how often each member heartbeats
	deadline time.Duration // the context deadline of every other call (the others rely on Config.CallTimeout)
	warmup   time.Duration // load before the fault
	after    time.Duration // load after it
	cfg      Config        // Clock and Prefix are set by the test
	options  func(addr string) *redis.Options
}

func shortSpec() faultSpec {
	s := faultSpec{members: 60, channels: 6, timeout: 3 * time.Second, interval: 500 * time.Millisecond,
		deadline: 1500 * time.Millisecond, warmup: time.Second, after: 1500 * time.Millisecond}
	s.cfg.MinTimeout = time.Second
	s.cfg.AnnounceMax = presence.NoIntervalMode
	s.cfg.SweepInterval = 200 * time.Millisecond
	s.cfg.OutageGrace = 2 * time.Second
	if soak() {
		s.members, s.channels, s.warmup, s.after = 300, 20, 3*time.Second, 5*time.Second
		s.cfg.OutageGrace = 0 // the default
	}
	return s
}

// faultEnv is a running fault test: the instances, their subscriptions'
// events, and the members' load.
type faultEnv struct {
	t    *testing.T
	spec faultSpec
	bs   []*Backend
	logs []*eventLog

	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	members  []*loadMember
	problems []string  // wrong errors and late returns of the load
	failed   int       // calls that returned ErrUnavailable
	faultEnd time.Time // when the last fault was over
	lastDue  time.Time // the latest deadline of members outside the load (a killed instance's)
	prefix   string
}

type loadMember struct {
	uuid, channel string
	lastOK        time.Time // when its last successful heartbeat returned
	left          bool
}

// eventLog collects one subscription's events.
type eventLog struct {
	sub  *presence.Subscription
	done chan struct{}
	mu   sync.Mutex
	evs  []presence.Event
}

func newEventLog(t *testing.T, b *Backend, buffer int) *eventLog {
	t.Helper()
	s, err := b.Subscribe(ctx, presence.SubscribeOptions{All: true, Buffer: buffer})
	if err != nil {
		t.Fatal(err)
	}
	l := &eventLog{sub: s, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for ev := range s.Events() {
			l.mu.Lock()
			l.evs = append(l.evs, ev)
			l.mu.Unlock()
		}
	}()
	return l
}

// events returns a copy of what the log holds so far.
func (l *eventLog) events() []presence.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.evs)
}

// close ends the subscription and returns every event it received.
func (l *eventLog) close(t *testing.T) []presence.Event {
	t.Helper()
	l.sub.Close()
	<-l.done
	if err := l.sub.Err(); err != nil {
		t.Fatalf("subscription ended with %v", err)
	}
	return l.events()
}

// newFaultEnv starts three instances on addr, one per client kind, on the
// real clock, and subscribes to every event of each.
func newFaultEnv(t *testing.T, addr string, spec faultSpec) *faultEnv {
	t.Helper()
	f := &faultEnv{t: t, spec: spec, stop: make(chan struct{})}
	cfg := spec.cfg
	cfg.Prefix = uniquePrefix(t)
	f.prefix = cfg.Prefix
	for range 3 {
		c := redis.NewClient(spec.options(addr))
		t.Cleanup(func() { c.Close() })
		b := newBackend(t, c, cfg)
		f.bs = append(f.bs, b)
		f.logs = append(f.logs, newEventLog(t, b, 8192))
	}
	for i := range spec.members {
		f.members = append(f.members, &loadMember{uuid: fmt.Sprintf("m%03d", i), channel: fmt.Sprintf("c%02d", i%spec.channels)})
	}
	return f
}

// start starts one goroutine per member that heartbeats, through the
// instances in turn, until finish.
func (f *faultEnv) start() {
	for i := range f.members {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.heartbeat(i)
		}()
	}
}

func (f *faultEnv) heartbeat(i int) {
	m := f.members[i]
	req := presence.HeartbeatRequest{UUID: m.uuid, Channels: []string{m.channel}, Timeout: f.spec.timeout}
	tick := time.NewTicker(f.spec.interval)
	defer tick.Stop()
	for round := 0; ; round++ {
		b := f.bs[(i+round)%len(f.bs)]
		cctx, cancel := context.Background(), context.CancelFunc(func() {})
		deadline := b.cfg.CallTimeout
		if (i+round)%2 == 0 {
			deadline = f.spec.deadline
			cctx, cancel = context.WithTimeout(cctx, deadline)
		}
		start := time.Now()
		err := b.Heartbeat(cctx, req)
		cancel()
		end := time.Now()
		f.mu.Lock()
		switch {
		case err == nil:
			m.lastOK = end
		case !errors.Is(err, presence.ErrUnavailable):
			f.problems = append(f.problems, fmt.Sprintf("heartbeat of %s: %v, want nil or ErrUnavailable", m.uuid, err))
		default:
			f.failed++
		}
		if took := end.Sub(start); err != nil && took > deadline+lateSlack {
			f.problems = append(f.problems, fmt.Sprintf("heartbeat of %s returned %v after %v, deadline %v", m.uuid, err, took, deadline))
		}
		f.mu.Unlock()
		select {
		case <-f.stop:
			return
		case <-tick.C:
		}
	}
}

// faultOver notes that the fault has ended (Redis answers again).
func (f *faultEnv) faultOver() {
	f.mu.Lock()
	f.faultEnd = time.Now()
	f.mu.Unlock()
}

// retryUnavailable repeats op while it returns ErrUnavailable: Redis is
// coming back.
func retryUnavailable(t *testing.T, what string, op func() error) {
	t.Helper()
	for i := 0; ; i++ {
		err := op()
		if err == nil {
			return
		}
		if !errors.Is(err, presence.ErrUnavailable) || i == 100 {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond) // waiting for Redis to answer, not for an event
	}
}

// faultResult is what finish found, for the test's own checks and log.
type faultResult struct {
	events  []int // per instance, presence events delivered
	resyncs []int // per instance, resync markers delivered
	failed  int   // calls that returned ErrUnavailable
}

// finish stops the load, makes every third member leave, and checks the
// instances' streams against the truth, then waits for every other member
// to time out and checks the streams again.
func (f *faultEnv) finish() faultResult {
	t := f.t
	t.Helper()
	close(f.stop)
	f.wg.Wait()
	stopped := time.Now()
	for i, m := range f.members {
		if i%3 != 0 {
			continue
		}
		b := f.bs[i%len(f.bs)]
		retryUnavailable(t, "leave of "+m.uuid, func() error {
			return b.Leave(ctx, presence.LeaveRequest{UUID: m.uuid, Channels: []string{m.channel}})
		})
		m.left = true
	}
	f.mu.Lock()
	problems := slices.Clone(f.problems)
	failed := f.failed
	faultEnd := f.faultEnd
	f.mu.Unlock()
	for _, p := range problems[:min(len(problems), 10)] {
		t.Error(p)
	}
	if len(problems) > 0 {
		t.Fatalf("%d problems with the calls made under load", len(problems))
	}

	// The streams replay to the truth: every member present in Redis is
	// present in each instance's replay and the other way round. Members
	// close to their deadline are left out: a sweep may remove them between
	// the flush and the read.
	for _, b := range f.bs {
		retryUnavailable(t, "flush", func() error { return b.Flush(ctx) })
	}
	var truth presence.HereNowResult
	retryUnavailable(t, "here_now", func() error {
		var err error
		truth, err = f.bs[0].HereNow(ctx, presence.HereNowQuery{})
		return err
	})
	read := time.Now()
	present := map[string]bool{}
	for _, c := range truth.Channels {
		for _, o := range c.Occupants {
			present[c.Channel+"/"+o.UUID] = true
		}
	}
	for i, l := range f.logs {
		replayed, _ := replay(t, i, l.events(), stopped)
		for _, m := range f.members {
			key := m.channel + "/" + m.uuid
			if !m.left && m.lastOK.Add(f.spec.timeout).Before(read.Add(time.Second)) {
				continue
			}
			if replayed[key] != present[key] {
				t.Fatalf("instance %d: %s present in its replay: %v, in Redis: %v", i, key, replayed[key], present[key])
			}
		}
	}

	// Nothing stays present past its deadline plus the bound: the outage
	// grace after the fault, then a sweep interval.
	cfg := f.bs[0].cfg
	limit := faultEnd.Add(cfg.OutageGrace + detectSlack)
	if f.lastDue.After(limit) {
		limit = f.lastDue
	}
	for _, m := range f.members {
		if d := m.lastOK.Add(f.spec.timeout); d.After(limit) {
			limit = d
		}
	}
	limit = limit.Add(cfg.SweepInterval + lateSlack)
	for {
		st, err := f.bs[0].Stats(ctx)
		if err == nil && st.Memberships == 0 {
			break
		}
		if time.Now().After(limit) {
			t.Fatalf("memberships still present %v after the last deadline plus the bound (stats %+v, %v)", time.Since(limit), st, err)
		}
		time.Sleep(50 * time.Millisecond) // polling the store, not waiting for an event
	}
	res := faultResult{failed: failed}
	for i, b := range f.bs {
		retryUnavailable(t, "flush", func() error { return b.Flush(ctx) })
		evs := f.logs[i].close(t)
		replayed, n := replay(t, i, evs, stopped)
		for key := range replayed {
			t.Fatalf("instance %d: %s still present in its replay, gone from Redis", i, key)
		}
		res.resyncs = append(res.resyncs, n)
		res.events = append(res.events, len(evs)-n)
		for _, ev := range evs {
			if ev.Action == presence.Timeout && ev.Time.After(limit) {
				t.Fatalf("instance %d: %s timed out at %v, after the bound %v", i, ev.UUID, ev.Time, limit)
			}
		}
	}
	return res
}

// detectSlack is how long after a fault ends an instance may take to
// notice that Redis is back (its next call or sweep) and set the grace.
const detectSlack = time.Second

// replay rebuilds the memberships from one instance's events: present after
// a join, absent after a leave or timeout, everything forgotten at a resync
// marker (Redis lost its data: the stream starts again from nothing). It
// fails on an event delivered twice, on a join of a present member or an
// end of an absent one (an episode with two joins or two ends) and on a
// timeout before the load stopped of a member of the load (uuids starting
// with "m"), which kept heartbeating. It returns the members present at the
// end and the number of resync markers.
func replay(t *testing.T, instance int, evs []presence.Event, stopped time.Time) (map[string]bool, int) {
	t.Helper()
	present := map[string]bool{}
	seen := map[string]bool{}
	markers := 0
	for n, ev := range evs {
		if IsResync(ev) {
			markers++
			clear(present)
			continue
		}
		key := ev.Channel + "/" + ev.UUID
		id := fmt.Sprintf("%s %s %d", ev.Action, key, ev.Timetoken)
		if seen[id] {
			t.Fatalf("instance %d, event %d: %s delivered twice", instance, n, id)
		}
		seen[id] = true
		switch ev.Action {
		case presence.Join:
			if present[key] {
				t.Fatalf("instance %d, event %d: a second join of %s in one episode (%d events, %d resync markers so far)", instance, n, key, len(evs), markers)
			}
			present[key] = true
		case presence.Leave, presence.Timeout:
			if !present[key] {
				t.Fatalf("instance %d, event %d: %s of %s, not present (a second end of one episode)", instance, n, ev.Action, key)
			}
			if ev.Action == presence.Timeout && ev.Time.Before(stopped) && strings.HasPrefix(ev.UUID, "m") {
				t.Fatalf("instance %d: %s timed out at %v while it was heartbeating", instance, key, ev.Time)
			}
			delete(present, key)
		}
	}
	return present, markers
}

// runFault runs the load around fault, which returns once the fault is
// over.
func runFault(t *testing.T, addr string, spec faultSpec, fault func()) faultResult {
	t.Helper()
	f := newFaultEnv(t, addr, spec)
	f.start()
	time.Sleep(spec.warmup) // load before the fault
	fault()
	f.faultOver()
	time.Sleep(spec.after) // load after it
	res := f.finish()
	t.Logf("%d members through %d instances: %v events and %v resync markers delivered, %d calls failed with ErrUnavailable",
		spec.members, len(f.bs), res.events, res.resyncs, res.failed)
	return res
}

// withEachOptions runs test once with every instance on go-redis's default
// options and once on tuned ones, in parallel.
func withEachOptions(t *testing.T, test func(t *testing.T, spec faultSpec)) {
	t.Parallel()
	for _, o := range clientOptions {
		t.Run(o.name, func(t *testing.T) {
			t.Parallel()
			spec := shortSpec()
			spec.options = o.opts
			test(t, spec)
		})
	}
}

// TestFaultRestartWithData: redis-server killed with SIGKILL and started
// again at once with its data (appendfsync always): no event lost or
// repeated, no resync needed, no member timed out.
func TestFaultRestartWithData(t *testing.T) {
	withEachOptions(t, func(t *testing.T, spec faultSpec) {
		srv := startRedisAOF(t)
		res := runFault(t, srv.addr(), spec, srv.restart)
		for i, n := range res.resyncs {
			if n != 0 {
				t.Fatalf("instance %d: %d resync markers after a restart that kept every write", i, n)
			}
		}
	})
}

// TestFaultRestartEmpty: redis-server killed with SIGKILL and started again
// at once without its data (a new epoch): each instance sends one resync
// marker and delivers the new epoch's events once, also when go-redis
// retries the reader's XREAD onto the new server.
func TestFaultRestartEmpty(t *testing.T) {
	withEachOptions(t, func(t *testing.T, spec faultSpec) {
		srv := startRedis(t)
		res := runFault(t, srv.addr(), spec, srv.restart)
		for i, n := range res.resyncs {
			if n != 1 {
				t.Fatalf("instance %d: %d resync markers after Redis lost its data once, want 1", i, n)
			}
		}
	})
}

// TestFaultDown: redis-server killed with SIGKILL and down for 3 s (1.5 s
// in the short version) before it restarts with its data: calls fail with
// ErrUnavailable within their deadline, and no member that kept
// heartbeating is timed out.
func TestFaultDown(t *testing.T) {
	withEachOptions(t, func(t *testing.T, spec faultSpec) {
		srv := startRedisAOF(t)
		down := 3 * time.Second
		if !soak() {
			down = 1500 * time.Millisecond
		}
		res := runFault(t, srv.addr(), spec, func() {
			srv.stop()
			time.Sleep(down) // Redis down
			srv.start()
		})
		if res.failed == 0 {
			t.Fatal("no call failed while Redis was down")
		}
	})
}

// TestFaultStall: redis-server stopped (SIGSTOP) for 3 s under load, then
// continued: a stall is an outage, so no member whose heartbeat was held by
// it times out.
func TestFaultStall(t *testing.T) {
	withEachOptions(t, func(t *testing.T, spec faultSpec) {
		srv := startRedis(t)
		runFault(t, srv.addr(), spec, func() {
			srv.signal(syscall.SIGSTOP)
			time.Sleep(3 * time.Second) // Redis stalled
			srv.signal(syscall.SIGCONT)
		})
	})
}

// TestFaultLongStall: a stall longer than the per-call deadline: calls
// return ErrUnavailable at their deadline instead of waiting for Redis, and
// no member times out. The short version stalls 2.5 s with a 1 s call
// timeout; the soak version 7 s with the default.
func TestFaultLongStall(t *testing.T) {
	withEachOptions(t, func(t *testing.T, spec faultSpec) {
		srv := startRedis(t)
		stall := 7 * time.Second
		if !soak() {
			stall, spec.deadline = 2500*time.Millisecond, 700*time.Millisecond
			spec.cfg.CallTimeout = time.Second
		}
		res := runFault(t, srv.addr(), spec, func() {
			srv.signal(syscall.SIGSTOP)
			time.Sleep(stall) // Redis stalled
			srv.signal(syscall.SIGCONT)
		})
		if res.failed == 0 {
			t.Fatal("no call failed during a stall longer than the call timeout")
		}
	})
}

// The killed instance runs in a child process: the test binary started
// again with these variables set (see TestMain).
const (
	childAddrEnv   = "PRESENCE_REDIS_CHILD_ADDR"
	childPrefixEnv = "PRESENCE_REDIS_CHILD_PREFIX"
	childMembers   = 30
)

// runChild is the child process of TestFaultKilledInstance: an instance,
// its sweeper on, whose own members (k000…) heartbeat through it every
// heartbeat period until the process is killed. It prints "ready" once
// they are all present.
func runChild(addr, prefix string) int {
	spec := shortSpec()
	c := redis.NewClient(&redis.Options{Addr: addr})
	cfg := spec.cfg
	cfg.Prefix = prefix
	b, err := New(c, cfg)
	if err != nil {
		fmt.Println("child:", err)
		return 1
	}
	var reqs []presence.HeartbeatRequest
	for i := range childMembers {
		reqs = append(reqs, presence.HeartbeatRequest{UUID: fmt.Sprintf("k%03d", i), Channels: []string{fmt.Sprintf("c%02d", i%spec.channels)}, Timeout: spec.timeout})
	}
	for round := 0; ; round++ {
		if err := b.Heartbeats(ctx, reqs...); err == nil && round == 0 {
			fmt.Println("ready")
		}
		time.Sleep(spec.interval) // the child's heartbeat period
	}
}

// startChild starts the child instance on addr and prefix and waits until
// its members are present.
func startChild(t *testing.T, addr, prefix string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childAddrEnv+"="+addr, childPrefixEnv+"="+prefix)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case ready <- sc.Text():
			default:
			}
		}
	}()
	select {
	case line := <-ready:
		if line != "ready" {
			t.Fatalf("child instance: %s", line)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("child instance not ready after 30s")
	}
	return cmd
}

// TestFaultKilledInstance: an instance process killed with SIGKILL in the
// middle of its heartbeats and sweeps (not closed: no leave, nothing
// flushed) has its members timed out once, by the other instances, not
// before their deadlines and not later than the bound, while the load
// through the others goes on.
func TestFaultKilledInstance(t *testing.T) {
	withEachOptions(t, func(t *testing.T, spec faultSpec) {
		srv := startRedis(t)
		f := newFaultEnv(t, srv.addr(), spec)
		child := startChild(t, srv.addr(), f.prefix)
		f.start()
		time.Sleep(spec.warmup) // load before the fault
		if err := child.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		f.mu.Lock()
		f.lastDue = killed.Add(spec.timeout)
		f.mu.Unlock()
		time.Sleep(spec.after) // load after it
		res := f.finish()
		// each of the killed instance's members timed out once on every
		// instance, not before the deadline of the last heartbeat it can
		// have made
		for i, l := range f.logs {
			timeouts := map[string]int{}
			for _, ev := range l.events() {
				if ev.Action != presence.Timeout || !strings.HasPrefix(ev.UUID, "k") {
					continue
				}
				timeouts[ev.UUID]++
				if earliest := killed.Add(spec.timeout - spec.interval - lateSlack); ev.Time.Before(earliest) {
					t.Fatalf("instance %d: %s timed out at %v, before its deadline (killed at %v)", i, ev.UUID, ev.Time, killed)
				}
			}
			if len(timeouts) != childMembers {
				t.Fatalf("instance %d: %d of the killed instance's %d members timed out", i, len(timeouts), childMembers)
			}
		}
		t.Logf("killed instance: its %d members timed out once on each of %d instances; %v events", childMembers, len(f.bs), res.events)
	})
}

// TestFaultManyDue: 10,000 memberships due at one instant, three instances
// sweeping on the real clock: each times out once, not before its
// deadline, and every instance delivers each join and timeout once.
func TestFaultManyDue(t *testing.T) {
	withEachOptions(t, func(t *testing.T, spec faultSpec) {
		const members = 10_000
		srv := startRedis(t)
		cfg := spec.cfg
		cfg.Prefix = uniquePrefix(t)
		var bs []*Backend
		var logs []*eventLog
		for range 3 {
			c := redis.NewClient(spec.options(srv.addr()))
			t.Cleanup(func() { c.Close() })
			b := newBackend(t, c, cfg)
			bs = append(bs, b)
			logs = append(logs, newEventLog(t, b, 4*members))
		}
		// one more instance makes the heartbeats with its clock stopped, so
		// that every membership has the same deadline
		frozen := clock.NewMock()
		frozen.Set(time.Now())
		hcfg := cfg
		hcfg.Clock, hcfg.SweepInterval = frozen, -1
		hb := newBackend(t, newClient(t, srv.addr()), hcfg)
		timeout := 5 * time.Second
		due := frozen.Now().Add(timeout)
		var reqs []presence.HeartbeatRequest
		for i := range members {
			reqs = append(reqs, presence.HeartbeatRequest{UUID: fmt.Sprintf("u%05d", i), Channels: []string{fmt.Sprintf("c%02d", i%100)}, Timeout: timeout})
			if len(reqs) == 500 {
				if err := hb.Heartbeats(ctx, reqs...); err != nil {
					t.Fatal(err)
				}
				reqs = reqs[:0]
			}
		}
		limit := due.Add(cfg.SweepInterval + 3*lateSlack)
		for {
			st, err := bs[0].Stats(ctx)
			if err == nil && st.Memberships == 0 {
				break
			}
			if time.Now().After(limit) {
				t.Fatalf("memberships still present %v after their deadline (stats %+v, %v)", time.Since(due), st, err)
			}
			time.Sleep(50 * time.Millisecond) // polling the store, not waiting for an event
		}
		for i, b := range bs {
			retryUnavailable(t, "flush", func() error { return b.Flush(ctx) })
			joins, timeouts := map[string]int{}, map[string]int{}
			for _, ev := range logs[i].close(t) {
				switch ev.Action {
				case presence.Join:
					joins[ev.UUID]++
				case presence.Timeout:
					timeouts[ev.UUID]++
					if ev.Time.Before(due) {
						t.Fatalf("instance %d: %s timed out at %v, before its deadline %v", i, ev.UUID, ev.Time, due)
					}
				default:
					t.Fatalf("instance %d: unexpected %s event", i, ev.Action)
				}
			}
			if len(joins) != members || len(timeouts) != members {
				t.Fatalf("instance %d: %d joined, %d timed out; want %d each", i, len(joins), len(timeouts), members)
			}
			for u, n := range timeouts {
				if n != 1 || joins[u] != 1 {
					t.Fatalf("instance %d: %s joined %d times, timed out %d times; want once each", i, u, joins[u], n)
				}
			}
		}
	})
}
