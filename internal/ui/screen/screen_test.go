package screen

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/uniseg"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/monitor"
	"github.com/gostate/gostate/internal/sortby"
	"github.com/gostate/gostate/internal/source"
	"github.com/gostate/gostate/internal/ui"
	"github.com/gostate/gostate/internal/view"
)

func TestHeader(t *testing.T) {
	tb := sampleTable()
	tb.Warnings = []string{"netlink: operation not permitted\x1b[31m; reading /proc/net/nf_conntrack"}
	h := startScreen(t, tb, nil, cfg{Hostname: "fw1", Version: "v0.1"}, 120, 30)
	h.contains("gostate v0.1  fw1  12:00:00  every 1s")
	h.contains("! netlink: operation not permitted?[31m; reading /proc/net/nf_conntrack")
	h.contains("source: netlink")
	h.contains("every 1s")
	h.contains("entries 4/65,536  fill 0.0%")
	h.contains("0.0%")
	h.contains("memory 1.2KiB (320 B/entry)")
	h.contains("drop 0")
	h.contains("Sort src▲")
	h.lacks("TABLE")
	if err := h.quit(); err != nil {
		t.Fatalf("Run returned %v after q", err)
	}
}

func TestHeaderEstimatesAndUnknowns(t *testing.T) {
	tb := sampleTable()
	tb.Stats = flow.Stats{Entries: 4, BytesPerEntry: 320, BytesPerEntryEstimated: true}
	tb.Skipped = 2
	h := startScreen(t, tb, nil, cfg{}, 140, 30)
	h.contains("entries 4  memory")
	h.contains("memory ~1.2KiB (320 B/entry, estimated)  (max unknown)")
	h.contains("drop/insert_failed/early_drop: not available from this source")
	h.contains("skipped 2 unreadable")
}

func TestRowsAndColumns(t *testing.T) {
	h := startScreen(t, sampleTable(), nil, cfg{}, 120, 30)
	h.contains("Source▲")
	h.contains("Destination")
	h.contains("192.0.2.10:40000")
	h.contains("198.51.100.7:443")
	h.contains("ESTABLISHED")
	h.contains("119:59:59") // 431999 s
	h.contains("[2001:db8::1]:50000")
	h.contains("8/0 77") // ICMP type/code id
	h.lacks("Bytes")
	h.key(tcell.KeyRune, 'C', 0)
	h.contains("Bytes")
	h.contains("Packets")
}

func TestTTLCountsDown(t *testing.T) {
	h := startScreen(t, sampleTable(), nil, cfg{Interval: 10 * time.Second}, 120, 30)
	h.contains("0:00:30")
	h.clk.Advance(3 * time.Second)
	h.key(tcell.KeyCtrlL, 0, 0)
	h.contains("0:00:27")
	h.contains("12:00:03")

	frozen := sampleTable()
	frozen.Frozen = true
	h = startScreen(t, frozen, nil, cfg{Interval: 10 * time.Second}, 120, 30)
	h.clk.Advance(3 * time.Second)
	h.key(tcell.KeyCtrlL, 0, 0)
	h.contains("0:00:30")
	h.contains("(saved dump, TTLs as saved)")
}

func TestSortKeys(t *testing.T) {
	h := startScreen(t, sampleTable(), nil, cfg{}, 120, 30)
	h.order("192.0.2.3:5353", "192.0.2.10:40000", "198.51.100.1", "[2001:db8::1]")

	h.key(tcell.KeyRune, 'r', 0)
	h.contains("Source▼")
	h.order("[2001:db8::1]", "198.51.100.1", "192.0.2.10:40000", "192.0.2.3:5353")
	h.key(tcell.KeyRune, 'r', 0)

	h.key(tcell.KeyRune, 'b', 0) // src -> sport
	h.contains("Sort sport▲")
	h.contains("Source:port▲")
	h.order("192.0.2.3:5353", "192.0.2.10:40000", "[2001:db8::1]:50000")

	h.key(tcell.KeyRune, 'B', 0) // back to src
	h.contains("Sort src▲")

	h.typeKeys("od")
	h.contains("Destination▲")
	h.order("192.0.2.200", "198.51.100.7:443", "203.0.113.9:53", "[2001:db8::2]:22")

	h.typeKeys("oD")
	h.contains("Destination:port▲")
	h.typeKeys("ot")
	h.order("198.51.100.1", "192.0.2.3:5353", "[2001:db8::1]", "192.0.2.10:40000")
	h.typeKeys("oa")
	h.contains("Sort src▲")

	h.typeKeys("oz")
	h.contains("no ordering has the letter 'z'")
	h.contains("Sort src▲")

	h.key(tcell.KeyRune, 'o', 0)
	h.contains("sort by: a src")
	h.key(tcell.KeyEscape, 0, 0)
	h.contains("Sort src▲")
}

// Every ordering is reachable in at most two keys with the -b letters.
func TestEveryOrderingInTwoKeys(t *testing.T) {
	h := startScreen(t, sampleTable(), nil, cfg{}, 120, 30)
	for _, k := range sortby.Keys() {
		h.typeKeys("o" + k.Letter())
		var got sortby.Key
		h.onUI(func() { got = h.u.f.Options.Sort })
		if got != k {
			t.Errorf("o%s sorts by %v, want %v", k.Letter(), got, k)
		}
	}
}

