package screen

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/gdamore/tcell/v2/terminfo"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/monitor"
	"github.com/gostate/gostate/internal/sortby"
	"github.com/gostate/gostate/internal/view"
)

// portsTable is n TCP flows from 192.0.2.1, source ports 1000 up, with
// TTLs that fall as the ports rise (port 1000 expires last).
func portsTable(n int) flow.Table {
	tb := sampleTable()
	tb.Flows = nil
	for i := range n {
		f := mkFlow(flow.ProtoTCP, "192.0.2.1", uint16(1000+i), "198.51.100.1", 80)
		f.Timeout = uint32(100 + 10*(n-i))
		tb.Flows = append(tb.Flows, f)
	}
	tb.Stats.Entries = n
	return tb
}

// screenLine is the selected row's line among the rows on screen (0 is the
// first row under the column titles).
func (h *harness) screenLine() int {
	h.t.Helper()
	var line int
	h.onUI(func() {
		off, _ := h.u.table.GetOffset()
		line = h.u.selRow - off
	})
	return line
}

func (h *harness) selectedPort() uint16 {
	h.t.Helper()
	var port uint16
	h.onUI(func() {
		if f := h.u.selected(); f != nil {
			port = f.Orig.SrcPort
		}
	})
	return port
}

// A new order starts at its top, its first row selected and shown (top,
// htop), whatever was selected in the old order; F makes the selection
// follow its flow instead.
func TestNewOrderStartsAtTop(t *testing.T) {
	h := startScreen(t, portsTable(300), nil, cfg{View: view.Options{Sort: sortby.SrcPort}}, 100, 30)
	for range 120 {
		h.key(tcell.KeyDown, 0, 0)
	}
	if got := h.selectedPort(); got != 1120 {
		t.Fatalf("selected port %d, want 1120", got)
	}
	for _, keys := range []string{"ot", "b", "B", "r"} {
		h.typeKeys(keys)
		var first uint16
		h.onUI(func() { first = h.u.f.Row(0).Orig.SrcPort })
		if got := h.selectedPort(); got != first {
			t.Errorf("after %q: port %d selected, want the new order's first row (%d)", keys, got, first)
		}
		if line := h.screenLine(); line != 0 {
			t.Errorf("after %q: the selection is on line %d, want the top line", keys, line)
		}
		if got := h.rowOf(":" + strconv.Itoa(int(first)) + " "); got < 0 {
			t.Errorf("after %q: the first row (port %d) is not on screen", keys, first)
		}
	}
	// By TTL the smallest comes first: port 1299's 110 s.
	h.typeKeys("r") // the loop's r reversed the order: back to ascending
	h.typeKeys("ot")
	h.contains("0:01:50")

	// With F the flow stays selected in the new order.
	h.typeKeys("op")
	for range 40 {
		h.key(tcell.KeyDown, 0, 0)
	}
	want := h.selectedPort()
	h.typeKeys("F")
	h.contains("keeps the selected flow")
	h.typeKeys("ot")
	if got := h.selectedPort(); got != want {
		t.Errorf("with F: port %d selected after o t, want %d", got, want)
	}
	h.typeKeys("F")
	h.typeKeys("oS")
	if got := h.selectedPort(); got != 1000 {
		t.Errorf("F off again: port %d selected after o S, want the top (1000)", got)
	}
}

// A click on a column's title is a new order too.
func TestTitleClickStartsAtTop(t *testing.T) {
	h := startScreen(t, portsTable(300), nil, cfg{View: view.Options{Sort: sortby.SrcPort}}, 100, 30)
	for range 50 {
		h.key(tcell.KeyDown, 0, 0)
	}
	hy := h.rowOf("TTL")
	hx := strings.Index(h.lines()[hy], "TTL")
	h.u.app.QueueEvent(tcell.NewEventMouse(hx+1, hy, tcell.Button1, 0))
	h.u.app.QueueEvent(tcell.NewEventMouse(hx+1, hy, tcell.ButtonNone, 0))
	h.waitFor("the title click", func(u *model) bool { return u.f.Options.Sort == sortby.TTL })
	if got := h.selectedPort(); got != 1299 {
		t.Errorf("after a click on TTL: port %d selected, want 1299 (the first to expire)", got)
	}
}

