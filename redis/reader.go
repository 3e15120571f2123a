// reader.go holds the stream readers: one goroutine per partition that
// reads the partition's event stream (XREAD, resuming from its last entry id
// after any error) and hands each event once, in stream order, to the local
// subscriptions through the core's fan-out (internal/fanout). Every partition has an
// epoch and every event names the stream id of its predecessor, so a reader
// notices when Redis lost events (a restart without persistence: another
// epoch; a failover that lost writes, or a stream trimmed past an entry it
// had not read: an event that does not follow the last one it handed over)
// and sends resync markers instead of leaving a silent gap. Sequence numbers
// count the events, for Stats and Flush.
//
// Lock order: reader.mu, then Backend.subsMu; the hubs' locks are taken
// with neither held.

package presenceredis

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/internal/fanout"
	"github.com/presencekit/presence/internal/rules"
	"github.com/redis/go-redis/v9"
)

// IsResync reports whether ev is a resync marker rather than a presence
// event. A subscription receives one when its instance found that Redis
// lost events it may have missed (Redis restarted without persistence, a
// failover lost acknowledged writes, or this instance fell further behind
// than Config.StreamMaxLen). The marker is an Interval event with
// HereNowRefresh set, Occupancy -1 and Timetoken 0. Its Channel names the
// channel to reload, or is "" for "every channel" (all-subscriptions and
// group subscriptions receive that one). The right response is the same as
// to here_now_refresh: call HereNow and continue with the events that
// follow, which are complete again from the marker on.
func IsResync(ev presence.Event) bool {
	return ev.Action == presence.Interval && ev.HereNowRefresh && ev.Timetoken == 0 && ev.Occupancy == -1
}

type reader struct {
	b   *Backend
	p   int
	key string

	mu      sync.Mutex
	cond    *sync.Cond
	epoch   string // of the data the reader is reading
	seq     int64  // the sequence number of the last event handed to the hubs
	lastID  string // the last stream entry id read: where XREAD resumes
	chain   string // the id of the last event handed over: the next one must name it as its predecessor
	recent  map[string]int
	ring    []string // the ids of the last recentIDs events handed over, for Flush
	ringPos int
	recheck bool   // Flush saw another epoch or history: check before the next read
	errs    uint64 // read errors so far
	err     error  // the last one
	closed  bool
}

// recentIDs is how many delivered event ids a reader remembers for Flush.
const recentIDs = 4096

func newReader(b *Backend, p int) *reader {
	r := &reader{b: b, p: p, key: b.keyStream(p), recent: make(map[string]int, recentIDs), ring: make([]string, recentIDs)}
	r.cond = sync.NewCond(&r.mu)
	return r
}

// remember notes that the event with id was handed over (or skipped by a
// resync). Caller holds r.mu.
func (r *reader) remember(id string) {
	if id == "" {
		return
	}
	if old := r.ring[r.ringPos]; old != "" {
		delete(r.recent, old)
	}
	r.ring[r.ringPos] = id
	r.recent[id] = r.ringPos
	r.ringPos = (r.ringPos + 1) % recentIDs
}

// check reads the partition's epoch, sequence number and last entry id.
// The first check positions the reader at the end of the stream; a later
// one detects lost data and resyncs. It reports whether it moved the read
// position.
func (r *reader) check() (moved bool, err error) {
	b := r.b
	var out []any
	err = b.do(b.ctx, "check", 0, func(ctx context.Context) error {
		var err error
		out, err = scriptCheck.Run(ctx, b.client, []string{b.bases[r.p]}, b.common(b.clock.Now())...).Slice()
		return err
	})
	if err != nil {
		return false, err
	}
	if len(out) < 4 {
		return false, shortReply("check")
	}
	ep, _ := out[0].(string)
	s, _ := out[1].(string)
	id, _ := out[2].(string)
	last, _ := out[3].(string)
	seq, _ := strconv.ParseInt(s, 10, 64)
	resync := false
	r.mu.Lock()
	switch {
	case r.epoch == "":
		r.epoch, r.seq, r.lastID, r.chain = ep, seq, id, last
		r.remember(last)
	case ep != r.epoch: // Redis lost its data: read the new stream from its start
		r.epoch, r.seq, r.lastID, r.chain = ep, 0, "0-0", ""
		resync, moved = true, true
	case compareIDs(id, r.lastID) < 0 || (id == r.lastID && last != r.chain):
		// a failover replaced the history this reader was reading: go on
		// from the end of the new one
		r.seq, r.lastID, r.chain = seq, id, last
		r.remember(last)
		resync, moved = true, true
	}
	r.recheck = false
	r.cond.Broadcast()
	r.mu.Unlock()
	if resync {
		b.resync(r.p)
	}
	return moved, nil
}

