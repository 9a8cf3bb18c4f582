// Package text writes one-shot views of the connection-tracking table: an
// aligned text table for people and line-oriented tools (grep, awk), and JSON
// Lines for programs. The columns, their widths and the health figures are
// package ui's, as on the live screen.
//
// The writers format rows in blocks into reused buffers, so a view of 200,000
// flows allocates nothing per row, and a large view is formatted on every
// core while earlier blocks are written.
package text

import (
	"bufio"
	"strings"
	"sync"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/termsafe"
	"github.com/gostate/gostate/internal/ui"
	"github.com/gostate/gostate/internal/view"
)

// Options say what the text table shows and how wide it may be.
type Options struct {
	// Counters adds the Bytes and Packets columns (-C): both directions
	// together, bytes in IEC units and packets in decimal ones.
	Counters bool
	// Rates adds the Rate column (-b rate, --rates): bytes per second of
	// both directions, from two reads.
	Rates bool
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
	// Height is the number of lines the terminal shows, 0 when not a
	// terminal: WriteGroups shows as many groups as fit (defaultTop).
	Height int
	// Sort and Filter describe the view for the health line ("dst reversed",
	// "src 192.0.2.0/24"); empty Filter means none.
	Sort, Filter string
	// Names, when set, shows host names instead of addresses (-l).
	Names ui.Namer
}

// cutMarker ends or marks a cut cell: ASCII, as pipes and grep expect.
const cutMarker = "~"

// ANSI codes of the row colours.
var ansiColor = [...]string{
	ui.ColorDefault: "",
	ui.ColorGreen:   "\x1b[32m",
	ui.ColorYellow:  "\x1b[33m",
	ui.ColorRed:     "\x1b[31m",
}

const ansiReset = "\x1b[0m"

// layout is the result of fitting the columns to a width.
type layout struct {
	ui.Layout
	// ascii is true when every cell is ASCII (no host names), so that a
	// cell's width is its length.
	ascii bool
}

// WriteText writes the health line, the full-table warning when there is one
// (ui.TableWarning, on the fill alone: a one-shot view has no earlier read to
// compare the drop counters with) with who fills the table under it
// (ui.TopSource), the column header and the rows of v, as o says; v is
// view.Build's, whose totals say which columns are wanted
// (ui.WantedColumns). A large view is measured and formatted on every core
// (o.Names must then be safe for concurrent use); the output is the same
// either way. It stops at the first write error (a closed pipe) and returns
// it.
func WriteText(w *bufio.Writer, t *flow.Table, v *view.View, o *Options) error {
	return writeTextPlan(w, t, v, o, planFor(len(v.Idx), textBlockRows))
}

