package screen

import (
	"github.com/gostate/gostate/internal/group"
	"strconv"
	"strings"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/uniseg"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/monitor"
	"github.com/gostate/gostate/internal/termsafe"
	"github.com/gostate/gostate/internal/ui"
)

// headerMinLines is the header's height before the first layout.
const headerMinLines = 5

// seg is a piece of header text in one style; a line is drawn left to right
// and cut at the screen's edge.
type seg struct {
	text  string
	style tcell.Style
}

type line []seg

// drawSegs draws a line of segments from x, cut at x+w, and returns where it ended.
func drawSegs(scr tcell.Screen, x, y, w int, l line) int {
	end := x + w
	for _, s := range l {
		for _, r := range s.text {
			if x >= end {
				return x
			}
			rw := uniseg.StringWidth(string(r))
			if rw == 0 {
				continue
			}
			scr.SetContent(x, y, r, nil, s.style)
			x += rw
		}
	}
	return x
}

func (u *model) drawHeader(scr tcell.Screen, x, y, w, h int) (int, int, int, int) {
	for i, l := range u.headerLines {
		if i >= h {
			break
		}
		drawSegs(scr, x, y+i, w, l)
	}
	return x, y, w, h
}

func (u *model) drawStatus(scr tcell.Screen, x, y, w, h int) (int, int, int, int) {
	st := tcell.StyleDefault
	switch u.mode {
	case modePrompt:
		label, text, _ := u.promptLine(w)
		drawSegs(scr, x, y, w, line{{label, st.Bold(true)}, {text, st}})
	default:
		if u.statusErr && !u.colorless() {
			st = st.Foreground(tcell.ColorRed)
		}
		if u.statusErr || u.mode != modeNormal {
			st = st.Bold(true)
		}
		msg := u.statusMsg
		if msg == "" && u.folded && u.mode == modeNormal {
			// The header had no room for all it says: the sort line
			// with its hint may be among what went.
			msg = "more in h (help)"
		}
		switch {
		case u.mode == modeConfirm:
			msg = keepEnd(msg, w)
		case msg == msgReading:
			msg = "reading the whole table: " + fmtCount(u.f.Merged) + " of " +
				fmtCount(u.f.Table.Stats.Entries) + " entries…"
		}
		end := drawSegs(scr, x, y, w, line{{msg, st}})
		// Where am I: the selected row's place, at the right end when
		// there is room beside the message.
		if pos := u.position(); u.mode == modeNormal && pos != "" {
			if pw := uniseg.StringWidth(pos); x+w-pw > end+1 || end == x {
				drawSegs(scr, max(x+w-pw, x), y, w, line{{pos, tcell.StyleDefault}})
			}
		}
	}
	return x, y, w, h
}

// position says which row is selected: "row 12 of 3,456", "group 2 of
// 80"; "" for an empty view.
func (u *model) position() string {
	if n := u.groupCount(); u.gv.on && n > 0 && u.gv.hasSel {
		return "group " + fmtCount(u.gv.selRow+1) + " of " + fmtCount(n)
	}
	if n := u.f.Len(); !u.gv.on && n > 0 && u.hasSel {
		return "row " + fmtCount(u.selRow+1) + " of " + fmtCount(n)
	}
	return ""
}

// keepEnd shortens s to w cells from its start, so that the end of a
// question (its "(y/n)") stays in view on a narrow screen.
func keepEnd(s string, w int) string {
	r := []rune(s)
	if len(r) <= w || w < 2 {
		return s
	}
	return "…" + string(r[len(r)-w+1:])
}

// levelStyle is how a figure of a level (ui.Level) is drawn.
func (u *model) levelStyle(l ui.Level) tcell.Style {
	switch l {
	case ui.LevelAlert:
		return u.styleAlert()
	case ui.LevelWarn:
		return u.styleWarn()
	}
	return tcell.StyleDefault
}

// styles of the header.
func (u *model) styleLabel() tcell.Style { return tcell.StyleDefault.Bold(true) }

func (u *model) styleAlert() tcell.Style {
	if u.colorless() {
		return tcell.StyleDefault.Bold(true).Reverse(true)
	}
	return tcell.StyleDefault.Bold(true).Foreground(tcell.ColorWhite).Background(tcell.ColorRed)
}

