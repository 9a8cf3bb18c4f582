package screen

import (
	"errors"
	"os"
	"strconv"
	"strings"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/gostate/gostate/internal/filter"
	"github.com/gostate/gostate/internal/group"
	"github.com/gostate/gostate/internal/monitor"
	"github.com/gostate/gostate/internal/sortby"
	"github.com/gostate/gostate/internal/termsafe"
	"github.com/gostate/gostate/internal/ui"
)

// promptKind is what a status-line prompt asks for.
type promptKind uint8

const (
	promptSrc promptKind = iota
	promptDst
	promptSrcPort
	promptDstPort
	promptHost
	promptMark
	promptZone
	promptRate
	promptGroup
)

// msgRefreshing stays in the status line until the read it asked for arrives.
const msgRefreshing = "refreshing…"

// wheelRows is how far one mouse wheel step moves the selection.
const wheelRows = 3

// onKey handles every key before tview sees it; the screen's own
// primitives never need keys, so nothing is passed on.
func (u *model) onKey(ev *tcell.EventKey) *tcell.EventKey {
	if u.keyHook != nil {
		defer u.keyHook()
	}
	if ev.Key() == tcell.KeyCtrlC {
		u.app.Stop()
		return nil
	}
	if ev.Key() == tcell.KeyRune && ev.Modifiers()&tcell.ModAlt != 0 {
		// The terminal sent Esc and a key so quickly that they read as
		// Alt and the key. The screen binds no Alt key: they are Esc,
		// then the key.
		u.modeKey(tcell.NewEventKey(tcell.KeyEscape, 0, tcell.ModNone))
		ev = tcell.NewEventKey(tcell.KeyRune, ev.Rune(), ev.Modifiers()&^tcell.ModAlt)
	}
	u.modeKey(ev)
	return nil
}

// modeKey hands a key to the mode the keyboard is in.
func (u *model) modeKey(ev *tcell.EventKey) {
	switch u.mode {
	case modePrompt:
		u.promptKey(ev)
	case modeConfirm:
		u.confirmKey(ev)
	case modeSort:
		u.sortKey(ev)
	case modeHelp:
		u.helpKey(ev)
	default:
		u.normalKey(ev)
	}
}

func (u *model) normalKey(ev *tcell.EventKey) {
	if u.moveKey(ev) {
		return
	}
	switch ev.Key() {
	case tcell.KeyCtrlL:
		u.gen++
		u.app.Sync()
		return
	case tcell.KeyCtrlZ:
		u.suspend()
		return
	case tcell.KeyTab:
		u.setStatus("", false)
		u.showGroups(!u.gv.on)
		return
	case tcell.KeyEnter:
		if u.gv.on {
			u.setStatus("", false)
			u.enterGroup()
		}
		return
	case tcell.KeyEscape:
		if u.leaveGroup() {
			u.setStatus("", false)
		}
		return
	case tcell.KeyRune:
	default:
		return
	}
	u.setStatus("", false)
	if u.gv.on && u.groupKey(ev.Rune()) {
		return
	}
	o := u.f.Options
	switch ev.Rune() {
	case 'q':
		u.app.Stop()
	case 'h', '?':
		u.showHelp()
	case 'A':
		u.showAdvice()
	case 'b':
		o.Sort = o.Sort.Next()
		u.newOrder(o)
	case 'B':
		o.Sort = o.Sort.Prev()
		u.newOrder(o)
	case 'r':
		o.Reverse = !o.Reverse
		u.newOrder(o)
	case 'F':
		u.follow = !u.follow
		u.setStatus(onOff(u.follow, "a new order keeps the selected flow selected (F: start at its top again)",
			"a new order starts at its top (F: follow the selected flow instead)"), false)
	case 'o':
		u.mode = modeSort
		u.setStatus("sort by: "+sortLetters()+"  (Esc cancels)", false)
	case 's':
		u.startPrompt(promptSrc)
	case 'd':
		u.startPrompt(promptDst)
	case 'S':
		u.startPrompt(promptSrcPort)
	case 'D':
		u.startPrompt(promptDstPort)
	case 'H':
		u.startPrompt(promptHost)
	case 'm':
		u.startPrompt(promptMark)
	case 'z':
		u.startPrompt(promptZone)
	case 'R':
		u.startPrompt(promptRate)
	case 'a':
		u.startPrompt(promptGroup)
	case 'i':
		o.Filter.Invert = !o.Filter.Invert
		u.setView(o)
		u.setStatus("filters "+onOff(o.Filter.Invert, "inverted", "not inverted"), false)
	case 'f':
		o.Filter.NoLoopback = !o.Filter.NoLoopback
		u.setView(o)
		u.setStatus("loopback flows "+onOff(o.Filter.NoLoopback, "hidden", "shown"), false)
	case 'L':
		o.Filter.NoDNS = !o.Filter.NoDNS
		u.setView(o)
		u.setStatus("DNS flows "+onOff(o.Filter.NoDNS, "hidden", "shown"), false)
	case 'l':
		u.setLookup(!u.lookup)
		msg := "name lookups off"
		if u.lookup {
			msg = "name lookups on (DNS flows hidden, L shows them)"
		}
		u.setStatus(msg, false)
	case 'C':
		u.counters = !u.counters
		u.gen++
		if u.counters {
			u.countersOff()
		}
	case 't':
		u.totals = !u.totals
	case 'c':
		u.noColor = !u.noColor
		if u.mono {
			u.setStatus("this terminal has no colours (TERM="+termsafe.Sanitize(os.Getenv("TERM"))+")", false)
		}
		u.applyColors()
	case ' ':
		u.refresh()
		u.setStatus(msgRefreshing, false)
	case 'x':
		u.startDelete()
	}
}

