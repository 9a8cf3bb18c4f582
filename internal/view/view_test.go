package view

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/gostate/gostate/internal/filter"
	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/group"
	"github.com/gostate/gostate/internal/sortby"
)

func mk(proto uint8, src string, sport uint16, dst string, dport uint16, state uint8) flow.Flow {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	f := flow.Flow{Proto: proto, Family: flow.FamilyIPv4, Present: flow.HasTimeout | flow.HasCounters, Timeout: 60}
	if s.Is6() {
		f.Family = flow.FamilyIPv6
	}
	if _, ok := flow.StateProtoIndex(proto); ok {
		f.State, f.Present = state, f.Present|flow.HasState
	}
	f.Orig = flow.Tuple{Src: flow.AddrFrom(s), Dst: flow.AddrFrom(d), SrcPort: sport, DstPort: dport}
	f.Reply = f.Orig.Mirror()
	return f
}

func ports(t *testing.T, s string) filter.Ports {
	t.Helper()
	p, err := filter.ParsePorts(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func table() *flow.Table {
	return &flow.Table{Flows: []flow.Flow{
		0: mk(flow.ProtoTCP, "192.0.2.9", 40000, "198.51.100.1", 443, flow.TCPEstablished),
		1: mk(flow.ProtoUDP, "192.0.2.3", 5353, "198.51.100.53", 53, 0),
		2: mk(flow.ProtoTCP, "2001:db8::1", 40001, "2001:db8:1::1", 443, flow.TCPTimeWait),
		3: mk(flow.ProtoICMP, "192.0.2.7", 1, "203.0.113.5", 0, 0),
		4: mk(flow.ProtoTCP, "127.0.0.1", 40002, "127.0.0.1", 8080, flow.TCPEstablished),
		5: mk(flow.ProtoSCTP, "192.0.2.4", 5000, "198.51.100.2", 5000, 4), // SCTP ESTABLISHED
		6: mk(flow.ProtoTCP, "192.0.2.1", 40003, "198.51.100.1", 443, flow.TCPSynSent),
		7: mk(99, "192.0.2.8", 0, "198.51.100.3", 0, 0),
	}}
}

func TestBuildFiltersAndSorts(t *testing.T) {
	tab := table()
	var v View
	Build(tab, &Options{}, &v)
	// The default order: source address, IPv4 before IPv6.
	if want := []int32{4, 6, 1, 5, 3, 7, 0, 2}; !slices.Equal(v.Idx, want) {
		t.Errorf("no filter, by src: %v, want %v", v.Idx, want)
	}
	if v.Totals.Total != 8 || v.Totals.Shown != 8 || v.Totals.Hidden != 0 {
		t.Errorf("totals %+v", v.Totals)
	}

	dport, _ := filter.ParsePorts("443")
	Build(tab, &Options{Filter: filter.Filter{DstPort: dport}, Sort: sortby.Src, Reverse: true}, &v)
	if want := []int32{2, 0, 6}; !slices.Equal(v.Idx, want) {
		t.Errorf("dport 443, by src reversed: %v, want %v", v.Idx, want)
	}
	if v.Totals.Total != 8 || v.Totals.Shown != 3 || v.Totals.Hidden != 5 {
		t.Errorf("totals %+v, want 8 total, 3 shown, 5 hidden", v.Totals)
	}

	Build(tab, &Options{Filter: filter.Filter{NoLoopback: true, NoDNS: true}, Sort: sortby.State}, &v)
	// States by name as the column shows them: ESTABLISHED (tcp, then
	// sctp), SYN_SENT, TIME_WAIT, UNREPLIED (unknown(99), no reply seen);
	// then ICMP, whose column starts with its type.
	if want := []int32{0, 5, 6, 2, 7, 3}; !slices.Equal(v.Idx, want) {
		t.Errorf("no loopback, no DNS, by state: %v, want %v", v.Idx, want)
	}
}

func TestTotals(t *testing.T) {
	tab := table()
	var v View
	Build(tab, &Options{Filter: filter.Filter{NoLoopback: true}}, &v)
	wantProto := []Count{
		{Name: "icmp", Proto: flow.ProtoICMP, N: 1},
		{Name: "tcp", Proto: flow.ProtoTCP, N: 3},
		{Name: "udp", Proto: flow.ProtoUDP, N: 1},
		{Name: "unknown(99)", Proto: 99, N: 1},
		{Name: "sctp", Proto: flow.ProtoSCTP, N: 1},
	}
	if got := v.Totals.ByProto(); !slices.Equal(got, wantProto) {
		t.Errorf("ByProto() = %+v\nwant %+v", got, wantProto)
	}
	wantState := []Count{
		{Name: "SYN_SENT", Proto: flow.ProtoTCP, State: flow.TCPSynSent, N: 1},
		{Name: "ESTABLISHED", Proto: flow.ProtoTCP, State: flow.TCPEstablished, N: 1},
		{Name: "TIME_WAIT", Proto: flow.ProtoTCP, State: flow.TCPTimeWait, N: 1},
		{Name: "sctp ESTABLISHED", Proto: flow.ProtoSCTP, State: 4, N: 1},
	}
	if got := v.Totals.ByState(); !slices.Equal(got, wantState) {
		t.Errorf("ByState() = %+v\nwant %+v", got, wantState)
	}
	if v.Totals.Hidden != 1 {
		t.Errorf("hidden %d; want 1 (the loopback flow)", v.Totals.Hidden)
	}

	// A second Build starts its counts afresh.
	Build(tab, &Options{Filter: filter.Filter{DstPort: ports(t, "53")}}, &v)
	if got := v.Totals.ByProto(); len(got) != 1 || got[0].Name != "udp" || got[0].N != 1 || len(v.Totals.ByState()) != 0 {
		t.Errorf("after a second Build: %+v %+v", got, v.Totals.ByState())
	}
}

func TestBuildEmpty(t *testing.T) {
	var v View
	Build(&flow.Table{}, &Options{Sort: sortby.Bytes}, &v)
	if len(v.Idx) != 0 || v.Totals != (Totals{}) || v.Totals.ByProto() != nil {
		t.Errorf("empty table: %v %+v", v.Idx, v.Totals)
	}
	// A table that shrinks between refreshes leaves no stale rows.
	Build(table(), &Options{}, &v)
	Build(&flow.Table{Flows: table().Flows[:2]}, &Options{}, &v)
	if want := []int32{1, 0}; !slices.Equal(v.Idx, want) {
		t.Errorf("after shrinking: %v, want %v", v.Idx, want)
	}
}

func TestTotalsCountNAT(t *testing.T) {
	tab := table()
	tab.Flows[0].Status |= flow.StatusSrcNAT
	tab.Flows[2].Status |= flow.StatusDstNAT
	tab.Flows[5].Status |= flow.StatusSrcNAT | flow.StatusDstNAT
	var v View
	Build(tab, &Options{}, &v)
	if v.Totals.NATed != 3 {
		t.Errorf("NATed %d, want 3", v.Totals.NATed)
	}
	// Only shown rows count: the filter keeps 0 and 2 of them.
	Build(tab, &Options{Filter: filter.Filter{DstPort: ports(t, "443")}}, &v)
	if v.Totals.NATed != 2 {
		t.Errorf("NATed %d with dport 443, want 2", v.Totals.NATed)
	}
}

// TestTotalsCountMarkZone: the shown rows with a mark, and in a zone other
// than 0, which decide whether a view has Mark and Zone columns.
func TestTotalsCountMarkZone(t *testing.T) {
	tab := table()
	tab.Flows[0].Mark = 42
	tab.Flows[1].Mark, tab.Flows[1].Zone = 1, 7
	tab.Flows[2].Zone = 65535
	var v View
	Build(tab, &Options{}, &v)
	if v.Totals.Marked != 2 || v.Totals.Zoned != 2 {
		t.Errorf("Marked %d, Zoned %d; want 2 and 2", v.Totals.Marked, v.Totals.Zoned)
	}
	Build(tab, &Options{Filter: filter.Filter{DstPort: ports(t, "443")}}, &v)
	if v.Totals.Marked != 1 || v.Totals.Zoned != 1 {
		t.Errorf("with dport 443: Marked %d, Zoned %d; want 1 and 1", v.Totals.Marked, v.Totals.Zoned)
	}
}

// TestBuildReusesMemory: once a View has grown, refreshing it allocates
// nothing.
func TestBuildReusesMemory(t *testing.T) {
	tab := &flow.Table{Flows: benchFlows(20_000)}
	o := &Options{Filter: filter.Filter{NoDNS: true}, Sort: sortby.Dst}
	var v View
	Build(tab, o, &v)
	if allocs := testing.AllocsPerRun(5, func() { Build(tab, o, &v) }); allocs != 0 {
		t.Errorf("Build allocates %v times per refresh", allocs)
	}
}

// Every protocol with states has its states counted, under its own name.
func TestTotalsByStateEveryProtocol(t *testing.T) {
	tab := &flow.Table{}
	for i, p := range flow.StateProtos {
		tab.Flows = append(tab.Flows, mk(p, "192.0.2.1", uint16(1000+i), "198.51.100.1", 80, 4))
	}
	// A state on a protocol without states (an odd saved dump) is not counted.
	udp := mk(flow.ProtoUDP, "192.0.2.1", 53, "198.51.100.1", 53, 0)
	udp.State, udp.Present = 4, udp.Present|flow.HasState
	tab.Flows = append(tab.Flows, udp)
	var v View
	Build(tab, &Options{}, &v)
	want := []Count{
		{Name: "FIN_WAIT", Proto: flow.ProtoTCP, State: 4, N: 1},
		{Name: "sctp ESTABLISHED", Proto: flow.ProtoSCTP, State: 4, N: 1},
		{Name: "dccp OPEN", Proto: flow.ProtoDCCP, State: 4, N: 1},
	}
	if got := v.Totals.ByState(); !slices.Equal(got, want) {
		t.Errorf("ByState() = %+v\nwant %+v", got, want)
	}
}

// Within keeps the rows of the groups entered, the filter applying too, and
// names them outermost first.
func TestWithin(t *testing.T) {
	tab := table()
	net, err := group.Parse("src/24")
	if err != nil {
		t.Fatal(err)
	}
	var g group.Grouping
	all := []int32{0, 1, 2, 3, 4, 5, 6, 7}
	g.Build(tab.Flows, all, net)
	in := g.Matcher(g.Find(keyOf(t, &g, "192.0.2.0/24")))
	var v View
	Build(tab, &Options{Within: []group.Matcher{in}}, &v)
	if want := []int32{6, 1, 5, 3, 7, 0}; !slices.Equal(v.Idx, want) {
		t.Errorf("within 192.0.2.0/24: %v, want %v", v.Idx, want)
	}
	if v.Totals.Shown != 6 || v.Totals.Hidden != 2 {
		t.Errorf("totals %+v, want 6 shown, 2 hidden", v.Totals)
	}

	src, _ := group.Parse("src")
	g.Build(tab.Flows, v.Idx, src)
	o := Options{Within: []group.Matcher{in, g.Matcher(g.Find(keyOf(t, &g, "192.0.2.3")))}}
	Build(tab, &o, &v)
	if want := []int32{1}; !slices.Equal(v.Idx, want) {
		t.Errorf("within 192.0.2.0/24 and 192.0.2.3: %v, want %v", v.Idx, want)
	}
	o.Filter.NoDNS = true
	Build(tab, &o, &v)
	if len(v.Idx) != 0 {
		t.Errorf("the filter hides the DNS flow too: %v", v.Idx)
	}
	if got, want := o.DescribeWithin(), "src/24 192.0.2.0/24 › src 192.0.2.3 ›"; got != want {
		t.Errorf("DescribeWithin = %q, want %q", got, want)
	}
}

// keyOf returns the key of g's group labelled label.
func keyOf(t *testing.T, g *group.Grouping, label string) group.Key {
	t.Helper()
	for i := range g.Groups {
		if g.Label(i) == label {
			return g.Groups[i].Key
		}
	}
	t.Fatalf("no group %q", label)
	return group.Key{}
}

// bigTable is n rows with sources and destination ports spread out.
func bigTable(n int) *flow.Table {
	t := &flow.Table{Flows: make([]flow.Flow, n)}
	for i := range t.Flows {
		t.Flows[i] = mk(flow.ProtoTCP, netip.AddrFrom4([4]byte{198, 51, byte(i * 7919 >> 8), byte(i * 7919)}).String(),
			uint16(1024+i*31%60000), "203.0.113.1", []uint16{7, 80, 443, 500, 999, 8080}[i%6], flow.TCPEstablished)
		t.Flows[i].Timeout = uint32(i * 104729 % 86400)
	}
	return t
}

// BuildTop puts the top of the order in place, the rest when asked for;
// Reorder does the same for a new order of the same rows; Drop keeps the
// order. Each ends where Build does.
func TestBuildTopThenTheRest(t *testing.T) {
	tab := bigTable(20_000)
	dport := ports(t, "7,80,443,500,999")
	o := Options{Filter: filter.Filter{DstPort: dport}, Sort: sortby.DstPort}
	var want, v View
	Build(tab, &o, &want)

	BuildTop(tab, &o, &v, 30)
	if v.Ordered() < 30 || v.Ordered() == len(v.Idx) {
		t.Fatalf("BuildTop(30) ordered %d of %d rows", v.Ordered(), len(v.Idx))
	}
	if !slices.Equal(v.Idx[:v.Ordered()], want.Idx[:v.Ordered()]) || v.Totals != want.Totals {
		t.Fatal("the top differs from Build's")
	}
	if got := v.At(v.Ordered() - 1); got != want.Idx[v.Ordered()-1] || v.Ordered() == len(v.Idx) {
		t.Fatalf("At within the top: row %d, ordered %d; want row %d, the rest not sorted", got, v.Ordered(), want.Idx[v.Ordered()-1])
	}
	if got := v.At(len(v.Idx) - 1); got != want.Idx[len(want.Idx)-1] || !slices.Equal(v.Idx, want.Idx) {
		t.Fatal("At past the top does not complete the order as Build has it")
	}

	o.Sort, o.Reverse = sortby.TTL, true
	Build(tab, &o, &want)
	Reorder(tab, &o, &v, 10)
	var gone []int32
	for row := int32(0); row < int32(len(tab.Flows)); row += 3 {
		gone = append(gone, row)
	}
	v.Drop(gone)
	want.Drop(gone)
	if v.Ordered() < 5 || !slices.Equal(v.Idx[:v.Ordered()], want.Idx[:v.Ordered()]) {
		t.Fatalf("Reorder then Drop: ordered %d, the top differs from Build's", v.Ordered())
	}
	v.Ensure(len(v.Idx))
	kept := 0
	for _, row := range want.Idx {
		if row%3 != 0 {
			kept++
		}
	}
	if len(v.Idx) != kept || slices.ContainsFunc(v.Idx, func(row int32) bool { return row%3 == 0 }) {
		t.Fatalf("after Drop: %d rows, want %d, none a multiple of 3", len(v.Idx), kept)
	}
	if !slices.Equal(v.Idx, want.Idx) {
		t.Fatal("Reorder then Drop then Ensure differs from Build")
	}
}