func TestSelectionFollowsFlow(t *testing.T) {
	h := startScreen(t, sampleTable(), nil, cfg{}, 120, 30)
	h.key(tcell.KeyDown, 0, 0) // 192.0.2.10:40000
	selected := func() string {
		var s string
		h.onUI(func() {
			if f := h.u.selected(); f != nil {
				s = ui.DescribeFlow(f)
			}
		})
		return s
	}
	want := "tcp 192.0.2.10:40000 -> 198.51.100.7:443"
	if got := selected(); got != want {
		t.Fatalf("selected %q, want %q", got, want)
	}
	// A new order starts at its top, unless F follows the flow.
	h.key(tcell.KeyRune, 'F', 0)
	h.key(tcell.KeyRune, 'r', 0)
	if got := selected(); got != want {
		t.Errorf("after F r selected %q, want %q", got, want)
	}
	// A refresh in which a new flow sorts before it keeps it selected.
	h.r.set(func(t *flow.Table) {
		t.Flows = append(t.Flows, mkFlow(flow.ProtoUDP, "2001:db8::ff", 1, "2001:db8::fe", 2))
	})
	h.refresh()
	if got := selected(); got != want {
		t.Errorf("after a refresh selected %q, want %q", got, want)
	}
	// When the flow goes, the selection stays on the same row.
	h.r.set(func(t *flow.Table) { t.Flows = append(t.Flows[:0], t.Flows[1:]...) })
	h.refresh()
	if got := selected(); got == "" || got == want {
		t.Errorf("after the flow vanished selected %q", got)
	}
}

func TestMovementKeys(t *testing.T) {
	tb := sampleTable()
	tb.Flows = nil
	for i := range 300 {
		tb.Flows = append(tb.Flows, mkFlow(flow.ProtoTCP, "192.0.2.1", uint16(1000+i), "198.51.100.1", 80))
	}
	h := startScreen(t, tb, nil, cfg{View: view.Options{Sort: sortby.SrcPort}}, 100, 30)
	row := func() int {
		var r int
		h.onUI(func() { r = h.u.selRow })
		return r
	}
	steps := []struct {
		k    tcell.Key
		r    rune
		want func(page int) int
	}{
		{tcell.KeyRune, 'j', func(int) int { return 1 }},
		{tcell.KeyDown, 0, func(int) int { return 2 }},
		{tcell.KeyRune, 'k', func(int) int { return 1 }},
		{tcell.KeyPgDn, 0, func(p int) int { return 1 + p }},
		{tcell.KeyPgUp, 0, func(int) int { return 1 }},
		{tcell.KeyCtrlD, 0, func(p int) int { return 1 + p/2 }},
		{tcell.KeyCtrlU, 0, func(int) int { return 1 }},
		{tcell.KeyEnd, 0, func(int) int { return 299 }},
		{tcell.KeyHome, 0, func(int) int { return 0 }},
		{tcell.KeyRune, 'G', func(int) int { return 299 }},
		{tcell.KeyRune, 'g', func(int) int { return 0 }},
		{tcell.KeyUp, 0, func(int) int { return 0 }},
	}
	var page int
	h.onUI(func() { page = h.u.pageRows() })
	for _, s := range steps {
		h.key(s.k, s.r, 0)
		if got, want := row(), s.want(page); got != want {
			t.Fatalf("after %v %q: row %d, want %d", s.k, s.r, got, want)
		}
	}
	h.key(tcell.KeyRune, 'G', 0)
	h.contains("192.0.2.1:1299")
	h.lacks("192.0.2.1:1000 ")

	// The wheel moves the selection; a click selects the row under it.
	h.key(tcell.KeyRune, 'g', 0)
	ty := h.rowOf("192.0.2.1:1000")
	h.u.app.QueueEvent(tcell.NewEventMouse(5, ty, tcell.WheelDown, 0))
	h.waitFor("the wheel", func(u *model) bool { return u.selRow == wheelRows })
	h.u.app.QueueEvent(tcell.NewEventMouse(5, ty+5, tcell.Button1, 0))
	h.u.app.QueueEvent(tcell.NewEventMouse(5, ty+5, tcell.ButtonNone, 0))
	h.waitFor("the click", func(u *model) bool { return u.selRow == 5 })

	// A click on a column's title sorts by it; a second one reverses.
	hy := h.rowOf("Destination")
	hx := strings.Index(h.lines()[hy], "Destination")
	for i, want := range []string{"Destination▲", "Destination▼"} {
		h.u.app.QueueEvent(tcell.NewEventMouse(hx+1, hy, tcell.Button1, 0))
		h.u.app.QueueEvent(tcell.NewEventMouse(hx+1, hy, tcell.ButtonNone, 0))
		h.waitFor("the title click", func(u *model) bool { return u.f.Options.Sort == sortby.Dst && u.f.Options.Reverse == (i == 1) })
		h.contains(want)
	}
}