func writeTextPlan(w *bufio.Writer, t *flow.Table, v *view.View, o *Options, p plan) error {
	want := ui.WantedColumns(o.Counters, o.Rates, &v.Totals)
	lay := fit(want, naturalWidths(want, o.Names, t.Flows, v.Idx, p.workers), o)
	if !o.NoHeader {
		writeSegments(w, healthSegments(t, o), o.Width)
		writeBanner(w, t, o.Width)
		if o.Totals {
			writeTotals(w, &v.Totals, o.Width)
		}
		writeTitles(w, &lay)
	}
	// A line is never longer than the layout plus its colour codes, unless
	// host names hold multi-byte characters: then the buffers grow.
	p.rowBytes = lay.Total() + len(ansiColor[ui.ColorYellow]) + len(ansiReset) + 1
	err := writeBlocks(w, v.Idx, p, func() blockFormatter {
		c := &ui.Cells{Names: o.Names}
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

// naturalWidths returns the widest cell of each of cols over the rows idx.
// With several workers each
// measures a contiguous share of the rows, the caller's goroutine the last.
func naturalWidths(cols []ui.Column, names ui.Namer, flows []flow.Flow, idx []int32, workers int) [ui.NumColumns]int {
	// A view lists a row at most once, so a view as long as the table holds
	// every row: then the rows are measured in the table's order, which
	// gives the same widths but reads memory in sequence rather than one
	// cache miss per row in sorted order.
	inOrder := len(idx) == len(flows)
	parts := make([][ui.NumColumns]int, max(workers, 1))
	share := (len(idx) + len(parts) - 1) / len(parts)
	var wg sync.WaitGroup
	for k := range parts {
		lo, hi := min(k*share, len(idx)), min((k+1)*share, len(idx))
		measure := func() {
			// Widths are kept in a local array so that the goroutines do
			// not write to the same cache line row after row.
			var width [ui.NumColumns]int
			c := ui.Cells{Names: names}
			for j := lo; j < hi; j++ {
				i := j
				if !inOrder {
					i = int(idx[j])
				}
				f := &flows[i]
				for _, col := range cols {
					width[col] = max(width[col], c.Width(col, f))
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
	var width [ui.NumColumns]int
	for _, part := range parts {
		for col, n := range part {
			width[col] = max(width[col], n)
		}
	}
	return width
}

// fit chooses which of the wanted columns are shown and how wide
// (ui.Fit), from the cells' natural widths and the titles'.
func fit(want []ui.Column, cells [ui.NumColumns]int, o *Options) layout {
	natural := cells
	for _, col := range want {
		natural[col] = max(natural[col], ui.Width([]byte(col.Title())))
	}
	return layout{Layout: ui.Fit(want, natural, o.Width), ascii: o.Names == nil}
}

// appendRows appends one line per flow of idx. Each cell is formatted in
// place, then cut and padded to its column.
func appendRows(b []byte, c *ui.Cells, flows []flow.Flow, idx []int32, lay *layout, color bool) []byte {
	for _, i := range idx {
		f := &flows[i]
		start := len(b)
		if color {
			b = append(b, ansiColor[ui.ProtoColor(f.Proto)]...)
		}
		text := len(b)
		for k, col := range lay.Columns {
			cell := len(b)
			b = c.Append(b, col, f)
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

// place makes the cell b[cell:] the k-th column: cut to the column's width
// (ui.Cut), aligned, followed by the separator unless it is the last column.
func (l *layout) place(b []byte, cell, k int, col ui.Column) []byte {
	width, n := l.Width[col], len(b)-cell
	if !l.ascii {
		n = ui.Width(b[cell:])
	}
	if n > width {
		b = append(b[:cell], ui.Cut(b[cell:], col, width, cutMarker)...)
		n = ui.Width(b[cell:])
	}
	pad, last := width-n, k == len(l.Columns)-1
	switch {
	case col.RightAligned():
		if pad > 0 {
			end := len(b)
			b = appendSpaces(b, pad)
			copy(b[cell+pad:], b[cell:end])
			for i := cell; i < cell+pad; i++ {
				b[i] = ' '
			}
		}
		if !last {
			b = appendSpaces(b, l.Sep)
		}
	case !last:
		b = appendSpaces(b, pad+l.Sep)
	}
	// A left-aligned last column needs no padding: the line ends there.
	return b
}

// writeTitles writes the column header. A title is cut at its end, whatever
// the column's cut rule for cells.
func writeTitles(w *bufio.Writer, lay *layout) {
	line := make([]byte, 0, 128)
	for k, col := range lay.Columns {
		cell := len(line)
		line = append(line, ui.CutEnd([]byte(col.Title()), lay.Width[col], cutMarker)...)
		line = lay.place(line, cell, k, col)
	}
	w.Write(append(trimRight(line, 0), '\n'))
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

// WriteHealth writes the health line that WriteText starts with, without
// the sort and filter of a view, the column header or any row: all there is
// to show of a table whose rows cannot be read. Lines are at most width
// columns (0: no limit).
func WriteHealth(w *bufio.Writer, t *flow.Table, width int) error {
	writeSegments(w, tableSegments(t), width)
	return w.Flush()
}

// healthSegments describes the whole table in short pieces that writeSegments
// joins into as few lines as the width allows: the health figures and the
// source (tableSegments), then how the view shows it.
func healthSegments(t *flow.Table, o *Options) []string {
	segs := append(tableSegments(t), "sort "+o.Sort)
	if o.Filter != "" {
		segs = append(segs, "filter "+o.Filter)
	}
	return segs
}

// tableSegments are the health figures the screen shows too (ui.Health),
// then what was read.
func tableSegments(t *flow.Table) []string {
	var segs []string
	for _, f := range ui.Health(&t.Stats, nil) {
		segs = append(segs, f.Label+" "+f.Value)
	}
	src := "source " + termsafe.Sanitize(t.Source)
	if t.Frozen {
		src += " (saved dump)"
	}
	return append(segs, src)
}

// writeWarning writes the full-table warning (ui.TableWarning): what is
// wrong, two spaces, what to do, on one line when width (0: no limit) allows.
// Otherwise each part starts a line and is wrapped between words, and what
// to do is given as the instruction, then the command on a line of its own,
// whole, for the reader to copy; only a word (or command) wider than width
// on its own is cut.
func writeWarning(w *bufio.Writer, msg, fix string, width int) {
	if width <= 0 || ui.Width([]byte(msg))+2+ui.Width([]byte(fix)) <= width {
		w.WriteString(msg + "  " + fix + "\n")
		return
	}
	writeWrapped(w, msg, width)
	if i := strings.LastIndex(fix, ": "); i >= 0 && ui.Width([]byte(fix)) > width {
		writeWrapped(w, fix[:i+1], width)
		fix = fix[i+2:]
	}
	w.Write(append(ui.CutEnd([]byte(fix), width, cutMarker), '\n'))
}

// writeWrapped writes s on as few lines of at most width cells as breaking
// it between words allows.
func writeWrapped(w *bufio.Writer, s string, width int) {
	var line []byte
	for _, word := range strings.Fields(s) {
		if len(line) > 0 && ui.Width(line)+1+ui.Width([]byte(word)) > width {
			w.Write(append(line, '\n'))
			line = line[:0]
		}
		if len(line) > 0 {
			line = append(line, ' ')
		}
		line = ui.CutEnd(append(line, word...), width, cutMarker)
	}
	w.Write(append(line, '\n'))
}

// writeTotals writes the -t lines: how many flows are shown and hidden, then
// the count per protocol, then per state. Protocols are named as in the
// rows (flow.ProtoName).
func writeTotals(w *bufio.Writer, tot *view.Totals, width int) {
	var b []byte
	b = append(b, "Totals: "...)
	b = ui.AppendCount(b, uint64(tot.Shown))
	b = append(b, " shown, "...)
	b = ui.AppendCount(b, uint64(tot.Hidden))
	b = append(b, " hidden by filters"...)
	segs := []string{string(b)}
	for _, c := range tot.ByProto() {
		segs = append(segs, flow.ProtoName(c.Proto)+" "+string(ui.AppendCount(nil, uint64(c.N))))
	}
	writeSegments(w, segs, width)
	if states := tot.ByState(); len(states) > 0 {
		segs = segs[:0]
		for i, c := range states {
			seg := c.Name + " " + string(ui.AppendCount(nil, uint64(c.N)))
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
// its own is cut at its end.
func writeSegments(w *bufio.Writer, segs []string, width int) {
	var line []byte
	for _, s := range segs {
		if len(line) > 0 && width > 0 && ui.Width(line)+2+ui.Width([]byte(s)) > width {
			w.Write(append(trimRight(line, 0), '\n'))
			line = line[:0]
		}
		if len(line) > 0 {
			line = append(line, "  "...)
		}
		line = append(line, s...)
		if width > 0 {
			line = ui.CutEnd(line, width, cutMarker)
		}
	}
	w.Write(append(trimRight(line, 0), '\n'))
}
