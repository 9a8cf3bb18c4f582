package sortby

import (
	"cmp"
	"encoding/binary"
	"math"
	"slices"

	"github.com/gostate/gostate/internal/flow"
)

// keyBuf holds one row's complete key, and room to read a 16-byte window at
// any multiple of 16 below its length: the longest key, a counter total (9
// bytes) followed by an IPv6 flow's tie-breaking fields (42), takes 51.
type keyBuf [64]byte

// encode writes f's complete key for ordering k into b and returns its
// length. Keys compare as byte strings (bytes.Compare) in exactly the order
// the package comment describes; Sorter.Sort relies on that to decide most
// comparisons from the first 16 bytes alone.
//
// Layout: the primary key, bitwise inverted when reverse is set (which
// reverses the order of a fixed-width field), then the tie-breaking fields
// that the primary key does not already hold. A leading "missing" byte for
// rows that lack the sorted field is written outside the inverted range, so
// those rows stay last either way; their value is written as zero, so that
// the tie-breaking fields alone order them (ICMP rows, last when sorting by
// state since their State column starts with the type and code, get their
// protocol and phase instead, to group them). Addresses are written as a
// family byte (IPv4 0, IPv6 1) and 4 or 16 bytes: two keys can only differ
// in length after they differ in that family byte, so no key is a prefix of
// another.
func encode(b *keyBuf, f *flow.Flow, k Key, reverse bool) int {
	n, flipFrom := 0, 0
	switch k {
	case SrcPort, DstPort:
		port := f.Orig.SrcPort
		if k == DstPort {
			port = f.Orig.DstPort
		}
		missing := !f.HasPorts()
		if missing {
			port = 0
		}
		n = putMissing(b, missing)
		flipFrom, n = n, put16(b, n, port)
	case Dst:
		n = putAddr(b, n, f.Family, &f.Orig.Dst)
	case Proto:
		n = put16(b, n, protoRank[f.Proto])
	case State:
		rank, icmp := stateKey(f)
		n = putMissing(b, icmp)
		flipFrom, n = n, put16(b, n, rank)
	case TTL:
		secs, missing := f.Timeout, f.Present&flow.HasTimeout == 0
		if missing {
			secs = 0
		}
		n = putMissing(b, missing)
		flipFrom, n = n, put32(b, n, secs)
	case Bytes, Packets:
		total := addSat(f.OrigBytes, f.ReplyBytes)
		if k == Packets {
			total = addSat(f.OrigPackets, f.ReplyPackets)
		}
		missing := f.Present&flow.HasCounters == 0
		if missing {
			total = 0
		}
		// Biggest first: the inverted total orders descending, and
		// reverse inverts it back.
		n = putMissing(b, missing)
		flipFrom, n = n, put64(b, n, ^total)
	case Rate:
		// A rate is never negative: its float bits order as numbers.
		rate, missing := math.Float32bits(f.ByteRate), f.Present&flow.HasRate == 0
		if missing {
			rate = 0
		}
		n = putMissing(b, missing)
		flipFrom, n = n, put32(b, n, ^rate)
	default: // Src, and any invalid key
		k = Src
		n = putAddr(b, n, f.Family, &f.Orig.Src)
	}
	if reverse {
		for i := flipFrom; i < n; i++ {
			b[i] = ^b[i]
		}
	}

	// The tie-breaking fields, in the Src order, without the primary's.
	switch k {
	case Src:
	case Dst:
		// The family byte is already in the primary key.
		n = putAddrBytes(b, n, f.Family, &f.Orig.Src)
	default:
		n = putAddr(b, n, f.Family, &f.Orig.Src)
	}
	// The ports stay even when sorting by a port: rows without ports have
	// none in their primary key, but their ICMP id or GRE keys still order.
	n = put16(b, n, f.Orig.SrcPort)
	if k != Dst {
		n = putAddrBytes(b, n, f.Family, &f.Orig.Dst)
	}
	n = put16(b, n, f.Orig.DstPort)
	if k != Proto {
		b[n] = f.Proto
		n++
	}
	n = put16(b, n, f.Zone)
	b[n], b[n+1] = f.Orig.ICMPType, f.Orig.ICMPCode
	return n + 2
}

func putMissing(b *keyBuf, missing bool) int {
	b[0] = 0
	if missing {
		b[0] = 1
	}
	return 1
}