func TestFilterPrompts(t *testing.T) {
	h := startScreen(t, sampleTable(), nil, cfg{}, 120, 30)
	h.key(tcell.KeyRune, 'd', 0)
	h.contains("Destination filter ADDR[/PREFIX] (empty clears):")
	h.typeKeys("198.51.100.0/24\n")
	h.contains("198.51.100.7:443")
	h.lacks("203.0.113.9:53")
	h.contains("Flows 1 (3 hidden by filters)")

	// Cancel keeps the old filter, with Esc and with Ctrl-G.
	h.typeKeys("d203.0.113.9\x1b")
	h.contains("cancelled")
	h.lacks("203.0.113.9:53")
	h.typeKeys("d203.0.113.9\a")
	h.lacks("203.0.113.9:53")

	// Invalid input is refused and keeps the old filter.
	h.typeKeys("dnot-an-address\n")
	h.contains("refused")
	h.lacks("203.0.113.9:53")
	h.contains("198.51.100.7:443")

	// Ports: 0 and 65536 and words are refused.
	for _, bad := range []string{"0", "65536", "x", "-1"} {
		h.typeKeys("D" + bad + "\n")
		h.contains("refused")
	}
	h.typeKeys("D443\n")
	h.contains("198.51.100.7:443")

	// Invert shows the others.
	h.key(tcell.KeyRune, 'i', 0)
	h.lacks("198.51.100.7:443")
	h.contains("203.0.113.9:53")
	h.key(tcell.KeyRune, 'i', 0)

	// An empty answer clears the filter.
	h.typeKeys("d\nD\n")
	h.contains("203.0.113.9:53")
	h.contains("Flows 4:")

	// Source filter and the source port prompt.
	h.typeKeys("s2001:db8::/32\n")
	h.contains("[2001:db8::1]:50000")
	h.lacks("192.0.2.10")
	h.typeKeys("s\nS40000\n")
	h.contains("192.0.2.10:40000")
	h.lacks("192.0.2.3:5353")
	h.typeKeys("S\n")

	// L hides DNS.
	h.key(tcell.KeyRune, 'L', 0)
	h.lacks("203.0.113.9:53")
	h.key(tcell.KeyRune, 'L', 0)
	h.contains("203.0.113.9:53")
}

func TestRatePrompt(t *testing.T) {
	h := startScreen(t, sampleTable(), nil, cfg{}, 120, 30)
	h.typeKeys("R0.5\n")
	h.contains("every 0.5s")
	for _, bad := range []string{"0", "0.01", "abc", "-3", "NaN", "1e30"} {
		h.typeKeys("R" + bad + "\n")
		h.contains("refused")
		h.contains("every 0.5s")
	}
	h.typeKeys("R2\x1b")
	h.contains("every 0.5s")
	// An empty answer keeps the interval, as Esc does: it is not an error.
	h.typeKeys("R\n")
	h.contains("every 0.5s")
	h.contains("interval unchanged: 0.5s")
	h.lacks("refused")

	// The limits are -R's: two hours is fine, more than a day is refused
	// with -R's own words.
	h.typeKeys("R7200\n")
	h.contains("every 7200s")
	h.typeKeys("R86401\n")
	h.contains("refused: must be at most a day (86400 seconds); interval unchanged")
	h.contains("every 7200s")
}

func TestIntervalDrivesReads(t *testing.T) {
	h := startScreen(t, sampleTable(), nil, cfg{Interval: 2 * time.Second}, 120, 30)
	n := h.r.readCount()
	h.clk.Advance(time.Second)
	h.sync()
	if got := h.r.readCount(); got != n {
		t.Fatalf("read after 1 s of a 2 s interval")
	}
	h.clk.Advance(time.Second)
	h.waitFor("a read after the interval", func(*model) bool { return h.r.readCount() == n+1 })
}

func TestStaleOnReadError(t *testing.T) {
	h := startScreen(t, sampleTable(), nil, cfg{}, 120, 30)
	h.r.setErr(errTest)
	h.refresh()
	h.contains("read failed: netlink: connection refused")
	h.contains("STALE")
	h.contains("192.0.2.10:40000") // the last good data stays
	h.r.setErr(nil)
	h.refresh()
	h.lacks("STALE")
	h.lacks("read failed")
}

func TestBanner(t *testing.T) {
	tb := sampleTable()
	tb.Stats.Entries, tb.Stats.Max = 60000, 65536
	// Tall enough for the peak line beside the banner and its top source.
	h := startScreen(t, tb, nil, cfg{}, 160, 40)
	h.contains("TABLE 91.6% FULL: new connections are about to be dropped")
	h.contains("sysctl -w net.netfilter.nf_conntrack_max=240000")

	h.r.set(func(t *flow.Table) { t.Stats.Entries, t.Stats.CPU.Drop = 65536, 12 })
	h.refresh()
	h.contains("TABLE FULL: new connections are being dropped")
	h.contains("drop 12 (+12)")
	h.contains("sysctl -w net.netfilter.nf_conntrack_max=270000")

	// The figure follows the session's peak, as --advise's does.
	h.r.set(func(t *flow.Table) { t.Stats.Entries = 59000 })
	h.refresh()
	h.contains("peak 65,536")
	h.contains("TABLE 90.0% FULL")
	h.contains("sysctl -w net.netfilter.nf_conntrack_max=270000")

	// A drop rise on a table that is not full is still a warning.
	h.r.set(func(t *flow.Table) { t.Stats.Entries, t.Stats.CPU.EarlyDrop = 100, 3 })
	h.refresh()
	h.contains("TABLE FULL: new connections are being dropped")
	h.contains("early_drop 3 (+3)")
	h.refresh()
	h.lacks("TABLE")
}

