package nstest

import (
	"net/netip"
	"testing"

	"github.com/ti-mo/conntrack"
)

// Status words for synthetic entries. The kernel refuses a non-zero status
// without the confirmed bit (EBUSY).
const (
	unreplied = conntrack.StatusConfirmed
	replied   = conntrack.StatusConfirmed | conntrack.StatusSeenReply
	assured   = replied | conntrack.StatusAssured
)

// TCP state numbers as the kernel numbers them; ti-mo/conntrack has no names.
const (
	tcpNone uint8 = iota
	tcpSynSent
	tcpSynRecv
	tcpEstablished
	tcpFinWait
	tcpCloseWait
	tcpLastAck
	tcpTimeWait
	tcpClose
	tcpSynSent2
)

// InsertSynthetic inserts a fixed variety of entries into the namespace's
// table and returns them as inserted: TCP over IPv4 in every state from NONE
// to SYN_SENT2, UDP replied and unreplied, ICMP and ICMPv6 echo, TCP and UDP
// over IPv6, entries with non-zero marks, one loopback entry, and the same
// original tuple twice, in zone 0 and in zone 7 (the kernel keeps one entry
// per tuple and zone). Every TTL is distinct, so a test can match them.
// Addresses come only from 127.0.0.0/8 and the documentation ranges.
func (ns *NS) InsertSynthetic(t testing.TB) []conntrack.Flow {
	t.Helper()
	flows := syntheticFlows()
	c := ns.Conn(t)
	for _, f := range flows {
		if err := c.Create(f); err != nil {
			t.Fatalf("nstest: insert %v in %s: %v", f.TupleOrig, ns.name, err)
		}
	}
	return flows
}

func syntheticFlows() []conntrack.Flow {
	var flows []conntrack.Flow
	add := func(f conntrack.Flow) {
		// Distinct TTLs, far from any default, let a test pair rows from two
		// sources by TTL as well as by tuple.
		f.Timeout = 3000 + 10*uint32(len(flows))
		flows = append(flows, f)
	}

	tcpStatus := map[uint8]conntrack.Status{
		tcpNone: unreplied, tcpSynSent: unreplied, tcpSynRecv: replied, tcpSynSent2: replied,
	}
	for st := tcpNone; st <= tcpSynSent2; st++ {
		status, ok := tcpStatus[st]
		if !ok {
			status = assured
		}
		var mark uint32
		if st == tcpEstablished {
			mark = 0x2a
		}
		add(withTCPState(conntrack.NewFlow(6, status, ip("192.0.2.10"), ip("198.51.100.20"),
			40000+uint16(st), 443, 0, mark), st))
	}

	add(conntrack.NewFlow(17, assured, ip("192.0.2.11"), ip("198.51.100.53"), 53000, 53, 0, 7))
	add(conntrack.NewFlow(17, unreplied, ip("192.0.2.12"), ip("203.0.113.9"), 53001, 123, 0, 0))

	add(echo(1, 8, 0, ip("192.0.2.13"), ip("203.0.113.1"), 4242))
	add(echo(58, 128, 129, ip("2001:db8::13"), ip("2001:db8::1"), 4243))

	add(withTCPState(conntrack.NewFlow(6, assured, ip("2001:db8::10"), ip("2001:db8::20"),
		40100, 22, 0, 0xdead), tcpEstablished))
	add(conntrack.NewFlow(17, unreplied, ip("2001:db8::11"), ip("2001:db8::53"), 40101, 53, 0, 0))

	add(withTCPState(conntrack.NewFlow(6, assured, ip("127.0.0.1"), ip("127.0.0.1"),
		40300, 5432, 0, 0), tcpEstablished))

	for _, zone := range []uint16{0, 7} {
		f := withTCPState(conntrack.NewFlow(6, assured, ip("192.0.2.14"), ip("198.51.100.80"),
			40200, 80, 0, uint32(zone)), tcpEstablished)
		f.Zone = zone
		add(f)
	}
	return flows
}

// echo returns an ICMP or ICMPv6 echo request whose reply tuple carries the
// echo reply type, as the kernel requires.
func echo(proto, reqType, replyType uint8, src, dst netip.Addr, id uint16) conntrack.Flow {
	f := conntrack.NewFlow(proto, replied, src, dst, 0, 0, 0, 0)
	f.TupleOrig.Proto.ICMPType = reqType
	f.TupleOrig.Proto.ICMPID = id
	f.TupleReply.Proto.ICMPType = replyType
	f.TupleReply.Proto.ICMPID = id
	return f
}

func withTCPState(f conntrack.Flow, state uint8) conntrack.Flow {
	f.ProtoInfo.TCP = &conntrack.ProtoInfoTCP{State: state}
	return f
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }
