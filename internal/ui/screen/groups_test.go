package screen

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/uniseg"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/source"
)

// groupTable is a table of 10 flows from 203.0.113.66, 4 from 192.0.2.7
// (two of them SYN_RECV), 2 from 192.0.2.8 and 1 from 198.51.100.1.
func groupTable() flow.Table {
	t := sampleTable()
	t.Flows = nil
	add := func(src string, n int, state uint8) {
		for range n {
			f := mkFlow(flow.ProtoTCP, src, uint16(40000+len(t.Flows)), "198.51.100.7", 443)
			f.State = state
			t.Flows = append(t.Flows, f)
		}
	}
	add("203.0.113.66", 10, flow.TCPEstablished)
	add("192.0.2.7", 2, flow.TCPEstablished)
	add("192.0.2.7", 2, flow.TCPSynRecv)
	add("192.0.2.8", 2, flow.TCPEstablished)
	add("198.51.100.1", 1, flow.TCPEstablished)
	t.Stats.Entries = len(t.Flows)
	return t
}

// selectedGroup is the label of the selected group, "" without one.
func (h *harness) selectedGroup() string {
	var s string
	h.onUI(func() {
		if gv := &h.u.gv; gv.on && gv.hasSel {
			s = gv.g.Label(gv.selRow)
		}
	})
	return s
}

// Tab opens the group view by source, biggest first, and goes back to the
// flows; a regroups, taking --group-by's keys, and refuses others in the
// status line.
func TestGroupViewTabAndRegroup(t *testing.T) {
	h := startScreen(t, groupTable(), nil, cfg{}, 120, 30)
	h.key(tcell.KeyTab, 0, 0)
	h.contains("Groups src, biggest first")
	h.order("Entries▼", "203.0.113.66        10  58.8%", "192.0.2.7            4  23.5%", "192.0.2.8", "198.51.100.1")
	h.contains("ESTABLISHED 2  SYN_RECV 2")
	h.contains("[██████░░░░]")
	h.contains("group 1 of 4")
	h.key(tcell.KeyTab, 0, 0)
	h.contains("Source▲")
	h.contains("row 1 of 17")

	h.typeKeys("asrc/24\n")
	h.contains("grouped by src/24")
	h.order("src/24", "203.0.113.0/24", "192.0.2.0/24", "198.51.100.0/24")
	h.typeKeys("adport,state\n")
	h.order("tcp/443 ESTABLISHED", "tcp/443 SYN_RECV")
	h.typeKeys("asrc/33\n")
	h.contains("refused: invalid group key")
	h.contains("tcp/443 ESTABLISHED")
	h.typeKeys("a")
	h.contains("now dport,state")
	h.typeKeys("\x1b")
}

// b and B order the groups by key and back, r reverses; a new order
// starts at the top.
func TestGroupSort(t *testing.T) {
	h := startScreen(t, groupTable(), nil, cfg{}, 120, 30)
	h.key(tcell.KeyTab, 0, 0)
	h.key(tcell.KeyDown, 0, 0)
	h.typeKeys("b")
	h.contains("src▲")
	h.order("192.0.2.7 ", "192.0.2.8 ", "198.51.100.1 ", "203.0.113.66 ")
	if got := h.selectedGroup(); got != "192.0.2.7" {
		t.Errorf("selected %q after a new order, want the top group", got)
	}
	h.typeKeys("r")
	h.contains("src▼")
	h.order("203.0.113.66 ", "198.51.100.1 ", "192.0.2.8 ", "192.0.2.7 ")
	h.typeKeys("b")
	h.contains("Entries▼")
	h.order("203.0.113.66 ", "192.0.2.7 ", "192.0.2.8 ", "198.51.100.1 ")
	h.typeKeys("r")
	h.contains("smallest first")
	h.order("198.51.100.1 ", "192.0.2.8 ", "192.0.2.7 ", "203.0.113.66 ")
	h.typeKeys("od")
	h.order("192.0.2.7 ", "192.0.2.8 ", "198.51.100.1 ", "203.0.113.66 ")
	h.typeKeys("ob")
	h.order("203.0.113.66 ", "192.0.2.7 ", "192.0.2.8 ", "198.51.100.1 ")
}

// Enter on a network shows its addresses' groups, Enter on an address its
// flows, the header naming the groups entered; Esc walks back one level,
// the group entered selected.
func TestGroupEnterAndEsc(t *testing.T) {
	h := startScreen(t, groupTable(), nil, cfg{}, 120, 30)
	h.typeKeys("asrc/24\n")
	h.key(tcell.KeyDown, 0, 0)
	h.key(tcell.KeyEnter, 0, 0)
	h.contains("src/24 192.0.2.0/24 › Groups src")
	h.order("192.0.2.7 ", "192.0.2.8 ")
	h.lacks("203.0.113.66")
	h.key(tcell.KeyDown, 0, 0)
	h.key(tcell.KeyEnter, 0, 0)
	h.contains("src/24 192.0.2.0/24 › src 192.0.2.8 › Sort")
	h.contains("row 1 of 2")
	h.lacks("192.0.2.7:")

	h.key(tcell.KeyEscape, 0, 0)
	h.contains("src/24 192.0.2.0/24 › Groups src")
	if got := h.selectedGroup(); got != "192.0.2.8" {
		t.Errorf("Esc selected %q, want the group entered, 192.0.2.8", got)
	}
	h.key(tcell.KeyEscape, 0, 0)
	h.lacks("›")
	h.contains("Groups src/24")
	h.contains("group 2 of 3")
	if got := h.selectedGroup(); got != "192.0.2.0/24" {
		t.Errorf("Esc selected %q, want 192.0.2.0/24", got)
	}
	// At the top level Esc does nothing.
	h.key(tcell.KeyEscape, 0, 0)
	h.contains("group 2 of 3")
}

