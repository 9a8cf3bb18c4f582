// Package sortby orders the rows of a flow.Table: every iptstate ordering
// (-b letters), each a total order so that two runs over the same table print
// the same rows in the same order.
//
// An ordering compares a primary key and then breaks ties by the rest of the
// original tuple in the default (source address) order: family, source
// address, source port, destination address, destination port, protocol,
// zone, ICMP type and code. Sorter.Sort finally orders rows that are equal in
// all of that (exact duplicates in a saved dump) by their position in the
// table.
//
// The primary keys:
//
//   - Src, Dst: the address numerically, every IPv4 address before every IPv6
//     address.
//   - SrcPort, DstPort: the port numerically; flows whose protocol has no
//     ports (ICMP, GRE, ...) come after all flows with ports.
//   - Proto: the protocol's name alphabetically (ah, dccp, esp, gre, icmp,
//     icmpv6, sctp, tcp, udp, udplite, ...: flow.ProtoName), then the
//     protocols without a name, shown as unknown(N), by number.
//   - State: the display state (flow.Flow.DisplayState) alphabetically, as
//     the column reads: the protocol states (ESTABLISHED, ...) and, for
//     protocols without states, the phase (ASSURED, OFFLOAD, REPLIED,
//     UNREPLIED) among them; then the protocol number, for names several
//     protocols share; states newer than gostate (STATE_n) after every
//     named one, by number. ICMP and ICMPv6 rows, whose column starts with
//     the type and code rather than a state, come after all the others,
//     grouped by protocol, then by phase.
//   - TTL: seconds left, smallest first; flows without a timeout (offloaded)
//     come last.
//   - Bytes, Packets: the total of both directions, BIGGEST FIRST, since the
//     heavy flows are what an admin looks for (iptstate sorts these smallest
//     first); flows without counters (accounting off) come last.
//   - Rate: bytes per second of both directions between two reads of the
//     flow's counters (its throughput; not iptstate's -R refresh rate),
//     biggest first; flows without a rate come last.
//
// Reverse flips the primary key only: ties still read in the default order,
// and rows that lack the sorted field (no ports, no timeout, no counters;
// ICMP's rows when sorting by state) stay at the end in both directions, so reversing a port sort
// puts the highest ports, not the ICMP rows, on top.
package sortby

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/gostate/gostate/internal/flow"
)

// Key is an ordering of the table's rows. The zero Key is Src, the order
// without -b.
type Key uint8

// The orderings, in the order b cycles through them (iptstate's).
const (
	Src     Key = iota // source address (no -b in iptstate; "a" or "src" here)
	SrcPort            // S: source port
	Dst                // d: destination address
	DstPort            // D: destination port
	Proto              // p: protocol
	State              // s: protocol state
	TTL                // t: seconds before expiry
	Bytes              // b: bytes of both directions
	Packets            // P: packets of both directions
	Rate               // T: bytes per second (throughput)
	numKeys
)

var keyText = [numKeys]struct{ letter, name string }{
	Src:     {"a", "src"},
	SrcPort: {"S", "sport"},
	Dst:     {"d", "dst"},
	DstPort: {"D", "dport"},
	Proto:   {"p", "proto"},
	State:   {"s", "state"},
	TTL:     {"t", "ttl"},
	Bytes:   {"b", "bytes"},
	Packets: {"P", "packets"},
	Rate:    {"T", "rate"},
}

