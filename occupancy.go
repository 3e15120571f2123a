// occupancy.go holds the lock shards and the two indexes: channel → members
// (a dense member slice plus a uid → position map, so occupancy is a length
// and a page of occupants is a slice) and uuid → channels (for where_now).
// uuids are interned as uint32 uids so a membership costs a few words.
//
// Lock order: a uuid shard, then channel shards one at a time. Every change
// to a (channel, uuid) pair holds both, so the two indexes never disagree.

package presence

import (
	"encoding/json"
	"hash/maphash"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// member is one membership, stored in its channel's member slice.
type member struct {
	uuid     string
	deadline int64 // ns since the Unix epoch: present while now < deadline
	slot     int64 // expiry bucket holding it (timeout.go), noSlot while a sweep holds it
	uid      uint32
	bpos     int32 // position in that bucket
}

// channel is a channel with at least one member.
type channel struct {
	name    string
	idx     int32 // position in its shard's chans, as bucket entries name it
	dead    bool  // freed: pointers held by a sweep must not be used
	members []member
	index   map[uint32]int32  // uid → position in members
	states  map[uint32]string // uid → canonical state, only members with state
	iv      *intervalState    // non-nil in interval mode
	peak    int               // largest len(index) since it was last rebuilt
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

	buckets map[int64]*bucket // timeout.go
	bheap   bucketHeap
	ticks   tickHeap
	pending map[pendingKey]*pendingState
	pheap   pendingHeap

	nextDue atomic.Int64 // nothing in the shard is due before this (ns); read without mu
	_       [40]byte     // keep neighbouring shards' locks on separate cache lines
}

func (cs *chanShard) init(e *Engine) {
	cs.e = e
	cs.byName = make(map[string]*channel)
	cs.buckets = make(map[int64]*bucket)
	cs.pending = make(map[pendingKey]*pendingState)
	cs.nextDue.Store(math.MaxInt64)
}

// uuidEntry is an interned uuid with the channels it is present on.
type uuidEntry struct {
	name  string
	chans []*channel
}

// uuidShard owns the uuids whose name hashes to it. A uid is the shard's
// index in its top bits and the entry's position below.
type uuidShard struct {
	mu      sync.Mutex
	id      uint32
	byName  map[string]uint32
	entries []uuidEntry
	free    []uint32
	peak    int
	_       [40]byte
}

func (us *uuidShard) init(id uint32) {
	us.id = id
	us.byName = make(map[string]uint32)
}

func (e *Engine) chanShard(name string) *chanShard {
	return &e.shards[maphash.String(e.seed, name)&e.mask]
}

func (e *Engine) uuidShard(name string) *uuidShard {
	return &e.uuids[maphash.String(e.seed, name)&e.mask]
}

func (e *Engine) localBits() uint { return uint(32 - bitsLen(e.mask)) }

func (e *Engine) uuidShardOf(uid uint32) *uuidShard {
	return &e.uuids[uint64(uid)>>e.localBits()]
}

func bitsLen(m uint64) int {
	n := 0
	for ; m != 0; m >>= 1 {
		n++
	}
	return n
}

// lookup returns the uid and entry of name, or ok false. Caller holds mu.
func (us *uuidShard) lookup(e *Engine, name string) (uint32, *uuidEntry, bool) {
	uid, ok := us.byName[name]
	if !ok {
		return 0, nil, false
	}
	return uid, &us.entries[uid&(1<<e.localBits()-1)], true
}

// intern returns the uid and entry of name, creating them. The entry
// pointer is valid until mu is released. Caller holds mu.
func (us *uuidShard) intern(e *Engine, name string) (uint32, *uuidEntry) {
	if uid, ent, ok := us.lookup(e, name); ok {
		return uid, ent
	}
	var local uint32
	if n := len(us.free); n > 0 {
		local = us.free[n-1]
		us.free = us.free[:n-1]
	} else {
		local = uint32(len(us.entries))
		us.entries = append(us.entries, uuidEntry{})
	}
	uid := us.id<<e.localBits() | local
	us.entries[local] = uuidEntry{name: name}
	us.byName[name] = uid
	us.peak = max(us.peak, len(us.byName))
	return uid, &us.entries[local]
}

// release frees uid if its entry has no channel left. Caller holds mu.
func (us *uuidShard) release(e *Engine, uid uint32) {
	local := uid & (1<<e.localBits() - 1)
	ent := &us.entries[local]
	if len(ent.chans) > 0 {
		return
	}
	delete(us.byName, ent.name)
	*ent = uuidEntry{}
	switch {
	case len(us.byName) == 0:
		// everything left: give all memory back
		us.entries, us.free, us.peak = nil, nil, 0
		us.byName = make(map[string]uint32)
	default:
		us.free = append(us.free, local)
		if us.peak > 64 && len(us.byName) < us.peak/4 {
			us.byName = maps2(us.byName)
			us.peak = len(us.byName)
		}
	}
}

// maps2 copies m into a right-sized map: Go maps never shrink.
func maps2[K comparable, V any](m map[K]V) map[K]V {
	n := make(map[K]V, len(m))
	for k, v := range m {
		n[k] = v
	}
	return n
}

// nowTick is the time of one operation, as the clock gave it and in ns.
type nowTick struct {
	t  time.Time
	ns int64
}

func (e *Engine) now() nowTick {
	t := e.clock.Now()
	return nowTick{t: t, ns: t.UnixNano()}
}

// heartbeat applies a validated heartbeat.
func (e *Engine) heartbeat(uuid string, chans []string, states []stateArg, timeout int64) {
	if len(chans) == 0 {
		return
	}
	now := e.now()
	deadline := now.ns + timeout
	us := e.uuidShard(uuid)
	us.mu.Lock()
	uid, ent := us.intern(e, uuid)
	for i, c := range chans {
		var st stateArg
		if states != nil {
			st = states[i]
		}
		cs := e.chanShard(c)
		cs.mu.Lock()
		cs.beat(c, uid, ent, now, deadline, st)
		cs.mu.Unlock()
	}
	us.release(e, uid)
	us.mu.Unlock()
}

// beat refreshes or joins one membership. Caller holds the uuid shard and cs.
func (cs *chanShard) beat(c string, uid uint32, ent *uuidEntry, now nowTick, deadline int64, st stateArg) {
	e := cs.e
	ch := cs.byName[c]
	if ch != nil {
		if pos, ok := ch.index[uid]; ok {
			m := &ch.members[pos]
			if m.deadline > now.ns {
				cs.refresh(ch, m, deadline)
				if st.set && ch.states[uid] != st.val {
					ch.setState(uid, st.val)
					e.stateChange(cs, ch, ent.name, st.val, now)
				}
				return
			}
			// due but not yet swept: it timed out before this heartbeat
			ch = cs.remove(ch, pos, ent, Timeout, now)
		}
	}
	state := st.val
	if len(cs.pending) > 0 {
		if p, ok := cs.pending[pendingKey{c, ent.name}]; ok {
			if !st.set && p.expires > now.ns {
				state = p.val
			}
			cs.dropPending(p)
		}
	}
	if ch == nil {
		ch = cs.newChannel(c)
	}
	pos := int32(len(ch.members))
	ch.members = append(ch.members, member{uuid: ent.name, deadline: deadline, uid: uid})
	ch.index[uid] = pos
	ch.peak = max(ch.peak, len(ch.index))
	cs.bucketInsert(ch, &ch.members[pos])
	if state != "" {
		ch.setState(uid, state)
	}
	ent.chans = append(ent.chans, ch)
	cs.members++
	e.announce(cs, ch, Join, ent.name, state, now)
}

func (ch *channel) setState(uid uint32, st string) {
	if st == "" {
		delete(ch.states, uid)
		return
	}
	if ch.states == nil {
		ch.states = make(map[uint32]string)
	}
	ch.states[uid] = st
}

func (cs *chanShard) newChannel(name string) *channel {
	ch := &channel{name: name, index: make(map[uint32]int32, 1)}
	if n := len(cs.freeIdx); n > 0 {
		ch.idx = cs.freeIdx[n-1]
		cs.freeIdx = cs.freeIdx[:n-1]
		cs.chans[ch.idx] = ch
	} else {
		ch.idx = int32(len(cs.chans))
		cs.chans = append(cs.chans, ch)
	}
	cs.byName[name] = ch
	cs.peak = max(cs.peak, len(cs.byName))
	return ch
}

func (cs *chanShard) freeChannel(ch *channel) {
	ch.dead = true
	delete(cs.byName, ch.name)
	cs.chans[ch.idx] = nil
	if len(cs.byName) == 0 {
		cs.chans, cs.freeIdx, cs.peak = nil, nil, 0
		cs.byName = make(map[string]*channel)
		return
	}
	cs.freeIdx = append(cs.freeIdx, ch.idx)
	if cs.peak > 64 && len(cs.byName) < cs.peak/4 {
		cs.byName = maps2(cs.byName)
		cs.peak = len(cs.byName)
	}
}

// remove takes the member at pos out of ch with a leave or timeout event,
// and returns ch, or nil when ch became empty and was freed. Caller holds
// the member's uuid shard and cs.
func (cs *chanShard) remove(ch *channel, pos int32, ent *uuidEntry, action Action, now nowTick) *channel {
	m := ch.members[pos]
	if m.slot != noSlot {
		cs.bucketRemove(&m)
	}
	delete(ch.index, m.uid)
	last := int32(len(ch.members) - 1)
	if pos != last {
		ch.members[pos] = ch.members[last]
		ch.index[ch.members[pos].uid] = pos
	}
	ch.members[last] = member{}
	ch.members = ch.members[:last]
	if ch.states != nil {
		delete(ch.states, m.uid)
		if len(ch.states) == 0 {
			ch.states = nil
		}
	}
	if i := slices.Index(ent.chans, ch); i >= 0 {
		ent.chans[i] = ent.chans[len(ent.chans)-1]
		ent.chans[len(ent.chans)-1] = nil
		ent.chans = ent.chans[:len(ent.chans)-1]
		if len(ent.chans) == 0 {
			ent.chans = nil
		}
	}
	cs.members--
	cs.e.announce(cs, ch, action, m.uuid, "", now)
	if len(ch.members) == 0 {
		cs.freeChannel(ch)
		return nil
	}
	if ch.peak > 64 && len(ch.index) < ch.peak/4 {
		ch.index = maps2(ch.index)
		ch.members = slices.Clip(ch.members)
		ch.peak = len(ch.index)
	}
	return ch
}

// leave applies a validated leave.
func (e *Engine) leave(uuid string, chans []string) {
	if len(chans) == 0 {
		return
	}
	now := e.now()
	us := e.uuidShard(uuid)
	us.mu.Lock()
	defer us.mu.Unlock()
	uid, ent, known := us.lookup(e, uuid)
	for _, c := range chans {
		cs := e.chanShard(c)
		cs.mu.Lock()
		if known {
			if ch := cs.byName[c]; ch != nil {
				if pos, ok := ch.index[uid]; ok {
					action := Leave
					if ch.members[pos].deadline <= now.ns {
						action = Timeout
					}
					cs.remove(ch, pos, ent, action, now)
				}
			}
		}
		if len(cs.pending) > 0 {
			if p, ok := cs.pending[pendingKey{c, uuid}]; ok {
				cs.dropPending(p)
			}
		}
		cs.mu.Unlock()
	}
	if known {
		us.release(e, uid)
	}
}

// setState applies a validated SetState with canonical state st.
func (e *Engine) setState(uuid string, chans []string, st string) {
	if len(chans) == 0 {
		return
	}
	now := e.now()
	us := e.uuidShard(uuid)
	us.mu.Lock()
	defer us.mu.Unlock()
	uid, ent, known := us.lookup(e, uuid)
	for _, c := range chans {
		cs := e.chanShard(c)
		cs.mu.Lock()
		present := false
		if known {
			if ch := cs.byName[c]; ch != nil {
				if pos, ok := ch.index[uid]; ok {
					if ch.members[pos].deadline > now.ns {
						present = true
						ch.setState(uid, st)
						e.stateChange(cs, ch, uuid, st, now)
					} else {
						cs.remove(ch, pos, ent, Timeout, now)
					}
				}
			}
		}
		if !present {
			cs.setPending(pendingKey{c, uuid}, st, now.ns+int64(e.cfg.DefaultTimeout))
		}
		cs.mu.Unlock()
	}
	if known {
		us.release(e, uid)
	}
}

// getState reads uuid's present or pending state on chans.
func (e *Engine) getState(uuid string, chans []string) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage)
	now := e.now()
	us := e.uuidShard(uuid)
	us.mu.Lock()
	defer us.mu.Unlock()
	uid, _, known := us.lookup(e, uuid)
	for _, c := range chans {
		cs := e.chanShard(c)
		cs.mu.Lock()
		st, found := "", false
		if known {
			if ch := cs.byName[c]; ch != nil {
				if _, ok := ch.index[uid]; ok {
					st, found = ch.states[uid], true
				}
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
	us := e.uuidShard(uuid)
	us.mu.Lock()
	defer us.mu.Unlock()
	_, ent, ok := us.lookup(e, uuid)
	if !ok {
		return []string{}
	}
	out := make([]string, len(ent.chans))
	for i, ch := range ent.chans {
		out[i] = ch.name // names never change: no channel lock needed
	}
	return out
}

// occupancy returns the member count of channel c.
func (e *Engine) occupancy(c string) int {
	cs := e.chanShard(c)
	cs.mu.Lock()
	n := 0
	if ch := cs.byName[c]; ch != nil {
		n = len(ch.members)
	}
	cs.mu.Unlock()
	return n
}

// hereNow answers a validated query with Limit filled in.
func (e *Engine) hereNow(q HereNowQuery) (HereNowResult, error) {
	global := len(q.Channels) == 0 && len(q.Groups) == 0
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
			for _, ch := range cs.byName {
				res.Channels = append(res.Channels, ch.presence(q))
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
				cp = ch.presence(q)
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
		e.storeHereNow(key, res)
	}
	return res, nil
}

// presence renders one channel for q. Caller holds its shard.
func (ch *channel) presence(q HereNowQuery) ChannelPresence {
	cp := ChannelPresence{Channel: ch.name, Occupancy: len(ch.members)}
	if q.OccupancyOnly {
		return cp
	}
	lo := min(q.Offset, len(ch.members))
	hi := min(lo+q.Limit, len(ch.members))
	page := ch.members[lo:hi]
	cp.Occupants = make([]Occupant, len(page))
	for i := range page {
		cp.Occupants[i].UUID = page[i].uuid
		if q.IncludeState && ch.states != nil {
			if st := ch.states[page[i].uid]; st != "" {
				cp.Occupants[i].State = json.RawMessage(st)
			}
		}
	}
	return cp
}
