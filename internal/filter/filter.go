// Package filter decides which flows a view shows: iptstate's address and
// port filters (-s -d -S -D, inverted by -i), its loopback and DNS toggles
// (-f -L), and gostate's own: any address of a flow (--host, also inverted
// by -i), the protocol and state lists (--proto, --state: the states as the
// State column shows them, phases such as UNREPLIED among them), the
// connection mark (--mark) and the zone (--zone).
//
// The address and port filters look at the ORIGINAL tuple, the connection
// as its initiator sent it (as iptstate does): a flow whose destination was
// rewritten by DNAT matches -d with the address the client asked for, not
// the one it reached. --host looks at both tuples, so it finds the flow by
// the address it reached, or by the address SNAT gave it, too.
//
// Each address, port, mark and zone filter is a list: a flow matches it
// when it matches any item.
package filter

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/gostate/gostate/internal/flow"
)

// Filter selects flows. The zero Filter shows everything. A Filter is a
// plain value: copy it to keep an old setting while the user edits a new one
// (its lists are never changed in place).
type Filter struct {
	// Src and Dst keep flows whose original source / destination address is
	// in any of the prefixes; an empty list does not filter. An IPv4 prefix
	// never matches an IPv6 flow, nor an IPv6 prefix an IPv4 flow, even
	// one written IPv4-mapped (::ffff:192.0.2.1 matches only IPv6 flows
	// that carry that mapped address).
	Src, Dst Prefixes
	// Host keeps flows with an address in any of the prefixes at either end
	// of either tuple: the original source and destination, and the reply
	// source and destination, where a NAT'd flow shows the address the
	// kernel rewrote it to (the DNAT backend, the SNAT address).
	Host Prefixes
	// SrcPort and DstPort keep flows with any of these original source /
	// destination ports; an empty list does not filter. Flows whose
	// protocol has no ports (ICMP, GRE, ...) never match a port.
	SrcPort, DstPort Ports
	// Invert (-i) turns each of Src, Dst, Host, SrcPort and DstPort around,
	// as iptstate does: each set one HIDES the flows it matches, so
	// -s 192.0.2.1 -D 80 -i shows flows that are neither from 192.0.2.1 nor
	// to port 80. It does not affect the other filters.
	Invert bool
	// NoLoopback (-f) hides flows with a loopback address (127.0.0.0/8, ::1,
	// or in an IPv6 flow ::ffff:127.0.0.0/104) at either end of the
	// original tuple.
	NoLoopback bool
	// NoDNS (-L) hides flows with port 53 at either end.
	NoDNS bool
	// Protos keeps only flows of these protocols; the empty set keeps all.
	Protos ProtoSet
	// States keeps only flows in these states (protocol states and
	// phases, as the State column shows them); the empty set keeps all.
	// Flows whose protocol has no states (UDP, ICMP, ...) never match a
	// protocol state, and every flow has a phase.
	States StateSet
	// Mark keeps flows whose connection mark matches any of the marks
	// (mark & mask == value & mask); an empty list does not filter.
	Mark Marks
	// Zone keeps flows in any of these conntrack zones; an empty list does
	// not filter.
	Zone Zones
}

// Active reports whether any filter is set, that is whether Match can hide
// a flow. Invert alone changes nothing.
func (f *Filter) Active() bool {
	return !f.Src.Empty() || !f.Dst.Empty() || !f.Host.Empty() || !f.SrcPort.Empty() || !f.DstPort.Empty() ||
		f.NoLoopback || f.NoDNS || !f.Protos.Empty() || !f.States.Empty() || !f.Mark.Empty() || !f.Zone.Empty()
}

