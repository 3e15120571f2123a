// index.go holds memberIndex, the map from a name to its position in a
// dense slice (a uuid shard's entries): an
// open-addressing table of 8-byte slots (a 32-bit hash tag and the
// position), sized to 1.33 to 1.6 slots per entry, with linear probing and
// backward-shift deletion. It costs a fraction of a Go map per entry and,
// because slots are compared by tag first, touches an entry only when its
// tag matches.

package presence

import "slices"

// memberIndex is the index of one channel. The zero value is empty.
type memberIndex struct {
	slots []uint64 // 0: empty; else tag<<32 | pos+1
	n     int
}

// home is the slot where a tag's probe starts (Lemire's fast range).
func (x *memberIndex) home(tag uint32) int {
	return int(uint64(tag) * uint64(len(x.slots)) >> 32)
}

func (x *memberIndex) next(i int) int {
	if i++; i == len(x.slots) {
		return 0
	}
	return i
}

// named is an element of a slice indexed by a memberIndex.
type named interface{ key() string }

func (u uuidEntry) key() string { return u.name }

// find returns the slot of name in x and its position in items, or -1, -1.
func find[T named](x *memberIndex, tag uint32, name string, items []T) (slot, pos int) {
	if x.n == 0 {
		return -1, -1
	}
	for i := x.home(tag); ; i = x.next(i) {
		s := x.slots[i]
		if s == 0 {
			return -1, -1
		}
		if uint32(s>>32) == tag {
			if p := int(uint32(s)) - 1; items[p].key() == name {
				return i, p
			}
		}
	}
}

// insert adds a name at pos; it must be absent.
func (x *memberIndex) insert(tag uint32, pos int) {
	if (x.n+1)*4 > len(x.slots)*3 {
		// keep the load under 3/4 (a miss probes to an empty slot) and grow to
		// 5/8, so a table grows by 6/5 at a time: amortised O(1), 1.45 slots
		// per entry on average
		x.resize(max(8, (x.n+1)*8/5))
	}
	x.put(tag, pos)
	x.n++
}

func (x *memberIndex) put(tag uint32, pos int) {
	i := x.home(tag)
	for x.slots[i] != 0 {
		i = x.next(i)
	}
	x.slots[i] = uint64(tag)<<32 | uint64(pos+1)
}

// removeAt removes items[pos], which slot of x indexes, by moving the last
// item into its place, and returns the shorter slice (reallocated when under
// a quarter full, nil when empty) and whether an item moved to pos. tagOf
// gives the tag of the moved item's name.
func removeAt[T named](x *memberIndex, slot, pos int, items []T, tagOf func(string) uint32) ([]T, bool) {
	x.delete(slot)
	last := len(items) - 1
	moved := pos != last
	if moved {
		name := items[last].key()
		s, _ := find(x, tagOf(name), name, items)
		x.setPos(s, pos)
		items[pos] = items[last]
	}
	var zero T
	items[last] = zero
	x.shrink()
	switch items = items[:last]; {
	case last == 0:
		items = nil
	case cap(items) > 16 && last < cap(items)/4:
		items = slices.Clip(slices.Clone(items))
	}
	return items, moved
}

// setPos records that the member in slot now sits at pos.
func (x *memberIndex) setPos(slot, pos int) {
	x.slots[slot] = x.slots[slot]&^0xffffffff | uint64(pos+1)
}

// delete empties slot, shifting back the entries of its probe run.
func (x *memberIndex) delete(slot int) {
	j := slot
	for i := x.next(j); x.slots[i] != 0; i = x.next(i) {
		h := x.home(uint32(x.slots[i] >> 32))
		// move i back to j unless its home lies cyclically in (j, i]
		if (j < i && (h <= j || h > i)) || (j > i && h <= j && h > i) {
			x.slots[j] = x.slots[i]
			j = i
		}
	}
	x.slots[j] = 0
	x.n--
}

// shrink gives memory back when the table is under a quarter full.
func (x *memberIndex) shrink() {
	if x.n == 0 {
		x.slots = nil
	} else if len(x.slots) > 16 && x.n*4 < len(x.slots) {
		x.resize(x.n * 3 / 2)
	}
}

// resize moves the entries to a table of size slots; the tags they keep
// place them without hashing any uuid again.
func (x *memberIndex) resize(size int) {
	old := x.slots
	x.slots = make([]uint64, size)
	for _, s := range old {
		if s != 0 {
			i := x.home(uint32(s >> 32))
			for x.slots[i] != 0 {
				i = x.next(i)
			}
			x.slots[i] = s
		}
	}
}
