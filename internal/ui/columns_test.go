package ui

import (
	"bytes"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/termsafe"
	"github.com/gostate/gostate/internal/view"
)

func mkFlow(proto uint8, src, dst string, sport, dport uint16) flow.Flow {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	fam := flow.FamilyIPv4
	if s.Is6() {
		fam = flow.FamilyIPv6
	}
	f := flow.Flow{Family: fam, Proto: proto, Timeout: 431999, Present: flow.HasTimeout,
		Orig: flow.Tuple{Src: flow.AddrFrom(s), Dst: flow.AddrFrom(d), SrcPort: sport, DstPort: dport}}
	f.Reply = f.Orig.Mirror()
	if proto == flow.ProtoTCP {
		f.Present |= flow.HasState
		f.State = flow.TCPEstablished
	}
	return f
}

func cell(c *Cells, col Column, f *flow.Flow) string { return string(c.Append(nil, col, f)) }

func TestColumnTable(t *testing.T) {
	var titles []string
	turns := map[int]Column{}
	for col := range NumColumns {
		titles = append(titles, col.Title())
		if g := col.GiveWay(); g > 0 {
			if other, ok := turns[g]; ok {
				t.Errorf("%s and %s both give way at turn %d", col.Title(), other.Title(), g)
			}
			turns[g] = col
		}
		if (col.CutRule() == CutNever) != (col.Floor() == 0) {
			t.Errorf("%s: cut rule %d with floor %d", col.Title(), col.CutRule(), col.Floor())
		}
	}
	// One display order for every view, NAT last.
	if got, want := strings.Join(titles, " "), "Source Destination Proto State TTL Mark Zone Bytes Packets Rate NAT"; got != want {
		t.Errorf("display order %q, want %q", got, want)
	}
	var order []string
	for g := 1; g <= len(turns); g++ {
		order = append(order, turns[g].Title())
	}
	// Mark and Zone, shown only when a flow has one, go before NAT; the
	// zone, which tells apart flows of one tuple, after the mark.
	if got, want := strings.Join(order, " "), "Packets Bytes Rate Mark Zone NAT Proto TTL State"; got != want {
		t.Errorf("give-way order %q, want %q", got, want)
	}
	for _, col := range []Column{ColSource, ColDestination} {
		if col.GiveWay() != 0 || col.CutRule() != CutAddress {
			t.Errorf("%s must be cut, never left out", col.Title())
		}
	}
}

func TestCells(t *testing.T) {
	tcp := mkFlow(flow.ProtoTCP, "192.0.2.10", "198.51.100.20", 40000, 443)
	tcp.Present |= flow.HasCounters
	tcp.OrigBytes, tcp.ReplyBytes = 7000, 680 // 7,680 bytes
	tcp.OrigPackets, tcp.ReplyPackets = 600_000, 400_000
	tcp.Status |= flow.StatusDstNAT
	tcp.Reply.Src, tcp.Reply.SrcPort = flow.AddrFrom(netip.MustParseAddr("203.0.113.9")), 8080
	tcp.Mark, tcp.Zone = 0xffffffff, 7
	other := mkFlow(253, "192.0.2.1", "192.0.2.2", 0, 0)
	other.Present &^= flow.HasTimeout
	c := &Cells{}
	for _, x := range []struct {
		f    *flow.Flow
		col  Column
		want string
	}{
		{&tcp, ColSource, "192.0.2.10:40000"},
		{&tcp, ColDestination, "198.51.100.20:443"},
		{&tcp, ColProto, "tcp"},
		{&tcp, ColState, "ESTABLISHED"},
		{&tcp, ColTTL, "119:59:59"},
		{&tcp, ColBytes, "7.5KiB"},
		{&tcp, ColPackets, "1.0M"},
		{&tcp, ColNAT, "dnat 203.0.113.9:8080"},
		{&tcp, ColMark, "4294967295"},
		{&tcp, ColZone, "7"},
		{&other, ColMark, "0"},
		{&other, ColZone, "0"},
		{&other, ColProto, flow.ProtoName(253)},
		{&other, ColSource, "192.0.2.1"},
		{&other, ColTTL, "-"},
		{&other, ColBytes, "-"},
		{&other, ColPackets, "-"},
		{&other, ColNAT, ""},
	} {
		if got := cell(c, x.col, x.f); got != x.want {
			t.Errorf("%s: got %q, want %q", x.col.Title(), got, x.want)
		}
	}
}

