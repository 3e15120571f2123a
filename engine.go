// engine.go holds Engine, its Config, New, Close, Stats and Sweep, and the
// public operations, which validate their input, expand channel groups and
// hand the work to the shards of occupancy.go. It is the only file that starts
// goroutines: the sweeper, which runs expiry (timeout.go) when it falls due,
// and the workers one sweep spreads the due shards over.

package presence

import (
	"encoding/json"
	"hash/maphash"
	"math"
	"math/bits"
	"runtime"
	"slices"
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

// Config sets an engine's behaviour. The zero value gives PubNub's defaults;
// every field says what its zero means.
type Config struct {
	// Clock is the source of all time: deadlines, event times, timetokens,
	// interval ticks and the here_now cache. Zero means the real clock. Tests
	// pass clock.NewMock() and call Engine.Sweep after advancing it.
	Clock clock.Clock

	// DefaultTimeout is the presence timeout of a heartbeat that asks for 0,
	// and how long pending state is kept. Zero means 300 s.
	DefaultTimeout time.Duration
	// MinTimeout and MaxTimeout bound every heartbeat timeout (values outside
	// are clamped). Zero means 20 s and 320 s; MinTimeout may go down to 1 s.
	MinTimeout time.Duration
	MaxTimeout time.Duration

	// AnnounceMax is the occupancy above which a channel is in interval mode.
	// Zero means 20; negative disables interval mode.
	AnnounceMax int
	// Interval is the period of interval events. Zero means 10 s.
	Interval time.Duration
	// Deltas adds to interval events the uuids that joined, left and timed
	// out since the previous one. Zero (false) means occupancy only.
	Deltas bool

	// MaxStateBytes bounds a state's canonical JSON. Zero means 32 KiB.
	MaxStateBytes int
	// MaxNamesPerCall bounds the distinct channels plus groups named by one
	// call. Zero means 100.
	MaxNamesPerCall int
	// MaxNameBytes bounds channel, group and uuid names. Zero means 92.
	MaxNameBytes int
	// StrictNames also refuses ':', '*', '/', '\' and ' ' in channel and group
	// names, as PubNub does. Zero (false) means only the basic rules.
	StrictNames bool
	// MaxGroupChannels bounds a group's size. Zero means 2000.
	MaxGroupChannels int
	// MaxGroupEdit bounds the channels of one group add or remove. Zero
	// means 200.
	MaxGroupEdit int

	// HereNowCacheTTL keeps here_now results this long (by Clock). Zero
	// means no cache: every HereNow is fresh. 3 s reproduces PubNub.
	HereNowCacheTTL time.Duration
	// HereNowCacheSize bounds the cache in entries. Zero means 1024.
	HereNowCacheSize int

	// SubscriptionBuffer is a subscription's buffer in events unless
	// SubscribeOptions.Buffer says otherwise. Zero means 1024.
	SubscriptionBuffer int

	// SweepInterval bounds how late the sweeper removes an expired
	// membership or emits an interval event: it wakes when the earliest of
	// them falls due, and at least this often, but not more often than every
	// SweepInterval/8. A sweep with nothing due reads one atomic per shard.
	// Zero means 250 ms;
	// negative means no sweeper goroutine: the caller drives expiry with
	// Engine.Sweep.
	SweepInterval time.Duration

	// Shards is the number of lock shards, rounded up to a power of two.
	// Zero means 256; at most 4096.
	Shards int
}

// withDefaults returns c with its zero fields filled in, or an error
// wrapping ErrInvalidConfig.
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
	switch {
	case c.MinTimeout < time.Second:
		return c, newError(ErrInvalidConfig, "invalid config: MinTimeout %v: below 1s", c.MinTimeout)
	case c.MaxTimeout < c.MinTimeout:
		return c, newError(ErrInvalidConfig, "invalid config: MaxTimeout %v: below MinTimeout %v", c.MaxTimeout, c.MinTimeout)
	case c.DefaultTimeout < 0:
		return c, newError(ErrInvalidConfig, "invalid config: DefaultTimeout %v: negative", c.DefaultTimeout)
	case c.Interval < 0:
		return c, newError(ErrInvalidConfig, "invalid config: Interval %v: negative", c.Interval)
	case c.MaxStateBytes < 2:
		return c, newError(ErrInvalidConfig, "invalid config: MaxStateBytes %d: below 2", c.MaxStateBytes)
	case c.MaxNamesPerCall < 1:
		return c, newError(ErrInvalidConfig, "invalid config: MaxNamesPerCall %d: below 1", c.MaxNamesPerCall)
	case c.MaxNameBytes < 1:
		return c, newError(ErrInvalidConfig, "invalid config: MaxNameBytes %d: below 1", c.MaxNameBytes)
	case c.MaxGroupChannels < 1:
		return c, newError(ErrInvalidConfig, "invalid config: MaxGroupChannels %d: below 1", c.MaxGroupChannels)
	case c.MaxGroupEdit < 1:
		return c, newError(ErrInvalidConfig, "invalid config: MaxGroupEdit %d: below 1", c.MaxGroupEdit)
	case c.HereNowCacheTTL < 0:
		return c, newError(ErrInvalidConfig, "invalid config: HereNowCacheTTL %v: negative", c.HereNowCacheTTL)
	case c.HereNowCacheSize < 1:
		return c, newError(ErrInvalidConfig, "invalid config: HereNowCacheSize %d: below 1", c.HereNowCacheSize)
	case c.SubscriptionBuffer < 1:
		return c, newError(ErrInvalidConfig, "invalid config: SubscriptionBuffer %d: below 1", c.SubscriptionBuffer)
	case c.Shards < 1 || c.Shards > 4096:
		return c, newError(ErrInvalidConfig, "invalid config: Shards %d: outside 1..4096", c.Shards)
	}
	n := 1
	for n < c.Shards {
		n <<= 1
	}
	c.Shards = n
	if c.DefaultTimeout < c.MinTimeout {
		c.DefaultTimeout = c.MinTimeout
	}
	if c.DefaultTimeout > c.MaxTimeout {
		c.DefaultTimeout = c.MaxTimeout
	}
	return c, nil
}

