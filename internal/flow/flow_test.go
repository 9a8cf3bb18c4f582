package flow

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func TestFlowSize(t *testing.T) {
	if got := unsafe.Sizeof(Flow{}); got != 144 {
		t.Errorf("Flow is %d bytes; the doc comment and the notes say 144: update both", got)
	}
	if hasPointers(reflect.TypeOf(Flow{})) {
		t.Error("Flow holds a pointer; rows must stay pointer-free so the GC skips them")
	}
}

func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Array:
		return hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.String, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return true
	}
	return false
}

func TestAddrRoundTrip(t *testing.T) {
	for _, s := range []string{"192.0.2.1", "2001:db8::1", "127.0.0.1", "::1"} {
		ip := netip.MustParseAddr(s)
		fam := FamilyIPv6
		if ip.Is4() {
			fam = FamilyIPv4
		}
		if got := AddrFrom(ip).Netip(fam); got != ip {
			t.Errorf("%s: round trip gave %s", s, got)
		}
		if got := AddrFromSlice(ip.AsSlice()).Netip(fam); got != ip {
			t.Errorf("%s: from slice gave %s", s, got)
		}
	}
}

func TestStateNames(t *testing.T) {
	for _, proto := range StateProtos {
		for s := range 10 {
			name := StateName(proto, uint8(s))
			back, ok := StateByName(proto, name)
			if !ok || back != uint8(s) {
				t.Errorf("proto %d state %d: name %q maps back to %d, %v", proto, s, name, back, ok)
			}
		}
	}
	if got := StateName(ProtoTCP, TCPSynSent2); got != "SYN_SENT2" {
		t.Errorf("SYN_SENT2 named %q", got)
	}
	if got := StateName(ProtoSCTP, 4); got != "ESTABLISHED" {
		t.Errorf("SCTP state 4 named %q", got)
	}
	if got := StateName(ProtoDCCP, 4); got != "OPEN" {
		t.Errorf("DCCP state 4 named %q", got)
	}
	if got := StateName(ProtoTCP, 42); got != "STATE_42" {
		t.Errorf("state 42 named %q", got)
	}
	if _, ok := StateByName(ProtoUDP, "NONE"); ok {
		t.Error("UDP has a state NONE")
	}
}

func TestStateProtoIndex(t *testing.T) {
	want := map[uint8]int{ProtoTCP: 0, ProtoSCTP: 1, ProtoDCCP: 2}
	if len(StateProtos) != len(want) {
		t.Errorf("StateProtos = %v, want TCP, SCTP and DCCP", StateProtos)
	}
	for p := range 256 {
		i, ok := StateProtoIndex(uint8(p))
		w, stateful := want[uint8(p)]
		if ok != stateful || (ok && (i != w || StateProtos[i] != uint8(p))) {
			t.Errorf("StateProtoIndex(%d) = %d, %v; want %d, %v", p, i, ok, w, stateful)
		}
	}
}

func TestProtoNames(t *testing.T) {
	// /etc/protocols' names, as iptstate shows them; ICMPv6 as the kernel
	// prints it.
	for p, want := range map[uint8]string{ProtoICMPv6: "icmpv6", ProtoTCP: "tcp", 2: "igmp", 4: "ipencap",
		41: "ipv6", 50: "esp", 51: "ah", 89: "ospf", 94: "ipip", 103: "pim", 112: "vrrp", 115: "l2tp",
		ProtoUDPLite: "udplite", 0: "unknown(0)", 99: "unknown(99)", 253: "unknown(253)", 255: "unknown(255)"} {
		if got := ProtoName(p); got != want {
			t.Errorf("ProtoName(%d) = %q, want %q", p, got, want)
		}
		if got := ProtoKnown(p); got != !strings.HasPrefix(want, "unknown(") {
			t.Errorf("ProtoKnown(%d) = %v for %q", p, got, want)
		}
	}
	// Every name reads back as its number.
	for p := range 256 {
		if back, ok := ProtoByName(ProtoName(uint8(p))); !ok || back != uint8(p) {
			t.Errorf("ProtoByName(%q) = %d, %v; want %d", ProtoName(uint8(p)), back, ok, p)
		}
	}
	if p, ok := ProtoByName("41"); !ok || p != 41 {
		t.Error("numeric protocol not accepted")
	}
	for _, bad := range []string{"bogus", "unknown", "unknown(6)", "256", "-1", ""} {
		if p, ok := ProtoByName(bad); ok {
			t.Errorf("ProtoByName(%q) accepted as %d", bad, p)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = ProtoName(uint8(len(ProtoName(253)))) }); n != 0 {
		t.Errorf("ProtoName allocates %v times per call", n)
	}
}

func TestPhase(t *testing.T) {
	for _, c := range []struct {
		status Status
		want   Phase
		name   string
	}{
		{0, PhaseUnreplied, "UNREPLIED"},
		{StatusConfirmed, PhaseUnreplied, "UNREPLIED"},
		{StatusConfirmed | StatusSeenReply, PhaseReplied, "REPLIED"},
		{StatusConfirmed | StatusSeenReply | StatusAssured, PhaseAssured, "ASSURED"},
		{StatusAssured, PhaseAssured, "ASSURED"},
		{StatusSeenReply | StatusAssured | StatusOffload, PhaseOffload, "OFFLOAD"},
		{StatusSeenReply | StatusAssured | StatusHWOffload, PhaseOffload, "OFFLOAD"},
		{StatusHWOffload | StatusSrcNAT | StatusDstNAT, PhaseOffload, "OFFLOAD"},
		{StatusSrcNAT | StatusDstNAT | StatusExpected | 1<<13 | 1<<16, PhaseUnreplied, "UNREPLIED"},
	} {
		f := Flow{Status: c.status}
		if got := f.Phase(); got != c.want || got.String() != c.name {
			t.Errorf("status %#x: phase %v (%d), want %s", uint32(c.status), got, got, c.name)
		}
		if p, ok := PhaseByName(c.name); !ok || p != c.want {
			t.Errorf("PhaseByName(%q) = %v, %v", c.name, p, ok)
		}
	}
	if _, ok := PhaseByName("assured"); ok {
		t.Error("PhaseByName takes the name in lower case; callers fold the case")
	}
	if NumPhases.String() != "" {
		t.Errorf("NumPhases named %q", NumPhases.String())
	}
}

