package advise

import (
	"slices"
	"testing"

	"github.com/gostate/gostate/internal/flow"
)

// rows returns n rows of proto in state (a protocol state number, or the
// status bits' phase for protocols without states) with ttl seconds left.
func rows(n int, proto, state uint8, status flow.Status, ttl uint32) []flow.Flow {
	f := flow.Flow{Proto: proto, State: state, Status: status, Timeout: ttl, Present: flow.HasTimeout}
	if _, ok := flow.StateProtoIndex(proto); ok {
		f.Present |= flow.HasState
	}
	return slices.Repeat([]flow.Flow{f}, n)
}

func TestStates(t *testing.T) {
	const replied = flow.StatusSeenReply | flow.StatusAssured | flow.StatusConfirmed
	in := full()
	in.RowsRead = true
	in.Rows = slices.Concat(
		rows(900, flow.ProtoTCP, flow.TCPEstablished, replied, 3600),
		rows(100, flow.ProtoTCP, flow.TCPEstablished, replied, 431990),
		rows(1, flow.ProtoTCP, flow.TCPEstablished, replied, 432000-3600), // an hour exactly: not over
		rows(50, flow.ProtoTCP, flow.TCPTimeWait, replied, 100),
		rows(3, flow.ProtoSCTP, 4, replied, 200), // SCTP ESTABLISHED
		rows(2, flow.ProtoUDP, 0, replied, 100),
		rows(2, flow.ProtoUDP, 0, 0, 20),
		rows(1, flow.ProtoGRE, 0, flow.StatusSeenReply, 100),
		rows(1, flow.ProtoICMP, 0, 0, 20),
		rows(1, 50, 0, 0, 500), // esp: the generic timeout
	)
	// Offloaded: TCP shows its state, UDP its phase, OFFLOAD.
	for _, proto := range []uint8{flow.ProtoTCP, flow.ProtoUDP} {
		off := rows(1, proto, flow.TCPEstablished, replied|flow.StatusOffload, 0)
		off[0].Present &^= flow.HasTimeout
		in.Rows = append(in.Rows, off...)
	}
	in.Timeouts = []flow.Timeout{
		{Name: "generic", Seconds: 600}, {Name: "gre_stream", Seconds: 180}, {Name: "icmp", Seconds: 30},
		{Name: "sctp_established", Seconds: 210}, {Name: "tcp_established", Seconds: 432000},
		{Name: "tcp_time_wait", Seconds: 120}, {Name: "udp", Seconds: 30}, {Name: "udp_stream", Seconds: 120},
	}
	r := Advise(in)
	if !r.IdleKnown || r.IdleOver1h != 900 || r.EstablishedTimeout != 432000 || r.Rows != 1063 {
		t.Errorf("idle known %v, over 1 h %d, timeout %d, rows %d; want 900 of 1063 rows", r.IdleKnown, r.IdleOver1h, r.EstablishedTimeout, r.Rows)
	}
	want := []State{
		{"tcp", "ESTABLISHED", 1002, 100 * 1002 / 1063.0, 432000, "nf_conntrack_tcp_timeout_established"},
		{"tcp", "TIME_WAIT", 50, 100 * 50 / 1063.0, 120, "nf_conntrack_tcp_timeout_time_wait"},
		{"sctp", "ESTABLISHED", 3, 100 * 3 / 1063.0, 210, "nf_conntrack_sctp_timeout_established"},
		{"udp", "ASSURED", 2, 100 * 2 / 1063.0, 120, "nf_conntrack_udp_timeout_stream"},
		{"udp", "UNREPLIED", 2, 100 * 2 / 1063.0, 30, "nf_conntrack_udp_timeout"},
		{"esp", "UNREPLIED", 1, 100 * 1 / 1063.0, 600, "nf_conntrack_generic_timeout"},
		{"gre", "REPLIED", 1, 100 * 1 / 1063.0, 180, "nf_conntrack_gre_timeout_stream"},
		{"icmp", "UNREPLIED", 1, 100 * 1 / 1063.0, 30, "nf_conntrack_icmp_timeout"},
		{"udp", "OFFLOAD", 1, 100 * 1 / 1063.0, -1, ""},
	}
	if !slices.Equal(r.States, want) {
		t.Errorf("states\n%v\nwant\n%v", r.States, want)
	}

	// Without the timeouts: no timeout, no idle count, and a word on why.
	in.Timeouts = nil
	r = Advise(in)
	if r.IdleKnown || r.States[0].Timeout != -1 || r.States[0].TimeoutSysctl == "" || len(r.Unknown) != 1 {
		t.Errorf("no timeouts: idle known %v, %+v, unknown %q", r.IdleKnown, r.States[0], r.Unknown)
	}
}

func TestSysctlName(t *testing.T) {
	for name, want := range map[string]string{
		"tcp_established":        "nf_conntrack_tcp_timeout_established",
		"udp":                    "nf_conntrack_udp_timeout",
		"gre_stream":             "nf_conntrack_gre_timeout_stream",
		"icmpv6":                 "nf_conntrack_icmpv6_timeout",
		"sctp_shutdown_ack_sent": "nf_conntrack_sctp_timeout_shutdown_ack_sent",
	} {
		if got := SysctlName(name); got != want {
			t.Errorf("SysctlName(%q) = %q, want %q", name, got, want)
		}
	}
}
