package screen

import (
	"os"
	"slices"
	"sync"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/resolve"
	"github.com/gostate/gostate/internal/source"
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

// model is the screen's state. Unless a field says otherwise, only the UI
// goroutine (tview's event loop) touches it.
type model struct {
	r     source.Reader
	d     source.Deleter
	cfg   Config
	clock Clock

	app     *tview.Application
	grid    *tview.Grid
	header  *tview.Box
	table   *tview.Table
	content *flowContent
	pages   *tview.Pages
	help    *tview.TextView
	status  *tview.Box

	// quit is closed when the screen has ended; refreshNow asks the reader
	// for a read at once; intervalChanged wakes it after R.
	quit            chan struct{}
	refreshNow      chan struct{}
	intervalChanged chan struct{}
	// scrolled asks the reader to refresh the rows on screen now (only
	// with a source that can): other rows came into view.
	scrolled chan struct{}
	lastOff  int

	// mu guards the fields the reader goroutine shares with the UI.
	mu       sync.Mutex
	interval time.Duration
	nextRead time.Time
	nextFull time.Time
	lerr     error
	// stage is the reader's buffer for a batch of a whole-table read, and
	// then holds that read's figures; the UI goroutine reads them in
	// endRead, while the reader waits.
	stage flow.Table
	// light is the reader's buffer for refreshing the rows on screen.
	light lightRead
	// lightOK is true when the source can refresh single rows.
	lightOK bool

	shown shownTable
	opts  view.Options

	counters, totals, noColor, lookup bool
	resolver                          *resolve.Resolver

	// The selection follows a flow by identity; selRow is its row in the
	// view (0-based, without the column header).
	selKey flow.Key
	hasSel bool
	selRow int

	mode       mode
	promptKind promptKind
	promptText []rune
	pending    flow.Flow // the flow a delete asks about

	statusMsg string
	statusErr bool

	// Health figures derived when a frame is installed or the figures are
	// read on their own; statsAt is when the figures shown were read.
	statsAt   time.Time
	stale     bool
	delta     flow.CPUStats
	haveDelta bool

	// gen changes whenever what a cell shows may have changed.
	gen uint64

	// rawHeader are the header's lines as composed, headerLines as wrapped
	// to the screen's width.
	rawHeader   []line
	headerLines []line
	fallbacks   bool

	// keyHook, when set (tests), runs after every key event is handled.
	keyHook func()
}

// newUI reads the table once and builds the primitives; the terminal is not
// touched yet.
func newUI(r source.Reader, d source.Deleter, cfg Config, clock Clock) (*model, error) {
	if os.Getenv("NO_COLOR") != "" {
		cfg.NoColor = true
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Interval < MinInterval {
		cfg.Interval = MinInterval
	}
	u := &model{
		r: r, d: d, cfg: cfg, clock: clock,
		quit:            make(chan struct{}),
		refreshNow:      make(chan struct{}, 1),
		intervalChanged: make(chan struct{}, 1),
		scrolled:        make(chan struct{}, 1),
		interval:        cfg.Interval,
		opts:            cfg.View,
		counters:        cfg.Counters,
		totals:          cfg.Totals,
		noColor:         cfg.NoColor,
	}
	u.lightOK = r.Refresh(nil, nil) == nil
	// The health comes first: it takes milliseconds whatever the table's
	// size, and the screen comes up with it at once, the rows following as
	// the reader's first whole read merges them (4 s at 1,000,000 entries).
	// When the health cannot be read, the table is read whole here.
	start := clock.Now()
	if err := r.ReadSummary(&u.stage); err == nil {
		u.shown.t.End(&u.stage)
		u.setStats(&u.shown.t.Stats, &flow.Stats{}, start)
		u.setStatus(msgReading, false)
	} else if err := u.readFirst(); err != nil {
		return nil, err
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
	tview.Styles.PrimitiveBackgroundColor = tcell.ColorDefault
	tview.Styles.ContrastBackgroundColor = tcell.ColorDefault
	tview.Styles.PrimaryTextColor = tcell.ColorDefault
	tview.Styles.BorderColor = tcell.ColorDefault
	tview.Styles.GraphicsColor = tcell.ColorDefault

	u.app = tview.NewApplication()
	u.header = tview.NewBox().SetDrawFunc(u.drawHeader)
	u.status = tview.NewBox().SetDrawFunc(u.drawStatus)
	u.content = newFlowContent(u)
	u.table = tview.NewTable().SetContent(u.content).SetFixed(1, 0).SetSelectable(true, false)
	u.table.SetSelectionChangedFunc(u.selectionChanged)
	u.help = tview.NewTextView().SetWrap(true).SetWordWrap(true).SetDynamicColors(false)
	u.pages = tview.NewPages().AddPage("table", u.table, true, true).AddPage("help", u.help, true, false)
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
	}
	w, h := scr.Size()
	u.rawHeader = u.buildHeader(u.rawHeader[:0], w)
	u.headerLines = wrapLines(u.headerLines[:0], u.rawHeader, w)
	n := len(u.headerLines)
	// The table keeps at least three rows (its column header and two flows)
	// when the terminal is tiny: the header gives way first.
	if maxN := h - 1 - 3; n > maxN {
		n = max(maxN, 1)
	}
	u.grid.SetRows(n, 0, 1)
	if u.hasSel {
		// Keep the selection on screen whatever the size: tview would
		// otherwise scroll it away when the table shrinks.
		u.table.Select(u.selRow+1, 0)
	}
	u.content.layout(w, h-n-1)
	return false
}

// afterDraw notices scrolling and places the cursor at the end of a prompt.
func (u *model) afterDraw(scr tcell.Screen) {
	if off, _ := u.table.GetOffset(); off != u.lastOff {
		u.lastOff = off
		if u.lightOK {
			select {
			case u.scrolled <- struct{}{}:
			default:
			}
		}
	}
	if u.mode != modePrompt {
		scr.HideCursor()
		return
	}
	x, y, w, _ := u.status.GetRect()
	_, _, cx := u.promptLine(w)
	scr.ShowCursor(x+cx, y)
}

func (u *model) applyColors() {
	sel := tcell.StyleDefault.Reverse(true)
	u.table.SetSelectedStyle(sel)
	u.gen++
}

// msgReading stays in the status line until the first whole read is on
// screen.
const msgReading = "reading the whole table…"

// readFirst reads the whole table before the screen runs.
func (u *model) readFirst() error {
	start := u.clock.Now()
	direct := func(_ int, f func()) bool { f(); return true }
	if err := u.readBatches(direct); err != nil {
		return err
	}
	took := u.clock.Now().Sub(start)
	u.endRead(start, took, u.schedule(took, u.lightOK))
	return nil
}

// endRead ends a whole-table read that began at from and took took, on the
// UI goroutine: the rows it did not see leave the table, its figures (in
// u.stage) replace the table's, and the view is rebuilt on the rows as they
// now are.
func (u *model) endRead(from time.Time, took, fullEvery time.Duration) {
	s := &u.shown
	prevStats, prevRead := s.t.Stats, s.t.LastRead
	born, gone := s.t.End(&u.stage)
	s.reads++
	s.readTook, s.fullEvery = took, fullEvery
	s.churnKnown = s.reads > 1 && s.t.LastRead.After(prevRead)
	if s.churnKnown {
		s.born, s.gone, s.elapsed = born, gone, s.t.LastRead.Sub(prevRead)
	}
	if from.Before(u.statsAt) {
		// The figures read on their own during the dump are newer.
		s.t.Stats = prevStats
	} else {
		u.setStats(&s.t.Stats, &prevStats, from)
	}
	u.buildView()
}

// readShown updates the screen after a whole-table read ended.
func (u *model) readShown() {
	if u.statusMsg == msgRefreshing || u.statusMsg == msgReading {
		u.setStatus("", false)
	}
	if u.stale {
		u.stale = false
		if u.statusErr {
			u.setStatus("", false)
		}
	}
	u.gen++
	u.reselect()
}

// readFailed keeps the last good read, marks it stale and says why; the
// reader retries after the interval.
func (u *model) readFailed(err error, took time.Duration) {
	u.stale = true
	u.setStatus("read failed: "+sanitizeErr(err)+" (showing the last good read; retrying)", true)
	now := u.clock.Now()
	u.mu.Lock()
	u.nextRead = now.Add(effectiveInterval(u.interval, took) - took)
	u.mu.Unlock()
	u.gen++
}

// applyStats shows health figures read at a time between whole-table reads.
func (u *model) applyStats(s *flow.Stats, at time.Time) {
	cur := &u.shown.t.Stats
	if at.Before(u.statsAt) {
		return
	}
	prev := *cur
	*cur = *s
	u.setStats(cur, &prev, at)
	u.gen++
}

// setStats notes that the figures s, read at a time, replace prev: the
// kernel's counters' changes are since the figures shown before.
func (u *model) setStats(s, prev *flow.Stats, at time.Time) {
	u.statsAt = at
	u.haveDelta = s.HaveCPU && prev.HaveCPU && !u.stale
	if u.haveDelta {
		u.delta = cpuDelta(s.CPU, prev.CPU)
	}
}

// tick redraws between reads: the clock and the TTLs move on.
func (u *model) tick() { u.gen++ }

// buildView filters, sorts and totals the table on screen.
func (u *model) buildView() {
	s := &u.shown
	view.Build(&s.t.Table, &u.opts, &s.v)
	s.hasNAT = s.v.Totals.NATed > 0
}

// rebuild applies changed view options to the table on screen at once, so a
// key press re-sorts without waiting for the next read.
func (u *model) rebuild() {
	u.buildView()
	u.gen++
	u.reselect()
}

func (u *model) setInterval(d time.Duration) {
	now := u.clock.Now()
	u.mu.Lock()
	u.interval = d
	u.nextRead = now.Add(d)
	u.mu.Unlock()
	select {
	case u.intervalChanged <- struct{}{}:
	default:
	}
}

func (u *model) currentInterval() time.Duration {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.interval
}

// forceFull makes the next read a whole-table one.
func (u *model) forceFull() {
	u.mu.Lock()
	u.nextFull = time.Time{}
	u.mu.Unlock()
}

// visibleRows copies the rows on screen into lr for the reader to refresh,
// and returns the number of the whole-table read whose row indices lr.at
// holds.
func (u *model) visibleRows(lr *lightRead) uint64 {
	lr.rows, lr.at = lr.rows[:0], lr.at[:0]
	off, _ := u.table.GetOffset()
	idx := u.shown.v.Idx
	for p := off; p < min(off+u.pageRows(), len(idx)); p++ {
		lr.rows = append(lr.rows, u.shown.t.Flows[idx[p]])
		lr.at = append(lr.at, idx[p])
	}
	lr.res = slices.Grow(lr.res[:0], len(lr.rows))[:len(lr.rows)]
	clear(lr.res)
	return u.shown.reads
}

// applyRefresh writes refreshed rows into the table on screen. Their
// timeouts are restated as of the frame's read so that the countdown stays
// right; rows the kernel no longer has leave the view, and rows without a
// usable answer stay as they were.
func (u *model) applyRefresh(lr *lightRead, at time.Time) {
	t := &u.shown.t.Table
	since := uint32(max(at.Sub(t.ReadAt)/time.Second, 0))
	anyGone := false
	for i, fi := range lr.at {
		switch lr.res[i] {
		case source.LookupGone:
			anyGone = true
			continue
		case source.LookupUnknown:
			continue
		}
		f := lr.rows[i]
		f.Timeout += since
		t.Flows[fi] = f
	}
	if anyGone {
		v := &u.shown.v
		kept := v.Idx[:0]
		for _, fi := range v.Idx {
			if g := slices.Index(lr.at, fi); g < 0 || lr.res[g] != source.LookupGone {
				kept = append(kept, fi)
			}
		}
		v.Idx = kept
		u.reselect()
	}
	u.gen++
}

// refresh asks the reader for a read now; a read in flight is not disturbed.
func (u *model) refresh() {
	select {
	case u.refreshNow <- struct{}{}:
	default:
	}
}

// reselect keeps the selection on the same flow after the view changed, or
// on the same row when that flow is gone.
func (u *model) reselect() {
	idx := u.shown.v.Idx
	if len(idx) == 0 {
		u.hasSel = false
		u.selRow = 0
		return
	}
	if u.hasSel {
		// By the table's index, then among the view's indices: the view
		// is in display order, and reading the rows in that order would
		// visit a million rows at random.
		if row := u.shown.t.Find(u.selKey); row >= 0 {
			if i := slices.Index(idx, int32(row)); i >= 0 {
				u.selectRow(i)
				return
			}
		}
	}
	u.selectRow(min(max(u.selRow, 0), len(idx)-1))
}

// selectRow selects the i-th flow of the view, clamped to the view.
func (u *model) selectRow(i int) {
	n := len(u.shown.v.Idx)
	if n == 0 {
		return
	}
	i = min(max(i, 0), n-1)
	u.selRow, u.hasSel = i, true
	u.selKey = u.shown.t.Flows[u.shown.v.Idx[i]].Key()
	u.table.Select(i+1, 0)
}

// selectionChanged follows tview's own selection changes (mouse clicks).
func (u *model) selectionChanged(row, _ int) {
	i := row - 1
	if i < 0 || i >= len(u.shown.v.Idx) || (u.hasSel && i == u.selRow) {
		return
	}
	u.selRow, u.hasSel = i, true
	u.selKey = u.shown.t.Flows[u.shown.v.Idx[i]].Key()
}

// selected returns the selected flow, or nil when the view is empty.
func (u *model) selected() *flow.Flow {
	if !u.hasSel || u.selRow >= len(u.shown.v.Idx) {
		return nil
	}
	return &u.shown.t.Flows[u.shown.v.Idx[u.selRow]]
}

func (u *model) setStatus(msg string, isErr bool) {
	u.statusMsg, u.statusErr = msg, isErr
}

// setLookup turns name lookups on or off. As in iptstate, lookups also hide
// DNS flows, so that the lookups themselves do not flood the view.
func (u *model) setLookup(on bool) {
	u.lookup = on
	if on && u.resolver == nil {
		u.resolver = resolve.New(u.cfg.NameServer, resolve.DefaultWorkers, resolve.DefaultTTL, resolve.DefaultMaxEntries)
		u.resolver.SetNotify(func() {
			// Answers arrive on a resolver goroutine; redraw on the UI's.
			go u.onUI(u.tick)
		})
	}
	if on && !u.opts.Filter.NoDNS {
		u.opts.Filter.NoDNS = true
		u.rebuild()
	}
	u.gen++
}

func cpuDelta(now, prev flow.CPUStats) flow.CPUStats {
	sub := func(a, b uint64) uint64 {
		if a < b { // counters reset (module reloaded)
			return 0
		}
		return a - b
	}
	return flow.CPUStats{
		Drop:         sub(now.Drop, prev.Drop),
		InsertFailed: sub(now.InsertFailed, prev.InsertFailed),
		EarlyDrop:    sub(now.EarlyDrop, prev.EarlyDrop),
	}
}
