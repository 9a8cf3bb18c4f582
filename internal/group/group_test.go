package group

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gostate/gostate/internal/flow"
)

func mk(proto uint8, src string, sport uint16, dst string, dport uint16) flow.Flow {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	fam := flow.FamilyIPv4
	if s.Is6() {
		fam = flow.FamilyIPv6
	}
	f := flow.Flow{Family: fam, Proto: proto, Present: flow.HasTimeout, Timeout: 60,
		Status: flow.StatusConfirmed | flow.StatusSeenReply}
	f.Orig = flow.Tuple{Src: flow.AddrFrom(s), Dst: flow.AddrFrom(d), SrcPort: sport, DstPort: dport}
	f.Reply = f.Orig.Mirror()
	if proto == flow.ProtoTCP || proto == flow.ProtoSCTP {
		f.Present |= flow.HasState
		f.State = 3 // ESTABLISHED (tcp), COOKIE_ECHOED (sctp)
	}
	return f
}

func all(n int) []int32 {
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(i)
	}
	return idx
}

func TestParse(t *testing.T) {
	for _, c := range []struct{ in, out string }{
		{"src", "src"}, {"SRC", "src"}, {"dst/24", "dst/24"}, {"src/16/48", "src/16/48"},
		{"src/24/64", "src/24"}, {"src/32/128", "src"}, {"src,dport", "src,dport"}, {"state", "state"},
		{"nat", "nat"}, {"mark", "mark"}, {"zone", "zone"}, {"proto", "proto"}, {"sport", "sport"},
	} {
		sp, err := Parse(c.in)
		if err != nil || sp.String() != c.out {
			t.Errorf("Parse(%q) = %q, %v; want %q", c.in, sp.String(), err, c.out)
		}
	}
	for _, bad := range []string{"", "host", "src/33", "src/24/129", "dport/8", "src,dst,proto", "src,src/24", "src/x", ","} {
		if _, err := Parse(bad); err == nil || !strings.Contains(err.Error(), "src/N") {
			t.Errorf("Parse(%q) = %v, want an error naming the valid keys", bad, err)
		}
	}
}

