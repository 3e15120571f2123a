// engine.go holds Engine, its Config, New, Close, Stats and Sweep, and the
// public operations, which validate their input, expand channel groups and
// hand the work to the shards of occupancy.go. It is the only file that starts
// goroutines: the sweeper, which runs expiry (timeout.go) when it falls due,
// and the workers one sweep spreads the due shards over.

package presence

import (
	"context"
	"encoding/json"
	"hash/maphash"
	"log/slog"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/presencekit/presence/internal/rules"
)

// Defaults of Config's zero fields.
const (
	DefaultTimeout          = 300 * time.Second
	DefaultMinTimeout       = 20 * time.Second
	DefaultMaxTimeout       = 320 * time.Second
	DefaultAnnounceMax      = 20
	DefaultInterval         = 10 * time.Second
	DefaultMaxStateBytes    = 32 << 10
	DefaultMaxNamesPerCall  = 100
	DefaultMaxNameBytes     = 92
	DefaultMaxGroupChannels = 2000
	DefaultMaxGroupEdit     = 200
	DefaultHereNowLimit     = 1000
	DefaultSubscription     = 1024
	DefaultSweepInterval    = 250 * time.Millisecond
	DefaultHereNowCacheSize = 1024
)

// Values of Config.AnnounceMax that its zero value cannot say.
const (
	// NoIntervalMode as Config.AnnounceMax disables interval mode: every
	// join, leave and timeout is announced on its own.
	NoIntervalMode = -1
	// AlwaysIntervalMode as Config.AnnounceMax puts every occupied channel
	// in interval mode (an AnnounceMax of 0).
	AlwaysIntervalMode = -2
)

// Bounds of Config's durations and sizes, checked by New: inside them no
// arithmetic of the engine overflows (deadlines, expiry slots, interval
// ticks, buffers allocated up front).
const (
	minTimeoutFloor      = time.Second
	timeoutCeiling       = 24 * time.Hour
	minInterval          = time.Second
	maxInterval          = 24 * time.Hour
	minSweepInterval     = 10 * time.Millisecond
	maxSweepInterval     = time.Hour
	maxHereNowCacheTTL   = time.Hour
	maxStateBytesCeiling = 1 << 20
	maxNamesCeiling      = 10_000
	maxNameBytesCeiling  = 1024
	maxGroupChansCeiling = 100_000
	maxGroupEditCeiling  = 10_000
	maxCacheSizeCeiling  = 1 << 20
	maxBufferCeiling     = 1 << 20
	maxShards            = 4096
)