// TestCellsTTL: the TTL counts down from Epoch to Now; a zero Now or Now ==
// Epoch shows it as read.
func TestCellsTTL(t *testing.T) {
	f := mkFlow(flow.ProtoTCP, "192.0.2.10", "198.51.100.20", 40000, 443)
	f.Timeout = 100
	epoch := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, x := range []struct {
		now  time.Time
		want string
	}{
		{time.Time{}, "0:01:40"},
		{epoch, "0:01:40"},
		{epoch.Add(30 * time.Second), "0:01:10"},
		{epoch.Add(time.Hour), "0:00:00"},
	} {
		c := &Cells{Epoch: epoch, Now: x.now}
		if got := cell(c, ColTTL, &f); got != x.want {
			t.Errorf("now %v: TTL %q, want %q", x.now, got, x.want)
		}
		if w := c.Width(ColTTL, &f); w != len(x.want) {
			t.Errorf("now %v: width %d, want %d", x.now, w, len(x.want))
		}
	}
}

func TestCellsNames(t *testing.T) {
	f := mkFlow(flow.ProtoUDP, "2001:db8::1", "2001:db8::2", 5353, 53)
	c := &Cells{Names: func(_ flow.Family, a flow.Addr) (string, bool) {
		if a == f.Orig.Src {
			return "höst.example", true
		}
		return "", false
	}}
	if got := cell(c, ColSource, &f); got != "höst.example:5353" {
		t.Errorf("named source %q", got)
	}
	if got := cell(c, ColDestination, &f); got != "[2001:db8::2]:53" {
		t.Errorf("unnamed destination %q", got)
	}
	if w := c.Width(ColSource, &f); w != len("host.example:5353") {
		t.Errorf("width of a name with ö: %d", w)
	}
}

// TestWidthWithoutFormatting: the widths computed from the numbers are those
// of the formatted cells; the counters' are their widest.
func TestWidthWithoutFormatting(t *testing.T) {
	var flows []flow.Flow
	for i := range 3000 {
		f := mkFlow(flow.ProtoTCP, "192.0.2.10", "198.51.100.20", uint16(i*37), uint16(i))
		f.Orig.Src = flow.AddrFromSlice([]byte{byte(i), byte(i * 7), byte(i >> 3), byte(i * 13)})
		f.Timeout = uint32(i) * 1_431_655
		f.Present |= flow.HasCounters
		f.OrigBytes, f.OrigPackets = uint64(i)<<(i%60), uint64(i)*uint64(i)*uint64(i)
		f.Status = []flow.Status{0, flow.StatusSeenReply, flow.StatusAssured, flow.StatusOffload}[i%4]
		f.Mark, f.Zone = uint32(i)*2654435761, uint16(i*i)
		switch i % 5 {
		case 1:
			f.Proto, f.Present = flow.ProtoICMP, flow.HasTimeout
			f.Orig.ICMPType = uint8(i)
		case 2:
			f.Proto, f.Present = flow.ProtoGRE, 0
		case 3:
			f.Status |= flow.StatusSrcNAT
		}
		flows = append(flows, f)
	}
	c := &Cells{}
	for i := range flows {
		f := &flows[i]
		for col := range NumColumns {
			got, text := c.Width(col, f), cell(c, col, f)
			if col == ColBytes || col == ColPackets {
				if len(text) > got {
					t.Fatalf("%s of %+v: %q wider than %d", col.Title(), f, text, got)
				}
				continue
			}
			if got != len(text) {
				t.Fatalf("%s of %+v: width %d, cell %q", col.Title(), f, got, text)
			}
		}
	}
	if w := len(ColPackets.Title()); PacketsMaxWidth > w {
		t.Errorf("Packets cells (%d) wider than the title (%d): they would need measuring", PacketsMaxWidth, w)
	}
}

// natural returns natural widths for want, titles included.
func natural(widths map[Column]int) [NumColumns]int {
	var n [NumColumns]int
	for col := range NumColumns {
		n[col] = max(len(col.Title()), widths[col])
	}
	return n
}

func titlesOf(l Layout) string {
	var s []string
	for _, col := range l.Columns {
		s = append(s, col.Title()+":"+strconv.Itoa(l.Width[col]))
	}
	return strings.Join(s, " ")
}

var allColumns = []Column{ColSource, ColDestination, ColProto, ColState, ColTTL, ColBytes, ColPackets, ColNAT}

