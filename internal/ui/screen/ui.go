package screen

import (
	"os"
	"sync"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/monitor"
	"github.com/gostate/gostate/internal/resolve"
	"github.com/gostate/gostate/internal/sortby"
	"github.com/gostate/gostate/internal/termsafe"
	"github.com/gostate/gostate/internal/ui"
	"github.com/gostate/gostate/internal/view"
)

// mode says what the keyboard is doing.
type mode uint8

const (
	modeNormal  mode = iota
	modePrompt       // typing an answer in the status line
	modeConfirm      // y/n for a delete
	modeSort         // 'o' was pressed; the next key is a -b letter
	modeHelp         // the help screen is up
)

// model is the screen: input modes and drawing over the monitor's frame.
// Only the UI goroutine (tview's event loop) touches it.
type model struct {
	m     *monitor.Monitor
	f     *monitor.Frame
	cfg   Config
	clock monitor.Clock

	app     *tview.Application
	grid    *tview.Grid
	header  *tview.Box
	table   *tview.Table
	content *flowContent
	// who is the full-table banner's top source.
	who whoFills
	// first is the session's first read of the kernel's counters, for the
	// advisor (A).
	first  firstCounters
	pages  *tview.Pages
	help   *tview.TextView
	status *tview.Box

	// ended is closed when tview's event loop has returned: nothing posted
	// after that runs.
	ended chan struct{}

	counters, totals, noColor, lookup bool
	// mono is true on a terminal with fewer than 8 colours (xterm-mono,
	// vt100, vt220): it draws colours as reverse video, so the rows are
	// drawn plain and only the selected row is reversed.
	mono     bool
	resolver *resolve.Resolver

	// The selection follows a flow by identity; selRow is its position in
	// the view (0-based, without the column header).
	selKey flow.Key
	hasSel bool
	selRow int
	// follow keeps the selected flow selected in a new order (F); without
	// it a new order starts at its top, as in top and htop.
	follow bool
	// gv is the group view (Tab).
	gv groupView

	mode       mode
	promptKind promptKind
	promptText []rune
	pending    flow.Flow // the flow a delete asks about

	statusMsg string
	statusErr bool
	// staleShown is true while the status line says why reads fail.
	staleShown bool

	// gen changes whenever what a cell shows may have changed.
	gen uint64

	// rawHeader are the header's lines as composed, headerLines as wrapped
	// to the screen's width and kept within its budget; folded is true when
	// a line had no room.
	rawHeader   []hline
	headerLines []line
	folded      bool
	fallbacks   bool

	// keyHook, when set (tests), runs after every key event is handled.
	keyHook func()
}

// newUI starts the session (monitor.New reads the table's health, or the
// whole table when the health cannot be read on its own) and builds the
// primitives; the terminal is not touched yet.
func newUI(mc monitor.Config, cfg Config) (*model, error) {
	if os.Getenv("NO_COLOR") != "" {
		cfg.NoColor = true
	}
	if mc.Clock == nil {
		mc.Clock = monitor.SystemClock
	}
	u := &model{
		cfg: cfg, clock: mc.Clock,
		ended:    make(chan struct{}),
		counters: cfg.Counters,
		totals:   cfg.Totals,
		noColor:  cfg.NoColor,
	}
	mc.OnFrame = u.onFrame
	m, err := monitor.New(mc)
	if err != nil {
		return nil, err
	}
	u.m, u.f = m, m.Frame()
	if u.f.Reads == 0 {
		u.setStatus(msgReading, false)
	}
	u.build()
	// After build: turning lookups on hides DNS flows, which moves the
	// selection on the table build creates.
	if cfg.Lookup {
		u.setLookup(true)
	}
	u.reselect()
	return u, nil
}

// build creates the tview primitives: a Grid of header, table (or help) and
// status line.
func (u *model) build() {
	plainStyles.Do(func() {
		tview.Styles.PrimitiveBackgroundColor = tcell.ColorDefault
		tview.Styles.ContrastBackgroundColor = tcell.ColorDefault
		tview.Styles.PrimaryTextColor = tcell.ColorDefault
		tview.Styles.BorderColor = tcell.ColorDefault
		tview.Styles.GraphicsColor = tcell.ColorDefault
	})
	u.app = tview.NewApplication()
	u.header = tview.NewBox().SetDrawFunc(u.drawHeader)
	u.status = tview.NewBox().SetDrawFunc(u.drawStatus)
	u.content = newFlowContent(u)
	u.table = tview.NewTable().SetContent(u.content).SetFixed(1, 0).SetSelectable(true, false)
	u.table.SetSelectionChangedFunc(u.selectionChanged)
	u.gv.spec = defaultGroupSpec
	u.gv.content = newGroupContent(u)
	u.gv.table = tview.NewTable().SetContent(u.gv.content).SetFixed(1, 0).SetSelectable(true, false)
	u.gv.table.SetSelectionChangedFunc(u.groupSelectionChanged)
	u.help = tview.NewTextView().SetWrap(true).SetWordWrap(true).SetDynamicColors(false)
	u.pages = tview.NewPages().AddPage("table", u.table, true, true).AddPage("groups", u.gv.table, true, false).AddPage("help", u.help, true, false)
	u.grid = tview.NewGrid().SetRows(headerMinLines, 0, 1).SetColumns(0)
	u.grid.AddItem(u.header, 0, 0, 1, 1, 0, 0, false)
	u.grid.AddItem(u.pages, 1, 0, 1, 1, 0, 0, true)
	u.grid.AddItem(u.status, 2, 0, 1, 1, 0, 0, false)
	u.app.SetRoot(u.grid, true).SetFocus(u.table).EnableMouse(true)
	u.app.SetInputCapture(u.onKey)
	u.app.SetMouseCapture(u.onMouse)
	u.app.SetBeforeDrawFunc(u.beforeDraw)
	u.app.SetAfterDrawFunc(u.afterDraw)
	u.applyColors()
}