// Config sets an engine's behaviour. The zero value gives PubNub's defaults;
// every field says what its zero means and, for durations and sizes, the
// range New accepts: a value outside it is an error wrapping
// ErrInvalidConfig that names the field, the value and the bound.
type Config struct {
	// Clock is the source of all time: deadlines, event times, timetokens,
	// interval ticks and the here_now cache. Zero means the real clock.
	// Tests pass clock.NewMock(), advance it and call Engine.Sweep; with a
	// positive SweepInterval the mock's Add also wakes the sweeper, and
	// Sweep still returns only when every due expiry has happened. Deadlines
	// count from New by the clock's monotonic reading when its times carry
	// one (the real clock's do), so a step of the wall clock moves none.
	Clock clock.Clock

	// DefaultTimeout is the presence timeout of a heartbeat that asks for 0,
	// and how long pending state is kept. Zero means 300 s; 0..24 h, and
	// then brought into [MinTimeout, MaxTimeout].
	DefaultTimeout time.Duration
	// MinTimeout and MaxTimeout bound every heartbeat timeout (values outside
	// are clamped). Zero means 20 s and 320 s. MinTimeout is 1 s..24 h,
	// MaxTimeout MinTimeout..24 h.
	MinTimeout time.Duration
	MaxTimeout time.Duration

	// AnnounceMax is the occupancy above which a channel is in interval mode.
	// Zero means 20. NoIntervalMode (-1) disables interval mode;
	// AlwaysIntervalMode (-2) puts every occupied channel in it, as PubNub's
	// announce_max 0 does. Other negative values are an error; any
	// non-negative one is accepted (it is only compared with occupancies).
	AnnounceMax int
	// Interval is the period of interval events, counted from the moment a
	// channel entered interval mode. A sweep later than a tick emits one
	// event for the ticks it missed. Zero means 10 s; 1 s..24 h.
	Interval time.Duration
	// Deltas adds to interval events the uuids that joined, left and timed
	// out since the previous one. Zero (false) means occupancy only.
	Deltas bool

	// MaxStateBytes bounds a state's canonical JSON. Zero means 32 KiB;
	// 2 B..1 MiB.
	MaxStateBytes int
	// MaxNamesPerCall bounds the distinct channels plus groups named by one
	// call. Zero means 100; 1..10,000.
	MaxNamesPerCall int
	// MaxNameBytes bounds channel, group and uuid names. Zero means 92;
	// 1..1024.
	MaxNameBytes int
	// StrictNames also refuses ':', '*', '/', '\' and ' ' in channel and group
	// names, as PubNub does. Zero (false) means only the basic rules.
	StrictNames bool
	// MaxGroupChannels bounds a group's size. Zero means 2000; 1..100,000.
	MaxGroupChannels int
	// MaxGroupEdit bounds the channels of one group add or remove. Zero
	// means 200; 1..10,000.
	MaxGroupEdit int

	// HereNowCacheTTL keeps here_now results this long (by Clock). Zero
	// means no cache: every HereNow is fresh. 3 s reproduces PubNub; at
	// most 1 h.
	HereNowCacheTTL time.Duration
	// HereNowCacheSize bounds the cache in entries. Zero means 1024;
	// 1..1,048,576.
	HereNowCacheSize int

	// SubscriptionBuffer is a subscription's buffer in events unless
	// SubscribeOptions.Buffer says otherwise. Zero means 1024;
	// 1..1,048,576 (SubscribeOptions.Buffer has the same ceiling). The
	// buffer is allocated when the subscription is made.
	SubscriptionBuffer int

	// SweepInterval bounds how late the sweeper removes an expired
	// membership or emits an interval event: it wakes when the earliest of
	// them falls due, and at least this often, but not more often than every
	// SweepInterval/8. A sweep with nothing due reads one atomic per shard.
	// Zero means 250 ms; 10 ms..1 h. Negative means no sweeper goroutine:
	// the caller drives expiry with Engine.Sweep.
	SweepInterval time.Duration
	// OnSweep, when set, is called after each sweep that found something
	// due (members to expire or refile, interval events, pending state to
	// drop), with the sweep's duration and the number of memberships it
	// expired. The duration is measured on the real clock, whatever Clock
	// is: it is what the sweep cost. It is called from the sweeper
	// goroutine, or from the caller of Sweep, and must not block. Nil means
	// none.
	OnSweep func(took time.Duration, expired int)

	// Shards is the number of lock shards, rounded up to a power of two.
	// Zero means 256; 1..4096.
	Shards int

	// Logger receives what the engine notices that its operator may want
	// to know: a subscription closed as a slow consumer (Warn, with its
	// buffer size) and a sweep that ran longer than SweepInterval (250 ms
	// without a sweeper; Warn, with its duration, the shards it swept, the
	// memberships it timed out and the interval events it emitted). Nil
	// means silent. The engine never logs on its hot paths nor while it
	// holds a lock.
	Logger *slog.Logger
}

// withDefaults returns c with its zero fields filled in, or an error
// wrapping ErrInvalidConfig that names the field, its value and the bound
// it breaks.
func (c Config) withDefaults() (Config, error) {
	if c.Clock == nil {
		c.Clock = clock.New()
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.DefaultTimeout, DefaultTimeout)
	def(&c.MinTimeout, DefaultMinTimeout)
	def(&c.MaxTimeout, DefaultMaxTimeout)
	def(&c.Interval, DefaultInterval)
	def(&c.SweepInterval, DefaultSweepInterval)
	defInt(&c.AnnounceMax, DefaultAnnounceMax)
	defInt(&c.MaxStateBytes, DefaultMaxStateBytes)
	defInt(&c.MaxNamesPerCall, DefaultMaxNamesPerCall)
	defInt(&c.MaxNameBytes, DefaultMaxNameBytes)
	defInt(&c.MaxGroupChannels, DefaultMaxGroupChannels)
	defInt(&c.MaxGroupEdit, DefaultMaxGroupEdit)
	defInt(&c.HereNowCacheSize, DefaultHereNowCacheSize)
	defInt(&c.SubscriptionBuffer, DefaultSubscription)
	defInt(&c.Shards, 256)
	if c.AnnounceMax < 0 && c.AnnounceMax != NoIntervalMode && c.AnnounceMax != AlwaysIntervalMode {
		return c, newError(ErrInvalidConfig, "invalid config: AnnounceMax %d: negative (NoIntervalMode is -1, AlwaysIntervalMode -2)", c.AnnounceMax)
	}
	durs := []struct {
		name     string
		v        time.Duration
		lo, hi   time.Duration
		loName   string // the bound's name when it is another field
		optional bool   // negative means off
	}{
		{name: "MinTimeout", v: c.MinTimeout, lo: minTimeoutFloor, hi: timeoutCeiling},
		{name: "MaxTimeout", v: c.MaxTimeout, lo: c.MinTimeout, hi: timeoutCeiling, loName: "MinTimeout "},
		{name: "DefaultTimeout", v: c.DefaultTimeout, lo: 0, hi: timeoutCeiling},
		{name: "Interval", v: c.Interval, lo: minInterval, hi: maxInterval},
		{name: "HereNowCacheTTL", v: c.HereNowCacheTTL, lo: 0, hi: maxHereNowCacheTTL},
		{name: "SweepInterval", v: c.SweepInterval, lo: minSweepInterval, hi: maxSweepInterval, optional: true},
	}
	for _, d := range durs {
		switch {
		case d.optional && d.v < 0:
		case d.v < d.lo:
			return c, newError(ErrInvalidConfig, "invalid config: %s %v: below %s%v", d.name, d.v, d.loName, d.lo)
		case d.v > d.hi:
			return c, newError(ErrInvalidConfig, "invalid config: %s %v: above %v", d.name, d.v, d.hi)
		}
	}
	sizes := []struct {
		name   string
		v      int
		lo, hi int
	}{
		{"MaxStateBytes", c.MaxStateBytes, 2, maxStateBytesCeiling},
		{"MaxNamesPerCall", c.MaxNamesPerCall, 1, maxNamesCeiling},
		{"MaxNameBytes", c.MaxNameBytes, 1, maxNameBytesCeiling},
		{"MaxGroupChannels", c.MaxGroupChannels, 1, maxGroupChansCeiling},
		{"MaxGroupEdit", c.MaxGroupEdit, 1, maxGroupEditCeiling},
		{"HereNowCacheSize", c.HereNowCacheSize, 1, maxCacheSizeCeiling},
		{"SubscriptionBuffer", c.SubscriptionBuffer, 1, maxBufferCeiling},
		{"Shards", c.Shards, 1, maxShards},
	}
	for _, z := range sizes {
		if z.v < z.lo || z.v > z.hi {
			return c, newError(ErrInvalidConfig, "invalid config: %s %d: outside %d..%d", z.name, z.v, z.lo, z.hi)
		}
	}
	n := 1
	for n < c.Shards {
		n <<= 1
	}
	c.Shards = n
	c.DefaultTimeout = max(c.MinTimeout, min(c.DefaultTimeout, c.MaxTimeout))
	return c, nil
}

// Engine is an in-memory presence engine: who is present on which channel,
// with what state, until when, and the events of every change.
//
// All methods are safe for concurrent use. Operations on different channels
// run in parallel on separate lock shards; per (channel, uuid) the engine is
// linearizable. An Engine must be closed to stop its sweeper goroutine.
//
// Lock order (never taken in another order): a channel shard's sweep lock,
// uuid shard, channel shard, groups.mu (read), Hub.mu, Subscription.mu. A
// sweep holds its shard's sweep lock throughout; it takes the channel shard
// alone to find due memberships, releases it, and takes the pair in order
// to remove them, once per uuid shard that has due members. where_now takes
// a uuid shard, then each of the uuid's channel shards in turn.
type Engine struct {
	cfg   Config
	clock clock.Clock
	// mono is set when clock is the real clock the engine made itself:
	// engine time can then be read from the monotonic clock alone (nowNS).
	mono bool
	seed maphash.Seed
	mask uint64
	// shardBits is log2 of the number of shards: the low bits of a chanRef.
	shardBits uint8

	// announceMax is the occupancy above which a channel is in interval
	// mode, -1 for never (Config.AnnounceMax with its constants applied).
	announceMax int

	log    *slog.Logger // Config.Logger; nil: silent (log.go)
	logq   logQueue
	rules  rules.Rules
	uuids  []uuidShard
	shards []chanShard
	groups groupTable
	hub    *hub
	cache  *lru.Cache[string, cachedHereNow] // nil when HereNowCacheTTL is 0
	// groupGen counts group edits: a cached here_now holds the generation
	// its groups were expanded in (cache.go).
	groupGen atomic.Uint64

	// occupied maps each channel with members to its *channel, written under
	// the channel's shard lock and read without any lock by Occupancy.
	occupied sync.Map

	// base is the clock's time at New: engine time (nowTick) counts from it.
	base      time.Time
	lastTT    atomic.Int64
	events    atomic.Uint64
	closed    atomic.Bool
	closeOnce sync.Once
	// sweeps is held for reading by every Sweep a caller runs, and taken
	// for writing by Close, so that Close returns only once those sweeps
	// (and their workers) are done.
	sweeps sync.RWMutex
	done   chan struct{}
	wg     sync.WaitGroup
}

// New returns an engine configured by cfg, with its sweeper started unless
// cfg.SweepInterval is negative. It returns an error wrapping
// ErrInvalidConfig when a field is out of range.
func New(cfg Config) (*Engine, error) {
	mono := cfg.Clock == nil
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &Engine{
		mono:   mono,
		cfg:    cfg,
		clock:  cfg.Clock,
		seed:   maphash.MakeSeed(),
		mask:   uint64(cfg.Shards - 1),
		uuids:  make([]uuidShard, cfg.Shards),
		shards: make([]chanShard, cfg.Shards),
		hub:    newHub(cfg.SubscriptionBuffer),
		done:   make(chan struct{}),
		rules: rules.Rules{
			MaxNameBytes:      cfg.MaxNameBytes,
			MaxNamesPerCall:   cfg.MaxNamesPerCall,
			MaxStateBytes:     cfg.MaxStateBytes,
			StrictNames:       cfg.StrictNames,
			ErrInvalidName:    ErrInvalidName,
			ErrInvalidChannel: ErrInvalidChannel,
			ErrInvalidGroup:   ErrInvalidGroup,
			ErrInvalidUUID:    ErrInvalidUUID,
			ErrTooManyNames:   ErrTooManyNames,
			ErrInvalidState:   ErrInvalidState,
			ErrStateTooLarge:  ErrStateTooLarge,
		},
	}
	if cfg.Logger != nil {
		e.log = cfg.Logger
		e.hub.OnSlow(e.noteSlow)
	}
	e.announceMax = cfg.AnnounceMax
	if cfg.AnnounceMax == AlwaysIntervalMode {
		e.announceMax = 0
	}
	e.base = e.clock.Now()
	e.shardBits = uint8(bits.TrailingZeros(uint(cfg.Shards)))
	for i := range e.shards {
		e.shards[i].init(e, i)
	}
	e.groups.init()
	if cfg.HereNowCacheTTL > 0 {
		e.cache, _ = lru.New[string, cachedHereNow](cfg.HereNowCacheSize)
	}
	if cfg.SweepInterval > 0 {
		// the first wake-up is timed here, not when the goroutine starts:
		// SweepInterval after New, even on a mock clock advanced at once
		timer := e.clock.Timer(cfg.SweepInterval)
		e.wg.Add(1)
		go e.sweeper(timer, cfg.SweepInterval)
	}
	return e, nil
}

// sweeper runs expiry until Close. It sleeps until the earliest time
// something in a shard falls due, but at most interval (a deadline set
// while it sleeps is never earlier than MinTimeout from then, which may be
// below the interval) and at least interval/8, so that deadlines spread
// over time are swept in batches rather than one wake-up each.
func (e *Engine) sweeper(timer *clock.Timer, interval time.Duration) {
	defer e.wg.Done()
	defer timer.Stop()
	for {
		select {
		case <-e.done:
			return
		case <-timer.C:
		}
		e.sweep(e.now())
		wait := interval
		switch next, now := e.nextDue(), e.now().ns; {
		case next <= now:
			wait = 0
		case uint64(next)-uint64(now) < uint64(interval): // the difference, without overflow
			wait = time.Duration(next - now)
		}
		timer.Reset(max(interval/8, wait))
	}
}

// nextDue is the earliest time (ns) anything in any shard may fall due,
// math.MaxInt64 when nothing will.
func (e *Engine) nextDue() int64 {
	next := int64(math.MaxInt64)
	for i := range e.shards {
		next = min(next, e.shards[i].nextDue.Load())
	}
	return next
}

// Close stops the sweeper and waits for it and for every Sweep a caller
// has under way, ends every subscription with ErrClosed, and makes every
// later call return ErrClosed. It is idempotent and returns nil.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		e.closed.Store(true)
		close(e.done)
		e.wg.Wait()
		e.sweeps.Lock() // every caller's Sweep has returned; later ones see closed
		e.hub.Close()
		e.sweeps.Unlock()
	})
	return nil
}

// Config returns the configuration the engine runs with: New's Config with
// every zero field filled with its default. Passed to New again it gives an
// engine with the same settings.
func (e *Engine) Config() Config { return e.cfg }

// Stats returns the engine's counters, summed over the shards one at a
// time: under concurrent changes they are not a snapshot. Channels,
// Memberships and UUIDs count memberships until they are removed, as
// Occupancy does. It returns the zero Stats and ErrClosed after Close.
func (e *Engine) Stats(context.Context) (Stats, error) {
	if e.closed.Load() {
		return Stats{}, ErrClosed
	}
	var st Stats
	for i := range e.shards {
		s := &e.shards[i]
		s.mu.Lock()
		st.Channels += len(s.byName)
		st.Memberships += s.members
		s.mu.Unlock()
	}
	for i := range e.uuids {
		u := &e.uuids[i]
		u.mu.Lock()
		st.UUIDs += len(u.entries)
		u.mu.Unlock()
	}
	st.Groups = e.groups.count()
	st.Events = e.events.Load()
	st.Subscriptions = e.hub.Subscriptions()
	st.SlowSubscriptions = e.hub.SlowClosed()
	return st, nil
}

// Sweep removes, at the clock's current time, every membership whose
// deadline has passed (with a timeout event each), drops expired pending
// state, and emits the interval events that are due. When it returns,
// everything due at that time has happened and its events are in the
// subscriptions' buffers, even if another Sweep or the sweeper swept the
// same shards at the same moment (they take turns per shard). The sweeper
// goroutine sweeps when something falls due (at least every
// SweepInterval); with a mock clock, advance the clock and call Sweep.
// Close waits for a Sweep under way. It costs one atomic read per shard
// when nothing is due.
func (e *Engine) Sweep(context.Context) error {
	e.sweeps.RLock()
	defer e.sweeps.RUnlock()
	if e.closed.Load() {
		return ErrClosed
	}
	e.sweep(e.now())
	return nil
}

