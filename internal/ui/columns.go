package ui

// The flow table's columns, shared by the one-shot text (package text) and
// the live screen (package screen): one display order, one title, width rule,
// cell text and cut rule per column, and one rule for which columns a view
// wants (WantedColumns). A view uses them in three steps:
//
//	wanted := ui.WantedColumns(counters, rates, &v.Totals)
//	c := &ui.Cells{Names: names, Epoch: readAt, Now: now} // one per goroutine
//	// 1. Measure: natural[col] = the widest of ui.Width(title) and
//	//    c.Width(col, f) over the rows the view shows.
//	lay := ui.Fit(wanted, natural, width) // 2. which columns, how wide, separator
//	// 3. Per row, per col in lay.Columns: format, cut to the layout, pad
//	//    (right-aligned when col.RightAligned()), then lay.Sep spaces.
//	cell := ui.Cut(c.Append(buf[:0], col, f), col, lay.Width[col], marker)
//
// The text writer cuts with "~" (plain ASCII for pipes), the screen with "…".

import (
	"bytes"
	"slices"
	"time"

	"github.com/rivo/uniseg"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/view"
)

// Column identifies one column of the flow table. The constants are in
// display order: a view shows the columns it wants in this order.
type Column uint8

// The columns. Adding one (a rate) is a constant here, an entry in the
// columns table and, if it is not always wanted, a rule in WantedColumns.
const (
	ColSource Column = iota
	ColDestination
	ColProto
	ColState
	ColTTL
	ColMark
	ColZone
	ColBytes
	ColPackets
	ColRate
	ColNAT
	NumColumns
)

// CutRule says how a cell too wide for its column is shortened.
type CutRule uint8

// The cut rules.
const (
	// CutNever: Fit gives the column its natural width (it gives way
	// instead); Cut still cuts it at the end when asked for less.
	CutNever CutRule = iota
	// CutAtEnd keeps the start of the text and marks the cut at the end.
	CutAtEnd
	// CutAddress cuts inside the host part of "addr", "addr:port",
	// "[addr]:port" or "name:port", marking the cut where it is: the port
	// is kept whole, and both ends of the host stay (an address's network
	// and its host, a name's host and its domain).
	CutAddress
)

// addrFloor is the narrowest Fit cuts an address to before columns give way:
// every IPv4 endpoint (255.255.255.255:65535) stays whole, an IPv6 one keeps
// its port and both ends of the address.
const addrFloor = len("255.255.255.255:65535")

type columnInfo struct {
	title string
	right bool
	// giveWay is the column's turn to give way on a narrow screen, 1 first;
	// 0 for columns that never do (they are cut instead).
	giveWay int
	cut     CutRule
	// floor is the narrowest Fit cuts the column to before any column
	// gives way (CutAtEnd and CutAddress only).
	floor int
	// appendCell appends the cell's text. Cells.Width may know its width
	// without calling it.
	appendCell func(c *Cells, b []byte, f *flow.Flow) []byte
}

