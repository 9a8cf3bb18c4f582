package ui

import (
	"net/netip"
	"testing"

	"github.com/gostate/gostate/internal/flow"
)

func TestAppendEndpoint(t *testing.T) {
	mk := func(proto uint8, src, dst string, sp, dp uint16) flow.Flow {
		s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
		fam := flow.FamilyIPv4
		if s.Is6() {
			fam = flow.FamilyIPv6
		}
		return flow.Flow{Family: fam, Proto: proto, Orig: flow.Tuple{
			Src: flow.AddrFrom(s), Dst: flow.AddrFrom(d), SrcPort: sp, DstPort: dp}}
	}
	cases := []struct {
		f        flow.Flow
		src, dst string
	}{
		{mk(flow.ProtoTCP, "192.0.2.1", "198.51.100.2", 40000, 443), "192.0.2.1:40000", "198.51.100.2:443"},
		{mk(flow.ProtoUDP, "2001:db8::1", "2001:db8:0:0:1::2", 53, 5353), "[2001:db8::1]:53", "[2001:db8::1:0:0:2]:5353"},
		{mk(flow.ProtoICMP, "192.0.2.1", "203.0.113.1", 7, 0), "192.0.2.1", "203.0.113.1"},
		{mk(47, "192.0.2.1", "203.0.113.1", 7, 9), "192.0.2.1", "203.0.113.1"},
	}
	for _, c := range cases {
		if got := string(AppendEndpoint(nil, &c.f, &c.f.Orig, true)); got != c.src {
			t.Errorf("source: got %q, want %q", got, c.src)
		}
		if got := string(AppendEndpoint(nil, &c.f, &c.f.Orig, false)); got != c.dst {
			t.Errorf("destination: got %q, want %q", got, c.dst)
		}
	}
}

func TestAppendState(t *testing.T) {
	tcp := flow.Flow{Proto: flow.ProtoTCP, State: flow.TCPSynSent2, Present: flow.HasState}
	icmp := flow.Flow{Proto: flow.ProtoICMP, Orig: flow.Tuple{ICMPType: 8, ICMPCode: 0, SrcPort: 4242}}
	udp := flow.Flow{Proto: flow.ProtoUDP}
	for f, want := range map[*flow.Flow]string{&tcp: "SYN_SENT2", &icmp: "8/0 4242", &udp: ""} {
		if got := string(AppendState(nil, f)); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestAppendTTL(t *testing.T) {
	for secs, want := range map[uint32]string{0: "0:00:00", 59: "0:00:59", 3661: "1:01:01", 432000: "120:00:00"} {
		if got := string(AppendTTL(nil, secs)); got != want {
			t.Errorf("%d: got %q, want %q", secs, got, want)
		}
	}
}

func TestAppendHuman(t *testing.T) {
	for n, want := range map[uint64]string{0: "0", 1023: "1023", 1536: "1.5K", 10 << 20: "10M", 5 << 30: "5.0G"} {
		if got := string(AppendHuman(nil, n)); got != want {
			t.Errorf("%d: got %q, want %q", n, got, want)
		}
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"host.example":    "host.example",
		"evil\x1b[2Jname": "evil?[2Jname",
		"bell\a\x9b31m":   "bell??31m",
		"bad\xffutf8":     "bad?utf8",
		"ünïcode.example": "ünïcode.example",
	} {
		if got := Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}