// plainStyles sets tview's global theme to the terminal's own colours,
// once: every screen of the process draws with it.
var plainStyles sync.Once

// post runs f on the UI goroutine for the monitor (monitor.Post).
func (u *model) post(f func(), redraw bool) bool {
	select {
	case <-u.ended:
		return false
	default:
	}
	if redraw {
		u.app.QueueUpdateDraw(f)
	} else {
		u.app.QueueUpdate(f)
	}
	return true
}

// onFrame follows the monitor's changes to the frame.
func (u *model) onFrame(f *monitor.Frame, c monitor.Change) {
	u.noteCounters()
	switch c {
	case monitor.ChangeRows:
		if u.statusMsg == msgRefreshing || u.statusMsg == msgReading || u.staleShown {
			u.setStatus("", false)
		}
		u.keepLine()
		u.followGroups()
	case monitor.ChangeRefresh:
		u.keepLine()
		u.followGroups()
	case monitor.ChangeStale:
		u.setStatus("read failed: "+termsafe.OneLine(f.Err.Error())+" (retrying)", true)
		u.staleShown = true
	case monitor.ChangeEventsLost:
		// Said here as well as in the header, whose first line a narrow
		// terminal cuts short; the next whole read clears it.
		u.setStatus("events lost (the kernel's buffer was full): reading the whole table", true)
		u.staleShown = true
	case monitor.ChangeFatal:
		u.app.Stop()
	}
	u.gen++
}

// beforeDraw lays the screen out for its current size: the header's height
// and which columns fit.
func (u *model) beforeDraw(scr tcell.Screen) bool {
	if !u.fallbacks {
		// Terminals without these characters get ASCII instead.
		u.fallbacks = true
		scr.RegisterRuneFallback('▲', "^")
		scr.RegisterRuneFallback('▼', "v")
		scr.RegisterRuneFallback('█', "#")
		scr.RegisterRuneFallback('░', "-")
		scr.RegisterRuneFallback('…', "~")
		for i, r := range sparkBars {
			scr.RegisterRuneFallback(r, string("_.-=+*#@"[i]))
		}
	}
	if mono := scr.Colors() < 8; mono != u.mono {
		u.mono = mono
		u.applyColors()
	}
	w, h := scr.Size()
	u.rawHeader = u.buildHeader(u.rawHeader[:0], w)
	u.headerLines, u.folded = fitHeader(u.headerLines[:0], u.rawHeader, w, headerBudget(h))
	n := len(u.headerLines)
	// The table keeps at least three rows (its column header and two flows)
	// when the terminal is tiny: the header gives way first.
	if maxN := h - 1 - 3; n > maxN {
		n = max(maxN, 1)
	}
	u.grid.SetRows(n, 0, 1)
	// Once every row fits, tview's table starts following its last row
	// and goes on after the terminal shrinks, scrolling the selection out
	// of sight (TestResize): the screen keeps its own offset instead.
	row, col := u.table.GetOffset()
	u.table.SetOffset(row, col)
	if u.hasSel {
		// Keep the selection on screen whatever the size: tview would
		// otherwise scroll it away when the table shrinks.
		u.table.Select(u.selRow+1, 0)
	}
	u.content.layout(w, h-n-1)
	if u.gv.on {
		if u.gv.hasSel {
			u.gv.table.Select(u.gv.selRow+1, 0)
		}
		u.gv.content.layout(w, h-n-1)
	}
	return false
}

// afterDraw tells the monitor which rows are on screen, and places the
// cursor at the end of a prompt.
func (u *model) afterDraw(scr tcell.Screen) {
	off, _ := u.table.GetOffset()
	u.m.SetWindow(off, u.pageRows())
	if u.mode != modeHelp {
		u.drawEmpty(scr)
	}
	if u.mode != modePrompt {
		scr.HideCursor()
		return
	}
	x, y, w, _ := u.status.GetRect()
	_, _, cx := u.promptLine(w)
	scr.ShowCursor(x+cx, y)
}

// colorless reports whether the screen draws without colours: asked for
// (-c, NO_COLOR, c) or a terminal without them.
func (u *model) colorless() bool { return u.noColor || u.mono }

func (u *model) applyColors() {
	sel := tcell.StyleDefault.Reverse(true)
	u.table.SetSelectedStyle(sel)
	u.gv.table.SetSelectedStyle(sel)
	u.gen++
}