func TestChurn(t *testing.T) {
	h := startScreen(t, sampleTable(), nil, cfg{}, 160, 30)
	h.r.set(func(t *flow.Table) {
		t.Flows = append(t.Flows[1:], mkFlow(flow.ProtoUDP, "192.0.2.50", 1, "192.0.2.51", 2),
			mkFlow(flow.ProtoUDP, "192.0.2.52", 1, "192.0.2.53", 2))
		// The kernel's insert counter counts ctnetlink's inserts, not
		// the flows of packets: the reads tell.
		t.Stats.CPU.Insert += 1000
	})
	h.clk.Advance(500 * time.Millisecond)
	h.refresh()
	h.contains("new 4.0/s")
	h.contains("gone 2.0/s")
}

func TestDelete(t *testing.T) {
	d := &fakeDeleter{}
	h := startScreen(t, sampleTable(), d, cfg{}, 120, 30)
	h.key(tcell.KeyDown, 0, 0)
	h.key(tcell.KeyRune, 'x', 0)
	h.contains("Delete tcp 192.0.2.10:40000 -> 198.51.100.7:443? (y/n)")
	h.key(tcell.KeyRune, 'n', 0)
	h.contains("not deleted")
	if d.count() != 0 {
		t.Fatal("n deleted")
	}
	h.typeKeys("xy")
	h.waitFor("the delete's result", func(u *model) bool { return strings.Contains(u.statusMsg, "deleted tcp") })
	h.contains("deleted tcp 192.0.2.10:40000 -> 198.51.100.7:443")
	if d.count() != 1 || d.deleted[0].Orig.DstPort != 443 {
		t.Fatalf("deleted %+v", d.deleted)
	}

	d.err = fmt.Errorf("netlink: %w", source.ErrNotFound)
	h.typeKeys("xy")
	h.waitFor("already gone", func(u *model) bool { return strings.Contains(u.statusMsg, "already gone") })

	// Read-only refuses; no deleter refuses; an empty view does nothing.
	h = startScreen(t, sampleTable(), d, cfg{ReadOnly: true}, 120, 30)
	h.key(tcell.KeyRune, 'x', 0)
	h.contains("read-only")
	h = startScreen(t, sampleTable(), nil, cfg{}, 120, 30)
	h.key(tcell.KeyRune, 'x', 0)
	h.contains("cannot delete")
	empty := sampleTable()
	empty.Flows = nil
	h = startScreen(t, empty, d, cfg{}, 120, 30)
	h.key(tcell.KeyRune, 'x', 0)
	h.contains("nothing to delete")
	h.key(tcell.KeyRune, 'y', 0)
	if d.count() != 2 {
		t.Errorf("%d deletes, want 2", d.count())
	}
}

func TestHelp(t *testing.T) {
	h := startScreen(t, sampleTable(), nil, cfg{}, 120, 60)
	h.key(tcell.KeyRune, 'h', 0)
	h.contains("o LETTER")
	h.contains("a src  S sport  d dst")
	h.contains("Current settings")
	h.key(tcell.KeyPgDn, 0, 0)
	h.contains("tcp_established 432000")
	h.contains("nf_conntrack: table full, dropping packet")
	h.key(tcell.KeyEscape, 0, 0)
	h.lacks("Current settings")
	h.contains("192.0.2.10:40000")
	h.key(tcell.KeyRune, '?', 0)
	h.contains("Current settings")
	h.key(tcell.KeyRune, 'q', 0) // closes help, does not quit
	h.contains("192.0.2.10:40000")
}

func TestResize(t *testing.T) {
	tb := sampleTable()
	tb.Flows[0].Status |= flow.StatusDstNAT
	tb.Flows[0].Reply.Src = flow.AddrFrom(mustAddr("192.0.2.99"))
	tb.Flows[0].Reply.SrcPort = 8443
	h := startScreen(t, tb, nil, cfg{}, 140, 30)
	h.contains("dnat 192.0.2.99:8443")
	h.contains("TTL")
	for _, size := range [][2]int{{72, 24}, {60, 15}, {40, 10}, {10, 4}, {1, 1}, {200, 50}} {
		h.resize(size[0], size[1])
		for _, l := range h.lines() {
			if len([]rune(l)) > size[0] {
				t.Errorf("%dx%d: line wider than the screen: %q", size[0], size[1], l)
			}
		}
		switch size[0] {
		case 60:
			// The NAT column and the protocol give way; the state and
			// the TTL, what an admin reads a row for, stay.
			h.lacks("dnat")
			h.lacks("Proto")
			h.contains("State")
			h.contains("TTL")
			h.contains("192.0.2.10:40000")
			h.contains("198.51.100.7:443")
		case 40:
			h.contains("192.0.2.3")
		}
	}
	h.contains("119:59:59")
}

