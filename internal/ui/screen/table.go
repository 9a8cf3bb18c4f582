package screen

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/sortby"
	"github.com/gostate/gostate/internal/termsafe"
	"github.com/gostate/gostate/internal/ui"
)

// column is one of the flow table's columns.
type column uint8

const (
	colSrc column = iota
	colDst
	colNAT
	colProto
	colState
	colTTL
	colBytes
	colPackets
	numCols
)

var colTitles = [numCols]string{"Source", "Destination", "NAT", "Proto", "State", "TTL", "Bytes", "Packets"}

// dropOrder is the order in which columns give way on a narrow terminal:
// counters, then TTL and state, then NAT and protocol; the addresses stay
// and shrink instead.
var dropOrder = []column{colPackets, colBytes, colTTL, colState, colNAT, colProto}

// minAddrWidth is the narrowest an address column shrinks to.
const minAddrWidth = 6

// cacheRows is how many rows' cells are kept. tview asks for a cell several
// times per draw and keeps pointers to the cells during one draw, so the
// cache must hold every row on screen.
const cacheRows = 512

// flowContent is the table's tview.TableContent: row 0 is the column header,
// row i+1 the view's i-th flow. Cells are made only for the rows tview asks
// for (those on screen), so a redraw costs the same at 100 or 1,000,000
// flows.
type flowContent struct {
	tview.TableContentReadOnly
	u *model

	// cols are the columns on screen, in order; width is each column's
	// maximum width (0 = as wide as its widest cell).
	cols  []column
	width [numCols]int

	title   [numCols]tview.TableCell
	titleAt uint64
	// clicks sort by a column when its title is clicked.
	clicks  [numCols]func() bool
	cells   [cacheRows][numCols]tview.TableCell
	slotRow [cacheRows]int
	slotGen [cacheRows]uint64
	buf     []byte
}

func newFlowContent(u *model) *flowContent {
	c := &flowContent{u: u, buf: make([]byte, 0, 128)}
	for i := range c.slotRow {
		c.slotRow[i] = -1
	}
	for col := range numCols {
		c.clicks[col] = func() bool {
			u.sortByColumn(col)
			return true // a title is not a row to select
		}
	}
	return c
}

// GetRowCount implements tview.TableContent.
func (c *flowContent) GetRowCount() int { return c.u.f.Len() + 1 }

// GetColumnCount implements tview.TableContent.
func (c *flowContent) GetColumnCount() int { return len(c.cols) }

// GetCell implements tview.TableContent.
func (c *flowContent) GetCell(row, col int) *tview.TableCell {
	if col < 0 || col >= len(c.cols) || row < 0 || row > c.u.f.Len() {
		return nil
	}
	lc := c.cols[col]
	cell := c.cell(row, lc)
	cell.MaxWidth = c.width[lc]
	return cell
}

// cell returns the cell of a logical column, formatting the row when the
// cache does not hold it for the current generation.
func (c *flowContent) cell(row int, col column) *tview.TableCell {
	if row == 0 {
		if c.titleAt != c.u.gen || c.title[0].Text == "" {
			c.fillTitles()
		}
		return &c.title[col]
	}
	slot := row % cacheRows
	if c.slotRow[slot] != row || c.slotGen[slot] != c.u.gen {
		c.fillRow(slot, row)
	}
	return &c.cells[slot][col]
}

// sortColumn returns the column an ordering sorts by.
func sortColumn(k sortby.Key) column {
	switch k {
	case sortby.Dst, sortby.DstPort:
		return colDst
	case sortby.Proto:
		return colProto
	case sortby.State:
		return colState
	case sortby.TTL:
		return colTTL
	case sortby.Bytes:
		return colBytes
	case sortby.Packets:
		return colPackets
	}
	return colSrc
}

// columnKeys are the orderings a click on a column's title chooses.
var columnKeys = [numCols]sortby.Key{colSrc: sortby.Src, colDst: sortby.Dst, colProto: sortby.Proto,
	colState: sortby.State, colTTL: sortby.TTL, colBytes: sortby.Bytes, colPackets: sortby.Packets}

