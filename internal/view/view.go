// Package view turns one read of the table into what a screen or a report
// shows: the rows the filter keeps, in the chosen order, and their totals.
//
// A view is a slice of indices into Table.Flows, so filtering and sorting
// never copy the 144-byte rows, and a View reused between refreshes keeps
// its memory: building it again allocates nothing.
package view

import (
	mathbits "math/bits"
	"slices"
	"strings"

	"github.com/gostate/gostate/internal/filter"
	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/group"
	"github.com/gostate/gostate/internal/sortby"
)

// Options says which rows to show and in what order.
type Options struct {
	Filter  filter.Filter
	Sort    sortby.Key
	Reverse bool
	// Within keeps the rows of a group and of every group it was entered
	// from, outermost first (a drill-down from the group view: src/24,
	// then a source of that network); empty keeps every row. Rows it
	// leaves out count as hidden, as the filter's do. Never changed in
	// place: a new drill-down is a new slice, so that copies of the
	// options keep theirs.
	Within []group.Matcher
}

// within reports whether f is in every group of o.Within.
func (o *Options) within(f *flow.Flow) bool {
	for i := range o.Within {
		if !o.Within[i].Match(f) {
			return false
		}
	}
	return true
}

// DescribeWithin names the groups of o.Within as a breadcrumb, outermost
// first: "src/24 192.0.2.0/24 › src 192.0.2.7 ›"; "" when there are none.
func (o *Options) DescribeWithin() string {
	s := ""
	for i := range o.Within {
		m := &o.Within[i]
		s += m.Spec().String() + " " + m.Label() + " › "
	}
	return strings.TrimSuffix(s, " ")
}

// View is the rows to show of one table.
type View struct {
	// Idx holds indices into the Table.Flows the view was built from, in
	// display order: after BuildTop, only its first Ordered() are in
	// order until Ensure (or At) puts the rest in place.
	Idx []int32
	// Totals counts the shown rows.
	Totals Totals

	sorter sortby.Sorter
	// ordered is how many leading rows of Idx are in order; the rest
	// (after BuildTop) are the rows after them in no order, to be sorted
	// from table t by key and reverse.
	ordered int
	seen    []uint64 // a bitmap of rows: Reorder's, Drop's
	t       *flow.Table
	key     sortby.Key
	reverse bool
}

// Build fills v with the rows of t that o.Filter shows and o.Within
// keeps, sorted by o.Sort,
// and their totals. It reuses v's memory: the view of the previous refresh
// is overwritten. The indices stay valid for as long as t.Flows is not
// changed.
func Build(t *flow.Table, o *Options, v *View) {
	keep(t, o, v)
	v.sorter.Sort(t.Flows, v.Idx, o.Sort, o.Reverse)
	v.ordered = len(v.Idx)
}

// BuildTop is Build with only the first n rows of the order put in place
// (and rows tied with the n-th): what a screen shows of a new order first.
// The rest of the order comes when asked for (Ensure, At), from t, which
// must stay where it is and keep its rows in place until then: a table
// that is read anew is built anew. On 1,000,000 rows the top costs a
// quarter of the whole order (sortby.Sorter.Top).
func BuildTop(t *flow.Table, o *Options, v *View, n int) {
	keep(t, o, v)
	v.ordered = v.sorter.Top(t.Flows, v.Idx, o.Sort, o.Reverse, n)
	v.t, v.key, v.reverse = t, o.Sort, o.Reverse
}

// Reorder puts the rows of v, those of its last build, in o's order, the
// first n at once as BuildTop does: for a new order of the same rows, which
// needs no filtering and no totals. o's filter and groups must be those v
// was built with.
func Reorder(t *flow.Table, o *Options, v *View, n int) {
	v.tableOrder(len(t.Flows))
	v.ordered = v.sorter.Top(t.Flows, v.Idx, o.Sort, o.Reverse, n)
	v.t, v.key, v.reverse = t, o.Sort, o.Reverse
}

// tableOrder puts v.Idx, indices below n, in table order, through a bitmap
// of them: the sort then reads the rows one after another, not at random in
// the old order, which on 1,000,000 rows costs four times as much.
func (v *View) tableOrder(n int) {
	words := (n + 63) / 64
	v.seen = slices.Grow(v.seen[:0], words)[:words]
	clear(v.seen)
	for _, row := range v.Idx {
		v.seen[row/64] |= 1 << (row % 64)
	}
	idx := v.Idx[:0]
	for w, bits := range v.seen {
		for bits != 0 {
			idx = append(idx, int32(w*64+mathbits.TrailingZeros64(bits)))
			bits &= bits - 1
		}
	}
	v.Idx = idx
}

// Ordered returns how many leading rows of Idx are in order.
func (v *View) Ordered() int { return v.ordered }

// Ensure puts at least the first n rows of the view in order: after
// BuildTop, every row, once n passes those already in place.
func (v *View) Ensure(n int) {
	if n <= v.ordered || v.ordered >= len(v.Idx) {
		return
	}
	v.sorter.Sort(v.t.Flows, v.Idx[v.ordered:], v.key, v.reverse)
	v.ordered = len(v.Idx)
}

