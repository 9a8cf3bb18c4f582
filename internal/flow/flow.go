// Package flow is gostate's model of the connection-tracking table: one compact
// row per tracked connection, and the table's health figures read beside it.
//
// Every source (netlink, /proc, a saved dump) produces these types, and every
// consumer (orderings, filters, the screen and the one-shot text) reads only
// these types: nothing below this package knows where a row came from.
package flow

import (
	"net/netip"
	"strconv"
	"time"
)

// Addr is an IPv4 or IPv6 address stored in 16 bytes, IPv4 as an IPv4-mapped
// IPv6 address (::ffff:a.b.c.d).
//
// A fixed array rather than netip.Addr keeps Flow free of pointers: a firewall
// holds hundreds of thousands of rows, and pointer-free rows are never scanned
// by the garbage collector. Comparing two Addrs byte by byte orders them
// numerically.
type Addr [16]byte

// AddrFrom converts a netip.Addr. An invalid address becomes the zero Addr.
func AddrFrom(a netip.Addr) Addr {
	if !a.IsValid() {
		return Addr{}
	}
	return Addr(a.As16())
}

// AddrFromSlice converts a 4- or 16-byte address; other lengths give the zero Addr.
func AddrFromSlice(b []byte) Addr {
	var a Addr
	switch len(b) {
	case 4:
		a[10], a[11] = 0xff, 0xff
		copy(a[12:], b)
	case 16:
		copy(a[:], b)
	}
	return a
}

// Netip returns the address as a netip.Addr, unmapping IPv4 when family is
// FamilyIPv4.
func (a Addr) Netip(family Family) netip.Addr {
	ip := netip.AddrFrom16(a)
	if family == FamilyIPv4 {
		return ip.Unmap()
	}
	return ip
}

// Family is the address family of a flow.
type Family uint8

// Address families. The values are the kernel's (AF_INET, AF_INET6).
const (
	FamilyIPv4 Family = 2
	FamilyIPv6 Family = 10
)

// String returns "ipv4" or "ipv6" (the names used in JSON output).
func (f Family) String() string {
	switch f {
	case FamilyIPv4:
		return "ipv4"
	case FamilyIPv6:
		return "ipv6"
	}
	return "unknown"
}

// Tuple is one direction of a flow. Which fields carry meaning depends on the
// protocol: ports for TCP, UDP, UDP-Lite, SCTP and DCCP; ICMPType, ICMPCode and
// SrcPort (the echo id) for ICMP and ICMPv6; SrcPort and DstPort (the keys) for GRE.
type Tuple struct {
	Src, Dst Addr
	// SrcPort is the source port, the ICMP id, or the GRE source key.
	SrcPort uint16
	// DstPort is the destination port or the GRE destination key.
	DstPort  uint16
	ICMPType uint8
	ICMPCode uint8
}

// Mirror returns the tuple seen from the other end: what the reply tuple of a
// flow without NAT looks like. ICMP fields are left as they are.
func (t Tuple) Mirror() Tuple {
	m := t
	m.Src, m.Dst = t.Dst, t.Src
	m.SrcPort, m.DstPort = t.DstPort, t.SrcPort
	return m
}

// Status holds the kernel's connection status bits (enum ip_conntrack_status).
type Status uint32

// Kernel status bits that gostate reads or shows.
const (
	StatusExpected  Status = 1 << 0
	StatusSeenReply Status = 1 << 1
	StatusAssured   Status = 1 << 2
	StatusConfirmed Status = 1 << 3
	StatusSrcNAT    Status = 1 << 4
	StatusDstNAT    Status = 1 << 5
	StatusOffload   Status = 1 << 14
	StatusHWOffload Status = 1 << 15
)

// Has reports whether all bits of s2 are set.
func (s Status) Has(s2 Status) bool { return s&s2 == s2 }

// Present records which optional parts of a Flow the source supplied.
type Present uint8

// Optional parts of a Flow.
const (
	HasState    Present = 1 << iota // State is meaningful (a protocol of StateProtos)
	HasTimeout                      // Timeout is meaningful (offloaded entries have none)
	HasCounters                     // byte and packet counters (nf_conntrack_acct=1)
	HasID                           // the kernel's conntrack ID
	HasStart                        // the start time (nf_conntrack_timestamp=1)
	HasRate                         // ByteRate and PacketRate: counters read twice
)

