// timeout.go holds deadlines and expiry, and the interval ticks of channels
// in interval mode.
//
// Each channel shard files its memberships in buckets by deadline: bucket s
// holds the members whose deadline was in [s·res, (s+1)·res) when filed
// (res is 1 s of engine time, which counts from New). A heartbeat that
// moves a deadline later only writes the member's deadline; the member is
// refiled when its old bucket comes due, about once per timeout. A bucket
// keeps a lower bound of its deadlines, and a min-heap of buckets by slot
// gives the next one, so a sweep costs O(1) per shard when nothing is due
// and O(log n) amortised per expired membership.
//
// A sweep takes due members out of their buckets under the channel shard
// lock (hashing their uuids there), releases it, and then removes them
// grouped by uuid shard, each group under its uuid shard and the channel
// shard locks (the lock order), checking again that each is still due. The
// shard's sweep lock, held for the whole sweep, keeps a second sweep from
// finding the buckets empty and returning while the first still holds due
// members: when any sweep returns, everything due at its now is gone.

package presence

import (
	"container/heap"
	"math"
	"slices"
	"time"
)

const (
	noSlot = math.MinInt32
	res    = int64(time.Second)
)

// bucket holds the memberships of one slot as entry(channel idx, position).
type bucket struct {
	slot    int32
	min     int64 // no member in it has a deadline below this
	entries []uint64
	hidx    int
}

type bucketHeap []*bucket

func (h bucketHeap) Len() int           { return len(h) }
func (h bucketHeap) Less(i, j int) bool { return h[i].slot < h[j].slot }
func (h bucketHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}
func (h *bucketHeap) Push(x any) {
	b := x.(*bucket)
	b.hidx = len(*h)
	*h = append(*h, b)
}
func (h *bucketHeap) Pop() any {
	old := *h
	b := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return b
}

// slotOf returns the bucket slot of a deadline: its second of engine time,
// clamped to the int32 range (without noSlot). A clamped bucket is the
// first or the last of the heap, so the order of the heap stays the order
// of the deadlines.
func (cs *chanShard) slotOf(deadline int64) int32 {
	return int32(min(max(floorDiv(deadline, res), math.MinInt32+1), math.MaxInt32))
}

// entry names a member in a bucket: the idx of its channel in the shard and
// its tag. Records move in their table (members.go), so an entry does not
// hold a position: the member is the record of that tag, in that channel,
// whose slot and bpos are the entry's bucket and position in it.
func entry(idx int32, tag uint32) uint64 { return uint64(uint32(idx))<<32 | uint64(tag) }

// member returns the channel and position of the member that entry ent at
// position bpos of the bucket of slot names.
func (cs *chanShard) member(ent uint64, slot, bpos int32) (*channel, int32) {
	ch := cs.chans[ent>>32]
	tag := uint32(ent)
	for i := ch.home(tag); ; i = ch.next(i) {
		m := &ch.members[i]
		if m.name == 0 {
			panic("presence: an expiry bucket names a member its channel does not hold")
		}
		if m.tag == tag && m.slot == slot && m.bpos == bpos {
			return ch, int32(i)
		}
	}
}

