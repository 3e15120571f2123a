// subscribe.go holds subscribe (/v2/subscribe/...) for presence: the event
// log, a bounded ring of the engine's events indexed by cursor, that long-polls
// read from; the goroutine that fills it; the table that bounds long-polls per
// uuid; and the rendering of PubNub's subscribe envelope.
//
// Cursors. The envelope's t.t is a cursor into the log, not an event's own
// timetoken: events of different channels reach the log in an order that
// their timetokens need not follow, so each entry gets cursor =
// max(event timetoken, previous cursor + 1), which is strictly increasing in
// log order and still a 17-digit timetoken. A client whose cursor fell out of
// the ring, lies ahead of it, or precedes a gap (the engine closed the log's
// subscription as a slow consumer) is told to resync: it receives one
// interval event with here_now_refresh:true per presence channel it
// subscribes to, and the current cursor. Nothing is dropped silently.

package pubnubhttp

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/presencekit/presence"
)

const pnpres = "-pnpres"

// entry is one logged event, or a gap marker.
type entry struct {
	cursor int64
	gap    bool
	ev     presence.Event
	groups []string // the watched groups that held ev.Channel when it was logged
}

// eventLog is a ring of entries in cursor order. It also holds the set of
// watched groups (groups some client subscribed to as "<g>-pnpres"), under
// the same lock, so that an entry logged after a client named a group is
// tagged with it.
type eventLog struct {
	mu      sync.Mutex
	ring    []entry
	head, n int
	last    int64 // cursor of the newest entry, or the base when empty
	evicted int64 // newest cursor no longer held (the base at start)
	wake    chan struct{}
	watched map[string]time.Time
}

func newEventLog(size int, base int64) *eventLog {
	return &eventLog{
		ring:    make([]entry, size),
		last:    base,
		evicted: base,
		wake:    make(chan struct{}),
		watched: make(map[string]time.Time),
	}
}

// appendLocked adds e with the next cursor and wakes the waiting polls.
// Caller holds l.mu.
func (l *eventLog) appendLocked(e entry, tt int64) {
	e.cursor = max(tt, l.last+1)
	l.last = e.cursor
	if l.n == len(l.ring) {
		l.evicted = l.ring[l.head].cursor
		l.ring[l.head] = entry{}
		l.head = (l.head + 1) % len(l.ring)
		l.n--
	}
	l.ring[(l.head+l.n)%len(l.ring)] = e
	l.n++
	close(l.wake)
	l.wake = make(chan struct{})
}

// cursorAt returns the cursor from which a handshake at time threshold
// reads: that of the newest entry not after threshold, or the cursor before
// the oldest entry held when every entry is newer.
func (l *eventLog) cursorAt(threshold int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	at := func(i int) *entry { return &l.ring[(l.head+i)%len(l.ring)] }
	i := sort.Search(l.n, func(i int) bool { return at(i).cursor > threshold })
	if i == 0 {
		return l.evicted
	}
	return at(i - 1).cursor
}

// lastCursor returns the cursor of the newest entry.
func (l *eventLog) lastCursor() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// watch marks groups as watched at now.
func (l *eventLog) watch(groups []string, now time.Time) {
	if len(groups) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, g := range groups {
		l.watched[g] = now
	}
}

// match says whether a poll receives an entry, and with which subscription
// match ("b").
type match func(*entry) (string, bool)

// read returns the entries after cursor after that m accepts (at most max),
// the cursor to answer with, whether the client must resync, and a channel
// closed at the next append.
func (l *eventLog) read(after int64, limit int, m match) (out []entry, subs []string, next int64, resync bool, wake <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if after < l.evicted || after > l.last {
		return nil, nil, l.last, true, l.wake
	}
	at := func(i int) *entry { return &l.ring[(l.head+i)%len(l.ring)] }
	i := sort.Search(l.n, func(i int) bool { return at(i).cursor > after })
	next = after
	for ; i < l.n && len(out) < limit; i++ {
		e := at(i)
		if e.gap {
			return nil, nil, l.last, true, l.wake
		}
		next = e.cursor
		if b, ok := m(e); ok {
			out = append(out, *e)
			subs = append(subs, b)
		}
	}
	return out, subs, next, false, l.wake
}

// groupCache remembers the channels of watched groups for the event
// goroutine. An entry is refreshed when a group edit went through the
// handler or after a second (for edits made on the engine directly).
type groupCache struct {
	sets    map[string]map[string]struct{}
	version uint64
	at      time.Time
}