// A screen at its top with the first row selected stays at the top: a flow
// that sorts first shows there, selected, within a refresh, rather than
// scrolling out of sight above the flow that was first.
func TestTopStaysInView(t *testing.T) {
	h := startScreen(t, portsTable(300), nil, cfg{View: view.Options{Sort: sortby.SrcPort}}, 100, 30)
	first := h.selectedPort()
	h.r.set(func(tb *flow.Table) {
		tb.Flows = append(tb.Flows, mkFlow(flow.ProtoTCP, "192.0.2.1", 5, "198.51.100.1", 80))
	})
	h.refresh()
	if got, line := h.selectedPort(), h.screenLine(); got != 5 || line != 0 {
		t.Errorf("port %d selected on line %d after a flow that sorts first arrived, want port 5 on line 0", got, line)
	}
	h.contains(":" + strconv.Itoa(int(first)) + " ")
}

// The selected flow keeps its line on screen while flows arrive and leave
// above it; when it leaves the table, the selection stays on its line.
func TestSelectionKeepsItsLine(t *testing.T) {
	h := startScreen(t, portsTable(300), nil, cfg{View: view.Options{Sort: sortby.SrcPort}}, 100, 30)
	for range 100 { // past the first page: the table has scrolled
		h.key(tcell.KeyDown, 0, 0)
	}
	for range 5 {
		h.key(tcell.KeyUp, 0, 0)
	}
	line, port := h.screenLine(), h.selectedPort()
	if line <= 0 {
		t.Fatalf("selection on line %d, want one below the top", line)
	}
	for round := range 4 {
		// Flows arrive above the selection (lower ports) and leave
		// (others): the selected flow moves in the view every time.
		h.r.set(func(tb *flow.Table) {
			if round%2 == 0 {
				for i := range 7 {
					tb.Flows = append(tb.Flows, mkFlow(flow.ProtoTCP, "192.0.2.1", uint16(100+10*round+i), "198.51.100.1", 80))
				}
			} else {
				tb.Flows = slices.DeleteFunc(tb.Flows, func(f flow.Flow) bool {
					return f.Orig.SrcPort >= 1010 && int(f.Orig.SrcPort) < 1020+round
				})
			}
		})
		h.refresh()
		if got := h.selectedPort(); got != port {
			t.Fatalf("round %d: port %d selected, want %d", round, got, port)
		}
		if got := h.screenLine(); got != line {
			t.Errorf("round %d: the selected flow moved from line %d to line %d", round, line, got)
		}
	}
	// The selected flow leaves: the selection stays on the line.
	h.r.set(func(tb *flow.Table) {
		tb.Flows = slices.DeleteFunc(tb.Flows, func(f flow.Flow) bool { return f.Orig.SrcPort == port })
	})
	h.refresh()
	if got := h.selectedPort(); got == port || got == 0 {
		t.Errorf("after the flow left: port %d selected", got)
	}
	if got := h.screenLine(); got != line {
		t.Errorf("after the flow left: selection on line %d, want %d", got, line)
	}
}

// monoScreen is a terminal without colours (xterm-mono, vt100).
type monoScreen struct{ tcell.SimulationScreen }

func (monoScreen) Colors() int { return 0 }

// Without colours only the selected row is in reverse video: a monochrome
// terminal draws colours as reverse video, so the rows are drawn plain.
func TestMonochromeTerminal(t *testing.T) {
	r := &fakeReader{clock: newManualClock(), table: sampleTable()}
	mc, sc := cfg{}.split(r, nil, r.clock)
	u, err := newUI(mc, sc)
	if err != nil {
		t.Fatal(err)
	}
	sim := monoScreen{tcell.NewSimulationScreen("UTF-8")}
	h := &harness{t: t, sim: sim, u: u, clk: r.clock, r: r, keys: make(chan struct{}, 1), done: make(chan error, 1)}
	u.keyHook = func() { h.keys <- struct{}{} }
	u.app.SetScreen(sim)
	sim.SetSize(120, 30)
	go func() { h.done <- u.run() }()
	t.Cleanup(func() { u.app.Stop(); <-h.done })
	h.waitFor("the first read", func(u *model) bool { return u.f.Reads > 0 })
	h.key(tcell.KeyDown, 0, 0) // 192.0.2.10:40000
	style := func(s string) (tcell.Color, bool) {
		y := h.rowOf(s)
		var fg tcell.Color
		var attr tcell.AttrMask
		h.onUI(func() {
			c, w, _ := h.sim.GetContents()
			fg, _, attr = c[y*w].Style.Decompose()
		})
		return fg, attr&tcell.AttrReverse != 0
	}
	if _, rev := style("192.0.2.10:40000"); !rev {
		t.Error("the selected row is not in reverse video")
	}
	// A colour on a monochrome terminal is drawn in reverse video: the
	// other rows must have none.
	for _, other := range []string{"192.0.2.3:5353", "198.51.100.1", "[2001:db8::1]:50000"} {
		if fg, rev := style(other); rev || fg != tcell.ColorDefault {
			t.Errorf("row %s: colour %v, reverse %v on a monochrome terminal; want neither", other, fg, rev)
		}
	}
}