// TestDisplayState: the protocol state when the flow has one, else the
// phase; never an allocation.
func TestDisplayState(t *testing.T) {
	assured := StatusConfirmed | StatusSeenReply | StatusAssured
	for _, c := range []struct {
		f    Flow
		want string
	}{
		{Flow{Proto: ProtoTCP, State: TCPSynSent, Present: HasState}, "SYN_SENT"},
		{Flow{Proto: ProtoTCP, State: TCPEstablished, Present: HasState, Status: assured | StatusOffload}, "ESTABLISHED"},
		{Flow{Proto: ProtoTCP, State: 42, Present: HasState}, "STATE_42"},
		{Flow{Proto: ProtoSCTP, State: 4, Present: HasState}, "ESTABLISHED"},
		{Flow{Proto: ProtoDCCP, State: 4, Present: HasState}, "OPEN"},
		// A stateful protocol whose source gave no state shows its phase.
		{Flow{Proto: ProtoTCP, Status: assured}, "ASSURED"},
		{Flow{Proto: ProtoUDP, Status: StatusConfirmed}, "UNREPLIED"},
		{Flow{Proto: ProtoUDP, Status: StatusConfirmed | StatusSeenReply}, "REPLIED"},
		{Flow{Proto: ProtoUDP, Status: assured}, "ASSURED"},
		{Flow{Proto: ProtoUDP, Status: assured | StatusOffload}, "OFFLOAD"},
		{Flow{Proto: ProtoGRE}, "UNREPLIED"},
		{Flow{Proto: ProtoICMP, Status: StatusSeenReply}, "REPLIED"},
		{Flow{Proto: 50, Status: assured}, "ASSURED"},
		// A state on a protocol without states means nothing.
		{Flow{Proto: ProtoUDP, State: 3, Present: HasState, Status: StatusSeenReply}, "REPLIED"},
	} {
		if got := c.f.DisplayState(); got != c.want {
			t.Errorf("%s state %d status %#x: DisplayState %q, want %q", c.f.ProtoName(), c.f.State, uint32(c.f.Status), got, c.want)
		}
	}
	f := Flow{Proto: ProtoTCP, State: 200, Present: HasState}
	if n := testing.AllocsPerRun(100, func() { f.State++; _ = f.DisplayState(); _ = StateName(ProtoUDP, f.State) }); n != 0 {
		t.Errorf("DisplayState or StateName allocates %v times per call", n)
	}
}

func TestTTLCountsDown(t *testing.T) {
	read := time.Unix(1000, 0)
	f := Flow{Timeout: 10, Present: HasTimeout}
	for _, c := range []struct {
		after time.Duration
		want  uint32
	}{{0, 10}, {-time.Second, 10}, {2500 * time.Millisecond, 8}, {10 * time.Second, 0}, {time.Hour, 0}} {
		if got := f.TTL(read, read.Add(c.after)); got != c.want {
			t.Errorf("after %v: TTL %d, want %d", c.after, got, c.want)
		}
	}
	off := Flow{Timeout: 10}
	if off.TTL(read, read) != 0 {
		t.Error("flow without a timeout has a TTL")
	}
}

func TestInferNAT(t *testing.T) {
	a := func(s string) Addr { return AddrFrom(netip.MustParseAddr(s)) }
	plain := Flow{Proto: ProtoTCP, Orig: Tuple{Src: a("192.0.2.1"), Dst: a("198.51.100.2"), SrcPort: 1000, DstPort: 80}}
	plain.Reply = plain.Orig.Mirror()
	plain.InferNAT()
	if plain.NATed() {
		t.Error("mirror reply taken as NAT")
	}
	dnat := plain
	dnat.Reply.Src = a("203.0.113.9")
	dnat.InferNAT()
	if !dnat.Status.Has(StatusDstNAT) || dnat.Status.Has(StatusSrcNAT) {
		t.Errorf("DNAT inferred as %b", dnat.Status)
	}
	snat := plain
	snat.Reply.DstPort = 2000
	snat.InferNAT()
	if !snat.Status.Has(StatusSrcNAT) || snat.Status.Has(StatusDstNAT) {
		t.Errorf("SNAT inferred as %b", snat.Status)
	}
}

func TestLimitAccess(t *testing.T) {
	for _, tc := range []struct {
		writable, initial Tristate
		want              LimitAccess
	}{
		{TriYes, TriYes, LimitWritable},
		{TriUnknown, TriNo, LimitWritable}, // a saved dump: not known not to be
		{TriNo, TriNo, LimitOnHost},
		{TriNo, TriYes, LimitNeedsRoot},
		{TriNo, TriUnknown, LimitReadOnly},
	} {
		s := Stats{MaxWritable: tc.writable, InitialNetNS: tc.initial}
		if got := s.LimitAccess(); got != tc.want {
			t.Errorf("writable %v, initial %v: %v, want %v", tc.writable, tc.initial, got, tc.want)
		}
	}
}
