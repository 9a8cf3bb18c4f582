package nstest

import (
	"net/netip"
	"os"
	"syscall"
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

// Do really runs in the namespace: the thread's network namespace is the
// file's.
func TestDoJoinsTheNamespace(t *testing.T) {
	ns := New(t)
	want := inode(t, ns.Path())
	ns.Do(t, func() error {
		if got := inode(t, "/proc/thread-self/ns/net"); got != want {
			t.Errorf("thread's namespace inode %d, want %d", got, want)
		}
		return nil
	})
	if got := inode(t, "/proc/thread-self/ns/net"); got == want {
		t.Error("the caller's thread moved into the namespace")
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestFill(t *testing.T) {
	ns := New(t)
	const n = 5000
	ns.Fill(t, n)
	if got := ns.Count(t); got != n {
		t.Errorf("count %d after filling %d", got, n)
	}
	// The hand-made netlink requests say what fillFlow says.
	got := dump(t, ns)
	for i := range n {
		w := fillFlow(i, "mix", 3600)
		g, ok := got[keyOf(w)]
		switch {
		case !ok:
			t.Fatalf("entry %d (%v) missing", i, w.TupleOrig)
		case g.TupleReply.IP != w.TupleReply.IP || g.TupleReply.Proto.SourcePort != w.TupleReply.Proto.SourcePort:
			t.Fatalf("entry %d: reply tuple %v, want %v", i, g.TupleReply, w.TupleReply)
		case g.Mark != w.Mark || g.Status != w.Status || g.Timeout > w.Timeout || g.Timeout+5 < w.Timeout:
			t.Fatalf("entry %d: mark %d status %v timeout %d, want %d %v %d",
				i, g.Mark, g.Status, g.Timeout, w.Mark, w.Status, w.Timeout)
		case (w.ProtoInfo.TCP == nil) != (g.ProtoInfo.TCP == nil),
			w.ProtoInfo.TCP != nil && g.ProtoInfo.TCP.State != w.ProtoInfo.TCP.State:
			t.Fatalf("entry %d: TCP info %+v, want %+v", i, g.ProtoInfo.TCP, w.ProtoInfo.TCP)
		}
	}
	// A second fill of the same namespace finds its entries there.
	r, err := FillNetNS(ns.Path(), 100, FillOptions{Proto: "mix"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Created != 0 || r.Existing != 100 || r.Full {
		t.Errorf("refill: %+v, want 100 existing", r)
	}
}

func TestFillFlowsAreDistinct(t *testing.T) {
	const n = 200000
	seen := make(map[key]int, n)
	protos := map[uint8]int{}
	for i := range n {
		f := fillFlow(i, "mix", 3600)
		k := keyOf(f)
		if j, dup := seen[k]; dup {
			t.Fatalf("entries %d and %d share the tuple %v", j, i, f.TupleOrig)
		}
		seen[k] = i
		protos[k.proto]++
		if f.Timeout < 1800 || f.Timeout > 3600 {
			t.Fatalf("entry %d: timeout %d outside 1800..3600", i, f.Timeout)
		}
		for _, a := range []netip.Addr{k.src, k.dst} {
			if !documentation(a) {
				t.Fatalf("entry %d uses %v, outside the documentation ranges", i, a)
			}
		}
	}
	if protos[6] != n/2 || protos[17] != n/2 {
		t.Errorf("mix gave %d tcp and %d udp, want half each", protos[6], protos[17])
	}
}

func documentation(a netip.Addr) bool {
	for _, p := range []string{"192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"} {
		if netip.MustParsePrefix(p).Contains(a) {
			return true
		}
	}
	return false
}

func TestFillRejectsBadOptions(t *testing.T) {
	if _, err := FillNetNS("/nonexistent", 1, FillOptions{Proto: "sctp"}); err == nil {
		t.Error("protocol sctp accepted")
	}
	if _, err := FillNetNS("/nonexistent", -1, FillOptions{}); err == nil {
		t.Error("negative count accepted")
	}
	if _, err := FillNetNS("/nonexistent", 1, FillOptions{}); err == nil {
		t.Error("missing namespace file accepted")
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