// compareIDs compares two stream entry ids "ms-seq".
func compareIDs(a, b string) int {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	x, _ := strconv.ParseUint(am, 10, 64)
	y, _ := strconv.ParseUint(bm, 10, 64)
	if x != y {
		if x < y {
			return -1
		}
		return 1
	}
	x, _ = strconv.ParseUint(as, 10, 64)
	y, _ = strconv.ParseUint(bs, 10, 64)
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// run reads until the backend is closed. Waits between retries are real
// time: they wait for the network, not for a presence deadline.
func (r *reader) run() {
	b := r.b
	backoff := time.Duration(0)
	needCheck := false
	for b.ctx.Err() == nil {
		if backoff > 0 {
			t := time.NewTimer(backoff)
			select {
			case <-b.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if needCheck {
			if _, err := r.check(); err != nil {
				r.fail(err)
				backoff = nextBackoff(backoff)
				continue
			}
			needCheck = false
			_ = b.recover(b.ctx)
		}
		r.mu.Lock()
		id, again := r.lastID, r.recheck
		r.mu.Unlock()
		if again {
			needCheck = true
			continue
		}
		var res []redis.XStream
		err := b.do(b.ctx, "read", b.cfg.ReadBlock, func(ctx context.Context) error {
			var err error
			res, err = b.client.XRead(ctx, &redis.XReadArgs{
				Streams: []string{r.key, id},
				Count:   1000,
				Block:   b.cfg.ReadBlock,
			}).Result()
			if errors.Is(err, redis.Nil) {
				res, err = nil, nil
			}
			return err
		})
		if err != nil {
			if b.ctx.Err() != nil {
				return
			}
			r.fail(err)
			needCheck = true
			backoff = nextBackoff(backoff)
			continue
		}
		backoff = 0
		for _, st := range res {
			r.deliver(st.Messages)
		}
	}
}

func nextBackoff(d time.Duration) time.Duration {
	if d == 0 {
		return 5 * time.Millisecond
	}
	return min(2*d, 500*time.Millisecond)
}

func (r *reader) fail(err error) {
	r.b.report(err)
	r.mu.Lock()
	r.errs++
	r.err = err
	r.cond.Broadcast()
	r.mu.Unlock()
}

// deliver hands the events of msgs to the hubs in order. An event of
// another epoch (Redis lost its data and the read, perhaps retried by the
// client on the new server, resumed in the new stream) is not delivered:
// the reader goes back to the start of the new epoch's stream, after a
// resync marker, so each of its events is delivered once. An event whose
// predecessor is not the last one handed over (a gap: the stream was
// trimmed past it, or a failover replaced the history) gets a resync
// marker before it.
func (r *reader) deliver(msgs []redis.XMessage) {
	b := r.b
	for _, m := range msgs {
		payload, _ := m.Values["e"].(string)
		f := strings.SplitN(payload, "\n", 11)
		if len(f) != 11 {
			r.advance(-1, m.ID) // not ours: step over it
			continue
		}
		seq, _ := strconv.ParseInt(f[0], 10, 64)
		r.mu.Lock()
		chain, epoch := r.chain, r.epoch
		r.mu.Unlock()
		if f[2] != epoch {
			r.mu.Lock()
			r.epoch, r.seq, r.lastID, r.chain = f[2], 0, "0-0", ""
			r.cond.Broadcast()
			r.mu.Unlock()
			b.resync(r.p)
			return
		}
		if f[1] != chain {
			b.resync(r.p)
		}
		b.publish(f[3:])
		r.advance(seq, m.ID)
	}
}

// advance records that the entry id was handled: an event with sequence
// number seq, or (seq < 0) an entry that is not an event.
func (r *reader) advance(seq int64, id string) {
	r.mu.Lock()
	r.lastID = id
	if seq >= 0 {
		r.seq, r.chain = seq, id
		r.remember(id)
	}
	r.cond.Broadcast()
	r.mu.Unlock()
}

// wake ends every wait for the reader: the backend is closing.
func (r *reader) wake() {
	r.mu.Lock()
	r.closed = true
	r.cond.Broadcast()
	r.mu.Unlock()
}

// waitFor returns once the reader has handed over the event head (with
// sequence number seq) of epoch, or passed it, or with the reader's next
// error, or when ctx ends.
func (r *reader) waitFor(ctx context.Context, epoch, head string, seq int64) error {
	stop := context.AfterFunc(ctx, func() {
		r.mu.Lock()
		r.cond.Broadcast()
		r.mu.Unlock()
	})
	defer stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	errs := r.errs
	asked := false
	for {
		_, known := r.recent[head]
		switch {
		case r.closed:
			return presence.ErrClosed
		case ctx.Err() != nil:
			return unavailableError("flush", ctx.Err())
		case epoch == "" || head == "":
			return nil
		case r.epoch == epoch && (known || r.seq > seq+recentIDs):
			return nil
		case r.errs != errs:
			return r.err
		case !asked && (r.epoch != epoch || compareIDs(head, r.lastID) <= 0):
			// another epoch, or an event at or before the read position
			// that was never handed over: another history. Check.
			r.recheck, asked = true, true
		}
		r.cond.Wait()
	}
}

// Flush returns once every event of the calls that returned before it was
// called (on any instance) is in this instance's subscription buffers, or
// with an error wrapping presence.ErrUnavailable when Redis cannot be read
// before ctx's deadline (Config.CallTimeout when it has none). It reads
// each partition's sequence number from its master and waits for the
// readers to pass it.
func (b *Backend) Flush(ctx context.Context) error {
	if err := b.isClosed(); err != nil {
		return err
	}
	return b.flush(ctx)
}

func (b *Backend) flush(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.cfg.CallTimeout)
		defer cancel()
	}
	now := b.clock.Now()
	calls := make([]call, len(b.bases))
	for p := range b.bases {
		calls[p] = call{scriptPosition, p, b.common(now)}
	}
	out, err := b.run(ctx, "flush", calls)
	if err != nil {
		return err
	}
	for p, o := range out {
		v, _ := o.([]any)
		if len(v) < 3 {
			return shortReply("flush")
		}
		ep, _ := v[0].(string)
		s, _ := v[1].(string)
		head, _ := v[2].(string)
		seq, _ := strconv.ParseInt(s, 10, 64)
		if err := b.readers[p].waitFor(ctx, ep, head, seq); err != nil {
			return err
		}
	}
	return nil
}

// deltaKind is the list of rules.DeltaSize an action's delta is counted in.
var deltaKind = map[presence.Action]int{presence.Join: 0, presence.Leave: 1, presence.Timeout: 2}

// newHub returns a fan-out of events to subscriptions with the engine's
// rules.
func newHub(defaultBuffer int) *fanout.Hub[presence.Event] {
	return fanout.New(defaultBuffer, eventOps, presence.ErrClosed, presence.ErrSlowConsumer)
}

// eventOps tells a hub how to route, copy and mark an Event.
var eventOps = fanout.Ops[presence.Event]{
	Channel: func(ev *presence.Event) string { return ev.Channel },
	Clone: func(ev presence.Event) presence.Event {
		ev.State = slices.Clone(ev.State)
		ev.Deltas = slices.Clone(ev.Deltas)
		return ev
	},
	Mark: func(ev *presence.Event, group string) { ev.Group = group },
}

var actions = map[string]presence.Action{
	"j": presence.Join, "l": presence.Leave, "t": presence.Timeout,
	"s": presence.StateChange, "i": presence.Interval,
}

// publish decodes one event (action, channel, uuid, occupancy, time,
// timetoken, groups, data) and hands it to the hubs.
func (b *Backend) publish(f []string) {
	if !b.allHub.Active() && !b.namedHub.Active() {
		return
	}
	occ, _ := strconv.Atoi(f[3])
	ns, _ := strconv.ParseInt(f[4], 10, 64)
	tt, _ := strconv.ParseInt(f[5], 10, 64)
	ev := presence.Event{
		Action:    actions[f[0]],
		Channel:   f[1],
		UUID:      f[2],
		Occupancy: occ,
		Time:      time.Unix(0, ns),
		Timetoken: tt,
	}
	data := f[7]
	switch ev.Action {
	case presence.Join, presence.StateChange:
		if data != "" {
			ev.State = []byte(data)
		}
	case presence.Timeout:
		ev.Deadline = parseDeadline(data)
	case presence.Interval:
		if data == "!" {
			ev.HereNowRefresh = true
		} else if data != "" {
			for d := range strings.SplitSeq(data, ",") {
				if len(d) > 1 {
					ev.Deltas = append(ev.Deltas, presence.Delta{Action: actions[d[:1]], UUID: d[1:]})
				}
			}
			var size rules.DeltaSize
			for _, d := range ev.Deltas {
				size.Add(deltaKind[d.Action], d.UUID)
			}
			if size.Bytes() > 30000 {
				ev.Deltas, ev.HereNowRefresh = nil, true
			}
		}
	}
	b.allHub.Publish(ev, nil)
	if b.namedHub.Active() {
		var groups []string
		if f[6] != "" {
			groups = strings.Split(f[6], ",")
		}
		b.namedHub.Publish(ev, groups)
	}
}

// resync sends resync markers for partition p: one for every channel of p
// named by a live subscription, and one with no channel for every
// all-subscription and group subscription.
func (b *Backend) resync(p int) {
	b.health.resyncs.Add(1)
	now := b.clock.Now()
	marker := func(c string) presence.Event {
		return presence.Event{Action: presence.Interval, Channel: c, Occupancy: -1, HereNowRefresh: true, Time: now}
	}
	var chans, groups []string
	b.subsMu.Lock()
	live := b.subs[:0]
	for _, e := range b.subs {
		if e.sub.Value() == nil {
			continue
		}
		live = append(live, e)
		for _, c := range e.channels {
			if b.partitionOf(c) == p && !rules.Contains(chans, c) {
				chans = append(chans, c)
			}
		}
		for _, g := range e.groups {
			if !rules.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
	}
	clear(b.subs[len(live):])
	b.subs = live
	b.subsMu.Unlock()
	b.allHub.Publish(marker(""), nil)
	if len(groups) > 0 {
		b.namedHub.Publish(marker(""), groups)
	}
	for _, c := range chans {
		b.namedHub.Publish(marker(c), nil)
	}
}

// parseDeadline reads a timeout event's deadline as sweep.lua writes it,
// "µs:ns" (whole microseconds since the Unix epoch, then the nanoseconds
// within the last one); the zero time when there is none.
func parseDeadline(data string) time.Time {
	us, r, ok := strings.Cut(data, ":")
	if !ok {
		return time.Time{}
	}
	whole, err1 := strconv.ParseFloat(us, 64) // Redis writes a score as a double
	ns, err2 := strconv.ParseInt(r, 10, 64)
	if err1 != nil || err2 != nil {
		return time.Time{}
	}
	return time.Unix(0, int64(whole)*1000+ns)
}
