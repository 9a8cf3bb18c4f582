// Package live keeps one copy of the connection-tracking table current across
// reads, for the live screen.
//
// A fresh read does not fill a second copy of the table: its rows arrive in
// small batches and update the one copy in place, matched by identity
// (flow.Key); rows the read did not see are removed when it ends. At 200,000
// entries the second copy was 29 MB, a third of the screen's memory, and the
// screen could only swap it in whole.
package live

import (
	"encoding/binary"
	"math/bits"
	"time"

	"github.com/gostate/gostate/internal/flow"
)

// Table is the conntrack table kept current by reads merged into it.
//
// Between Begin and End, rows keep their indices in Flows (new rows are
// appended), so a view built on the table stays valid; End removes the rows
// the read did not see and renumbers the rest.
type Table struct {
	// Table holds the rows and the last complete read's figures: health,
	// source, warnings, and in ReadAt when that read ended.
	flow.Table
	// Epoch is the time the rows' timeouts count from: fixed at the first
	// row merged, so that rows read at different times count down together
	// (f.TTL(Epoch, now)). A row read at time at with n seconds left is
	// stored with n + (at - Epoch) seconds.
	Epoch time.Time

	// slots index Flows by identity, with open addressing: a slot holds a
	// row's index+1, 0 is an empty slot, and a row's home slot is chosen
	// by its identity hash's high bits. Kept at most half full. A slot
	// holds no hash bits, so a probe looks at the row: 4 bytes a slot, not
	// 8, is 2 MiB less at 200,000 entries, for 120 ns more an event
	// (BenchmarkEvents200k: 370 → 490 ns).
	slots []uint32
	// marks holds, per row, whether the read in progress has seen it
	// (markSeen: delivered, or announced by an event since the read began)
	// and whether the kernel announced it destroyed (markGone): such a row
	// stays, keeping every row's index, until Settle or End removes it.
	marks []uint8
	// sampled holds, per row, when its counters were read: tenths of a
	// second after the epoch (13 years fit), for the rates.
	sampled []uint32
	gone    int // rows marked gone
	reading bool
	born    int
	// next is the row the read in progress most likely delivers next: the
	// kernel dumps its hash in the same order every time, and Flows keep
	// the order of the reads that brought them, so the next row is usually
	// the one after the last found, with no hashing and no random access.
	next int
}

// Begin starts a read that should bring about expected rows (0 when unknown):
// room is made for them in one step rather than row by row, an eighth more
// than expected for the flows born while the read runs. The rows are moved
// to new room only when the expected ones leave less than a 32nd of it
// free: a table that grew by up to 9 % since the room was made is not
// copied (a copy at 200,000 rows took the screen's peak RSS from 54 to 83
// MiB).
func (t *Table) Begin(expected int) {
	t.reading, t.born, t.next = true, 0, 0
	for i := range t.marks {
		t.marks[i] &^= markSeen
	}
	if want := expected + expected/8; cap(t.Flows) < expected+expected/32 {
		t.Flows = append(make([]flow.Flow, 0, want), t.Flows...)
		t.marks = append(make([]uint8, 0, want), t.marks...)
		t.sampled = append(make([]uint32, 0, want), t.sampled...)
	}
	t.reserveSlots(max(expected, len(t.Flows)))
}

// Merge updates the table with rows of the read in progress, read at the time
// at: a row already in the table is replaced, a new one appended. The rows
// are copied; the caller may reuse them.
func (t *Table) Merge(rows []flow.Flow, at time.Time) {
	if !t.reading {
		t.Begin(0)
	}
	shift := t.shift(at)
	for i := range rows {
		r := &rows[i]
		j := t.next
		if j >= len(t.Flows) || !sameFlow(&t.Flows[j], r) {
			j = t.find(keyHash(r), r)
		}
		if j < 0 {
			j = t.add(r, at)
			t.born++
		} else {
			t.replace(j, r, at)
		}
		restate(&t.Flows[j], shift)
		t.marks[j] |= markSeen
		t.next = j + 1
	}
}

// Marks of a row (Table.marks).
const (
	markSeen uint8 = 1 << iota
	markGone
)

// add appends r, read at the time at, indexed, and returns its index.
func (t *Table) add(r *flow.Flow, at time.Time) int {
	h := keyHash(r)
	t.reserveSlots(len(t.Flows) + 1)
	j := len(t.Flows)
	t.Flows = append(t.Flows, *r)
	t.Flows[j].Present &^= flow.HasRate
	t.marks = append(t.marks, 0)
	t.sampled = append(t.sampled, t.tenths(at))
	t.insert(h, j)
	return j
}