func TestFit(t *testing.T) {
	// IPv4 rows: Source 21, Destination 21, Proto 4, State 11, TTL 9,
	// Bytes 7, Packets 7 (title), NAT 26 (dnat 255.255.255.255:65535).
	v4 := natural(map[Column]int{ColSource: 21, ColDestination: 21, ColProto: 4, ColState: 11, ColTTL: 9, ColBytes: 7, ColNAT: 26})
	// A 39-character IPv6 address with a port (45) and a 47-character NAT.
	v6 := natural(map[Column]int{ColSource: 45, ColDestination: 45, ColProto: 4, ColState: 11, ColTTL: 9, ColBytes: 7, ColNAT: 47})
	counters := allColumns[:7]
	plain := []Column{ColSource, ColDestination, ColProto, ColState, ColTTL}
	for _, x := range []struct {
		name    string
		want    []Column
		natural [NumColumns]int
		width   int
		layout  string
		sep     int
	}{
		{"no limit", allColumns, v4, 0, "Source:21 Destination:21 Proto:5 State:11 TTL:9 Bytes:7 Packets:7 NAT:26", WideSep},
		{"fits", counters, v4, 95, "Source:21 Destination:21 Proto:5 State:11 TTL:9 Bytes:7 Packets:7", WideSep},
		{"one space", counters, v4, 87, "Source:21 Destination:21 Proto:5 State:11 TTL:9 Bytes:7 Packets:7", NarrowSep},
		// At 80 with -C: Packets goes first, then Bytes; TTL and State stay.
		{"80 -C", counters, v4, 80, "Source:21 Destination:21 Proto:5 State:11 TTL:9 Bytes:7", NarrowSep},
		{"72 -C", counters, v4, 72, "Source:21 Destination:21 Proto:5 State:11 TTL:9", NarrowSep},
		// NAT goes after Bytes, and then Bytes fits again.
		{"NAT gives way", allColumns, v4, 80, "Source:21 Destination:21 Proto:5 State:11 TTL:9 Bytes:7", NarrowSep},
		{"then Proto", plain, v4, 70, "Source:21 Destination:21 State:11 TTL:9", NarrowSep},
		{"then TTL", plain, v4, 60, "Source:21 Destination:21 State:11", NarrowSep},
		{"State last", []Column{ColSource, ColDestination, ColState, ColTTL}, v4, 50, "Source:21 Destination:21", NarrowSep},
		{"Proto fits again", plain, v4, 50, "Source:21 Destination:21 Proto:5", NarrowSep},
		{"then the addresses shrink", plain, v4, 40, "Source:20 Destination:19", NarrowSep},
		// Cutting comes before leaving out: the IPv6 addresses are cut
		// so that the counters stay.
		{"cut before drop", counters, v6, 100, "Source:28 Destination:27 Proto:5 State:11 TTL:9 Bytes:7 Packets:7", NarrowSep},
		// 80 columns beside long IPv6 addresses and NAT: State and TTL
		// stay, the addresses are cut (the rightmost first of equals).
		{"v6 80", append(plain, ColNAT), v6, 80, "Source:26 Destination:25 Proto:5 State:11 TTL:9", NarrowSep},
		{"v6 80 -C", allColumns, v6, 80, "Source:22 Destination:21 Proto:5 State:11 TTL:9 Bytes:7", NarrowSep},
		{"v6 120 NAT cut", allColumns, v6, 120, "Source:24 Destination:24 Proto:5 State:11 TTL:9 Bytes:7 Packets:7 NAT:26", NarrowSep},
	} {
		lay := Fit(x.want, x.natural, x.width)
		if got := titlesOf(lay); got != x.layout || lay.Sep != x.sep {
			t.Errorf("%s (width %d):\n got %s (sep %d)\nwant %s (sep %d)", x.name, x.width, got, lay.Sep, x.layout, x.sep)
		}
		if x.width > 0 && lay.Total() > x.width {
			t.Errorf("%s: total %d over width %d", x.name, lay.Total(), x.width)
		}
	}
}