// At 80 columns a 38-character IPv6 address and a 47-character NAT value cut
// their cells, each address keeping its port, instead of removing the State
// and TTL columns from every row; one-shot text at COLUMNS=80 keeps them by
// the same rule (cmd/gostate/testdata/script/width.txtar).
func TestStateAndTTLAt80Columns(t *testing.T) {
	tb := sampleTable()
	long := mkFlow(flow.ProtoTCP, "2001:db8:1234:5678:9abc:def0:1234:5678", 44321,
		"2001:db8:8765:4321:fedc:ba98:7654:3210", 443)
	long.Timeout = 3599
	long.Status |= flow.StatusSrcNAT | flow.StatusDstNAT
	long.Reply.Src = flow.AddrFrom(mustAddr("2001:db8:aaaa:bbbb:cccc:dddd:eeee:1"))
	long.Reply.Dst = flow.AddrFrom(mustAddr("2001:db8:ffff:eeee:dddd:cccc:bbbb:2"))
	tb.Flows = append(tb.Flows, long)
	for _, counters := range []bool{false, true} {
		h := startScreen(t, tb, nil, cfg{Counters: counters}, 80, 24)
		h.key(tcell.KeyRune, 'G', 0) // the long row into view, selected
		h.contains("State")
		h.contains("TTL")
		h.contains("0:59:59")
		row := h.lines()[h.rowOf("0:59:59")]
		if strings.Count(row, "…") < 2 || !strings.Contains(row, "]:44321 ") || !strings.Contains(row, "]:443 ") {
			t.Errorf("counters %v: the long addresses are not cut inside the address, port kept: %q", counters, row)
		}
		if !strings.Contains(row, "ESTABLISHED") {
			t.Errorf("counters %v: the long row lost its state: %q", counters, row)
		}
		for _, l := range h.lines() {
			if w := uniseg.StringWidth(l); w > 80 {
				t.Errorf("counters %v: a line %d cells wide: %q", counters, w, l)
			}
		}
	}
}

func TestNoColor(t *testing.T) {
	h := startScreen(t, sampleTable(), nil, cfg{}, 120, 30)
	contents := func() (cells []tcell.SimCell, w int) {
		h.onUI(func() {
			c, cw, _ := h.sim.GetContents()
			cells, w = slices.Clone(c), cw
		})
		return cells, w
	}
	fg := func(s string) tcell.Color {
		y := h.rowOf(s)
		cells, w := contents()
		line := h.lines()[y]
		x := strings.Index(line, s)
		c, _, _ := cells[y*w+len([]rune(line[:x]))].Style.Decompose()
		return c
	}
	if c := fg("203.0.113.9:53"); c != tcell.ColorYellow {
		t.Errorf("udp row colour %v, want yellow", c)
	}
	h.key(tcell.KeyRune, 'c', 0)
	if c := fg("203.0.113.9:53"); c != tcell.ColorDefault {
		t.Errorf("udp row colour %v after c, want none", c)
	}
	// The selected row stays visible without colours: reverse video.
	cells, w := contents()
	y := h.rowOf("192.0.2.3:5353")
	if _, _, a := cells[y*w].Style.Decompose(); a&tcell.AttrReverse == 0 {
		t.Errorf("selected row is not in reverse video without colours")
	}
}

func TestNoColorEnvironment(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	h := startScreen(t, sampleTable(), nil, cfg{}, 120, 30)
	var noColor bool
	h.onUI(func() { noColor = h.u.noColor })
	if !noColor {
		t.Error("NO_COLOR did not turn colours off")
	}
}

func TestTotalsLine(t *testing.T) {
	h := startScreen(t, sampleTable(), nil, cfg{}, 120, 30)
	h.lacks("States:")
	h.key(tcell.KeyRune, 't', 0)
	h.contains("States:")
	h.contains("ESTABLISHED 2")
}