var columns = [NumColumns]columnInfo{
	ColSource: {title: "Source", cut: CutAddress, floor: addrFloor,
		appendCell: func(c *Cells, b []byte, f *flow.Flow) []byte {
			return c.appendEndpoint(b, f, f.Orig.Src, f.Orig.SrcPort)
		}},
	ColDestination: {title: "Destination", cut: CutAddress, floor: addrFloor,
		appendCell: func(c *Cells, b []byte, f *flow.Flow) []byte {
			return c.appendEndpoint(b, f, f.Orig.Dst, f.Orig.DstPort)
		}},
	ColProto: {title: "Proto", giveWay: 7,
		appendCell: func(_ *Cells, b []byte, f *flow.Flow) []byte { return append(b, f.ProtoName()...) }},
	// A long SCTP state (SHUTDOWN_ACK_SENT) may be cut; ESTABLISHED stays.
	ColState: {title: "State", giveWay: 9, cut: CutAtEnd, floor: len("ESTABLISHED"),
		appendCell: func(_ *Cells, b []byte, f *flow.Flow) []byte { return AppendState(b, f) }},
	ColTTL: {title: "TTL", right: true, giveWay: 8,
		appendCell: func(c *Cells, b []byte, f *flow.Flow) []byte {
			if f.Present&flow.HasTimeout == 0 {
				return append(b, '-')
			}
			return AppendTTL(b, c.ttl(f))
		}},
	// The connection mark in decimal, as conntrack -L prints it.
	ColMark: {title: "Mark", right: true, giveWay: 4,
		appendCell: func(_ *Cells, b []byte, f *flow.Flow) []byte { return AppendUint(b, uint64(f.Mark)) }},
	// The zone tells apart flows of the same tuple: it stays longer than
	// the mark.
	ColZone: {title: "Zone", right: true, giveWay: 5,
		appendCell: func(_ *Cells, b []byte, f *flow.Flow) []byte { return AppendUint(b, uint64(f.Zone)) }},
	ColBytes: {title: "Bytes", right: true, giveWay: 2,
		appendCell: func(_ *Cells, b []byte, f *flow.Flow) []byte {
			if f.Present&flow.HasCounters == 0 {
				return append(b, '-')
			}
			return AppendBytes(b, f.Bytes())
		}},
	ColPackets: {title: "Packets", right: true, giveWay: 1,
		appendCell: func(_ *Cells, b []byte, f *flow.Flow) []byte {
			if f.Present&flow.HasCounters == 0 {
				return append(b, '-')
			}
			return AppendPackets(b, f.Packets())
		}},
	// Bytes per second, both directions: what -b rate sorts by. It stays
	// longer than the counters it comes from.
	ColRate: {title: "Rate", right: true, giveWay: 3,
		appendCell: func(_ *Cells, b []byte, f *flow.Flow) []byte {
			if f.Present&flow.HasRate == 0 {
				return append(b, '-')
			}
			return AppendRate(b, f.ByteRate)
		}},
	// The reply side, also in -j output: it goes before the protocol and
	// the state when room is short.
	ColNAT: {title: "NAT", giveWay: 6, cut: CutAtEnd, floor: len("dnat ") + addrFloor,
		appendCell: func(_ *Cells, b []byte, f *flow.Flow) []byte { return appendNAT(b, f) }},
}

// Title returns the column's title.
func (c Column) Title() string { return columns[c].title }

// RightAligned reports whether the column's cells line up on the right (the
// numbers: TTL, Mark, Zone, Bytes, Packets).
func (c Column) RightAligned() bool { return columns[c].right }

// GiveWay returns the column's turn to be left out when the width is short:
// 1 goes first (Packets, then Bytes, Rate, Mark, Zone, NAT, Proto, TTL,
// State); 0
// means never (Source and Destination are cut instead).
func (c Column) GiveWay() int { return columns[c].giveWay }

// CutRule returns how the column's cells are cut.
func (c Column) CutRule() CutRule { return columns[c].cut }

// Floor returns the narrowest Fit cuts the column to before a column gives
// way; for CutNever columns, 0.
func (c Column) Floor() int { return columns[c].floor }

// WantedColumns returns the columns a view of the rows whose totals are t
// (view.Build's) shows before Fit fits them to a width, in display order:
// Source, Destination, Proto, State and TTL always; Mark when a shown flow
// has a non-zero mark; Zone when one is in a zone other than 0; Bytes and
// Packets with counters (-C); Rate with rates (-b rate, --rates; the screen's
// counters); NAT when a shown flow is NAT'd. Every view asks this one rule,
// so a column appears on the screen exactly when it does in the one-shot
// text.
func WantedColumns(counters, rates bool, t *view.Totals) []Column {
	want := []Column{ColSource, ColDestination, ColProto, ColState, ColTTL}
	if t.Marked > 0 {
		want = append(want, ColMark)
	}
	if t.Zoned > 0 {
		want = append(want, ColZone)
	}
	if counters {
		want = append(want, ColBytes, ColPackets)
	}
	if rates {
		want = append(want, ColRate)
	}
	if t.NATed > 0 {
		want = append(want, ColNAT)
	}
	return want
}

// Namer returns a host name for an address, or false when it has none (yet).
// It is how -l shows names instead of addresses. The text writer calls it
// from several goroutines at once when the view is large.
type Namer func(fam flow.Family, a flow.Addr) (string, bool)

