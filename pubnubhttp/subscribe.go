// subscribe.go holds subscribe (/v2/subscribe/...) for presence: the
// goroutine that copies the backend's events into the event log
// (eventlog.go), the table that bounds long-polls per uuid, the long-poll
// itself, and the rendering of PubNub's subscribe envelope.

package pubnubhttp

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/internal/rules"
)

const pnpres = "-pnpres"

// isResyncMarker reports whether ev is a backend's resync marker rather
// than an event: an interval event with here_now_refresh and a negative
// occupancy, which the Redis backend sends when events were lost (a Redis
// restart without persistence, a reader too far behind). The log takes it
// as a gap.
func isResyncMarker(ev *presence.Event) bool {
	return ev.Action == presence.Interval && ev.HereNowRefresh && ev.Occupancy < 0
}

// pump copies the backend's events into the log until Close. When the
// backend closes its subscription as a slow consumer it logs a gap, so
// clients resync instead of missing events, and subscribes again (retrying
// while the backend is unavailable).
func (h *Handler) pump(sub *presence.Subscription) {
	defer h.wg.Done()
	cache := groupCache{sets: map[string]groupSet{}}
	for {
		select {
		case <-h.done:
			sub.Close()
			return
		case ev, ok := <-sub.Events():
			if ok {
				h.logEvent(&cache, ev)
				continue
			}
			if !errors.Is(sub.Err(), presence.ErrSlowConsumer) {
				<-h.done // the backend is closed: nothing more will come
				return
			}
			h.log.addGap()
			if sub = h.resubscribe(); sub == nil {
				return
			}
		}
	}
}

// resubscribe subscribes to all of the backend's events again, retrying
// with a growing pause while the backend cannot answer. It returns nil
// when the handler or the backend is closed.
func (h *Handler) resubscribe() *presence.Subscription {
	pause := 50 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(h.ctx, h.opt.CallTimeout)
		sub, err := h.b.Subscribe(ctx, presence.SubscribeOptions{All: true})
		cancel()
		if err == nil {
			return sub
		}
		if errors.Is(err, presence.ErrClosed) {
			<-h.done
			return nil
		}
		t := time.NewTimer(pause)
		select {
		case <-h.done:
			t.Stop()
			return nil
		case <-t.C:
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// groupSet is the channels of one group as the event goroutine last read
// them.
type groupSet struct {
	chans map[string]struct{}
	at    time.Time // when read (real time: this is a cache of a store)
}

// groupCache remembers the channels of watched groups for the event
// goroutine. A set is read again after a group edit made through this
// handler, and otherwise after a second (edits made on the backend
// directly, or through another server sharing it).
type groupCache struct {
	sets    map[string]groupSet
	version uint64
}

// channels returns group g's channels, reading them from the backend when
// the cached set is stale. When the backend cannot answer it keeps the
// stale set.
func (h *Handler) groupChannels(c *groupCache, g string) map[string]struct{} {
	if v := h.groupVersion.Load(); v != c.version {
		clear(c.sets)
		c.version = v
	}
	old, ok := c.sets[g]
	if ok && time.Since(old.at) <= time.Second {
		return old.chans
	}
	ctx, cancel := context.WithTimeout(h.ctx, h.opt.CallTimeout)
	chans, err := h.b.GroupChannels(ctx, g)
	cancel()
	if err != nil {
		return old.chans
	}
	set := make(map[string]struct{}, len(chans))
	for _, ch := range chans {
		set[ch] = struct{}{}
	}
	c.sets[g] = groupSet{chans: set, at: time.Now()}
	return set
}

// logEvent tags ev with the watched groups that contain its channel and
// appends it to the log. The groups are looked up without the log's lock.
func (h *Handler) logEvent(cache *groupCache, ev presence.Event) {
	if isResyncMarker(&ev) {
		h.log.addGap()
		return
	}
	snapshot := h.log.watchedGroups(h.now(), 2*h.opt.PollTimeout+time.Minute)
	var tags []string
	for _, g := range snapshot {
		if _, in := h.groupChannels(cache, g)[ev.Channel]; in {
			tags = append(tags, g)
		}
	}
	for g := range cache.sets {
		if !contains(snapshot, g) {
			delete(cache.sets, g)
		}
	}
	h.log.addEvent(ev, tags, snapshot)
}

// poll is one held long-poll; evict is closed to end it early, and a
// parked poll (park.go) is signalled too.
type poll struct {
	evict  chan struct{}
	parked *parked // set while it is parked
}

// pollTable counts the held long-polls, per uuid and in all, and the
// parked ones among them.
type pollTable struct {
	mu      sync.Mutex
	byUUID  map[string][]*poll
	total   int
	parked  int        // polls attached and not detached
	closing bool       // the handler is closing: nothing more is parked
	idle    *sync.Cond // broadcast when parked falls to 0
}

func (t *pollTable) init() {
	t.byUUID = make(map[string][]*poll)
	t.idle = sync.NewCond(&t.mu)
}

// add registers a long-poll of uuid, ending its oldest one when uuid holds
// maxPer already. It fails when maxTotal polls are held.
func (t *pollTable) add(uuid string, maxPer, maxTotal int) (*poll, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.byUUID[uuid]
	if len(l) >= maxPer {
		close(l[0].evict)
		if pk := l[0].parked; pk != nil {
			pk.signal(sigEvict)
		}
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

// attach marks p as parked as pk. It reports false, attaching nothing,
// when p was evicted already or the handler is closing.
func (t *pollTable) attach(p *poll, pk *parked) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-p.evict:
		return false
	default:
	}
	if t.closing {
		return false
	}
	p.parked = pk
	t.parked++
	return true
}

// detach undoes attach, once the parked poll has ended.
func (t *pollTable) detach(p *poll) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p.parked == nil {
		return
	}
	p.parked = nil
	t.parked--
	if t.parked == 0 {
		t.idle.Broadcast()
	}
}

// closeParked makes every parked poll answer, refuses to park any more,
// and waits until the parked polls have ended.
func (t *pollTable) closeParked() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closing = true
	for _, l := range t.byUUID {
		for _, p := range l {
			if p.parked != nil {
				p.parked.signal(sigClose)
			}
		}
	}
	for t.parked > 0 {
		t.idle.Wait()
	}
}

