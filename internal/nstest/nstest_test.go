package nstest

import (
	"net/netip"
	"testing"

	"github.com/ti-mo/conntrack"
)

// key identifies an entry the way the kernel does: original tuple and zone.
type key struct {
	proto    uint8
	src, dst netip.Addr
	sport    uint16
	dport    uint16
	icmpID   uint16
	zone     uint16
}

func keyOf(f conntrack.Flow) key {
	o := f.TupleOrig
	return key{o.Proto.Protocol, o.IP.SourceAddress, o.IP.DestinationAddress,
		o.Proto.SourcePort, o.Proto.DestinationPort, o.Proto.ICMPID, f.Zone}
}

func dump(t *testing.T, ns *NS) map[key]conntrack.Flow {
	t.Helper()
	flows, err := ns.Conn(t).Dump(nil)
	if err != nil {
		t.Fatalf("dump %s: %v", ns.Name(), err)
	}
	m := make(map[key]conntrack.Flow, len(flows))
	for _, f := range flows {
		m[keyOf(f)] = f
	}
	return m
}

// The entries land in the namespace whose fd the socket was dialed with, and
// nowhere else: a second namespace stays empty.
func TestInsertSyntheticGoesToItsNamespace(t *testing.T) {
	a, b := New(t), New(t)
	want := a.InsertSynthetic(t)
	if got := a.Count(t); got != len(want) {
		t.Errorf("%s holds %d entries, want %d", a.Name(), got, len(want))
	}
	if got := b.Count(t); got != 0 {
		t.Errorf("%s holds %d entries, want 0: inserts leaked out of %s", b.Name(), got, a.Name())
	}

	got := dump(t, a)
	states := map[uint8]bool{}
	var zoned, marked, v6, icmp, icmp6, unrepliedUDP int
	for _, w := range want {
		g, ok := got[keyOf(w)]
		if !ok {
			t.Errorf("entry %v zone %d missing from the dump", w.TupleOrig, w.Zone)
			continue
		}
		if g.Mark != w.Mark {
			t.Errorf("%v: mark %#x, want %#x", w.TupleOrig, g.Mark, w.Mark)
		}
		const shown = conntrack.StatusSeenReply | conntrack.StatusAssured
		if g.Status&shown != w.Status&shown {
			t.Errorf("%v: status %v, want %v", w.TupleOrig, g.Status, w.Status)
		}
		if w.ProtoInfo.TCP != nil {
			if g.ProtoInfo.TCP == nil || g.ProtoInfo.TCP.State != w.ProtoInfo.TCP.State {
				t.Errorf("%v: TCP info %+v, want state %d", w.TupleOrig, g.ProtoInfo.TCP, w.ProtoInfo.TCP.State)
			} else {
				states[g.ProtoInfo.TCP.State] = true
			}
		}
		if g.Timeout > w.Timeout || g.Timeout+5 < w.Timeout {
			t.Errorf("%v: timeout %d, want about %d", w.TupleOrig, g.Timeout, w.Timeout)
		}
		if g.Zone != 0 {
			zoned++
		}
		if g.Mark != 0 {
			marked++
		}
		if g.TupleOrig.IP.SourceAddress.Is6() {
			v6++
		}
		switch g.TupleOrig.Proto.Protocol {
		case 1:
			icmp++
		case 58:
			icmp6++
		case 17:
			if !g.Status.SeenReply() {
				unrepliedUDP++
			}
		}
	}
	// The variety the real-kernel tests rely on.
	if len(states) != 10 || zoned == 0 || marked == 0 || v6 < 3 || icmp != 1 || icmp6 != 1 || unrepliedUDP == 0 {
		t.Errorf("variety: %d TCP states, %d zoned, %d marked, %d IPv6, %d icmp, %d icmpv6, %d unreplied udp",
			len(states), zoned, marked, v6, icmp, icmp6, unrepliedUDP)
	}
}

func TestLoopbackTraffic(t *testing.T) {
	ns := New(t)
	lb := ns.LoopbackTraffic(t)
	got := dump(t, ns)
	tcp, ok := got[key{proto: 6, src: lb.TCPClient.Addr(), dst: lb.TCPServer.Addr(),
		sport: lb.TCPClient.Port(), dport: lb.TCPServer.Port()}]
	if !ok {
		t.Fatalf("no entry for TCP %v -> %v in %v", lb.TCPClient, lb.TCPServer, got)
	}
	if tcp.ProtoInfo.TCP == nil || tcp.ProtoInfo.TCP.State != tcpEstablished || !tcp.Status.Assured() {
		t.Errorf("TCP entry: status %v, info %+v; want assured and ESTABLISHED", tcp.Status, tcp.ProtoInfo.TCP)
	}
	udp, ok := got[key{proto: 17, src: lb.UDPClient.Addr(), dst: lb.UDPServer.Addr(),
		sport: lb.UDPClient.Port(), dport: lb.UDPServer.Port()}]
	if !ok {
		t.Fatalf("no entry for UDP %v -> %v", lb.UDPClient, lb.UDPServer)
	}
	if !udp.Status.SeenReply() {
		t.Errorf("UDP entry: status %v, want a seen reply", udp.Status)
	}
}

func TestNATFlow(t *testing.T) {
	ns := New(t)
	nat := ns.NATFlow(t)
	got := dump(t, ns)
	f, ok := got[key{proto: 6, src: nat.Client.Addr(), dst: nat.Orig.Addr(),
		sport: nat.Client.Port(), dport: nat.Orig.Port()}]
	if !ok {
		t.Fatalf("no entry for %v -> %v", nat.Client, nat.Orig)
	}
	if !f.Status.DstNAT() {
		t.Errorf("status %v lacks destination NAT", f.Status)
	}
	r := f.TupleReply
	if r.IP.SourceAddress != nat.Translated.Addr() || r.Proto.SourcePort != nat.Translated.Port() {
		t.Errorf("reply tuple %v, want it to come from %v", r, nat.Translated)
	}
}
