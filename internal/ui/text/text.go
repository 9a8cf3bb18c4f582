// Package text writes one-shot views of the connection-tracking table: an
// aligned text table for people and line-oriented tools (grep, awk), and JSON
// Lines for programs.
//
// The writers format rows in blocks into reused buffers, so a view of 200,000
// flows allocates nothing per row, and a large view is formatted on every
// core while earlier blocks are written.
package text

import (
	"bufio"
	"strconv"
	"sync"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/termsafe"
	"github.com/gostate/gostate/internal/ui"
	"github.com/gostate/gostate/internal/view"
)

// Options say what the text table shows and how wide it may be.
type Options struct {
	// Counters adds the Bytes and Packets columns (-C): both directions
	// together, in human units.
	Counters bool
	// Totals adds totals per protocol and per state, and how many flows the
	// filters hid (-t).
	Totals bool
	// NoHeader prints the rows only (and, with Totals, the totals after them).
	NoHeader bool
	// Color colours each row by protocol as iptstate does: tcp green, udp
	// yellow, icmp red. Only for terminals.
	Color bool
	// Width is the number of columns no line may exceed; 0 means no limit, and
	// every column then takes its natural width (its widest value).
	Width int
	// Sort and Filter describe the view for the health line ("dst reversed",
	// "src 192.0.2.0/24"); empty Filter means none.
	Sort, Filter string
	// Names, when set, shows host names instead of addresses (-l).
	Names Namer
}

// Separators between columns: two spaces at natural width, one when the width
// is tight (before any column is dropped).
const (
	wideSep   = 2
	narrowSep = 1
)

// ANSI colours by protocol, as iptstate chose them.
const (
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiRed    = "\x1b[31m"
	ansiReset  = "\x1b[0m"
)

// layout is the result of fitting the columns to a width.
type layout struct {
	cols  []column
	width [numCols]int
	sep   int
	// ascii is true when every cell is ASCII (no host names), so that a
	// cell's width is its length.
	ascii bool
}

// WriteText writes the health line, the column header and the rows of v, as
// o says. A large view is measured and formatted on every core (o.Names must
// then be safe for concurrent use); the output is the same either way. It
// stops at the first write error (a closed pipe) and returns it.
func WriteText(w *bufio.Writer, t *flow.Table, v *view.View, o *Options) error {
	return writeTextPlan(w, t, v, o, planFor(len(v.Idx), textBlockRows))
}

func writeTextPlan(w *bufio.Writer, t *flow.Table, v *view.View, o *Options, p plan) error {
	lay := fit(naturalWidths(measuredColumns(o), o.Names, t.Flows, v.Idx, p.workers), o)
	if !o.NoHeader {
		writeSegments(w, healthSegments(t, o), o.Width)
		if o.Totals {
			writeTotals(w, &v.Totals, o.Width)
		}
		writeTitles(w, &lay)
	}
	// A line is never longer than the layout plus its colour codes, unless
	// host names hold multi-byte characters: then the buffers grow.
	p.rowBytes = lay.total() + len(ansiYellow) + len(ansiReset) + 1
	err := writeBlocks(w, v.Idx, p, func() blockFormatter {
		c := &cells{names: o.Names}
		return func(b []byte, idx []int32) []byte {
			return appendRows(b, c, t.Flows, idx, &lay, o.Color)
		}
	})
	if err != nil {
		return err
	}
	if o.NoHeader && o.Totals {
		writeTotals(w, &v.Totals, o.Width)
	}
	return w.Flush()
}

// measuredColumns are the columns o may show: their widths depend on the
// rows.
func measuredColumns(o *Options) []column {
	cols := []column{colSrc, colDst, colProto, colState, colTTL}
	if o.Counters {
		cols = append(cols, colBytes, colPackets)
	}
	return append(cols, colNAT)
}

// naturalWidths returns the widest cell of each of cols over the rows idx;
// the NAT column's is 0 when no flow is NATed. With several workers each
// measures a contiguous share of the rows, the caller's goroutine the last.
func naturalWidths(cols []column, names Namer, flows []flow.Flow, idx []int32, workers int) [numCols]int {
	// A view lists a row at most once, so a view as long as the table holds
	// every row: then the rows are measured in the table's order, which
	// gives the same widths but reads memory in sequence rather than one
	// cache miss per row in sorted order.
	inOrder := len(idx) == len(flows)
	parts := make([][numCols]int, max(workers, 1))
	share := (len(idx) + len(parts) - 1) / len(parts)
	var wg sync.WaitGroup
	for k := range parts {
		lo, hi := min(k*share, len(idx)), min((k+1)*share, len(idx))
		measure := func() {
			// Widths are kept in a local array so that the goroutines do
			// not write to the same cache line row after row.
			var width [numCols]int
			c := cells{names: names}
			for j := lo; j < hi; j++ {
				i := j
				if !inOrder {
					i = int(idx[j])
				}
				f := &flows[i]
				for _, col := range cols {
					width[col] = max(width[col], c.width(col, f))
				}
			}
			parts[k] = width
		}
		if k == len(parts)-1 {
			measure()
		} else {
			wg.Go(measure)
		}
	}
	wg.Wait()
	var width [numCols]int
	for _, part := range parts {
		for col, n := range part {
			width[col] = max(width[col], n)
		}
	}
	return width
}