// Flow is one tracked connection.
//
// Its size is chosen deliberately: 144 bytes on 64-bit platforms, and no
// pointers (see TestFlowSize), so 200,000 rows take 27 MiB and the garbage
// collector never looks inside them. The rates cost 8 of those bytes, 6 %
// of the table's memory, for an order and a column the screen keeps
// current without a second copy of the table.
type Flow struct {
	Orig, Reply Tuple
	Family      Family
	Proto       uint8   // L4 protocol number (6 tcp, 17 udp, ...)
	State       uint8   // protocol state number; see StateName
	Present     Present // which optional fields are set
	Zone        uint16
	Status      Status
	Mark        uint32
	ID          uint32
	// Timeout is the number of seconds left before expiry, when the flow was read.
	Timeout uint32
	// Start is when the flow began, in seconds since the Unix epoch (HasStart);
	// 32 bits hold dates until 2106 and keep the row small.
	Start                                            uint32
	OrigBytes, OrigPackets, ReplyBytes, ReplyPackets uint64
	// ByteRate and PacketRate are both directions' bytes and packets per
	// second between the last two reads of the flow's counters (HasRate):
	// its throughput, not iptstate's refresh rate.
	ByteRate, PacketRate float32
}

// Key identifies a flow across reads: the kernel allows one entry per original
// tuple, protocol and zone. The screen keeps the selection on the same Key.
type Key struct {
	Orig   Tuple
	Family Family
	Proto  uint8
	Zone   uint16
}

// Key returns the flow's identity.
func (f *Flow) Key() Key {
	return Key{Orig: f.Orig, Family: f.Family, Proto: f.Proto, Zone: f.Zone}
}

// Assured reports whether the kernel marked the flow assured (it will not be
// evicted early when the table is full).
func (f *Flow) Assured() bool { return f.Status.Has(StatusAssured) }

// Unreplied reports whether no reply has been seen yet.
func (f *Flow) Unreplied() bool { return !f.Status.Has(StatusSeenReply) }

// NATed reports whether the kernel rewrote either end of the flow.
func (f *Flow) NATed() bool { return f.Status&(StatusSrcNAT|StatusDstNAT) != 0 }

// ProtoName returns the protocol's name ("tcp", "udp", ...) or "unknown(N)";
// see ProtoName.
func (f *Flow) ProtoName() string { return ProtoName(f.Proto) }

// HasPorts reports whether the flow's protocol has ports.
func (f *Flow) HasPorts() bool { return ProtoHasPorts(f.Proto) }

// IsICMP reports whether the flow is ICMP or ICMPv6.
func (f *Flow) IsICMP() bool { return f.Proto == ProtoICMP || f.Proto == ProtoICMPv6 }

// StateName returns the name of the flow's protocol state, or "" when the
// protocol has none.
func (f *Flow) StateName() string {
	if f.Present&HasState == 0 {
		return ""
	}
	return StateName(f.Proto, f.State)
}

// Phase is how far a flow has got by the kernel's status bits alone, which
// every protocol has: what the State column shows for protocols without
// states of their own (UDP, GRE, ICMP, ...). Every flow is in exactly one
// phase.
type Phase uint8

// The phases, in the order a flow goes through them.
const (
	// PhaseUnreplied: no reply seen yet (the kernel's [UNREPLIED]): a DNS
	// query never answered, a SYN to a closed port.
	PhaseUnreplied Phase = iota
	// PhaseReplied: a reply seen, the flow not (yet) assured.
	PhaseReplied
	// PhaseAssured: assured ([ASSURED]): the kernel will not evict it
	// early when the table is full.
	PhaseAssured
	// PhaseOffload: offloaded to a flowtable, in software ([OFFLOAD]) or
	// hardware ([HW_OFFLOAD]); the kernel no longer times it out.
	PhaseOffload
	// NumPhases is the number of phases; callers size per-phase tables
	// with it.
	NumPhases
)

// phaseNames are the phases' names, as the State column and --state spell
// them.
var phaseNames = [NumPhases]string{"UNREPLIED", "REPLIED", "ASSURED", "OFFLOAD"}

// String returns the phase's name: UNREPLIED, REPLIED, ASSURED or OFFLOAD;
// "" for a value that is no phase.
func (p Phase) String() string {
	if p >= NumPhases {
		return ""
	}
	return phaseNames[p]
}

// PhaseByName returns the phase named name, as String spells it.
func PhaseByName(name string) (Phase, bool) {
	for p, n := range phaseNames {
		if n == name {
			return Phase(p), true
		}
	}
	return 0, false
}

// phaseOf maps the status bits Phase reads, packed as seen-reply (1),
// assured (2), offload (4) and hardware offload (8), to the phase: an
// offloaded flow is OFFLOAD whatever else is set, then ASSURED, then
// REPLIED. A table rather than branches, since rows of different phases
// come in no predictable order.
var phaseOf = func() (t [16]Phase) {
	for i := range t {
		switch {
		case i&12 != 0:
			t[i] = PhaseOffload
		case i&2 != 0:
			t[i] = PhaseAssured
		case i&1 != 0:
			t[i] = PhaseReplied
		}
	}
	return t
}()