// At returns the i-th row of the view in order, an index into the table's
// Flows, putting the rest of the order in place first when i is past the
// rows in order.
func (v *View) At(i int) int32 {
	v.Ensure(i + 1)
	return v.Idx[i]
}

// Drop removes the rows gone (indices into the table's Flows) from the view,
// keeping the order of the others. A bitmap of them costs a test a row,
// where looking each row up among a window's gone rows cost 10 ms a
// refresh at 200,000 rows.
func (v *View) Drop(gone []int32) {
	if len(gone) == 0 {
		return
	}
	words := int(slices.Max(gone))/64 + 1
	v.seen = slices.Grow(v.seen[:0], words)[:words]
	clear(v.seen)
	for _, row := range gone {
		v.seen[row/64] |= 1 << (row % 64)
	}
	kept, ordered := v.Idx[:0], 0
	for i, row := range v.Idx {
		if int(row/64) < words && v.seen[row/64]&(1<<(row%64)) != 0 {
			continue
		}
		if i < v.ordered {
			ordered++
		}
		kept = append(kept, row)
	}
	v.Idx, v.ordered = kept, ordered
}

// keep fills v with the rows of t that o keeps, in table order, and
// their totals.
func keep(t *flow.Table, o *Options, v *View) {
	if cap(v.Idx) < len(t.Flows) {
		v.Idx = make([]int32, 0, len(t.Flows)) // not grown row by row: 6 MB of garbage at 200,000
	}
	v.Idx = v.Idx[:0]
	v.Totals.reset()
	active := o.Filter.Active()
	for i := range t.Flows {
		f := &t.Flows[i]
		if active && !o.Filter.Match(f) || !o.within(f) {
			continue
		}
		v.Idx = append(v.Idx, int32(i))
		v.Totals.add(f)
	}
	v.Totals.Total = len(t.Flows)
	v.Totals.Shown = len(v.Idx)
	v.Totals.Hidden = v.Totals.Total - v.Totals.Shown
}

// Totals counts rows by protocol and by protocol state.
type Totals struct {
	// Total is the number of rows in the table, Shown the number the filter
	// kept, Hidden the number it hid.
	Total, Shown, Hidden int
	// NATed is the number of shown rows the kernel rewrote (SNAT or DNAT),
	// Marked the number with a non-zero connection mark, Zoned the number
	// in a zone other than 0: whether a view wants its NAT, Mark and Zone
	// columns (ui.WantedColumns).
	NATed, Marked, Zoned int

	protos [256]int
	// states counts the rows of flow.StateProtos that carry a state, per
	// flow.StateProtoIndex and state number.
	states [len(flow.StateProtos)][256]int
}

// Count is one line of the totals.
type Count struct {
	// Name is what to print: in ByProto flow.ProtoName ("tcp";
	// "unknown(99)" for a protocol without a name); in ByState the state's
	// name for TCP ("ESTABLISHED") and protocol and state for the others
	// ("sctp ESTABLISHED").
	Name string
	// Proto is the protocol number; State the state number (ByState only).
	Proto, State uint8
	// N is the number of shown rows.
	N int
}

func (t *Totals) reset() { *t = Totals{} }

func (t *Totals) add(f *flow.Flow) {
	// Read before the counts are written: the compiler cannot tell that
	// those writes leave the row alone, and would read the row again.
	proto, state, mark, zone := f.Proto, f.State, f.Mark, f.Zone
	t.protos[proto]++
	if f.NATed() {
		t.NATed++
	}
	if mark != 0 {
		t.Marked++
	}
	if zone != 0 {
		t.Zoned++
	}
	if f.Present&flow.HasState == 0 {
		return
	}
	if i, ok := flow.StateProtoIndex(proto); ok {
		t.states[i][state]++
	}
}

// ByProto returns the shown rows per protocol, protocols without rows left
// out, in protocol number order (icmp, tcp, udp, ...), so that the line
// does not reorder itself between refreshes.
func (t *Totals) ByProto() []Count {
	var counts []Count
	for p, n := range t.protos {
		if n == 0 {
			continue
		}
		counts = append(counts, Count{Name: flow.ProtoName(uint8(p)), Proto: uint8(p), N: n})
	}
	return counts
}

// ByState returns the shown rows per protocol state, states without rows
// left out: TCP first, then SCTP and DCCP, each in state number order (the
// order of a connection's life: SYN_SENT, SYN_RECV, ESTABLISHED, ...).
// Rows of protocols without states are counted by ByProto only.
func (t *Totals) ByState() []Count {
	var counts []Count
	for i, p := range flow.StateProtos {
		for s, n := range t.states[i] {
			if n == 0 {
				continue
			}
			name := flow.StateName(p, uint8(s))
			if p != flow.ProtoTCP {
				name = flow.ProtoName(p) + " " + name
			}
			counts = append(counts, Count{Name: name, Proto: p, State: uint8(s), N: n})
		}
	}
	return counts
}