// Match reports whether the filter shows the flow. It allocates nothing.
func (f *Filter) Match(fl *flow.Flow) bool {
	if f.NoLoopback && (isLoopback(fl.Family, &fl.Orig.Src) || isLoopback(fl.Family, &fl.Orig.Dst)) {
		return false
	}
	if f.NoDNS && fl.HasPorts() && (fl.Orig.SrcPort == 53 || fl.Orig.DstPort == 53) {
		return false
	}
	if !f.Protos.Empty() && !f.Protos.Has(fl.Proto) {
		return false
	}
	if !f.States.Empty() && !f.States.Match(fl) {
		return false
	}
	if !f.Zone.Empty() && !f.Zone.Contains(fl.Zone) {
		return false
	}
	if !f.Mark.Empty() && !f.Mark.Contains(fl.Mark) {
		return false
	}
	// Each set filter must match, or with Invert must not.
	if !f.Src.Empty() && f.Src.Contains(fl.Family, &fl.Orig.Src) == f.Invert {
		return false
	}
	if !f.Dst.Empty() && f.Dst.Contains(fl.Family, &fl.Orig.Dst) == f.Invert {
		return false
	}
	if !f.SrcPort.Empty() && (fl.HasPorts() && f.SrcPort.Contains(fl.Orig.SrcPort)) == f.Invert {
		return false
	}
	if !f.DstPort.Empty() && (fl.HasPorts() && f.DstPort.Contains(fl.Orig.DstPort)) == f.Invert {
		return false
	}
	if !f.Host.Empty() && f.Host.ContainsAny(fl) == f.Invert {
		return false
	}
	return true
}

var (
	loopback6 = flow.AddrFrom(netip.IPv6Loopback())
	// v4InV6 is how an IPv4-mapped IPv6 address starts (::ffff:0:0/96).
	v4InV6 = [12]byte{10: 0xff, 11: 0xff}
)

// isLoopback reports whether a is a loopback address of family fam. IPv4 is
// stored IPv4-mapped, a.b.c.d in a[12:16]; an IPv6 flow between mapped
// loopback addresses (::ffff:127.0.0.1) is loopback traffic too.
func isLoopback(fam flow.Family, a *flow.Addr) bool {
	if fam == flow.FamilyIPv4 {
		return a[12] == 127
	}
	return *a == loopback6 || ([12]byte(a[:12]) == v4InV6 && a[12] == 127)
}

// Describe says in one line what the filter does, for headers and the help
// screen: "src 192.0.2.0/24, dport 443 (inverted), no loopback, proto tcp".
// It returns "" when the filter is not Active.
func (f *Filter) Describe() string {
	var parts []string
	if !f.Src.Empty() {
		parts = append(parts, "src "+f.Src.String())
	}
	if !f.SrcPort.Empty() {
		parts = append(parts, "sport "+f.SrcPort.String())
	}
	if !f.Dst.Empty() {
		parts = append(parts, "dst "+f.Dst.String())
	}
	if !f.DstPort.Empty() {
		parts = append(parts, "dport "+f.DstPort.String())
	}
	if !f.Host.Empty() {
		parts = append(parts, "host "+f.Host.String())
	}
	if f.Invert && len(parts) > 0 {
		parts[len(parts)-1] += " (inverted)"
	}
	if f.NoLoopback {
		parts = append(parts, "no loopback")
	}
	if f.NoDNS {
		parts = append(parts, "no DNS")
	}
	if !f.Protos.Empty() {
		parts = append(parts, "proto "+f.Protos.String())
	}
	if !f.States.Empty() {
		parts = append(parts, "state "+f.States.String())
	}
	if !f.Mark.Empty() {
		parts = append(parts, "mark "+f.Mark.String())
	}
	if !f.Zone.Empty() {
		parts = append(parts, "zone "+f.Zone.String())
	}
	return strings.Join(parts, ", ")
}