func onOff(on bool, yes, no string) string {
	if on {
		return yes
	}
	return no
}

// sortLetters lists the -b letters the sort prefix accepts.
func sortLetters() string {
	var b strings.Builder
	for i, k := range sortby.Keys() {
		if i > 0 {
			b.WriteString("  ")
		}
		b.WriteString(k.Letter() + " " + k.Name())
	}
	return b.String()
}

// pageRows is how many rows one screen of the table shows.
func (u *model) pageRows() int {
	_, _, _, h := u.activeTable().GetInnerRect()
	return max(h-1, 1)
}

// activeTable is the table on screen: the groups' or the flows'.
func (u *model) activeTable() *tview.Table {
	if u.gv.on {
		return u.gv.table
	}
	return u.table
}

// selectAt selects the i-th row of the table on screen.
func (u *model) selectAt(i int) {
	if u.gv.on {
		u.selectGroup(i)
		return
	}
	u.selectRow(i)
}

// moveKey moves the selection; it reports whether ev was a movement key.
func (u *model) moveKey(ev *tcell.EventKey) bool {
	row, page := u.selRow, u.pageRows()
	last := u.f.Len() - 1
	if u.gv.on {
		row, last = u.gv.selRow, u.groupCount()-1
	}
	switch ev.Key() {
	case tcell.KeyUp:
		row--
	case tcell.KeyDown:
		row++
	case tcell.KeyPgUp, tcell.KeyCtrlB:
		row -= page
	case tcell.KeyPgDn, tcell.KeyCtrlF:
		row += page
	case tcell.KeyCtrlU:
		row -= page / 2
	case tcell.KeyCtrlD:
		row += page / 2
	case tcell.KeyHome:
		row = 0
	case tcell.KeyEnd:
		row = last
	case tcell.KeyRune:
		switch ev.Rune() {
		case 'k':
			row--
		case 'j':
			row++
		case 'g':
			row = 0
		case 'G':
			row = last
		default:
			return false
		}
	default:
		return false
	}
	u.selectAt(row)
	return true
}

// onMouse turns the wheel into selection moves over the table; clicks are
// tview's (they select the row under the pointer).
func (u *model) onMouse(ev *tcell.EventMouse, action tview.MouseAction) (*tcell.EventMouse, tview.MouseAction) {
	if u.mode != modeNormal {
		return nil, action
	}
	x, y := ev.Position()
	if !u.activeTable().InRect(x, y) {
		return ev, action
	}
	row := u.selRow
	if u.gv.on {
		row = u.gv.selRow
	}
	switch action {
	case tview.MouseScrollUp:
		u.selectAt(row - wheelRows)
		return nil, action
	case tview.MouseScrollDown:
		u.selectAt(row + wheelRows)
		return nil, action
	case tview.MouseLeftDoubleClick:
		// Two quick clicks are two clicks here: on two rows, or on a
		// title to sort and then reverse.
		return ev, tview.MouseLeftClick
	}
	return ev, action
}

func (u *model) sortKey(ev *tcell.EventKey) {
	u.mode = modeNormal
	u.setStatus("", false)
	if ev.Key() != tcell.KeyRune {
		return // Esc, Ctrl-G, anything else: cancelled
	}
	for _, k := range sortby.Keys() {
		switch {
		case k.Letter() != string(ev.Rune()):
			continue
		case u.gv.on:
			// Groups have a key and a size: bytes and packets mean
			// biggest first, every other order the key's.
			u.sortGroups(k != sortby.Bytes && k != sortby.Packets, false)
		default:
			o := u.f.Options
			o.Sort = k
			u.newOrder(o)
		}
		return
	}
	u.setStatus("no ordering has the letter "+strconv.QuoteRune(ev.Rune())+"; sort by: "+sortLetters(), true)
}