// Groups add up to the rows, biggest first, each with its states most
// first; labels read as an admin writes them.
func TestBuild(t *testing.T) {
	var rows []flow.Flow
	for i := range 50 {
		f := mk(flow.ProtoTCP, "192.0.2.66", uint16(40000+i), "198.51.100.1", 443)
		f.State = flow.TCPSynRecv
		rows = append(rows, f)
	}
	for i := range 30 {
		rows = append(rows, mk(flow.ProtoTCP, "192.0.2.7", uint16(40000+i), "198.51.100.1", 80))
	}
	for i := range 20 {
		f := mk(flow.ProtoUDP, "203.0.113.5", uint16(5000+i), "198.51.100.53", 53)
		f.Status &^= flow.StatusSeenReply // never answered
		rows = append(rows, f)
	}
	rows = append(rows, mk(flow.ProtoTCP, "2001:db8:1:2::5", 1, "2001:db8::1", 22), mk(flow.ProtoTCP, "2001:db8:1:2::6", 1, "2001:db8::1", 22))
	var g Grouping
	for _, c := range []struct {
		spec   string
		labels []string
		counts []int
	}{
		{"src", []string{"192.0.2.66", "192.0.2.7", "203.0.113.5", "2001:db8:1:2::5", "2001:db8:1:2::6"}, []int{50, 30, 20, 1, 1}},
		{"src/24", []string{"192.0.2.0/24", "203.0.113.0/24", "2001:db8:1:2::/64"}, []int{80, 20, 2}},
		{"src/8/32", []string{"192.0.0.0/8", "203.0.0.0/8", "2001:db8::/32"}, []int{80, 20, 2}},
		{"dport", []string{"tcp/443", "tcp/80", "udp/53", "tcp/22"}, []int{50, 30, 20, 2}},
		{"state", []string{"SYN_RECV", "ESTABLISHED", "UNREPLIED"}, []int{50, 32, 20}},
		{"proto", []string{"tcp", "udp"}, []int{82, 20}},
		{"src/24,dport", []string{"192.0.2.0/24 tcp/443", "192.0.2.0/24 tcp/80", "203.0.113.0/24 udp/53", "2001:db8:1:2::/64 tcp/22"}, []int{50, 30, 20, 2}},
	} {
		sp, err := Parse(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		g.Build(rows, all(len(rows)), sp)
		var labels []string
		var counts []int
		sum := 0
		for i := range g.Groups {
			labels, counts = append(labels, g.Label(i)), append(counts, g.Groups[i].Entries)
			sum += g.Groups[i].Entries
		}
		if !slices.Equal(labels, c.labels) || !slices.Equal(counts, c.counts) {
			t.Errorf("%s: %q %v, want %q %v", c.spec, labels, counts, c.labels, c.counts)
		}
		if sum != len(rows) || g.Rows != len(rows) {
			t.Errorf("%s: groups add up to %d of %d rows", c.spec, sum, len(rows))
		}
	}
	sp, _ := Parse("src/24")
	g.Build(rows, all(len(rows)), sp)
	if got := g.Groups[0].States(); !slices.Equal(got, []StateCount{{"SYN_RECV", 50}, {"ESTABLISHED", 30}}) {
		t.Errorf("states of 192.0.2.0/24: %v", got)
	}
	// A drill-down finds the group's rows and no others.
	m := g.Matcher(1)
	n := 0
	for i := range rows {
		if m.Match(&rows[i]) {
			n++
		}
	}
	if n != 20 || m.Label() != "203.0.113.0/24" {
		t.Errorf("the matcher of %s finds %d rows, want 20", m.Label(), n)
	}
	// By key, and reversed.
	g.Sort(true, false)
	if got := g.Label(0); got != "192.0.2.0/24" {
		t.Errorf("by key, first %q", got)
	}
	g.Sort(false, true)
	if got := g.Label(0); got != "2001:db8:1:2::/64" {
		t.Errorf("smallest first, first %q", got)
	}
}

func TestNATMarkZone(t *testing.T) {
	snat := mk(flow.ProtoTCP, "192.0.2.10", 40000, "198.51.100.1", 443)
	snat.Status |= flow.StatusSrcNAT
	snat.Reply.Dst = flow.AddrFrom(netip.MustParseAddr("203.0.113.1"))
	dnat := mk(flow.ProtoTCP, "192.0.2.11", 40000, "203.0.113.80", 80)
	dnat.Status |= flow.StatusDstNAT
	dnat.Reply.Src = flow.AddrFrom(netip.MustParseAddr("192.0.2.200"))
	plain := mk(flow.ProtoUDP, "192.0.2.12", 1, "192.0.2.13", 2)
	plain.Mark, plain.Zone = 7, 3
	rows := []flow.Flow{snat, dnat, plain}
	var g Grouping
	labels := func(spec string) []string {
		sp, err := Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		g.Build(rows, all(len(rows)), sp)
		g.Sort(true, false)
		var out []string
		for i := range g.Groups {
			out = append(out, g.Label(i))
		}
		return out
	}
	if got := labels("nat"); !slices.Equal(got, []string{"no nat", "snat 203.0.113.1", "dnat 192.0.2.200"}) {
		t.Errorf("nat: %q", got)
	}
	if got := labels("mark"); !slices.Equal(got, []string{"mark 0", "mark 7"}) {
		t.Errorf("mark: %q", got)
	}
	if got := labels("zone"); !slices.Equal(got, []string{"zone 0", "zone 3"}) {
		t.Errorf("zone: %q", got)
	}
}

// Grouping a table again allocates nothing per row.
func TestBuildDoesNotAllocate(t *testing.T) {
	rows := benchRows(20000)
	idx := all(len(rows))
	sp, _ := Parse("src/24,dport")
	var g Grouping
	g.Build(rows, idx, sp)
	if a := testing.AllocsPerRun(5, func() { g.Build(rows, idx, sp) }); a > 10 {
		t.Errorf("%v allocations per grouping of %d rows", a, len(rows))
	}
}

// benchRows are n distinct flows from 65,536 sources in 2001:db8::/32 over
// 64 networks (/64), to 16 ports.
func benchRows(n int) []flow.Flow {
	rows := make([]flow.Flow, n)
	for i := range rows {
		f := mk(flow.ProtoTCP, "2001:db8::1", uint16(i>>16), "2001:db8:ffff::1", uint16(443+i%16))
		f.Orig.Src[7] = byte(i >> 10 & 63)
		f.Orig.Src[14], f.Orig.Src[15] = byte(i>>8&3), byte(i)
		f.State = uint8(1 + i%8)
		rows[i] = f
	}
	return rows
}

func BenchmarkBuild(b *testing.B) {
	for _, n := range []int{200_000, 1_000_000} {
		rows := benchRows(n)
		// A view's order reads its table at random.
		idx := all(n)
		rand.New(rand.NewPCG(1, 2)).Shuffle(n, func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		for _, spec := range []string{"src", "src/24", "dport"} {
			b.Run(spec+"/"+strconv.Itoa(n), func(b *testing.B) {
				sp, _ := Parse(spec)
				var g Grouping
				b.ReportAllocs()
				for b.Loop() {
					g.Build(rows, idx, sp)
				}
			})
		}
	}
}

// Distinct keys spread over the index: a bad hash makes grouping quadratic.
func TestHashSpreads(t *testing.T) {
	rows := benchRows(50000)
	sp, _ := Parse("src")
	seen := map[uint64]bool{}
	var k Key
	for i := range rows {
		sp.key(&k, &rows[i])
		seen[hashKey(&k)&(1<<17-1)] = true
	}
	if len(seen) < 30000 {
		t.Errorf("50,000 distinct sources fall in %d of 131,072 slots", len(seen))
	}
}

// Counters that pass the largest uint64 stop there rather than wrap to a
// small sum.
func TestCountersSaturate(t *testing.T) {
	rows := []flow.Flow{mk(flow.ProtoUDP, "192.0.2.1", 1, "198.51.100.1", 53), mk(flow.ProtoUDP, "192.0.2.1", 2, "198.51.100.1", 53)}
	for i := range rows {
		rows[i].Present |= flow.HasCounters
		rows[i].OrigBytes, rows[i].OrigPackets = math.MaxUint64-1, math.MaxUint64/2+1
	}
	sp, _ := Parse("src")
	var g Grouping
	g.Build(rows, all(len(rows)), sp)
	if gr := g.Groups[0]; gr.Bytes != math.MaxUint64 || gr.Packets != math.MaxUint64 || gr.Counted != 2 {
		t.Errorf("bytes %d, packets %d, counted %d; want both %d, 2", gr.Bytes, gr.Packets, gr.Counted, uint64(math.MaxUint64))
	}
}

// Proto names the protocol of a key that has one, and only then.
func TestProto(t *testing.T) {
	rows := []flow.Flow{mk(flow.ProtoUDP, "192.0.2.1", 1, "198.51.100.1", 53)}
	for _, c := range []struct {
		spec string
		ok   bool
	}{{"dport", true}, {"sport,src", true}, {"proto", true}, {"src,dport", false}, {"state", false}} {
		sp, _ := Parse(c.spec)
		var g Grouping
		g.Build(rows, all(1), sp)
		if p, ok := g.Proto(0); ok != c.ok || ok && p != flow.ProtoUDP {
			t.Errorf("%s: Proto = %d, %v; want udp, %v", c.spec, p, ok, c.ok)
		}
	}
}
