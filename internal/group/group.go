// Package group counts the rows of a view by a key — the source address or
// network, the destination, a port, the protocol, the state, the mark, the
// zone, the translated address — to answer the question a full table asks:
// who fills it. One group per key, biggest first, with its states and its
// counters.
//
// Grouping allocates nothing per row: a row's key is encoded in a fixed
// array and found in an open-addressing index; the groups and their state
// counts live in slices reused from one grouping to the next.
package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/gostate/gostate/internal/flow"
)

// Kind is what a part of a key groups by.
type Kind uint8

// The kinds of key parts, as Parse spells them.
const (
	Src   Kind = iota // src, src/N, src/N/M: the original source address or network
	Dst               // dst, dst/N, dst/N/M: the original destination
	Sport             // sport: the protocol and source port ("tcp/40000")
	Dport             // dport: the protocol and destination port ("tcp/443")
	Proto             // proto: the protocol
	State             // state: the display state ("SYN_RECV", "sctp ESTABLISHED", "UNREPLIED")
	Mark              // mark
	Zone              // zone
	NAT               // nat: the translated address, SNAT's source or DNAT's destination
	numKinds
)

var kindNames = [numKinds]string{"src", "dst", "sport", "dport", "proto", "state", "mark", "zone", "nat"}

// DefaultV6Bits is the IPv6 prefix a network key uses when only the IPv4 one
// is given (src/24): a site's /64, as IPv4's /24 is a subnet.
const DefaultV6Bits = 64

// part is one part of a key: its kind, and for addresses the prefix lengths
// of IPv4 and IPv6 (32 and 128: whole addresses).
type part struct {
	kind         Kind
	bits4, bits6 uint8
}

// Spec says how to group: one or two parts ("src/24", "src,dport").
type Spec struct {
	parts [2]part
	n     int
}

// ValidKeys lists the keys Parse takes, for messages and help.
const ValidKeys = "src, dst, src/N, dst/N, src/N/M, dst/N/M (IPv4 /N, IPv6 /M, /64 when not given), " +
	"sport, dport, proto, state, mark, zone, nat; two joined by a comma (src,dport)"

// ErrSpec is wrapped by every error of Parse.
var ErrSpec = errors.New("invalid group key")

// Parse reads a key spec: one part or two joined by a comma, each one of
// src, dst (with /N or /N/M prefixes), sport, dport, proto, state, mark,
// zone, nat. The error names the valid keys.
func Parse(s string) (Spec, error) {
	var sp Spec
	fields := strings.Split(s, ",")
	if len(fields) > len(sp.parts) {
		return Spec{}, fmt.Errorf("%w %q: at most two parts (want %s)", ErrSpec, s, ValidKeys)
	}
	for _, field := range fields {
		p, err := parsePart(strings.ToLower(strings.TrimSpace(field)))
		if err != nil {
			return Spec{}, fmt.Errorf("%w %q: %v (want %s)", ErrSpec, s, err, ValidKeys)
		}
		for _, q := range sp.parts[:sp.n] {
			if q.kind == p.kind {
				return Spec{}, fmt.Errorf("%w %q: %s twice (want %s)", ErrSpec, s, kindNames[p.kind], ValidKeys)
			}
		}
		sp.parts[sp.n] = p
		sp.n++
	}
	return sp, nil
}

func parsePart(s string) (part, error) {
	name, prefix, hasPrefix := strings.Cut(s, "/")
	for k, n := range kindNames {
		if n != name {
			continue
		}
		p := part{kind: Kind(k), bits4: 32, bits6: 128}
		if !hasPrefix {
			return p, nil
		}
		if p.kind != Src && p.kind != Dst {
			return part{}, fmt.Errorf("%s takes no prefix", name)
		}
		v4, v6, two := strings.Cut(prefix, "/")
		n4, err := strconv.Atoi(v4)
		if err != nil || n4 < 0 || n4 > 32 {
			return part{}, fmt.Errorf("IPv4 prefix %q: want 0 to 32", v4)
		}
		p.bits4, p.bits6 = uint8(n4), DefaultV6Bits
		if two {
			n6, err := strconv.Atoi(v6)
			if err != nil || n6 < 0 || n6 > 128 {
				return part{}, fmt.Errorf("IPv6 prefix %q: want 0 to 128", v6)
			}
			p.bits6 = uint8(n6)
		}
		return p, nil
	}
	if s == "" {
		return part{}, errors.New("an empty part")
	}
	return part{}, fmt.Errorf("unknown key %q", name)
}