// prefixString writes a one-address prefix as the bare address.
func prefixString(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// ParsePrefix reads one address filter: ADDR or ADDR/PREFIX, IPv4 or IPv6.
// A bare address matches only itself. Host bits after the prefix length are
// cleared (192.0.2.7/24 means 192.0.2.0/24). An IPv4-mapped IPv6 address
// (::ffff:192.0.2.7) stays IPv6: it is an address IPv6 flows may carry, and
// no IPv4 flow has it.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Prefix{}, fmt.Errorf("empty address: want ADDR or ADDR/PREFIX, such as 192.0.2.0/24 or 2001:db8::/32")
	}
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid address %q: want ADDR or ADDR/PREFIX, such as 192.0.2.0/24 or 2001:db8::/32", s)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid address %q: want ADDR or ADDR/PREFIX, such as 192.0.2.1 or 2001:db8::1", s)
		}
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("invalid address %q: zones (%%%s) are not part of conntrack entries", s, a.Zone())
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	return p.Masked(), nil
}

// ParsePort reads a port filter: a decimal number from 1 to 65535.
func ParsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("invalid port %q: want a number from 1 to 65535", s)
	}
	return uint16(n), nil
}

// ProtoSet is a set of L4 protocol numbers. The zero ProtoSet is empty,
// which a Filter takes as "every protocol".
type ProtoSet [4]uint64

// Has reports whether proto is in the set.
func (s *ProtoSet) Has(proto uint8) bool { return s[proto/64]&(1<<(proto%64)) != 0 }

// Add puts proto in the set.
func (s *ProtoSet) Add(proto uint8) { s[proto/64] |= 1 << (proto % 64) }

// Empty reports whether the set holds no protocol.
func (s *ProtoSet) Empty() bool { return *s == ProtoSet{} }

// String lists the protocols by name (numbers for those without one),
// comma-separated, in protocol number order: "tcp,udp".
func (s *ProtoSet) String() string {
	var names []string
	for p := range 256 {
		if s.Has(uint8(p)) {
			names = append(names, protoString(uint8(p)))
		}
	}
	return strings.Join(names, ",")
}

// protoString is a protocol's name, or for one without a name its number,
// as --proto takes it.
func protoString(p uint8) string {
	if flow.ProtoKnown(p) {
		return flow.ProtoName(p)
	}
	return strconv.Itoa(int(p))
}

// protoAliases are other names people type for protocols: /etc/protocols'
// and iptstate's spellings of ICMPv6, the aliases /etc/protocols gives
// beside a name, and IANA's keyword for protocol 4.
var protoAliases = map[string]uint8{
	"ipv6-icmp": flow.ProtoICMPv6, "icmp6": flow.ProtoICMPv6,
	"ip-encap": 4, "ipv4": 4, "ipsec-esp": 50, "ipsec-ah": 51, "ospfigp": 89,
}

// ParseProtos reads a comma-separated list of protocols: names as
// /etc/protocols gives them (tcp, udp, udplite, sctp, dccp, icmp, icmpv6,
// igmp, gre, esp, ah, ipencap, ipip, ipv6, ospf, pim, vrrp, l2tp, ...; any
// case), numbers 0-255, or unknown(N) as the protocol column shows a
// protocol without a name. Empty items are ignored, but a list without any
// item is an error: an empty answer is not a protocol.
func ParseProtos(list string) (ProtoSet, error) {
	var set ProtoSet
	for item := range strings.SplitSeq(list, ",") {
		item = strings.ToLower(strings.TrimSpace(item))
		if item == "" {
			continue
		}
		p, ok := flow.ProtoByName(item)
		if !ok {
			p, ok = protoAliases[item]
		}
		if !ok {
			return ProtoSet{}, fmt.Errorf("unknown protocol %q: want a name as /etc/protocols gives it (tcp, udp, icmp, icmpv6, sctp, gre, esp, ah, ...) or a number from 0 to 255", item)
		}
		set.Add(p)
	}
	if set.Empty() {
		return ProtoSet{}, fmt.Errorf("no protocol in %q: want a comma-separated list such as tcp,udp or esp,50", list)
	}
	return set, nil
}