// Engine is an in-memory presence engine: who is present on which channel,
// with what state, until when, and the events of every change.
//
// All methods are safe for concurrent use. Operations on different channels
// run in parallel on separate lock shards; per (channel, uuid) the engine is
// linearizable. An Engine must be closed to stop its sweeper goroutine.
//
// Lock order (never taken in another order): uuid shard, channel shard,
// groups.mu (read), Hub.mu, Subscription.mu. The sweeper takes the channel
// shard alone to find due memberships, releases it, and takes the pair in
// order to remove them, once per uuid shard that has due members. where_now
// takes a uuid shard, then each of the uuid's channel shards in turn.
type Engine struct {
	cfg   Config
	clock clock.Clock
	seed  maphash.Seed
	mask  uint64
	// shardBits is log2 of the number of shards: the low bits of a chanRef.
	shardBits uint8

	rules  rules.Rules
	uuids  []uuidShard
	shards []chanShard
	groups groupTable
	hub    *Hub
	cache  *lru.Cache[string, cachedHereNow] // nil when HereNowCacheTTL is 0

	// occupied maps each channel with members to its *channel, written under
	// the channel's shard lock and read without any lock by Occupancy.
	occupied sync.Map

	baseSlot  int64 // expiry slots are counted from the creation second
	lastTT    atomic.Int64
	events    atomic.Uint64
	closed    atomic.Bool
	closeOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup
}

// New returns an engine configured by cfg, with its sweeper started unless
// cfg.SweepInterval is negative. It returns an error wrapping
// ErrInvalidConfig when a field is out of range.
func New(cfg Config) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:    cfg,
		clock:  cfg.Clock,
		seed:   maphash.MakeSeed(),
		mask:   uint64(cfg.Shards - 1),
		uuids:  make([]uuidShard, cfg.Shards),
		shards: make([]chanShard, cfg.Shards),
		hub:    NewHub(cfg.SubscriptionBuffer),
		done:   make(chan struct{}),
		rules: rules.Rules{
			MaxNameBytes:     cfg.MaxNameBytes,
			MaxNamesPerCall:  cfg.MaxNamesPerCall,
			MaxStateBytes:    cfg.MaxStateBytes,
			StrictNames:      cfg.StrictNames,
			ErrInvalidName:   ErrInvalidName,
			ErrTooManyNames:  ErrTooManyNames,
			ErrInvalidState:  ErrInvalidState,
			ErrStateTooLarge: ErrStateTooLarge,
		},
	}
	e.baseSlot = floorDiv(e.clock.Now().UnixNano(), res)
	e.shardBits = uint8(bits.TrailingZeros(uint(cfg.Shards)))
	for i := range e.shards {
		e.shards[i].init(e, i)
	}
	e.groups.init()
	if cfg.HereNowCacheTTL > 0 {
		e.cache, _ = lru.New[string, cachedHereNow](cfg.HereNowCacheSize)
	}
	if cfg.SweepInterval > 0 {
		e.wg.Add(1)
		go e.sweeper(cfg.SweepInterval)
	}
	return e, nil
}