// satAdd returns a+b, saturated at the int64 range instead of wrapping:
// the engine's times (ns) plus a duration never overflow.
func satAdd(a, b int64) int64 {
	c := a + b
	if (c > a) != (b > 0) {
		if b > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return c
}

// nextTick returns the first time after now on the grid next + k·step
// (k ≥ 0), saturated at math.MaxInt64. step is positive.
func nextTick(next, now, step int64) int64 {
	if next > now {
		return next
	}
	k := (uint64(now)-uint64(next))/uint64(step) + 1 // now ≥ next: the difference fits
	if k > uint64(math.MaxInt64/step) {
		return math.MaxInt64
	}
	return satAdd(next, int64(k)*step)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// noteDue lowers the shard's next due time to t. Caller holds cs.mu.
func (cs *chanShard) noteDue(t int64) {
	if t < cs.nextDue.Load() {
		cs.nextDue.Store(t)
	}
}

// bucketInsert files member pos of ch in the bucket of its deadline.
func (cs *chanShard) bucketInsert(ch *channel, pos int32) {
	m := &ch.members[pos]
	slot := cs.slotOf(m.deadline)
	b := cs.buckets[slot]
	if b == nil {
		b = &bucket{slot: slot, min: m.deadline}
		if cs.buckets == nil {
			cs.buckets = make(map[int32]*bucket)
		}
		cs.buckets[slot] = b
		heap.Push(&cs.bheap, b)
	}
	b.min = min(b.min, m.deadline)
	m.slot = slot
	m.bpos = int32(len(b.entries))
	if len(b.entries) == cap(b.entries) { // grow by a quarter, as member slices do
		b.entries = append(make([]uint64, 0, len(b.entries)+max(8, len(b.entries)/4)), b.entries...)
	}
	b.entries = append(b.entries, entry(ch.idx, m.tag))
	cs.noteDue(b.min)
}

// bucketRemove takes m out of its bucket, fixing the position of the entry
// moved into its place.
func (cs *chanShard) bucketRemove(m *member) {
	b := cs.buckets[m.slot]
	last := len(b.entries) - 1
	if int(m.bpos) != last {
		moved := b.entries[last]
		mc, mp := cs.member(moved, b.slot, int32(last))
		b.entries[m.bpos] = moved
		mc.members[mp].bpos = m.bpos
	}
	b.entries = b.entries[:last]
	if last == 0 {
		heap.Remove(&cs.bheap, b.hidx)
		cs.dropBucket(b)
	}
}

// dropBucket forgets b, which has left the heap; with the last bucket go
// the map and the heap's array (Go maps never shrink).
func (cs *chanShard) dropBucket(b *bucket) {
	delete(cs.buckets, b.slot)
	if len(cs.bheap) == 0 {
		cs.buckets, cs.bheap = nil, nil
	}
}

// moveDeadline moves the deadline of member pos of ch. A later deadline is
// only written: a member's bucket is never later than its deadline's, and
// the bucket's min stays a lower bound. An earlier one refiles the member
// at once so it is not found late.
func (cs *chanShard) moveDeadline(ch *channel, pos int, deadline int64) {
	m := &ch.members[pos]
	later := deadline >= m.deadline
	m.deadline = deadline
	if later || m.slot == noSlot { // noSlot: a sweep holds it and will look again
		return
	}
	if s := cs.slotOf(deadline); s < m.slot {
		cs.bucketRemove(m)
		cs.bucketInsert(ch, int32(pos))
	} else {
		b := cs.buckets[m.slot]
		b.min = min(b.min, deadline)
		cs.noteDue(b.min)
	}
}

// candidate is a membership a sweep found due, with the hash of its uuid.
type candidate struct {
	ch   *channel
	uuid string
	h    uint64
}

// dueShards returns the shards with something due at now (ns).
func (e *Engine) dueShards(now int64) []*chanShard {
	var due []*chanShard
	for i := range e.shards {
		if cs := &e.shards[i]; cs.nextDue.Load() <= now {
			due = append(due, cs)
		}
	}
	return due
}

// sweepBuf is a sweep worker's scratch space, reused from shard to shard
// so that a burst of expiries does not allocate its lists again for every
// shard.
type sweepBuf struct {
	due, byUUID []candidate // the due members, as found and by uuid shard
	end         []int       // end[i]: where uuid shard i's run ends in byUUID

	expired, ticks int // memberships timed out and interval events, for the log and OnSweep
}

// groupByUUIDShard returns cands ordered by uuid shard, each shard's in the
// order found (a counting sort into b.byUUID); uuid shard i's run ends at
// b.end[i] and begins where shard i-1's ends.
func (b *sweepBuf) groupByUUIDShard(e *Engine, cands []candidate) []candidate {
	n := len(e.uuids)
	b.end = slices.Grow(b.end[:0], n)[:n]
	clear(b.end)
	for _, c := range cands {
		b.end[c.h&e.mask]++ // count
	}
	begin := 0
	for i, k := range b.end {
		b.end[i] = begin // where shard i's run begins, then the cursor
		begin += k
	}
	b.byUUID = slices.Grow(b.byUUID[:0], len(cands))[:len(cands)]
	for _, c := range cands {
		s := c.h & e.mask
		b.byUUID[b.end[s]] = c
		b.end[s]++
	}
	return b.byUUID
}

// sweep expires what is due at now in cs, then emits its due interval
// events and drops its expired pending state. buf is the worker's scratch
// space.
func (cs *chanShard) sweep(now nowTick, buf *sweepBuf) {
	e := cs.e
	cs.sweepMu.Lock()
	defer cs.sweepMu.Unlock()
	cs.mu.Lock()
	cands := buf.due[:0]
	for len(cs.bheap) > 0 {
		b := cs.bheap[0]
		if b.min > now.ns {
			break
		}
		w := 0
		newMin := int64(math.MaxInt64)
		for k, ent := range b.entries {
			// entries before k have moved to w or left, so the member of
			// entry k still has bpos k
			ch, pos := cs.member(ent, b.slot, int32(k))
			m := &ch.members[pos]
			switch {
			case m.deadline <= now.ns:
				m.slot = noSlot
				// hashing here, in a loop without locked instructions, lets
				// the reads of consecutive uuids overlap
				u := m.uuid()
				cands = append(cands, candidate{ch, u, e.hash(u)})
			case cs.slotOf(m.deadline) != b.slot:
				cs.bucketInsert(ch, pos) // a later bucket: b stays the heap's top
			default:
				b.entries[w] = ent
				m.bpos = int32(w)
				w++
				newMin = min(newMin, m.deadline)
			}
		}
		clear(b.entries[w:])
		b.entries = b.entries[:w]
		if w == 0 {
			heap.Pop(&cs.bheap)
			cs.dropBucket(b)
		} else {
			b.min = newMin
		}
	}
	cs.mu.Unlock()

	cs.removeDue(cands, buf, now)
	clear(cands) // drop the references until the next shard
	buf.due = cands

	cs.mu.Lock()
	// each channel ticks at most once per sweep: ticks missed by a late
	// sweep are one event, and the loop ends even at saturated times
	for n := len(cs.ticks); n > 0 && len(cs.ticks) > 0 && cs.ticks[0].iv.next <= now.ns; n-- {
		ch := cs.ticks[0]
		e.emitInterval(cs, ch, now)
		buf.ticks++
		ch.iv.next = nextTick(ch.iv.next, now.ns, int64(e.cfg.Interval))
		heap.Fix(&cs.ticks, 0)
	}
	for len(cs.pheap) > 0 && cs.pheap[0].expires <= now.ns {
		cs.dropPending(cs.pheap[0])
	}
	next := int64(math.MaxInt64)
	if len(cs.bheap) > 0 {
		next = cs.bheap[0].min
	}
	if len(cs.ticks) > 0 {
		next = min(next, cs.ticks[0].iv.next)
	}
	if len(cs.pheap) > 0 {
		next = min(next, cs.pheap[0].expires)
	}
	cs.nextDue.Store(next)
	cs.mu.Unlock()
}

// removeDue is phase two of a sweep: it removes the candidates that are
// still due and refiles those refreshed since phase one. It takes the locks
// once per uuid shard rather than once per member: fewer locked
// instructions, and between them the lookups of consecutive members can
// overlap.
func (cs *chanShard) removeDue(cands []candidate, buf *sweepBuf, now nowTick) {
	if len(cands) == 0 {
		return // a sweep that only refiled: no grouping over every uuid shard
	}
	e := cs.e
	byUUID := buf.groupByUUIDShard(e, cands)
	lo := 0
	for i, hi := range buf.end {
		run := byUUID[lo:hi]
		if lo = hi; len(run) == 0 {
			continue
		}
		us := &e.uuids[i]
		us.mu.Lock()
		cs.mu.Lock()
		for _, c := range run {
			if c.ch.dead {
				continue
			}
			tag := uint32(c.h >> 32)
			if pos := c.ch.find(tag, c.uuid); pos >= 0 {
				m := &c.ch.members[pos]
				switch {
				case m.deadline <= now.ns:
					cs.remove(us, c.ch, pos, tag, Timeout, now)
					buf.expired++
				case m.slot == noSlot:
					cs.bucketInsert(c.ch, int32(pos)) // refreshed since phase one
				}
			}
		}
		cs.mu.Unlock()
		us.mu.Unlock()
	}
	clear(byUUID)
}

// setPending keeps st as uuid's pending state on a channel until expires;
// "" drops it.
func (cs *chanShard) setPending(k pendingKey, st string, expires int64) {
	p := cs.pending[k]
	if st == "" {
		if p != nil {
			cs.dropPending(p)
		}
		return
	}
	if p == nil {
		p = &pendingState{key: k}
		cs.pending[k] = p
		p.val, p.expires = st, expires
		heap.Push(&cs.pheap, p)
	} else {
		p.val, p.expires = st, expires
		heap.Fix(&cs.pheap, p.hidx)
	}
	cs.noteDue(expires)
}

func (cs *chanShard) dropPending(p *pendingState) {
	heap.Remove(&cs.pheap, p.hidx)
	delete(cs.pending, p.key)
	if len(cs.pending) == 0 {
		cs.pending = make(map[pendingKey]*pendingState)
		cs.pheap = nil
	}
}