// replace puts r, read at the time at, in row j, which holds the same flow:
// the rates come from the change of its counters since row j's were read.
// A row without counters (an event's: the kernel sends them only with
// DESTROY) keeps the counters and rates the row had.
func (t *Table) replace(j int, r *flow.Flow, at time.Time) {
	old := &t.Flows[j]
	switch {
	case r.Present&flow.HasCounters == 0:
		if old.Present&flow.HasCounters != 0 {
			keep := *old
			*old = *r
			old.Present |= keep.Present & (flow.HasCounters | flow.HasRate)
			old.OrigBytes, old.OrigPackets = keep.OrigBytes, keep.OrigPackets
			old.ReplyBytes, old.ReplyPackets = keep.ReplyBytes, keep.ReplyPackets
			old.ByteRate, old.PacketRate = keep.ByteRate, keep.PacketRate
			return
		}
		*old = *r
		old.Present &^= flow.HasRate
	case old.Present&flow.HasCounters == 0:
		*old = *r
		old.Present &^= flow.HasRate
		t.sampled[j] = t.tenths(at)
	default:
		now := t.tenths(at)
		if now-t.sampled[j] < minRateTenths {
			// Too soon for a rate worth showing: the counters stay
			// those of the last sample, the rest is replaced.
			keep := *old
			*old = *r
			old.Present = old.Present&^flow.HasRate | keep.Present&flow.HasRate
			old.OrigBytes, old.OrigPackets = keep.OrigBytes, keep.OrigPackets
			old.ReplyBytes, old.ReplyPackets = keep.ReplyBytes, keep.ReplyPackets
			old.ByteRate, old.PacketRate = keep.ByteRate, keep.PacketRate
			return
		}
		f := *r
		SetRate(&f, old, time.Duration(now-t.sampled[j])*time.Second/10)
		*old = f
		t.sampled[j] = now
	}
}

// minRateTenths is the shortest time, in tenths of a second, between two
// samples of a flow's counters that makes a rate: the visible rows are read
// again every interval (0.1 s at the least), and a rate over 0.1 s swings
// with every packet burst.
const minRateTenths = 5

// tenths returns the time at in tenths of a second after the epoch.
func (t *Table) tenths(at time.Time) uint32 {
	if t.Epoch.IsZero() || !at.After(t.Epoch) {
		return 0
	}
	return uint32(at.Sub(t.Epoch) / (time.Second / 10))
}

// SetRate sets f's rates from the change of its counters since prev, the
// same flow read d earlier. Counters that went back (another flow of the
// same tuple since) or a d of zero give no rate.
func SetRate(f, prev *flow.Flow, d time.Duration) {
	f.Present &^= flow.HasRate
	if d <= 0 || f.Present&prev.Present&flow.HasCounters == 0 {
		return
	}
	b, p := f.Bytes(), f.Packets()
	if b < prev.Bytes() || p < prev.Packets() {
		return
	}
	secs := d.Seconds()
	f.ByteRate = float32(float64(b-prev.Bytes()) / secs)
	f.PacketRate = float32(float64(p-prev.Packets()) / secs)
	f.Present |= flow.HasRate
}

// Rates sets the rates of the rows of cur from the counters of the same
// flows in prev, read d earlier: the one-shot view's two reads.
func Rates(prev, cur []flow.Flow, d time.Duration) {
	var t Table
	t.Begin(len(prev))
	for i := range prev {
		if t.find(keyHash(&prev[i]), &prev[i]) < 0 {
			t.add(&prev[i], time.Time{})
		}
	}
	for i := range cur {
		if j := t.find(keyHash(&cur[i]), &cur[i]); j >= 0 {
			SetRate(&cur[i], &t.Flows[j], d)
		}
	}
}

// Upsert puts f, announced by the kernel at the time at (a NEW or UPDATE
// event), in the table: it replaces the row of the same flow or is
// appended, and reports whether it is new. Rows keep their indices. During a
// read it counts as seen by the read, since it was alive after the read
// began: the read's end keeps it whether or not the read brought it.
func (t *Table) Upsert(f *flow.Flow, at time.Time) (added bool) {
	shift := t.shift(at)
	j := t.find(keyHash(f), f)
	if j < 0 {
		j, added = t.add(f, at), true
	} else {
		if t.marks[j]&markGone != 0 {
			t.marks[j] &^= markGone
			t.gone--
		}
		t.replace(j, f, at)
	}
	restate(&t.Flows[j], shift)
	if t.reading {
		t.marks[j] |= markSeen
	}
	return added
}

