package compare

// The Redis rows: the presence Redis backend (presenceredis, on go-redis)
// against centrifuge's RedisPresenceManager (on rueidis), both on one
// redis-server that this test process starts on a free loopback port and
// kills when it ends. Each side runs with what a user gets by default:
//
//   - impl=presenceredis: redis.NewClient(&redis.Options{Addr: addr}) (a
//     pool of 10 connections per GOMAXPROCS) and presenceredis.New with a
//     zero Config (one partition, the core's default presence settings,
//     real clock, the sweeper every 250 ms);
//   - impl=centrifuge-redis: centrifuge.NewRedisShard with only the Address
//     (rueidis, one auto-pipelined connection) and NewRedisPresenceManager
//     with only that shard (PresenceTTL 60 s, no user mapping).
//
// The benchmarks skip when redis-server is not on PATH.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge"
	"github.com/presencekit/presence"
	presenceredis "github.com/presencekit/presence/redis"
	"github.com/redis/go-redis/v9"
)

// Names of the Redis backends, as they appear in benchmark names.
const (
	redisOurs       = "presenceredis"
	redisCentrifuge = "centrifuge-redis"
)

// redisServer is the process's redis-server, started by the first
// benchmark that needs it and killed by TestMain.
var redisServer struct {
	once sync.Once
	addr string
	dir  string
	cmd  *exec.Cmd
	err  error
}

// redisAddr returns the address of the process's redis-server, starting
// it, after emptying it (FLUSHALL), so that each sub-benchmark starts from
// an empty Redis. It skips b when redis-server is not installed.
func redisAddr(b *testing.B) string {
	b.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		b.Skip("redis-server not on PATH: install it (apt-get install redis-server) to run the Redis rows")
	}
	redisServer.once.Do(startRedisServer)
	if redisServer.err != nil {
		b.Fatalf("redis-server: %v", redisServer.err)
	}
	c := redis.NewClient(&redis.Options{Addr: redisServer.addr})
	defer c.Close()
	if err := c.FlushAll(context.Background()).Err(); err != nil {
		b.Fatalf("FLUSHALL: %v", err)
	}
	return redisServer.addr
}

// startRedisServer starts redis-server without persistence on a free
// loopback port and waits until it answers PING.
func startRedisServer() {
	s := &redisServer
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.err = err
		return
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	if s.dir, s.err = os.MkdirTemp("", "compare-redis"); s.err != nil {
		return
	}
	s.addr = fmt.Sprintf("127.0.0.1:%d", port)
	s.cmd = exec.Command("redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--protected-mode", "no", "--loglevel", "warning")
	if s.err = s.cmd.Start(); s.err != nil {
		return
	}
	c := redis.NewClient(&redis.Options{Addr: s.addr, MaxRetries: -1})
	defer c.Close()
	for start := time.Now(); time.Since(start) < 20*time.Second; time.Sleep(20 * time.Millisecond) {
		if s.err = c.Ping(context.Background()).Err(); s.err == nil {
			return
		}
	}
}