// sweep expires what is due at now. The due shards are swept by up to
// GOMAXPROCS goroutines at once, so a burst of expiries is spread over the
// cores; it returns when all are done, after calling Config.OnSweep and
// logging (with a Logger) a sweep that ran long.
func (e *Engine) sweep(t nowTick) {
	due := e.dueShards(t.ns)
	if len(due) == 0 {
		return
	}
	var start time.Time
	if e.cfg.OnSweep != nil {
		start = time.Now() // the real clock: OnSweep reports what the sweep cost
	}
	workers := min(runtime.GOMAXPROCS(0), len(due))
	var expired, ticks atomic.Int64
	var wg sync.WaitGroup
	var next atomic.Int64
	work := func() {
		var buf sweepBuf
		for i := next.Add(1) - 1; i < int64(len(due)); i = next.Add(1) - 1 {
			due[i].sweep(t, &buf)
		}
		expired.Add(int64(buf.expired))
		ticks.Add(int64(buf.ticks))
	}
	for range workers - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
	if e.cfg.OnSweep != nil {
		e.cfg.OnSweep(time.Since(start), int(expired.Load()))
	}
	if e.log != nil {
		e.logSweep(t, len(due), expired.Load(), ticks.Load())
	}
}

// Heartbeat makes req.UUID present on its targets: absent → present with a
// join event (carrying the member's state), present → deadline refreshed
// with no event (a state that differs from the stored one gives a
// state-change). A call naming no channel and no group is ErrNoTargets; one
// naming only empty or unknown groups does nothing. Bad input returns an
// error and changes nothing. A refresh of a present member with no state
// allocates nothing, also when the caller builds the request (and its
// channel slice) for the call: the engine keeps no string of the request
// (it keeps its own copy of a uuid that joins), so a request on the
// caller's stack stays there. A call through the Backend interface cannot
// promise that: the compiler does not see the callee. The engine does not
// consult ctx: it never waits.
func (e *Engine) Heartbeat(_ context.Context, req HeartbeatRequest) error {
	if e.closed.Load() {
		return ErrClosed
	}
	if len(req.Channels) == 1 && len(req.Groups) == 0 && len(req.State) == 0 && req.Timeout >= 0 {
		return e.heartbeatOne(req.UUID, req.Channels[0], req.Timeout)
	}
	if err := e.checkUUID(req.UUID); err != nil {
		return err
	}
	if len(req.Channels) == 0 && len(req.Groups) == 0 {
		// quoted apart, so the message keeps a copy: req's strings must not
		// outlive the call (see Heartbeat's allocation promise)
		return newError(ErrNoTargets, "heartbeat of uuid %s: no channel and no group named", strconv.Quote(req.UUID))
	}
	if req.Timeout < 0 {
		return newError(ErrInvalidTimeout, "invalid timeout %v: negative", req.Timeout)
	}
	t, err := e.resolve(req.Channels, req.Groups)
	if err != nil {
		return err
	}
	var states []stateArg
	if len(req.State) > 0 {
		if states, err = e.heartbeatStates(req.State, req.Channels, req.Groups, t); err != nil {
			return err
		}
	}
	e.heartbeat(req.UUID, t.channels, states, e.timeoutOf(req.Timeout))
	e.flushLog()
	return nil
}

// heartbeatOne is Heartbeat of one channel, no group and no state, the
// call a client's periodic heartbeat makes: it refreshes a present member
// before it checks any name. A uuid and a channel equal to those of a
// present member are valid (they were checked when it joined, by rules
// that do not change), so only a join checks them, and a bad name still
// changes nothing.
func (e *Engine) heartbeatOne(uuid, c string, timeout time.Duration) error {
	t := e.timeoutOf(timeout)
	h := e.hash(uuid)
	tag := uint32(h >> 32)
	cs := e.chanShard(c)
	cs.mu.Lock()
	refreshed, known := false, false
	if ch := cs.byName[c]; ch != nil {
		known = true
		if pos := ch.find(tag, uuid); pos >= 0 {
			// the clock is read once the member is found: a refresh reads only
			// the monotonic clock, a join (below) the wall clock too, once
			if now := e.nowNS(); ch.members[pos].deadline > now {
				cs.moveDeadline(ch, pos, satAdd(now, t))
				refreshed = true
			}
		}
	}
	cs.mu.Unlock()
	if refreshed {
		return nil
	}
	// a channel that exists has a valid name; the uuid is checked by
	// joinAll unless it is already on a channel
	if !known {
		if err := e.checkName("channel", c, true); err != nil {
			return err
		}
	}
	var joins [1]int // chans[0]
	n := e.now()
	if err := e.joinAll(h, uuid, []string{c}, joins[:], nil, satAdd(n.ns, t), n, true); err != nil {
		return err
	}
	e.flushLog()
	return nil
}