func (u *model) promptLabel() string {
	f := &u.f.Options.Filter
	cur := ""
	switch u.promptKind {
	case promptSrc:
		if !f.Src.Empty() {
			cur = f.Src.String()
		}
		return "Source filter ADDR[/PREFIX] (empty clears" + nowIs(cur) + "): "
	case promptDst:
		if !f.Dst.Empty() {
			cur = f.Dst.String()
		}
		return "Destination filter ADDR[/PREFIX] (empty clears" + nowIs(cur) + "): "
	case promptSrcPort:
		if !f.SrcPort.Empty() {
			cur = f.SrcPort.String()
		}
		return "Source port filter (empty clears" + nowIs(cur) + "): "
	case promptDstPort:
		if !f.DstPort.Empty() {
			cur = f.DstPort.String()
		}
		return "Destination port filter (empty clears" + nowIs(cur) + "): "
	case promptHost:
		if !f.Host.Empty() {
			cur = f.Host.String()
		}
		return "Host filter ADDR[/PREFIX], any address of either direction (empty clears" + nowIs(cur) + "): "
	case promptMark:
		if !f.Mark.Empty() {
			cur = f.Mark.String()
		}
		return "Mark filter VALUE[/MASK] (empty clears" + nowIs(cur) + "): "
	case promptZone:
		if !f.Zone.Empty() {
			cur = f.Zone.String()
		}
		return "Zone filter (empty clears" + nowIs(cur) + "): "
	case promptGroup:
		return "Group by (src dst src/N dport sport proto state mark zone nat, or two: src,dport; now " +
			u.gv.spec.String() + "): "
	}
	return "Refresh interval in seconds (now " + fmtDuration(u.f.Interval) + "): "
}

// promptLine is what a status line w columns wide shows of the prompt, and
// the cursor's column. When the question and the answer do not fit, the
// question gives way from its start, then the answer from its start, so
// that the end of what is typed and the cursor stay in view.
func (u *model) promptLine(w int) (label, text string, cursor int) {
	lr, tr := []rune(u.promptLabel()), u.promptText
	room := max(w-1, 1) // the last column holds the cursor
	if over := len(lr) + len(tr) - room; over > 0 {
		if over < len(lr) {
			lr = append([]rune{'…'}, lr[over+1:]...)
		} else {
			lr = nil
			tr = tr[max(len(tr)-room, 0):]
		}
	}
	return string(lr), string(tr), len(lr) + len(tr)
}

func nowIs(cur string) string {
	if cur == "" {
		return ""
	}
	return "; now " + cur
}

func (u *model) startPrompt(k promptKind) {
	u.mode, u.promptKind, u.promptText = modePrompt, k, u.promptText[:0]
}

// promptKey edits the answer: runes, Backspace, Ctrl-U; Enter submits, Esc
// and Ctrl-G cancel.
func (u *model) promptKey(ev *tcell.EventKey) {
	switch ev.Key() {
	case tcell.KeyEscape, tcell.KeyCtrlG:
		u.mode = modeNormal
		u.setStatus("cancelled", false)
	case tcell.KeyEnter:
		u.mode = modeNormal
		u.submitPrompt(strings.TrimSpace(string(u.promptText)))
	case tcell.KeyBackspace, tcell.KeyBackspace2:
		if n := len(u.promptText); n > 0 {
			u.promptText = u.promptText[:n-1]
		}
	case tcell.KeyCtrlU:
		u.promptText = u.promptText[:0]
	case tcell.KeyRune:
		if len(u.promptText) < 100 {
			u.promptText = append(u.promptText, ev.Rune())
		}
	}
}