// msgReading stays in the status line until the first whole read is on
// screen.
const msgReading = "reading the whole table…"

// setView filters and orders the table anew at once, so that a key press
// re-sorts without waiting for the next read.
func (u *model) setView(o view.Options) {
	u.m.SetView(o)
	u.gen++
	u.reselect()
	u.followGroups()
}

// newOrder shows the table in a new order from its top, as top and htop
// do: its first row selected and shown. With F the selected flow stays
// selected instead, wherever the order puts it.
func (u *model) newOrder(o view.Options) {
	u.m.SetOrder(o.Sort, o.Reverse)
	u.gen++
	if u.follow {
		u.reselect()
		return
	}
	u.hasSel = false
	u.selectRow(0)
	u.table.SetOffset(0, 0)
	if o.Sort == sortby.Bytes || o.Sort == sortby.Packets {
		u.countersOff()
	}
}

// countersOff says, when no flow has counters, how to turn accounting on:
// the counters columns and orders show nothing without it.
func (u *model) countersOff() {
	if u.f.Reads == 0 {
		return // rows with counters may not have arrived yet
	}
	if hint := ui.CountersOffHint(u.f.Table); hint != "" {
		u.setStatus(hint, true)
	}
}

// keepLine keeps the selected flow on its screen line while the rows around
// it change, as top and htop do: the page scrolls under it instead of the
// selection jumping. When the flow has left the table, the selection stays
// on the same line, on the flow now there.
func (u *model) keepLine() {
	n := u.f.Len()
	if n == 0 {
		u.hasSel, u.selRow = false, 0
		return
	}
	off, _ := u.table.GetOffset()
	i := -1
	if u.hasSel {
		i = u.f.Find(u.selKey)
	}
	row, off := keptPlace(n, u.selRow, off, i)
	u.selectRow(row)
	if i >= 0 {
		u.table.SetOffset(off, 0)
	}
}

// keptPlace is the rule of keepLine, for the flows, and keepGroupLine, for
// the groups: of n rows (n > 0), with row sel selected at offset off, the
// row to select when the selected item is now at row found (-1: it has
// gone), and the offset that keeps it on its screen line. A screen at the
// top of its view with the first row selected (where a new order starts)
// stays there, as top does: what sorts first is what is watched, and a
// flow that arrives above the selection shows instead of scrolling out of
// sight above it.
func keptPlace(n, sel, off, found int) (row, offset int) {
	if sel == 0 && off == 0 {
		return 0, 0
	}
	line := max(sel-off, 0)
	if found < 0 {
		return min(off+line, n-1), off
	}
	return found, max(found-line, 0)
}

// refresh asks for a whole read now; a read in flight is not disturbed.
func (u *model) refresh() { u.m.RefreshNow() }

// reselect keeps the selection on the same flow after the view changed, or
// on the same row when that flow is gone.
func (u *model) reselect() {
	if u.f.Len() == 0 {
		u.hasSel = false
		u.selRow = 0
		return
	}
	if u.hasSel {
		if i := u.f.Find(u.selKey); i >= 0 {
			u.selectRow(i)
			return
		}
	}
	u.selectRow(min(max(u.selRow, 0), u.f.Len()-1))
}

// selectRow selects the i-th flow of the view, clamped to the view.
func (u *model) selectRow(i int) {
	n := u.f.Len()
	if n == 0 {
		return
	}
	i = min(max(i, 0), n-1)
	u.selRow, u.hasSel = i, true
	u.selKey = u.f.Row(i).Key()
	u.table.Select(i+1, 0)
}

// selectionChanged follows tview's own selection changes (mouse clicks).
func (u *model) selectionChanged(row, _ int) {
	i := row - 1
	if i < 0 || i >= u.f.Len() || (u.hasSel && i == u.selRow) {
		return
	}
	u.selRow, u.hasSel = i, true
	u.selKey = u.f.Row(i).Key()
}

// selected returns the selected flow, or nil when the view is empty.
func (u *model) selected() *flow.Flow {
	if !u.hasSel || u.selRow >= u.f.Len() {
		return nil
	}
	return u.f.Row(u.selRow)
}

func (u *model) setStatus(msg string, isErr bool) {
	u.statusMsg, u.statusErr = msg, isErr
	u.staleShown = false
}

// setLookup turns name lookups on or off. As in iptstate, lookups also hide
// DNS flows, so that the lookups themselves do not flood the view.
func (u *model) setLookup(on bool) {
	u.lookup = on
	if on && u.resolver == nil {
		u.resolver = resolve.New(u.cfg.NameServer, resolve.DefaultWorkers, resolve.DefaultTTL, resolve.DefaultMaxEntries)
		u.resolver.SetNotify(func() {
			// Answers arrive on a resolver goroutine; redraw on the UI's.
			go u.post(func() { u.gen++ }, true)
		})
	}
	if o := u.f.Options; on && !o.Filter.NoDNS {
		o.Filter.NoDNS = true
		u.setView(o)
	}
	u.gen++
}