// Cells formats the cells of flows for one view. The zero value shows
// addresses and the TTLs as read. A Cells keeps scratch space: one per
// goroutine.
type Cells struct {
	// Names, when set, shows host names instead of addresses. Names must be
	// safe for a terminal (package resolve sanitises them).
	Names Namer
	// Epoch is when the flows were read and Now the time the TTLs count
	// down to: TTL = f.TTL(Epoch, Now). A zero Now, or Now == Epoch, shows
	// the TTLs as read (the one-shot view, a saved dump).
	Epoch, Now time.Time

	buf []byte
}

// Append appends the text of column col for f.
func (c *Cells) Append(b []byte, col Column, f *flow.Flow) []byte {
	return columns[col].appendCell(c, b, f)
}

// Width returns the display width of the cell of col for f. Where the width
// follows from the numbers (IPv4 addresses, states, TTLs) it is computed
// without formatting the cell: measuring a large view formats few cells. A
// column without such a rule is formatted and measured. Counters are never
// measured: a flow that has them gets their widest text (BytesMaxWidth,
// PacketsMaxWidth), since measuring them exactly made the one-shot -C view
// 7 % slower to save a column or two.
func (c *Cells) Width(col Column, f *flow.Flow) int {
	switch col {
	case ColSource, ColDestination:
		if c.Names == nil && f.Family == flow.FamilyIPv4 {
			a, port := &f.Orig.Src, f.Orig.SrcPort
			if col == ColDestination {
				a, port = &f.Orig.Dst, f.Orig.DstPort
			}
			n := ipv4Width(a)
			if f.HasPorts() {
				n += len(":") + decimalDigits(uint64(port))
			}
			return n
		}
	case ColProto:
		return len(f.ProtoName())
	case ColState:
		return stateWidth(f)
	case ColTTL:
		if f.Present&flow.HasTimeout == 0 {
			return 1
		}
		return ttlWidth(c.ttl(f))
	case ColMark:
		return decimalDigits(uint64(f.Mark))
	case ColZone:
		return decimalDigits(uint64(f.Zone))
	case ColBytes, ColPackets:
		switch {
		case f.Present&flow.HasCounters == 0:
			return 1 // "-"
		case col == ColBytes:
			return BytesMaxWidth
		}
		return PacketsMaxWidth
	case ColRate:
		if f.Present&flow.HasRate == 0 {
			return 1
		}
		return RateMaxWidth
	case ColNAT:
		if !f.NATed() {
			return 0
		}
	}
	c.buf = c.Append(c.buf[:0], col, f)
	if c.Names == nil {
		return len(c.buf) // without host names every cell is ASCII
	}
	return Width(c.buf)
}

func (c *Cells) ttl(f *flow.Flow) uint32 {
	if c.Now.IsZero() {
		return f.Timeout
	}
	return c.countDown(f)
}

// countDown is ttl's case with a clock, kept apart so that ttl is inlined.
func (c *Cells) countDown(f *flow.Flow) uint32 { return f.TTL(c.Epoch, c.Now) }

// appendEndpoint appends one end of the original tuple: the host name when
// Names has one, else the address, then the port when the protocol has
// ports. The address is passed by value on purpose: copying it out of the row
// first lets the loads of the row's cache lines overlap (a sorted view reads
// rows in random order); through a pointer the text writer was 10 % slower.
func (c *Cells) appendEndpoint(b []byte, f *flow.Flow, a flow.Addr, port uint16) []byte {
	if c.Names != nil {
		if name, ok := c.Names(f.Family, a); ok {
			b = append(b, name...)
			if f.HasPorts() {
				b = append(b, ':')
				b = AppendUint(b, uint64(port))
			}
			return b
		}
	}
	return appendEndpoint(b, f, &a, port)
}

// appendNAT appends what the kernel rewrote, read from the reply tuple:
// "snat ADDR:PORT" is the source the far end sees (masquerading), "dnat
// ADDR:PORT" the destination the flow really goes to (port forwarding).
// Flows without NAT leave the cell empty.
func appendNAT(b []byte, f *flow.Flow) []byte {
	if f.Status.Has(flow.StatusSrcNAT) {
		b = append(b, "snat "...)
		b = AppendEndpoint(b, f, &f.Reply, false)
	}
	if f.Status.Has(flow.StatusDstNAT) {
		if f.Status.Has(flow.StatusSrcNAT) {
			b = append(b, ' ')
		}
		b = append(b, "dnat "...)
		b = AppendEndpoint(b, f, &f.Reply, true)
	}
	return b
}

