package screen

import (
	"slices"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/group"
	"github.com/gostate/gostate/internal/monitor"
	"github.com/gostate/gostate/internal/termsafe"
	"github.com/gostate/gostate/internal/ui"
)

// groupView is the screen's group view (Tab): the view's flows counted by
// a key, biggest first, to answer who fills the table.
type groupView struct {
	// on is true while the group view is shown instead of the flow list.
	on bool
	// spec is what the view groups by; g the grouping, kept across
	// refreshes so that regrouping reuses its memory.
	spec group.Spec
	g    group.Grouping
	// byKey orders the groups by key instead of biggest first; reverse
	// turns the order around.
	byKey, reverse bool

	// The selection follows a group by key, as the flow list's follows a
	// flow; selRow is its position.
	selKey group.Key
	hasSel bool
	selRow int

	// levels are the groups entered with Enter, outermost first: one per
	// matcher of the view's Options.Within.
	levels []level

	// pending are the flows a delete asks about, copied when asked;
	// pendingName names their group.
	pending     []flow.Flow
	pendingName string

	table   *tview.Table
	content *groupContent
}

// level is a group entered: the grouping it was a group of, its order, its
// key, and its position and screen line, where Esc selects it again.
type level struct {
	spec           group.Spec
	byKey, reverse bool
	key            group.Key
	row, line      int
}

// defaultGroupSpec is the group view's first grouping: who opens the flows.
var defaultGroupSpec, _ = group.Parse("src")

// regroup groups the view's rows again.
func (u *model) regroup() {
	gv := &u.gv
	gv.g.Build(u.f.Table.Flows, u.f.View.Idx, gv.spec)
	if gv.byKey || gv.reverse {
		gv.g.Sort(gv.byKey, gv.reverse)
	}
	u.gen++
}

// followGroups groups the view's rows again after they changed, the
// selected group kept on its line; nothing while the group view is not
// shown (Tab groups them when it opens).
func (u *model) followGroups() {
	if u.gv.on {
		u.regroup()
		u.keepGroupLine()
	}
}

// groupCount is the number of groups shown.
func (u *model) groupCount() int { return len(u.gv.g.Groups) }

// selectGroup selects the i-th group, clamped to the groups.
func (u *model) selectGroup(i int) {
	gv := &u.gv
	n := u.groupCount()
	if n == 0 {
		gv.hasSel, gv.selRow = false, 0
		return
	}
	i = min(max(i, 0), n-1)
	gv.selRow, gv.hasSel = i, true
	gv.selKey = gv.g.Groups[i].Key
	gv.table.Select(i+1, 0)
}

// groupSelectionChanged follows tview's own selection changes (clicks).
func (u *model) groupSelectionChanged(row, _ int) {
	gv := &u.gv
	if i := row - 1; i >= 0 && i < u.groupCount() && (!gv.hasSel || i != gv.selRow) {
		gv.selRow, gv.hasSel, gv.selKey = i, true, gv.g.Groups[i].Key
	}
}

// keepGroupLine keeps the selected group on its screen line while the
// groups change, as keepLine does for a flow; a group that is gone leaves
// the selection on the same line.
func (u *model) keepGroupLine() {
	gv := &u.gv
	n := u.groupCount()
	if n == 0 {
		gv.hasSel, gv.selRow = false, 0
		return
	}
	off, _ := gv.table.GetOffset()
	i := -1
	if gv.hasSel {
		i = gv.g.Find(gv.selKey)
	}
	row, off := keptPlace(n, gv.selRow, off, i)
	u.selectGroup(row)
	if i >= 0 {
		gv.table.SetOffset(off, 0)
	}
}

// groupsFromTop shows the groups in a new order or grouping from the top.
func (u *model) groupsFromTop() {
	u.regroup()
	u.selectGroup(0)
	u.gv.table.SetOffset(0, 0)
}

// showGroups shows the group view, or the flow list.
func (u *model) showGroups(on bool) {
	u.gv.on = on
	if !on {
		u.pages.SwitchToPage("table")
		u.app.SetFocus(u.table)
		u.gen++
		return
	}
	u.pages.SwitchToPage("groups")
	u.app.SetFocus(u.gv.table)
	u.regroup()
	u.keepGroupLine()
}