func (u *model) styleWarn() tcell.Style {
	if u.colorless() {
		return tcell.StyleDefault.Bold(true)
	}
	return tcell.StyleDefault.Bold(true).Foreground(tcell.ColorYellow)
}

// hline is one line of the header as composed, before it is wrapped to the
// screen's width, and how much it matters when the header has no room for
// every line.
type hline struct {
	l    line
	prio int
}

// What each header line is, most important first: when the header has no
// room for every line, the least important give way (the per-state totals
// first; t shows them, and the help screen always has them). Who fills a
// full table (prioWho) goes before the sort line: the sorted column's title
// shows the order too.
const (
	prioBanner = iota
	prioFill
	prioTitle
	prioDrops
	prioWho
	prioSort
	prioWarning
	prioFlows
	prioPeak
	prioStates
)

// headerBudget is how many lines the header may take on a screen h lines
// high: 6 on 24 lines, so that 15 rows of flows stay in view, a quarter of
// taller screens.
func headerBudget(h int) int { return max(6, h/4) }

// fitHeader wraps the header's lines to the width w (wrapLines) and keeps,
// in their order, as many as budget allows, the most important first: a
// line that does not fit whole is left out. It reports whether any was.
func fitHeader(out []line, ls []hline, w, budget int) ([]line, bool) {
	wrapped := make([][]line, len(ls))
	for i, hl := range ls {
		wrapped[i] = wrapLines(nil, []line{hl.l}, w)
	}
	keep := make([]bool, len(ls))
	folded := false
	for prio := prioBanner; prio <= prioStates; prio++ {
		for i, hl := range ls {
			if hl.prio != prio {
				continue
			}
			if n := len(wrapped[i]); n <= budget {
				keep[i], budget = true, budget-n
			} else {
				folded = true
			}
		}
	}
	for i := range ls {
		if keep[i] {
			out = append(out, wrapped[i]...)
		}
	}
	return out, folded
}