// Esc then a key typed fast reads as Alt and the key: the screen binds no
// Alt key, so it is Esc, then the key.
func TestEscThenKey(t *testing.T) {
	h := startScreen(t, sampleTable(), nil, cfg{}, 120, 30)
	h.key(tcell.KeyRune, 'b', tcell.ModAlt)
	h.contains("Sort sport▲")
	// In a prompt the Esc cancels it and the key then acts.
	h.key(tcell.KeyRune, 'd', 0)
	h.contains("Destination filter")
	h.key(tcell.KeyRune, 'r', tcell.ModAlt)
	h.contains("Source:port▼") // r reversed the order after Esc closed the prompt
	h.lacks("Destination filter")
	var filter string
	h.onUI(func() { filter = h.u.f.Options.Filter.Describe() })
	if filter != "" {
		t.Errorf("the cancelled prompt set a filter: %q", filter)
	}
	h.u.app.QueueEvent(tcell.NewEventKey(tcell.KeyRune, 'q', tcell.ModAlt))
	select {
	case err := <-h.done:
		h.done <- err
	case <-time.After(waitLimit):
		t.Fatal("Esc then q did not quit")
	}
}

// The status line says where the selection is; the header says how old the
// rows are when a read is late.
func TestWhereAndHowFresh(t *testing.T) {
	r := &fakeReader{clock: newManualClock(), table: sampleTable()}
	h := startReader(t, r, nil, cfg{}, 120, 30)
	h.contains("row 1 of 4")
	h.key(tcell.KeyDown, 0, 0)
	h.contains("row 2 of 4")
	h.lacks(" ago")
	// The reads stop coming (the next whole read hangs).
	r.set(func(*flow.Table) {})
	r.mu.Lock()
	r.hold = make(chan struct{})
	r.mu.Unlock()
	defer close(r.hold)
	for range 27 {
		h.pending()
		h.clk.Advance(time.Second)
		h.sync()
	}
	h.waitForText("read 27 s ago")
}

// At 80×24 the header takes at most 6 lines, whatever it has to say, so
// that 15 rows of flows stay in view; what does not fit is in the help.
func TestHeaderBudget(t *testing.T) {
	tb := portsTable(40)
	tb.Stats.Entries, tb.Stats.Max = 60000, 65536
	tb.Warnings = []string{"netlink: operation not permitted; reading /proc/net/nf_conntrack"}
	tb.Flows[3].Proto = flow.ProtoUDP
	tb.Flows[3].Present &^= flow.HasState
	h := startScreen(t, tb, nil, cfg{Totals: true, Hostname: "fw1.example.org", Version: "v0.1.0-15-g8ab7812"}, 80, 24)
	title := h.rowOf("Source")
	if title < 0 || title > 6 {
		t.Errorf("the column titles are on line %d: the header takes more than 6 lines\n%s", title+1, h.text())
	}
	if rows := len(h.lines()) - 1 - (title + 1); rows < 15 {
		t.Errorf("%d rows of flows in view, want at least 15", rows)
	}
	h.contains("TABLE 91.6% FULL")
	h.contains("entries 60,000/65,536")
	// Who fills it comes before the sort line, which the column title's
	// arrow and the help stand for; the status line says where the rest is.
	h.contains("top source 192.0.2.1: 100% of entries")
	h.contains("Source▲")
	h.contains("more in h (help)")
	// The per-state totals had no room: the help has them.
	h.key(tcell.KeyRune, 'h', 0)
	for i := 0; !strings.Contains(h.text(), "ESTABLISHED 39"); i++ {
		if i == 10 {
			t.Fatalf("the help lacks the per-state totals:\n%s", h.text())
		}
		h.key(tcell.KeyPgDn, 0, 0)
	}
}