// Destroy marks the flow with identity k gone (a DESTROY event): it keeps
// its index until Settle, or the end of the read in progress, removes it,
// even when the read's older copy of it arrives after the event (only a
// later Upsert brings it back). It reports whether the table had the flow.
func (t *Table) Destroy(k flow.Key) bool {
	j := t.Find(k)
	if j < 0 || t.marks[j]&markGone != 0 {
		return j >= 0
	}
	t.marks[j] = t.marks[j]&^markSeen | markGone
	t.gone++
	return true
}

// Settle removes the rows marked gone, when no read is in progress (a read's
// end removes them), and returns how many it removed. Each gone row's place
// is taken by the last row that stays: the work grows with the rows
// removed, not with the table (a settle a second at 200,000 rows and 10,000
// events a second cost 50 ms when it moved and indexed every row), and only
// the moved rows change index.
func (t *Table) Settle() int {
	if t.reading || t.gone == 0 {
		return 0
	}
	removed := t.gone
	last := len(t.Flows) - 1
	for i := 0; i <= last; i++ {
		if t.marks[i]&markGone == 0 {
			continue
		}
		t.unindex(i)
		for last > i && t.marks[last]&markGone != 0 {
			t.unindex(last)
			last--
		}
		if last > i {
			t.move(last, i)
		}
		last--
	}
	n := last + 1
	t.Flows, t.marks, t.sampled, t.gone = t.Flows[:n], t.marks[:n], t.sampled[:n], 0
	return removed
}

// move puts row from in row to's place, index included.
func (t *Table) move(from, to int) {
	t.slots[t.slotOf(from)] = uint32(to + 1)
	t.Flows[to], t.marks[to], t.sampled[to] = t.Flows[from], t.marks[from], t.sampled[from]
}

// slotOf returns the index slot of row j.
func (t *Table) slotOf(j int) uint64 {
	mask := uint64(len(t.slots) - 1)
	want := uint32(j + 1)
	for s := t.home(keyHash(&t.Flows[j])); ; s = (s + 1) & mask {
		if t.slots[s] == want {
			return s
		}
	}
}

// unindex removes row j from the index, shifting back the slots after it
// that would otherwise be cut off from their home slot (deletion in linear
// probing without tombstones).
func (t *Table) unindex(j int) {
	mask := uint64(len(t.slots) - 1)
	hole := t.slotOf(j)
	for next := (hole + 1) & mask; t.slots[next] != 0; next = (next + 1) & mask {
		home := t.home(keyHash(&t.Flows[t.slots[next]-1]))
		// The entry at next may fill the hole unless its home lies
		// cyclically after the hole, up to next.
		if (next-home)&mask >= (next-hole)&mask {
			t.slots[hole] = t.slots[next]
			hole = next
		}
	}
	t.slots[hole] = 0
}

// Update replaces row i with f, read at the time at (a lookup of a single
// row between whole reads); f's timeout is restated to the epoch as Merge
// restates a read's rows.
func (t *Table) Update(i int, f *flow.Flow, at time.Time) {
	shift := t.shift(at)
	t.replace(i, f, at)
	restate(&t.Flows[i], shift)
}

// shift is how many whole seconds after the epoch a row read at the time at
// was read, fixing the epoch at the first row. A saved dump's timeouts are
// as saved and never move.
func (t *Table) shift(at time.Time) uint32 {
	if t.Epoch.IsZero() {
		t.Epoch = at
	}
	if t.Frozen || !at.After(t.Epoch) {
		return 0
	}
	return uint32(at.Sub(t.Epoch) / time.Second)
}

// restate adds shift seconds to a row's timeout, so that it counts from the
// epoch rather than from when it was read.
func restate(f *flow.Flow, shift uint32) {
	if f.Present&flow.HasTimeout != 0 {
		f.Timeout += shift
	}
}

// End finishes the read in progress: rows it did not deliver leave the table,
// and the read's figures replace the table's (see SetFigures). It returns how
// many flows the read found new and how many it found gone.
func (t *Table) End(read *flow.Table) (born, gone int) {
	if !t.reading {
		t.Begin(0)
	}
	kept := 0
	for i := range t.Flows {
		if t.marks[i] == markSeen {
			t.Flows[kept], t.marks[kept], t.sampled[kept] = t.Flows[i], 0, t.sampled[i]
			kept++
		}
	}
	gone = len(t.Flows) - kept
	t.Flows, t.marks, t.sampled, t.gone = t.Flows[:kept], t.marks[:kept], t.sampled[:kept], 0
	shrunk := cap(t.Flows) > 4*(kept+64)
	if shrunk {
		// A table that shrank a lot gives its memory back.
		t.Flows = append([]flow.Flow(nil), t.Flows...)
		t.marks = append([]uint8(nil), t.marks...)
		t.sampled = append([]uint32(nil), t.sampled...)
		t.slots = nil
	}
	if gone > 0 || shrunk {
		t.reindex()
	}
	t.reading = false
	t.SetFigures(read)
	return t.born, gone
}

