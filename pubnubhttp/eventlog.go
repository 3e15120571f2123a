// eventlog.go holds the event log that subscribe long-polls read: a bounded
// ring of the backend's presence events indexed by cursor, the groups some
// client watches (so that entries are tagged with them), and the index of
// the long-polls waiting for entries, by channel and by group, so that an
// entry wakes only the polls it concerns.
//
// Cursors. The envelope's t.t is a cursor into the log. An event's cursor is
// its own timetoken when that is above the newest cursor, otherwise the
// newest cursor + 1, so cursors are strictly increasing in log order and are
// 17-digit timetokens. With a backend whose timetokens increase in the
// order its events are delivered (the in-memory engine; the Redis backend
// with one partition, its default on a single server or Sentinel) every
// event's cursor is its timetoken, the same on every server reading the
// same event history: a client can resume on another server with the
// cursor one gave it, and receives exactly the events after it.
//
// A client whose cursor fell out of the ring, lies too far ahead of it, or
// precedes a gap (events this server could not log: its subscription was
// closed as a slow consumer, or the backend sent a resync marker) is told
// to resync: it receives one interval event with here_now_refresh:true per
// presence channel it follows, and the current cursor. Nothing is dropped
// silently.

package pubnubhttp

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/presencekit/presence"
)

// cursorSkew is how far a cursor may lie ahead of the log (and of this
// server's clock) and still be read as a position in the shared event
// history: another server reading the same backend may have logged an event
// this one has not read yet, or produced it with a clock slightly ahead. A
// cursor further ahead is not one of ours: the client resyncs.
const cursorSkew = 10 * time.Second

// pending is the since of a watched group that no entry has been tagged
// for yet.
const pending = math.MaxInt64

// entry is one logged event, or a gap marker.
type entry struct {
	cursor int64
	gap    bool
	ev     presence.Event
	groups []string // the watched groups that held ev.Channel when it was logged
}

// watch is a group some client subscribed to as "<group>-pnpres".
type watch struct {
	seen  time.Time // the last subscribe naming it, by the backend's clock
	since int64     // entries with a cursor above it are tagged for the group; pending until one is
}

// waiter is one long-poll waiting for an entry that concerns it.
type waiter struct {
	ch     chan struct{} // closed at the first entry that may concern it (a held poll's)
	wake   *parked       // signalled instead, for a parked poll's
	hit    int64         // that entry's cursor; 0 while none
	chans  []string      // the channels it is indexed by
	groups []string      // the groups it is indexed by
}

// selector is what a long-poll receives: the events of its presence
// channels, and of the channels of its presence groups.
type selector struct {
	chans  map[string]struct{}
	groups []string // in the order named: the first that matches is the event's subscription match
	// sets holds, for groups whose entries are not all tagged after the
	// poll's cursor, the group's channels when the poll started; they
	// select the entries logged before the group was watched here.
	sets map[string]map[string]struct{}
}

// eventLog is a ring of entries in cursor order, with the watched groups
// and the waiting long-polls under the same lock.
type eventLog struct {
	mu        sync.Mutex
	ring      []entry // grows by doubling up to size entries
	size      int
	head, n   int
	last      int64 // cursor of the newest entry, or the base when empty
	evicted   int64 // newest cursor no longer held (the base at start)
	watched   map[string]*watch
	waiters   map[*waiter]struct{}
	byChannel map[string]map[*waiter]struct{}
	byGroup   map[string]map[*waiter]struct{}
}

func newEventLog(size int, base int64) *eventLog {
	return &eventLog{
		ring:      make([]entry, min(size, 64)),
		size:      size,
		last:      base,
		evicted:   base,
		watched:   make(map[string]*watch),
		waiters:   make(map[*waiter]struct{}),
		byChannel: make(map[string]map[*waiter]struct{}),
		byGroup:   make(map[string]map[*waiter]struct{}),
	}
}

func (l *eventLog) at(i int) *entry { return &l.ring[(l.head+i)%len(l.ring)] }