// sortByColumn sorts by a column whose title was clicked; a second click
// reverses the order. The NAT column has no ordering.
func (u *model) sortByColumn(col column) {
	if col == colNAT {
		return
	}
	o := u.f.Options
	if sortColumn(o.Sort) == col {
		o.Reverse = !o.Reverse
	} else {
		o.Sort, o.Reverse = columnKeys[col], false
	}
	u.setView(o)
}

// sortArrow returns ▲ for an ascending order and ▼ for a descending one
// (bytes and packets sort biggest first unless reversed).
func sortArrow(k sortby.Key, reverse bool) string {
	if k.Ascending(reverse) {
		return "▲"
	}
	return "▼"
}

// titleText is a column's header: its name, with the sort mark on the
// sorted column ("Destination:port▲" when sorting by destination port).
func (c *flowContent) titleText(col column) string {
	o := &c.u.f.Options
	if col != sortColumn(o.Sort) {
		return colTitles[col]
	}
	t := colTitles[col]
	if o.Sort == sortby.SrcPort || o.Sort == sortby.DstPort {
		t += ":port"
	}
	return t + sortArrow(o.Sort, o.Reverse)
}

func (c *flowContent) fillTitles() {
	c.titleAt = c.u.gen
	st := tcell.StyleDefault.Bold(true)
	for col := range numCols {
		c.title[col] = tview.TableCell{
			Text:          c.titleText(col),
			Style:         st,
			NotSelectable: true,
			Clicked:       c.clicks[col],
		}
		if col >= colTTL {
			c.title[col].Align = tview.AlignRight
		}
	}
}

// protoStyle colours rows by protocol as iptstate does.
func (c *flowContent) protoStyle(proto uint8) tcell.Style {
	st := tcell.StyleDefault
	if c.u.noColor {
		return st
	}
	switch proto {
	case flow.ProtoTCP:
		return st.Foreground(tcell.ColorGreen)
	case flow.ProtoUDP, flow.ProtoUDPLite:
		return st.Foreground(tcell.ColorYellow)
	case flow.ProtoICMP, flow.ProtoICMPv6:
		return st.Foreground(tcell.ColorRed)
	}
	return st
}

// fillRow formats every column of one row into the cache slot. A cell's
// text is only replaced when it changed, so an unchanged screen allocates
// nothing.
func (c *flowContent) fillRow(slot, row int) {
	u := c.u
	c.slotRow[slot], c.slotGen[slot] = row, u.gen
	f := u.f.Row(row - 1)
	st := c.protoStyle(f.Proto)
	// The selected row is drawn in reverse video: it keeps the protocol's
	// colour as its background in colour mode and stays visible without
	// colours.
	sel := st.Reverse(true)
	cells := &c.cells[slot]
	for col := range numCols {
		c.buf = c.appendCell(c.buf[:0], f, col)
		cell := &cells[col]
		if cell.Text != string(c.buf) {
			cell.Text = string(c.buf)
		}
		cell.Style, cell.SelectedStyle = st, sel
		cell.Align = tview.AlignLeft
		if col >= colTTL {
			cell.Align = tview.AlignRight
		}
	}
}

// appendCell appends what a column shows for f, with tview's style tags
// escaped (IPv6 addresses are bracketed).
func (c *flowContent) appendCell(b []byte, f *flow.Flow, col column) []byte {
	u := c.u
	switch col {
	case colSrc:
		return escapeTags(u.appendEndpoint(b, f, &f.Orig, true), len(b))
	case colDst:
		return escapeTags(u.appendEndpoint(b, f, &f.Orig, false), len(b))
	case colNAT:
		start := len(b)
		if f.Status&flow.StatusSrcNAT != 0 {
			b = append(b, "snat "...)
			b = ui.AppendEndpoint(b, f, &f.Reply, false)
		}
		if f.Status&flow.StatusDstNAT != 0 {
			if len(b) > start {
				b = append(b, ' ')
			}
			b = append(b, "dnat "...)
			b = ui.AppendEndpoint(b, f, &f.Reply, true)
		}
		return escapeTags(b, start)
	case colProto:
		return append(b, f.ProtoName()...)
	case colState:
		return ui.AppendState(b, f)
	case colTTL:
		if f.Present&flow.HasTimeout == 0 {
			return append(b, '-')
		}
		return ui.AppendTTL(b, u.f.TTL(f, u.clock.Now()))
	case colBytes, colPackets:
		if f.Present&flow.HasCounters == 0 {
			return append(b, '-')
		}
		if col == colBytes {
			return ui.AppendBytes(b, f.Bytes())
		}
		return ui.AppendPackets(b, f.Packets())
	}
	return b
}