// pump copies the engine's events into the log until Close. When the
// engine closes its subscription as a slow consumer it resubscribes and
// logs a gap, so clients resync instead of missing events.
func (h *Handler) pump(sub *presence.Subscription) {
	defer h.wg.Done()
	ctx := context.Background()
	cache := groupCache{sets: map[string]map[string]struct{}{}}
	for {
		select {
		case <-h.done:
			sub.Close()
			return
		case ev, ok := <-sub.Events():
			if ok {
				h.logEvent(ctx, &cache, ev)
				continue
			}
			if !errors.Is(sub.Err(), presence.ErrSlowConsumer) {
				<-h.done // the engine is closed: nothing more will come
				return
			}
			next, err := h.eng.Subscribe(ctx, presence.SubscribeOptions{All: true})
			h.log.mu.Lock()
			h.log.appendLocked(entry{gap: true}, timetoken(h.opt.Now()))
			h.log.mu.Unlock()
			if err != nil {
				<-h.done
				return
			}
			sub = next
		}
	}
}

// logEvent tags ev with the watched groups that contain its channel and
// appends it to the log.
func (h *Handler) logEvent(ctx context.Context, cache *groupCache, ev presence.Event) {
	l := h.log
	l.mu.Lock()
	defer l.mu.Unlock()
	var tags []string
	if len(l.watched) > 0 {
		now := h.opt.Now()
		if v := h.groupVersion.Load(); v != cache.version || now.Sub(cache.at) > time.Second || now.Before(cache.at) {
			clear(cache.sets)
			cache.version, cache.at = v, now
		}
		for g, seen := range l.watched {
			if now.Sub(seen) > 2*h.opt.PollTimeout+time.Minute {
				delete(l.watched, g)
				delete(cache.sets, g)
				continue
			}
			set, ok := cache.sets[g]
			if !ok {
				chans, _ := h.eng.GroupChannels(ctx, g)
				set = make(map[string]struct{}, len(chans))
				for _, c := range chans {
					set[c] = struct{}{}
				}
				cache.sets[g] = set
			}
			if _, in := set[ev.Channel]; in {
				tags = append(tags, g)
			}
		}
	}
	l.appendLocked(entry{ev: ev, groups: tags}, ev.Timetoken)
}

// poll is one held long-poll; evict is closed to end it early.
type poll struct {
	evict chan struct{}
}

// pollTable counts the held long-polls, per uuid and in all.
type pollTable struct {
	mu     sync.Mutex
	byUUID map[string][]*poll
	total  int
}

func (t *pollTable) init() { t.byUUID = make(map[string][]*poll) }

// add registers a long-poll of uuid, ending its oldest one when uuid holds
// maxPer already. It fails when maxTotal polls are held.
func (t *pollTable) add(uuid string, maxPer, maxTotal int) (*poll, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.byUUID[uuid]
	if len(l) >= maxPer {
		close(l[0].evict)
		l = l[1:]
		t.total--
	}
	if t.total >= maxTotal {
		t.byUUID[uuid] = l
		return nil, &apiError{http.StatusServiceUnavailable, "Service Unavailable: " + itoa(maxTotal) + " long-polls held, at most " + itoa(maxTotal)}
	}
	p := &poll{evict: make(chan struct{})}
	t.byUUID[uuid] = append(l, p)
	t.total++
	return p, nil
}

// remove unregisters p unless it was evicted.
func (t *pollTable) remove(uuid string, p *poll) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.byUUID[uuid]
	for i, x := range l {
		if x == p {
			l = append(l[:i:i], l[i+1:]...)
			t.total--
			break
		}
	}
	if len(l) == 0 {
		delete(t.byUUID, uuid)
	} else {
		t.byUUID[uuid] = l
	}
}

// held returns the number of held long-polls.
func (t *pollTable) held() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total
}

// effectiveTimeout is the timeout the engine applies to a heartbeat asking
// for d.
func (h *Handler) effectiveTimeout(d time.Duration) time.Duration {
	e := h.opt.Engine
	if d == 0 {
		d = e.DefaultTimeout
	}
	return max(e.MinTimeout, min(d, e.MaxTimeout))
}

