package filter

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/gostate/gostate/internal/flow"
)

// mk builds a flow from "proto src sport dst dport" with the original tuple
// only; the family follows the addresses.
func mk(proto uint8, src string, sport uint16, dst string, dport uint16) flow.Flow {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	f := flow.Flow{Proto: proto, Family: flow.FamilyIPv4}
	if s.Is6() {
		f.Family = flow.FamilyIPv6
	}
	f.Orig = flow.Tuple{Src: flow.AddrFrom(s), Dst: flow.AddrFrom(d), SrcPort: sport, DstPort: dport}
	f.Reply = f.Orig.Mirror()
	return f
}

func withState(f flow.Flow, st uint8) flow.Flow {
	f.State, f.Present = st, f.Present|flow.HasState
	return f
}

var (
	web4    = mk(flow.ProtoTCP, "192.0.2.10", 40000, "198.51.100.1", 443)
	web6    = mk(flow.ProtoTCP, "2001:db8::10", 40001, "2001:db8:1::1", 443)
	dns4    = mk(flow.ProtoUDP, "192.0.2.10", 5353, "198.51.100.53", 53)
	dnsRep4 = mk(flow.ProtoUDP, "198.51.100.53", 53, "192.0.2.10", 5353)
	ping4   = mk(flow.ProtoICMP, "192.0.2.11", 53, "203.0.113.5", 0) // ICMP id 53 is not a port
	lo4     = mk(flow.ProtoTCP, "127.0.0.1", 40002, "127.0.0.53", 53)
	lo4dst  = mk(flow.ProtoUDP, "192.0.2.10", 40003, "127.1.2.3", 80)
	lo6     = mk(flow.ProtoTCP, "2001:db8::10", 40004, "::1", 8080)
	lo6src  = mk(flow.ProtoTCP, "::1", 40005, "2001:db8::10", 22)
	gre4    = mk(flow.ProtoGRE, "192.0.2.10", 443, "198.51.100.1", 443) // keys, not ports
	// IPv6 flows that carry IPv4-mapped addresses.
	mapped6   = mk(flow.ProtoTCP, "2001:db8::10", 40006, "::ffff:198.51.100.1", 443)
	mappedLo6 = mk(flow.ProtoTCP, "::ffff:127.0.0.1", 40007, "::ffff:127.0.0.2", 80)
)