// String returns the spec as Parse reads it: "src/24/64", "src,dport".
func (sp Spec) String() string {
	var b strings.Builder
	for i, p := range sp.parts[:sp.n] {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kindNames[p.kind])
		if (p.kind == Src || p.kind == Dst) && (p.bits4 != 32 || p.bits6 != 128) {
			b.WriteString("/" + strconv.Itoa(int(p.bits4)))
			if p.bits6 != DefaultV6Bits {
				b.WriteString("/" + strconv.Itoa(int(p.bits6)))
			}
		}
	}
	return b.String()
}

// IsZero reports whether the spec groups by nothing (the zero Spec).
func (sp Spec) IsZero() bool { return sp.n == 0 }

// Kinds returns the kinds of the spec's parts.
func (sp Spec) Kinds() []Kind {
	out := make([]Kind, sp.n)
	for i, p := range sp.parts[:sp.n] {
		out[i] = p.kind
	}
	return out
}

// partLen is the bytes a part's key takes: the widest, an address with its
// family and prefix length, or a NAT address with its kind and port.
const partLen = 20

// Key is a group's key: each part's fields in fixed places, so that equal
// keys are equal arrays.
type Key [2 * partLen]byte

// key encodes f's key for sp into k.
func (sp *Spec) key(k *Key, f *flow.Flow) {
	*k = Key{}
	for i, p := range sp.parts[:sp.n] {
		putPart(k[i*partLen:(i+1)*partLen], p, f)
	}
}

func putPart(b []byte, p part, f *flow.Flow) {
	switch p.kind {
	case Src, Dst:
		a := f.Orig.Src
		if p.kind == Dst {
			a = f.Orig.Dst
		}
		bits := p.bits6
		if f.Family == flow.FamilyIPv4 {
			bits = 96 + p.bits4 // IPv4 is kept IPv4-mapped
		}
		putAddr(b, f.Family, &a, bits)
	case Sport, Dport:
		b[0] = f.Proto
		if f.HasPorts() {
			port := f.Orig.SrcPort
			if p.kind == Dport {
				port = f.Orig.DstPort
			}
			b[1] = 1
			binary.BigEndian.PutUint16(b[2:], port)
		}
	case Proto:
		b[0] = f.Proto
	case State:
		// A protocol state (its protocol's turn in flow.StateProtos + 1,
		// and the state) or else the phase (0 and the phase).
		if i, ok := flow.StateProtoIndex(f.Proto); ok && f.Present&flow.HasState != 0 {
			b[0], b[1] = byte(i+1), f.State
		} else {
			b[1] = byte(f.Phase())
		}
	case Mark:
		binary.BigEndian.PutUint32(b, f.Mark)
	case Zone:
		binary.BigEndian.PutUint16(b, f.Zone)
	case NAT:
		// SNAT's source as the far end sees it, else DNAT's real
		// destination: the reply tuple's destination or source.
		switch {
		case f.Status.Has(flow.StatusSrcNAT):
			b[0] = 1
			putAddr(b[1:], f.Family, &f.Reply.Dst, 128)
		case f.Status.Has(flow.StatusDstNAT):
			b[0] = 2
			putAddr(b[1:], f.Family, &f.Reply.Src, 128)
		}
	}
}

// putAddr writes a family byte, the prefix length and the address masked to
// bits (of its 16-byte form).
func putAddr(b []byte, fam flow.Family, a *flow.Addr, bits uint8) {
	b[0], b[1] = byte(fam), bits
	for i := range 16 {
		switch n := int(bits) - 8*i; {
		case n >= 8:
			b[2+i] = a[i]
		case n > 0:
			b[2+i] = a[i] & (0xff << (8 - n))
		}
	}
}

// Label writes a key as a person reads it: "192.0.2.0/24", "2001:db8::/64",
// "tcp/443", "ESTABLISHED", "sctp ESTABLISHED", "mark 7", "snat
// 198.51.100.1"; the parts of a two-part key are joined by a space.
func (sp *Spec) Label(k *Key) string {
	var parts []string
	for i, p := range sp.parts[:sp.n] {
		parts = append(parts, label(k[i*partLen:(i+1)*partLen], p))
	}
	return strings.Join(parts, " ")
}

func label(b []byte, p part) string {
	switch p.kind {
	case Src, Dst:
		return addrLabel(b)
	case Sport, Dport:
		if b[1] == 0 {
			return flow.ProtoName(b[0])
		}
		return flow.ProtoName(b[0]) + "/" + strconv.Itoa(int(binary.BigEndian.Uint16(b[2:])))
	case Proto:
		return flow.ProtoName(b[0])
	case State:
		if b[0] == 0 {
			return flow.Phase(b[1]).String()
		}
		proto := flow.StateProtos[b[0]-1]
		name := flow.StateName(proto, b[1])
		if proto != flow.ProtoTCP {
			name = flow.ProtoName(proto) + " " + name
		}
		return name
	case Mark:
		return "mark " + strconv.FormatUint(uint64(binary.BigEndian.Uint32(b)), 10)
	case Zone:
		return "zone " + strconv.Itoa(int(binary.BigEndian.Uint16(b)))
	case NAT:
		switch b[0] {
		case 1:
			return "snat " + addrLabel(b[1:])
		case 2:
			return "dnat " + addrLabel(b[1:])
		}
		return "no nat"
	}
	return ""
}