// fit chooses the columns and their widths from the natural widths: all of
// them first; when a width is set and they do not fit, narrower separators,
// then columns dropped in dropOrder, then the address columns shrunk
// (truncating only the addresses that are longer than their share).
func fit(natural [numCols]int, o *Options) layout {
	lay := layout{ascii: o.Names == nil}
	lay.cols = append(lay.cols, colSrc, colDst, colProto, colState, colTTL)
	if o.Counters {
		lay.cols = append(lay.cols, colBytes, colPackets)
	}
	if natural[colNAT] > 0 {
		lay.cols = append(lay.cols, colNAT)
	}
	for _, col := range lay.cols {
		lay.width[col] = max(len(titles[col]), natural[col])
	}
	lay.sep = wideSep
	if o.Width <= 0 || lay.total() <= o.Width {
		return lay
	}
	lay.sep = narrowSep
	var dropped []column
	for _, col := range dropOrder {
		if lay.total() <= o.Width {
			break
		}
		if lay.remove(col) {
			dropped = append(dropped, col)
		}
	}
	// Dropping in a fixed order can remove more than needed (the counters
	// and TTL go before a wide NAT column): give back, most useful first,
	// what fits again.
	for k := len(dropped) - 1; k >= 0; k-- {
		lay.insert(dropped[k])
		if lay.total() > o.Width {
			lay.remove(dropped[k])
		}
	}
	if lay.total() <= o.Width {
		return lay
	}
	// Only the two addresses are left: the narrower keeps its natural width
	// when it fits in half the room, the other gets the rest.
	room := o.Width - lay.sep
	small, big := colSrc, colDst
	if lay.width[small] > lay.width[big] {
		small, big = big, small
	}
	if lay.width[small] > room/2 {
		lay.width[small] = room / 2
	}
	lay.width[big] = max(room-lay.width[small], 0)
	return lay
}

func (l *layout) total() int {
	n := 0
	for _, col := range l.cols {
		n += l.width[col]
	}
	return n + l.sep*(len(l.cols)-1)
}

// remove takes col out of the layout, reporting whether it was there.
func (l *layout) remove(col column) bool {
	for i, c := range l.cols {
		if c == col {
			l.cols = append(l.cols[:i], l.cols[i+1:]...)
			return true
		}
	}
	return false
}

// insert puts col back in its place in the display order.
func (l *layout) insert(col column) {
	i := 0
	for i < len(l.cols) && l.cols[i] < col {
		i++
	}
	l.cols = append(l.cols, 0)
	copy(l.cols[i+1:], l.cols[i:])
	l.cols[i] = col
}

// appendRows appends one line per flow of idx. Each cell is formatted in
// place, then cut and padded to its column.
func appendRows(b []byte, c *cells, flows []flow.Flow, idx []int32, lay *layout, color bool) []byte {
	for _, i := range idx {
		f := &flows[i]
		start := len(b)
		if color {
			b = appendColor(b, f.Proto)
		}
		text := len(b)
		for k, col := range lay.cols {
			cell := len(b)
			b = c.appendCell(b, col, f)
			b = lay.place(b, cell, k, col)
		}
		b = trimRight(b, text)
		if text > start { // a colour was switched on
			b = append(b, ansiReset...)
		}
		b = append(b, '\n')
	}
	return b
}

// place makes the cell b[cell:] the k-th column: truncated to the column's
// width, aligned, followed by the separator unless it is the last column.
func (l *layout) place(b []byte, cell, k int, col column) []byte {
	width, n := l.width[col], len(b)-cell
	if !l.ascii {
		n = displayWidth(b[cell:])
	}
	if n > width {
		// truncate shortens the cell where it lies, at the end of b.
		b = b[:cell+len(truncate(b[cell:], width))]
		n = displayWidth(b[cell:])
	}
	pad, last := width-n, k == len(l.cols)-1
	switch {
	case rightAligned[col]:
		if pad > 0 {
			end := len(b)
			b = appendSpaces(b, pad)
			copy(b[cell+pad:], b[cell:end])
			for i := cell; i < cell+pad; i++ {
				b[i] = ' '
			}
		}
		if !last {
			b = appendSpaces(b, l.sep)
		}
	case !last:
		b = appendSpaces(b, pad+l.sep)
	}
	// A left-aligned last column needs no padding: the line ends there.
	return b
}