// buildHeader composes the header's lines for a screen w columns wide.
func (u *model) buildHeader(ls []hline, w int) []hline {
	f := u.f
	t := f.Table
	s := &t.Stats
	now := u.clock.Now()
	plain := tcell.StyleDefault
	lab := u.styleLabel()

	// Line 1: who, when, what was read, how often.
	l1 := line{{"gostate", lab}}
	if u.cfg.Version != "" {
		l1 = append(l1, seg{" " + termsafe.Sanitize(u.cfg.Version), plain})
	}
	if u.cfg.Hostname != "" {
		l1 = append(l1, seg{"  " + termsafe.Sanitize(u.cfg.Hostname), lab})
	}
	l1 = append(l1, seg{"  " + now.Format("15:04:05"), plain})
	// How fresh are the rows: said when they are older than a moment.
	if age := now.Sub(f.RowsAt); f.Reads > 0 && !t.Frozen && age > staleAfter {
		l1 = append(l1, seg{"  read " + fmtAge(age) + " ago", u.styleWarn()})
	}
	interval := f.Interval
	l1 = append(l1, seg{"  every ", lab}, seg{fmtDuration(interval), plain})
	switch full := f.FullEvery; {
	case f.Events:
		// The kernel's events keep the flows current; whole reads only
		// reconcile, or bring what an order needs that events lack.
		why := ""
		if o := f.Options.Sort; monitor.NeedsWholeReads(o) {
			why = " for the " + o.Name() + " order"
		}
		l1 = append(l1, seg{"  events", lab}, seg{" (whole table every " + fmtDuration(full) + why +
			", last " + t.ReadAt.Format("15:04:05") + ")", plain})
	case full > interval && f.CanRefresh:
		// Not a warning: the rows on screen still move every interval.
		l1 = append(l1, seg{" (whole table every " + fmtDuration(full) + ": a read takes " + fmtDuration(f.ReadTook) + ")", plain})
	case full > interval:
		l1 = append(l1, seg{" (a read takes " + fmtDuration(f.ReadTook) + ": every " + fmtDuration(full) + ")", u.styleWarn()})
	}
	switch {
	case f.Resyncing:
		// Until the whole read asked for ends, flows may be missing or
		// gone: as stale as a failed read.
		l1 = append(l1, seg{"  EVENTS LOST at " + f.OverrunAt.Format("15:04:05") + ": reading the whole table", u.styleAlert()})
	case f.Overruns > 0:
		l1 = append(l1, seg{"  events lost " + strconv.Itoa(f.Overruns) + "×, last at " + f.OverrunAt.Format("15:04:05") + ", resynced", u.styleWarn()})
	}
	if f.Stale {
		// Why, in the header: the status line's message goes at the next
		// key, and a namespace that was deleted stays deleted.
		l1 = append(l1, seg{"  STALE: data from " + t.ReadAt.Format("15:04:05") + ": " + termsafe.OneLine(f.Err.Error()), u.styleAlert()})
	}
	l1 = append(l1, seg{"  source: ", lab}, seg{termsafe.Sanitize(t.Source), plain})
	if t.Frozen {
		l1 = append(l1, seg{" (saved dump, TTLs as saved)", plain})
	}
	if t.Skipped > 0 {
		l1 = append(l1, seg{"  skipped " + strconv.Itoa(t.Skipped) + " unreadable", u.styleWarn()})
	}
	ls = append(ls, hline{l1, prioTitle})
	// Why a fallback happened, or a dump the kernel flagged: on a line of
	// their own so that they are not cut off.
	for _, w := range t.Warnings {
		ls = append(ls, hline{line{{"! " + termsafe.Sanitize(w), u.styleWarn()}}, prioWarning})
	}
	if f.EventsOff != nil {
		ls = append(ls, hline{line{{"! events: " + termsafe.OneLine(f.EventsOff.Error()), u.styleWarn()}}, prioWarning})
	}

	// Lines 2 and 3: the health, as every view words it (ui.Health): how
	// full the table is and what it costs, then what the kernel dropped,
	// with how much more since the previous figures.
	var delta *flow.CPUStats
	if f.HaveDelta {
		delta = &f.Delta
	}
	var l2, l3 line
	for _, h := range ui.Health(s, delta) {
		l := &l2
		if h.ID >= ui.HealthDrop {
			l = &l3
		}
		lead := "  "
		if len(*l) == 0 {
			lead = ""
		}
		st := u.levelStyle(h.Level)
		*l = append(*l, seg{lead + h.Label + " ", lab}, seg{h.Value, st})
		if h.ID == ui.HealthFill {
			// The percentage before the bar, so that a narrow screen
			// cuts the bar rather than the figure.
			barW := 20
			if w < 100 {
				barW = 10
			}
			*l = append(*l, seg{" " + fillBar(ui.FillTenths(s), barW), st})
		}
	}
	if s.Max <= 0 {
		l2 = append(l2, seg{"  (max unknown)", plain})
	}
	ls = append(ls, hline{l2, prioFill})
	if !s.HaveCPU {
		l3 = append(l3, seg{"drop/insert_failed/early_drop: not available from this source", plain})
	}
	ls = append(ls, hline{l3, prioDrops})

	// The peak since the screen started and the count over the last
	// minutes, then how fast flows come and go.
	l4 := line{{"peak ", lab}, {fmtCount(f.Peak) + " at " + f.PeakAt.Format("15:04:05"), plain}}
	if spark := sparkline(f.History, now, s.Max, sparkCells, sparkWindow); spark != "" {
		l4 = append(l4, seg{"  last 10 min ", lab}, seg{spark, plain})
	}
	if rate, ok := newPerSecond(f); ok {
		l4 = append(l4, seg{"  new ", lab}, seg{fmtRate(rate) + "/s", plain})
	}
	if f.Over > 0 {
		l4 = append(l4, seg{"  gone ", lab}, seg{fmtRate(float64(f.Gone)/f.Over.Seconds()) + "/s", plain})
	}
	ls = append(ls, hline{l4, prioPeak})

	// The banner: the table is (about to be) full; every view words it so
	// (ui.TableWarning). Two fields, so that a narrow screen shows the
	// command on a line of its own rather than cutting it off.
	if msg, fix := ui.TableWarning(s, f.Peak, delta); msg != "" {
		ls = append(ls, hline{line{{msg, u.styleAlert()}, {"  " + fix, u.styleAlert()}}, prioBanner})
		if who := u.topSource(); who != "" {
			ls = append(ls, hline{line{{who, u.styleAlert()}}, prioWho})
		}
	}

	// Totals of the shown flows, per protocol, then per state with t;
	// none until the first whole read has ended.
	if f.Reads == 0 {
		ls = append(ls, hline{line{{"Flows ", lab}, {"counted when the whole table has been read", plain}}, prioFlows})
		return append(ls, hline{u.sortLine(), prioSort})
	}
	tot := &f.View.Totals
	l5 := line{{"Flows ", lab}, {fmtCount(tot.Shown), plain}}
	if tot.Hidden > 0 {
		l5 = append(l5, seg{" (" + fmtCount(tot.Hidden) + " hidden by filters)", plain})
	}
	l5 = append(l5, seg{": ", plain})
	for _, c := range tot.ByProto() {
		l5 = append(l5, seg{c.Name + " " + fmtCount(c.N) + "  ", u.content.protoStyle(c.Proto)})
	}
	ls = append(ls, hline{l5, prioFlows})
	if u.totals {
		l6 := line{{"States: ", lab}}
		for _, c := range tot.ByState() {
			l6 = append(l6, seg{c.Name + " " + fmtCount(c.N) + "  ", plain})
		}
		ls = append(ls, hline{l6, prioStates})
	}

	return append(ls, hline{u.sortLine(), prioSort})
}

