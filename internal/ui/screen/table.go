package screen

import (
	"bytes"
	"slices"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/sortby"
	"github.com/gostate/gostate/internal/ui"
)

// cutMarker marks a cell cut to its column (the one-shot text uses "~").
const cutMarker = "…"

// flowContent is the table's tview.TableContent: row 0 is the column header,
// row i+1 the view's i-th flow, in the columns of the shared column model
// (ui.Column) that fit the screen. Cells are made only for the rows tview
// asks for (those on screen), so a redraw costs the same at 100 or 1,000,000
// flows.
type flowContent struct {
	tview.TableContentReadOnly
	u *model

	// lay is the columns on screen and their widths.
	lay ui.Layout
	// cells formats the cells; its clock is set at every layout.
	cells ui.Cells

	title   [ui.NumColumns]tview.TableCell
	titleAt uint64
	// clicks sort by a column when its title is clicked.
	clicks [ui.NumColumns]func() bool
	cache  rowCache[[ui.NumColumns]tview.TableCell]
	buf    []byte
}

func newFlowContent(u *model) *flowContent {
	c := &flowContent{u: u, buf: make([]byte, 0, 128)}
	for col := range ui.NumColumns {
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
func (c *flowContent) GetColumnCount() int { return len(c.lay.Columns) }

// GetCell implements tview.TableContent.
func (c *flowContent) GetCell(row, col int) *tview.TableCell {
	if col < 0 || col >= len(c.lay.Columns) || row < 0 || row > c.u.f.Len() {
		return nil
	}
	lc := c.lay.Columns[col]
	if row == 0 {
		if c.titleAt != c.u.gen || c.title[ui.ColSource].Text == "" {
			c.fillTitles()
		}
		return &c.title[lc]
	}
	cells, stale := c.cache.get(row, c.u.gen)
	if stale {
		c.fillRow(cells, row)
	}
	return &cells[lc]
}

// sortColumn returns the column an ordering sorts by.
func sortColumn(k sortby.Key) ui.Column {
	switch k {
	case sortby.Dst, sortby.DstPort:
		return ui.ColDestination
	case sortby.Proto:
		return ui.ColProto
	case sortby.State:
		return ui.ColState
	case sortby.TTL:
		return ui.ColTTL
	case sortby.Bytes:
		return ui.ColBytes
	case sortby.Packets:
		return ui.ColPackets
	case sortby.Rate:
		return ui.ColRate
	}
	return ui.ColSource
}

// columnKeys are the orderings a click on a column's title chooses; NAT,
// Mark and Zone have none.
var columnKeys = [ui.NumColumns]sortby.Key{ui.ColSource: sortby.Src, ui.ColDestination: sortby.Dst,
	ui.ColProto: sortby.Proto, ui.ColState: sortby.State, ui.ColTTL: sortby.TTL,
	ui.ColBytes: sortby.Bytes, ui.ColPackets: sortby.Packets, ui.ColRate: sortby.Rate}

// sortByColumn sorts by a column whose title was clicked; a second click
// reverses the order.
func (u *model) sortByColumn(col ui.Column) {
	if col == ui.ColNAT || col == ui.ColMark || col == ui.ColZone {
		return // no ordering
	}
	o := u.f.Options
	if sortColumn(o.Sort) == col {
		o.Reverse = !o.Reverse
	} else {
		o.Sort, o.Reverse = columnKeys[col], false
	}
	u.newOrder(o)
}

// sortArrow returns ▲ for an ascending order and ▼ for a descending one
// (bytes and packets sort biggest first unless reversed).
func sortArrow(k sortby.Key, reverse bool) string {
	if k.Ascending(reverse) {
		return "▲"
	}
	return "▼"
}

// titleText is a column's header: its title, with the sort mark on the
// sorted column ("Destination:port▲" when sorting by destination port).
func (c *flowContent) titleText(col ui.Column) string {
	o := &c.u.f.Options
	t := col.Title()
	if col != sortColumn(o.Sort) {
		return t
	}
	if o.Sort == sortby.SrcPort || o.Sort == sortby.DstPort {
		t += ":port"
	}
	return t + sortArrow(o.Sort, o.Reverse)
}

func (c *flowContent) fillTitles() {
	c.titleAt = c.u.gen
	st := tcell.StyleDefault.Bold(true)
	for k, col := range c.lay.Columns {
		c.buf = ui.Cut(append(c.buf[:0], c.titleText(col)...), col, c.lay.Width[col], cutMarker)
		c.title[col] = tview.TableCell{
			Text:          string(c.pad(c.buf, k)),
			Style:         st,
			NotSelectable: true,
			Clicked:       c.clicks[col],
		}
		c.title[col].Align = c.align(col)
	}
}

// protoStyle colours rows by protocol as iptstate does (ui.ProtoColor).
func (c *flowContent) protoStyle(proto uint8) tcell.Style {
	st := tcell.StyleDefault
	if c.u.colorless() {
		return st
	}
	switch ui.ProtoColor(proto) {
	case ui.ColorGreen:
		return st.Foreground(tcell.ColorGreen)
	case ui.ColorYellow:
		return st.Foreground(tcell.ColorYellow)
	case ui.ColorRed:
		return st.Foreground(tcell.ColorRed)
	}
	return st
}

// fillRow formats the columns on screen of one row into its cells, each cut
// to its column's width. A cell's text is only replaced when it changed, so
// an unchanged screen allocates nothing.
func (c *flowContent) fillRow(cells *[ui.NumColumns]tview.TableCell, row int) {
	u := c.u
	f := u.f.Row(row - 1)
	st := c.protoStyle(f.Proto)
	// The selected row is drawn in reverse video: it keeps the protocol's
	// colour as its background in colour mode and stays visible without
	// colours.
	sel := st.Reverse(true)
	for k, col := range c.lay.Columns {
		c.buf = ui.Cut(c.cells.Append(c.buf[:0], col, f), col, c.lay.Width[col], cutMarker)
		c.buf = c.pad(c.buf, k)
		cell := &cells[col]
		switch {
		case bytes.IndexByte(c.buf, '[') >= 0:
			// An IPv6 address in brackets would read as a style tag.
			cell.Text = tview.Escape(string(c.buf))
		case cell.Text != string(c.buf):
			cell.Text = string(c.buf)
		}
		cell.Style, cell.SelectedStyle = st, sel
		cell.Align = c.align(col)
	}
}

// pad ends the cell of the k-th column on screen with the layout's separator,
// less the one space tview puts between columns.
func (c *flowContent) pad(b []byte, k int) []byte {
	for n := c.lay.Sep - 1; n > 0 && k < len(c.lay.Columns)-1; n-- {
		b = append(b, ' ')
	}
	return b
}

func (c *flowContent) align(col ui.Column) int {
	if col.RightAligned() {
		return tview.AlignRight
	}
	return tview.AlignLeft
}

// layout chooses the columns that fit in width (ui.Fit), measuring the rows
// that can be on screen (around the offset and the selection).
func (c *flowContent) layout(width, height int) {
	u := c.u
	c.cells.Names = nil
	if u.lookup && u.resolver != nil {
		c.cells.Names = u.names
	}
	c.cells.Epoch, c.cells.Now = u.f.Epoch(), u.clock.Now()
	if u.f.Table.Frozen {
		c.cells.Now = time.Time{} // a saved dump's TTLs are as saved
	}
	want := ui.WantedColumns(u.counters, u.counters || u.f.Options.Sort == sortby.Rate, &u.f.View.Totals)
	var natural [ui.NumColumns]int
	for _, col := range want {
		natural[col] = ui.Width([]byte(c.titleText(col)))
	}
	// The rows tview will draw: from its offset, unless it must scroll to
	// bring the selection into view.
	off, _ := u.table.GetOffset()
	lo, hi := off, off+height
	if sel := u.selRow; sel < off || sel >= off+height-1 {
		lo, hi = sel-height+1, sel+height
	}
	lo, hi = max(lo, 0), min(hi, u.f.Len())
	c.cache.fit(height)
	for i := lo; i < hi; i++ {
		f := u.f.Row(i)
		for _, col := range want {
			natural[col] = max(natural[col], c.cells.Width(col, f))
		}
	}
	lay := ui.Fit(want, natural, width)
	if !sameLayout(&lay, &c.lay) {
		c.lay = lay
		u.gen++ // every cell is cut anew
	}
}

func sameLayout(a, b *ui.Layout) bool {
	return a.Sep == b.Sep && a.Width == b.Width && slices.Equal(a.Columns, b.Columns)
}

// names is the ui.Namer of the screen's lookups: a name once the resolver has
// one, the address meanwhile.
func (u *model) names(fam flow.Family, a flow.Addr) (string, bool) {
	name, ok := u.resolver.Name(a.Netip(fam))
	return name, ok && name != ""
}

// drawEmpty says, under the column titles, why no row is shown: every flow
// hidden by the filters, or a table with nothing in it and the usual
// reasons for that.
func (u *model) drawEmpty(scr tcell.Screen) {
	f := u.f
	if f.Reads == 0 || f.Len() > 0 {
		return
	}
	var text []string
	if hidden := f.View.Totals.Hidden; hidden > 0 {
		text = []string{"No flow matches the filters: " + fmtCount(hidden) + " hidden.",
			"Change them with s d S D (an empty answer clears one), f, L or i."}
	} else {
		text = []string{"The table is empty: the kernel tracks no flow here.",
			"Conntrack tracks flows only once something uses it: a firewall rule that matches",
			"ct state, NAT, or a conntrack helper, in this network namespace.",
			"Is nf_conntrack loaded (lsmod | grep nf_conntrack)? Is this the namespace you",
			"meant (--netns NAME for another)?"}
	}
	x, y, w, h := u.activeTable().GetInnerRect()
	for i, l := range text {
		if i+2 >= h {
			break
		}
		drawSegs(scr, x, y+2+i, w, line{{l, tcell.StyleDefault}})
	}
}