// addrLabel writes an address key: the address alone when whole, else the
// network with its prefix length as the family counts it.
func addrLabel(b []byte) string {
	fam, bits := flow.Family(b[0]), int(b[1])
	var a flow.Addr
	copy(a[:], b[2:18])
	ip := a.Netip(fam)
	if fam == flow.FamilyIPv4 {
		bits -= 96
	}
	if bits == ip.BitLen() {
		return ip.String()
	}
	return netip.PrefixFrom(ip, bits).String()
}

// Group is one group of rows.
type Group struct {
	Key Key
	// Entries is the number of rows in the group.
	Entries int
	// Bytes and Packets add up both directions of its rows that have
	// counters; Counted is how many have.
	Bytes, Packets uint64
	Counted        int

	states []StateCount
}

// StateCount is how many of a group's rows are in a display state.
type StateCount struct {
	// Name is the state as the State column shows it, SCTP and DCCP states
	// with their protocol: "SYN_RECV", "sctp ESTABLISHED", "UNREPLIED".
	Name string
	N    int
}

// States returns the group's display states, most rows first (then by
// name), every row counted once.
func (g *Group) States() []StateCount { return g.states }

// Grouping is the rows of a view counted by a spec. Reuse one for every
// grouping: it keeps its memory.
type Grouping struct {
	Spec Spec
	// Groups are the groups, biggest first (ties: by key), until Sort.
	Groups []Group
	// Rows is the number of rows grouped.
	Rows int

	slots  []uint32 // open addressing: group index+1, 0 free
	pairs  []uint32 // (group, state) → count index+1
	counts []pairCount
	key    Key
	byKey  bool
}

type pairCount struct {
	group int32
	state [2]byte
	n     int32
}

// Build groups the rows idx of flows (a view's indices into its table) by
// spec, replacing what g held.
func (g *Grouping) Build(flows []flow.Flow, idx []int32, spec Spec) {
	g.Spec, g.Rows, g.byKey = spec, len(idx), false
	g.Groups = g.Groups[:0]
	g.counts = g.counts[:0]
	clear(g.slots)
	clear(g.pairs)
	for _, i := range idx {
		f := &flows[i]
		spec.key(&g.key, f)
		gi := g.find(&g.key)
		gr := &g.Groups[gi]
		gr.Entries++
		if f.Present&flow.HasCounters != 0 {
			gr.Bytes += f.Bytes()
			gr.Packets += f.Packets()
			gr.Counted++
		}
		g.countState(gi, f)
	}
	g.states()
	g.Sort(false, false)
}

// find returns the index of the group of key k, adding it when new.
func (g *Grouping) find(k *Key) int {
	if 2*(len(g.Groups)+1) > len(g.slots) {
		g.grow(&g.slots, len(g.Groups)+1, func(v uint32) uint64 { return hashKey(&g.Groups[v-1].Key) })
	}
	mask := uint64(len(g.slots) - 1)
	for s := hashKey(k) & mask; ; s = (s + 1) & mask {
		v := g.slots[s]
		if v == 0 {
			// A group of an earlier grouping left its states' storage
			// in the slot past the end: reuse it.
			var states []StateCount
			if n := len(g.Groups); n < cap(g.Groups) {
				states = g.Groups[:n+1][n].states[:0]
			}
			g.Groups = append(g.Groups, Group{Key: *k, states: states})
			g.slots[s] = uint32(len(g.Groups))
			return len(g.Groups) - 1
		}
		if g.Groups[v-1].Key == *k {
			return int(v - 1)
		}
	}
}

// countState counts f's display state in group gi.
func (g *Grouping) countState(gi int, f *flow.Flow) {
	var st [2]byte
	if i, ok := flow.StateProtoIndex(f.Proto); ok && f.Present&flow.HasState != 0 {
		st = [2]byte{byte(i + 1), f.State}
	} else {
		st = [2]byte{0, byte(f.Phase())}
	}
	if 2*(len(g.counts)+1) > len(g.pairs) {
		g.grow(&g.pairs, len(g.counts)+1, func(v uint32) uint64 { c := &g.counts[v-1]; return hashPair(c.group, c.state) })
	}
	mask := uint64(len(g.pairs) - 1)
	for s := hashPair(int32(gi), st) & mask; ; s = (s + 1) & mask {
		v := g.pairs[s]
		if v == 0 {
			g.counts = append(g.counts, pairCount{group: int32(gi), state: st, n: 1})
			g.pairs[s] = uint32(len(g.counts))
			return
		}
		if c := &g.counts[v-1]; c.group == int32(gi) && c.state == st {
			c.n++
			return
		}
	}
}