// SetFigures takes everything but the rows from read: health, source,
// warnings, skipped lines, timeouts, and ReadAt. The rows are left as they
// are; read's rows are ignored.
func (t *Table) SetFigures(read *flow.Table) {
	t.Stats = read.Stats
	t.Source = read.Source
	t.Skipped = read.Skipped
	t.Warnings = append(t.Warnings[:0], read.Warnings...)
	t.Frozen = read.Frozen
	t.Timeouts = read.Timeouts
	t.ReadAt = read.ReadAt
}

// Abort ends a read that failed: the rows it delivered stay updated, and no
// row is removed, since an unfinished read proves nothing gone.
func (t *Table) Abort() { t.reading = false }

// Rows is the number of flows the table holds: its rows less those marked
// gone and not yet removed.
func (t *Table) Rows() int { return len(t.Flows) - t.gone }

// Reading reports whether a read is in progress (between Begin and End or
// Abort).
func (t *Table) Reading() bool { return t.reading }

// Find returns the index in Flows of the flow with identity k, or -1.
func (t *Table) Find(k flow.Key) int {
	probe := flow.Flow{Orig: k.Orig, Family: k.Family, Proto: k.Proto, Zone: k.Zone}
	return t.find(keyHash(&probe), &probe)
}

// find returns the index of the row with f's identity, whose hash is h, or -1.
func (t *Table) find(h uint64, f *flow.Flow) int {
	if len(t.slots) == 0 {
		return -1
	}
	mask := uint64(len(t.slots) - 1)
	for s := t.home(h); ; s = (s + 1) & mask {
		v := t.slots[s]
		if v == 0 {
			return -1
		}
		if j := int(v) - 1; sameFlow(&t.Flows[j], f) {
			return j
		}
	}
}

// insert records row j, whose hash is h, in the index; there must be room.
func (t *Table) insert(h uint64, j int) {
	mask := uint64(len(t.slots) - 1)
	s := t.home(h)
	for t.slots[s] != 0 {
		s = (s + 1) & mask
	}
	t.slots[s] = uint32(j + 1)
}

// home is the slot where a row whose identity hash is h is looked for first.
func (t *Table) home(h uint64) uint64 { return h >> 32 & uint64(len(t.slots)-1) }

// reserveSlots makes the index big enough for n rows, rebuilding it when it
// grows.
func (t *Table) reserveSlots(n int) {
	if 2*n <= len(t.slots) {
		return
	}
	size := 1 << bits.Len(uint(max(2*n, 64)-1))
	t.slots = make([]uint32, size)
	for j := range t.Flows {
		t.insert(keyHash(&t.Flows[j]), j)
	}
}

// reindex rebuilds the index after rows moved.
func (t *Table) reindex() {
	if 2*len(t.Flows) > len(t.slots) {
		t.reserveSlots(len(t.Flows))
		return
	}
	clear(t.slots)
	for j := range t.Flows {
		t.insert(keyHash(&t.Flows[j]), j)
	}
}

// sameFlow reports whether a and b have one identity (flow.Key), without
// building the keys.
func sameFlow(a, b *flow.Flow) bool {
	return a.Orig == b.Orig && a.Family == b.Family && a.Proto == b.Proto && a.Zone == b.Zone
}

// keyHash mixes a flow's identity (flow.Key) into 64 bits.
func keyHash(f *flow.Flow) uint64 {
	o := &f.Orig
	h := mix(binary.LittleEndian.Uint64(o.Src[:8]), binary.LittleEndian.Uint64(o.Src[8:]))
	h = mix(h^binary.LittleEndian.Uint64(o.Dst[:8]), binary.LittleEndian.Uint64(o.Dst[8:]))
	rest := uint64(o.SrcPort) | uint64(o.DstPort)<<16 | uint64(o.ICMPType)<<32 | uint64(o.ICMPCode)<<40 |
		uint64(f.Proto)<<48 | uint64(f.Family)<<56
	return mix(h^rest, uint64(f.Zone)+0x9e3779b97f4a7c15)
}

// mix is a 128-to-64-bit multiply-xor step (as in wyhash).
func mix(a, b uint64) uint64 {
	a ^= 0xa0761d6478bd642f
	b ^= 0xe7037ed1a0b428db
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}
