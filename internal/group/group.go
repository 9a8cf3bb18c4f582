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
	"math"
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

// Narrower returns the spec that splits a group of sp further: its
// networks (src/24, dst/16/48) as whole addresses; false when sp has no
// network, so that its groups split no further.
func (sp Spec) Narrower() (Spec, bool) {
	narrowed := false
	for i := range sp.parts[:sp.n] {
		if p := &sp.parts[i]; (p.kind == Src || p.kind == Dst) && (p.bits4 != 32 || p.bits6 != 128) {
			p.bits4, p.bits6, narrowed = 32, 128, true
		}
	}
	return sp, narrowed
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
		st := displayState(f)
		b[0], b[1] = st[0], st[1]
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
	// counters, stopping at the largest uint64; Counted is how many have.
	Bytes, Packets uint64
	Counted        int

	// inline counts the group's first few display states in the group
	// itself; more go to the Grouping's pairs index. Most groups have one
	// to three states: at 1,000,000 rows in 65,536 groups counting them
	// here halves a grouping (260 to 130 ms), the pairs index missing
	// the cache on every row.
	inline  [inlineStates]stateCount
	nInline uint8
	states  []StateCount
}

const inlineStates = 4

type stateCount struct {
	state [2]byte
	n     int32
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

	// slots index the groups by key (open addressing): the key's hash in
	// the high 32 bits, the group's index+1 in the low; 0 is free.
	slots []uint64
	// pairs index counts: (group, state) → index+1 in counts, for the
	// states past a group's inline ones.
	pairs  []uint32
	counts []pairCount
	// marks are the rows to group, one bit each, so that the table is
	// read in its own order: a view's order reads it at random, a cache
	// miss per row (at 1,000,000 rows 90 ms of a grouping).
	marks []uint64
	key   Key
}

type pairCount struct {
	group int32
	state [2]byte
	n     int32
}

// Build groups the rows idx of flows (a view's indices into its table) by
// spec, replacing what g held.
func (g *Grouping) Build(flows []flow.Flow, idx []int32, spec Spec) {
	g.Spec, g.Rows = spec, len(idx)
	g.Groups = g.Groups[:0]
	g.counts = g.counts[:0]
	clear(g.slots)
	clear(g.pairs)
	words := (len(flows) + 63) / 64
	if cap(g.marks) < words {
		g.marks = make([]uint64, words)
	}
	g.marks = g.marks[:words]
	clear(g.marks)
	for _, i := range idx {
		g.marks[i/64] |= 1 << (i % 64)
	}
	for w, m := range g.marks {
		for m != 0 {
			b := bits.TrailingZeros64(m)
			m &= m - 1
			g.add(&flows[w*64+b])
		}
	}
	g.states()
	g.Sort(false, false)
}

// add counts f in its group.
func (g *Grouping) add(f *flow.Flow) {
	g.Spec.key(&g.key, f)
	gi := g.find(&g.key)
	gr := &g.Groups[gi]
	gr.Entries++
	if f.Present&flow.HasCounters != 0 {
		gr.Bytes = addSaturating(gr.Bytes, f.Bytes())
		gr.Packets = addSaturating(gr.Packets, f.Packets())
		gr.Counted++
	}
	st := displayState(f)
	for i := range gr.nInline {
		if gr.inline[i].state == st {
			gr.inline[i].n++
			return
		}
	}
	if gr.nInline < inlineStates {
		gr.inline[gr.nInline] = stateCount{state: st, n: 1}
		gr.nInline++
		return
	}
	g.countState(gi, st)
}

// addSaturating adds two counters, stopping at the largest: a sum that
// wrapped would show a group of huge counters as a small one.
func addSaturating(a, b uint64) uint64 {
	sum, carry := bits.Add64(a, b, 0)
	if carry != 0 {
		return math.MaxUint64
	}
	return sum
}

// displayState encodes f's display state: its protocol's turn in
// flow.StateProtos + 1 and the protocol state, or 0 and the phase.
func displayState(f *flow.Flow) [2]byte {
	if i, ok := flow.StateProtoIndex(f.Proto); ok && f.Present&flow.HasState != 0 {
		return [2]byte{byte(i + 1), f.State}
	}
	return [2]byte{0, byte(f.Phase())}
}

