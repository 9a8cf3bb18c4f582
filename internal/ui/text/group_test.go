package text

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/group"
	"github.com/gostate/gostate/internal/ui"
)

// synTable holds 6 SYN_RECV flows from 203.0.113.66 to tcp/443, 3
// ESTABLISHED ones from 192.0.2.0/24 to tcp/443 (one of them counted), and
// an unanswered DNS query.
func synTable() *flow.Table {
	var flows []flow.Flow
	for i := range 6 {
		f := mkFlow(flow.ProtoTCP, "203.0.113.66", "198.51.100.1", uint16(40000+i), 443)
		f.State = flow.TCPSynRecv
		flows = append(flows, f)
	}
	for i := range 3 {
		flows = append(flows, mkFlow(flow.ProtoTCP, "192.0.2."+string(rune('1'+i)), "198.51.100.1", 50000, 443))
	}
	flows[6].Present |= flow.HasCounters
	flows[6].OrigBytes, flows[6].OrigPackets, flows[6].ReplyBytes, flows[6].ReplyPackets = 1500, 10, 9000, 8
	dns := mkFlow(flow.ProtoUDP, "192.0.2.9", "198.51.100.53", 5353, 53)
	dns.Status = 0
	flows = append(flows, dns)
	return &flow.Table{Flows: flows, Source: "test", Stats: flow.Stats{Entries: len(flows), Max: 1000}}
}

func grouped(t testing.TB, tab *flow.Table, spec string) *group.Grouping {
	t.Helper()
	sp, err := group.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	idx := make([]int32, len(tab.Flows))
	for i := range idx {
		idx[i] = int32(i)
	}
	var g group.Grouping
	g.Build(tab.Flows, idx, sp)
	return &g
}

func writeGroups(t *testing.T, tab *flow.Table, spec string, o *Options, top int) []string {
	t.Helper()
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := WriteGroups(w, tab, grouped(t, tab, spec), o, top); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
}