// sortLine is the header's last line: the ordering and the filters, and
// where help is.
func (u *model) sortLine() line {
	lab, plain := u.styleLabel(), tcell.StyleDefault
	o := &u.f.Options
	// The groups entered, as a breadcrumb: where Esc goes back to.
	var l7 line
	if crumb := o.DescribeWithin(); crumb != "" {
		l7 = line{{termsafe.Sanitize(crumb) + " ", lab}}
	}
	if u.gv.on {
		l7 = append(l7, seg{"Groups ", lab}, seg{u.gv.spec.String() + ", " + u.groupOrder(), plain})
	} else {
		l7 = append(l7, seg{"Sort ", lab}, seg{o.Sort.Name() + sortArrow(o.Sort, o.Reverse), plain})
	}
	if desc := o.Filter.Describe(); desc != "" {
		l7 = append(l7, seg{"  Filters ", lab}, seg{termsafe.Sanitize(desc), u.styleWarn()})
	}
	if u.lookup {
		l7 = append(l7, seg{"  names", plain})
	}
	return append(l7, seg{"  h: help  q: quit", plain})
}

// wrapLines breaks the lines wider than w between their fields (a field
// begins with a segment that starts with two spaces), so that what does not
// fit moves to the next line instead of being cut off; a field wider than w
// alone is still cut. The lines are appended to out.
func wrapLines(out, ls []line, w int) []line {
	for _, l := range ls {
		cur, width := line{}, 0
		for i := 0; i < len(l); {
			// The field that starts at i ends where the next one starts.
			j := i + 1
			for j < len(l) && !strings.HasPrefix(l[j].text, "  ") {
				j++
			}
			field, fw := l[i:j], 0
			for _, sg := range field {
				fw += uniseg.StringWidth(sg.text)
			}
			if width > 0 && width+fw > w {
				out = append(out, cur)
				lead := field[0]
				lead.text = strings.TrimLeft(lead.text, " ")
				cur = append(line{lead}, field[1:]...)
				width = fw - (len(field[0].text) - len(lead.text))
			} else {
				cur = append(cur, field...)
				width += fw
			}
			i = j
		}
		out = append(out, cur)
	}
	return out
}

// fillBar draws a fill of tenths (of a percent) as a bar of w cells.
func fillBar(tenths, w int) string {
	n := (tenths*w + 500) / 1000
	n = min(max(n, 0), w)
	return "[" + strings.Repeat("█", n) + strings.Repeat("░", w-n) + "]"
}