// Phase returns the flow's phase, from its status bits.
func (f *Flow) Phase() Phase {
	s := f.Status
	// Seen-reply and assured are bits 1 and 2, offload and hardware
	// offload bits 14 and 15.
	return phaseOf[(s>>1)&3|(s>>12)&12]
}

// DisplayState returns the state gostate shows for the flow, in the State
// column, and selects with --state: its protocol state when it has one
// (TCP, SCTP and DCCP: ESTABLISHED, ...; STATE_n for a number newer than
// gostate), else its phase (UNREPLIED, REPLIED, ASSURED, OFFLOAD). ICMP
// shows it after its type, code and id. It never allocates: every string
// comes from a fixed table.
func (f *Flow) DisplayState() string {
	if f.Present&HasState != 0 {
		if i, ok := StateProtoIndex(f.Proto); ok {
			return stateText[i][f.State]
		}
	}
	return phaseNames[f.Phase()]
}

// TTL returns the seconds left before expiry at time now, given that the flow
// was read at readAt. It never goes below zero. Flows without a timeout
// (offloaded) return 0.
func (f *Flow) TTL(readAt, now time.Time) uint32 {
	if f.Present&HasTimeout == 0 {
		return 0
	}
	elapsed := now.Sub(readAt) / time.Second
	if elapsed <= 0 {
		return f.Timeout
	}
	if uint64(elapsed) >= uint64(f.Timeout) {
		return 0
	}
	return f.Timeout - uint32(elapsed)
}

// Bytes returns the bytes of both directions together.
func (f *Flow) Bytes() uint64 { return f.OrigBytes + f.ReplyBytes }

// Packets returns the packets of both directions together.
func (f *Flow) Packets() uint64 { return f.OrigPackets + f.ReplyPackets }

// InferNAT sets the NAT status bits from the tuples, for sources that print
// tuples but not the status word (/proc and conntrack -L): a reply tuple that
// is not the mirror of the original means the kernel rewrote an end.
func (f *Flow) InferNAT() {
	if !f.HasPorts() && !f.IsICMP() {
		// Without ports only the addresses can tell.
		if f.Reply.Src != f.Orig.Dst {
			f.Status |= StatusDstNAT
		}
		if f.Reply.Dst != f.Orig.Src {
			f.Status |= StatusSrcNAT
		}
		return
	}
	if f.Reply.Src != f.Orig.Dst || (f.HasPorts() && f.Reply.SrcPort != f.Orig.DstPort) {
		f.Status |= StatusDstNAT
	}
	if f.Reply.Dst != f.Orig.Src || (f.HasPorts() && f.Reply.DstPort != f.Orig.SrcPort) {
		f.Status |= StatusSrcNAT
	}
}

// Protocol numbers whose tuples or states gostate reads.
const (
	ProtoICMP    = 1
	ProtoTCP     = 6
	ProtoUDP     = 17
	ProtoDCCP    = 33
	ProtoGRE     = 47
	ProtoICMPv6  = 58
	ProtoSCTP    = 132
	ProtoUDPLite = 136
)

// knownProtos names the protocols as /etc/protocols does (the IANA
// keywords, in lower case, as iptstate shows them through
// getprotobynumber), except ICMPv6, which is "icmpv6" as the kernel prints
// it rather than "ipv6-icmp". The table is fixed rather than read from
// /etc/protocols so that every machine, and a saved dump read elsewhere,
// names a row alike. Protocol 0 (ip, hopopt) is no transport protocol, and
// stays unnamed.
var knownProtos = [256]string{
	ProtoICMP: "icmp", 2: "igmp", 3: "ggp", 4: "ipencap", 5: "st",
	ProtoTCP: "tcp", 8: "egp", 9: "igp", 12: "pup", ProtoUDP: "udp",
	20: "hmp", 22: "xns-idp", 27: "rdp", 29: "iso-tp4", ProtoDCCP: "dccp",
	36: "xtp", 37: "ddp", 38: "idpr-cmtp", 41: "ipv6", 43: "ipv6-route",
	44: "ipv6-frag", 45: "idrp", 46: "rsvp", ProtoGRE: "gre", 50: "esp",
	51: "ah", 57: "skip", ProtoICMPv6: "icmpv6", 59: "ipv6-nonxt",
	60: "ipv6-opts", 73: "rspf", 81: "vmtp", 88: "eigrp", 89: "ospf",
	93: "ax.25", 94: "ipip", 97: "etherip", 98: "encap", 103: "pim",
	108: "ipcomp", 112: "vrrp", 115: "l2tp", 124: "isis", ProtoSCTP: "sctp",
	133: "fc", 135: "mobility-header", ProtoUDPLite: "udplite",
	137: "mpls-in-ip", 138: "manet", 139: "hip", 140: "shim6", 141: "wesp",
	142: "rohc", 143: "ethernet",
}