// Parse reads a -b argument: an iptstate letter (case matters: S and s,
// D and d, P and p differ) or a word (src, sport, dst, dport, proto, state,
// ttl, bytes, packets, rate; any case). The error lists the valid keys.
func Parse(s string) (Key, error) {
	for k := range numKeys {
		if s == keyText[k].letter {
			return k, nil
		}
	}
	for k := range numKeys {
		if strings.EqualFold(s, keyText[k].name) {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown sort key %q: want one of %s", s, validKeys())
}

// validKeys lists the keys as "a (src), S (sport), ...".
func validKeys() string {
	var b strings.Builder
	for k := range numKeys {
		if k > 0 {
			b.WriteString(", ")
		}
		b.WriteString(keyText[k].letter + " (" + keyText[k].name + ")")
	}
	return b.String()
}

// Keys returns every ordering, in the order b (Next) cycles through them.
func Keys() []Key {
	keys := make([]Key, numKeys)
	for k := range numKeys {
		keys[k] = k
	}
	return keys
}

func (k Key) valid() bool { return k < numKeys }

// Letter returns the key's -b letter. iptstate has no letter for the source
// address (it is the order without -b); gostate gives it "a".
func (k Key) Letter() string {
	if !k.valid() {
		return ""
	}
	return keyText[k].letter
}

// Name returns the key's word: "src", "dport", ...
func (k Key) Name() string {
	if !k.valid() {
		return fmt.Sprintf("Key(%d)", uint8(k))
	}
	return keyText[k].name
}

// String returns Name.
func (k Key) String() string { return k.Name() }

// Ascending reports whether sorting by k, reversed or not, puts the smaller
// values first, for screens that mark the direction of the sorted column
// (▲ when true, ▼ when false). Bytes, Packets and Rate order biggest
// first, so they are ascending only when reversed; every other key is ascending
// unless reversed. Rows that lack the field stay last either way.
func (k Key) Ascending(reverse bool) bool {
	descending := k == Bytes || k == Packets || k == Rate
	return descending == reverse
}

// Next returns the key after k in b's cycle, wrapping from Rate to Src.
func (k Key) Next() Key { return (k%numKeys + 1) % numKeys }

// Prev returns the key before k in b's cycle, wrapping from Src to Rate.
func (k Key) Prev() Key { return (k%numKeys + numKeys - 1) % numKeys }

// Sorter sorts indices into a table and keeps its scratch buffer between
// calls, so that re-sorting on every refresh allocates nothing. The zero
// Sorter is ready to use; it must not be copied after first use, and is not
// safe for concurrent use.
type Sorter struct {
	ents []entry
	// Top's halves, the lower one for the helper goroutine (topLow, made
	// once as sortLow is), and its scratch for the candidates of both.
	lowTop, highTop topJob
	topLow          func()
	merged          []entry
	// The lower part of a split sort, for the helper goroutine. The job
	// and the method value are kept here, made once, because a go
	// statement with arguments or a fresh closure allocates every time.
	low     job
	sortLow func()
	done    sync.WaitGroup
}

// job is a part of a sort.
type job struct {
	flows   []flow.Flow
	ents    []entry
	k       Key
	reverse bool
}

// entry is one row as the sort sees it: a 16-byte window of its complete key
// (see encode) as two big-endian words, and its index. Sorting these 24-byte
// entries puts nearly every row in place without touching the 144-byte rows
// again.
type entry struct {
	k0, k1 uint64
	idx    int32
	pos    int32 // Top's: the position of idx in the slice it orders
}

// parallelMin is the number of rows from which Sort splits the work between
// two goroutines; below it, starting one costs more than it saves.
const parallelMin = 8192

// Sort orders idx, indices into flows, by k (an invalid key orders as Src).
// Rows equal in the primary key and every tie-breaking field (exact
// duplicates in a saved dump) are ordered by index, so the result depends
// only on the table.
//
// It sorts the first 16 key bytes of every row, then, within each run of
// rows equal in those, the next 16 bytes, and so on: a row's complete key is
// built only when its first bytes tie, and then once per window, not once
// per comparison. Large inputs are split around a sampled median and the two
// parts sorted at the same time.
func (s *Sorter) Sort(flows []flow.Flow, idx []int32, k Key, reverse bool) {
	if len(idx) < 2 {
		return
	}
	ents := slices.Grow(s.ents[:0], len(idx))[:len(idx)]
	s.ents = ents
	var buf keyBuf
	for i, x := range idx {
		encode(&buf, &flows[x], k, reverse)
		ents[i] = entry{k0: word(&buf, 0), k1: word(&buf, 8), idx: x}
	}
	if split := partition(ents); split > 0 {
		s.low = job{flows, ents[:split], k, reverse}
		if s.sortLow == nil {
			s.sortLow = s.runLow
		}
		s.done.Add(1)
		go s.sortLow()
		sortWindow(flows, ents[split:], k, reverse, 0)
		s.done.Wait()
		s.low = job{}
	} else {
		sortWindow(flows, ents, k, reverse, 0)
	}
	for i := range ents {
		idx[i] = ents[i].idx
	}
}

// Top orders idx, indices into flows, by k as Sort does, but only as far as
// its first n rows: it puts those, and any rows that tie with the n-th in
// their first 16 key bytes, at the start of idx in order, with every other
// row after them in no particular order, and returns how many rows are in
// order (at least min(n, len(idx))). Sort on the rest, idx[Top(...):],
// completes the order. A screen shows the top of a new order this way: on
// 1,000,000 rows it costs a pass over the rows instead of a sort of them,
// and no entry per row (Sort's scratch is 24 bytes a row).
func (s *Sorter) Top(flows []flow.Flow, idx []int32, k Key, reverse bool, n int) int {
	if n >= len(idx) {
		s.Sort(flows, idx, k, reverse)
		return len(idx)
	}
	if n <= 0 {
		return 0
	}
	// Each half of the rows on a goroutine of its own, as Sort does: the
	// pass over the rows is all the cost.
	var bound entry
	hi := &s.highTop
	if split := len(idx) / 2; len(idx) >= parallelMin {
		s.lowTop.set(flows, idx[:split], 0, k, reverse, n)
		if s.topLow == nil {
			s.topLow = s.runLowTop
		}
		s.done.Add(1)
		go s.topLow()
		hi.set(flows, idx[split:], split, k, reverse, n)
		hi.smallest()
		s.done.Wait()
		// The n smallest of all are among the n smallest of each half.
		both := append(append(s.merged[:0], s.lowTop.heap...), hi.heap...)
		slices.SortFunc(both, compareEntries)
		bound, s.merged = both[n-1], both[:0]
	} else {
		hi.set(flows, idx, 0, k, reverse, n)
		hi.smallest()
		bound = hi.heap[0]
	}
	// The rows whose window is at most the n-th smallest go first: they
	// include the first n rows of the order, and come before every other
	// row. Each half's candidates are in row order.
	cand := s.merged[:0]
	for _, half := range []*topJob{&s.lowTop, hi} {
		for _, e := range half.cand {
			if !windowLess(bound, e) {
				cand = append(cand, e)
			}
		}
	}
	// The others move to the end of idx, in their order, from the back.
	w, c := len(idx)-1, len(cand)-1
	for j := len(idx) - 1; j >= 0; j-- {
		if c >= 0 && cand[c].pos == int32(j) {
			c--
			continue
		}
		idx[w] = idx[j]
		w--
	}
	// Those that tie in their windows are ordered by the rest of their keys.
	sortWindow(flows, cand, k, reverse, 0)
	for i := range cand {
		idx[i] = cand[i].idx
	}
	s.merged = cand[:0]
	s.lowTop.clear()
	hi.clear()
	return len(cand)
}

// topJob is one half of Top's pass over the rows: idx, the first at
// position first of Top's idx.
type topJob struct {
	flows   []flow.Flow
	idx     []int32
	first   int
	k       Key
	reverse bool
	n       int
	// heap holds the n smallest key windows seen, as a max-heap; cand
	// every row that was at most its top when seen (the only rows that can
	// end among the first n, or tie with the n-th), in row order.
	heap, cand []entry
}

func (j *topJob) set(flows []flow.Flow, idx []int32, first int, k Key, reverse bool, n int) {
	*j = topJob{flows: flows, idx: idx, first: first, k: k, reverse: reverse, n: n, heap: j.heap[:0], cand: j.cand[:0]}
}

// clear lets go of the table, keeping the buffers.
func (j *topJob) clear() { j.set(nil, nil, 0, 0, false, 0) }

// runLowTop does the lower half of Top's pass on the helper goroutine.
func (s *Sorter) runLowTop() {
	s.lowTop.smallest()
	s.done.Done()
}

// smallest is the pass: most rows are bigger than the heap's top, and cost
// one comparison.
func (j *topJob) smallest() {
	heap, cand := slices.Grow(j.heap, j.n), j.cand
	var buf keyBuf
	for i, x := range j.idx {
		encode(&buf, &j.flows[x], j.k, j.reverse)
		e := entry{k0: word(&buf, 0), k1: word(&buf, 8), idx: x, pos: int32(j.first + i)}
		switch {
		case len(heap) < j.n:
			heap = append(heap, e)
			siftUp(heap, len(heap)-1)
		case windowLess(e, heap[0]):
			heap[0] = e
			siftDown(heap, 0)
		case windowLess(heap[0], e):
			continue
		}
		cand = append(cand, e)
	}
	j.heap, j.cand = heap, cand
}

// windowLess reports whether a's key window is below b's.
func windowLess(a, b entry) bool { return a.k0 < b.k0 || a.k0 == b.k0 && a.k1 < b.k1 }

// siftUp and siftDown keep h a max-heap by key window.
func siftUp(h []entry, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !windowLess(h[p], h[i]) {
			return
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func siftDown(h []entry, i int) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if c+1 < len(h) && windowLess(h[c], h[c+1]) {
			c++
		}
		if !windowLess(h[i], h[c]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// runLow sorts the lower part of a split sort on the helper goroutine.
func (s *Sorter) runLow() {
	sortWindow(s.low.flows, s.low.ents, s.low.k, s.low.reverse, 0)
	s.done.Done()
}

// sortWindow sorts entries whose k0 and k1 hold key bytes off to off+16,
// then sorts each run of equal entries by the next 16 bytes, or by index
// once the keys are used up. It leaves every entry's k0 and k1 as it found
// them.
func sortWindow(flows []flow.Flow, ents []entry, k Key, reverse bool, off int) {
	radixSort(ents, 0)
	next := off + 16
	var buf keyBuf
	for i := 0; i < len(ents); {
		j := i + 1
		for j < len(ents) && ents[j].k0 == ents[i].k0 && ents[j].k1 == ents[i].k1 {
			j++
		}
		run := ents[i:j]
		i = j
		if len(run) < 2 {
			continue
		}
		// Keys that tie on their first bytes have the same length (see
		// encode), so one row says whether any bytes are left.
		if next >= encode(&buf, &flows[run[0].idx], k, reverse) {
			slices.SortFunc(run, compareEntries) // by index
			continue
		}
		k0, k1 := run[0].k0, run[0].k1
		for r := range run {
			n := encode(&buf, &flows[run[r].idx], k, reverse)
			clear(buf[n:])
			run[r].k0, run[r].k1 = word(&buf, next), word(&buf, next+8)
		}
		sortWindow(flows, run, k, reverse, next)
		for r := range run {
			run[r].k0, run[r].k1 = k0, k1
		}
	}
}

// radixMin is the size below which radixSort hands a bucket to an
// insertion sort: a 256-way pass costs more than sorting a few dozen
// entries by comparison.
const radixMin = 32

// radixSort orders entries by their key window, starting at window byte b
// (0-15), all earlier bytes being equal, and small groups of equal windows
// by index; it leaves a large group of equal windows in no particular
// order. It is an in-place most-significant-byte-first radix sort
// (American flag sort): one counting pass per byte, entries swapped
// straight into their buckets, then each bucket sorted by the following
// bytes. A byte that is the same in every
// entry of a bucket (the family byte of an IPv4-only table, the first bytes
// of a /16) costs one counting pass and no moves. Unlike a comparison sort
// it does not branch on the data unpredictably, which is most of what
// comparing 200,000 entries costs.
func radixSort(ents []entry, b int) {
	for ; b < 16 && len(ents) > radixMin; b++ {
		var count [256]int
		for i := range ents {
			count[ents[i].digit(b)]++
		}
		if count[ents[0].digit(b)] == len(ents) {
			continue // one bucket: on to the next byte
		}
		var next [256]int // where the next entry of each bucket goes
		sum := 0
		for d, c := range count {
			next[d] = sum
			sum += c
		}
		end := 0
		for d, c := range count {
			end += c
			for next[d] < end {
				e := ents[next[d]]
				for ed := e.digit(b); int(ed) != d; ed = e.digit(b) {
					e, ents[next[ed]] = ents[next[ed]], e
					next[ed]++
				}
				ents[next[d]] = e
				next[d]++
			}
		}
		start := 0
		for _, c := range count {
			if c > 1 {
				radixSort(ents[start:start+c], b+1)
			}
			start += c
		}
		return
	}
	if len(ents) > radixMin {
		// Entries equal in all 16 bytes: the caller orders them, by the
		// next window or by index.
		return
	}
	for i := 1; i < len(ents); i++ {
		e := ents[i]
		j := i
		for ; j > 0 && compareEntries(e, ents[j-1]) < 0; j-- {
			ents[j] = ents[j-1]
		}
		ents[j] = e
	}
}

// digit returns byte b (0-15, most significant first) of the entry's key
// window.
func (e *entry) digit(b int) uint8 {
	if b < 8 {
		return uint8(e.k0 >> (56 - 8*b))
	}
	return uint8(e.k1 >> (56 - 8*(b-8)))
}

// compareEntries orders entries by their key window, then by index.
func compareEntries(a, b entry) int {
	switch {
	case a.k0 != b.k0:
		return cmp.Compare(a.k0, b.k0)
	case a.k1 != b.k1:
		return cmp.Compare(a.k1, b.k1)
	}
	return cmp.Compare(a.idx, b.idx)
}

// partition moves the entries whose key window is below a sampled median
// before the others and returns how many there are. Equal windows stay on
// one side, so the two sides sort independently. It returns 0, leaving the
// entries as they are, for inputs too small to be worth splitting, and
// when the median is the smallest window (heavy ties).
func partition(ents []entry) int {
	if len(ents) < parallelMin {
		return 0
	}
	var samples [63]entry
	step := len(ents) / len(samples)
	for i := range samples {
		samples[i] = ents[i*step]
		samples[i].idx = 0
	}
	slices.SortFunc(samples[:], compareEntries)
	pivot := samples[len(samples)/2]
	below := func(e *entry) bool { return e.k0 < pivot.k0 || (e.k0 == pivot.k0 && e.k1 < pivot.k1) }
	lo, hi := 0, len(ents)-1
	for {
		for lo <= hi && below(&ents[lo]) {
			lo++
		}
		for lo <= hi && !below(&ents[hi]) {
			hi--
		}
		if lo >= hi {
			return lo
		}
		ents[lo], ents[hi] = ents[hi], ents[lo]
	}
}

// word reads 8 key bytes as a big-endian number, so that numbers compare as
// the bytes do.
func word(b *keyBuf, off int) uint64 { return binary.BigEndian.Uint64(b[off:]) }