// The count's history on the header: sparkCells cells over the last
// sparkWindow.
const (
	sparkCells  = 20
	sparkWindow = 10 * time.Minute
)

// sparkBars are the heights of a sparkline's cells, lowest first.
var sparkBars = []rune("▁▂▃▄▅▆▇█")

// sparkline draws the entry count of the samples of the last window as
// cells bars, each the highest count of its share of the window, scaled to
// the limit when it is known (so that a full bar is a full table) and to the
// highest count otherwise; a share without samples is a space. It returns ""
// until there are two samples.
func sparkline(h []monitor.Sample, now time.Time, limit, cells int, window time.Duration) string {
	if len(h) < 2 {
		return ""
	}
	from := now.Add(-window)
	top := make([]int, cells)
	seen := make([]bool, cells)
	scale := limit
	for _, s := range h {
		if s.At.Before(from) || s.At.After(now) {
			continue
		}
		i := min(int(s.At.Sub(from)*time.Duration(cells)/window), cells-1)
		top[i], seen[i] = max(top[i], s.Entries), true
		if limit <= 0 {
			scale = max(scale, s.Entries)
		}
	}
	out := make([]rune, cells)
	for i := range out {
		switch {
		case !seen[i]:
			out[i] = ' '
		case scale <= 0:
			out[i] = sparkBars[0]
		default:
			out[i] = sparkBars[min(top[i]*len(sparkBars)/(scale+1), len(sparkBars)-1)]
		}
	}
	return strings.TrimLeft(string(out), " ")
}

// newPerSecond is how many flows appeared per second over the frame's last
// count of them (Frame.Born: NEW events over an interval, or the flows a
// whole read found new).
func newPerSecond(f *monitor.Frame) (float64, bool) {
	if f.Over > 0 {
		return float64(f.Born) / f.Over.Seconds(), true
	}
	return 0, false
}

// staleAfter is how old the rows on screen may be before the header says
// how old they are.
const staleAfter = 2 * time.Second

// fmtAge writes an age in whole seconds, minutes or hours: "27 s", "4 min",
// "2 h".
func fmtAge(d time.Duration) string {
	switch {
	case d < 2*time.Minute:
		return strconv.Itoa(int(d/time.Second)) + " s"
	case d < 2*time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min"
	}
	return strconv.Itoa(int(d/time.Hour)) + " h"
}

// fmtCount writes n with thousands separators as every view does (262,144).
func fmtCount(n int) string { return string(ui.AppendCount(nil, uint64(max(n, 0)))) }

func fmtRate(r float64) string {
	if r >= 100 {
		return strconv.FormatFloat(r, 'f', 0, 64)
	}
	return strconv.FormatFloat(r, 'f', 1, 64)
}

// fmtDuration writes an interval in seconds to the hundredth: "1s", "0.5s",
// "2.25s".
func fmtDuration(d time.Duration) string {
	cs := int64(d.Round(10*time.Millisecond) / (10 * time.Millisecond))
	s := strconv.FormatInt(cs/100, 10)
	if frac := cs % 100; frac != 0 {
		f := strconv.FormatInt(100+frac, 10)[1:] // two digits
		s += "." + strings.TrimRight(f, "0")
	}
	return s + "s"
}

// whoFills is the banner's answer to who fills the table (ui.TopSource),
// kept until the table changes: counting a million rows takes about
// 100 ms, and the header is drawn several times a second.
type whoFills struct {
	text string
	// at is the table the text counted: its whole reads and events, and
	// its rows.
	at  [3]int
	g   group.Grouping
	idx []int32
}

// topSource returns ui.TopSource of the whole table, counted again only
// when the table changed since.
func (u *model) topSource() string {
	f, w := u.f, &u.who
	at := [3]int{f.Reads, f.EventCount, len(f.Table.Flows)}
	if at == w.at && w.text != "" {
		return w.text
	}
	w.at = at
	w.idx = w.idx[:0]
	for i := range f.Table.Flows {
		w.idx = append(w.idx, int32(i))
	}
	w.text = ui.TopSource(f.Table, w.idx, &w.g)
	return w.text
}