// setGrouping groups by sp, from the top, in the group view.
func (u *model) setGrouping(sp group.Spec) {
	u.gv.spec = sp
	u.showGroups(true)
	u.groupsFromTop()
}

// sortGroups orders the groups by key or biggest first, from the top.
func (u *model) sortGroups(byKey, reverse bool) {
	u.gv.byKey, u.gv.reverse = byKey, reverse
	u.groupsFromTop()
}

// enterGroup shows the selected group's rows: grouped by whole addresses
// when it is a network, else as flows.
func (u *model) enterGroup() {
	gv := &u.gv
	if !gv.hasSel || gv.selRow >= u.groupCount() {
		return
	}
	i := gv.selRow
	off, _ := gv.table.GetOffset()
	gv.levels = append(gv.levels, level{spec: gv.spec, byKey: gv.byKey, reverse: gv.reverse,
		key: gv.g.Groups[i].Key, row: i, line: i - off})
	o := u.f.Options
	o.Within = append(slices.Clip(o.Within), gv.g.Matcher(i))
	u.m.SetView(o)
	u.gen++
	if finer, ok := gv.spec.Narrower(); ok {
		gv.spec, gv.byKey, gv.reverse = finer, false, false
		u.groupsFromTop()
		return
	}
	u.showGroups(false)
	u.hasSel = false
	u.selectRow(0)
	u.table.SetOffset(0, 0)
}

// leaveGroup goes back one level, to the group view the group was entered
// from, that group selected; it reports false at the top level.
func (u *model) leaveGroup() bool {
	gv := &u.gv
	n := len(gv.levels)
	if n == 0 {
		return false
	}
	lv := gv.levels[n-1]
	gv.levels = gv.levels[:n-1]
	o := u.f.Options
	o.Within = slices.Clip(o.Within[:len(o.Within)-1])
	u.m.SetView(o)
	u.gen++
	u.reselect()
	gv.spec, gv.byKey, gv.reverse = lv.spec, lv.byKey, lv.reverse
	u.showGroups(true)
	// The group entered, on its line; when it has gone, the group now at
	// its place.
	i := gv.g.Find(lv.key)
	if i < 0 {
		i = lv.row
	}
	u.selectGroup(i)
	gv.table.SetOffset(max(gv.selRow-lv.line, 0), 0)
	return true
}

// groupLabel names group i with its grouping: "src 203.0.113.66".
func (u *model) groupLabel(i int) string {
	return u.gv.spec.String() + " " + u.gv.g.Label(i)
}

// groupOrder says how the groups are ordered, for the header.
func (u *model) groupOrder() string {
	gv := &u.gv
	if gv.byKey {
		return "by key" + onOff(gv.reverse, "▼", "▲")
	}
	return onOff(gv.reverse, "smallest first▲", "biggest first▼")
}

// groupContent is the group view's tview.TableContent: row 0 the titles,
// row i+1 the i-th group. As flowContent, it makes the cells of the rows
// on screen only, and keeps them until what they show may have changed.
type groupContent struct {
	tview.TableContentReadOnly
	u *model

	cols  []ui.GroupColumn
	width [ui.NumGroupColumns]int
	sep   int
	cells ui.GroupCells

	title   [ui.NumGroupColumns]tview.TableCell
	titleAt uint64
	cache   rowCache[[ui.NumGroupColumns]tview.TableCell]
	buf     []byte
}

func newGroupContent(u *model) *groupContent {
	return &groupContent{u: u, buf: make([]byte, 0, 128)}
}

// GetRowCount implements tview.TableContent.
func (c *groupContent) GetRowCount() int { return c.u.groupCount() + 1 }

// GetColumnCount implements tview.TableContent.
func (c *groupContent) GetColumnCount() int { return len(c.cols) }