// An empty table says so and why it may be empty; a view the filters empty
// says that instead.
func TestEmptyTable(t *testing.T) {
	empty := sampleTable()
	empty.Flows, empty.Stats.Entries = nil, 0
	h := startScreen(t, empty, nil, cfg{}, 100, 30)
	h.contains("The table is empty")
	h.contains("ct state")
	h.lacks("row 1 of")

	h = startScreen(t, sampleTable(), nil, cfg{}, 100, 30)
	h.typeKeys("d203.0.113.200\n")
	h.contains("No flow matches the filters: 4 hidden.")
}

// tcell sleeps for the padding a terminfo entry asks for, 2 ms after every
// change of attributes on vt100; the screen asks for none.
func TestNoPadding(t *testing.T) {
	for _, term := range []string{"vt100", "vt220"} {
		ti, err := terminfo.LookupTerminfo(term)
		if err != nil {
			t.Fatalf("%s: %v", term, err)
		}
		if ti.PadChar == "" {
			t.Fatalf("%s: tcell's entry asks for no padding already; the test proves nothing", term)
		}
		noPadding(term)
		if ti, _ = terminfo.LookupTerminfo(term); ti.PadChar != "" {
			t.Errorf("%s: padding %q after noPadding", term, ti.PadChar)
		}
	}
}

// With counters shown, a flow's Rate appears once its counters were read
// twice, and o T puts the busiest flow on top.
func TestRateColumn(t *testing.T) {
	tb := sampleTable()
	for i := range tb.Flows {
		tb.Flows[i].Present |= flow.HasCounters
		tb.Flows[i].OrigBytes, tb.Flows[i].OrigPackets = 1000, 10
	}
	h := startScreen(t, tb, nil, cfg{Counters: true}, 120, 30)
	h.contains("Rate")
	// The UDP flow (192.0.2.3) sends 2 MiB in 2 s.
	h.r.set(func(tb *flow.Table) {
		for i := range tb.Flows {
			if tb.Flows[i].Proto == flow.ProtoUDP {
				tb.Flows[i].OrigBytes += 2 << 20
				tb.Flows[i].OrigPackets += 1500
			}
		}
	})
	h.clk.Advance(2 * time.Second)
	h.refresh()
	h.contains("1.0MiB/s")
	h.typeKeys("oT")
	row := h.lines()[h.rowOf("Rate")+1]
	if !strings.Contains(row, "192.0.2.3:5353") || !strings.Contains(row, "1.0MiB/s") {
		t.Errorf("sorted by rate, the first row is %q; want the UDP flow at 1.0MiB/s", row)
	}
	h.contains("0B/s")
}

// Events lost: until the whole read asked for ends, the header says so in
// alarm (and the status line, which a narrow terminal does not cut); after
// it, the header keeps how many times and when. The kernel's own overrun is
// TestOverrunInTmux (package e2e) and monitor's TestKernelOverrunHeals.
func TestEventsLostShown(t *testing.T) {
	for _, width := range []int{80, 200} {
		h := startScreen(t, sampleTable(), nil, cfg{}, width, 24)
		at := time.Date(2026, 12, 1, 3, 4, 5, 0, time.Local)
		h.onUI(func() {
			f := h.u.f
			f.Overruns, f.OverrunAt, f.Resyncing = 1, at, true
			h.u.onFrame(f, monitor.ChangeEventsLost)
		})
		h.sync()
		h.contains("events lost (the kernel's buffer was full): reading the whole table")
		if width == 200 {
			h.contains("EVENTS LOST at 03:04:05: reading the whole table")
		}
		h.onUI(func() {
			f := h.u.f
			f.Resyncing = false
			h.u.onFrame(f, monitor.ChangeRows)
		})
		h.sync()
		h.lacks("EVENTS LOST")
		h.lacks("the kernel's buffer was full")
		if width == 200 {
			h.contains("events lost 1×, last at 03:04:05, resynced")
		}
		if err := h.quit(); err != nil {
			t.Fatal(err)
		}
	}
}