func TestQuitKeys(t *testing.T) {
	h := startScreen(t, sampleTable(), nil, cfg{}, 80, 24)
	h.u.app.QueueEvent(tcell.NewEventKey(tcell.KeyCtrlC, 0, tcell.ModCtrl))
	select {
	case err := <-h.done:
		h.done <- err
		if err != nil {
			t.Errorf("Ctrl-C: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Ctrl-C did not end the screen")
	}
}

func TestFirstReadError(t *testing.T) {
	r := &fakeReader{clock: newManualClock(), err: errTest}
	mc, sc := cfg{}.split(r, nil, r.clock)
	_, err := newUI(mc, sc)
	if err != errTest {
		t.Errorf("newUI = %v, want the read error", err)
	}
}

// With a source that refreshes single rows, the rows on screen are re-read
// every interval and the whole table less often.
func TestRowsOnScreenRefreshBetweenDumps(t *testing.T) {
	clk := newManualClock()
	fr := &fakeReader{clock: clk, table: sampleTable(), cost: 600 * time.Millisecond, lookups: true}
	h := startReader(t, fr, nil, cfg{}, 120, 30)
	h.contains("every 1s (whole table every 3.6s: a read takes 0.6s)")
	reads := fr.readCount()

	fr.set(func(t *flow.Table) {
		t.Flows[0].Timeout = 500                      // 192.0.2.10:40000
		t.Flows = append(t.Flows[:1], t.Flows[2:]...) // the udp flow goes
	})
	h.pending()
	clk.Advance(time.Second)
	h.waitFor("a refresh of the rows on screen", func(*model) bool { return fr.refreshCount() == 1 })
	h.waitFor("the refreshed rows", func(u *model) bool { return u.f.Len() == 3 })
	if fr.readCount() != reads {
		t.Fatalf("a whole-table read happened 1 s after one that took 0.6 s")
	}
	h.contains("0:08:20")
	h.lacks("192.0.2.3:5353")
	h.contains("entries 4/") // whole-table figures wait for the next dump
	// and the flows' totals agree with themselves until then.
	h.contains("Flows 4: icmp 1  tcp 2  udp 1")

	// The whole table is read again within its period.
	for i := 0; fr.readCount() == reads; i++ {
		if i > 5 {
			t.Fatal("no whole-table read within 5 intervals")
		}
		h.pending()
		clk.Advance(time.Second)
		h.sync()
	}
}

// A source without single-row refreshes whose reads outlast the interval
// stretches the interval, and the header says so.
func TestSlowReadStretchesInterval(t *testing.T) {
	clk := newManualClock()
	fr := &fakeReader{clock: clk, table: sampleTable(), cost: 1500 * time.Millisecond}
	h := startReader(t, fr, nil, cfg{}, 120, 30)
	h.contains("every 1s (a read takes 1.5s: every 2.25s)")
	reads := fr.readCount()
	h.pending()
	clk.Advance(500 * time.Millisecond) // 1 s after the read began: not yet
	h.sync()
	if fr.readCount() != reads {
		t.Fatal("a read began before the stretched interval ended")
	}
}

// The screen comes up with the table's health at once, and says it is
// reading; the rows follow when the first whole read ends (at 1,000,000
// entries that read takes 4 s).
func TestHealthBeforeTheRows(t *testing.T) {
	clk := newManualClock()
	tb := sampleTable()
	tb.Stats.Entries, tb.Stats.Max = 60000, 65536
	fr := &fakeReader{clock: clk, table: tb, hold: make(chan struct{})}
	h := launch(t, fr, nil, cfg{}, 120, 30)
	h.waitFor("the first whole read to start", func(*model) bool { return fr.held.Load() })
	h.contains("entries 60,000/65,536  fill 91.6%")
	h.contains("TABLE 91.6% FULL")
	h.contains("reading the whole table: 0 of 60,000 entries…")
	h.contains("Flows counted when the whole table has been read")
	h.lacks("192.0.2.10:40000")
	close(fr.hold)
	h.waitFor("the first whole read", func(u *model) bool { return u.f.Reads > 0 })
	h.contains("192.0.2.10:40000")
	h.lacks("reading the whole table")
}

func TestFmtDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Second: "1s", 500 * time.Millisecond: "0.5s", 2250 * time.Millisecond: "2.25s",
		4810 * time.Millisecond: "4.81s", 4814999 * time.Microsecond: "4.81s", 100 * time.Millisecond: "0.1s",
		time.Hour: "3600s", 1050 * time.Millisecond: "1.05s",
	} {
		if got := fmtDuration(d); got != want {
			t.Errorf("fmtDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// Rows that scroll into view are refreshed at once, not at the next tick.
func TestScrolledRowsRefreshAtOnce(t *testing.T) {
	clk := newManualClock()
	tb := sampleTable()
	for i := range 100 {
		tb.Flows = append(tb.Flows, mkFlow(flow.ProtoTCP, "192.0.2.1", uint16(1000+i), "198.51.100.1", 80))
	}
	fr := &fakeReader{clock: clk, table: tb, cost: 600 * time.Millisecond, lookups: true}
	h := startReader(t, fr, nil, cfg{}, 120, 30)
	n := fr.refreshCount()
	h.key(tcell.KeyRune, 'G', 0)
	h.waitFor("a refresh of the rows scrolled into view", func(*model) bool { return fr.refreshCount() > n })
}

// While a slow source's whole-table reads are stretched, the header's
// health figures are still read every interval.
func TestHealthBetweenDumps(t *testing.T) {
	clk := newManualClock()
	fr := &fakeReader{clock: clk, table: sampleTable(), cost: 3 * time.Second}
	fr.table.Stats.CPU.Drop = 10
	h := startReader(t, fr, nil, cfg{}, 120, 30)
	h.contains("every 1s (a read takes 3s: every 4.5s)")
	h.contains("drop 10 ")
	reads := fr.readCount()

	fr.set(func(t *flow.Table) {
		t.Stats.Entries, t.Stats.CPU.Drop = 60000, 13
	})
	// The next whole read is due 1.5 s from here, the health every second:
	// step the clock until the new figures are on screen.
	// After 1.25 s of the clock, the health read that is due may still be
	// on its way on a busy machine: wait for it without moving the clock.
	deadline := time.Now().Add(waitLimit)
	for i := 0; ; i++ {
		var entries int
		h.onUI(func() { entries = h.u.f.Table.Stats.Entries })
		if entries == 60000 {
			break
		}
		if i >= 5 {
			if time.Now().After(deadline) {
				t.Fatal("no health figures 1.25 s after a read that took 3 s")
			}
			time.Sleep(5 * time.Millisecond)
			continue
		}
		h.pending()
		clk.Advance(250 * time.Millisecond)
		h.sync()
	}
	if fr.readCount() != reads {
		t.Fatalf("%d whole reads before the health figures came", fr.readCount()-reads)
	}
	h.contains("entries 60,000/65,536")
	h.contains("drop 13 (+3)")
	h.contains("TABLE FULL: new connections are being dropped")
	h.contains("Flows 4:") // the rows wait for the next dump
}

// On an 80-column terminal the header's fields that do not fit move to the
// next line: the source, and the banner's command, are not cut off.
func TestHeaderWrapsFields(t *testing.T) {
	tb := sampleTable()
	tb.Stats.Entries, tb.Stats.Max = 60000, 65536
	tb.Source = "/proc/net/nf_conntrack"
	h := startScreen(t, tb, nil, cfg{Hostname: "fw1.example.org", Version: "v0.1.0-15-g8ab7812"}, 80, 30)
	h.contains("source: /proc/net/nf_conntrack")
	h.contains("TABLE 91.6% FULL: new connections are about to be dropped.")
	h.contains("\nRaise the limit: sysctl -w net.netfilter.nf_conntrack_max=240000")
	h.order("gostate v0.1.0", "source:", "entries", "TABLE 91.6%", "Raise the limit")
}

func TestWrapLines(t *testing.T) {
	st := tcell.StyleDefault
	l := line{{"a", st}, {"bc", st}, {"  de", st}, {"f", st}, {"  gh", st}}
	text := func(ls []line) []string {
		var out []string
		for _, l := range ls {
			var b strings.Builder
			for _, s := range l {
				b.WriteString(s.text)
			}
			out = append(out, b.String())
		}
		return out
	}
	for _, c := range []struct {
		w    int
		want []string
	}{
		{20, []string{"abc  def  gh"}},
		{12, []string{"abc  def  gh"}},
		{11, []string{"abc  def", "gh"}},
		{7, []string{"abc", "def  gh"}},
		{2, []string{"abc", "def", "gh"}}, // a field wider than the screen is cut when drawn
	} {
		if got := text(wrapLines(nil, []line{l}, c.w)); !slices.Equal(got, c.want) {
			t.Errorf("width %d: %q, want %q", c.w, got, c.want)
		}
	}
}

// A narrow screen cuts the fill bar, not the fill percentage.
func TestFillPercentOnNarrowScreen(t *testing.T) {
	tb := sampleTable()
	tb.Stats.Entries, tb.Stats.Max = 200000, 262144
	h := startScreen(t, tb, nil, cfg{}, 40, 12)
	h.contains("fill 76.3% [")
}

// On a narrow screen the prompt's question gives way, so that what is typed
// and the cursor stay in view.
func TestPromptOnNarrowScreen(t *testing.T) {
	h := startScreen(t, sampleTable(), nil, cfg{}, 30, 12)
	h.typeKeys("s198.51.100.0/2")
	last := func() string { l := h.lines(); return l[len(l)-1] }
	if got := last(); !strings.HasSuffix(got, "): 198.51.100.0/2") || !strings.HasPrefix(got, "…") {
		t.Errorf("status line %q, want the end of the question and the answer", got)
	}
	var x, y int
	h.onUI(func() { x, y, _ = h.sim.GetCursor() })
	if x != 29 || y != 11 {
		t.Errorf("cursor at %d,%d, want 29,11", x, y)
	}
	// An answer wider than the screen shows its end.
	h.typeKeys("4 and then some more text")
	if got := last(); got != ".0/24 and then some more text" {
		t.Errorf("status line %q, want the answer's last 29 characters", got)
	}
	h.typeKeys("\x1b")
	h.contains("cancelled")
}

func TestDeleteQuestionOnNarrowScreen(t *testing.T) {
	h := startScreen(t, sampleTable(), &fakeDeleter{}, cfg{}, 40, 15)
	h.key(tcell.KeyDown, 0, 0)
	h.key(tcell.KeyRune, 'x', 0)
	h.contains("443? (y/n)")
}

// The header keeps the peak of the count, and when it was, after the table
// shrank, and draws the count's history.
func TestPeakAfterShrink(t *testing.T) {
	h := startScreen(t, sampleTable(), nil, cfg{}, 120, 40)
	h.contains("peak 4 at 12:00:00")
	h.r.set(func(t *flow.Table) { t.Stats.Entries = 40000 })
	h.clk.Advance(2 * time.Second)
	h.refresh()
	h.r.set(func(t *flow.Table) { t.Stats.Entries = 2000 })
	h.clk.Advance(2 * time.Second)
	h.refresh()
	h.contains("entries 2,000/65,536")
	h.contains("peak 40,000 at 12:00:02")
	h.contains("last 10 min ")
}

// A sparkline bar is the highest count of its share of the window, scaled to
// the limit; shares without samples are blank.
func TestSparkline(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 10, 0, 0, time.UTC)
	var h []monitor.Sample
	for i := range 10 {
		h = append(h, monitor.Sample{At: now.Add(-10*time.Minute + time.Duration(i)*time.Minute), Entries: i * 100})
	}
	if got, want := sparkline(h, now, 1000, 10, 10*time.Minute), "▁▁▂▃▄▄▅▆▇█"; got != want {
		t.Errorf("sparkline %q, want %q", got, want)
	}
	// Without a limit, the highest count is a full bar; two samples
	// minutes apart leave the shares between them blank.
	h = []monitor.Sample{{At: now.Add(-9 * time.Minute), Entries: 5}, {At: now.Add(-time.Second), Entries: 10}}
	if got, want := sparkline(h, now, 0, 10, 10*time.Minute), "▄       █"; got != want {
		t.Errorf("sparkline %q, want %q", got, want)
	}
	if got := sparkline(h[:1], now, 0, 10, 10*time.Minute); got != "" {
		t.Errorf("one sample: %q, want nothing yet", got)
	}
}

// Counters asked for on a table without any say how to turn accounting on.
func TestCountersOffHint(t *testing.T) {
	h := startScreen(t, sampleTable(), nil, cfg{}, 140, 30) // no flow has counters
	h.key(tcell.KeyRune, 'C', 0)
	h.contains("counters are off: sysctl -w net.netfilter.nf_conntrack_acct=1")
	h.key(tcell.KeyRune, 'C', 0)
	h.typeKeys("ob")
	h.contains("counters are off")
	tb := sampleTable()
	tb.Flows[0].Present |= flow.HasCounters
	h = startScreen(t, tb, nil, cfg{}, 140, 30)
	h.key(tcell.KeyRune, 'C', 0)
	h.lacks("counters are off")
}

// The host, mark and zone prompts filter as --host, --mark and --zone do;
// a flow with a mark or a zone brings its column, and the delete question
// names the zone.
func TestHostMarkZonePrompts(t *testing.T) {
	tb := sampleTable()
	tb.Flows[0].Status |= flow.StatusDstNAT
	tb.Flows[0].Reply.Src = flow.AddrFrom(mustAddr("192.0.2.99")) // the DNAT backend
	tb.Flows[1].Mark, tb.Flows[1].Zone = 7, 3
	h := startScreen(t, tb, &fakeDeleter{}, cfg{}, 160, 30)
	h.contains("Mark")
	h.contains("Zone")
	h.typeKeys("H192.0.2.99\n")
	h.contains("192.0.2.10:40000")
	h.lacks("192.0.2.3:5353")
	h.typeKeys("H\nm7\n")
	h.contains("192.0.2.3:5353")
	h.lacks("192.0.2.10:40000")
	h.typeKeys("m\nz3\n")
	h.contains("192.0.2.3:5353")
	h.lacks("192.0.2.10:40000")
	h.typeKeys("x")
	h.contains("zone 3? (y/n)")
	h.typeKeys("n")
	h.typeKeys("z\nmfoo\n")
	h.contains("refused")
}

// A table shorter than the terminal, then a terminal shorter than the
// table: the selected first row stays in sight (tview's table would go on
// following its last row).
func TestShrinkKeepsSelection(t *testing.T) {
	h := startScreen(t, sampleTable(), nil, cfg{}, 100, 40)
	h.sync()
	h.resize(40, 10)
	h.contains("192.0.2.3")
	h.contains("row 1 of 4")
}

// The first screen of a full table says who fills it: the banner names the
// top source and its commonest state, on a wide terminal and at 80×24;
// with many sources, none dominant, it names the top destination port.
func TestBannerNamesTopSource(t *testing.T) {
	tb := sampleTable()
	tb.Stats.Entries, tb.Stats.Max = 60000, 65536
	for i := range 40 {
		f := mkFlow(flow.ProtoTCP, "203.0.113.66", uint16(30000+i), "198.51.100.7", 443)
		f.State = flow.TCPSynRecv
		tb.Flows = append(tb.Flows, f)
	}
	for _, size := range [][2]int{{200, 40}, {80, 24}} {
		h := startScreen(t, tb, nil, cfg{}, size[0], size[1])
		h.contains("top source 203.0.113.66: 91% of entries (SYN_RECV 100%)")
		h.quit()
	}
	many := sampleTable()
	many.Stats.Entries, many.Stats.Max = 60000, 65536
	many.Flows = nil
	for i := range 100 {
		many.Flows = append(many.Flows, mkFlow(flow.ProtoUDP, "192.0.2."+strconv.Itoa(i+1), 5000, "198.51.100.53", 53))
	}
	h := startScreen(t, many, nil, cfg{}, 200, 40)
	h.contains("no dominant source; top destination port udp/53: 100%")
	// Not full: no banner, no top source.
	h.r.set(func(t *flow.Table) { t.Stats.Entries = 100 })
	h.refresh()
	h.lacks("dominant")
}

// A opens the sizing advisor on what the session watched: its peak, and the
// drops that grew since it started, decide; q closes it.
func TestAdvicePage(t *testing.T) {
	tb := sampleTable()
	tb.Stats.Entries, tb.Stats.Max, tb.Stats.MemTotal = 20000, 65536, 8<<30
	tb.Stats.CPU.Has = flow.AllCounters
	h := startScreen(t, tb, nil, cfg{}, 120, 60)
	h.key(tcell.KeyRune, 'A', 0)
	h.contains("Verdict: no change needed")
	h.key(tcell.KeyRune, 'q', 0)
	h.lacks("Verdict")
	// Drops while watched: a change is needed, whatever the fill.
	h.r.set(func(t *flow.Table) { t.Stats.CPU.Drop += 5 })
	h.refresh()
	h.key(tcell.KeyRune, 'A', 0)
	h.contains("Verdict: change needed")
	h.contains("sysctl -w net.netfilter.nf_conntrack_max=")
}