// GetCell implements tview.TableContent.
func (c *groupContent) GetCell(row, col int) *tview.TableCell {
	if col < 0 || col >= len(c.cols) || row < 0 || row > c.u.groupCount() {
		return nil
	}
	gc := c.cols[col]
	if row == 0 {
		if c.titleAt != c.u.gen {
			c.fillTitles()
		}
		return &c.title[gc]
	}
	cells, stale := c.cache.get(row, c.u.gen)
	if stale {
		c.fillRow(cells, row)
	}
	return &cells[gc]
}

// titleText is a column's title, with the sort mark on the column the
// groups are ordered by.
func (c *groupContent) titleText(col ui.GroupColumn) string {
	gv := &c.u.gv
	t := col.Title()
	if col == ui.GroupKey {
		t = gv.spec.String()
	}
	switch {
	case col == ui.GroupKey && gv.byKey:
		t += onOff(gv.reverse, "▼", "▲")
	case col == ui.GroupEntries && !gv.byKey:
		t += onOff(gv.reverse, "▲", "▼")
	}
	return t
}

func (c *groupContent) fillTitles() {
	c.titleAt = c.u.gen
	st := tcell.StyleDefault.Bold(true)
	for k, col := range c.cols {
		c.buf = c.cut(append(c.buf[:0], c.titleText(col)...), col, k)
		c.title[col] = tview.TableCell{Text: string(c.buf), Style: st, NotSelectable: true, Align: c.align(col)}
	}
}

// fillRow formats one group's cells. A group of one protocol (a key of
// proto, sport or dport) is coloured as its flows are; without colours the
// rows are plain and only the selected one is reversed, as in the flow list.
func (c *groupContent) fillRow(cells *[ui.NumGroupColumns]tview.TableCell, row int) {
	u := c.u
	g := &u.gv.g.Groups[row-1]
	label := tview.Escape(u.gv.g.Label(row - 1))
	st := tcell.StyleDefault
	if p, ok := u.gv.g.Proto(row - 1); ok {
		st = u.content.protoStyle(p)
	}
	for k, col := range c.cols {
		c.buf = c.cut(c.cells.Append(c.buf[:0], col, g, label), col, k)
		cell := &cells[col]
		if cell.Text != string(c.buf) {
			cell.Text = string(c.buf)
		}
		cell.Style, cell.SelectedStyle, cell.Align = st, st.Reverse(true), c.align(col)
	}
}

// cut cuts a cell to its column and pads it with the separator, less the
// space tview puts between columns.
func (c *groupContent) cut(b []byte, col ui.GroupColumn, k int) []byte {
	b = ui.CutEnd(b, c.width[col], cutMarker)
	for n := c.sep - 1; n > 0 && k < len(c.cols)-1; n-- {
		b = append(b, ' ')
	}
	return b
}

func (c *groupContent) align(col ui.GroupColumn) int {
	if col.RightAligned() {
		return tview.AlignRight
	}
	return tview.AlignLeft
}

// The least the key and the states are cut to while a column can give way
// instead, as the one-shot --group-by text cuts them: most addresses and
// networks stay apart ("198.51.100.…"), and one state with its count.
const (
	groupKeyFloor    = 12
	groupStatesFloor = len("ESTABLISHED 1,000")
)