// subscribeCall is one parsed and validated subscribe.
type subscribeCall struct {
	subKey     string
	hb         presence.HeartbeatRequest // the channels and groups it joins
	joins      bool                      // whether hb names anything
	presChans  []string                  // channels whose events it receives (without -pnpres)
	presGroups []string                  // groups whose events it receives (without -pnpres)
	tt         int64                     // its cursor; 0 is the handshake
}

// parseSubscribe reads and validates a subscribe; it changes nothing.
// Names ending in -pnpres (channels or groups) select presence events; the
// others are joined.
func (h *Handler) parseSubscribe(ctx context.Context, req *request, groups []string) (*subscribeCall, error) {
	if len(req.channels)+len(groups) == 0 {
		return nil, badRequest("Missing channels: subscribe needs a channel in the path or a channel-group parameter")
	}
	s := &subscribeCall{subKey: req.subKey}
	var chans, grps []string
	for _, c := range req.channels {
		if base, ok := strings.CutSuffix(c, pnpres); ok {
			s.presChans = appendNew(s.presChans, base)
		} else {
			chans = appendNew(chans, c)
		}
	}
	for _, g := range groups {
		if base, ok := strings.CutSuffix(g, pnpres); ok {
			s.presGroups = appendNew(s.presGroups, base)
		} else {
			grps = appendNew(grps, g)
		}
	}
	var err error
	if s.hb, err = presenceArgs(req, chans, grps); err != nil {
		return nil, err
	}
	s.joins = len(chans)+len(grps) > 0
	if v := req.query.get("tt"); v != "" {
		if s.tt, err = strconv.ParseInt(v, 10, 64); err != nil || s.tt < 0 {
			return nil, badRequest("Invalid tt " + quote(v) + ": not a timetoken")
		}
	}
	for _, c := range s.presChans {
		if _, err := h.eng.Occupancy(ctx, c); err != nil {
			return nil, err
		}
	}
	for _, g := range s.presGroups {
		if _, err := h.eng.GroupChannels(ctx, g); err != nil {
			return nil, err
		}
	}
	if !s.joins {
		if _, err := h.eng.WhereNow(ctx, s.hb.UUID); err != nil { // validates the uuid
			return nil, err
		}
	}
	return s, nil
}

// subscribe answers /v2/subscribe. The channels and groups it names
// without -pnpres are heartbeated, so the uuid stays present while its
// long-polls keep coming; tt absent or 0 is the handshake, answered at once
// with a cursor; otherwise the long-poll is held until events of its
// presence names arrive (see hold).
func (h *Handler) subscribe(w http.ResponseWriter, r *http.Request, req *request, groups []string) error {
	ctx := r.Context()
	s, err := h.parseSubscribe(ctx, req, groups)
	if err != nil {
		return err
	}
	h.log.watch(s.presGroups, h.opt.Now())
	if s.tt == 0 {
		// The handshake's cursor lies HandshakeReplay in the past, so that
		// the join of a heartbeat sent alongside it (the JS SDK does) and
		// the client's own join are delivered by its first long-poll.
		cursor := h.log.lastCursor()
		if h.opt.HandshakeReplay > 0 {
			cursor = h.log.cursorAt(timetoken(h.opt.Now().Add(-h.opt.HandshakeReplay)))
		}
		if s.joins {
			if err := h.eng.Heartbeat(ctx, s.hb); err != nil {
				return err
			}
		}
		writeSubscribe(w, cursor, nil)
		return nil
	}
	if s.joins {
		if err := h.eng.Heartbeat(ctx, s.hb); err != nil {
			return err
		}
	}
	select {
	case <-h.done:
		writeSubscribe(w, s.tt, nil)
		return nil
	default:
	}
	p, err := h.poll.add(s.hb.UUID, h.opt.MaxPollsPerUUID, h.opt.MaxPolls)
	if err != nil {
		return err
	}
	defer h.poll.remove(s.hb.UUID, p)
	h.hold(w, r, s, p)
	return nil
}

