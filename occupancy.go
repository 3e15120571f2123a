// occupancy.go holds the lock shards and the two indexes: channel → members
// (each channel's member table, members.go, with its count kept apart so
// occupancy is a read) and uuid → channels (for where_now; it also interns
// each present uuid's name).
//
// Lock order: a uuid shard, then channel shards one at a time. A join or a
// removal holds both, so the two indexes never disagree. A refresh or a
// state change of a present member only touches its channel, and holds the
// channel shard alone.

package presence

import (
	"encoding/json"
	"hash/maphash"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// channel is a channel with at least one member.
type channel struct {
	name    string
	idx     int32             // position in its shard's chans, as bucket entries name it
	dead    bool              // freed: pointers held by a sweep must not be used
	members []member          // the member table (members.go)
	n       int               // members in the table
	states  map[string]string // uuid → canonical state, only members with state
	iv      *intervalState    // non-nil in interval mode
	count   atomic.Int32      // n, readable without the shard lock
}

// chanShard owns the channels whose name hashes to it, their expiry
// buckets, interval ticks and pending state.
type chanShard struct {
	mu      sync.Mutex
	e       *Engine
	byName  map[string]*channel
	chans   []*channel // by idx; nil where free
	freeIdx []int32
	members int
	peak    int // largest len(byName) since it was last rebuilt

	buckets map[int32]*bucket // timeout.go
	bheap   bucketHeap
	ticks   tickHeap
	pending map[pendingKey]*pendingState
	pheap   pendingHeap

	nextDue atomic.Int64 // nothing in the shard is due before this (ns); read without mu
	id      uint32       // position in e.shards

	// sweepMu serialises the sweeps of the shard: taken before mu for the
	// whole of a sweep, so a second sweep waits until the first has removed
	// what it took out of the buckets. No other path takes it.
	sweepMu sync.Mutex
	_       [28]byte // keep neighbouring shards' locks on separate cache lines
}

func (cs *chanShard) init(e *Engine, id int) {
	cs.e = e
	cs.id = uint32(id)
	cs.byName = make(map[string]*channel)
	cs.pending = make(map[pendingKey]*pendingState)
	cs.nextDue.Store(math.MaxInt64)
}

// chanRef names a channel with members as uuid entries hold it: its
// shard's position in the low bits (Engine.shardBits of them), its idx in
// that shard plus one above. It is never 0, and it holds no pointer, so the
// garbage collector does not follow a uuid's channels: at 1M memberships that
// is a million pointers fewer to mark in every cycle.
type chanRef uint32

// ref returns the chanRef of ch, a channel of cs.
func (cs *chanShard) ref(ch *channel) chanRef {
	return chanRef(uint32(ch.idx+1)<<cs.e.shardBits | cs.id)
}

// presentOn returns the name of the channel r names, and whether uuid
// (whose index tag is tag) is present there at now: not past its
// deadline. Caller holds the uuid shard of uuid, a member of the channel,
// so it cannot be freed; presentOn takes the channel's shard lock to read
// the shard's list of channels, and looks the member up only when
// something in the shard is due.
func (e *Engine) presentOn(r chanRef, tag uint32, uuid string, now int64) (string, bool) {
	cs := &e.shards[uint32(r)&uint32(e.mask)]
	cs.mu.Lock()
	ch := cs.chans[uint32(r)>>e.shardBits-1]
	present := true
	if cs.nextDue.Load() <= now {
		if pos := ch.find(tag, uuid); pos >= 0 && ch.members[pos].deadline <= now {
			present = false
		}
	}
	cs.mu.Unlock()
	return ch.name, present
}

// uuidEntry is a present uuid and the channels it is on: the first four
// in place (most users are on a few channels: no allocation, no slice
// header), the rest in more. The list is dense: inline fills first, 0 ends
// it.
type uuidEntry struct {
	name   string
	inline [4]chanRef
	more   *[]chanRef
}

// add appends r to the entry's channels.
func (u *uuidEntry) add(r chanRef) {
	for i := range u.inline {
		if u.inline[i] == 0 {
			u.inline[i] = r
			return
		}
	}
	if u.more == nil {
		u.more = new([]chanRef)
	}
	*u.more = append(*u.more, r)
}

// drop removes r, moving the last channel into its place, and reports
// whether the entry has no channel left.
func (u *uuidEntry) drop(r chanRef) (empty bool) {
	at := func(i int) *chanRef {
		if i < len(u.inline) {
			return &u.inline[i]
		}
		return &(*u.more)[i-len(u.inline)]
	}
	n := u.len()
	for i := range n {
		if p := at(i); *p == r {
			last := at(n - 1)
			*p, *last = *last, 0
			break
		}
	}
	if u.more != nil {
		if l := *u.more; len(l) > 0 && l[len(l)-1] == 0 {
			if *u.more = l[:len(l)-1]; len(*u.more) == 0 {
				u.more = nil
			}
		}
	}
	return u.inline[0] == 0
}

func (u *uuidEntry) len() int {
	if u.more != nil {
		return len(u.inline) + len(*u.more)
	}
	n := 0
	for n < len(u.inline) && u.inline[n] != 0 {
		n++
	}
	return n
}

// appendNames appends to dst the names of the entry's channels where it
// is present at now. Caller holds the entry's uuid shard.
func (u *uuidEntry) appendNames(e *Engine, dst []string, tag uint32, now int64) []string {
	add := func(r chanRef) {
		if name, ok := e.presentOn(r, tag, u.name, now); ok {
			dst = append(dst, name)
		}
	}
	for _, r := range u.inline {
		if r == 0 {
			return dst
		}
		add(r)
	}
	if u.more != nil {
		for _, r := range *u.more {
			add(r)
		}
	}
	return dst
}

// uuidShard owns the uuids whose name hashes to it: a dense slice of
// entries and a memberIndex from name to position, like a channel's members.
type uuidShard struct {
	mu      sync.Mutex
	index   memberIndex
	entries []uuidEntry
	_       [40]byte
}

func (e *Engine) hash(s string) uint64 { return maphash.String(e.seed, s) }

// tag is the memberIndex tag of a name.
func (e *Engine) tag(name string) uint32 { return uint32(e.hash(name) >> 32) }

func (e *Engine) chanShard(name string) *chanShard {
	return &e.shards[e.hash(name)&e.mask]
}

func (e *Engine) uuidShardOf(h uint64) *uuidShard { return &e.uuids[h&e.mask] }

// appendChannels appends to dst the names of the channels where uuid is
// present at now. Caller holds us.mu.
func (us *uuidShard) appendChannels(e *Engine, dst []string, tag uint32, uuid string, now int64) []string {
	if _, pos := find(&us.index, tag, uuid, us.entries); pos >= 0 {
		ent := &us.entries[pos]
		return ent.appendNames(e, slices.Grow(dst, ent.len()), tag, now)
	}
	return dst
}

// intern returns the shard's own string for uuid: the name of its entry
// when uuid is on a channel, else a copy. Every membership, state and
// event of a uuid then shares one string, and the caller's string (a
// request's, which may live on its stack or in a buffer it reuses) is
// never kept, so a heartbeat's request does not escape. Caller holds us.mu.
// It also returns the position of uuid's entry, or -1, for addChannel.
func (us *uuidShard) intern(tag uint32, uuid string) (string, int) {
	if _, pos := find(&us.index, tag, uuid, us.entries); pos >= 0 {
		return us.entries[pos].name, pos
	}
	return strings.Clone(uuid), -1
}

// addChannel records that uuid, the interned name, is now on the channel r,
// and returns the position of its entry. hint is where the entry was seen
// (-1: nowhere): it is used when the entry there still holds that very
// string, so a join does not look the uuid up twice. Caller holds us.mu.
func (us *uuidShard) addChannel(tag uint32, uuid string, r chanRef, hint int) int {
	pos := hint
	if pos < 0 || pos >= len(us.entries) || unsafe.StringData(us.entries[pos].name) != unsafe.StringData(uuid) {
		_, pos = find(&us.index, tag, uuid, us.entries)
	}
	if pos >= 0 {
		us.entries[pos].add(r)
		return pos
	}
	pos = len(us.entries)
	if pos == cap(us.entries) { // grow by a quarter: entries are a fifth of the memory
		us.entries = append(make([]uuidEntry, 0, pos+max(8, pos/4)), us.entries...)
	}
	us.entries = append(us.entries, uuidEntry{name: uuid, inline: [4]chanRef{r}})
	us.index.insert(tag, pos)
	return pos
}

// dropChannel records that uuid left the channel r, and forgets uuid when
// it was its last channel. Caller holds us.mu.
func (us *uuidShard) dropChannel(e *Engine, tag uint32, uuid string, r chanRef) {
	slot, pos := find(&us.index, tag, uuid, us.entries)
	if pos < 0 {
		return
	}
	if !us.entries[pos].drop(r) {
		return
	}
	us.entries, _ = removeAt(&us.index, slot, pos, us.entries, e.tag)
}

// sizedCopy copies m into a right-sized map: Go maps never shrink.
func sizedCopy[K comparable, V any](m map[K]V) map[K]V {
	n := make(map[K]V, len(m))
	for k, v := range m {
		n[k] = v
	}
	return n
}

// nowTick is the time of one operation: as the clock gave it, and in
// engine time.
//
// Engine time is nanoseconds since New, t.Sub(base): when both times carry
// a monotonic clock reading (the real clock's do) it is the monotonic
// difference, so a step of the system's wall clock moves no deadline; a
// mock clock's times carry none, and it is their wall difference. It
// saturates at about ±292 years. Every deadline, expiry, tick and cache
// time inside the engine is engine time; events carry the clock's own time
// and timetokens its wall time.
type nowTick struct {
	t  time.Time
	ns int64
}

func (e *Engine) now() nowTick { return e.tick(e.clock.Now()) }

// nowNS returns the engine time alone. On the real clock it reads only the
// monotonic clock (time.Since does), half the cost of time.Now, whose wall
// reading only events need.
func (e *Engine) nowNS() int64 {
	if e.mono {
		return int64(time.Since(e.base))
	}
	return e.now().ns
}

// tick returns t as a nowTick.
func (e *Engine) tick(t time.Time) nowTick { return nowTick{t: t, ns: int64(t.Sub(e.base))} }

// heartbeat applies a validated heartbeat. Members that are present are
// refreshed under their channel's lock alone; only joins (and timeouts found
// on the way) take the uuid shard too.
func (e *Engine) heartbeat(uuid string, chans []string, states []stateArg, timeout int64) {
	if len(chans) == 0 {
		return
	}
	// A refresh with no state gives no event and needs no wall time; a
	// join reads the clock again, in full, for its events.
	var now nowTick
	if states == nil {
		now.ns = e.nowNS()
	} else {
		now = e.now()
	}
	deadline := satAdd(now.ns, timeout)
	h := e.hash(uuid)
	tag := uint32(h >> 32)
	var joinBuf [8]int
	joins := joinBuf[:0]
	for i, c := range chans {
		var st stateArg
		if states != nil {
			st = states[i]
		}
		cs := e.chanShard(c)
		cs.mu.Lock()
		if !cs.refresh(c, uuid, tag, now, deadline, st) {
			joins = append(joins, i)
		}
		cs.mu.Unlock()
	}
	if len(joins) == 0 {
		return
	}
	if states == nil {
		// the refreshes read only the monotonic clock; events need the wall
		now = e.now()
		deadline = satAdd(now.ns, timeout)
	}
	e.joinAll(h, uuid, chans, joins, states, deadline, now, false) // names checked by the caller
}

// joinAll makes uuid (whose hash is h) a member of chans[i] until deadline
// for each i in joins, with states[i] when states is not nil. With check it
// first checks the uuid's name when the uuid is on no channel (one that is
// was checked when it joined), returning the error having changed nothing.
func (e *Engine) joinAll(h uint64, uuid string, chans []string, joins []int, states []stateArg, deadline int64, now nowTick, check bool) error {
	tag := uint32(h >> 32)
	us := e.uuidShardOf(h)
	us.mu.Lock()
	name, ent := us.intern(tag, uuid)
	if ent < 0 && check {
		// a uuid on a channel has a valid name: only a new one is checked
		if err := e.checkUUID(uuid); err != nil {
			us.mu.Unlock()
			return err
		}
	}
	for _, i := range joins {
		var st stateArg
		if states != nil {
			st = states[i]
		}
		cs := e.chanShard(chans[i])
		cs.mu.Lock()
		ent = cs.join(us, chans[i], name, tag, now, deadline, st, ent)
		cs.mu.Unlock()
	}
	us.mu.Unlock()
	return nil
}

// refresh moves the deadline of a present member of c and applies st,
// reporting false when uuid is absent or due (a join is needed). Caller
// holds cs.mu.
func (cs *chanShard) refresh(c, uuid string, tag uint32, now nowTick, deadline int64, st stateArg) bool {
	ch := cs.byName[c]
	if ch == nil {
		return false
	}
	pos := ch.find(tag, uuid)
	if pos < 0 || ch.members[pos].deadline <= now.ns {
		return false
	}
	cs.refreshAt(ch, pos, now, deadline, st)
	return true
}

// refreshAt moves the deadline of member pos of ch and applies st. It
// names the member by the string the channel holds, never the caller's.
func (cs *chanShard) refreshAt(ch *channel, pos int, now nowTick, deadline int64, st stateArg) {
	cs.moveDeadline(ch, pos, deadline)
	if uuid := ch.members[pos].uuid(); st.Set && ch.states[uuid] != st.Val {
		ch.setState(uuid, st.Val)
		cs.e.stateChange(ch, uuid, st.Val, now)
	}
}

// join makes uuid a member of c, timing out first a due membership still
// there, or refreshes it if it became present since the caller looked.
// uuid is the interned name (uuidShard.intern). Caller holds us.mu and
// cs.mu.
//
// ent is where uuid's entry was last seen in us.entries (-1: nowhere), a
// hint for addChannel; join returns it as it leaves it.
func (cs *chanShard) join(us *uuidShard, c, uuid string, tag uint32, now nowTick, deadline int64, st stateArg, ent int) int {
	e := cs.e
	ch := cs.byName[c]
	if ch != nil {
		if pos := ch.find(tag, uuid); pos >= 0 {
			if ch.members[pos].deadline > now.ns {
				cs.refreshAt(ch, pos, now, deadline, st)
				return ent
			}
			ch = cs.remove(us, ch, pos, tag, Timeout, now) // due but not yet swept
		}
	}
	state := st.Val
	if len(cs.pending) > 0 {
		if p, ok := cs.pending[pendingKey{c, uuid}]; ok {
			if !st.Set && p.expires > now.ns {
				state = p.val
			}
			cs.dropPending(p)
		}
	}
	if ch == nil {
		ch = cs.newChannel(c)
	}
	pos := ch.add(newMember(uuid, tag, deadline))
	ch.count.Store(int32(ch.n))
	cs.bucketInsert(ch, int32(pos))
	if state != "" {
		ch.setState(uuid, state)
	}
	ent = us.addChannel(tag, uuid, cs.ref(ch), ent)
	cs.members++
	e.announce(cs, ch, Join, uuid, state, 0, now)
	return ent
}

func (ch *channel) setState(uuid, st string) {
	if st == "" {
		delete(ch.states, uuid)
		if len(ch.states) == 0 {
			ch.states = nil
		}
		return
	}
	if ch.states == nil {
		ch.states = make(map[string]string)
	}
	ch.states[uuid] = st
}

func (cs *chanShard) newChannel(name string) *channel {
	ch := &channel{name: name}
	if n := len(cs.freeIdx); n > 0 {
		ch.idx = cs.freeIdx[n-1]
		cs.freeIdx = cs.freeIdx[:n-1]
		cs.chans[ch.idx] = ch
	} else {
		if len(cs.chans) >= math.MaxInt32>>cs.e.shardBits {
			// idx or a chanRef would overflow: 2^31 channels at once, hundreds
			// of gigabytes of them, so no engine gets here
			panic("presence: more than 2^31 channels in one engine")
		}
		ch.idx = int32(len(cs.chans))
		cs.chans = append(cs.chans, ch)
	}
	cs.byName[name] = ch
	cs.e.occupied.Store(name, ch)
	cs.peak = max(cs.peak, len(cs.byName))
	return ch
}

func (cs *chanShard) freeChannel(ch *channel) {
	ch.dead = true
	delete(cs.byName, ch.name)
	cs.e.occupied.Delete(ch.name)
	cs.chans[ch.idx] = nil
	if len(cs.byName) == 0 {
		cs.chans, cs.freeIdx, cs.peak = nil, nil, 0
		cs.byName = make(map[string]*channel)
		return
	}
	cs.freeIdx = append(cs.freeIdx, ch.idx)
	if cs.peak > 64 && len(cs.byName) < cs.peak/4 {
		cs.byName = sizedCopy(cs.byName)
		cs.peak = len(cs.byName)
	}
}

// remove takes the member at pos out of ch with a leave or timeout event,
// and returns ch, or nil when ch became empty and was freed. tag is the
// member's index tag. Caller holds us.mu (the member's uuid shard) and cs.mu.
func (cs *chanShard) remove(us *uuidShard, ch *channel, pos int, tag uint32, action Action, now nowTick) *channel {
	e := cs.e
	m := &ch.members[pos]
	uuid, deadline := m.uuid(), m.deadline
	if m.slot != noSlot {
		cs.bucketRemove(m)
	}
	ch.removeAt(pos)
	ch.count.Store(int32(ch.n))
	if ch.states != nil {
		ch.setState(uuid, "")
	}
	us.dropChannel(e, tag, uuid, cs.ref(ch))
	cs.members--
	e.announce(cs, ch, action, uuid, "", deadline, now)
	if ch.n == 0 {
		cs.freeChannel(ch)
		return nil
	}
	return ch
}

// leaveOne is Leave of one channel and no group when uuid is a member of
// c (present, or due and not yet swept) or has pending state there: it
// applies the leave before it checks any name, since names byte-equal to a
// member's or a pending state's were checked when those were made, by
// rules that do not change. It reports false, having changed nothing, when
// uuid has neither on c: the caller then checks the request and leaves as
// Leave does.
func (e *Engine) leaveOne(uuid, c string) bool {
	now := e.now()
	h := e.hash(uuid)
	tag := uint32(h >> 32)
	us := e.uuidShardOf(h)
	cs := e.chanShard(c)
	us.mu.Lock()
	cs.mu.Lock()
	done := cs.leave(us, c, uuid, tag, now)
	cs.mu.Unlock()
	us.mu.Unlock()
	if done {
		e.flushLog()
	}
	return done
}

// leave applies a validated leave.
func (e *Engine) leave(uuid string, chans []string) {
	if len(chans) == 0 {
		return
	}
	now := e.now()
	h := e.hash(uuid)
	tag := uint32(h >> 32)
	us := e.uuidShardOf(h)
	us.mu.Lock()
	defer us.mu.Unlock()
	for _, c := range chans {
		cs := e.chanShard(c)
		cs.mu.Lock()
		cs.leave(us, c, uuid, tag, now)
		cs.mu.Unlock()
	}
}

// leave removes uuid from c when it is a member (a leave event, or a
// timeout when it is due) and drops its pending state on c, reporting
// whether there was either. Caller holds us.mu and cs.mu.
func (cs *chanShard) leave(us *uuidShard, c, uuid string, tag uint32, now nowTick) bool {
	done := false
	if ch := cs.byName[c]; ch != nil {
		if pos := ch.find(tag, uuid); pos >= 0 {
			action := Leave
			if ch.members[pos].deadline <= now.ns {
				action = Timeout
			}
			cs.remove(us, ch, pos, tag, action, now)
			done = true
		}
	}
	if len(cs.pending) > 0 {
		if p, ok := cs.pending[pendingKey{c, uuid}]; ok {
			cs.dropPending(p)
			done = true
		}
	}
	return done
}

// setState applies a validated SetState with canonical state st.
func (e *Engine) setState(uuid string, chans []string, st string) {
	if len(chans) == 0 {
		return
	}
	now := e.now()
	h := e.hash(uuid)
	tag := uint32(h >> 32)
	us := e.uuidShardOf(h)
	us.mu.Lock()
	defer us.mu.Unlock()
	for _, c := range chans {
		cs := e.chanShard(c)
		cs.mu.Lock()
		present := false
		if ch := cs.byName[c]; ch != nil {
			if pos := ch.find(tag, uuid); pos >= 0 {
				if ch.members[pos].deadline > now.ns {
					present = true
					ch.setState(uuid, st)
					e.stateChange(ch, uuid, st, now)
				} else {
					cs.remove(us, ch, pos, tag, Timeout, now)
				}
			}
		}
		if !present {
			cs.setPending(pendingKey{c, uuid}, st, satAdd(now.ns, int64(e.cfg.DefaultTimeout)))
		}
		cs.mu.Unlock()
	}
}

// getState reads uuid's present or pending state on chans. A member past
// its deadline is not present: it has no state.
func (e *Engine) getState(uuid string, chans []string) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage)
	now := e.now()
	tag := e.tag(uuid)
	for _, c := range chans {
		cs := e.chanShard(c)
		cs.mu.Lock()
		st, found := "", false
		if ch := cs.byName[c]; ch != nil {
			if pos := ch.find(tag, uuid); pos >= 0 && ch.members[pos].deadline > now.ns {
				st, found = ch.states[uuid], true
			}
		}
		if !found && len(cs.pending) > 0 {
			if p, ok := cs.pending[pendingKey{c, uuid}]; ok && p.expires > now.ns {
				st = p.val
			}
		}
		cs.mu.Unlock()
		if st != "" {
			out[c] = json.RawMessage(st)
		}
	}
	return out
}