// submitPrompt applies an answer, or refuses it with a message and keeps the
// old setting.
func (u *model) submitPrompt(s string) {
	o := u.f.Options
	f := &o.Filter
	var err error
	switch u.promptKind {
	case promptSrc, promptDst, promptHost:
		var p filter.Prefixes
		if s != "" {
			p, err = filter.ParsePrefixes(s)
		}
		if err == nil {
			switch u.promptKind {
			case promptSrc:
				f.Src = p
			case promptDst:
				f.Dst = p
			default:
				f.Host = p
			}
		}
	case promptMark:
		var marks filter.Marks
		if s != "" {
			marks, err = filter.ParseMarks(s)
		}
		if err == nil {
			f.Mark = marks
		}
	case promptZone:
		var zones filter.Zones
		if s != "" {
			zones, err = filter.ParseZones(s)
		}
		if err == nil {
			f.Zone = zones
		}
	case promptSrcPort, promptDstPort:
		var port filter.Ports
		if s != "" {
			port, err = filter.ParsePorts(s)
		}
		if err == nil {
			if u.promptKind == promptSrcPort {
				f.SrcPort = port
			} else {
				f.DstPort = port
			}
		}
	case promptGroup:
		if s == "" {
			u.setStatus("grouping unchanged: "+u.gv.spec.String(), false)
			return
		}
		sp, err := group.Parse(s)
		if err != nil {
			u.setStatus("refused: "+termsafe.OneLine(err.Error())+"; grouping unchanged", true)
			return
		}
		u.setGrouping(sp)
		u.setStatus("grouped by "+sp.String(), false)
		return
	case promptRate:
		if s == "" {
			u.setStatus("interval unchanged: "+fmtDuration(u.f.Interval), false)
			return
		}
		d, err := monitor.ParseInterval(s)
		if err != nil {
			u.setStatus("refused: "+termsafe.OneLine(err.Error())+"; interval unchanged", true)
			return
		}
		u.m.SetInterval(d)
		u.setStatus("refreshing every "+fmtDuration(d), false)
		return
	}
	if err != nil {
		u.setStatus("refused: "+termsafe.OneLine(err.Error())+"; filter unchanged", true)
		return
	}
	u.setView(o)
	u.setStatus("filters: "+onOff(f.Active(), termsafe.Sanitize(f.Describe()), "none"), false)
}

// startDelete asks whether to delete the selected flow.
func (u *model) startDelete() {
	f := u.selected()
	switch err := u.m.CanDelete(); {
	case err != nil:
		u.setStatus(err.Error(), true)
	case f == nil:
		u.setStatus("no flow selected: nothing to delete", true)
	default:
		// Keep a copy: the frame may be replaced while the question is open.
		u.pending = *f
		u.mode = modeConfirm
		u.setStatus("Delete "+ui.DescribeFlow(&u.pending)+"? (y/n)", false)
	}
}

func (u *model) confirmKey(ev *tcell.EventKey) {
	u.mode = modeNormal
	if ev.Key() != tcell.KeyRune || (ev.Rune() != 'y' && ev.Rune() != 'Y') {
		u.gv.pending = u.gv.pending[:0]
		u.setStatus("not deleted", false)
		return
	}
	if len(u.gv.pending) > 0 {
		u.deleteGroup()
		return
	}
	f := u.pending
	u.setStatus("deleting "+ui.DescribeFlow(&f)+"…", false)
	err := u.m.Delete(f, func(err error) {
		switch {
		case err == nil:
			u.setStatus("deleted "+ui.DescribeFlow(&f), false)
		case errors.Is(err, monitor.ErrNotFound):
			u.setStatus("already gone: "+ui.DescribeFlow(&f), false)
		default:
			u.setStatus("delete failed: "+termsafe.OneLine(err.Error()), true)
		}
	})
	if err != nil {
		u.setStatus(err.Error(), true)
	}
}

func (u *model) showHelp() {
	u.mode = modeHelp
	u.help.SetText(u.helpText()).ScrollToBeginning()
	u.pages.SwitchToPage("help")
	u.setStatus("help: q, h, ? or Esc closes; arrows, j/k, PgUp/PgDn scroll", false)
}

func (u *model) helpKey(ev *tcell.EventKey) {
	row, _ := u.help.GetScrollOffset()
	_, _, _, h := u.help.GetInnerRect()
	switch ev.Key() {
	case tcell.KeyUp:
		row--
	case tcell.KeyDown:
		row++
	case tcell.KeyPgUp, tcell.KeyCtrlB, tcell.KeyCtrlU:
		row -= h
	case tcell.KeyPgDn, tcell.KeyCtrlF, tcell.KeyCtrlD:
		row += h
	case tcell.KeyHome:
		row = 0
	case tcell.KeyRune:
		switch ev.Rune() {
		case 'k':
			row--
		case 'j', ' ':
			row++
		case 'g':
			row = 0
		case 'q', 'h', '?':
			u.closeHelp()
			return
		}
	case tcell.KeyEscape, tcell.KeyEnter, tcell.KeyCtrlG:
		u.closeHelp()
		return
	}
	u.help.ScrollTo(max(row, 0), 0)
}

func (u *model) closeHelp() {
	u.mode = modeNormal
	u.pages.SwitchToPage(onOff(u.gv.on, "groups", "table"))
	u.setStatus("", false)
}