// hold answers a long-poll with the events after its cursor, waiting for
// them up to PollTimeout. While it waits it renews the heartbeat before the
// engine would expire it. It answers with no events when the poll times
// out, is evicted or the handler closes, and not at all when the client
// has gone.
func (h *Handler) hold(w http.ResponseWriter, r *http.Request, s *subscribeCall, p *poll) {
	ctx := r.Context()
	direct := make(map[string]struct{}, len(s.presChans))
	for _, c := range s.presChans {
		direct[c] = struct{}{}
	}
	m := func(e *entry) (string, bool) {
		if _, ok := direct[e.ev.Channel]; ok {
			return e.ev.Channel + pnpres, true
		}
		for _, g := range s.presGroups {
			if contains(e.groups, g) {
				return g + pnpres, true
			}
		}
		return "", false
	}
	timer := time.NewTimer(h.opt.PollTimeout)
	defer timer.Stop()
	var refresh <-chan time.Time
	if s.joins {
		t := time.NewTicker(max(h.effectiveTimeout(s.hb.Timeout)/2, 250*time.Millisecond))
		defer t.Stop()
		refresh = t.C
	}
	after := s.tt
	for {
		evs, subs, next, resync, wake := h.log.read(after, h.opt.MaxMessages, m)
		if resync {
			writeSubscribe(w, next, h.resync(r.Context(), s.subKey, next, s.presChans, s.presGroups))
			return
		}
		after = next
		if len(evs) > 0 {
			msgs := make([]obj, len(evs))
			for i := range evs {
				msgs[i] = message(s.subKey, &evs[i].ev, subs[i])
			}
			writeSubscribe(w, next, msgs)
			return
		}
		select {
		case <-wake:
		case <-refresh:
			if err := h.eng.Heartbeat(ctx, s.hb); errors.Is(err, presence.ErrClosed) {
				writeSubscribe(w, after, nil)
				return
			}
		case <-timer.C:
			writeSubscribe(w, after, nil)
			return
		case <-p.evict:
			writeSubscribe(w, after, nil)
			return
		case <-h.done:
			writeSubscribe(w, after, nil)
			return
		case <-r.Context().Done():
			return // the client is gone: nobody to answer
		}
	}
}

// resync builds the messages that tell a client to re-read here_now: one
// interval event with here_now_refresh per presence channel it follows.
func (h *Handler) resync(ctx context.Context, subKey string, cursor int64, presChans, presGroups []string) []obj {
	now := h.opt.Now()
	var msgs []obj
	add := func(ch, b string) {
		occ, err := h.eng.Occupancy(ctx, ch)
		if err != nil {
			return
		}
		ev := presence.Event{Action: presence.Interval, Channel: ch, Occupancy: occ, HereNowRefresh: true, Time: now, Timetoken: cursor}
		msgs = append(msgs, message(subKey, &ev, b))
	}
	for _, c := range presChans {
		add(c, c+pnpres)
	}
	for _, g := range presGroups {
		chans, _ := h.eng.GroupChannels(ctx, g)
		for _, c := range chans {
			if !contains(presChans, c) {
				add(c, g+pnpres)
			}
		}
	}
	return msgs
}

// message renders one presence event as a subscribe envelope message: "c"
// is the event's presence channel, "b" the subscription that matched it, "d"
// the payload of reference §7.2.
func message(subKey string, ev *presence.Event, b string) obj {
	d := obj{
		"action":            ev.Action.String(),
		"timestamp":         ev.Time.Unix(),
		"precise_timestamp": ev.Time.UnixMilli(),
		"occupancy":         ev.Occupancy,
	}
	if ev.Action == presence.Interval {
		if ev.HereNowRefresh {
			d["here_now_refresh"] = true
		}
		for key, l := range map[string][]string{"join": ev.Joined(), "leave": ev.Left(), "timeout": ev.TimedOut()} {
			if len(l) > 0 {
				d[key] = l
			}
		}
	} else {
		d["uuid"] = ev.UUID
		if ev.State != nil {
			d["data"] = ev.State
		}
	}
	return obj{
		"a": "1",
		"f": 0,
		"p": obj{"t": strconv.FormatInt(ev.Timetoken, 10), "r": 1},
		"k": subKey,
		"c": ev.Channel + pnpres,
		"b": b,
		"d": d,
	}
}

// writeSubscribe writes the subscribe envelope: the cursor and messages.
// The region is 1: the JS SDK refuses a region of 0.
func writeSubscribe(w http.ResponseWriter, cursor int64, msgs []obj) {
	if msgs == nil {
		msgs = []obj{}
	}
	writeJSON(w, http.StatusOK, obj{"t": obj{"t": strconv.FormatInt(cursor, 10), "r": 1}, "m": msgs})
}

func appendNew(l []string, s string) []string {
	if contains(l, s) {
		return l
	}
	return append(l, s)
}