func TestWriteGroups(t *testing.T) {
	got := writeGroups(t, synTable(), "src/24", &Options{Sort: "entries"}, 0)
	want := []string{
		"entries 10/1,000  fill 1.0%  source test  sort entries",
		"src/24          Entries   Share  of max                States",
		"203.0.113.0/24        6   60.0%    0.6%  [######----]  SYN_RECV 6",
		"192.0.2.0/24          4   40.0%    0.4%  [####------]  ESTABLISHED 3  UNREPLIED 1",
		"2 groups, 10 flows shown",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// -C adds the counters, in the flow view's units; --top cuts, and the
	// last line says so.
	got = writeGroups(t, synTable(), "dport", &Options{Counters: true, NoHeader: false, Sort: "entries"}, 1)
	want = []string{
		"entries 10/1,000  fill 1.0%  source test  sort entries",
		"dport    Entries   Share  of max    Bytes  Packets                States",
		"tcp/443        9   90.0%    0.9%    10KiB       18  [#########-]  SYN_RECV 6  ESTABLISHED 3",
		"2 groups, 10 flows shown (top 1 of 2 groups)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// From 90 % full the banner says what is wrong, how to fix it, and who
// fills the table, over every row.
func TestWriteGroupsBanner(t *testing.T) {
	tab := synTable()
	tab.Stats.Max = 11 // 10 of 11: 90.9 %
	got := writeGroups(t, tab, "dport", &Options{Sort: "entries"}, 0)
	if len(got) < 3 || !strings.HasPrefix(got[1], "TABLE 90.9% FULL: ") || got[2] != "top source 203.0.113.66: 60% of entries (SYN_RECV 100%)" {
		t.Errorf("no banner naming the top source:\n%s", strings.Join(got, "\n"))
	}
	// The flow view gives the same banner.
	lines := writeText(t, tab, &Options{Sort: "src"})
	if len(lines) < 3 || lines[2] != got[2] {
		t.Errorf("the flow view's banner differs:\n%s", strings.Join(lines, "\n"))
	}
	// Healthy: none.
	tab.Stats.Max = 1000
	for _, l := range writeGroups(t, tab, "dport", &Options{Sort: "entries"}, 0) {
		if strings.Contains(l, "top source") || strings.Contains(l, "FULL") {
			t.Errorf("banner on a healthy table: %q", l)
		}
	}
}

// No line is wider than the width, whatever the key, the counters and the
// states; the states give way before the key, the bar first of all.
func TestWriteGroupsWidth(t *testing.T) {
	tab := synTable()
	for _, spec := range []string{"src", "src/24,dport", "state", "nat"} {
		for _, counters := range []bool{false, true} {
			for width := 20; width <= 120; width++ {
				for _, l := range writeGroups(t, tab, spec, &Options{Counters: counters, Width: width, Sort: "entries"}, 0) {
					if ui.Width([]byte(l)) > width {
						t.Fatalf("%s -C=%v width %d: line of %d: %q", spec, counters, width, ui.Width([]byte(l)), l)
					}
					if strings.HasSuffix(l, " ") {
						t.Fatalf("%s width %d: trailing space: %q", spec, width, l)
					}
				}
			}
		}
	}
	got := writeGroups(t, tab, "src", &Options{Width: 50, NoHeader: true}, 1)
	if want := "203.0.113.66        6   60.0%    0.6%  SYN_RECV 6"; got[0] != want {
		t.Errorf("at 50 columns: %q, want the bar gone: %q", got[0], want)
	}
}

func TestStatesText(t *testing.T) {
	states := []group.StateCount{{Name: "SYN_RECV", N: 4912}, {Name: "ESTABLISHED", N: 30}, {Name: "TIME_WAIT", N: 3}, {Name: "CLOSE", N: 2}, {Name: "FIN_WAIT", N: 1}}
	for _, c := range []struct {
		width int
		want  string
	}{
		{0, "SYN_RECV 4,912  ESTABLISHED 30  TIME_WAIT 3  +2 more"},
		{52, "SYN_RECV 4,912  ESTABLISHED 30  TIME_WAIT 3  +2 more"},
		{51, "SYN_RECV 4,912  ESTABLISHED 30  +3 more"},
		{30, "SYN_RECV 4,912  +4 more"},
		{22, "SYN_RECV 4,912"},
		{10, "SYN_RECV ~"},
	} {
		if got := statesText(states, c.width); got != c.want {
			t.Errorf("statesText(width %d) = %q, want %q", c.width, got, c.want)
		}
	}
	if got := statesText(states[:2], 0); got != "SYN_RECV 4,912  ESTABLISHED 30" {
		t.Errorf("two states: %q", got)
	}
	if got := statesText(nil, 10); got != "" {
		t.Errorf("no states: %q", got)
	}
}

// Without --top the groups fill the terminal: its height less the health
// line, the title, the last line and the prompt; 20 without a terminal.
func TestWriteGroupsDefaultTop(t *testing.T) {
	tab := synTable()
	if got := writeGroups(t, tab, "src", &Options{Height: 6, Sort: "entries"}, 0); len(got) != 5 || !strings.Contains(got[4], "(top 2 of 5 groups)") {
		t.Errorf("height 6: %d lines:\n%s", len(got), strings.Join(got, "\n"))
	}
	if got := defaultTop(0, 1); got != 20 {
		t.Errorf("no terminal: %d groups, want 20", got)
	}
	if got := defaultTop(3, 2); got != 1 {
		t.Errorf("a tiny terminal: %d groups, want 1", got)
	}
}

// With colour, a group of one protocol is coloured as its flows are; a
// group of sources is not.
func TestWriteGroupsColor(t *testing.T) {
	tab := synTable()
	got := writeGroups(t, tab, "proto", &Options{Color: true, NoHeader: true}, 0)
	if want := ansiColor[ui.ColorGreen]; !strings.HasPrefix(got[0], want) || !strings.HasSuffix(got[0], ansiReset) {
		t.Errorf("tcp group not green: %q", got[0])
	}
	if !strings.HasPrefix(got[1], ansiColor[ui.ColorYellow]) {
		t.Errorf("udp group not yellow: %q", got[1])
	}
	for _, l := range writeGroups(t, tab, "src", &Options{Color: true, NoHeader: true}, 0) {
		if strings.Contains(l, "\x1b") {
			t.Errorf("a source group coloured: %q", l)
		}
	}
}

func TestWriteGroupsJSON(t *testing.T) {
	tab := synTable()
	write := func(tab *flow.Table, spec string, counters bool, top int) string {
		var buf bytes.Buffer
		if err := WriteGroupsJSON(bufio.NewWriter(&buf), tab, grouped(t, tab, spec), counters, top); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	got := write(tab, "src,dport", true, 0)
	want := `{"group":"src,dport","key":"203.0.113.66 tcp/443","entries":6,"share":60.00,"of_max":0.60,"states":{"SYN_RECV":6},"bytes":0,"packets":0}
{"group":"src,dport","key":"192.0.2.1 tcp/443","entries":1,"share":10.00,"of_max":0.10,"states":{"ESTABLISHED":1},"bytes":10500,"packets":18}
{"group":"src,dport","key":"192.0.2.2 tcp/443","entries":1,"share":10.00,"of_max":0.10,"states":{"ESTABLISHED":1},"bytes":0,"packets":0}
{"group":"src,dport","key":"192.0.2.3 tcp/443","entries":1,"share":10.00,"of_max":0.10,"states":{"ESTABLISHED":1},"bytes":0,"packets":0}
{"group":"src,dport","key":"192.0.2.9 udp/53","entries":1,"share":10.00,"of_max":0.10,"states":{"UNREPLIED":1},"bytes":0,"packets":0}
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("not JSON: %s", line)
		}
	}
	// No limit known (a saved dump): no of_max; no -C: no counters; --top.
	tab.Stats.Max = 0
	if got, want := write(tab, "state", false, 1), `{"group":"state","key":"SYN_RECV","entries":6,"share":60.00,"states":{"SYN_RECV":6}}`+"\n"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