// sweeper runs expiry until Close. It sleeps until the earliest time
// something in a shard falls due, but at most interval (a deadline set
// while it sleeps is never earlier than MinTimeout from then, which may be
// below the interval) and at least interval/8, so that deadlines spread
// over time are swept in batches rather than one wake-up each.
func (e *Engine) sweeper(interval time.Duration) {
	defer e.wg.Done()
	timer := e.clock.Timer(interval)
	defer timer.Stop()
	for {
		select {
		case <-e.done:
			return
		case <-timer.C:
		}
		e.sweep(e.clock.Now())
		next := e.nextDue()
		wait := interval
		if next != math.MaxInt64 {
			wait = time.Duration(next - e.clock.Now().UnixNano())
		}
		timer.Reset(max(interval/8, min(wait, interval)))
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

// Close stops the sweeper and waits for it, ends every subscription with
// ErrClosed, and makes every later call return ErrClosed. It is idempotent
// and returns nil.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		e.closed.Store(true)
		close(e.done)
		e.wg.Wait()
		e.hub.Close()
	})
	return nil
}

// Stats are an engine's counters. The figures of memberships are summed over
// the shards one at a time: under concurrent changes they are not a
// snapshot.
type Stats struct {
	Channels          int    // channels with at least one member
	Memberships       int    // present (channel, uuid) pairs
	UUIDs             int    // uuids present on at least one channel
	Groups            int    // channel groups with at least one channel
	Events            uint64 // events produced since New, before fan-out
	Subscriptions     int    // open subscriptions
	SlowSubscriptions uint64 // subscriptions closed as slow consumers since New
}