// timeoutOf returns the heartbeat timeout of a request's Timeout (not
// negative), in ns: DefaultTimeout for 0, clamped to MinTimeout and
// MaxTimeout.
func (e *Engine) timeoutOf(d time.Duration) int64 {
	if d == 0 {
		d = e.cfg.DefaultTimeout
	}
	return int64(max(e.cfg.MinTimeout, min(d, e.cfg.MaxTimeout)))
}

// Leave removes req.UUID from its targets: each present one gives a leave
// event with the new occupancy and drops the member's state; an absent one
// only drops pending state there. Bad input returns an error and changes
// nothing.
func (e *Engine) Leave(_ context.Context, req LeaveRequest) error {
	if len(req.Channels) == 1 && len(req.Groups) == 0 && !e.closed.Load() && e.leaveOne(req.UUID, req.Channels[0]) {
		return nil
	}
	t, err := e.targetsOf("leave", req.UUID, req.Channels, req.Groups)
	if err != nil {
		return err
	}
	e.leave(req.UUID, t.channels)
	e.flushLog()
	return nil
}

// targetsOf checks that the engine is open, the uuid and the call's targets
// (at least one channel or group, each valid, within the per-call limit),
// and expands its groups. op names the call in an ErrNoTargets message.
func (e *Engine) targetsOf(op, uuid string, channels, groups []string) (targets, error) {
	if e.closed.Load() {
		return targets{}, ErrClosed
	}
	if err := e.checkUUID(uuid); err != nil {
		return targets{}, err
	}
	if len(channels) == 0 && len(groups) == 0 {
		return targets{}, newError(ErrNoTargets, "%s of uuid %s: no channel and no group named", op, strconv.Quote(uuid))
	}
	return e.resolve(channels, groups)
}

// SetState replaces req.UUID's state on every target and returns the state
// as stored (canonical JSON). req.State is json.RawMessage or []byte holding
// a JSON object, or anything json.Marshal turns into an object; "{}" clears
// the state. A present target gives a state-change event; on an absent one
// the state is kept as pending for Config.DefaultTimeout and becomes the
// member's state if the uuid joins before then.
func (e *Engine) SetState(_ context.Context, req SetStateRequest) (json.RawMessage, error) {
	t, err := e.targetsOf("set_state", req.UUID, req.Channels, req.Groups)
	if err != nil {
		return nil, err
	}
	st, err := e.canonicalState(req.State)
	if err != nil {
		return nil, err
	}
	e.setState(req.UUID, t.channels, st)
	e.flushLog()
	if st == "" {
		return json.RawMessage("{}"), nil
	}
	return json.RawMessage(st), nil
}

// GetState returns req.UUID's state on each target where it has one
// (present, its deadline after the clock's now, or pending), keyed by
// channel. The map and its values are the caller's.
func (e *Engine) GetState(_ context.Context, req GetStateRequest) (map[string]json.RawMessage, error) {
	t, err := e.targetsOf("get_state", req.UUID, req.Channels, req.Groups)
	if err != nil {
		return nil, err
	}
	return e.getState(req.UUID, t.channels), nil
}

// HereNow returns who is present on the query's channels: the members
// whose deadline is after the clock's now, whether or not a sweep has
// removed the others yet, each channel's occupancy counting exactly the
// members it pages. Occupancy is O(1) per channel and occupants cost
// O(limit) while nothing in the channel's shard is due; in the moments
// between a deadline and its sweep, O(occupancy). A global query visits
// the shards one at a time: it is not a snapshot. The result is the
// caller's.
func (e *Engine) HereNow(_ context.Context, q HereNowQuery) (HereNowResult, error) {
	if e.closed.Load() {
		return HereNowResult{}, ErrClosed
	}
	if q.Limit < 0 || q.Limit > DefaultHereNowLimit {
		return HereNowResult{}, newError(ErrInvalidPaging, "invalid limit %d: outside 0..%d", q.Limit, DefaultHereNowLimit)
	}
	if q.Offset < 0 {
		return HereNowResult{}, newError(ErrInvalidPaging, "invalid offset %d: negative", q.Offset)
	}
	if q.Limit == 0 {
		q.Limit = DefaultHereNowLimit
	}
	return e.hereNow(q)
}

