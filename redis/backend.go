// backend.go holds Backend, its Config, New, Close, Stats, Sweep and the
// public operations. They validate their input exactly as the in-memory
// engine does, expand channel groups (read from Redis at the moment of the
// call), and run one Lua script per partition touched (keys.go), which
// changes the state and appends the events to the partition's stream in one
// atomic step. Events reach local subscriptions through the stream reader
// (reader.go), never directly from a call. Every round trip goes through
// call.go, which bounds it by the caller's context. Goroutines: the sweeper
// (here), the stream readers (reader.go), the heartbeat batchers
// (batch.go), one per round trip (call.go).

package presenceredis

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/benbjohnson/clock"
	"github.com/presencekit/presence"
	"github.com/presencekit/presence/internal/fanout"
	"github.com/presencekit/presence/internal/rules"
	"github.com/redis/go-redis/v9"
)

// Defaults of Config's own zero fields.
const (
	DefaultPrefix       = "presence"
	DefaultStreamMaxLen = 100_000
	DefaultOutageGrace  = 10 * time.Second
	DefaultSweepBatch   = 1000
	DefaultReadBlock    = 100 * time.Millisecond
	DefaultCallTimeout  = 5 * time.Second
	DefaultStall        = time.Second
	// DefaultClusterPartitions is Partitions' zero value with a
	// *redis.ClusterClient.
	DefaultClusterPartitions = 16
)

// Config sets a Backend's behaviour: the core's presence.Config (Clock,
// timeouts, AnnounceMax, Interval, Deltas, limits, SweepInterval,
// SubscriptionBuffer; HereNowCacheTTL, HereNowCacheSize and Shards do not
// apply and are ignored) and the Redis layout. Every instance sharing one
// presence view must use the same Prefix, Partitions and presence settings.
type Config struct {
	presence.Config

	// Prefix starts every key. It may not contain '{' or '}'. Zero means
	// "presence".
	Prefix string

	// Partitions is the number of independent streams and hash slots the
	// channels are spread over (crc32 of the name). Events of one channel are
	// always in one partition, in order; timetokens are strictly increasing
	// per partition, so with one partition they are strictly increasing
	// across the whole view. Zero means 1, or 16 with a *redis.ClusterClient.
	Partitions int

	// StreamMaxLen is the approximate number of events each partition's
	// stream keeps (XADD MAXLEN ~). An instance further behind than that
	// gets a resync signal. Zero means 100,000.
	StreamMaxLen int64

	// OutageGrace is how long, by Clock, no membership is timed out after an
	// instance saw Redis come back from an outage (calls that failed, or
	// that took longer than StallThreshold), so members whose heartbeats
	// failed or were held up during it can heartbeat again. Each instance
	// sets it before its own first write after the outage. Zero means 10 s;
	// negative disables the hold; at most 1 h.
	OutageGrace time.Duration

	// CallTimeout bounds, in real time, every call that goes to Redis when
	// its context has no deadline of its own: the call then returns an
	// error wrapping presence.ErrUnavailable and context.DeadlineExceeded,
	// whatever the go-redis client's own timeouts and retries. It bounds the
	// backend's own calls too (the sweeper's; the stream readers' beyond
	// ReadBlock). Zero means 5 s; from 1 ms to 10 min.
	CallTimeout time.Duration

	// StallThreshold: a call that succeeded but took longer than this, in
	// real time, counts as an outage as a failed call does. Redis was
	// stalled (paused, a long script, a network holding packets), so
	// heartbeats were held up, and the outage grace is set. Zero means 1 s;
	// negative disables it (only failed calls count); at most 10 min.
	StallThreshold time.Duration

	// ObserveCall, when set, is called after every round trip to Redis with
	// the operation's name, how long it took in real time and its error
	// (nil on success), also when the caller stopped waiting for it first.
	// It is for latency histograms and error counters, is called from the
	// goroutine that ran the round trip, and must not block. The names are
	// heartbeat, leave, set_state, get_state, here_now, occupied (a global
	// here_now's channel list), occupancy, where_now, group_read,
	// group_add, group_remove, groups, sweep, stats, flush, hold, check,
	// read (a stream reader's XREAD, which blocks up to ReadBlock), ping and
	// load_scripts. One heartbeat round trip carries the heartbeats of
	// every call in its batch (see Backend.Heartbeats).
	ObserveCall func(op string, took time.Duration, err error)

	// SweepBatch bounds the memberships one sweep script removes before it
	// lets other commands run. Zero means 1000.
	SweepBatch int

	// ReadBlock is how long, in real time, one XREAD of the stream reader
	// blocks; it bounds how long Close waits. Zero means 100 ms.
	ReadBlock time.Duration

	// OnError, when set, is called with the errors of the backend's own
	// goroutines (the sweeper, the stream readers), which have no caller to
	// return them to; for logging and metrics. It is called from those
	// goroutines and must not block. Zero means they are dropped.
	OnError func(error)
}

var _ presence.Backend = (*Backend)(nil)