// The groups follow the table's reads; the selected group keeps its
// screen line while groups above it come and go.
func TestGroupKeepsLineAcrossRefresh(t *testing.T) {
	tb := sampleTable()
	tb.Flows = nil
	// Groups of 40 down to 1 flows: 192.0.2.1 has 40, 192.0.2.40 one.
	for i := 1; i <= 40; i++ {
		for j := range 41 - i {
			tb.Flows = append(tb.Flows, mkFlow(flow.ProtoTCP, fmt.Sprintf("192.0.2.%d", i), uint16(1000+j), "198.51.100.7", 443))
		}
	}
	h := startScreen(t, tb, nil, cfg{}, 120, 20)
	h.key(tcell.KeyTab, 0, 0)
	for range 15 {
		h.key(tcell.KeyDown, 0, 0)
	}
	if got := h.selectedGroup(); got != "192.0.2.16" {
		t.Fatalf("selected %q, want 192.0.2.16", got)
	}
	line := h.rowOf("192.0.2.16 ")
	// Three new groups bigger than it: it moves down three places.
	h.r.set(func(t *flow.Table) {
		for _, src := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"} {
			for j := range 30 {
				t.Flows = append(t.Flows, mkFlow(flow.ProtoTCP, src, uint16(1000+j), "198.51.100.7", 443))
			}
		}
	})
	h.refresh()
	h.contains("group 19 of 43")
	if got := h.selectedGroup(); got != "192.0.2.16" {
		t.Errorf("selected %q after the read, want 192.0.2.16", got)
	}
	if got := h.rowOf("192.0.2.16 "); got != line {
		t.Errorf("the selected group moved from screen line %d to %d", line, got)
	}
	// Enter shows its flows; Esc comes back to it, on its line.
	h.key(tcell.KeyEnter, 0, 0)
	h.contains("src 192.0.2.16 › Sort")
	h.key(tcell.KeyEscape, 0, 0)
	if got := h.selectedGroup(); got != "192.0.2.16" || h.rowOf("192.0.2.16 ") != line {
		t.Errorf("Esc selected %q on line %d, want 192.0.2.16 on line %d", got, h.rowOf("192.0.2.16 "), line)
	}
	// Its flows gone: the selection stays on its line.
	h.r.set(func(t *flow.Table) {
		t.Flows = slices.DeleteFunc(t.Flows, func(f flow.Flow) bool { return f.Orig.Src[15] == 16 && f.Orig.Src[12] == 192 })
	})
	h.refresh()
	if got := h.rowOf("192.0.2.17 "); got != line {
		t.Errorf("the group after the one gone is on line %d, want %d", got, line)
	}
}

// x asks to delete a group's flows with their count, deletes them one by
// one through the deleter, and says how many were already gone; read-only
// refuses.
func TestGroupDelete(t *testing.T) {
	d := &fakeDeleter{}
	h := startScreen(t, groupTable(), d, cfg{}, 120, 30)
	h.key(tcell.KeyTab, 0, 0)
	h.typeKeys("x")
	h.contains("delete 10 flows of src 203.0.113.66? y/N")
	h.typeKeys("n")
	h.contains("not deleted")
	if d.count() != 0 {
		t.Fatal("n deleted")
	}
	h.key(tcell.KeyDown, 0, 0)
	h.typeKeys("xy")
	h.waitFor("the deletes' result", func(u *model) bool { return u.statusMsg == "deleted 4" })
	if d.count() != 4 {
		t.Fatalf("%d deletes, want the 4 flows of 192.0.2.7", d.count())
	}
	for _, f := range d.deleted {
		if a := f.Orig.Src.Netip(f.Family); a != mustAddr("192.0.2.7") {
			t.Errorf("deleted a flow of %v", a)
		}
	}

	// Within a drill-down the filters apply: 192.0.2.0/24's 192.0.2.8.
	d.err = fmt.Errorf("netlink: %w", source.ErrNotFound)
	h.typeKeys("asrc/24\n")
	h.key(tcell.KeyDown, 0, 0)
	h.key(tcell.KeyEnter, 0, 0)
	h.key(tcell.KeyDown, 0, 0)
	h.typeKeys("x")
	h.contains("delete 2 flows of src 192.0.2.8? y/N")
	h.typeKeys("y")
	h.waitFor("already gone", func(u *model) bool { return u.statusMsg == "deleted 0, 2 already gone" })
	h.contains("deleted 0, 2 already gone")
	if d.count() != 6 {
		t.Errorf("%d deletes, want 6", d.count())
	}

	h = startScreen(t, groupTable(), d, cfg{ReadOnly: true}, 120, 30)
	h.key(tcell.KeyTab, 0, 0)
	h.typeKeys("x")
	h.contains("read-only")
	h.typeKeys("y")
	if d.count() != 6 {
		t.Errorf("read-only deleted %d", d.count()-6)
	}
}

