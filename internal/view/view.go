// Package view turns one read of the table into what a screen or a report
// shows: the rows the filter keeps, in the chosen order, and their totals.
//
// A view is a slice of indices into Table.Flows, so filtering and sorting
// never copy the 144-byte rows, and a View reused between refreshes keeps
// its memory: building it again allocates nothing.
package view

import (
	"github.com/gostate/gostate/internal/filter"
	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/sortby"
)

// Options says which rows to show and in what order.
type Options struct {
	Filter  filter.Filter
	Sort    sortby.Key
	Reverse bool
}

// View is the rows to show of one table.
type View struct {
	// Idx holds indices into the Table.Flows the view was built from, in
	// display order.
	Idx []int32
	// Totals counts the shown rows.
	Totals Totals

	sorter sortby.Sorter
}

// Build fills v with the rows of t that o.Filter shows, sorted by o.Sort,
// and their totals. It reuses v's memory: the view of the previous refresh
// is overwritten. The indices stay valid for as long as t.Flows is not
// changed.
func Build(t *flow.Table, o *Options, v *View) {
	v.Idx = v.Idx[:0]
	v.Totals.reset()
	active := o.Filter.Active()
	for i := range t.Flows {
		f := &t.Flows[i]
		if active && !o.Filter.Match(f) {
			continue
		}
		v.Idx = append(v.Idx, int32(i))
		v.Totals.add(f)
	}
	v.Totals.Total = len(t.Flows)
	v.Totals.Shown = len(v.Idx)
	v.Totals.Hidden = v.Totals.Total - v.Totals.Shown
	v.sorter.Sort(t.Flows, v.Idx, o.Sort, o.Reverse)
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