// StateSet is a set of states as the State column shows them
// (flow.Flow.DisplayState): protocol states and phases. A state name
// selects that state in every protocol that has it (ESTABLISHED is a TCP
// and an SCTP state); a phase (UNREPLIED, REPLIED, ASSURED, OFFLOAD)
// selects the flows in that phase (flow.Flow.Phase), of EVERY protocol: a
// TCP flow in SYN_SENT is UNREPLIED too. The zero StateSet is empty, which
// a Filter takes as "every state".
type StateSet struct {
	bits   [len(flow.StateProtos)][4]uint64 // per flow.StateProtoIndex, a bit per state number
	phases uint8                            // a bit per flow.Phase
	// states is set when bits holds any state, so that Empty, asked for
	// every row, reads two bytes rather than comparing the whole set.
	states bool
}

// Has reports whether the state numbered state of protocol proto is in the
// set.
func (s *StateSet) Has(proto, state uint8) bool {
	i, ok := flow.StateProtoIndex(proto)
	return ok && s.bits[i][state/64]&(1<<(state%64)) != 0
}

// HasPhase reports whether the phase is in the set.
func (s *StateSet) HasPhase(p flow.Phase) bool { return s.phases&(1<<p) != 0 }

// Match reports whether the set holds the flow's phase, or its protocol
// state when it has one.
func (s *StateSet) Match(f *flow.Flow) bool {
	if s.phases != 0 && s.HasPhase(f.Phase()) {
		return true
	}
	return f.Present&flow.HasState != 0 && s.Has(f.Proto, f.State)
}

// Empty reports whether the set holds no state.
func (s *StateSet) Empty() bool { return s.phases == 0 && !s.states }

// String lists the names in the set, comma-separated, alphabetically.
func (s *StateSet) String() string {
	var names []string
	for _, name := range stateNames() {
		if p, ok := flow.PhaseByName(name); ok {
			if s.HasPhase(p) {
				names = append(names, name)
			}
			continue
		}
		for i, p := range flow.StateProtos {
			if st, ok := flow.StateByName(p, name); ok && s.bits[i][st/64]&(1<<(st%64)) != 0 {
				names = append(names, name)
				break
			}
		}
	}
	return strings.Join(names, ",")
}

// stateNames returns every state name of every protocol and every phase,
// sorted, once each.
func stateNames() []string {
	var names []string
	for _, p := range flow.StateProtos {
		for st := range 256 {
			if _, ok := flow.StateByName(p, flow.StateName(p, uint8(st))); !ok {
				break // the first number past the protocol's names
			}
			names = append(names, flow.StateName(p, uint8(st)))
		}
	}
	for p := range flow.NumPhases {
		names = append(names, p.String())
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// ParseStates reads a comma-separated list of states as the State column
// shows them, in any case and with - for _ (time-wait): the kernel's state
// names (ESTABLISHED, TIME_WAIT, SYN_SENT2, ... of TCP, SCTP and DCCP) and
// the phases (UNREPLIED, REPLIED, ASSURED, OFFLOAD). Empty items are
// ignored, but a list without any item is an error: an empty answer is not
// a state.
func ParseStates(list string) (StateSet, error) {
	var set StateSet
	for item := range strings.SplitSeq(list, ",") {
		name := strings.ReplaceAll(strings.ToUpper(strings.TrimSpace(item)), "-", "_")
		if name == "" {
			continue
		}
		found := false
		if p, ok := flow.PhaseByName(name); ok {
			set.phases |= 1 << p
			found = true
		}
		for i, p := range flow.StateProtos {
			if st, ok := flow.StateByName(p, name); ok {
				set.bits[i][st/64] |= 1 << (st % 64)
				set.states, found = true, true
			}
		}
		if !found {
			return StateSet{}, fmt.Errorf("unknown state %q: want one of %s", strings.TrimSpace(item), strings.Join(stateNames(), ", "))
		}
	}
	if set.Empty() {
		return StateSet{}, fmt.Errorf("no state in %q: want a comma-separated list such as established,time_wait or unreplied", list)
	}
	return set, nil
}