// Stats returns the engine's counters. It returns the zero Stats and
// ErrClosed after Close.
func (e *Engine) Stats() (Stats, error) {
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
// state, and emits the interval events that are due. The events are in the
// subscriptions' buffers when it returns. The sweeper goroutine calls it
// when something falls due (at least every SweepInterval); with a mock
// clock, advance the clock and call Sweep.
// It costs nothing when nothing is due.
func (e *Engine) Sweep() error {
	if e.closed.Load() {
		return ErrClosed
	}
	e.sweep(e.clock.Now())
	return nil
}

// sweep expires what is due at now. The due shards are swept by up to
// GOMAXPROCS goroutines at once, so a burst of expiries is spread over the
// cores; it returns when all are done.
func (e *Engine) sweep(now time.Time) {
	t := nowTick{t: now, ns: now.UnixNano()}
	due := e.dueShards(t.ns)
	workers := min(runtime.GOMAXPROCS(0), len(due))
	if workers <= 1 {
		var buf sweepBuf
		for _, cs := range due {
			cs.sweep(t, &buf)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf sweepBuf
			for i := next.Add(1) - 1; i < int64(len(due)); i = next.Add(1) - 1 {
				due[i].sweep(t, &buf)
			}
		}()
	}
	wg.Wait()
}

// HeartbeatRequest is one heartbeat: the uuid is present on every channel
// named and every channel of every group named, for Timeout from now.
type HeartbeatRequest struct {
	UUID     string
	Channels []string
	Groups   []string
	// Timeout is the presence timeout; zero means Config.DefaultTimeout. It
	// is clamped to [MinTimeout, MaxTimeout]; negative is ErrInvalidTimeout.
	Timeout time.Duration
	// State, keyed by channel or group name, sets the member's state on that
	// channel (a group's entry on each of its channels; a channel's own entry
	// wins, then the group named first). A value is json.RawMessage, []byte,
	// string (raw JSON) or anything json.Marshal turns into an object. Keys
	// that name no target of the call are ignored.
	State map[string]any
}

// Heartbeat makes req.UUID present on its targets: absent → present with a
// join event (carrying the member's state), present → deadline refreshed
// with no event (a state that differs from the stored one gives a
// state-change). A call naming only empty or unknown groups does nothing.
// Bad input returns an error and changes nothing. A refresh of a present
// member with no state allocates nothing.
func (e *Engine) Heartbeat(req HeartbeatRequest) error {
	if e.closed.Load() {
		return ErrClosed
	}
	if err := e.checkUUID(req.UUID); err != nil {
		return err
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
	timeout := req.Timeout
	if timeout == 0 {
		timeout = e.cfg.DefaultTimeout
	}
	timeout = max(e.cfg.MinTimeout, min(timeout, e.cfg.MaxTimeout))
	e.heartbeat(req.UUID, t.channels, states, int64(timeout))
	return nil
}

// Leave removes uuid from its targets: each present one gives a leave event
// with the new occupancy and drops the member's state; an absent one only
// drops pending state there. Bad input returns an error and changes nothing.
func (e *Engine) Leave(uuid string, channels, groups []string) error {
	if e.closed.Load() {
		return ErrClosed
	}
	if err := e.checkUUID(uuid); err != nil {
		return err
	}
	t, err := e.resolve(channels, groups)
	if err != nil {
		return err
	}
	e.leave(uuid, t.channels)
	return nil
}

// SetState replaces uuid's state on every target and returns the state as
// stored (canonical JSON). state is json.RawMessage, []byte, string (raw
// JSON) or anything json.Marshal turns into an object; "{}" clears the
// state. A present target gives a state-change event; on an absent one the
// state is kept as pending for Config.DefaultTimeout and becomes the
// member's state if the uuid joins before then.
func (e *Engine) SetState(uuid string, channels, groups []string, state any) (json.RawMessage, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	if err := e.checkUUID(uuid); err != nil {
		return nil, err
	}
	st, err := e.canonicalState(state)
	if err != nil {
		return nil, err
	}
	t, err := e.resolve(channels, groups)
	if err != nil {
		return nil, err
	}
	e.setState(uuid, t.channels, st)
	if st == "" {
		return json.RawMessage("{}"), nil
	}
	return json.RawMessage(st), nil
}

// GetState returns uuid's state on each target where it has one (present
// or pending), keyed by channel. The map and its values are the caller's.
func (e *Engine) GetState(uuid string, channels, groups []string) (map[string]json.RawMessage, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	if err := e.checkUUID(uuid); err != nil {
		return nil, err
	}
	t, err := e.resolve(channels, groups)
	if err != nil {
		return nil, err
	}
	return e.getState(uuid, t.channels), nil
}

// HereNowQuery selects a here_now. No channels and no groups means global:
// every channel with occupancy > 0. The zero value of the other fields is
// PubNub's default: occupants listed, without state, the first 1000.
type HereNowQuery struct {
	Channels []string
	Groups   []string
	// OccupancyOnly leaves the occupants out (PubNub's disable_uuids).
	OccupancyOnly bool
	// IncludeState adds each occupant's state.
	IncludeState bool
	// Limit is the page size of each channel's occupants, 0..1000; zero means
	// 1000. Offset (≥ 0) skips occupants. Paging never changes occupancies
	// or totals, and the occupant order of an unchanged channel is stable.
	Limit  int
	Offset int
}

// HereNowResult is the answer of HereNow. Channels lists the named (and
// group-expanded) channels in the order first named, or for a global query
// every occupied channel sorted by name.
type HereNowResult struct {
	Channels       []ChannelPresence
	TotalChannels  int
	TotalOccupancy int
}

// Channel returns the presence of channel in the result, if it is there.
func (r HereNowResult) Channel(channel string) (ChannelPresence, bool) {
	for _, c := range r.Channels {
		if c.Channel == channel {
			return c, true
		}
	}
	return ChannelPresence{}, false
}

// ChannelPresence is one channel of a here_now: its occupancy and, unless
// the query asked for occupancy only, one page of its occupants.
type ChannelPresence struct {
	Channel   string
	Occupancy int
	Occupants []Occupant
}

// Occupant is a present uuid and, when asked for, its state (nil if none).
type Occupant struct {
	UUID  string
	State json.RawMessage
}

// HereNow returns who is present on the query's channels. Occupancy is
// O(1) per channel; occupants cost O(limit). A global query visits the shards
// one at a time: it is not a snapshot. The result is the caller's.
func (e *Engine) HereNow(q HereNowQuery) (HereNowResult, error) {
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

// Occupancy returns the number of uuids present on channel, in O(1)
// without allocating.
func (e *Engine) Occupancy(channel string) (int, error) {
	if e.closed.Load() {
		return 0, ErrClosed
	}
	if err := e.checkName("channel", channel, true); err != nil {
		return 0, err
	}
	return e.occupancy(channel), nil
}

// AppendOccupants appends the uuids present on channel to dst, in the
// order HereNow pages them, and returns the extended slice: with a dst of
// enough capacity it allocates nothing, for servers that list a channel's
// occupants often. It costs O(occupancy) under the channel's shard lock.
func (e *Engine) AppendOccupants(dst []string, channel string) ([]string, error) {
	if e.closed.Load() {
		return dst, ErrClosed
	}
	if err := e.checkName("channel", channel, true); err != nil {
		return dst, err
	}
	cs := e.chanShard(channel)
	cs.mu.Lock()
	if ch := cs.byName[channel]; ch != nil {
		for i := range ch.members {
			dst = append(dst, ch.members[i].uuid)
		}
	}
	cs.mu.Unlock()
	return dst, nil
}

// WhereNow returns the channels where uuid is present, sorted. An unknown
// uuid gives an empty list and no error. The slice is the caller's.
func (e *Engine) WhereNow(uuid string) ([]string, error) {
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
// everywhere else but not limited in number.
func (e *Engine) Subscribe(opts SubscribeOptions) (*Subscription, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	if opts.Buffer < 0 {
		return nil, newError(ErrInvalidConfig, "invalid subscription buffer %d: negative", opts.Buffer)
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