// held returns the number of held long-polls.
func (t *pollTable) held() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total
}

// effectiveTimeout is the timeout the backend applies to a heartbeat
// asking for d.
func (h *Handler) effectiveTimeout(d time.Duration) time.Duration {
	c := h.cfg
	if d == 0 {
		d = c.DefaultTimeout
	}
	return max(c.MinTimeout, min(d, c.MaxTimeout))
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

// names returns the backend's naming rules, to check the presence names of
// a subscribe, which no backend call checks, without a round trip.
func (h *Handler) names() *rules.Rules {
	return &rules.Rules{
		MaxNameBytes:      h.cfg.MaxNameBytes,
		MaxNamesPerCall:   h.cfg.MaxNamesPerCall,
		MaxStateBytes:     h.cfg.MaxStateBytes,
		StrictNames:       h.cfg.StrictNames,
		ErrInvalidName:    presence.ErrInvalidName,
		ErrInvalidChannel: presence.ErrInvalidChannel,
		ErrInvalidGroup:   presence.ErrInvalidGroup,
		ErrInvalidUUID:    presence.ErrInvalidUUID,
		ErrTooManyNames:   presence.ErrTooManyNames,
		ErrInvalidState:   presence.ErrInvalidState,
		ErrStateTooLarge:  presence.ErrStateTooLarge,
	}
}

// parseSubscribe reads and validates a subscribe; it changes nothing.
// Names ending in -pnpres (channels or groups) select presence events; the
// others are joined.
func (h *Handler) parseSubscribe(req *request, groups []string) (*subscribeCall, error) {
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
	names := h.names()
	for _, c := range s.presChans {
		if err := names.CheckName("channel", c, true); err != nil {
			return nil, err
		}
	}
	for _, g := range s.presGroups {
		if err := names.CheckName("group", g, true); err != nil {
			return nil, err
		}
	}
	if !s.joins {
		if err := names.CheckName("uuid", s.hb.UUID, false); err != nil {
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
	s, err := h.parseSubscribe(req, groups)
	if err != nil {
		return err
	}
	h.log.watch(s.presGroups, h.now())
	cursor := s.tt
	if s.tt == 0 {
		// The handshake's cursor lies HandshakeReplay in the past, so that
		// the join of a heartbeat sent alongside it (the JS SDK does) and
		// the client's own join are delivered by its first long-poll.
		cursor = h.log.lastCursor()
		if h.opt.HandshakeReplay > 0 {
			cursor = h.log.cursorAt(timetoken(h.now().Add(-h.opt.HandshakeReplay)))
		}
	}
	if s.joins {
		ctx, cancel := context.WithTimeout(r.Context(), h.opt.CallTimeout)
		err := h.b.Heartbeat(ctx, s.hb)
		cancel()
		if err != nil {
			return err
		}
	}
	if s.tt == 0 {
		writeSubscribe(w, cursor, nil)
		return nil
	}
	select {
	case <-h.done:
		writeSubscribe(w, s.tt, nil)
		return nil
	default:
	}
	sel, err := h.selector(r.Context(), s)
	if err != nil {
		return err
	}
	p, err := h.poll.add(s.hb.UUID, h.opt.MaxPollsPerUUID, h.opt.MaxPolls)
	if err != nil {
		return err
	}
	if !h.hold(w, r, s, sel, p) {
		h.poll.remove(s.hb.UUID, p)
	}
	return nil
}

// selector builds what a long-poll receives. It reads the channels of the
// poll's groups whose log entries after the poll's cursor are not all
// tagged for them (a group no client here watched until now).
func (h *Handler) selector(ctx context.Context, s *subscribeCall) (*selector, error) {
	sel := &selector{chans: make(map[string]struct{}, len(s.presChans)), groups: s.presGroups}
	for _, c := range s.presChans {
		sel.chans[c] = struct{}{}
	}
	for _, g := range s.presGroups {
		if !h.log.needsSet(g, s.tt) {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, h.opt.CallTimeout)
		chans, err := h.b.GroupChannels(cctx, g)
		cancel()
		if err != nil {
			return nil, err
		}
		set := make(map[string]struct{}, len(chans))
		for _, c := range chans {
			set[c] = struct{}{}
		}
		if sel.sets == nil {
			sel.sets = make(map[string]map[string]struct{})
		}
		sel.sets[g] = set
	}
	return sel, nil
}

// hold answers a long-poll with the events after its cursor, waiting for
// them up to PollTimeout. It sleeps until an event of one of its channels
// or groups is logged (events of other channels do not wake it). While it
// waits it renews the heartbeat before the backend would expire it. It
// answers with no events and the newest cursor when the poll times out, is
// evicted or the handler closes, and not at all when the client has gone.
// On a connection accepted through Listen it parks the poll rather than
// wait, and reports true: the parked poll leaves the poll table when it
// ends.
func (h *Handler) hold(w http.ResponseWriter, r *http.Request, s *subscribeCall, sel *selector, p *poll) (parked bool) {
	ctx := r.Context()
	pc := parkConnOf(r)
	after := s.tt
	if pc != nil {
		// Parked, the poll waits without this goroutine (park.go).
		res, _ := h.log.read(after, h.opt.MaxMessages, sel, timetoken(h.now()), false)
		if res.resync || len(res.entries) > 0 {
			h.writeRead(ctx, w, s, &res)
			return false
		}
		if h.park(w, pc, s, sel, p, res.next) {
			return true
		}
		after = res.next
	}
	timer := time.NewTimer(h.opt.PollTimeout)
	defer timer.Stop()
	var refresh <-chan time.Time
	if s.joins {
		t := time.NewTicker(max(h.effectiveTimeout(s.hb.Timeout)/2, 250*time.Millisecond))
		defer t.Stop()
		refresh = t.C
	}
	for {
		res, wt := h.log.read(after, h.opt.MaxMessages, sel, timetoken(h.now()), true)
		if res.resync || len(res.entries) > 0 {
			h.writeRead(ctx, w, s, &res)
			return false
		}
		after = res.next
		if !h.wait(ctx, w, s, wt, &after, timer.C, refresh, p) {
			return false
		}
		h.wakeups.Add(1)
	}
}

// writeRead answers a long-poll with what it read: its entries, or the
// resync events.
func (h *Handler) writeRead(ctx context.Context, w http.ResponseWriter, s *subscribeCall, res *readResult) {
	if res.resync {
		writeSubscribe(w, res.next, h.resync(ctx, s.subKey, res.next, s.presChans, s.presGroups))
		return
	}
	msgs := make([]obj, len(res.entries))
	for i := range res.entries {
		msgs[i] = message(s.subKey, &res.entries[i].ev, res.subs[i])
	}
	writeSubscribe(w, res.next, msgs)
}

// wait waits for wt's entry. It reports true when one was logged (after
// is then the cursor to read from); otherwise it has answered the poll, or
// the client is gone, and reports false.
func (h *Handler) wait(ctx context.Context, w http.ResponseWriter, s *subscribeCall, wt *waiter, after *int64, timeout <-chan time.Time, refresh <-chan time.Time, p *poll) bool {
	end := func(answer bool) bool {
		*after = h.log.release(wt, *after)
		if answer {
			writeSubscribe(w, *after, nil)
		}
		return false
	}
	for {
		select {
		case <-wt.ch:
			*after = h.log.release(wt, *after)
			return true
		case <-refresh:
			hctx, cancel := context.WithTimeout(ctx, h.opt.CallTimeout)
			err := h.b.Heartbeat(hctx, s.hb)
			cancel()
			if errors.Is(err, presence.ErrClosed) {
				return end(true)
			}
		case <-timeout:
			return end(true)
		case <-p.evict:
			return end(true)
		case <-h.done:
			return end(true)
		case <-ctx.Done():
			return end(false) // the client is gone: nobody to answer
		}
	}
}

// resync builds the messages that tell a client to re-read here_now: one
// interval event with here_now_refresh per presence channel it follows.
func (h *Handler) resync(ctx context.Context, subKey string, cursor int64, presChans, presGroups []string) []obj {
	ctx, cancel := context.WithTimeout(ctx, h.opt.CallTimeout)
	defer cancel()
	now := h.now()
	var msgs []obj
	add := func(ch, b string) {
		occ, err := h.b.Occupancy(ctx, ch)
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
		chans, _ := h.b.GroupChannels(ctx, g)
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
// the payload PubNub sends for each presence action.
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