// Backend is the presence API on Redis: the same operations and the same
// event stream as presence.Engine, shared by every instance that uses the
// same Redis and Config. Redis holds the truth; every transition is one
// atomic script that also appends its event to a stream, so each join,
// leave, timeout and state change happens once cluster-wide, and every
// instance delivers it once to its local subscriptions.
//
// All methods are safe for concurrent use. Every call that goes to Redis
// returns by its context's deadline, or after Config.CallTimeout when the
// context has none, and when the context is cancelled; it then returns an
// error wrapping presence.ErrUnavailable and the context's error, and may
// or may not have been applied. A call that returned is visible to every
// later call on any instance; its events reach local subscriptions
// asynchronously (Flush waits for them). The Backend does not own the Redis
// client: Close leaves it open.
type Backend struct {
	client redis.UniversalClient
	cfg    Config
	rules  rules.Rules
	clock  clock.Clock
	bases  []string
	ivlUS  int64
	am     int // AnnounceMax as the scripts take it: negative is no interval mode

	allHub   *fanout.Hub[presence.Event] // subscriptions to all events
	namedHub *fanout.Hub[presence.Event] // subscriptions naming channels or groups
	readers  []*reader

	subsMu sync.Mutex
	subs   []subEntry // for resync markers; entries whose subscription was collected are pruned
	pruneN int

	beatQ    beatQueue     // heartbeats waiting for a batcher (batch.go)
	instance string        // random id of this Backend, for operation ids
	ops      atomic.Uint64 // operation ids issued
	health   health
	holding  chan struct{} // one outage grace hold at a time
	ctx      context.Context
	cancel   context.CancelFunc
	closed   atomic.Bool
	closeMu  sync.Once
	wg       sync.WaitGroup
	sweepMu  sync.Mutex // one local sweep at a time (other instances may sweep concurrently)
	deltasOn string
}

type subEntry struct {
	sub      weak.Pointer[presence.Subscription]
	channels []string
	groups   []string
}

// New returns a Backend on client configured by cfg. It loads the scripts,
// positions the stream readers at the current end of every partition's
// stream (events of earlier calls are not delivered), and starts the sweeper
// unless cfg.SweepInterval is negative. It returns an error wrapping
// presence.ErrInvalidConfig when a field is out of range, or presence.ErrUnavailable
// when Redis cannot be reached.
func New(client redis.UniversalClient, cfg Config) (*Backend, error) {
	if client == nil {
		return nil, newError(presence.ErrInvalidConfig, "invalid config: nil redis client")
	}
	cfg, err := withDefaults(client, cfg)
	if err != nil {
		return nil, err
	}
	am := cfg.AnnounceMax
	if am == presence.AlwaysIntervalMode {
		am = 0
	}
	b := &Backend{
		client:   client,
		am:       am,
		cfg:      cfg,
		rules:    newRules(cfg.Config),
		clock:    cfg.Clock,
		bases:    makeBases(cfg.Prefix, cfg.Partitions),
		ivlUS:    ceilDiv(int64(cfg.Interval), 1000),
		allHub:   newHub(cfg.SubscriptionBuffer),
		namedHub: newHub(cfg.SubscriptionBuffer),
		deltasOn: "0",
		instance: rand.Text()[:12],
		holding:  make(chan struct{}, 1),
	}
	if cfg.Deltas {
		b.deltasOn = "1"
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	err = b.do(b.ctx, "load_scripts", 0, func(ctx context.Context) error { return loadScripts(ctx, client) })
	if err != nil {
		b.cancel()
		return nil, err
	}
	b.readers = make([]*reader, cfg.Partitions)
	for p := range b.readers {
		r := newReader(b, p)
		if _, err := r.check(); err != nil {
			b.cancel()
			return nil, err
		}
		b.readers[p] = r
	}
	for _, r := range b.readers {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			r.run()
		}()
	}
	b.beatQ.wake = make(chan struct{}, 1)
	for range batchers {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.batcher()
		}()
	}
	if cfg.SweepInterval > 0 {
		ticker := b.clock.Ticker(cfg.SweepInterval)
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			defer ticker.Stop()
			for {
				select {
				case <-b.ctx.Done():
					return
				case <-ticker.C:
					if err := b.sweep(b.ctx); err != nil {
						b.report(err)
					}
				}
			}
		}()
	}
	return b, nil
}

