// members.go holds a channel's members: an open-addressing table of
// 32-byte member records without pointers, with linear probing and
// backward-shift deletion, sized to 1.33 to 1.71 records per member. The record is where
// a lookup lands: its tag, its uuid and its deadline are in one cache
// line, so a refresh of a present member reads one record (and the uuid's
// bytes to compare them), not an index slot and then a member.
//
// Records move (a deletion shifts the records after it back, a resize
// places them all again), so nothing outside the table holds a record's
// position across a change of the table: expiry buckets name a member by
// its channel and tag and find it by its bucket position (timeout.go).

package presence

import "unsafe"

// member is one membership, a record of its channel's member table.
//
// A record holds no pointer: name is the address of the uuid's bytes as a
// uintptr, so member tables are memory the garbage collector never scans
// (at 1M memberships that halves a collection's marking: BENCHMARKS.md,
// BenchmarkCollect). The bytes are those of the uuid shard's interned
// string, which its uuidEntry holds, and so keeps alive, for as long as
// the uuid is on any channel: a record is removed before its uuid's entry
// can be (chanShard.remove), and a join holds the string, then adds the
// entry, while it adds the record (joinAll). The Go collector does not
// move heap objects, so the address stays valid while the entry holds it.
// TestMemberNamesSurviveCollection checks this under collections.
type member struct {
	name     uintptr // the uuid's bytes (the uuid shard's interned string); 0: an empty record
	n        uint32  // the uuid's length
	tag      uint32  // the uuid's index tag
	deadline int64   // engine time (nowTick): present while now < deadline
	slot     int32   // expiry bucket holding it (timeout.go), noSlot while a sweep holds it
	bpos     int32   // position in that bucket
}

// newMember returns the record of uuid, which must be the interned string:
// the record keeps its bytes.
func newMember(uuid string, tag uint32, deadline int64) member {
	return member{name: uintptr(unsafe.Pointer(unsafe.StringData(uuid))), n: uint32(len(uuid)), tag: tag, deadline: deadline}
}

// uuid returns the member's uuid: the interned string, read through the
// address the record keeps (see member).
func (m *member) uuid() string { return unsafe.String(*(**byte)(unsafe.Pointer(&m.name)), m.n) }

// home is the record where a tag's probe starts (Lemire's fast range).
func (ch *channel) home(tag uint32) int {
	return int(uint64(tag) * uint64(len(ch.members)) >> 32)
}

func (ch *channel) next(i int) int {
	if i++; i == len(ch.members) {
		return 0
	}
	return i
}

// find returns the position of uuid (whose tag is tag) in ch, or -1.
func (ch *channel) find(tag uint32, uuid string) int {
	if ch.n == 0 {
		return -1
	}
	for i := ch.home(tag); ; i = ch.next(i) {
		m := &ch.members[i]
		if m.name == 0 {
			return -1
		}
		if m.tag == tag && m.uuid() == uuid {
			return i
		}
	}
}

// add stores m, which must be absent, and returns its position. It may
// move every other record.
func (ch *channel) add(m member) int {
	if (ch.n+1)*4 > len(ch.members)*3 {
		// keep the load under 3/4 (a miss probes to an empty record) and grow
		// to 7/12, so a table grows by 9/7 at a time: a join moves 3.5 records
		// on average (growing by 6/5, 5: resizing was a quarter of a join into
		// a channel of 100), for 1.51 records per member on average (1.46)
		ch.resize(max(4, (ch.n+1)*12/7))
	}
	i := ch.home(m.tag)
	for ch.members[i].name != 0 {
		i = ch.next(i)
	}
	ch.members[i] = m
	ch.n++
	return i
}

// removeAt empties the record at pos, shifting back the records of its
// probe run, and gives memory back when the table is under a quarter full.
// It may move every other record.
func (ch *channel) removeAt(pos int) {
	j := pos
	for i := ch.next(j); ch.members[i].name != 0; i = ch.next(i) {
		h := ch.home(ch.members[i].tag)
		// move i back to j unless its home lies cyclically in (j, i]
		if (j < i && (h <= j || h > i)) || (j > i && h <= j && h > i) {
			ch.members[j] = ch.members[i]
			j = i
		}
	}
	ch.members[j] = member{}
	ch.n--
	if ch.n == 0 {
		ch.members = nil
	} else if len(ch.members) > 16 && ch.n*4 < len(ch.members) {
		ch.resize(ch.n * 3 / 2)
	}
}

// resize moves the records to a table of size records; their tags place
// them without hashing any uuid again.
func (ch *channel) resize(size int) {
	old := ch.members
	ch.members = make([]member, size)
	for k := range old {
		if old[k].name != 0 {
			i := ch.home(old[k].tag)
			for ch.members[i].name != 0 {
				i = ch.next(i)
			}
			ch.members[i] = old[k]
		}
	}
}