// Separators between columns: two spaces when every column has its natural
// width, one as soon as any must be cut or left out.
const (
	WideSep   = 2
	NarrowSep = 1
)

// Layout is how the columns fit a width.
type Layout struct {
	// Columns are the columns shown, in display order.
	Columns []Column
	// Width is the width of each column shown; cells wider than it are
	// cut (Cut). Entries of columns not shown mean nothing.
	Width [NumColumns]int
	// Sep is the number of spaces between two columns.
	Sep int
}

// Total returns the width of a line with every column full.
func (l *Layout) Total() int {
	n := 0
	for _, col := range l.Columns {
		n += l.Width[col]
	}
	return n + l.Sep*max(len(l.Columns)-1, 0)
}

// Fit lays out the columns want (in display order) whose natural widths
// (the widest title or cell of each) are natural, in width cells; width 0
// means no limit. When they do not all fit it tries, in turn:
//
//  1. one space between columns instead of two;
//  2. cutting the cuttable columns (addresses, NAT, State), the widest
//     first, down to their floors;
//  3. leaving columns out by GiveWay (Packets, Bytes, Mark, Zone, NAT,
//     Proto, TTL, State), each only when step 2 cannot make room for the
//     rest; then taking back, the last left out first, those that fit
//     again (Bytes when leaving out a wide NAT made room for it);
//  4. cutting what is left (the addresses) below their floors.
//
// A line of the result is at most width wide whenever width allows one cell
// per column that never gives way.
func Fit(want []Column, natural [NumColumns]int, width int) Layout {
	lay := Layout{Columns: append([]Column(nil), want...), Width: natural, Sep: WideSep}
	if width <= 0 || lay.Total() <= width {
		return lay
	}
	lay.Sep = NarrowSep
	var out []Column
	for lay.floorTotal() > width {
		col, ok := lay.giveWay()
		if !ok {
			break
		}
		out = append(out, col)
	}
	for k := len(out) - 1; k >= 0; k-- {
		lay.insert(out[k])
		if lay.floorTotal() > width {
			lay.remove(out[k])
		}
	}
	lay.shrink(width, Column.Floor)
	lay.shrink(width, func(Column) int { return 0 })
	return lay
}

// floorTotal is Total with every cuttable column cut to its floor.
func (l *Layout) floorTotal() int {
	n := l.Total()
	for _, col := range l.Columns {
		if col.CutRule() != CutNever {
			n -= l.Width[col] - min(l.Width[col], col.Floor())
		}
	}
	return n
}

// giveWay leaves out the shown column whose turn it is and returns it, or
// reports false when every column left never gives way.
func (l *Layout) giveWay() (Column, bool) {
	var next Column
	ok := false
	for _, col := range l.Columns {
		if g := col.GiveWay(); g > 0 && (!ok || g < next.GiveWay()) {
			next, ok = col, true
		}
	}
	if ok {
		l.remove(next)
	}
	return next, ok
}

func (l *Layout) remove(col Column) {
	l.Columns = slices.DeleteFunc(l.Columns, func(c Column) bool { return c == col })
}

// insert puts col back in its place in the display order.
func (l *Layout) insert(col Column) {
	i, _ := slices.BinarySearch(l.Columns, col)
	l.Columns = slices.Insert(l.Columns, i, col)
}

// shrink narrows the cuttable columns, one cell at a time from the widest
// (the rightmost of equals), until the line fits width or every one is at
// floor(col). The narrower columns keep their width as long as cutting the
// wider ones makes room.
func (l *Layout) shrink(width int, floor func(Column) int) {
	for over := l.Total() - width; over > 0; over-- {
		widest := -1
		for i, col := range l.Columns {
			w := l.Width[col]
			if col.CutRule() != CutNever && w > floor(col) && (widest < 0 || w >= l.Width[l.Columns[widest]]) {
				widest = i
			}
		}
		if widest < 0 {
			return
		}
		l.Width[l.Columns[widest]]--
	}
}

