// announce.go turns membership changes into events: announce mode, where
// each join, leave and timeout is an event, and interval mode (PubNub's
// Announce Max), where a channel above AnnounceMax reports its occupancy and
// deltas every Interval instead. Events are produced under the channel's
// shard lock, which gives them their per-channel order, and handed to the
// Hub, which never blocks.

package presence

import (
	"container/heap"
	"encoding/json"
	"time"

	"github.com/presencekit/presence/internal/rules"
)

// maxDeltaBytes is the JSON size of an interval's deltas above which they
// are replaced by here_now_refresh.
const maxDeltaBytes = 30000

// intervalState is a channel's interval mode: the next tick and the
// changes since the last interval event.
type intervalState struct {
	next    int64 // engine time
	hidx    int
	deltas  []Delta
	size    int // JSON size of deltas, as deltaJSONSize counts it
	refresh bool
}

// record notes a change for the next interval event.
func (iv *intervalState) record(a Action, uuid string, keep bool) {
	if !keep || iv.refresh {
		return
	}
	iv.deltas = append(iv.deltas, Delta{Action: a, UUID: uuid})
	iv.size += rules.JSONStringLen(uuid) + 1
	if iv.size > maxDeltaBytes {
		iv.refresh, iv.deltas = true, nil
	}
}

type tickHeap []*channel

func (h tickHeap) Len() int           { return len(h) }
func (h tickHeap) Less(i, j int) bool { return h[i].iv.next < h[j].iv.next }
func (h tickHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].iv.hidx, h[j].iv.hidx = i, j
}
func (h *tickHeap) Push(x any) {
	ch := x.(*channel)
	ch.iv.hidx = len(*h)
	*h = append(*h, ch)
}
func (h *tickHeap) Pop() any {
	old := *h
	ch := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return ch
}

// announce reports a join, leave or timeout on ch, whose members already
// reflect it; deadline is the removed member's, in now.ns's units. Caller
// holds cs.mu.
func (e *Engine) announce(cs *chanShard, ch *channel, a Action, uuid, state string, deadline int64, now nowTick) {
	occ := ch.n
	if am := e.announceMax; am >= 0 {
		if ch.iv != nil {
			ch.iv.record(a, uuid, e.cfg.Deltas)
			if occ <= am {
				e.emitInterval(cs, ch, now)
				heap.Remove(&cs.ticks, ch.iv.hidx)
				if len(cs.ticks) == 0 {
					cs.ticks = nil
				}
				ch.iv = nil
			}
			return
		}
		if occ > am {
			ch.iv = &intervalState{next: satAdd(now.ns, int64(e.cfg.Interval))}
			ch.iv.record(a, uuid, e.cfg.Deltas)
			heap.Push(&cs.ticks, ch)
			cs.noteDue(ch.iv.next)
			return
		}
	}
	ev := Event{Action: a, Channel: ch.name, UUID: uuid, Occupancy: occ}
	if a == Timeout {
		ev.Deadline = now.t.Add(time.Duration(deadline - now.ns)) // keeps now.t's monotonic reading
	}
	if state != "" && e.hub.Active() {
		ev.State = json.RawMessage(state)
	}
	e.emit(ev, now)
}

// stateChange reports uuid's new state st ("" = cleared) on ch.
func (e *Engine) stateChange(ch *channel, uuid, st string, now nowTick) {
	ev := Event{Action: StateChange, Channel: ch.name, UUID: uuid, Occupancy: ch.n}
	if e.hub.Active() {
		if st == "" {
			st = "{}"
		}
		ev.State = json.RawMessage(st)
	}
	e.emit(ev, now)
}

// emitInterval reports ch's occupancy and pending deltas and resets them.
func (e *Engine) emitInterval(cs *chanShard, ch *channel, now nowTick) {
	iv := ch.iv
	ev := Event{Action: Interval, Channel: ch.name, Occupancy: ch.n}
	if e.cfg.Deltas {
		if iv.refresh || deltasJSONSize(iv.deltas) > maxDeltaBytes {
			ev.HereNowRefresh = true
		} else if len(iv.deltas) > 0 {
			ev.Deltas = iv.deltas
		}
	}
	iv.deltas, iv.size, iv.refresh = nil, 0, false
	e.emit(ev, now)
}

// emit stamps ev and hands it to the hub. Caller holds the channel's shard.
func (e *Engine) emit(ev Event, now nowTick) {
	ev.Timetoken = e.timetoken(now.t.UnixNano())
	e.events.Add(1)
	if !e.hub.Active() {
		return
	}
	ev.Time = now.t
	if e.hub.Grouped() {
		e.groups.mu.RLock()
		e.hub.Publish(ev, e.groups.ofChannel[ev.Channel])
		e.groups.mu.RUnlock()
		return
	}
	e.hub.Publish(ev, nil)
}

// timetoken returns the clock's time in 100 ns units, or the previous
// timetoken + 1 when that is not greater.
func (e *Engine) timetoken(ns int64) int64 {
	t := ns / 100
	for {
		last := e.lastTT.Load()
		n := max(t, last+1)
		if e.lastTT.CompareAndSwap(last, n) {
			return n
		}
	}
}

// deltasJSONSize is the length of the JSON of an interval event's deltas
// as PubNub's payload carries them (see rules.DeltaSize). Deltas whose
// Action is not Join, Leave or Timeout count for nothing.
func deltasJSONSize(ds []Delta) int {
	var size rules.DeltaSize
	for _, d := range ds {
		size.Add(int(d.Action-Join), d.UUID)
	}
	return size.Bytes()
}