// Occupancy returns the number of uuids on channel, in O(1), without a
// lock and without allocating. It counts a member until it is removed: one
// past its deadline is counted until the sweep that times it out (with the
// sweeper, at most Config.SweepInterval after the deadline plus the time
// the sweep takes; without one, until the caller's next Sweep) or a
// heartbeat, leave or set_state that meets it. The other reads (HereNow,
// AppendOccupants, WhereNow, GetState) follow the deadline exactly: a
// member is present while now < deadline.
func (e *Engine) Occupancy(_ context.Context, channel string) (int, error) {
	if e.closed.Load() {
		return 0, ErrClosed
	}
	if err := e.checkName("channel", channel, true); err != nil {
		return 0, err
	}
	return e.occupancy(channel), nil
}

// AppendOccupants appends the uuids present on channel (their deadline
// after the clock's now) to dst, in the order HereNow pages them, and
// returns the extended slice: with a dst of enough capacity it allocates
// nothing, for servers that list a channel's occupants often. It costs
// O(occupancy) under the channel's shard lock.
func (e *Engine) AppendOccupants(_ context.Context, dst []string, channel string) ([]string, error) {
	if e.closed.Load() {
		return dst, ErrClosed
	}
	if err := e.checkName("channel", channel, true); err != nil {
		return dst, err
	}
	now := e.now().ns
	cs := e.chanShard(channel)
	cs.mu.Lock()
	if ch := cs.byName[channel]; ch != nil {
		if cs.nextDue.Load() > now { // nothing due in the shard: all present
			for i := range ch.members {
				if ch.members[i].name != 0 {
					dst = append(dst, ch.members[i].uuid())
				}
			}
		} else {
			for i := range ch.members {
				if ch.members[i].name != 0 && ch.members[i].deadline > now {
					dst = append(dst, ch.members[i].uuid())
				}
			}
		}
	}
	cs.mu.Unlock()
	return dst, nil
}

// WhereNow returns the channels where uuid is present (its deadline there
// after the clock's now), sorted. An unknown uuid gives an empty list and
// no error. The slice is the caller's.
func (e *Engine) WhereNow(_ context.Context, uuid string) ([]string, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	if err := e.checkUUID(uuid); err != nil {
		return nil, err
	}
	out := e.whereNow(uuid)
	slices.Sort(out)
	return out, nil
}

// Subscribe returns a subscription to the events of opts' channels and
// groups, or of every channel with opts.All. Names are validated as
// everywhere else but not limited in number; naming nothing without All is
// ErrNoTargets.
func (e *Engine) Subscribe(_ context.Context, opts SubscribeOptions) (*Subscription, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	if opts.Buffer < 0 || opts.Buffer > maxBufferCeiling {
		return nil, newError(ErrInvalidConfig, "invalid subscription buffer %d: outside 0..%d", opts.Buffer, maxBufferCeiling)
	}
	if !opts.All && len(opts.Channels) == 0 && len(opts.Groups) == 0 {
		return nil, newError(ErrNoTargets, "subscription: no channel and no group named, and not All")
	}
	for _, c := range opts.Channels {
		if err := e.checkName("channel", c, true); err != nil {
			return nil, err
		}
	}
	for _, g := range opts.Groups {
		if err := e.checkName("group", g, true); err != nil {
			return nil, err
		}
	}
	return e.hub.Subscribe(opts)
}

// Flush returns at once: the engine delivers every event to the
// subscriptions' buffers before the call that produced it returns. It is
// ErrClosed after Close.
func (e *Engine) Flush(context.Context) error {
	if e.closed.Load() {
		return ErrClosed
	}
	return nil
}