// TestFitPriority: at every width the line fits; nothing is left out when
// cutting to the floors makes room; a column left out would not fit beside
// those kept, nor in place of any kept column that gives way before it.
func TestFitPriority(t *testing.T) {
	long := natural(map[Column]int{ColSource: 45, ColDestination: 30, ColProto: 12, ColState: 17, ColTTL: 13, ColMark: 10, ColZone: 5,
		ColBytes: 7, ColNAT: 47})
	var every []Column // Mark and Zone among them
	for col := range NumColumns {
		every = append(every, col)
	}
	fits := func(cols []Column, width int) bool {
		l := Layout{Columns: cols, Width: long, Sep: NarrowSep}
		return l.floorTotal() <= width
	}
	without := func(cols []Column, c Column) []Column {
		return slices.DeleteFunc(slices.Clone(cols), func(x Column) bool { return x == c })
	}
	for width := 2; width <= 220; width++ {
		lay := Fit(every, long, width)
		if lay.Total() > width {
			t.Fatalf("width %d: total %d", width, lay.Total())
		}
		if fits(every, width) && len(lay.Columns) != len(every) {
			t.Errorf("width %d: %s: a column left out though cutting makes room", width, titlesOf(lay))
		}
		for _, c := range every {
			if slices.Contains(lay.Columns, c) {
				continue
			}
			if with := append(slices.Clone(lay.Columns), c); fits(with, width) {
				t.Errorf("width %d: %s left out, though it fits beside %s", width, c.Title(), titlesOf(lay))
			}
			for _, k := range lay.Columns {
				if g := k.GiveWay(); g > 0 && g < c.GiveWay() && fits(append(without(lay.Columns, k), c), width) {
					t.Errorf("width %d: %s kept, %s left out though it fits in its place", width, k.Title(), c.Title())
				}
			}
		}
	}
}

// TestWantedColumns: one rule for every view; Mark, Zone and NAT appear
// when a shown row has one, the counters when asked for.
func TestWantedColumns(t *testing.T) {
	titles := func(cols []Column) string {
		var s []string
		for _, c := range cols {
			s = append(s, c.Title())
		}
		return strings.Join(s, " ")
	}
	for _, x := range []struct {
		counters, rates bool
		tot             view.Totals
		want            string
	}{
		{false, false, view.Totals{}, "Source Destination Proto State TTL"},
		{true, false, view.Totals{}, "Source Destination Proto State TTL Bytes Packets"},
		{false, true, view.Totals{}, "Source Destination Proto State TTL Rate"},
		{false, false, view.Totals{Marked: 1}, "Source Destination Proto State TTL Mark"},
		{false, false, view.Totals{Zoned: 3}, "Source Destination Proto State TTL Zone"},
		{true, true, view.Totals{NATed: 1, Marked: 2, Zoned: 1}, "Source Destination Proto State TTL Mark Zone Bytes Packets Rate NAT"},
	} {
		if got := titles(WantedColumns(x.counters, x.rates, &x.tot)); got != x.want {
			t.Errorf("counters %v, %+v: %q, want %q", x.counters, x.tot, got, x.want)
		}
	}
}

func TestDescribeFlow(t *testing.T) {
	tcp := mkFlow(flow.ProtoTCP, "192.0.2.1", "198.51.100.2", 40000, 443)
	zoned := tcp
	zoned.Zone = 7
	v6 := mkFlow(flow.ProtoUDP, "2001:db8::1", "2001:db8::2", 5353, 53)
	ping := mkFlow(flow.ProtoICMP, "192.0.2.1", "203.0.113.5", 77, 0)
	ping.Zone = 65535
	esp := mkFlow(50, "192.0.2.1", "198.51.100.2", 0, 0)
	for f, want := range map[*flow.Flow]string{
		&tcp:   "tcp 192.0.2.1:40000 -> 198.51.100.2:443",
		&zoned: "tcp 192.0.2.1:40000 -> 198.51.100.2:443 zone 7",
		&v6:    "udp [2001:db8::1]:5353 -> [2001:db8::2]:53",
		&ping:  "icmp 192.0.2.1 -> 203.0.113.5 zone 65535",
		&esp:   "esp 192.0.2.1 -> 198.51.100.2",
	} {
		if got := DescribeFlow(f); got != want {
			t.Errorf("DescribeFlow = %q, want %q", got, want)
		}
	}
}

