package text

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/ui"
	"github.com/gostate/gostate/internal/view"
)

func mkFlow(proto uint8, src, dst string, sport, dport uint16) flow.Flow {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	fam := flow.FamilyIPv4
	if s.Is6() {
		fam = flow.FamilyIPv6
	}
	f := flow.Flow{Family: fam, Proto: proto, Timeout: 431999,
		Present: flow.HasTimeout, Status: flow.StatusSeenReply | flow.StatusAssured,
		Orig: flow.Tuple{Src: flow.AddrFrom(s), Dst: flow.AddrFrom(d), SrcPort: sport, DstPort: dport}}
	f.Reply = f.Orig.Mirror()
	if proto == flow.ProtoTCP {
		f.Present |= flow.HasState
		f.State = flow.TCPEstablished
	}
	return f
}

// testTable holds an IPv4, an IPv6, an ICMP and a port-forwarded (DNAT) flow.
func testTable() *flow.Table {
	nat := mkFlow(flow.ProtoTCP, "192.0.2.14", "203.0.113.9", 45000, 80)
	nat.Reply.Src, nat.Reply.SrcPort = flow.AddrFrom(netip.MustParseAddr("198.51.100.99")), 8080
	nat.Status |= flow.StatusDstNAT
	icmp := mkFlow(flow.ProtoICMP, "192.0.2.13", "203.0.113.7", 4242, 0)
	icmp.Orig.ICMPType = 8
	return &flow.Table{
		Flows: []flow.Flow{
			mkFlow(flow.ProtoTCP, "192.0.2.10", "198.51.100.20", 40000, 443),
			mkFlow(flow.ProtoUDP, "2001:db8::1", "2001:db8::2", 5353, 53),
			icmp,
			nat,
		},
		Source: "test",
	}
}

// allRows is a view of every row of t, in the table's order, with the
// totals view.Build counts.
func allRows(t *flow.Table) *view.View {
	v := &view.View{}
	view.Build(t, &view.Options{}, v)
	for i := range t.Flows {
		v.Idx[i] = int32(i)
	}
	return v
}

func writeText(t *testing.T, tab *flow.Table, o *Options) []string {
	t.Helper()
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := WriteText(w, tab, allRows(tab), o); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
}

