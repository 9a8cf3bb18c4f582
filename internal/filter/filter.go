// Package filter decides which flows a view shows: iptstate's address and
// port filters (-s -d -S -D, inverted by -i), its loopback and DNS toggles
// (-f -L), and gostate's protocol and state lists (--proto, --state: the
// states as the State column shows them, phases such as UNREPLIED among
// them).
//
// Every filter looks at the ORIGINAL tuple only, the connection as its
// initiator sent it (as iptstate does): a flow whose destination was
// rewritten by DNAT matches -d with the address the client asked for, not
// the one it reached.
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
// plain value: copy it to keep an old setting while the user edits a new one.
type Filter struct {
	// Src and Dst keep flows whose original source / destination address is
	// in the prefix; an invalid (zero) Prefix does not filter. An IPv4
	// prefix never matches an IPv6 flow, nor the reverse.
	Src, Dst netip.Prefix
	// SrcPort and DstPort keep flows with that original source /
	// destination port; 0 does not filter. Flows whose protocol has no
	// ports (ICMP, GRE, ...) never match a port.
	SrcPort, DstPort uint16
	// Invert (-i) turns each of Src, Dst, SrcPort and DstPort around, as
	// iptstate does: each set one HIDES the flows it matches, so
	// -s 192.0.2.1 -D 80 -i shows flows that are neither from 192.0.2.1 nor
	// to port 80. It does not affect the other filters.
	Invert bool
	// NoLoopback (-f) hides flows with a loopback address (127.0.0.0/8 or
	// ::1) at either end.
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
}

// Active reports whether any filter is set, that is whether Match can hide
// a flow. Invert alone changes nothing.
func (f *Filter) Active() bool {
	return f.Src.IsValid() || f.Dst.IsValid() || f.SrcPort != 0 || f.DstPort != 0 ||
		f.NoLoopback || f.NoDNS || !f.Protos.Empty() || !f.States.Empty()
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
	// Each set filter must match, or with Invert must not.
	if f.Src.IsValid() && f.Src.Contains(fl.Orig.Src.Netip(fl.Family)) == f.Invert {
		return false
	}
	if f.Dst.IsValid() && f.Dst.Contains(fl.Orig.Dst.Netip(fl.Family)) == f.Invert {
		return false
	}
	if f.SrcPort != 0 && (fl.HasPorts() && fl.Orig.SrcPort == f.SrcPort) == f.Invert {
		return false
	}
	if f.DstPort != 0 && (fl.HasPorts() && fl.Orig.DstPort == f.DstPort) == f.Invert {
		return false
	}
	return true
}

var loopback6 = flow.AddrFrom(netip.IPv6Loopback())

func isLoopback(fam flow.Family, a *flow.Addr) bool {
	if fam == flow.FamilyIPv4 {
		return a[12] == 127 // IPv4 is stored IPv4-mapped: a.b.c.d in a[12:16]
	}
	return *a == loopback6
}

// Describe says in one line what the filter does, for headers and the help
// screen: "src 192.0.2.0/24, dport 443 (inverted), no loopback, proto tcp".
// It returns "" when the filter is not Active.
func (f *Filter) Describe() string {
	var parts []string
	if f.Src.IsValid() {
		parts = append(parts, "src "+prefixString(f.Src))
	}
	if f.SrcPort != 0 {
		parts = append(parts, "sport "+strconv.Itoa(int(f.SrcPort)))
	}
	if f.Dst.IsValid() {
		parts = append(parts, "dst "+prefixString(f.Dst))
	}
	if f.DstPort != 0 {
		parts = append(parts, "dport "+strconv.Itoa(int(f.DstPort)))
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
	return strings.Join(parts, ", ")
}

// prefixString writes a one-address prefix as the bare address.
func prefixString(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// ParsePrefix reads an address filter: ADDR or ADDR/PREFIX, IPv4 or IPv6.
// A bare address matches only itself. Host bits after the prefix length are
// cleared (192.0.2.7/24 means 192.0.2.0/24), and an IPv4-mapped IPv6
// address (::ffff:192.0.2.7) is taken as the IPv4 address it holds, which
// is how IPv4 flows are compared.
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
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
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
func (s *StateSet) Empty() bool { return *s == StateSet{} }

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
				found = true
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