// appendLocked adds e with the next cursor after tt and wakes the waiters
// it may concern: those of its channel and of its groups, or every one for
// a gap. Caller holds l.mu.
func (l *eventLog) appendLocked(e entry, tt int64) {
	e.cursor = max(tt, l.last+1)
	l.last = e.cursor
	if l.n == len(l.ring) && l.n < l.size {
		// Grow rather than allocate size entries up front: a server that
		// logs few events keeps a small ring.
		ring := make([]entry, min(2*len(l.ring), l.size))
		for i := range l.n {
			ring[i] = *l.at(i)
		}
		l.ring, l.head = ring, 0
	}
	if l.n == len(l.ring) {
		l.evicted = l.ring[l.head].cursor
		l.ring[l.head] = entry{}
		l.head = (l.head + 1) % len(l.ring)
		l.n--
	}
	l.ring[(l.head+l.n)%len(l.ring)] = e
	l.n++
	if e.gap {
		for w := range l.waiters {
			l.hitLocked(w, e.cursor)
		}
		return
	}
	for w := range l.byChannel[e.ev.Channel] {
		l.hitLocked(w, e.cursor)
	}
	for _, g := range e.groups {
		for w := range l.byGroup[g] {
			l.hitLocked(w, e.cursor)
		}
	}
}

// addEvent logs ev tagged with tags, the groups of snapshot (the watched
// groups the caller looked up) that contain its channel. Groups of
// snapshot whose entries were not tagged yet are tagged from this one on.
func (l *eventLog) addEvent(ev presence.Event, tags, snapshot []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, g := range snapshot {
		if w := l.watched[g]; w != nil && w.since == pending {
			w.since = l.last
		}
	}
	l.appendLocked(entry{ev: ev, groups: tags}, ev.Timetoken)
}

// addGap logs a gap: every waiting long-poll wakes and resyncs.
func (l *eventLog) addGap() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.appendLocked(entry{gap: true}, 0)
}

// hitLocked wakes w for the entry at cursor, once, and takes it out of the
// index.
func (l *eventLog) hitLocked(w *waiter, cursor int64) {
	if w.hit != 0 {
		return
	}
	w.hit = cursor
	if w.wake != nil {
		w.wake.signal(sigHit)
	} else {
		close(w.ch)
	}
	l.unregisterLocked(w)
}

func (l *eventLog) unregisterLocked(w *waiter) {
	if _, ok := l.waiters[w]; !ok {
		return
	}
	delete(l.waiters, w)
	for _, c := range w.chans {
		if set := l.byChannel[c]; set != nil {
			delete(set, w)
			if len(set) == 0 {
				delete(l.byChannel, c)
			}
		}
	}
	for _, g := range w.groups {
		if set := l.byGroup[g]; set != nil {
			delete(set, w)
			if len(set) == 0 {
				delete(l.byGroup, g)
			}
		}
	}
}

// cursorAt returns the cursor from which a handshake at time threshold
// reads: that of the newest entry not after threshold, or the cursor before
// the oldest entry held when every entry is newer.
func (l *eventLog) cursorAt(threshold int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := sort.Search(l.n, func(i int) bool { return l.at(i).cursor > threshold })
	if i == 0 {
		return l.evicted
	}
	return l.at(i - 1).cursor
}

// lastCursor returns the cursor of the newest entry.
func (l *eventLog) lastCursor() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// waiting returns the number of registered waiters.
func (l *eventLog) waiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.waiters)
}

// watch marks groups as watched at now.
func (l *eventLog) watch(groups []string, now time.Time) {
	if len(groups) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, g := range groups {
		if w := l.watched[g]; w != nil {
			w.seen = now
		} else {
			l.watched[g] = &watch{seen: now, since: pending}
		}
	}
}

// needsSet reports whether a long-poll on group g reading after cursor
// after needs the group's channels: some entry after it is not tagged for
// g.
func (l *eventLog) needsSet(g string, after int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.watched[g]
	return w == nil || w.since > after
}