// putAddr writes the family byte and the address.
func putAddr(b *keyBuf, n int, fam flow.Family, a *flow.Addr) int {
	b[n] = 1
	if fam == flow.FamilyIPv4 {
		b[n] = 0
	}
	return putAddrBytes(b, n+1, fam, a)
}

// putAddrBytes writes the address: the four bytes of an IPv4 address (stored
// IPv4-mapped), all sixteen otherwise.
func putAddrBytes(b *keyBuf, n int, fam flow.Family, a *flow.Addr) int {
	if fam == flow.FamilyIPv4 {
		return n + copy(b[n:], a[12:])
	}
	return n + copy(b[n:], a[:])
}

func put16(b *keyBuf, n int, v uint16) int {
	binary.BigEndian.PutUint16(b[n:], v)
	return n + 2
}

func put32(b *keyBuf, n int, v uint32) int {
	binary.BigEndian.PutUint32(b[n:], v)
	return n + 4
}

func put64(b *keyBuf, n int, v uint64) int {
	binary.BigEndian.PutUint64(b[n:], v)
	return n + 8
}

// addSat adds two counters, stopping at the maximum instead of wrapping, so
// that a saved dump with absurd counters still sorts as its numbers say.
func addSat(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint64(0)
}

// protoRank orders protocol numbers as the protocol column reads: the
// protocols with a name by name, then those without one ("unknown(N)") by
// number, so that unknown(100) comes after unknown(99).
var protoRank = func() (rank [256]uint16) {
	protos := make([]int, 256)
	for p := range protos {
		protos[p] = p
	}
	slices.SortFunc(protos, func(a, b int) int {
		ka, kb := flow.ProtoKnown(uint8(a)), flow.ProtoKnown(uint8(b))
		switch {
		case ka && kb:
			return cmp.Compare(flow.ProtoName(uint8(a)), flow.ProtoName(uint8(b)))
		case ka != kb:
			if ka {
				return -1
			}
			return 1
		}
		return cmp.Compare(a, b)
	})
	for r, p := range protos {
		rank[p] = uint16(r)
	}
	return rank
}()

// The ranks of the display states (flow.Flow.DisplayState) as the State
// column shows them: every (protocol, state number) pair of the protocols
// with states, and every (phase, protocol) pair, ordered by the name shown,
// then by protocol number. Numbers newer than gostate (shown as STATE_n)
// come after the named states, by number. stateRanks is indexed by
// flow.StateProtoIndex and state number, phaseRanks by phase and protocol.
var stateRanks, phaseRanks = func() (states [len(flow.StateProtos)][256]uint16, phases [flow.NumPhases][256]uint16) {
	type pair struct {
		proto, state uint8 // state: the state number, or the phase
		phase        bool
		name         string
		known        bool
	}
	var pairs []pair
	for _, p := range flow.StateProtos {
		for s := range 256 {
			_, known := flow.StateByName(p, flow.StateName(p, uint8(s)))
			pairs = append(pairs, pair{p, uint8(s), false, flow.StateName(p, uint8(s)), known})
		}
	}
	for ph := range flow.NumPhases {
		for p := range 256 {
			pairs = append(pairs, pair{uint8(p), uint8(ph), true, ph.String(), true})
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if a.known != b.known {
			if a.known {
				return -1
			}
			return 1
		}
		if a.known {
			return cmp.Or(cmp.Compare(a.name, b.name), cmp.Compare(a.proto, b.proto))
		}
		return cmp.Or(cmp.Compare(a.state, b.state), cmp.Compare(a.proto, b.proto))
	})
	for r, pr := range pairs {
		if pr.phase {
			phases[pr.state][pr.proto] = uint16(r)
			continue
		}
		i, _ := flow.StateProtoIndex(pr.proto)
		states[i][pr.state] = uint16(r)
	}
	return states, phases
}()

// stateKey returns the primary key of the State ordering: the rank of the
// flow's display state, and false; for ICMP, whose State column starts with
// the type and code rather than a state, its protocol's rank and then its
// phase, and true, so that those rows come after the others, grouped.
func stateKey(f *flow.Flow) (rank uint16, icmp bool) {
	if f.IsICMP() {
		return protoRank[f.Proto]*uint16(flow.NumPhases) + uint16(f.Phase()), true
	}
	if f.Present&flow.HasState != 0 {
		if i, ok := flow.StateProtoIndex(f.Proto); ok {
			return stateRanks[i][f.State], false
		}
	}
	return phaseRanks[f.Phase()][f.Proto], false
}