func writeTitles(w *bufio.Writer, lay *layout) {
	line := make([]byte, 0, 128)
	for k, col := range lay.cols {
		cell := len(line)
		line = append(line, titles[col]...)
		line = lay.place(line, cell, k, col)
	}
	w.Write(append(trimRight(line, 0), '\n'))
}

func appendColor(b []byte, proto uint8) []byte {
	switch proto {
	case flow.ProtoTCP:
		return append(b, ansiGreen...)
	case flow.ProtoUDP, flow.ProtoUDPLite:
		return append(b, ansiYellow...)
	case flow.ProtoICMP, flow.ProtoICMPv6:
		return append(b, ansiRed...)
	}
	return b
}

const spaces = "                                                                "

func appendSpaces(b []byte, n int) []byte {
	for n > len(spaces) {
		b = append(b, spaces...)
		n -= len(spaces)
	}
	if n > 0 {
		b = append(b, spaces[:n]...)
	}
	return b
}

// trimRight removes the spaces that padding left at the end of a line (an
// empty last cell), never going before start.
func trimRight(b []byte, start int) []byte {
	for len(b) > start && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	return b
}

// healthSegments describes the whole table in short pieces that writeSegments
// joins into as few lines as the width allows.
func healthSegments(t *flow.Table, o *Options) []string {
	s := &t.Stats
	var segs []string
	var b []byte
	b = append(b, "entries "...)
	b = strconv.AppendInt(b, int64(s.Entries), 10)
	if s.Max > 0 {
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(s.Max), 10)
		b = append(b, " ("...)
		b = strconv.AppendFloat(b, s.FillPercent(), 'f', 1, 64)
		b = append(b, "% full)"...)
	}
	segs = append(segs, string(b))
	if s.BytesPerEntry > 0 {
		b = append(b[:0], "memory "...)
		if s.BytesPerEntryEstimated {
			b = append(b, '~')
		}
		b = ui.AppendBytes(b, s.MemoryBytes())
		if s.BytesPerEntryEstimated {
			b = append(b, " (est.)"...)
		}
		segs = append(segs, string(b))
	}
	if s.HaveCPU {
		b = append(b[:0], "drops since boot "...)
		b = strconv.AppendUint(b, s.CPU.Drop, 10)
		b = append(b, " (insert_failed "...)
		b = strconv.AppendUint(b, s.CPU.InsertFailed, 10)
		b = append(b, ", early_drop "...)
		b = strconv.AppendUint(b, s.CPU.EarlyDrop, 10)
		b = append(b, ')')
		segs = append(segs, string(b))
	}
	src := "source " + termsafe.Sanitize(t.Source)
	if t.Frozen {
		src += " (saved dump)"
	}
	segs = append(segs, src, "sort "+o.Sort)
	if o.Filter != "" {
		segs = append(segs, "filter "+o.Filter)
	}
	return segs
}

// writeTotals writes the -t lines: how many flows are shown and hidden, then
// the count per protocol, then per state.
func writeTotals(w *bufio.Writer, tot *view.Totals, width int) {
	var b []byte
	b = append(b, "Totals: "...)
	b = strconv.AppendInt(b, int64(tot.Shown), 10)
	b = append(b, " shown, "...)
	b = strconv.AppendInt(b, int64(tot.Hidden), 10)
	b = append(b, " hidden by filters"...)
	segs := []string{string(b)}
	for _, c := range tot.ByProto() {
		segs = append(segs, c.Name+" "+strconv.Itoa(c.N))
	}
	writeSegments(w, segs, width)
	if states := tot.ByState(); len(states) > 0 {
		segs = segs[:0]
		for i, c := range states {
			seg := c.Name + " " + strconv.Itoa(c.N)
			if i == 0 {
				seg = "States: " + seg
			}
			segs = append(segs, seg)
		}
		writeSegments(w, segs, width)
	}
}

// writeSegments joins segments with two spaces, starting a new line before a
// segment that would pass width (0: no limit); a segment wider than width on
// its own is truncated.
func writeSegments(w *bufio.Writer, segs []string, width int) {
	var line []byte
	for _, s := range segs {
		if len(line) > 0 && width > 0 && displayWidth(line)+2+len(s) > width {
			w.Write(append(trimRight(line, 0), '\n'))
			line = line[:0]
		}
		if len(line) > 0 {
			line = append(line, "  "...)
		}
		line = append(line, s...)
		if width > 0 {
			line = truncate(line, width)
		}
	}
	w.Write(append(trimRight(line, 0), '\n'))
}