// Cut shortens the formatted cell b of column col to at most width cells by
// the column's cut rule, marking the cut with marker ("~", "…"). A cell that
// fits is returned as it is. Cut works in place in b's array (which may
// grow when marker is longer than what it replaces), never splits a
// character or grapheme cluster, and keeps an address's port whenever the
// width holds the port, the marker and one character of the host.
func Cut(b []byte, col Column, width int, marker string) []byte {
	if Width(b) <= width {
		return b
	}
	if col.CutRule() == CutAddress {
		if out, ok := cutAddress(b, width, marker); ok {
			return out
		}
	}
	return CutEnd(b, width, marker)
}

// CutEnd shortens b to at most width cells, keeping its start and ending it
// with marker; when even marker does not fit, b is cut without it. A b that
// fits is returned as it is.
func CutEnd(b []byte, width int, marker string) []byte {
	if Width(b) <= width {
		return b
	}
	mw := stringWidth(marker)
	if width < mw {
		return b[:prefixFitting(b, max(width, 0))]
	}
	end := prefixFitting(b, width-mw)
	return splice(b, end, len(b), marker)
}

// cutAddress cuts an endpoint inside its host, keeping b[:hs] ("[") and
// b[he:] ("]:443", ":443") whole, or reports false when width cannot hold
// them, the marker and one cell of the host.
func cutAddress(b []byte, width int, marker string) ([]byte, bool) {
	hs, he := splitHost(b)
	host := b[hs:he]
	room := width - Width(b[:hs]) - Width(b[he:]) - stringWidth(marker)
	if room < 1 {
		return nil, false
	}
	// The host is wider than room (b did not fit): head and tail, half the
	// room each, never meet.
	headEnd := prefixFitting(host, (room+1)/2)
	tailStart := suffixFitting(host, room-Width(host[:headEnd]))
	return splice(b, hs+headEnd, hs+tailStart, marker), true
}

// splitHost returns where the host of an endpoint starts and ends: after
// "[" and before "]:port" for bracketed IPv6, before ":port" when b has
// one colon followed by digits (IPv4, a host name), else the whole of b
// (an address without a port).
func splitHost(b []byte) (start, end int) {
	if len(b) > 0 && b[0] == '[' {
		if i := bytes.LastIndex(b, []byte("]:")); i > 0 && allDigits(b[i+2:]) {
			return 1, i
		}
		return 0, len(b)
	}
	if i := bytes.IndexByte(b, ':'); i > 0 && bytes.IndexByte(b[i+1:], ':') < 0 && allDigits(b[i+1:]) {
		return 0, i
	}
	return 0, len(b)
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// splice replaces b[from:to] with s, moving the rest of b.
func splice(b []byte, from, to int, s string) []byte {
	n := from + len(s) + len(b) - to
	if n > len(b) {
		b = append(b, make([]byte, n-len(b))...)
	}
	copy(b[from+len(s):n], b[to:])
	copy(b[from:], s)
	return b[:n]
}

// prefixFitting returns the length of the longest start of b, ending
// between grapheme clusters, that is at most w cells wide.
func prefixFitting(b []byte, w int) int {
	if isASCII(b) {
		return min(len(b), w)
	}
	n, state := 0, -1
	for i := 0; i < len(b); {
		cluster, _, bounds, st := uniseg.Step(b[i:], state)
		cw := bounds >> uniseg.ShiftWidth
		if n+cw > w {
			return i
		}
		n, i, state = n+cw, i+len(cluster), st
	}
	return len(b)
}

// suffixFitting returns where the longest end of b, starting between
// grapheme clusters, that is at most w cells wide begins.
func suffixFitting(b []byte, w int) int {
	if isASCII(b) {
		return len(b) - min(len(b), w)
	}
	left, state := Width(b), -1
	for i := 0; i < len(b); {
		if left <= w {
			return i
		}
		cluster, _, bounds, st := uniseg.Step(b[i:], state)
		left, i, state = left-bounds>>uniseg.ShiftWidth, i+len(cluster), st
	}
	return len(b)
}