// watchedGroups returns the groups watched now, forgetting those no
// subscribe named for longer than idle.
func (l *eventLog) watchedGroups(now time.Time, idle time.Duration) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.watched) == 0 {
		return nil
	}
	out := make([]string, 0, len(l.watched))
	for g, w := range l.watched {
		if now.Sub(w.seen) > idle {
			delete(l.watched, g)
			continue
		}
		out = append(out, g)
	}
	return out
}

// matchLocked says whether s receives e, and with which subscription match
// ("b"): a channel of its own, else the first of its groups that held the
// channel (by the entry's tags when it was tagged for the group, else by
// the group's channels when the poll started).
func (l *eventLog) matchLocked(s *selector, e *entry) (string, bool) {
	if _, ok := s.chans[e.ev.Channel]; ok {
		return e.ev.Channel + pnpres, true
	}
	for _, g := range s.groups {
		if w := l.watched[g]; w != nil && e.cursor > w.since {
			if contains(e.groups, g) {
				return g + pnpres, true
			}
			continue
		}
		if _, ok := s.sets[g][e.ev.Channel]; ok {
			return g + pnpres, true
		}
	}
	return "", false
}

// readResult is what a long-poll reads from the log.
type readResult struct {
	entries []entry
	subs    []string // the subscription match of each entry
	next    int64    // the cursor to answer with, or to wait from
	resync  bool     // the client must resync; next is the newest cursor
}

// read returns the entries after cursor after that s receives (at most
// limit). When there are none and wait is true, it also registers a waiter
// for the entries that may concern s, in the same step, so none is missed;
// the caller must pass it to release. now is this server's clock, as a
// timetoken.
func (l *eventLog) read(after int64, limit int, s *selector, now int64, wait bool) (readResult, *waiter) {
	var w *waiter
	if wait {
		w = &waiter{ch: make(chan struct{})}
	}
	return l.readWaiter(after, limit, s, now, w)
}

// readWaiter is read that registers w, when not nil, as the waiter, and
// returns it when it was registered.
func (l *eventLog) readWaiter(after int64, limit int, s *selector, now int64, w *waiter) (readResult, *waiter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ahead := max(l.last, now) + int64(cursorSkew/100)
	if after < l.evicted || after > ahead {
		return readResult{next: l.last, resync: true}, nil
	}
	var res readResult
	res.next = after
	for i := sort.Search(l.n, func(i int) bool { return l.at(i).cursor > after }); i < l.n && len(res.entries) < limit; i++ {
		e := l.at(i)
		if e.gap {
			return readResult{next: l.last, resync: true}, nil
		}
		res.next = e.cursor
		if b, ok := l.matchLocked(s, e); ok {
			res.entries = append(res.entries, *e)
			res.subs = append(res.subs, b)
		}
	}
	if len(res.entries) > 0 || w == nil {
		return res, nil
	}
	w.groups = s.groups
	for c := range s.chans {
		w.chans = append(w.chans, c)
	}
	for _, set := range s.sets {
		for c := range set {
			if _, ok := s.chans[c]; !ok {
				w.chans = append(w.chans, c)
			}
		}
	}
	l.waiters[w] = struct{}{}
	for _, c := range w.chans {
		set := l.byChannel[c]
		if set == nil {
			set = make(map[*waiter]struct{})
			l.byChannel[c] = set
		}
		set[w] = struct{}{}
	}
	for _, g := range w.groups {
		set := l.byGroup[g]
		if set == nil {
			set = make(map[*waiter]struct{})
			l.byGroup[g] = set
		}
		set[w] = struct{}{}
	}
	return res, w
}

// release unregisters w, which read registered at cursor after, and
// returns the cursor to go on from: no entry between after and it
// concerns the poll. Without a hit that is the newest cursor (every entry
// logged since concerns other polls); with one, the cursor before the hit.
func (l *eventLog) release(w *waiter, after int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.hit == 0 {
		l.unregisterLocked(w)
		return max(after, l.last)
	}
	return max(after, w.hit-1)
}