// withDefaults fills cfg's zero fields and validates it. The core's fields
// are defaulted and validated by the core itself (a probe engine), so the
// defaults and the messages are the engine's.
func withDefaults(client redis.UniversalClient, cfg Config) (Config, error) {
	e, err := presence.New(cfg.Config)
	if err != nil {
		return cfg, err
	}
	_ = e.Close()
	cfg.Config = e.Config()

	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 1
		if _, ok := client.(*redis.ClusterClient); ok {
			cfg.Partitions = DefaultClusterPartitions
		}
	}
	if cfg.StreamMaxLen == 0 {
		cfg.StreamMaxLen = DefaultStreamMaxLen
	}
	if cfg.OutageGrace == 0 {
		cfg.OutageGrace = DefaultOutageGrace
	}
	if cfg.SweepBatch == 0 {
		cfg.SweepBatch = DefaultSweepBatch
	}
	if cfg.ReadBlock == 0 {
		cfg.ReadBlock = DefaultReadBlock
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.StallThreshold == 0 {
		cfg.StallThreshold = DefaultStall
	}
	switch {
	case strings.ContainsAny(cfg.Prefix, "{}"):
		return cfg, newError(presence.ErrInvalidConfig, "invalid config: Prefix %q: contains '{' or '}'", cfg.Prefix)
	case cfg.Partitions < 1 || cfg.Partitions > 16384:
		return cfg, newError(presence.ErrInvalidConfig, "invalid config: Partitions %d: outside 1..16384", cfg.Partitions)
	case cfg.StreamMaxLen < 1:
		return cfg, newError(presence.ErrInvalidConfig, "invalid config: StreamMaxLen %d: below 1", cfg.StreamMaxLen)
	case cfg.SweepBatch < 1:
		return cfg, newError(presence.ErrInvalidConfig, "invalid config: SweepBatch %d: below 1", cfg.SweepBatch)
	case cfg.ReadBlock < time.Millisecond || cfg.ReadBlock > time.Minute:
		return cfg, newError(presence.ErrInvalidConfig, "invalid config: ReadBlock %v: outside 1ms..1m", cfg.ReadBlock)
	case cfg.CallTimeout < time.Millisecond || cfg.CallTimeout > 10*time.Minute:
		return cfg, newError(presence.ErrInvalidConfig, "invalid config: CallTimeout %v: outside 1ms..10m", cfg.CallTimeout)
	case cfg.StallThreshold > 10*time.Minute:
		return cfg, newError(presence.ErrInvalidConfig, "invalid config: StallThreshold %v: above 10m", cfg.StallThreshold)
	case cfg.OutageGrace > time.Hour:
		return cfg, newError(presence.ErrInvalidConfig, "invalid config: OutageGrace %v: above 1h", cfg.OutageGrace)
	}
	return cfg, nil
}

// Close delivers the events of the calls that returned before it (waiting
// at most 2 s of real time for Redis), stops the sweeper and the stream
// readers and waits for them, ends every subscription with
// presence.ErrClosed, and makes every later call return presence.ErrClosed.
// A round trip stuck on a stalled connection is left to end within the
// client's own timeouts, without Close waiting for it. Close does not close
// the Redis client and changes nothing in Redis: the members of this
// instance stay until they leave or time out. It is idempotent and returns
// nil.
func (b *Backend) Close() error {
	b.closeMu.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = b.flush(ctx)
		cancel()
		b.closed.Store(true)
		b.cancel()
		for _, r := range b.readers {
			r.wake()
		}
		b.wg.Wait()
		b.allHub.Close()
		b.namedHub.Close()
	})
	return nil
}

// Config returns the presence settings the backend runs with, every zero
// field filled with its default (HereNowCacheTTL, HereNowCacheSize and
// Shards do not apply to this backend). It works after Close too.
func (b *Backend) Config() presence.Config { return b.cfg.Config }

// report hands an error of a background goroutine to Config.OnError.
func (b *Backend) report(err error) {
	if b.cfg.OnError != nil && !b.closed.Load() {
		b.cfg.OnError(err)
	}
}

// common returns the arguments every script takes first, for the clock's
// time now.
func (b *Backend) common(now time.Time) []any {
	ns := now.UnixNano()
	hi := floorDiv(ns, 1e9)
	us, r := splitNS(ns)
	return []any{us, strconv.FormatInt(ns, 10), hi, (ns - hi*1e9) / 100,
		b.am, b.ivlUS, b.deltasOn, b.cfg.StreamMaxLen, r}
}

// splitNS splits a time in nanoseconds into microseconds, rounded down,
// and the nanoseconds within that microsecond, as the scripts keep it.
func splitNS(ns int64) (us, r int64) {
	us = floorDiv(ns, 1000)
	return us, ns - us*1000
}

func floorDiv(a, d int64) int64 {
	q := a / d
	if a%d != 0 && a < 0 {
		q--
	}
	return q
}

func ceilDiv(a, d int64) int64 { return -floorDiv(-a, d) }

// call is one script run on one partition.
type call struct {
	s    *redis.Script
	p    int
	args []any
}

// run runs calls, pipelined when there are several, as one round trip
// named op, and returns their results in order. When this instance saw
// Redis away since its last write, it first sets the outage grace.
func (b *Backend) run(ctx context.Context, op string, calls []call) ([]any, error) {
	if err := b.recover(ctx); err != nil {
		return nil, err
	}
	out := make([]any, len(calls))
	if err := b.do(ctx, op, 0, func(ctx context.Context) error { return b.runScripts(ctx, calls, out) }); err != nil {
		return nil, err
	}
	return out, nil
}