func mustPrefix(t *testing.T, s string) Prefixes {
	t.Helper()
	p, err := ParsePrefixes(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustPorts(t *testing.T, s string) Ports {
	t.Helper()
	p, err := ParsePorts(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustStates(t *testing.T, s string) StateSet {
	t.Helper()
	set, err := ParseStates(s)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestMatch(t *testing.T) {
	tcpEst := withState(web4, flow.TCPEstablished)
	tcpTW := withState(web6, flow.TCPTimeWait)
	sctpEst := withState(mk(flow.ProtoSCTP, "192.0.2.20", 5000, "198.51.100.2", 5000), 4) // SCTP ESTABLISHED
	states, err := ParseStates("established")
	if err != nil {
		t.Fatal(err)
	}
	seen, assured := flow.StatusConfirmed|flow.StatusSeenReply, flow.StatusConfirmed|flow.StatusSeenReply|flow.StatusAssured
	tcpEst.Status, tcpTW.Status, sctpEst.Status = assured, assured, assured
	synSent := withState(web4, flow.TCPSynSent)
	synSent.Status = flow.StatusConfirmed
	dnsLost, dnsAnswered, dnsAssured, udpOffload := dns4, dns4, dns4, dns4
	dnsLost.Status, dnsAnswered.Status, dnsAssured.Status = flow.StatusConfirmed, seen, assured
	udpOffload.Status = assured | flow.StatusOffload
	pingLost := ping4
	tcpUDP, err := ParseProtos("tcp, UDP")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    Filter
		show []flow.Flow
		hide []flow.Flow
	}{
		{"none", Filter{}, []flow.Flow{web4, web6, dns4, ping4, lo4, lo6, gre4}, nil},
		{"src v4 prefix", Filter{Src: mustPrefix(t, "192.0.2.0/24")},
			[]flow.Flow{web4, dns4, ping4, lo4dst, gre4}, []flow.Flow{web6, dnsRep4, lo4, lo6}},
		{"src v4 host", Filter{Src: mustPrefix(t, "192.0.2.11")}, []flow.Flow{ping4}, []flow.Flow{web4, dns4}},
		{"src v6 prefix", Filter{Src: mustPrefix(t, "2001:db8::/48")},
			[]flow.Flow{web6, lo6}, []flow.Flow{web4, lo6src}},
		// ::/0 holds every IPv6 address and no IPv4 one, and 0.0.0.0/0 the reverse.
		{"v6 all never IPv4", Filter{Src: mustPrefix(t, "::/0")}, []flow.Flow{web6, lo6src}, []flow.Flow{web4, lo4, ping4}},
		{"v4 all never IPv6", Filter{Dst: mustPrefix(t, "0.0.0.0/0")}, []flow.Flow{web4, lo4}, []flow.Flow{web6, lo6}},
		// An IPv4-mapped filter is an IPv6 one: it matches IPv6 flows that
		// carry the mapped address, never an IPv4 flow, and an IPv4 filter
		// never matches the mapped address of an IPv6 flow.
		{"mapped v4 filter", Filter{Dst: mustPrefix(t, "::ffff:198.51.100.0/120")}, []flow.Flow{mapped6}, []flow.Flow{web4, dns4, web6}},
		{"mapped v4 address", Filter{Dst: mustPrefix(t, "::ffff:198.51.100.1")}, []flow.Flow{mapped6}, []flow.Flow{web4, gre4}},
		{"v4 filter, mapped v6 flow", Filter{Dst: mustPrefix(t, "198.51.100.0/24")}, []flow.Flow{web4, dns4}, []flow.Flow{mapped6}},
		{"mapped /96 is no IPv4 wildcard", Filter{Src: mustPrefix(t, "::ffff:0:0/96")}, []flow.Flow{mappedLo6},
			[]flow.Flow{web4, dns4, lo4, ping4, web6, mapped6}},
		// Lists: a flow matches when it matches any item.
		{"src list", Filter{Src: mustPrefix(t, "192.0.2.11, 2001:db8::10")}, []flow.Flow{ping4, web6, mapped6, lo6},
			[]flow.Flow{web4, dns4, lo6src}},
		{"dport list", Filter{DstPort: mustPorts(t, "22,443")}, []flow.Flow{web4, web6, lo6src}, []flow.Flow{dns4, lo6, gre4}},
		{"inverted list", Filter{Src: mustPrefix(t, "192.0.2.0/24,2001:db8::/32"), Invert: true},
			[]flow.Flow{lo4, dnsRep4, lo6src, mappedLo6}, []flow.Flow{web4, web6, ping4}},
		{"dst", Filter{Dst: mustPrefix(t, "198.51.100.53")}, []flow.Flow{dns4}, []flow.Flow{web4, dnsRep4}},
		{"sport", Filter{SrcPort: mustPorts(t, "53")}, []flow.Flow{dnsRep4}, []flow.Flow{dns4, ping4, web4}},
		{"dport", Filter{DstPort: mustPorts(t, "443")}, []flow.Flow{web4, web6}, []flow.Flow{dns4, gre4, ping4}},
		{"src and dport", Filter{Src: mustPrefix(t, "192.0.2.0/24"), DstPort: mustPorts(t, "443")}, []flow.Flow{web4}, []flow.Flow{web6, dns4, gre4}},
		// Inverted, each filter hides what it matches (iptstate's -i).
		{"inverted src", Filter{Src: mustPrefix(t, "192.0.2.0/24"), Invert: true},
			[]flow.Flow{web6, dnsRep4, lo4, lo6}, []flow.Flow{web4, dns4, ping4}},
		{"inverted src and dport", Filter{Src: mustPrefix(t, "192.0.2.0/24"), DstPort: mustPorts(t, "443"), Invert: true},
			[]flow.Flow{dnsRep4, lo4, lo6src}, []flow.Flow{web4, web6, dns4}},
		{"inverted port, portless flows", Filter{DstPort: mustPorts(t, "443"), Invert: true}, []flow.Flow{ping4, gre4, dns4}, []flow.Flow{web4}},
		{"invert does not touch toggles", Filter{NoLoopback: true, NoDNS: true, Protos: tcpUDP, Invert: true},
			[]flow.Flow{web4, web6}, []flow.Flow{lo4, dns4, ping4, gre4}},
		{"no loopback", Filter{NoLoopback: true}, []flow.Flow{web4, web6, dns4, ping4, mapped6},
			[]flow.Flow{lo4, lo4dst, lo6, lo6src, mappedLo6}},
		{"no dns", Filter{NoDNS: true}, []flow.Flow{web4, ping4, gre4}, []flow.Flow{dns4, dnsRep4, lo4}},
		{"protos", Filter{Protos: tcpUDP}, []flow.Flow{web4, dns4}, []flow.Flow{ping4, gre4}},
		{"states", Filter{States: states}, []flow.Flow{tcpEst, sctpEst}, []flow.Flow{tcpTW, web4, dns4, ping4}},
		// A phase selects by the status bits, whatever the protocol: the
		// TCP SYN never answered is unreplied as the DNS query is.
		{"unreplied", Filter{States: mustStates(t, "unreplied")}, []flow.Flow{synSent, dnsLost, pingLost, web4},
			[]flow.Flow{tcpEst, dnsAnswered, dnsAssured, udpOffload}},
		{"replied", Filter{States: mustStates(t, "REPLIED")}, []flow.Flow{dnsAnswered}, []flow.Flow{synSent, dnsLost, dnsAssured, tcpEst, udpOffload}},
		{"assured", Filter{States: mustStates(t, "assured")}, []flow.Flow{tcpEst, dnsAssured}, []flow.Flow{synSent, dnsAnswered, udpOffload}},
		{"offload", Filter{States: mustStates(t, "offload")}, []flow.Flow{udpOffload}, []flow.Flow{tcpEst, dnsAssured}},
		// A state name and a phase: either matches.
		{"state or phase", Filter{States: mustStates(t, "time_wait,unreplied")}, []flow.Flow{tcpTW, synSent, dnsLost},
			[]flow.Flow{tcpEst, dnsAnswered}},
	}
	for _, tt := range tests {
		for _, fl := range tt.show {
			if !tt.f.Match(&fl) {
				t.Errorf("%s: hides %v %v:%d -> %v:%d", tt.name, fl.ProtoName(),
					fl.Orig.Src.Netip(fl.Family), fl.Orig.SrcPort, fl.Orig.Dst.Netip(fl.Family), fl.Orig.DstPort)
			}
		}
		for _, fl := range tt.hide {
			if tt.f.Match(&fl) {
				t.Errorf("%s: shows %v %v:%d -> %v:%d", tt.name, fl.ProtoName(),
					fl.Orig.Src.Netip(fl.Family), fl.Orig.SrcPort, fl.Orig.Dst.Netip(fl.Family), fl.Orig.DstPort)
			}
		}
	}
}

// TestMatchOriginalTuple: a DNAT'd flow matches by the address the client
// asked for, not the reply tuple.
func TestMatchOriginalTuple(t *testing.T) {
	fl := web4
	fl.Reply.Src = flow.AddrFrom(netip.MustParseAddr("203.0.113.80"))
	fl.Reply.SrcPort = 8443
	f := Filter{Dst: mustPrefix(t, "198.51.100.1"), DstPort: mustPorts(t, "443")}
	if !f.Match(&fl) {
		t.Error("a DNAT'd flow does not match its original destination")
	}
	f = Filter{Dst: mustPrefix(t, "203.0.113.80")}
	if f.Match(&fl) {
		t.Error("a DNAT'd flow matches its reply-side address")
	}
}

// TestMatchHost: --host looks at the four addresses, so it finds a NAT'd
// flow by the backend DNAT sent it to and by the address SNAT gave it.
func TestMatchHost(t *testing.T) {
	dnat := web4
	dnat.Reply.Src, dnat.Reply.SrcPort = flow.AddrFrom(netip.MustParseAddr("203.0.113.80")), 8443
	dnat.Status |= flow.StatusDstNAT
	snat := web6
	snat.Reply.Dst = flow.AddrFrom(netip.MustParseAddr("2001:db8:ffff::1"))
	snat.Status |= flow.StatusSrcNAT
	for _, c := range []struct {
		host       string
		invert     bool
		show, hide []flow.Flow
	}{
		{"203.0.113.80", false, []flow.Flow{dnat}, []flow.Flow{web4, web6, snat}},
		{"2001:db8:ffff::/48", false, []flow.Flow{snat}, []flow.Flow{web6, dnat}},
		// Either end of either tuple: the source of one flow, the
		// destination of its reply flow.
		{"192.0.2.10", false, []flow.Flow{web4, dnat, dns4, dnsRep4}, []flow.Flow{ping4, web6}},
		{"198.51.100.1, 2001:db8:ffff::1", false, []flow.Flow{web4, dnat, snat}, []flow.Flow{web6, dns4}},
		{"::ffff:192.0.2.10", false, nil, []flow.Flow{web4, dnat, dns4}},
		{"203.0.113.80", true, []flow.Flow{web4, web6, snat}, []flow.Flow{dnat}},
	} {
		f := Filter{Host: mustPrefix(t, c.host), Invert: c.invert}
		for _, fl := range c.show {
			if !f.Match(&fl) {
				t.Errorf("host %s (inverted %v) hides %v -> %v", c.host, c.invert, fl.Orig.Src.Netip(fl.Family), fl.Orig.Dst.Netip(fl.Family))
			}
		}
		for _, fl := range c.hide {
			if f.Match(&fl) {
				t.Errorf("host %s (inverted %v) shows %v -> %v", c.host, c.invert, fl.Orig.Src.Netip(fl.Family), fl.Orig.Dst.Netip(fl.Family))
			}
		}
	}
}

func TestMatchMarkZone(t *testing.T) {
	marked := func(mark uint32, zone uint16) flow.Flow {
		f := web4
		f.Mark, f.Zone = mark, zone
		return f
	}
	plain, m42, m0x1234, zone7, both := marked(0, 0), marked(42, 0), marked(0x1234, 0), marked(0, 7), marked(42, 7)
	for _, c := range []struct {
		name       string
		f          Filter
		show, hide []flow.Flow
	}{
		{"mark", Filter{Mark: mustMarks(t, "42")}, []flow.Flow{m42, both}, []flow.Flow{plain, m0x1234, zone7}},
		{"mark 0", Filter{Mark: mustMarks(t, "0")}, []flow.Flow{plain, zone7}, []flow.Flow{m42, both}},
		// iptables' VALUE/MASK: mark & MASK == VALUE & MASK.
		{"mark/mask", Filter{Mark: mustMarks(t, "0x34/0xff")}, []flow.Flow{m0x1234}, []flow.Flow{m42, plain}},
		{"mask 0 matches all", Filter{Mark: mustMarks(t, "5/0")}, []flow.Flow{plain, m42, m0x1234}, nil},
		{"value bits outside the mask", Filter{Mark: mustMarks(t, "0xff34/0xff")}, []flow.Flow{m0x1234}, []flow.Flow{plain}},
		{"mark list", Filter{Mark: mustMarks(t, "42,0x1000/0xf000")}, []flow.Flow{m42, m0x1234}, []flow.Flow{plain}},
		{"zone", Filter{Zone: mustZones(t, "7")}, []flow.Flow{zone7, both}, []flow.Flow{plain, m42}},
		{"zone 0", Filter{Zone: mustZones(t, "0")}, []flow.Flow{plain, m42}, []flow.Flow{zone7, both}},
		{"zone list", Filter{Zone: mustZones(t, "0,7")}, []flow.Flow{plain, zone7, both}, nil},
		{"mark and zone", Filter{Mark: mustMarks(t, "42"), Zone: mustZones(t, "7")}, []flow.Flow{both}, []flow.Flow{m42, zone7}},
		// -i is for the endpoint filters; marks and zones stay as asked.
		{"not inverted", Filter{Mark: mustMarks(t, "42"), Invert: true}, []flow.Flow{m42}, []flow.Flow{plain}},
	} {
		for _, fl := range c.show {
			if !c.f.Match(&fl) {
				t.Errorf("%s: hides mark %#x zone %d", c.name, fl.Mark, fl.Zone)
			}
		}
		for _, fl := range c.hide {
			if c.f.Match(&fl) {
				t.Errorf("%s: shows mark %#x zone %d", c.name, fl.Mark, fl.Zone)
			}
		}
	}
}

func mustMarks(t *testing.T, s string) Marks {
	t.Helper()
	m, err := ParseMarks(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustZones(t *testing.T, s string) Zones {
	t.Helper()
	z, err := ParseZones(s)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func TestParseMarksZones(t *testing.T) {
	for in, want := range map[string]string{
		"42": "42", " 0x2A ": "42", "4294967295": "4294967295", "0xffffffff/0xffffffff": "4294967295",
		"0x10/0xf0": "0x10/0xf0", "0x1234/0xff": "0x34/0xff", "16/240": "0x10/0xf0", "010": "10",
		"1,2,1": "1,2", "0/0": "0x0/0x0",
	} {
		if m, err := ParseMarks(in); err != nil || m.String() != want {
			t.Errorf("ParseMarks(%q) = %q, %v; want %q", in, m.String(), err, want)
		}
	}
	for _, in := range []string{"", ",", "x", "0x", "-1", "+1", "4294967296", "0x100000000", "1/", "/1", "1/2/3", "0b1", "1e3"} {
		if m, err := ParseMarks(in); err == nil {
			t.Errorf("ParseMarks(%q) = %q, want an error", in, m.String())
		} else if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "mark") {
			t.Errorf("ParseMarks(%q): unclear error %q", in, err)
		}
	}
	for in, want := range map[string]string{"7": "7", "0": "0", " 65535 ": "65535", "7,0,7": "7,0", "007": "7"} {
		if z, err := ParseZones(in); err != nil || z.String() != want {
			t.Errorf("ParseZones(%q) = %q, %v; want %q", in, z.String(), err, want)
		}
	}
	for _, in := range []string{"", " , ", "-1", "65536", "0x7", "seven", "+7"} {
		if z, err := ParseZones(in); err == nil {
			t.Errorf("ParseZones(%q) = %q, want an error", in, z.String())
		} else if !strings.Contains(err.Error(), "0 to 65535") {
			t.Errorf("ParseZones(%q): error %q does not give the range", in, err)
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	f := Filter{Src: mustPrefix(t, "192.0.2.0/24,2001:db8::/32"), DstPort: mustPorts(t, "443"), NoLoopback: true, NoDNS: true,
		Host: mustPrefix(t, "203.0.113.0/24"), States: mustStates(t, "established,unreplied"), Invert: true,
		Mark: mustMarks(t, "0,0x10/0xf0"), Zone: mustZones(t, "0,7")}
	f.Protos.Add(flow.ProtoTCP)
	allocs := testing.AllocsPerRun(100, func() { f.Match(&web4) })
	if allocs != 0 {
		t.Errorf("Match allocates %v times", allocs)
	}
}

func TestActive(t *testing.T) {
	var protos ProtoSet
	protos.Add(flow.ProtoUDP)
	states, _ := ParseStates("TIME_WAIT")
	for _, f := range []Filter{
		{Src: mustPrefix(t, "192.0.2.1")}, {Dst: mustPrefix(t, "::1")}, {SrcPort: mustPorts(t, "1")}, {DstPort: mustPorts(t, "65535")},
		{NoLoopback: true}, {NoDNS: true}, {Protos: protos}, {States: states}, {Host: mustPrefix(t, "192.0.2.1")},
		{Mark: mustMarks(t, "0")}, {Zone: mustZones(t, "0")},
	} {
		if !f.Active() {
			t.Errorf("%+v is not Active", f)
		}
	}
	for _, f := range []Filter{{}, {Invert: true}} {
		if f.Active() || f.Describe() != "" {
			t.Errorf("%+v is Active or described as %q", f, f.Describe())
		}
	}
}

func TestDescribe(t *testing.T) {
	protos, _ := ParseProtos("udp,tcp")
	states, _ := ParseStates("time_wait,ESTABLISHED")
	tests := []struct {
		f    Filter
		want string
	}{
		{Filter{Src: mustPrefix(t, "192.0.2.0/24"), DstPort: mustPorts(t, "443"), Invert: true}, "src 192.0.2.0/24, dport 443 (inverted)"},
		{Filter{Src: mustPrefix(t, "2001:db8::1"), SrcPort: mustPorts(t, "5353"), Dst: mustPrefix(t, "198.51.100.0/24")},
			"src 2001:db8::1, sport 5353, dst 198.51.100.0/24"},
		{Filter{NoLoopback: true, NoDNS: true, Invert: true}, "no loopback, no DNS"},
		{Filter{Dst: mustPrefix(t, "::1"), Protos: protos, States: states}, "dst ::1, proto tcp,udp, state ESTABLISHED,TIME_WAIT"},
		{Filter{States: mustStates(t, "unreplied,syn-sent")}, "state SYN_SENT,UNREPLIED"},
		{Filter{Src: mustPrefix(t, "192.0.2.1,192.0.2.0/24, 192.0.2.1"), DstPort: mustPorts(t, "443,80"), Host: mustPrefix(t, "::ffff:192.0.2.1"), Invert: true},
			"src 192.0.2.1,192.0.2.0/24, dport 443,80, host ::ffff:192.0.2.1 (inverted)"},
		{Filter{Mark: mustMarks(t, "42,0x10/0xf0"), Zone: mustZones(t, "7"), Invert: true}, "mark 42,0x10/0xf0, zone 7"},
	}
	for _, tt := range tests {
		if got := tt.f.Describe(); got != tt.want {
			t.Errorf("Describe() = %q, want %q", got, tt.want)
		}
	}
}

func TestParsePrefix(t *testing.T) {
	good := map[string]string{
		"192.0.2.1":              "192.0.2.1/32",
		" 192.0.2.1 ":            "192.0.2.1/32",
		"192.0.2.0/24":           "192.0.2.0/24",
		"192.0.2.77/24":          "192.0.2.0/24",
		"0.0.0.0/0":              "0.0.0.0/0",
		"2001:db8::1":            "2001:db8::1/128",
		"2001:DB8::/32":          "2001:db8::/32",
		"::1":                    "::1/128",
		"::ffff:192.0.2.1":       "::ffff:192.0.2.1/128",
		"::ffff:192.0.2.7/120":   "::ffff:192.0.2.0/120",
		"::ffff:0:0/96":          "::ffff:0.0.0.0/96",
		"2001:db8::ffff:0:0/100": "2001:db8::ffff:0:0/100",
	}
	for in, want := range good {
		p, err := ParsePrefix(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	for _, in := range []string{"", " ", "x", "192.0.2", "192.0.2.1/33", "2001:db8::/129", "192.0.2.1/", "/24",
		"192.0.2.1/-1", "fe80::1%eth0", "192.0.2.256", "host.example"} {
		if p, err := ParsePrefix(in); err == nil {
			t.Errorf("ParsePrefix(%q) = %v, want an error", in, p)
		} else if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "address") {
			t.Errorf("ParsePrefix(%q): unclear error %q", in, err)
		}
	}
}

func TestParseLists(t *testing.T) {
	ps, err := ParsePrefixes(" 192.0.2.7/24, ,2001:db8::1,192.0.2.0/24,")
	if err != nil || ps.String() != "192.0.2.0/24,2001:db8::1" {
		t.Errorf("ParsePrefixes = %q, %v; want the two prefixes once each", ps.String(), err)
	}
	ports, err := ParsePorts("443, 80,443")
	if err != nil || ports.String() != "443,80" {
		t.Errorf("ParsePorts = %q, %v", ports.String(), err)
	}
	// Empty answers are no filter at all, and bad items name themselves.
	for _, in := range []string{"", " ", ",", " , "} {
		if _, err := ParsePrefixes(in); err == nil || !strings.Contains(err.Error(), "empty address") {
			t.Errorf("ParsePrefixes(%q): error %v", in, err)
		}
		if _, err := ParsePorts(in); err == nil || !strings.Contains(err.Error(), "1 to 65535") {
			t.Errorf("ParsePorts(%q): error %v", in, err)
		}
	}
	if _, err := ParsePrefixes("192.0.2.1,bogus"); err == nil || !strings.Contains(err.Error(), `"bogus"`) {
		t.Errorf("ParsePrefixes with a bad item: error %v", err)
	}
	if _, err := ParsePorts("22,0"); err == nil || !strings.Contains(err.Error(), `"0"`) {
		t.Errorf("ParsePorts with a bad item: error %v", err)
	}
}

func TestParsePort(t *testing.T) {
	for in, want := range map[string]uint16{"1": 1, "53": 53, "65535": 65535, " 443 ": 443, "0080": 80} {
		if got, err := ParsePort(in); err != nil || got != want {
			t.Errorf("ParsePort(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "65536", "x", "-1", "", "+80", "80x", "1e3", "99999999999999999999"} {
		if got, err := ParsePort(in); err == nil {
			t.Errorf("ParsePort(%q) = %d, want an error", in, got)
		} else if !strings.Contains(err.Error(), "1 to 65535") {
			t.Errorf("ParsePort(%q): error %q does not give the range", in, err)
		}
	}
}

func TestParseProtos(t *testing.T) {
	set, err := ParseProtos("TCP,udp, icmpv6,ipv6-icmp,47,,132 ")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := set.String(), "tcp,udp,gre,icmpv6,sctp"; got != want {
		t.Errorf("set = %q, want %q", got, want)
	}
	for _, p := range []uint8{flow.ProtoTCP, flow.ProtoUDP, flow.ProtoICMPv6, flow.ProtoGRE, flow.ProtoSCTP} {
		if !set.Has(p) {
			t.Errorf("set lacks %d", p)
		}
	}
	if set.Has(flow.ProtoICMP) {
		t.Error("set has icmp")
	}
	if set, err := ParseProtos("253"); err != nil || set.String() != "253" {
		t.Errorf("ParseProtos(253) = %q, %v", set.String(), err)
	}
	// What the protocol column shows for a protocol without a name.
	if set, err := ParseProtos("Unknown(253),unknown(99)"); err != nil || set.String() != "99,253" {
		t.Errorf("ParseProtos(unknown(253),unknown(99)) = %q, %v", set.String(), err)
	}
	// /etc/protocols' names and its aliases.
	if set, err := ParseProtos("ESP,ah,ipsec-esp,ipip,ipv6,ospf,pim,vrrp,l2tp,igmp,ipencap,ipv4"); err != nil ||
		set.String() != "igmp,ipencap,ipv6,esp,ah,ospf,ipip,pim,vrrp,l2tp" {
		t.Errorf("ParseProtos(names) = %q, %v", set.String(), err)
	}
	// An empty answer is no protocol, not every protocol.
	for _, in := range []string{"", " ", ",", " , ,"} {
		if set, err := ParseProtos(in); err == nil {
			t.Errorf("ParseProtos(%q) = %q, want an error", in, set.String())
		}
	}
	for _, in := range []string{"tcp,bogus", "256", "-1", "unknown"} {
		if _, err := ParseProtos(in); err == nil || !strings.Contains(err.Error(), "icmpv6") {
			t.Errorf("ParseProtos(%q): error %v, want one listing the names", in, err)
		}
	}
}

func TestParseStates(t *testing.T) {
	set, err := ParseStates("established, time-wait,Syn_Sent2,COOKIE_WAIT")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := set.String(), "COOKIE_WAIT,ESTABLISHED,SYN_SENT2,TIME_WAIT"; got != want {
		t.Errorf("set = %q, want %q", got, want)
	}
	for _, c := range []struct {
		proto, state uint8
		want         bool
	}{
		{flow.ProtoTCP, flow.TCPEstablished, true}, {flow.ProtoTCP, flow.TCPTimeWait, true},
		{flow.ProtoTCP, flow.TCPSynSent2, true}, {flow.ProtoTCP, flow.TCPSynSent, false},
		{flow.ProtoSCTP, 4, true}, {flow.ProtoSCTP, 2, true}, // ESTABLISHED, COOKIE_WAIT
		{flow.ProtoDCCP, 4, false}, // OPEN
		{flow.ProtoUDP, flow.TCPEstablished, false},
	} {
		if got := set.Has(c.proto, c.state); got != c.want {
			t.Errorf("Has(%d, %d) = %v, want %v", c.proto, c.state, got, c.want)
		}
	}
	// The phases, which every protocol has.
	set, err = ParseStates("Unreplied,assured, OFFLOAD,replied,time_wait")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := set.String(), "ASSURED,OFFLOAD,REPLIED,TIME_WAIT,UNREPLIED"; got != want {
		t.Errorf("set = %q, want %q", got, want)
	}
	// An empty answer is no state, not every state.
	for _, in := range []string{"", " ", ",,"} {
		if set, err := ParseStates(in); err == nil {
			t.Errorf("ParseStates(%q) = %q, want an error", in, set.String())
		}
	}
	for _, in := range []string{"ESTABLISHED,nope", "UNREPLIED_", "STATE_12", "udp", "seen_reply"} {
		if _, err := ParseStates(in); err == nil || !strings.Contains(err.Error(), "TIME_WAIT") || !strings.Contains(err.Error(), "UNREPLIED") {
			t.Errorf("ParseStates(%q): error %v, want one listing the names", in, err)
		}
	}
}

// FuzzParse feeds the parsers arbitrary text: they must not panic, and what
// they accept must print as text they parse back to the same value.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"192.0.2.0/24", "2001:db8::1", "::ffff:192.0.2.1/120", "fe80::1%eth0", "80", "0", "65536",
		"192.0.2.1, 2001:db8::/32,", "22,443", "0x10/0xf0", "42", "7,0",
		"-1", "tcp,udp", "ICMPv6, 47", "established,time-wait", "", ",,", "\x00\xff", "1/2/3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := ParsePrefix(s); err == nil {
			if again, err := ParsePrefix(p.String()); err != nil || again != p || p != p.Masked() {
				t.Errorf("ParsePrefix(%q) = %v, which parses back as %v, %v", s, p, again, err)
			}
		}
		if ps, err := ParsePrefixes(s); err == nil {
			if again, err := ParsePrefixes(ps.String()); err != nil || again.String() != ps.String() {
				t.Errorf("ParsePrefixes(%q) = %q, which parses back as %q, %v", s, ps.String(), again.String(), err)
			}
		}
		if ps, err := ParsePorts(s); err == nil {
			if again, err := ParsePorts(ps.String()); err != nil || again.String() != ps.String() || ps.Contains(0) {
				t.Errorf("ParsePorts(%q) = %q, which parses back as %q, %v", s, ps.String(), again.String(), err)
			}
		}
		if ms, err := ParseMarks(s); err == nil {
			if again, err := ParseMarks(ms.String()); err != nil || again.String() != ms.String() {
				t.Errorf("ParseMarks(%q) = %q, which parses back as %q, %v", s, ms.String(), again.String(), err)
			}
		}
		if zs, err := ParseZones(s); err == nil {
			if again, err := ParseZones(zs.String()); err != nil || again.String() != zs.String() {
				t.Errorf("ParseZones(%q) = %q, which parses back as %q, %v", s, zs.String(), again.String(), err)
			}
		}
		if port, err := ParsePort(s); err == nil && port == 0 {
			t.Errorf("ParsePort(%q) accepted port 0", s)
		}
		if set, err := ParseProtos(s); err == nil {
			if again, err := ParseProtos(set.String()); err != nil || again != set {
				t.Errorf("ParseProtos(%q) = %q, which parses back as %q, %v", s, set.String(), again.String(), err)
			}
		}
		if set, err := ParseStates(s); err == nil {
			if again, err := ParseStates(set.String()); err != nil || again != set {
				t.Errorf("ParseStates(%q) = %q, which parses back as %q, %v", s, set.String(), again.String(), err)
			}
		}
	})
}