// protoNames is what ProtoName returns for every protocol number, made once
// so that naming a row's protocol never allocates.
var protoNames = func() (names [256]string) {
	for p := range names {
		names[p] = knownProtos[p]
		if names[p] == "" {
			names[p] = "unknown(" + strconv.Itoa(p) + ")"
		}
	}
	return names
}()

// ProtoName returns the name of an L4 protocol number as /etc/protocols
// gives it ("tcp", "udp", "esp", "gre", ...; "icmpv6" for 58), or
// "unknown(N)" with the number for a protocol without a name there (the
// kernel prints "unknown" for every protocol it tracks only generically;
// the number tells them apart). It never allocates.
func ProtoName(proto uint8) string { return protoNames[proto] }

// ProtoKnown reports whether the protocol has a name of its own, that is
// whether ProtoName says more than "unknown(N)".
func ProtoKnown(proto uint8) bool { return knownProtos[proto] != "" }

// ProtoByName returns the protocol number for a name ProtoName returns
// ("tcp", "unknown(253)"; not "unknown(6)", which is tcp) or a decimal
// number from 0 to 255; ok is false otherwise.
func ProtoByName(name string) (proto uint8, ok bool) {
	for i, n := range protoNames {
		if n == name {
			return uint8(i), true
		}
	}
	n, err := strconv.ParseUint(name, 10, 8)
	if err != nil {
		return 0, false
	}
	return uint8(n), true
}

// ProtoHasPorts reports whether the protocol's tuples carry ports.
func ProtoHasPorts(proto uint8) bool {
	switch proto {
	case ProtoTCP, ProtoUDP, ProtoUDPLite, ProtoSCTP, ProtoDCCP:
		return true
	}
	return false
}

// TCP states, as numbered by the kernel (enum tcp_conntrack).
const (
	TCPNone uint8 = iota
	TCPSynSent
	TCPSynRecv
	TCPEstablished
	TCPFinWait
	TCPCloseWait
	TCPLastAck
	TCPTimeWait
	TCPClose
	TCPSynSent2
)

// StateProtos are the protocols whose entries carry a connection state (TCP,
// SCTP, DCCP), in the order StateProtoIndex numbers them. Callers size
// per-protocol tables with len(StateProtos) and index them with
// StateProtoIndex; they must not modify it.
var StateProtos = [...]uint8{ProtoTCP, ProtoSCTP, ProtoDCCP}

// stateNames holds the state names of each of StateProtos, in the same
// order, indexed by the kernel's state numbers, as /proc prints them.
var stateNames = [len(StateProtos)][]string{
	{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
		"CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"},
	{"NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED",
		"SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT", "HEARTBEAT_ACKED"},
	{"NONE", "REQUEST", "RESPOND", "PARTOPEN", "OPEN",
		"CLOSEREQ", "CLOSING", "TIMEWAIT", "IGNORE", "INVALID"},
}

// stateIndex maps a protocol number to its place in StateProtos, and
// protocols without states to 255.
var stateIndex = func() (idx [256]uint8) {
	for p := range idx {
		idx[p] = 255
	}
	for i, p := range StateProtos {
		idx[p] = uint8(i)
	}
	return idx
}()

// StateProtoIndex returns the protocol's place in StateProtos; ok is false
// for protocols without connection states. Views, filters and sorts ask it
// for every row: it is one table load, and ok is i < len(StateProtos), so a
// caller that indexes a [len(StateProtos)] table with i after checking ok
// pays no bounds check.
func StateProtoIndex(proto uint8) (i int, ok bool) {
	i = int(stateIndex[proto])
	return i, i < len(StateProtos)
}

func stateTable(proto uint8) []string {
	if i, ok := StateProtoIndex(proto); ok {
		return stateNames[i]
	}
	return nil
}

// stateText is what StateName returns for every state number: per
// StateProtoIndex, the protocol's names and STATE_n past them; in the last
// row, STATE_n for protocols without states. Made once so that naming a
// row's state never allocates.
var stateText = func() (t [len(StateProtos) + 1][256]string) {
	for i := range t {
		for st := range t[i] {
			if i < len(StateProtos) && st < len(stateNames[i]) {
				t[i][st] = stateNames[i][st]
			} else {
				t[i][st] = "STATE_" + strconv.Itoa(st)
			}
		}
	}
	return t
}()

// StateName returns the kernel's name for a protocol state, or "STATE_n" for a
// number newer than gostate. It never allocates.
func StateName(proto, state uint8) string {
	i, ok := StateProtoIndex(proto)
	if !ok {
		i = len(StateProtos)
	}
	return stateText[i][state]
}

// StateByName returns the state number for a kernel state name of proto.
func StateByName(proto uint8, name string) (state uint8, ok bool) {
	for i, n := range stateTable(proto) {
		if n == name {
			return uint8(i), true
		}
	}
	return 0, false
}