// whereNow lists the channels uuid is present on, unsorted.
func (e *Engine) whereNow(uuid string) []string {
	now := e.now()
	h := e.hash(uuid)
	us := e.uuidShardOf(h)
	us.mu.Lock()
	defer us.mu.Unlock()
	return us.appendChannels(e, []string{}, uint32(h>>32), uuid, now.ns)
}

// occupancy returns the member count of channel c without taking a lock:
// readers on every core share the cache lines they read. It counts the
// members not yet removed, those past their deadline that no sweep has
// removed yet included.
func (e *Engine) occupancy(c string) int {
	if v, ok := e.occupied.Load(c); ok {
		return int(v.(*channel).count.Load())
	}
	return 0
}

// hereNow answers a validated query with Limit filled in.
func (e *Engine) hereNow(q HereNowQuery) (HereNowResult, error) {
	global := len(q.Channels) == 0 && len(q.Groups) == 0
	now := e.now().ns
	var gen uint64
	if e.cache != nil {
		gen = e.cacheGen() // before the groups are expanded
	}
	var chans []string
	if !global {
		t, err := e.resolve(q.Channels, q.Groups)
		if err != nil {
			return HereNowResult{}, err
		}
		chans = t.channels
	}
	var key string
	if e.cache != nil {
		key = cacheKey(q)
		if r, ok := e.cachedHereNow(key); ok {
			return r, nil
		}
	}
	var res HereNowResult
	if global {
		for i := range e.shards {
			cs := &e.shards[i]
			cs.mu.Lock()
			due := cs.nextDue.Load() <= now
			for _, ch := range cs.byName {
				if cp := ch.presence(q, now, due); cp.Occupancy > 0 {
					res.Channels = append(res.Channels, cp)
				}
			}
			cs.mu.Unlock()
		}
		slices.SortFunc(res.Channels, func(a, b ChannelPresence) int {
			switch {
			case a.Channel < b.Channel:
				return -1
			case a.Channel > b.Channel:
				return 1
			}
			return 0
		})
	} else {
		res.Channels = make([]ChannelPresence, 0, len(chans))
		for _, c := range chans {
			cs := e.chanShard(c)
			cs.mu.Lock()
			var cp ChannelPresence
			if ch := cs.byName[c]; ch != nil {
				cp = ch.presence(q, now, cs.nextDue.Load() <= now)
			} else {
				cp = ChannelPresence{Channel: c}
				if !q.OccupancyOnly {
					cp.Occupants = []Occupant{}
				}
			}
			cs.mu.Unlock()
			res.Channels = append(res.Channels, cp)
		}
	}
	res.TotalChannels = len(res.Channels)
	for _, c := range res.Channels {
		res.TotalOccupancy += c.Occupancy
	}
	if e.cache != nil {
		e.storeHereNow(key, gen, res)
	}
	return res, nil
}

// presence renders one channel for q at now: the members not past their
// deadline. due says whether anything in the channel's shard may be due
// (its nextDue is not after now); when not, every member is present and a
// page reads the records up to its end, else every record. Caller holds
// the shard.
func (ch *channel) presence(q HereNowQuery, now int64, due bool) ChannelPresence {
	members := ch.members
	n := ch.n
	if due {
		n = 0
		for i := range members {
			if members[i].name != 0 && members[i].deadline > now {
				n++
			}
		}
		due = n < ch.n
	}
	cp := ChannelPresence{Channel: ch.name, Occupancy: n}
	if q.OccupancyOnly {
		return cp
	}
	lo := min(q.Offset, n)
	hi := min(lo+q.Limit, n)
	occ := make([]Occupant, hi-lo)
	k, j := 0, 0 // position among the present members, in occ
	for i := 0; i < len(members) && j < len(occ); i++ {
		if m := &members[i]; m.name != 0 && (!due || m.deadline > now) {
			if k >= lo {
				occ[j].UUID = m.uuid()
				j++
			}
			k++
		}
	}
	if q.IncludeState && ch.states != nil {
		for i := range occ {
			if st := ch.states[occ[i].UUID]; st != "" {
				occ[i].State = json.RawMessage(st)
			}
		}
	}
	cp.Occupants = occ
	return cp
}