// runScripts runs calls and stores their results in out. A script missing
// from Redis's cache (a restarted server) is loaded and run again.
func (b *Backend) runScripts(ctx context.Context, calls []call, out []any) error {
	if len(calls) == 1 {
		c := calls[0]
		v, err := c.s.Run(ctx, b.client, []string{b.bases[c.p]}, c.args...).Result()
		out[0] = v
		return err
	}
	pipe := b.client.Pipeline()
	cmds := make([]*redis.Cmd, len(calls))
	for i, c := range calls {
		cmds[i] = c.s.EvalSha(ctx, pipe, []string{b.bases[c.p]}, c.args...)
	}
	_, _ = pipe.Exec(ctx)
	for i, cmd := range cmds {
		v, err := cmd.Result()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			c := calls[i]
			v, err = c.s.Run(ctx, b.client, []string{b.bases[c.p]}, c.args...).Result()
		}
		if err != nil {
			return err
		}
		out[i] = v
	}
	return nil
}

// targets are the channels of one call after group expansion, in the order
// first named, without duplicates; groupChans are each named group's
// channels at the moment of the call.
type targets struct {
	channels   []string
	groupChans [][]string
}

// resolve validates channels and groups and expands the groups.
func (b *Backend) resolve(ctx context.Context, channels, groups []string) (targets, error) {
	if err := b.checkNames(channels, groups); err != nil {
		return targets{}, err
	}
	if len(groups) == 0 {
		if rules.Distinct(channels) == len(channels) {
			return targets{channels: channels}, nil
		}
		return targets{channels: rules.Dedup(nil, channels)}, nil
	}
	gc, err := b.groupLists(ctx, groups)
	if err != nil {
		return targets{}, err
	}
	t := targets{channels: rules.Dedup(nil, channels), groupChans: gc}
	for _, l := range gc {
		t.channels = rules.Dedup(t.channels, l)
	}
	return t, nil
}