// find returns the index of the group of key k, adding it when new.
func (g *Grouping) find(k *Key) int {
	if 2*(len(g.Groups)+1) > len(g.slots) {
		g.growSlots(len(g.Groups) + 1)
	}
	h := hashKey(k)
	tag := h &^ (1<<32 - 1)
	mask := uint64(len(g.slots) - 1)
	for s := h & mask; ; s = (s + 1) & mask {
		v := g.slots[s]
		if v == 0 {
			// A group of an earlier grouping left its states' storage
			// in the slot past the end: reuse it.
			var states []StateCount
			if n := len(g.Groups); n < cap(g.Groups) {
				states = g.Groups[:n+1][n].states[:0]
			}
			g.Groups = append(g.Groups, Group{Key: *k, states: states})
			g.slots[s] = tag | uint64(len(g.Groups))
			return len(g.Groups) - 1
		}
		if v&^(1<<32-1) == tag && g.Groups[uint32(v)-1].Key == *k {
			return int(uint32(v) - 1)
		}
	}
}

// growSlots makes the group index big enough for n groups, at most half
// full.
func (g *Grouping) growSlots(n int) {
	g.slots = regrow(g.slots, n, func(v uint64) uint64 { return hashKey(&g.Groups[uint32(v)-1].Key) })
}

// regrow returns an open-addressing index with room for n entries at most
// half full: old when it has, else a bigger one holding old's entries (0 is
// a free slot), each placed by its hash.
func regrow[S uint32 | uint64](old []S, n int, hash func(v S) uint64) []S {
	size := 1 << bits.Len(uint(max(2*n, 64)-1))
	if size <= len(old) {
		return old
	}
	slots := make([]S, size)
	mask := uint64(size - 1)
	for _, v := range old {
		if v == 0 {
			continue
		}
		s := hash(v) & mask
		for slots[s] != 0 {
			s = (s + 1) & mask
		}
		slots[s] = v
	}
	return slots
}

// countState counts display state st in group gi, past its inline states.
func (g *Grouping) countState(gi int, st [2]byte) {
	if 2*(len(g.counts)+1) > len(g.pairs) {
		g.growPairs(len(g.counts) + 1)
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

// growPairs makes the pairs index big enough for n counts, at most half
// full.
func (g *Grouping) growPairs(n int) {
	g.pairs = regrow(g.pairs, n, func(v uint32) uint64 { c := &g.counts[v-1]; return hashPair(c.group, c.state) })
}

// states hands each group its state counts, most rows first (then by
// name).
func (g *Grouping) states() {
	for i := range g.Groups {
		gr := &g.Groups[i]
		gr.states = gr.states[:0]
		for _, c := range gr.inline[:gr.nInline] {
			gr.states = append(gr.states, StateCount{Name: stateName(c.state), N: int(c.n)})
		}
	}
	for _, c := range g.counts {
		gr := &g.Groups[c.group]
		gr.states = append(gr.states, StateCount{Name: stateName(c.state), N: int(c.n)})
	}
	for i := range g.Groups {
		if s := g.Groups[i].states; len(s) > 1 {
			slices.SortFunc(s, func(a, b StateCount) int {
				if a.N != b.N {
					return b.N - a.N
				}
				return strings.Compare(a.Name, b.Name)
			})
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

// Proto returns the protocol of group i when the key's first part names
// one (sport, dport, proto): what a view colours the group's row by.
func (g *Grouping) Proto(i int) (uint8, bool) {
	if g.Spec.n == 0 {
		return 0, false
	}
	switch g.Spec.parts[0].kind {
	case Sport, Dport, Proto:
		return g.Groups[i].Key[0], true
	}
	return 0, false
}

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

// hashKey mixes a key's five words into 64 bits (as wyhash does).
func hashKey(k *Key) uint64 {
	w := func(i int) uint64 { return binary.LittleEndian.Uint64(k[8*i:]) }
	h := mix(w(0), w(1))
	h = mix(h^w(2), w(3))
	return mix(h^w(4), 0x9e3779b97f4a7c15)
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