// stopRedisServer kills the process's redis-server, if one was started.
func stopRedisServer() {
	if redisServer.cmd != nil && redisServer.cmd.Process != nil {
		_ = redisServer.cmd.Process.Kill()
		_ = redisServer.cmd.Wait()
	}
	if redisServer.dir != "" {
		_ = os.RemoveAll(redisServer.dir)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	stopRedisServer()
	os.Exit(code)
}

// redisBackend is one side of the Redis rows.
type redisBackend interface {
	// heartbeat makes uuid present on channel (the one-element slice), one
	// call per heartbeat.
	heartbeat(uuid string, channel []string) error
	// hereNow returns the number of uuids listed on channel.
	hereNow(channel []string) (int, error)
	close()
}

// newRedisBackend returns the backend called name on the redis-server at
// addr, configured as a user would by default.
func newRedisBackend(b *testing.B, name, addr string) redisBackend {
	switch name {
	case redisOurs:
		c := redis.NewClient(&redis.Options{Addr: addr})
		be, err := presenceredis.New(c, presenceredis.Config{})
		if err != nil {
			c.Close()
			b.Fatal(err)
		}
		return &oursRedis{be: be, c: c}
	case redisCentrifuge:
		node, err := centrifuge.New(centrifuge.Config{})
		if err != nil {
			b.Fatal(err)
		}
		shard, err := centrifuge.NewRedisShard(node, centrifuge.RedisShardConfig{Address: addr})
		if err != nil {
			b.Fatal(err)
		}
		m, err := centrifuge.NewRedisPresenceManager(node, centrifuge.RedisPresenceManagerConfig{Shards: []*centrifuge.RedisShard{shard}})
		if err != nil {
			b.Fatal(err)
		}
		return &centrifugeRedis{node: node, shard: shard, m: m}
	}
	b.Fatalf("unknown Redis backend %q", name)
	return nil
}

type oursRedis struct {
	be *presenceredis.Backend
	c  *redis.Client
}

func (o *oursRedis) heartbeat(uuid string, channel []string) error {
	return o.be.Heartbeat(ctx, presence.HeartbeatRequest{UUID: uuid, Channels: channel})
}

func (o *oursRedis) hereNow(channel []string) (int, error) {
	r, err := o.be.HereNow(ctx, presence.HereNowQuery{Channels: channel})
	if err != nil {
		return 0, err
	}
	return len(r.Channels[0].Occupants), nil
}

func (o *oursRedis) close() {
	_ = o.be.Close()
	_ = o.c.Close()
}

type centrifugeRedis struct {
	node  *centrifuge.Node
	shard *centrifuge.RedisShard
	m     *centrifuge.RedisPresenceManager
}

func (c *centrifugeRedis) heartbeat(uuid string, channel []string) error {
	return c.m.AddPresence(channel[0], uuid, &centrifuge.ClientInfo{ClientID: uuid, UserID: uuid})
}

func (c *centrifugeRedis) hereNow(channel []string) (int, error) {
	p, err := c.m.Presence(channel[0])
	return len(p), err
}

func (c *centrifugeRedis) close() {
	_ = c.m.Close(context.Background())
	c.shard.Close()
	_ = c.node.Shutdown(context.Background())
}

// forEachRedis runs f as a sub-benchmark impl=<name> for both sides.
func forEachRedis(b *testing.B, f func(b *testing.B, name string)) {
	for _, name := range []string{redisOurs, redisCentrifuge} {
		b.Run("impl="+name, func(b *testing.B) { f(b, name) })
	}
}

// redisCallers is the number of goroutines calling at once in
// BenchmarkRedisHeartbeat, whatever GOMAXPROCS is: a server handling many
// clients' heartbeats at once.
const redisCallers = 16

// redisMembers returns the uuids and one-channel slices of the heartbeat
// rows: channels of 100 members, 10,000 memberships (1,000 on the small
// scale).
func redisMembers() (uuids []string, chans [][]string) {
	n := 10_000
	if ScaleFromEnv() == Small {
		n = 1_000
	}
	uuids = make([]string, n)
	chans = make([][]string, n/100)
	for i := range chans {
		chans[i] = []string{fmt.Sprintf("room-%04d", i)}
	}
	for i := range uuids {
		uuids[i] = fmt.Sprintf("user-%08d", i)
	}
	return uuids, chans
}

// fillRedis makes uuids[i] present on chans[i%len(chans)], from
// redisCallers goroutines.
func fillRedis(b *testing.B, be redisBackend, uuids []string, chans [][]string) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, redisCallers)
	for range redisCallers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(uuids); i = int(next.Add(1) - 1) {
				if err := be.heartbeat(uuids[i], chans[i%len(chans)]); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRedisHeartbeat is a heartbeat of a present member, one call per
// heartbeat, from 16 goroutines at once, members in turn over 10,000
// memberships on 100 channels. heartbeats/s is the throughput.
func BenchmarkRedisHeartbeat(b *testing.B) {
	forEachRedis(b, func(b *testing.B, name string) {
		be := newRedisBackend(b, name, redisAddr(b))
		defer be.close()
		uuids, chans := redisMembers()
		fillRedis(b, be, uuids, chans)
		var next atomic.Int64
		b.SetParallelism((redisCallers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(7919)) % len(uuids) // callers start apart
			for pb.Next() {
				if err := be.heartbeat(uuids[i], chans[i%len(chans)]); err != nil {
					b.Error(err)
					return
				}
				if i++; i == len(uuids) {
					i = 0
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "heartbeats/s")
	})
}

// BenchmarkRedisHereNow lists every member of a channel of 100 or 1,000
// members, one caller: presenceredis's HereNow (uuids, no state: the
// default query) against centrifuge's Presence (every ClientInfo).
func BenchmarkRedisHereNow(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			forEachRedis(b, func(b *testing.B, name string) {
				be := newRedisBackend(b, name, redisAddr(b))
				defer be.close()
				uuids := make([]string, n)
				for i := range uuids {
					uuids[i] = fmt.Sprintf("user-%08d", i)
				}
				room := [][]string{{"room"}}
				fillRedis(b, be, uuids, room)
				b.ReportAllocs()
				for b.Loop() {
					got, err := be.hereNow(room[0])
					if err != nil {
						b.Fatal(err)
					}
					if got != n {
						b.Fatalf("here_now listed %d uuids, want %d", got, n)
					}
				}
			})
		})
	}
}