func TestNaturalWidths(t *testing.T) {
	lines := writeText(t, testTable(), &Options{NoHeader: true})
	want := []string{
		"192.0.2.10:40000    198.51.100.20:443  tcp    ESTABLISHED       119:59:59",
		"[2001:db8::1]:5353  [2001:db8::2]:53   udp    ASSURED           119:59:59",
		"192.0.2.13          203.0.113.7        icmp   8/0 4242 ASSURED  119:59:59",
		"192.0.2.14:45000    203.0.113.9:80     tcp    ESTABLISHED       119:59:59  dnat 198.51.100.99:8080",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// TestFitWidth: at every width no line is wider, none ends in a space, and
// an address is cut only when the width cannot hold it.
func TestFitWidth(t *testing.T) {
	tab := testTable()
	for width := 1; width <= 120; width++ {
		lines := writeText(t, tab, &Options{Width: width, Counters: true, Totals: true})
		for _, l := range lines {
			if n := ui.Width([]byte(l)); n > width {
				t.Fatalf("width %d: line of %d: %q", width, n, l)
			}
			if strings.HasSuffix(l, " ") {
				t.Fatalf("width %d: trailing space: %q", width, l)
			}
		}
		// The longest source and destination take 18 and 17 columns; from
		// 36 columns on, both fit and must be whole.
		if width >= 36 {
			body := strings.Join(lines, "\n")
			for _, a := range []string{"[2001:db8::1]:5353", "198.51.100.20:443"} {
				if !strings.Contains(body, a) {
					t.Errorf("width %d: %s cut though it fits:\n%s", width, a, body)
				}
			}
		}
	}
}

// TestDropOrder: columns give way one at a time in ui's order (Packets,
// Bytes, NAT, Proto, TTL, State), those that fit again come back, then the
// addresses shrink. The natural widths: Source 18, Destination 17, Proto 5,
// State 16 (the ICMP row's "8/0 4242 ASSURED"), TTL 9, Bytes 5, Packets 7,
// NAT 23; State is cut to its floor (11, ESTABLISHED) before a column goes,
// which is why each width below is the widest with that set of columns.
func TestDropOrder(t *testing.T) {
	tab := testTable()
	header := func(width int) string {
		return writeText(t, tab, &Options{Width: width, Counters: true})[1]
	}
	for _, c := range []struct {
		width int
		want  string
	}{
		{0, "Source              Destination        Proto  State                   TTL  Bytes  Packets  NAT"},
		// One space between columns before any column goes.
		{113, "Source             Destination       Proto State                  TTL Bytes Packets NAT"},
		{102, "Source             Destination       Proto State             TTL Bytes Packets NAT"},
		{101, "Source             Destination       Proto State                  TTL Bytes NAT"},
		{93, "Source             Destination       Proto State                  TTL NAT"},
		// Without the wide NAT column, Bytes and Packets fit again.
		{87, "Source             Destination       Proto State                  TTL Bytes Packets"},
		{77, "Source             Destination       Proto State                  TTL Bytes"},
		{69, "Source             Destination       Proto State                  TTL"},
		{63, "Source             Destination       State                  TTL"},
		// Without TTL, Proto fits again.
		{57, "Source             Destination       Proto State"},
		{53, "Source             Destination       State"},
		{47, "Source             Destination             TTL"},
		{35, "Source            Destination"},
	} {
		if got := header(c.width); got != c.want {
			t.Errorf("width %d:\n got %q\nwant %q", c.width, got, c.want)
		}
	}
}

func TestHealthLine(t *testing.T) {
	tab := testTable()
	tab.Stats = flow.Stats{Entries: 1000, Max: 4000, BytesPerEntry: 372, BytesPerEntryEstimated: true, HaveCPU: true,
		CPU: flow.CPUStats{Drop: 3, InsertFailed: 2, EarlyDrop: 1}}
	got := writeText(t, tab, &Options{Sort: "dst reversed", Filter: "dport 22"})[0]
	want := "entries 1,000/4,000  fill 25.0%  memory ~363KiB (372 B/entry, estimated)  drop 3  insert_failed 2  early_drop 1  source test  sort dst reversed  filter dport 22"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	// A narrow width wraps between segments rather than cutting them.
	lines := writeText(t, tab, &Options{Width: 60, Sort: "src"})
	if lines[0] != "entries 1,000/4,000  fill 25.0%" || lines[1] != "memory ~363KiB (372 B/entry, estimated)  drop 3" {
		t.Errorf("wrapped health line: %q", lines[:3])
	}
}

// TestTableWarning: from 90 % full the one-shot text says so after the
// health line, with the command that raises the limit, as the live screen
// does, and who fills the table (ui.TopSource); not with --no-header.
func TestTableWarning(t *testing.T) {
	tab := testTable()
	tab.Stats = flow.Stats{Entries: 240000, Max: 262144, HaveCPU: true}
	const (
		msg = "TABLE 91.6% FULL: new connections are about to be dropped."
		fix = "Raise the limit: sysctl -w net.netfilter.nf_conntrack_max=960000"
	)
	lines := writeText(t, tab, &Options{Sort: "src"})
	if !strings.HasPrefix(lines[0], "entries 240,000/262,144  fill 91.6%") || lines[1] != msg+"  "+fix ||
		lines[2] != "top source 192.0.2.10: 25% of entries (ESTABLISHED 100%)" || !strings.HasPrefix(lines[3], "Source") {
		t.Errorf("want the health line, the warning, the top source, the titles; got\n%s", strings.Join(lines[:4], "\n"))
	}
	for _, l := range writeText(t, tab, &Options{NoHeader: true}) {
		if strings.Contains(l, "FULL") || strings.Contains(l, "top source") {
			t.Errorf("--no-header prints the warning: %q", l)
		}
	}
	// Narrow: the command starts a line of its own, whole; the rest wraps
	// between words.
	lines = writeText(t, tab, &Options{Width: 60, Sort: "src"})
	if i := slices.Index(lines, msg); i < 0 || lines[i+1] != "Raise the limit:" || lines[i+2] != "sysctl -w net.netfilter.nf_conntrack_max=960000" {
		t.Errorf("width 60:\n%s", strings.Join(lines, "\n"))
	}
	tab.Stats.MaxWritable, tab.Stats.InitialNetNS = flow.TriNo, flow.TriNo
	lines = writeText(t, tab, &Options{Width: 50, Sort: "src"})
	want := []string{
		"TABLE 91.6% FULL: new connections are about to be",
		"dropped.",
		"Raise the limit on the host (nf_conntrack_max is",
		"global; read-only in this namespace):",
		"sysctl -w net.netfilter.nf_conntrack_max=960000",
	}
	if i := slices.Index(lines, want[0]); i < 0 || !slices.Equal(lines[i:i+len(want)], want) {
		t.Errorf("width 50, inside a namespace:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	// Below 90 % nothing is said.
	tab.Stats.Entries = 235600 // 89.9 %
	for _, l := range writeText(t, tab, &Options{}) {
		if strings.Contains(l, "FULL") || strings.Contains(l, "sysctl") {
			t.Errorf("89.9%% full: %q", l)
		}
	}
}

func TestColor(t *testing.T) {
	lines := writeText(t, testTable(), &Options{NoHeader: true, Color: true})
	for i, prefix := range []string{"\x1b[32m", "\x1b[33m", "\x1b[31m", "\x1b[32m"} {
		if !strings.HasPrefix(lines[i], prefix) || !strings.HasSuffix(lines[i], ansiReset) {
			t.Errorf("row %d: %q", i, lines[i])
		}
	}
	other := testTable()
	other.Flows[0].Proto = flow.ProtoGRE
	if l := writeText(t, other, &Options{NoHeader: true, Color: true})[0]; strings.Contains(l, "\x1b") {
		t.Errorf("gre has no colour in iptstate: %q", l)
	}
}

func TestWriteJSON(t *testing.T) {
	tab := testTable()
	tab.Flows[0].Present |= flow.HasCounters | flow.HasID
	tab.Flows[0].OrigBytes = ^uint64(0)
	tab.Flows[0].ID = 42
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := WriteJSON(w, tab, allRows(tab).Idx); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	want := []string{
		`{"family":"ipv4","proto":"tcp","protonum":6,"src":"192.0.2.10","dst":"198.51.100.20","sport":40000,"dport":443,"state":"ESTABLISHED","ttl":431999,"assured":true,"unreplied":false,"snat":false,"dnat":false,"mark":0,"zone":0,"id":42,"reply":{"src":"198.51.100.20","dst":"192.0.2.10","sport":443,"dport":40000},"orig_bytes":18446744073709551615,"orig_packets":0,"reply_bytes":0,"reply_packets":0}`,
		`{"family":"ipv6","proto":"udp","protonum":17,"src":"2001:db8::1","dst":"2001:db8::2","sport":5353,"dport":53,"ttl":431999,"assured":true,"unreplied":false,"snat":false,"dnat":false,"mark":0,"zone":0,"reply":{"src":"2001:db8::2","dst":"2001:db8::1","sport":53,"dport":5353}}`,
		`{"family":"ipv4","proto":"icmp","protonum":1,"src":"192.0.2.13","dst":"203.0.113.7","ttl":431999,"assured":true,"unreplied":false,"snat":false,"dnat":false,"mark":0,"zone":0,"reply":{"src":"203.0.113.7","dst":"192.0.2.13"},"icmp":{"type":8,"code":0,"id":4242}}`,
		`{"family":"ipv4","proto":"tcp","protonum":6,"src":"192.0.2.14","dst":"203.0.113.9","sport":45000,"dport":80,"state":"ESTABLISHED","ttl":431999,"assured":true,"unreplied":false,"snat":false,"dnat":true,"mark":0,"zone":0,"reply":{"src":"198.51.100.99","dst":"192.0.2.14","sport":8080,"dport":45000}}`,
	}
	for i := range want {
		if i >= len(lines) || lines[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, lines[min(i, len(lines)-1)], want[i])
		}
	}
}

func TestWriteStatsJSON(t *testing.T) {
	tab := testTable()
	tab.Stats = flow.Stats{Entries: 10, Max: 40, Buckets: 65536, BytesPerEntry: 256, HaveCPU: true,
		CPU: flow.CPUStats{Drop: ^uint64(0), ClashResolve: 5,
			Has: flow.CounterFound | flow.CounterDrop | flow.CounterClashResolve}}
	tab.Warnings = []string{"netlink: \"denied\"\n"}
	tab.Timeouts = []flow.Timeout{{Name: "tcp_established", Seconds: 432000}}
	m := statsObject(t, tab)
	for k, v := range map[string]string{"entries": "10", "max": "40", "fill": "25.00", "buckets": "65536",
		"memory_bytes": "2560", "bytes_per_entry_source": "slabinfo object",
		"found": "0", "drop": "18446744073709551615", "clash_resolve": "5", "source": "test",
		"warnings": "[netlink: \"denied\"\n]", "timeouts": "map[tcp_established:432000]"} {
		if got := strings.TrimSpace(fmtAny(m[k])); got != strings.TrimSpace(v) {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	// A counter the source did not report is unknown, not 0.
	for _, k := range []string{"invalid", "ignore", "insert", "insert_failed", "early_drop", "error", "search_restart", "chaintoolong"} {
		if v, ok := m[k]; ok {
			t.Errorf("%s = %v, though the source did not report it", k, v)
		}
	}

	// Where /proc is hidden: no buckets, the estimated size of an entry.
	tab.Stats = flow.Stats{Entries: 10, Max: 40, BytesPerEntry: 256, BytesPerEntryEstimated: true}
	m = statsObject(t, tab)
	if _, ok := m["buckets"]; ok {
		t.Errorf("buckets = %v, though unknown", m["buckets"])
	}
	if got := fmtAny(m["bytes_per_entry_source"]); got != "estimate" {
		t.Errorf("bytes_per_entry_source = %q, want estimate", got)
	}
	for _, k := range []string{"found", "drop"} {
		if v, ok := m[k]; ok {
			t.Errorf("%s = %v without per-CPU statistics", k, v)
		}
	}
}

// statsObject is what WriteStatsJSON writes of tab, decoded.
func statsObject(t *testing.T, tab *flow.Table) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteStatsJSON(bufio.NewWriter(&buf), tab); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&buf)
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	return m
}

// The full-table warning comes first among the warnings, on the fill alone.
func TestStatsJSONWarning(t *testing.T) {
	tab := testTable()
	tab.Stats = flow.Stats{Entries: 240000, Max: 262144}
	tab.Warnings = []string{"a source's remark"}
	var buf bytes.Buffer
	if err := WriteStatsJSON(bufio.NewWriter(&buf), tab); err != nil {
		t.Fatal(err)
	}
	var st struct{ Warnings []string }
	if err := json.Unmarshal(buf.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	want := []string{"TABLE 91.6% FULL: new connections are about to be dropped.  Raise the limit: sysctl -w net.netfilter.nf_conntrack_max=960000", "a source's remark"}
	if !slices.Equal(st.Warnings, want) {
		t.Errorf("warnings %q, want %q", st.Warnings, want)
	}
}

// TestStatsJSONWhere: whether the limit can be set where the table was read,
// and whether that is the initial namespace, are booleans, left out when
// unknown.
func TestStatsJSONWhere(t *testing.T) {
	for _, c := range []struct {
		writable, initial flow.Tristate
		want              string
	}{
		{flow.TriUnknown, flow.TriUnknown, `"max":262144,"fill":91.55,"bytes_per_entry"`},
		{flow.TriYes, flow.TriYes, `"max":262144,"fill":91.55,"max_writable":true,"initial_netns":true,"bytes_per_entry"`},
		{flow.TriNo, flow.TriNo, `"max":262144,"fill":91.55,"max_writable":false,"initial_netns":false,"bytes_per_entry"`},
		{flow.TriNo, flow.TriUnknown, `"max":262144,"fill":91.55,"max_writable":false,"bytes_per_entry"`},
	} {
		tab := &flow.Table{Source: "netlink", Stats: flow.Stats{Entries: 240000, Max: 262144, MaxWritable: c.writable, InitialNetNS: c.initial}}
		var buf bytes.Buffer
		if err := WriteStatsJSON(bufio.NewWriter(&buf), tab); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), c.want) {
			t.Errorf("writable %v, initial %v:\n%s\nwant it to contain %s", c.writable, c.initial, buf.String(), c.want)
		}
		if c.writable == flow.TriNo && c.initial == flow.TriNo && !strings.Contains(buf.String(), "Raise the limit on the host") {
			t.Errorf("inside a namespace the warning does not send to the host:\n%s", buf.String())
		}
	}
}

func fmtAny(v any) string {
	switch v := v.(type) {
	case []any:
		var parts []string
		for _, x := range v {
			parts = append(parts, fmtAny(x))
		}
		return "[" + strings.Join(parts, " ") + "]"
	case map[string]any:
		var parts []string
		for k, x := range v {
			parts = append(parts, k+":"+fmtAny(x))
		}
		return "map[" + strings.Join(parts, " ") + "]"
	case json.Number:
		return v.String()
	case string:
		return v
	}
	return "?"
}

// errWriter fails every write, as a closed pipe does.
type errWriter struct{ n int }

func (e *errWriter) Write(p []byte) (int, error) { e.n++; return 0, io.ErrClosedPipe }

// TestStopsOnWriteError: after the first failed write the writers return
// instead of formatting the rest of the table, on one goroutine or several.
func TestStopsOnWriteError(t *testing.T) {
	tab := bigTable(20000)
	v := allRows(tab)
	for _, p := range []plan{{workers: 1, blockRows: 100}, {workers: 2, blockRows: 100}} {
		for name, write := range map[string]func(w *bufio.Writer) error{
			"text": func(w *bufio.Writer) error { return writeTextPlan(w, tab, v, &Options{}, p) },
			"json": func(w *bufio.Writer) error { return writeJSONPlan(w, tab, v.Idx, p) },
		} {
			ew := &errWriter{}
			if err := write(bufio.NewWriterSize(ew, 4096)); err == nil {
				t.Errorf("%s, %d workers: no error from a closed pipe", name, p.workers)
			}
			if ew.n != 1 {
				t.Errorf("%s, %d workers: %d writes after the pipe closed, want 1", name, p.workers, ew.n)
			}
		}
	}
}

// TestNoAllocationsPerRow: formatting costs a constant number of
// allocations, however many rows there are.
func TestNoAllocationsPerRow(t *testing.T) {
	allocs := func(n int) (text, js float64) {
		tab := bigTable(n)
		v := allRows(tab)
		w := bufio.NewWriterSize(io.Discard, 64<<10)
		text = testing.AllocsPerRun(5, func() { WriteText(w, tab, v, &Options{Counters: true}) })
		js = testing.AllocsPerRun(5, func() { WriteJSON(w, tab, v.Idx) })
		return text, js
	}
	t1, j1 := allocs(100)
	t2, j2 := allocs(10000)
	if t2 > t1 || j2 > j1 {
		t.Errorf("allocations grow with rows: text %v → %v, json %v → %v", t1, t2, j1, j2)
	}
}

// variedTable mixes every kind of row the writers format: IPv4 and IPv6, TCP,
// UDP, ICMP and GRE, source and destination NAT, flows with and without
// timeouts, states and counters.
func variedTable(n int) *flow.Table {
	tab := bigTable(n)
	for i := range tab.Flows {
		f := &tab.Flows[i]
		switch i % 13 {
		case 1:
			f.Proto = flow.ProtoGRE
			f.Present &^= flow.HasState
		case 4:
			f.Present &^= flow.HasTimeout | flow.HasCounters
		case 6:
			f.Status |= flow.StatusSrcNAT
			f.Reply.Dst = flow.AddrFromSlice([]byte{203, 0, 113, byte(i >> 3)})
		case 8:
			f.Timeout = 4000000000
		case 9:
			f.Mark = uint32(i) * 2654435761
		case 10:
			f.Zone = uint16(i)
		}
	}
	tab.Flows = append(tab.Flows, testTable().Flows...)
	return tab
}

// TestParallelSameOutput: formatting on several goroutines in small blocks
// writes exactly what one goroutine writes in one block.
func TestParallelSameOutput(t *testing.T) {
	tab := variedTable(5000)
	v := allRows(tab)
	// Names for some addresses, some long enough to be cut and some not
	// ASCII; the map is only read, so it is safe for concurrent use.
	names := map[flow.Addr]string{}
	for i := range tab.Flows {
		switch i % 5 {
		case 0:
			names[tab.Flows[i].Orig.Src] = "höst-" + strconv.Itoa(i) + ".example"
		case 2:
			names[tab.Flows[i].Orig.Dst] = "a-rather-long-host-name-" + strconv.Itoa(i) + ".example.org"
		}
	}
	namer := func(_ flow.Family, a flow.Addr) (string, bool) {
		s, ok := names[a]
		return s, ok
	}
	one := plan{workers: 1, blockRows: len(v.Idx)}
	many := []plan{{workers: 2, blockRows: 1000}, {workers: 3, blockRows: 7}}
	output := func(write func(w *bufio.Writer) error) string {
		var buf bytes.Buffer
		if err := write(bufio.NewWriter(&buf)); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	for _, width := range []int{0, 72, 200} {
		for _, o := range []Options{
			{Width: width},
			{Width: width, Color: true, Counters: true, Totals: true},
			{Width: width, Names: namer, NoHeader: true, Totals: true},
		} {
			want := output(func(w *bufio.Writer) error { return writeTextPlan(w, tab, v, &o, one) })
			for _, p := range many {
				got := output(func(w *bufio.Writer) error { return writeTextPlan(w, tab, v, &o, p) })
				if got != want {
					t.Errorf("text, width %d, color %v, names %v, %+v: output differs from one goroutine's",
						width, o.Color, o.Names != nil, p)
				}
			}
		}
	}
	want := output(func(w *bufio.Writer) error { return writeJSONPlan(w, tab, v.Idx, one) })
	for _, p := range many {
		if got := output(func(w *bufio.Writer) error { return writeJSONPlan(w, tab, v.Idx, p) }); got != want {
			t.Errorf("json, %+v: output differs from one goroutine's", p)
		}
	}
}

// TestNaturalWidthsOfView: the widths measured on several goroutines, in the
// table's order when the view holds every row, are those of the view's rows.
func TestNaturalWidthsOfView(t *testing.T) {
	tab := variedTable(5000)
	n := len(tab.Flows)
	tab.Flows[n/2].Orig.Src = flow.Addr{0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12} // widest
	var permuted, subset []int32
	for i := range n {
		permuted = append(permuted, int32(i*7919%n))
		if i%3 == 0 && i != n/2 {
			subset = append(subset, int32(i))
		}
	}
	for name, idx := range map[string][]int32{"all": allRows(tab).Idx, "permuted": permuted, "subset": subset} {
		var want [ui.NumColumns]int
		c := &ui.Cells{}
		var cols []ui.Column
		for col := range ui.NumColumns {
			cols = append(cols, col)
		}
		for _, i := range idx {
			for _, col := range cols {
				want[col] = max(want[col], c.Width(col, &tab.Flows[i]))
			}
		}
		for _, workers := range []int{1, 3} {
			if got := naturalWidths(cols, nil, tab.Flows, idx, workers); got != want {
				t.Errorf("%s, %d workers: %v, want %v", name, workers, got, want)
			}
		}
	}
}

// TestUnnamedProtocol: a protocol without a name reads the same in the rows
// and in the totals, as flow.ProtoName spells it.
func TestUnnamedProtocol(t *testing.T) {
	tab := testTable()
	tab.Flows = append(tab.Flows, mkFlow(253, "192.0.2.50", "203.0.113.50", 0, 0))
	var v view.View
	view.Build(tab, &view.Options{}, &v)
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := WriteText(w, tab, &v, &Options{Totals: true}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	name := flow.ProtoName(253)
	var row string
	for _, l := range lines {
		if strings.HasPrefix(l, "192.0.2.50 ") {
			row = l
		}
	}
	if f := strings.Fields(row); len(f) < 3 || f[2] != name {
		t.Errorf("row %q: protocol is not %q", row, name)
	}
	if !strings.Contains(lines[1], "  "+name+" 1") {
		t.Errorf("totals %q: protocol is not %q", lines[1], name)
	}
}

// TestUnits: bytes in IEC units, packets in decimal ones, the memory of the
// health line in the same units as the Bytes column.
func TestUnits(t *testing.T) {
	tab := testTable()
	f := &tab.Flows[0]
	f.Present |= flow.HasCounters
	f.OrigBytes, f.ReplyBytes = 7000, 680
	f.OrigPackets, f.ReplyPackets = 999_000, 1000
	tab.Stats = flow.Stats{Entries: 30, BytesPerEntry: 256}
	lines := writeText(t, tab, &Options{Counters: true})
	if !strings.HasPrefix(lines[0], "entries 30  memory 7.5KiB (256 B/entry)") {
		t.Errorf("health line %q", lines[0])
	}
	if fields := strings.Fields(lines[2]); len(fields) < 7 || fields[5] != "7.5KiB" || fields[6] != "1.0M" {
		t.Errorf("row %q: want 7.5KiB and 1.0M", lines[2])
	}
}

// longTable has IPv6 addresses as long as 2001:db8::/32 has them (38
// characters, 44 with a port) and a 47-character NAT value.
func longTable() *flow.Table {
	tab := testTable()
	v6 := mkFlow(flow.ProtoTCP, "2001:db8:1234:5678:9abc:def0:1234:5678", "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe", 40000, 443)
	v6.Reply.Src = flow.AddrFrom(netip.MustParseAddr("2001:db8:aaaa:bbbb:cccc:dddd:eeee:f"))
	v6.Reply.SrcPort = 8443
	v6.Status |= flow.StatusDstNAT
	v6.Present |= flow.HasCounters
	v6.OrigBytes, v6.OrigPackets = 7680, 1_000_000
	tab.Flows = append(tab.Flows, v6)
	return tab
}

// TestNarrowKeepsStateAndTTL: at 80 columns, long addresses and NAT values
// are cut, or give way, before State and TTL do, with and without -C; a cut
// address keeps its port and carries the marker.
func TestNarrowKeepsStateAndTTL(t *testing.T) {
	tab := longTable()
	for _, counters := range []bool{false, true} {
		lines := writeText(t, tab, &Options{Width: 80, Counters: counters})
		header := strings.Fields(lines[1])
		if len(header) < 5 || header[3] != "State" || header[4] != "TTL" {
			t.Errorf("-C %v: header %q lost State or TTL", counters, lines[1])
		}
		row := lines[len(lines)-1]
		cut := regexp.MustCompile(`^\[2001:[0-9a-f:]+~[0-9a-f:]+\]:40000 +\[2001:[0-9a-f:]+~[0-9a-f:]+\]:443 +tcp +ESTABLISHED +119:59:59( +7\.5KiB)?$`)
		if !cut.MatchString(row) {
			t.Errorf("-C %v: row %q: want both addresses cut, with their ports, then tcp, the state and the TTL", counters, row)
		}
		for _, l := range lines {
			if n := ui.Width([]byte(l)); n > 80 {
				t.Errorf("-C %v: line of %d: %q", counters, n, l)
			}
		}
	}
	// With room, the NAT value is cut at its end and the counters stay.
	lines := writeText(t, tab, &Options{Width: 150, Counters: true})
	row := lines[len(lines)-1]
	if !strings.Contains(row, "7.5KiB") || !strings.Contains(row, "1.0M") || !strings.HasSuffix(row, "~") || !strings.Contains(row, "dnat [2001:db8:") {
		t.Errorf("width 150: %q", row)
	}
}

// TestNoLineExceedsWidth: whatever the width, the rows (host names with wide
// characters among them) and the health and totals lines fit.
func TestNoLineExceedsWidth(t *testing.T) {
	tab := longTable()
	tab.Flows = append(tab.Flows, variedTable(200).Flows...)
	tab.Stats = flow.Stats{Entries: 250000, Max: 262144, BytesPerEntry: 256, HaveCPU: true}
	names := func(_ flow.Family, a flow.Addr) (string, bool) {
		switch a[15] % 4 {
		case 0:
			return "界面-" + strconv.Itoa(int(a[15])) + ".example", true
		case 1:
			return "a-rather-long-host-name-" + strconv.Itoa(int(a[15])) + ".example.org", true
		}
		return "", false
	}
	for width := 20; width <= 200; width++ {
		for _, o := range []Options{
			{Width: width, Counters: true, Totals: true, Sort: "src", Filter: "dport 443"},
			{Width: width, Names: names, Color: true},
		} {
			for _, l := range writeText(t, tab, &o) {
				l = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(l, "\x1b[32m"), "\x1b[33m"), "\x1b[31m"), ansiReset)
				if n := ui.Width([]byte(l)); n > width {
					t.Fatalf("width %d, names %v: line of %d: %q", width, o.Names != nil, n, l)
				}
			}
		}
	}
}