// grow makes an index big enough for n entries, at most half full, and puts
// its entries back, hashed by h.
func (g *Grouping) grow(slots *[]uint32, n int, h func(v uint32) uint64) {
	size := 1 << bits.Len(uint(max(2*n, 64)-1))
	if size <= len(*slots) {
		return
	}
	old := *slots
	*slots = make([]uint32, size)
	mask := uint64(size - 1)
	for _, v := range old {
		if v == 0 {
			continue
		}
		s := h(v) & mask
		for (*slots)[s] != 0 {
			s = (s + 1) & mask
		}
		(*slots)[s] = v
	}
}

// states hands each group its state counts, most rows first.
func (g *Grouping) states() {
	slices.SortFunc(g.counts, func(a, b pairCount) int {
		if a.group != b.group {
			return int(a.group - b.group)
		}
		if a.n != b.n {
			return int(b.n - a.n)
		}
		return strings.Compare(stateName(a.state), stateName(b.state))
	})
	for i := 0; i < len(g.counts); {
		gi := g.counts[i].group
		gr := &g.Groups[gi]
		gr.states = gr.states[:0]
		for ; i < len(g.counts) && g.counts[i].group == gi; i++ {
			gr.states = append(gr.states, StateCount{Name: stateName(g.counts[i].state), N: int(g.counts[i].n)})
		}
	}
}

// stateName names an encoded display state as the State column does, with
// the protocol before SCTP's and DCCP's states. The names come from
// package flow's tables: no allocation.
func stateName(st [2]byte) string {
	if st[0] == 0 {
		return flow.Phase(st[1]).String()
	}
	proto := flow.StateProtos[st[0]-1]
	if proto == flow.ProtoTCP {
		return flow.StateName(proto, st[1])
	}
	return qualifiedState(proto, st[1])
}

// qualifiedStates holds "sctp ESTABLISHED" and the like, made once.
var qualifiedStates = func() (t [len(flow.StateProtos)][256]string) {
	for i, p := range flow.StateProtos {
		for s := range 256 {
			t[i][s] = flow.ProtoName(p) + " " + flow.StateName(p, uint8(s))
		}
	}
	return t
}()

func qualifiedState(proto, state uint8) string {
	i, _ := flow.StateProtoIndex(proto)
	return qualifiedStates[i][state]
}

// Sort orders the groups: biggest first (ties by key), or by key when byKey;
// reverse turns either around.
func (g *Grouping) Sort(byKey, reverse bool) {
	g.byKey = byKey
	slices.SortFunc(g.Groups, func(a, b Group) int {
		c := 0
		if !byKey {
			c = b.Entries - a.Entries
		}
		if c == 0 {
			c = compareKeys(&a.Key, &b.Key)
		}
		if reverse {
			return -c
		}
		return c
	})
}

func compareKeys(a, b *Key) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}

// Label names group i.
func (g *Grouping) Label(i int) string { return g.Spec.Label(&g.Groups[i].Key) }

// Find returns the index of the group with key k, or -1.
func (g *Grouping) Find(k Key) int {
	for i := range g.Groups {
		if g.Groups[i].Key == k {
			return i
		}
	}
	return -1
}

// Matcher tells whether a row is in a group: a drill-down's filter.
type Matcher struct {
	spec Spec
	key  Key
}

// Matcher returns a Matcher for group i.
func (g *Grouping) Matcher(i int) Matcher { return Matcher{spec: g.Spec, key: g.Groups[i].Key} }

// Match reports whether f is in the group.
func (m *Matcher) Match(f *flow.Flow) bool {
	var k Key
	m.spec.key(&k, f)
	return k == m.key
}

// Label names the group the Matcher matches.
func (m *Matcher) Label() string { return m.spec.Label(&m.key) }

// Spec returns the grouping the Matcher's group is of.
func (m *Matcher) Spec() Spec { return m.spec }

// hashKey mixes a key into 64 bits (as in wyhash).
func hashKey(k *Key) uint64 {
	h := uint64(0x9e3779b97f4a7c15)
	for i := 0; i < len(k); i += 8 {
		h = mix(h^binary.LittleEndian.Uint64(k[i:]), 0xe7037ed1a0b428db)
	}
	return h
}

func hashPair(gi int32, st [2]byte) uint64 {
	return mix(uint64(uint32(gi))|uint64(st[0])<<32|uint64(st[1])<<40, 0xa0761d6478bd642f)
}

func mix(a, b uint64) uint64 {
	a ^= 0xa0761d6478bd642f
	b ^= 0xe7037ed1a0b428db
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}