func TestCut(t *testing.T) {
	for _, x := range []struct {
		in     string
		col    Column
		width  int
		marker string
		want   string
	}{
		{"192.0.2.1:80", ColSource, 12, "~", "192.0.2.1:80"},
		{"[2001:db8:1234:5678:9abc:def0:1234:5678]:443", ColSource, 21, "~", "[2001:db~34:5678]:443"},
		{"[2001:db8:1234:5678:9abc:def0:1234:5678]:443", ColDestination, 24, "…", "[2001:db8:…234:5678]:443"},
		{"198.51.100.200:40000", ColSource, 16, "~", "198.5~.200:40000"},
		{"a-rather-long-host-name.example.org:8080", ColSource, 20, "~", "a-rathe~ple.org:8080"},
		{"2001:db8:1234:5678:9abc:def0:1234:5678", ColDestination, 15, "~", "2001:db~34:5678"},
		{"höst-ñame.exämple:22", ColSource, 12, "~", "höst~mple:22"},
		{"界面界面界面.example:22", ColSource, 12, "~", "界面~mple:22"},
		{"dnat [2001:db8:1234:5678:9abc:def0:1234:5678]:443", ColNAT, 26, "~", "dnat [2001:db8:1234:5678:~"},
		{"ESTABLISHED", ColState, 8, "…", "ESTABLI…"},
		// Too narrow for the port: cut at the end.
		{"[2001:db8::1]:443", ColSource, 6, "~", "[2001~"},
		{"192.0.2.1:80", ColSource, 1, "~", "~"},
		{"192.0.2.1:80", ColSource, 0, "~", ""},
		{"界面", ColNAT, 1, "…", "…"},
		{"界面", ColNAT, 2, "", "界"},
	} {
		got := string(Cut([]byte(x.in), x.col, x.width, x.marker))
		if got != x.want {
			t.Errorf("Cut(%q, %s, %d, %q) = %q, want %q", x.in, x.col.Title(), x.width, x.marker, got, x.want)
		}
		if w := Width([]byte(got)); w > x.width {
			t.Errorf("Cut(%q, %d) is %d wide", x.in, x.width, w)
		}
	}
}

// TestCutInPlace: Cut works in the cell's own array, and a marker longer than
// what it replaces grows it without touching what lies before the cell.
func TestCutInPlace(t *testing.T) {
	line := []byte("before 192.0.2.100:40000")
	cell := Cut(line[7:], ColSource, 15, "~")
	if string(cell) != "192.~.100:40000" || &cell[0] != &line[7] {
		t.Errorf("cut %q, in place %v", cell, &cell[0] == &line[7])
	}
	line = []byte("before 192.0.2.100:40000")
	cell = Cut(line[7:], ColSource, 16, "…")
	if string(cell) != "192.0….100:40000" || string(line[:7]) != "before " {
		t.Errorf("cut %q, line %q", cell, line)
	}
}

// FuzzCut: a cut cell is never wider than asked, is valid UTF-8 (no character
// split), carries the marker, and an endpoint keeps its port whenever the
// width holds the port, the marker and a character of the host.
func FuzzCut(f *testing.F) {
	f.Add("2001:db8:1234:5678:9abc:def0:1234:5678", uint16(443), true, true, 21, "~")
	f.Add("192.0.2.10", uint16(40000), true, false, 12, "…")
	f.Add("界面界面.example", uint16(22), true, false, 9, "~")
	f.Add("e\u0301e\u0301e\u0301e\u0301", uint16(0), false, false, 3, "…")
	f.Add("dnat 198.51.100.99:8080", uint16(0), false, false, 10, "~")
	f.Fuzz(func(t *testing.T, host string, port uint16, hasPort, brackets bool, width int, marker string) {
		host, marker = termsafe.Sanitize(host), termsafe.Sanitize(marker)
		if width < 0 || width > 300 || stringWidth(marker) != 1 || strings.ContainsAny(host, "[]:") && hasPort {
			return
		}
		suffix := ""
		if hasPort {
			suffix = ":" + strconv.Itoa(int(port))
		}
		in := host + suffix
		if hasPort && brackets {
			in, suffix = "["+host+"]"+suffix, "]"+suffix
		}
		for _, col := range []Column{ColSource, ColNAT} {
			b := append([]byte(nil), in...)
			got := Cut(b, col, width, marker)
			w := Width(got)
			if w > width {
				t.Fatalf("Cut(%q, %s, %d) = %q: %d wide", in, col.Title(), width, got, w)
			}
			if !utf8.Valid(got) {
				t.Fatalf("Cut(%q, %d) = %q: not UTF-8", in, width, got)
			}
			if Width([]byte(in)) <= width {
				if string(got) != in {
					t.Fatalf("Cut(%q, %d) = %q: changed a cell that fits", in, width, got)
				}
				continue
			}
			if width >= 1 && !bytes.Contains(got, []byte(marker)) {
				t.Fatalf("Cut(%q, %d) = %q: no marker", in, width, got)
			}
			if col == ColSource && hasPort && width >= len(suffix)+len("[")+2 && !bytes.HasSuffix(got, []byte(suffix)) {
				t.Fatalf("Cut(%q, %d) = %q: port %q lost", in, width, got, suffix)
			}
		}
	})
}