// appendEndpoint appends one end of the original tuple, as a host name when
// lookups are on and the name is known.
func (u *model) appendEndpoint(b []byte, f *flow.Flow, t *flow.Tuple, src bool) []byte {
	if !u.lookup || u.resolver == nil {
		return ui.AppendEndpoint(b, f, t, src)
	}
	addr, port := t.Dst, t.DstPort
	if src {
		addr, port = t.Src, t.SrcPort
	}
	name, ok := u.resolver.Name(addr.Netip(f.Family))
	if !ok || name == "" {
		return ui.AppendEndpoint(b, f, t, src)
	}
	b = append(b, termsafe.Sanitize(name)...)
	if f.HasPorts() {
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(port), 10)
	}
	return b
}

// escapeTags escapes b[from:] the way tview.Escape does, without a regular
// expression: a "]" that would close a style tag such as "[2001:db8::1]"
// becomes "[]".
func escapeTags(b []byte, from int) []byte {
	open := -1
	for i := from; i < len(b); i++ {
		ch := b[i]
		switch {
		case ch == '[':
			open = i
		case ch == ']':
			if open >= 0 && i > open+1 {
				b = append(b, 0)
				copy(b[i+1:], b[i:])
				b[i] = '['
				i++
			}
			open = -1
		case !tagChar(ch):
			open = -1
		}
	}
	return b
}

// tagChar reports whether ch may appear inside a tview style tag.
func tagChar(ch byte) bool {
	return ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' ||
		ch == '_' || ch == ',' || ch == ';' || ch == ':' || ch == ' ' || ch == '-' || ch == '.' ||
		ch == '"' || ch == '#'
}

// layout chooses the columns that fit in width, measuring the rows that can
// be on screen (around the offset and the selection), and the widest each
// address column may be.
func (c *flowContent) layout(width, height int) {
	u := c.u
	want := [numCols]bool{colSrc: true, colDst: true, colNAT: u.f.View.Totals.NATed > 0, colProto: true,
		colState: true, colTTL: true, colBytes: u.counters, colPackets: u.counters}
	var natural [numCols]int
	for col := range numCols {
		natural[col] = utf8.RuneCountInString(c.titleText(col))
	}
	// The rows tview will draw: from its offset, unless it must scroll to
	// bring the selection into view.
	off, _ := u.table.GetOffset()
	lo, hi := off, off+height
	if sel := u.selRow; sel < off || sel >= off+height-1 {
		lo, hi = sel-height+1, sel+height
	}
	lo, hi = max(lo+1, 1), min(hi+1, u.f.Len()+1)
	hi = min(hi, lo+cacheRows/2)
	for row := lo; row < hi; row++ {
		for col := range numCols {
			if want[col] {
				natural[col] = max(natural[col], cellWidth(c.cell(row, col).Text))
			}
		}
	}
	total := func() int {
		n, w := 0, 0
		for col := range numCols {
			if want[col] {
				n++
				w += natural[col]
			}
		}
		return w + n - 1 // one space between columns
	}
	for _, col := range dropOrder {
		if total() <= width {
			break
		}
		want[col] = false
	}
	c.width = [numCols]int{}
	if over := total() - width; over > 0 {
		// Shrink the wider address first, then both evenly.
		s, d := natural[colSrc], natural[colDst]
		for ; over > 0 && (s > minAddrWidth || d > minAddrWidth); over-- {
			if s >= d && s > minAddrWidth {
				s--
			} else {
				d--
			}
		}
		c.width[colSrc], c.width[colDst] = s, d
	}
	c.cols = c.cols[:0]
	for col := range numCols {
		if want[col] {
			c.cols = append(c.cols, col)
		}
	}
}

// cellWidth is the width of a cell's text on screen: its characters, less
// the "[" of every escaped "[]" (see escapeTags).
func cellWidth(s string) int {
	return utf8.RuneCountInString(s) - strings.Count(s, "[]")
}