// layout chooses the group columns and their widths for a screen width
// cells wide, measuring the groups that can be on screen.
func (c *groupContent) layout(width, height int) {
	u := c.u
	gv := &u.gv
	c.cells = ui.GroupCells{Rows: gv.g.Rows, Max: u.f.Table.Stats.Max}
	want := ui.WantedGroupColumns(u.counters, c.cells.Max)
	var natural [ui.NumGroupColumns]int
	for _, col := range want {
		natural[col] = ui.Width([]byte(c.titleText(col)))
	}
	off, _ := gv.table.GetOffset()
	lo, hi := off, off+height
	if sel := gv.selRow; sel < off || sel >= off+height-1 {
		lo, hi = sel-height+1, sel+height
	}
	lo, hi = max(lo, 0), min(hi, u.groupCount())
	c.cache.fit(height)
	for i := lo; i < hi; i++ {
		g := &gv.g.Groups[i]
		label := gv.g.Label(i)
		for _, col := range want {
			natural[col] = max(natural[col], ui.Width(c.cells.Append(c.buf[:0], col, g, label)))
		}
	}
	cols, sep := want, ui.WideSep
	total := func() int {
		n := sep * (len(cols) - 1)
		for _, col := range cols {
			n += natural[col]
		}
		return n
	}
	if total() > width {
		sep = ui.NarrowSep
	}
	// As the one-shot text does: the bar gives way first, then the
	// counters; then the key and the states are cut to their floors; then
	// of max gives way and the key is cut further.
	drop := func(out ...ui.GroupColumn) {
		if total() > width {
			cols = slices.DeleteFunc(slices.Clone(cols), func(col ui.GroupColumn) bool { return slices.Contains(out, col) })
		}
	}
	cut := func(col ui.GroupColumn, floor int) {
		if over := total() - width; over > 0 {
			natural[col] = max(natural[col]-over, min(natural[col], floor))
		}
	}
	drop(ui.GroupBar)
	drop(ui.GroupBytes, ui.GroupPackets)
	cut(ui.GroupKey, groupKeyFloor)
	cut(ui.GroupStates, groupStatesFloor)
	drop(ui.GroupOfMax)
	cut(ui.GroupKey, 1)
	cut(ui.GroupStates, 1)
	if !slices.Equal(cols, c.cols) || natural != c.width || sep != c.sep {
		c.cols, c.width, c.sep = cols, natural, sep
		u.gen++ // every cell is cut anew
	}
}

// groupKey handles the keys the group view has its own meaning for: b and
// B switch between biggest first and by key, r reverses, x deletes a
// group. It reports whether r was one.
func (u *model) groupKey(r rune) bool {
	gv := &u.gv
	switch r {
	case 'b', 'B':
		u.sortGroups(!gv.byKey, false)
	case 'r':
		u.sortGroups(gv.byKey, !gv.reverse)
	case 'x':
		u.startGroupDelete()
	default:
		return false
	}
	return true
}

// startGroupDelete asks whether to delete the flows of the selected group:
// those the view counted in it, copied now, so that the count asked about
// is the count deleted.
func (u *model) startGroupDelete() {
	gv := &u.gv
	if err := u.m.CanDelete(); err != nil {
		u.setStatus(err.Error(), true)
		return
	}
	if !gv.hasSel || gv.selRow >= u.groupCount() {
		u.setStatus("no group selected: nothing to delete", true)
		return
	}
	m := gv.g.Matcher(gv.selRow)
	gv.pending = gv.pending[:0]
	for _, i := range u.f.View.Idx {
		if f := &u.f.Table.Flows[i]; m.Match(f) {
			gv.pending = append(gv.pending, *f)
		}
	}
	gv.pendingName = u.groupLabel(gv.selRow)
	u.mode = modeConfirm
	u.setStatus("delete "+fmtCount(len(gv.pending))+" "+flowsWord(len(gv.pending))+" of "+
		termsafe.OneLine(gv.pendingName)+"? y/N", false)
}

func flowsWord(n int) string { return onOff(n == 1, "flow", "flows") }

// deleteGroup deletes the flows a group delete asked about, one by one.
func (u *model) deleteGroup() {
	gv := &u.gv
	name := termsafe.OneLine(gv.pendingName)
	u.setStatus("deleting "+fmtCount(len(gv.pending))+" "+flowsWord(len(gv.pending))+" of "+name+"…", false)
	err := u.m.DeleteAll(gv.pending,
		func(r monitor.DeleteResult) {
			u.setStatus("deleting "+name+": "+fmtCount(r.Deleted+r.Gone)+" of "+fmtCount(r.Total)+"…", false)
		},
		func(r monitor.DeleteResult) {
			msg := "deleted " + fmtCount(r.Deleted)
			if r.Gone > 0 {
				msg += ", " + fmtCount(r.Gone) + " already gone"
			}
			if r.Err != nil {
				u.setStatus(msg+"; then failed: "+termsafe.OneLine(r.Err.Error()), true)
				return
			}
			u.setStatus(msg, false)
		})
	// DeleteAll copied the flows.
	gv.pending = gv.pending[:0]
	if err != nil {
		u.setStatus(err.Error(), true)
	}
}