// At 80×24 every line fits, with counters; a long key gives way as the
// one-shot text's does (the bar, then the counters, then the key is cut).
// The rows are drawn plain, only the selected one reversed, so that a
// terminal without colours shows it.
func TestGroupViewAt80x24AndMono(t *testing.T) {
	tb := groupTable()
	tb.Flows[0].Present |= flow.HasCounters
	tb.Flows[0].OrigPackets, tb.Flows[0].OrigBytes, tb.Flows[0].ReplyPackets, tb.Flows[0].ReplyBytes = 1490, 3<<20-900, 10, 900
	long := tb
	long.Flows = append(slices.Clone(tb.Flows), mkFlow(flow.ProtoTCP, "2001:db8:1234:5678:9abc:def0:1234:5678", 44321, "2001:db8::2", 443))
	for _, c := range []struct {
		name    string
		table   flow.Table
		colours bool
		want    []string
	}{
		{"counters", tb, true, []string{"Bytes", "3.0MiB", "1.5K"}},
		{"mono", tb, false, []string{"3.0MiB", "ESTABLISHED 2  SYN_RECV 2"}},
		{"long key", long, true, []string{"2001:db8:1234:5678:9abc:def0:12…", "ESTABLISHED 10"}},
	} {
		h := startScreen(t, c.table, nil, cfg{Counters: true, NoColor: !c.colours}, 80, 24)
		h.key(tcell.KeyTab, 0, 0)
		for _, s := range c.want {
			h.contains(s)
		}
		for _, l := range h.lines() {
			if w := uniseg.StringWidth(l); w > 80 {
				t.Errorf("%s: a line %d cells wide: %q", c.name, w, l)
			}
		}
		var cells []tcell.SimCell
		var w int
		h.onUI(func() {
			cl, cw, _ := h.sim.GetContents()
			cells, w = slices.Clone(cl), cw
		})
		for _, s := range []string{"203.0.113.66", "192.0.2.7", "198.51.100.1"} {
			y := h.rowOf(s)
			_, _, a := cells[y*w].Style.Decompose()
			if reversed, sel := a&tcell.AttrReverse != 0, s == "203.0.113.66"; reversed != sel {
				t.Errorf("%s: row %q reversed %v, want %v", c.name, s, reversed, sel)
			}
		}
	}
}

// The help screen, and so --help (KeyList), has the group view's keys; help
// closes back to the group view it was opened from.
func TestGroupHelp(t *testing.T) {
	list := KeyList("")
	for _, k := range []string{"Tab ", "a KEY ", "Enter ", "Esc ", "x (groups) "} {
		if !strings.Contains(list, "\n"+k) {
			t.Errorf("the key list lacks %q:\n%s", k, list)
		}
	}
	h := startScreen(t, groupTable(), nil, cfg{}, 120, 60)
	h.key(tcell.KeyTab, 0, 0)
	h.key(tcell.KeyRune, 'h', 0)
	h.contains("group by KEY, as --group-by")
	h.contains("src, biggest first▼ (shown)")
	h.key(tcell.KeyEscape, 0, 0)
	h.contains("group 1 of 4")
	h.contains("203.0.113.66        10")
}

// A group of one protocol is coloured as its flows are; c turns it off.
func TestGroupProtocolColours(t *testing.T) {
	h := startScreen(t, sampleTable(), nil, cfg{}, 120, 30)
	h.typeKeys("aproto\n")
	fg := func(s string) tcell.Color {
		var cells []tcell.SimCell
		var w int
		h.onUI(func() {
			c, cw, _ := h.sim.GetContents()
			cells, w = slices.Clone(c), cw
		})
		// The group's row, not the header's totals that name it too.
		y := slices.IndexFunc(h.lines(), func(l string) bool { return strings.HasPrefix(l, s) })
		if y < 0 {
			t.Fatalf("no row starts with %q; screen:\n%s", s, h.text())
		}
		c, _, _ := cells[y*w].Style.Decompose()
		return c
	}
	if c := fg("udp "); c != tcell.ColorYellow {
		t.Errorf("the udp group's colour %v, want yellow", c)
	}
	h.typeKeys("c")
	if c := fg("udp "); c != tcell.ColorDefault {
		t.Errorf("the udp group's colour %v after c, want none", c)
	}
	h.typeKeys("asrc\n")
	if c := fg("192.0.2.3 "); c != tcell.ColorDefault {
		t.Errorf("a source's group is coloured %v", c)
	}
}