// groupLists reads the channels of each group, in the order added.
func (b *Backend) groupLists(ctx context.Context, groups []string) ([][]string, error) {
	out := make([][]string, len(groups))
	err := b.do(ctx, "group_read", 0, func(ctx context.Context) error {
		return b.readGroups(ctx, groups, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// byPartition splits channels by partition, keeping their order, and
// returns the partitions in order of first appearance with the indexes of
// their channels.
func (b *Backend) byPartition(channels []string) (parts []int, idx [][]int) {
	if len(b.bases) == 1 {
		all := make([]int, len(channels))
		for i := range all {
			all[i] = i
		}
		return []int{0}, [][]int{all}
	}
	pos := map[int]int{}
	for i, c := range channels {
		p := b.partitionOf(c)
		j, ok := pos[p]
		if !ok {
			j = len(parts)
			pos[p] = j
			parts = append(parts, p)
			idx = append(idx, nil)
		}
		idx[j] = append(idx[j], i)
	}
	return parts, idx
}

// checkTargets checks that the backend is open, uuid and that a call names
// a channel or a group, as the engine does; op names the call in an
// ErrNoTargets message.
func (b *Backend) checkTargets(op, uuid string, channels, groups []string) error {
	if err := b.isClosed(); err != nil {
		return err
	}
	if err := b.checkUUID(uuid); err != nil {
		return err
	}
	if len(channels) == 0 && len(groups) == 0 {
		return noTargets(op, uuid)
	}
	return b.checkNames(channels, groups)
}

func noTargets(op, uuid string) error {
	return newError(presence.ErrNoTargets, "%s of uuid %q: no channel and no group named", op, uuid)
}

func (b *Backend) isClosed() error {
	if b.closed.Load() {
		return presence.ErrClosed
	}
	return nil
}

// Heartbeat makes req.UUID present on its targets, as
// presence.Engine.Heartbeat does: a join event for each absent target, a
// silent refresh for each present one (a state-change when the heartbeat's
// state differs). A call naming no channel and no group is
// presence.ErrNoTargets. Bad input returns an error and changes nothing. Each
// partition touched is one atomic script; with one partition the whole call
// is atomic. Concurrent calls share round trips (see Heartbeats).
func (b *Backend) Heartbeat(ctx context.Context, req presence.HeartbeatRequest) error {
	return b.Heartbeats(ctx, req)
}

// Heartbeats applies several heartbeats, in order, with one script per
// partition touched (one round trip per Redis node): the cheapest way for a
// gateway that aggregates many clients to refresh them. Every request is
// validated first; if one is bad, none is applied. With one partition the
// whole batch is one atomic step. Keep batches to a few hundred heartbeats:
// Redis runs nothing else while a script runs.
//
// Concurrent Heartbeat and Heartbeats calls on one Backend are batched:
// while a batch is in Redis, the calls that arrive wait, after their own
// validation, and go together in the next one, in one script per partition
// at the clock's time then (up to 256 channel heartbeats, or one call of
// more), so heartbeats from many goroutines cost one round trip per batch,
// not per call. A call that sets a state runs in a batch of its own. The
// calls of a batch share its outcome: a failed round trip is each one's
// error, wrapping presence.ErrUnavailable as any call's.
func (b *Backend) Heartbeats(ctx context.Context, reqs ...presence.HeartbeatRequest) error {
	if err := b.isClosed(); err != nil {
		return err
	}
	return b.heartbeats(ctx, reqs)
}

// prepareBeat validates req, expands its groups and picks its states.
func (b *Backend) prepareBeat(ctx context.Context, req presence.HeartbeatRequest) (beat, error) {
	if err := b.checkUUID(req.UUID); err != nil {
		return beat{}, err
	}
	if len(req.Channels) == 0 && len(req.Groups) == 0 {
		return beat{}, noTargets("heartbeat", req.UUID)
	}
	if req.Timeout < 0 {
		return beat{}, newError(presence.ErrInvalidTimeout, "invalid timeout %v: negative", req.Timeout)
	}
	t, err := b.resolve(ctx, req.Channels, req.Groups)
	if err != nil {
		return beat{}, err
	}
	bt := beat{uuid: req.UUID, channels: t.channels}
	if len(req.State) > 0 {
		if bt.states, err = b.heartbeatStates(req.State, req.Channels, req.Groups, t); err != nil {
			return beat{}, err
		}
	}
	timeout := req.Timeout
	if timeout == 0 {
		timeout = b.cfg.DefaultTimeout
	}
	bt.timeout = max(b.cfg.MinTimeout, min(timeout, b.cfg.MaxTimeout))
	return bt, nil
}

// channelCalls builds one call of s per partition of chans, each with the
// common arguments, head, and its channels.
func (b *Backend) channelCalls(s *redis.Script, now time.Time, chans []string, head ...any) []call {
	parts, idx := b.byPartition(chans)
	calls := make([]call, len(parts))
	for j, p := range parts {
		args := append(b.common(now), head...)
		for _, i := range idx[j] {
			args = append(args, chans[i])
		}
		calls[j] = call{s, p, args}
	}
	return calls
}

// Leave removes req.UUID from its targets as presence.Engine.Leave does: a
// leave event for each present one, pending state dropped on each. A call
// naming no channel and no group is presence.ErrNoTargets.
func (b *Backend) Leave(ctx context.Context, req presence.LeaveRequest) error {
	if err := b.checkTargets("leave", req.UUID, req.Channels, req.Groups); err != nil {
		return err
	}
	t, err := b.resolve(ctx, req.Channels, req.Groups)
	if err != nil {
		return err
	}
	if len(t.channels) == 0 {
		return nil
	}
	_, err = b.run(ctx, "leave", b.channelCalls(scriptLeave, b.clock.Now(), t.channels, req.UUID))
	return err
}

// SetState replaces req.UUID's state on every target and returns it as
// stored (canonical JSON), as presence.Engine.SetState does: a
// state-change event on each present target, pending state (for
// Config.DefaultTimeout) on each absent one. A Go string is refused
// (presence.ErrInvalidState): pass raw JSON as json.RawMessage. A call
// naming no channel and no group is presence.ErrNoTargets.
func (b *Backend) SetState(ctx context.Context, req presence.SetStateRequest) (json.RawMessage, error) {
	if err := b.checkTargets("set_state", req.UUID, req.Channels, req.Groups); err != nil {
		return nil, err
	}
	st, err := b.canonicalState(req.State)
	if err != nil {
		return nil, err
	}
	t, err := b.resolve(ctx, req.Channels, req.Groups)
	if err != nil {
		return nil, err
	}
	if len(t.channels) > 0 {
		now := b.clock.Now()
		exp, er := splitNS(now.UnixNano() + int64(b.cfg.DefaultTimeout))
		op := b.instance + ":" + strconv.FormatUint(b.ops.Add(1), 36)
		if _, err := b.run(ctx, "set_state", b.channelCalls(scriptSetState, now, t.channels, op, req.UUID, st, exp, er)); err != nil {
			return nil, err
		}
	}
	if st == "" {
		return json.RawMessage("{}"), nil
	}
	return json.RawMessage(st), nil
}

// GetState returns req.UUID's state on each target where it has one
// (present or pending), keyed by channel. The map is the caller's.
func (b *Backend) GetState(ctx context.Context, req presence.GetStateRequest) (map[string]json.RawMessage, error) {
	if err := b.checkTargets("get_state", req.UUID, req.Channels, req.Groups); err != nil {
		return nil, err
	}
	t, err := b.resolve(ctx, req.Channels, req.Groups)
	if err != nil {
		return nil, err
	}
	out := make(map[string]json.RawMessage)
	if len(t.channels) == 0 {
		return out, nil
	}
	res, err := b.run(ctx, "get_state", b.channelCalls(scriptGetState, b.clock.Now(), t.channels, req.UUID))
	if err != nil {
		return nil, err
	}
	for _, r := range res {
		l, _ := r.([]any)
		for i := 0; i+1 < len(l); i += 2 {
			c, _ := l[i].(string)
			s, _ := l[i+1].(string)
			out[c] = json.RawMessage(s)
		}
	}
	return out, nil
}

// HereNow returns who is present on the query's channels, as
// presence.Engine.HereNow does. Occupants are listed in byte order of their
// uuids, so pages of an unchanged channel neither overlap nor skip. A
// member is present while now < deadline: one due but not yet swept is left
// out of the occupants and the occupancy, and a global query leaves out a
// channel whose members are all due. A page costs O(log n + limit) in Redis
// when nothing in the partition is due, O(log n × due + limit) when a few
// are (up to 1000 in the partition), and O(occupancy) per channel when more
// are (the sweep is behind). A global query reads every partition's
// occupied channels: it is not a snapshot across partitions. A query of
// channels in one partition without states is one MULTI/EXEC of plain
// commands when nothing in the partition is due (the sweeper keeps up),
// and a script otherwise (a second round trip).
func (b *Backend) HereNow(ctx context.Context, q presence.HereNowQuery) (presence.HereNowResult, error) {
	if err := b.isClosed(); err != nil {
		return presence.HereNowResult{}, err
	}
	if q.Limit < 0 || q.Limit > presence.DefaultHereNowLimit {
		return presence.HereNowResult{}, newError(presence.ErrInvalidPaging, "invalid limit %d: outside 0..%d", q.Limit, presence.DefaultHereNowLimit)
	}
	if q.Offset < 0 {
		return presence.HereNowResult{}, newError(presence.ErrInvalidPaging, "invalid offset %d: negative", q.Offset)
	}
	if q.Limit == 0 {
		q.Limit = presence.DefaultHereNowLimit
	}
	var chans []string
	global := len(q.Channels) == 0 && len(q.Groups) == 0
	if global {
		all, err := b.union(ctx, "occupied", ":chans") // every channel with occupancy > 0
		if err != nil {
			return presence.HereNowResult{}, err
		}
		chans = all
	} else {
		t, err := b.resolve(ctx, q.Channels, q.Groups)
		if err != nil {
			return presence.HereNowResult{}, err
		}
		chans = t.channels
	}
	var res presence.HereNowResult
	if len(chans) > 0 {
		res.Channels = make([]presence.ChannelPresence, len(chans))
	}
	now := b.clock.Now()
	flag := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	parts, idx := b.byPartition(chans)
	const chunk = 500
	if len(parts) == 1 && len(chans) <= chunk && !q.IncludeState {
		ok, err := b.hereNowPlain(ctx, parts[0], chans, q, now, res.Channels)
		if err != nil {
			return presence.HereNowResult{}, err
		}
		if ok {
			parts = nil // every channel is read
		}
	}
	var calls []call
	var order [][]int // the channel indexes of each call
	for j, p := range parts {
		for lo := 0; lo < len(idx[j]); lo += chunk {
			part := idx[j][lo:min(lo+chunk, len(idx[j]))]
			args := append(b.common(now), flag(q.OccupancyOnly), flag(q.IncludeState), q.Offset, q.Limit)
			for _, i := range part {
				args = append(args, chans[i])
			}
			calls = append(calls, call{scriptHereNow, p, args})
			order = append(order, part)
		}
	}
	if len(calls) > 0 {
		out, err := b.run(ctx, "here_now", calls)
		if err != nil {
			return presence.HereNowResult{}, err
		}
		for k, r := range out {
			rows, _ := r.([]any)
			for n, i := range order[k] {
				res.Channels[i] = channelPresence(chans[i], rows[n], q)
			}
		}
	}
	if global { // the channels whose members are all due are not occupied
		res.Channels = slices.DeleteFunc(res.Channels, func(c presence.ChannelPresence) bool { return c.Occupancy == 0 })
		if len(res.Channels) == 0 {
			res.Channels = nil
		}
	}
	res.TotalChannels = len(res.Channels)
	for _, c := range res.Channels {
		res.TotalOccupancy += c.Occupancy
	}
	return res, nil
}

// hereNowPlain reads the occupancy and the page of uuids of channels, all
// in partition p, with plain commands in one MULTI/EXEC (no script: Redis
// runs it in a fraction of the time), into out. That is exact when no
// membership of the partition is due at now, or the outage grace holds:
// else it reports false and changes nothing in out, and the caller runs
// the here_now script, which leaves the due members out.
func (b *Backend) hereNowPlain(ctx context.Context, p int, chans []string, q presence.HereNowQuery, now time.Time, out []presence.ChannelPresence) (bool, error) {
	if err := b.recover(ctx); err != nil {
		return false, err
	}
	us, _ := splitNS(now.UnixNano())
	upTo := strconv.FormatInt(us, 10) // due within now's µs, or before: the script tells
	var hold *redis.StringCmd
	var due *redis.StringSliceCmd
	cards := make([]*redis.IntCmd, len(chans))
	var pages []*redis.StringSliceCmd
	if !q.OccupancyOnly {
		pages = make([]*redis.StringSliceCmd, len(chans))
	}
	err := b.do(ctx, "here_now", 0, func(ctx context.Context) error {
		pipe := b.client.TxPipeline()
		hold = pipe.HGet(ctx, b.bases[p]+":meta", "hold")
		due = pipe.ZRangeByScore(ctx, b.bases[p]+":dl", &redis.ZRangeBy{Min: "-inf", Max: upTo, Count: 1})
		for i, c := range chans {
			k := b.keyMembers(p, c)
			cards[i] = pipe.ZCard(ctx, k)
			if pages != nil {
				pages[i] = pipe.ZRange(ctx, k, int64(q.Offset), int64(q.Offset+q.Limit-1))
			}
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	h, _ := strconv.ParseInt(hold.Val(), 10, 64)
	if us >= h && len(due.Val()) > 0 {
		return false, nil
	}
	for i, c := range chans {
		cp := presence.ChannelPresence{Channel: c, Occupancy: int(cards[i].Val())}
		if pages != nil {
			page := pages[i].Val()
			cp.Occupants = make([]presence.Occupant, len(page))
			for j, u := range page {
				cp.Occupants[j].UUID = u
			}
		}
		out[i] = cp
	}
	return true, nil
}

func channelPresence(c string, row any, q presence.HereNowQuery) presence.ChannelPresence {
	l, _ := row.([]any)
	cp := presence.ChannelPresence{Channel: c}
	if len(l) > 0 {
		occ, _ := l[0].(int64)
		cp.Occupancy = int(occ)
	}
	if q.OccupancyOnly {
		return cp
	}
	cp.Occupants = []presence.Occupant{}
	if len(l) > 1 {
		us, _ := l[1].([]any)
		var sts []any
		if len(l) > 2 {
			sts, _ = l[2].([]any)
		}
		cp.Occupants = make([]presence.Occupant, len(us))
		for i, u := range us {
			cp.Occupants[i].UUID, _ = u.(string)
			if i < len(sts) {
				if s, ok := sts[i].(string); ok && s != "" {
					cp.Occupants[i].State = json.RawMessage(s)
				}
			}
		}
	}
	return cp
}

// union returns the members of the set named suffix in every partition,
// sorted and without duplicates, read in one pipeline (op names the call
// for ObserveCall and errors).
func (b *Backend) union(ctx context.Context, op, suffix string) ([]string, error) {
	out := []string{}
	err := b.do(ctx, op, 0, func(ctx context.Context) error {
		pipe := b.client.Pipeline()
		cmds := make([]*redis.StringSliceCmd, len(b.bases))
		for p, base := range b.bases {
			cmds[p] = pipe.SMembers(ctx, base+suffix)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		for _, c := range cmds {
			out = append(out, c.Val()...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Occupancy returns the number of uuids on channel: one ZCARD. Like the
// engine's, it counts a membership until it is removed (a sweep after its
// deadline), not only while now < deadline: HereNow's occupancy is exact.
func (b *Backend) Occupancy(ctx context.Context, channel string) (int, error) {
	if err := b.isClosed(); err != nil {
		return 0, err
	}
	if err := b.checkName("channel", channel, true); err != nil {
		return 0, err
	}
	var n int64
	err := b.do(ctx, "occupancy", 0, func(ctx context.Context) error {
		var err error
		n, err = b.client.ZCard(ctx, b.keyMembers(b.partitionOf(channel), channel)).Result()
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// WhereNow returns the channels where uuid is present (now < deadline: a
// membership due but not yet swept is left out), sorted: one script per
// partition, pipelined, O(the uuid's channels). The slice is the caller's.
func (b *Backend) WhereNow(ctx context.Context, uuid string) ([]string, error) {
	if err := b.isClosed(); err != nil {
		return nil, err
	}
	if err := b.checkUUID(uuid); err != nil {
		return nil, err
	}
	now := b.clock.Now()
	calls := make([]call, len(b.bases))
	for p := range b.bases {
		calls[p] = call{scriptWhereNow, p, append(b.common(now), uuid)}
	}
	res, err := b.run(ctx, "where_now", calls)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, r := range res {
		l, _ := r.([]any)
		for _, c := range l {
			s, _ := c.(string)
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Subscribe returns a subscription to the events of opts' channels and
// groups, or of every channel with opts.All, delivered by this instance's
// stream readers with the engine's rules (bounded buffer, slow consumers
// closed with presence.ErrSlowConsumer). It receives the events of the calls
// (on any instance) that return after Subscribe returns, not those of calls
// that returned before it was called (when Redis cannot be read before
// ctx's deadline it starts at once, without that guarantee). After Redis
// lost events the subscription receives a resync marker (see IsResync).
// Naming nothing without opts.All is presence.ErrNoTargets.
func (b *Backend) Subscribe(ctx context.Context, opts presence.SubscribeOptions) (*presence.Subscription, error) {
	if err := b.isClosed(); err != nil {
		return nil, err
	}
	if opts.Buffer < 0 {
		return nil, newError(presence.ErrInvalidConfig, "invalid subscription buffer %d: negative", opts.Buffer)
	}
	if !opts.All && len(opts.Channels) == 0 && len(opts.Groups) == 0 {
		return nil, newError(presence.ErrNoTargets, "subscription: no channel and no group named, and not All")
	}
	for _, c := range opts.Channels {
		if err := b.checkName("channel", c, true); err != nil {
			return nil, err
		}
	}
	for _, g := range opts.Groups {
		if err := b.checkName("group", g, true); err != nil {
			return nil, err
		}
	}
	// Deliver what is in flight first, so that, as with the engine, the new
	// subscription receives the events of calls that return after Subscribe
	// and none of those that returned before it. Best effort: when Redis
	// cannot be read, the subscription starts at once.
	_ = b.flush(ctx)
	hub := b.allHub
	if !opts.All {
		hub = b.namedHub
	}
	s, err := hub.Subscribe(opts)
	if err != nil {
		return nil, err
	}
	b.subsMu.Lock()
	b.subs = append(b.subs, subEntry{sub: weak.Make(s), channels: slices.Clone(opts.Channels), groups: slices.Clone(opts.Groups)})
	if len(b.subs) > 2*b.pruneN+64 {
		b.subs = slices.DeleteFunc(b.subs, func(e subEntry) bool { return e.sub.Value() == nil })
		b.pruneN = len(b.subs)
	}
	b.subsMu.Unlock()
	return s, nil
}

// Sweep removes, at the clock's current time, every membership whose
// deadline has passed (with a timeout event each), drops expired pending
// state, and emits the due interval events, in every partition. Any number
// of instances may sweep at once: each removal is a compare-and-delete
// inside a script, so each timeout happens once. The events are produced
// when it returns; Flush waits for their local delivery.
func (b *Backend) Sweep(ctx context.Context) error {
	if err := b.isClosed(); err != nil {
		return err
	}
	return b.sweep(ctx)
}

func (b *Backend) sweep(ctx context.Context) error {
	b.sweepMu.Lock()
	defer b.sweepMu.Unlock()
	now := b.clock.Now()
	start := time.Now() // OnSweep reports what the sweep cost: real time, whatever Clock is, as the engine's
	expired := 0
	defer func() {
		if b.cfg.OnSweep != nil && expired > 0 {
			b.cfg.OnSweep(time.Since(start), expired)
		}
	}()
	for p := range b.bases {
		for range 1 << 20 { // bounded: each round removes a full batch
			out, err := b.run(ctx, "sweep", []call{{scriptSweep, p, append(b.common(now), b.cfg.SweepBatch)}})
			if err != nil {
				return err
			}
			l, _ := out[0].([]any)
			if len(l) > 0 {
				n, _ := l[0].(int64)
				expired += int(n)
			}
			if len(l) < 2 || l[1] != int64(1) {
				break
			}
		}
	}
	return nil
}

// Stats returns the counters of the whole presence view (channels,
// memberships, uuids, groups and events, read from Redis, cluster-wide) and
// of this instance's subscriptions. Events counts the events produced since
// Redis last lost its data. UUIDs and Groups cost O(uuids) and O(groups)
// when there are several partitions. Partitions are read in one pipeline,
// not as one snapshot.
func (b *Backend) Stats(ctx context.Context) (presence.Stats, error) {
	if err := b.isClosed(); err != nil {
		return presence.Stats{}, err
	}
	type row struct {
		seq            *redis.StringCmd
		chans          *redis.IntCmd
		members, uuids *redis.IntCmd
		uuidSet        *redis.StringSliceCmd
		groupN         *redis.IntCmd         // one partition: the number of groups
		groups         *redis.StringSliceCmd // several: a group may have channels in each
	}
	rows := make([]row, len(b.bases))
	err := b.do(ctx, "stats", 0, func(ctx context.Context) error {
		pipe := b.client.Pipeline()
		for p, base := range b.bases {
			r := &rows[p]
			r.seq = pipe.HGet(ctx, base+":meta", "seq")
			r.chans = pipe.SCard(ctx, base+":chans")
			if len(b.bases) == 1 {
				r.groupN = pipe.SCard(ctx, base+":groups")
			} else {
				r.groups = pipe.SMembers(ctx, base+":groups")
			}
			r.members = pipe.ZCard(ctx, base+":dl")
			if len(b.bases) == 1 {
				r.uuids = pipe.SCard(ctx, base+":uuids")
			} else {
				r.uuidSet = pipe.SMembers(ctx, base+":uuids")
			}
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		return nil
	})
	if err != nil {
		return presence.Stats{}, err
	}
	var st presence.Stats
	uuids := map[string]struct{}{}
	groups := map[string]struct{}{}
	for _, r := range rows {
		n, _ := strconv.ParseUint(r.seq.Val(), 10, 64)
		st.Events += n
		st.Channels += int(r.chans.Val())
		st.Memberships += int(r.members.Val())
		if r.groupN != nil {
			st.Groups += int(r.groupN.Val())
		} else {
			for _, g := range r.groups.Val() {
				groups[g] = struct{}{}
			}
		}
		if r.uuids != nil {
			st.UUIDs += int(r.uuids.Val())
		} else {
			for _, u := range r.uuidSet.Val() {
				uuids[u] = struct{}{}
			}
		}
	}
	st.UUIDs += len(uuids)
	st.Groups += len(groups)
	st.Subscriptions = b.allHub.Subscriptions() + b.namedHub.Subscriptions()
	st.SlowSubscriptions = b.allHub.SlowClosed() + b.namedHub.SlowClosed()
	return st, nil
}