// BenchmarkRedisExpire: 10,000 memberships (1,000 on the small scale) on
// 100 channels, all with the same deadline, expire across three
// presenceredis Backends on the one redis-server, each with its own client
// and sweeper (as three servers of one deployment would), real clock,
// every timeout announced (AnnounceMax -1). Each Backend has one
// subscription to every event. delay-ms is the time from the deadline
// until the last of the three subscriptions received its last timeout;
// timeouts is the most timeout events one subscription received and
// distinct the fewest distinct (channel, uuid) ones: exactly once each
// means both equal the number of memberships. Centrifuge's presence
// manager has no expiry events (an expired entry is dropped when read), so
// this row has one side.
func BenchmarkRedisExpire(b *testing.B) {
	b.Run("impl="+redisOurs, func(b *testing.B) {
		n, wait := 10_000, 4*time.Second
		if ScaleFromEnv() == Small {
			n, wait = 1_000, 2*time.Second
		}
		var delay, most, fewest float64
		for b.Loop() {
			b.StopTimer()
			d, m, f := expireOnce(b, redisAddr(b), n, wait)
			delay, most, fewest = float64(d)/float64(time.Millisecond), float64(m), float64(f)
			b.StartTimer()
		}
		b.ReportMetric(delay, "delay-ms")
		b.ReportMetric(most, "timeouts")
		b.ReportMetric(fewest, "distinct")
	})
}

// expireOnce runs one expiry of n memberships whose deadline is wait after
// the fill begins, and returns the delay from the deadline to the last
// timeout delivered, the most timeouts one subscription got and the fewest
// distinct ones.
func expireOnce(b *testing.B, addr string, n int, wait time.Duration) (time.Duration, int, int) {
	const instances = 3
	cfg := presenceredis.Config{Config: presence.Config{MinTimeout: time.Second, AnnounceMax: presence.NoIntervalMode}}
	type inst struct {
		c    *redis.Client
		be   *presenceredis.Backend
		sub  *presence.Subscription
		last time.Time
		got  int
		seen map[string]bool
		done chan struct{}
	}
	insts := make([]*inst, instances)
	for i := range insts {
		c := redis.NewClient(&redis.Options{Addr: addr})
		be, err := presenceredis.New(c, cfg)
		if err != nil {
			b.Fatal(err)
		}
		sub, err := be.Subscribe(ctx, presence.SubscribeOptions{All: true, Buffer: 1 << 16})
		if err != nil {
			b.Fatal(err)
		}
		insts[i] = &inst{c: c, be: be, sub: sub, seen: map[string]bool{}, done: make(chan struct{})}
	}
	var mu sync.Mutex // guards got, last and seen
	for _, in := range insts {
		go func() {
			defer close(in.done)
			for ev := range in.sub.Events() {
				if ev.Action != presence.Timeout {
					continue
				}
				t := time.Now()
				mu.Lock()
				in.got++
				in.last = t
				in.seen[ev.Channel+"\n"+ev.UUID] = true
				mu.Unlock()
			}
		}()
	}
	deadline := time.Now().Add(wait)
	batch := make([]presence.HeartbeatRequest, 0, 500)
	for i := range n {
		batch = append(batch, presence.HeartbeatRequest{
			UUID: fmt.Sprintf("user-%08d", i), Channels: []string{fmt.Sprintf("room-%04d", i%100)},
		})
		if len(batch) == cap(batch) || i == n-1 {
			timeout := time.Until(deadline) // every member's deadline is deadline (plus the call's own few µs)
			for j := range batch {
				batch[j].Timeout = timeout
			}
			if err := insts[i%instances].be.Heartbeats(ctx, batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if time.Until(deadline) < 1100*time.Millisecond { // else timeouts below MinTimeout were raised to it
		b.Fatalf("the fill ended %v before the deadline: raise the wait", time.Until(deadline))
	}
	time.Sleep(time.Until(deadline))
	b.StartTimer()
	count := func() (least int) {
		mu.Lock()
		defer mu.Unlock()
		least = n
		for _, in := range insts {
			least = min(least, in.got)
		}
		return least
	}
	for count() < n {
		time.Sleep(time.Millisecond)
		if time.Since(deadline) > time.Minute {
			b.Fatalf("a minute after the deadline, a subscription had %d of %d timeouts", count(), n)
		}
	}
	b.StopTimer()
	// what is in the streams now reaches the subscriptions: a duplicate
	// would be counted
	for _, in := range insts {
		if err := in.be.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	for _, in := range insts {
		_ = in.be.Close()
		<-in.done
		_ = in.c.Close()
	}
	var last time.Time
	most, fewest := 0, n
	for _, in := range insts {
		if in.last.After(last) {
			last = in.last
		}
		most = max(most, in.got)
		fewest = min(fewest, len(in.seen))
	}
	if most != n || fewest != n {
		b.Errorf("timeouts: a subscription got %d, one %d distinct; want %d each", most, fewest, n)
	}
	return last.Sub(deadline), most, fewest
}
