package sortby

import (
	"bytes"
	"cmp"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/gostate/gostate/internal/flow"
)

// compareFlows orders two flows by k as Sorter.Sort does, from their
// complete byte keys: -1, 0 or +1, and 0 only for flows equal in the primary
// key and every tie-breaking field. An invalid key orders as Src.
func compareFlows(a, b *flow.Flow, k Key, reverse bool) int {
	var ka, kb keyBuf
	na := encode(&ka, a, k, reverse)
	nb := encode(&kb, b, k, reverse)
	return bytes.Compare(ka[:na], kb[:nb])
}

// sortIdx sorts idx with a fresh Sorter.
func sortIdx(flows []flow.Flow, idx []int32, k Key, reverse bool) {
	var s Sorter
	s.Sort(flows, idx, k, reverse)
}

// refCompare is the ordering the package comment promises, written field by
// field on netip addresses and plain numbers, independent of the byte keys
// the package sorts on.
func refCompare(a, b *flow.Flow, k Key, reverse bool) int {
	ma, mb := refMissing(a, k), refMissing(b, k)
	if ma != mb {
		if ma {
			return 1
		}
		return -1
	}
	c := refPrimary(a, b, k)
	if reverse {
		c = -c
	}
	if c != 0 {
		return c
	}
	return refTuple(a, b)
}

// refMissing reports whether the row lacks the field k sorts on.
func refMissing(f *flow.Flow, k Key) bool {
	switch k {
	case SrcPort, DstPort:
		return !flow.ProtoHasPorts(f.Proto)
	case State:
		// The column starts with the type and code.
		return f.Proto == flow.ProtoICMP || f.Proto == flow.ProtoICMPv6
	case TTL:
		return f.Present&flow.HasTimeout == 0
	case Bytes, Packets:
		return f.Present&flow.HasCounters == 0
	case Rate:
		return f.Present&flow.HasRate == 0
	}
	return false
}

func refTotal(x, y uint64) uint64 {
	if x > math.MaxUint64-y {
		return math.MaxUint64
	}
	return x + y
}

func refPrimary(a, b *flow.Flow, k Key) int {
	switch k {
	case Src:
		return a.Orig.Src.Netip(a.Family).Compare(b.Orig.Src.Netip(b.Family))
	case Dst:
		return a.Orig.Dst.Netip(a.Family).Compare(b.Orig.Dst.Netip(b.Family))
	case SrcPort:
		if refMissing(a, k) {
			return 0
		}
		return cmp.Compare(a.Orig.SrcPort, b.Orig.SrcPort)
	case DstPort:
		if refMissing(a, k) {
			return 0
		}
		return cmp.Compare(a.Orig.DstPort, b.Orig.DstPort)
	case Proto:
		return refProto(a.Proto, b.Proto)
	case State:
		if refMissing(a, k) {
			return cmp.Or(refProto(a.Proto, b.Proto), cmp.Compare(refPhase(a), refPhase(b)))
		}
		return refState(a, b)
	case TTL:
		if refMissing(a, k) {
			return 0
		}
		return cmp.Compare(a.Timeout, b.Timeout)
	case Bytes:
		if refMissing(a, k) {
			return 0
		}
		return cmp.Compare(refTotal(b.OrigBytes, b.ReplyBytes), refTotal(a.OrigBytes, a.ReplyBytes))
	case Packets:
		if refMissing(a, k) {
			return 0
		}
		return cmp.Compare(refTotal(b.OrigPackets, b.ReplyPackets), refTotal(a.OrigPackets, a.ReplyPackets))
	case Rate:
		if refMissing(a, k) {
			return 0
		}
		return cmp.Compare(b.ByteRate, a.ByteRate)
	}
	panic("unknown key")
}

// refProto: protocols with a name by name, then the others by number.
func refProto(a, b uint8) int {
	ka, kb := flow.ProtoKnown(a), flow.ProtoKnown(b)
	switch {
	case ka && !kb:
		return -1
	case !ka && kb:
		return 1
	case ka:
		return strings.Compare(flow.ProtoName(a), flow.ProtoName(b))
	}
	return cmp.Compare(a, b)
}

// refDisplay is what the State column shows after ICMP's type and code: the
// protocol state when the flow has one, else its phase, from the status
// bits; and whether it is a name rather than a number newer than gostate.
func refDisplay(f *flow.Flow) (name string, named bool) {
	if _, stateful := flow.StateProtoIndex(f.Proto); stateful && f.Present&flow.HasState != 0 {
		_, named = flow.StateByName(f.Proto, flow.StateName(f.Proto, f.State))
		return flow.StateName(f.Proto, f.State), named
	}
	return []string{"UNREPLIED", "REPLIED", "ASSURED", "OFFLOAD"}[refPhase(f)], true
}

// refPhase numbers the phases as a flow goes through them: unreplied,
// replied, assured, offloaded.
func refPhase(f *flow.Flow) int {
	switch {
	case f.Status&(flow.StatusOffload|flow.StatusHWOffload) != 0:
		return 3
	case f.Status&flow.StatusAssured != 0:
		return 2
	case f.Status&flow.StatusSeenReply != 0:
		return 1
	}
	return 0
}

// refState: named states by name, then by protocol; states gostate has no
// name for (STATE_n) after them, by number.
func refState(a, b *flow.Flow) int {
	na, ka := refDisplay(a)
	nb, kb := refDisplay(b)
	switch {
	case ka && !kb:
		return -1
	case !ka && kb:
		return 1
	case ka:
		return cmp.Or(strings.Compare(na, nb), cmp.Compare(a.Proto, b.Proto))
	}
	return cmp.Or(cmp.Compare(a.State, b.State), cmp.Compare(a.Proto, b.Proto))
}

// refTuple is the tie-break: the Src order over the whole original tuple.
func refTuple(a, b *flow.Flow) int {
	return cmp.Or(
		a.Orig.Src.Netip(a.Family).Compare(b.Orig.Src.Netip(b.Family)),
		cmp.Compare(a.Orig.SrcPort, b.Orig.SrcPort),
		a.Orig.Dst.Netip(a.Family).Compare(b.Orig.Dst.Netip(b.Family)),
		cmp.Compare(a.Orig.DstPort, b.Orig.DstPort),
		cmp.Compare(a.Proto, b.Proto),
		cmp.Compare(a.Zone, b.Zone),
		cmp.Compare(a.Orig.ICMPType, b.Orig.ICMPType),
		cmp.Compare(a.Orig.ICMPCode, b.Orig.ICMPCode),
	)
}

var (
	v4Pool = []string{"192.0.2.1", "192.0.2.2", "192.0.2.200", "198.51.100.7", "203.0.113.9", "127.0.0.1", "0.0.0.0", "255.255.255.255"}
	v6Pool = []string{"2001:db8::1", "2001:db8::2", "2001:db8::1:0", "2001:db8:ffff::1", "::1", "::", "2001:db8::ffff:c000:201", "ffff::1"}
	// Protocols with ports, without, with states, and some without a name
	// whose names (unknown(N)) do not sort as their numbers do.
	protoPool = []uint8{flow.ProtoTCP, flow.ProtoTCP, flow.ProtoTCP, flow.ProtoUDP, flow.ProtoICMP,
		flow.ProtoICMPv6, flow.ProtoGRE, flow.ProtoSCTP, flow.ProtoDCCP, flow.ProtoUDPLite, 99, 0, 50, 100, 253}
	portPool    = []uint16{0, 1, 53, 80, 443, 1024, 40000, 65535}
	counterPool = []uint64{0, 1, 1000, 1 << 20, 1 << 40, math.MaxUint64 / 2}
)

// randFlow draws fields from small pools, so that every ordering sees many
// rows equal in its primary key and must break ties.
func randFlow(r *rand.Rand) flow.Flow {
	var f flow.Flow
	pick := func(pool []string) flow.Addr {
		return flow.AddrFrom(netip.MustParseAddr(pool[r.IntN(len(pool))]))
	}
	if r.IntN(3) == 0 {
		f.Family = flow.FamilyIPv6
		f.Orig.Src, f.Orig.Dst = pick(v6Pool), pick(v6Pool)
	} else {
		f.Family = flow.FamilyIPv4
		f.Orig.Src, f.Orig.Dst = pick(v4Pool), pick(v4Pool)
	}
	f.Proto = protoPool[r.IntN(len(protoPool))]
	f.Orig.SrcPort = portPool[r.IntN(len(portPool))]
	f.Orig.DstPort = portPool[r.IntN(len(portPool))]
	f.Orig.ICMPType, f.Orig.ICMPCode = uint8(r.IntN(2)*8), uint8(r.IntN(2))
	f.Reply = f.Orig.Mirror()
	f.State = uint8(r.IntN(11)) // 10 is past every state table: STATE_10
	f.Present = flow.Present(r.IntN(64))
	f.ByteRate = []float32{0, 0.5, 1, 1e3, 2.5e9}[r.IntN(5)]
	f.Status = []flow.Status{0, flow.StatusSeenReply, flow.StatusSeenReply | flow.StatusAssured,
		flow.StatusAssured | flow.StatusOffload, flow.StatusSeenReply | flow.StatusHWOffload, flow.StatusSrcNAT}[r.IntN(6)]
	f.Zone = uint16(r.IntN(2))
	f.Timeout = uint32(r.IntN(4) * 60)
	f.OrigBytes = counterPool[r.IntN(len(counterPool))]
	f.ReplyBytes = counterPool[r.IntN(len(counterPool))]
	f.OrigPackets = counterPool[r.IntN(len(counterPool))]
	f.ReplyPackets = counterPool[r.IntN(len(counterPool))]
	return f
}

func randFlows(seed uint64, n int) []flow.Flow {
	r := rand.New(rand.NewPCG(seed, 1))
	flows := make([]flow.Flow, n)
	for i := range flows {
		flows[i] = randFlow(r)
	}
	return flows
}

func sign(c int) int { return cmp.Compare(c, 0) }

func TestCompareMatchesReference(t *testing.T) {
	flows := randFlows(1, 300)
	for _, k := range Keys() {
		for _, reverse := range []bool{false, true} {
			for i := range flows {
				for j := range flows {
					a, b := &flows[i], &flows[j]
					got, want := sign(compareFlows(a, b, k, reverse)), sign(refCompare(a, b, k, reverse))
					if got != want {
						t.Fatalf("%s reverse=%v: compareFlows(%+v, %+v) = %d, want %d", k, reverse, *a, *b, got, want)
					}
				}
			}
		}
	}
}

// TestSortMatchesReference checks whole sorts, from a shuffled index slice,
// against a stable sort by the reference (rows equal by it keep table order).
// The table is big enough for Sort to split the work between goroutines.
func TestSortMatchesReference(t *testing.T) {
	flows := randFlows(2, parallelMin+4000)
	var s Sorter
	r := rand.New(rand.NewPCG(3, 3))
	for _, k := range Keys() {
		for _, reverse := range []bool{false, true} {
			want := identity(len(flows))
			slices.SortStableFunc(want, func(a, b int32) int {
				return refCompare(&flows[a], &flows[b], k, reverse)
			})
			got := identity(len(flows))
			r.Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
			s.Sort(flows, got, k, reverse)
			if i := firstDiff(got, want); i >= 0 {
				t.Fatalf("%s reverse=%v: row %d is flow %d %+v, want flow %d %+v",
					k, reverse, i, got[i], flows[got[i]], want[i], flows[want[i]])
			}
		}
	}
}

// TestSortLongSharedPrefixes sorts IPv6 rows that agree in their first 16
// key bytes, so that every comparison needs the complete keys.
func TestSortLongSharedPrefixes(t *testing.T) {
	flows := make([]flow.Flow, 2000)
	for i := range flows {
		f := &flows[i]
		f.Family, f.Proto = flow.FamilyIPv6, flow.ProtoTCP
		f.Orig.Src = flow.AddrFrom(netip.MustParseAddr("2001:db8::1"))
		f.Orig.Dst = flow.AddrFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}))
		f.Orig.SrcPort = uint16(40000 + i%7)
		f.Orig.DstPort = uint16(i / 256)
		f.Zone = uint16(i % 3)
	}
	for _, k := range []Key{Src, Dst, Proto} {
		want := identity(len(flows))
		slices.SortStableFunc(want, func(a, b int32) int { return refCompare(&flows[a], &flows[b], k, false) })
		got := identity(len(flows))
		slices.Reverse(got)
		sortIdx(flows, got, k, false)
		if i := firstDiff(got, want); i >= 0 {
			t.Fatalf("%s: row %d is flow %d, want flow %d", k, i, got[i], want[i])
		}
	}
}

// TestSortIsDeterministic sorts one table read in two orders. Like the
// kernel's, its rows are unique by flow.Key.
func TestSortIsDeterministic(t *testing.T) {
	seen := map[flow.Key]bool{}
	var flows []flow.Flow
	for _, f := range randFlows(4, 3000) {
		if !seen[f.Key()] {
			seen[f.Key()] = true
			flows = append(flows, f)
		}
	}
	shuffled := slices.Clone(flows)
	rand.New(rand.NewPCG(5, 5)).Shuffle(len(shuffled), func(i, j int) {
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	})
	for _, k := range Keys() {
		a, b := identity(len(flows)), identity(len(flows))
		sortIdx(flows, a, k, false)
		sortIdx(shuffled, b, k, false)
		for i := range a {
			if flows[a[i]] != shuffled[b[i]] {
				t.Fatalf("%s: the same table in another order sorts differently at row %d:\n%+v\n%+v",
					k, i, flows[a[i]], shuffled[b[i]])
			}
		}
	}
}

func TestIPv4BeforeIPv6(t *testing.T) {
	flows := randFlows(6, 1000)
	for _, k := range []Key{Src, Dst} {
		idx := identity(len(flows))
		sortIdx(flows, idx, k, false)
		seen6 := false
		for _, i := range idx {
			if flows[i].Family == flow.FamilyIPv6 {
				seen6 = true
			} else if seen6 {
				t.Fatalf("%s: IPv4 flow %d after an IPv6 flow", k, i)
			}
		}
		sortIdx(flows, idx, k, true)
		if flows[idx[0]].Family != flow.FamilyIPv6 || flows[idx[len(idx)-1]].Family != flow.FamilyIPv4 {
			t.Fatalf("%s reversed: want IPv6 first and IPv4 last", k)
		}
	}
}

// TestMissingFieldsLast checks that rows without the sorted field (no ports,
// no timeout, no counters; ICMP by state) sort together, after the others, in
// both directions.
func TestMissingFieldsLast(t *testing.T) {
	flows := randFlows(7, 2000)
	for _, k := range []Key{SrcPort, DstPort, State, TTL, Bytes, Packets} {
		for _, reverse := range []bool{false, true} {
			idx := identity(len(flows))
			sortIdx(flows, idx, k, reverse)
			missing := 0
			for i, x := range idx {
				if refMissing(&flows[x], k) {
					missing++
				} else if missing > 0 {
					t.Fatalf("%s reverse=%v: row %d has the field after %d rows without it", k, reverse, i, missing)
				}
			}
			if missing == 0 || missing == len(idx) {
				t.Fatalf("%s: test data should mix rows with and without the field (%d of %d without)", k, missing, len(idx))
			}
		}
	}
}

func TestBytesBiggestFirstAndReverse(t *testing.T) {
	flows := make([]flow.Flow, 4)
	for i, total := range []uint64{10, 3000, 1, 200} {
		flows[i] = flow.Flow{Family: flow.FamilyIPv4, Proto: flow.ProtoUDP, Present: flow.HasCounters,
			OrigBytes: total / 2, ReplyBytes: total - total/2, OrigPackets: total, ReplyPackets: 0}
		flows[i].Orig.SrcPort = uint16(i)
	}
	for _, k := range []Key{Bytes, Packets} {
		idx := identity(4)
		sortIdx(flows, idx, k, false)
		if want := []int32{1, 3, 0, 2}; !slices.Equal(idx, want) {
			t.Errorf("%s: got %v, want biggest first %v", k, idx, want)
		}
		sortIdx(flows, idx, k, true)
		if want := []int32{2, 0, 3, 1}; !slices.Equal(idx, want) {
			t.Errorf("%s reversed: got %v, want smallest first %v", k, idx, want)
		}
	}
}

// TestReverseFlipsPrimaryOnly: equal primary keys keep the default tie order
// when reversed.
func TestReverseFlipsPrimaryOnly(t *testing.T) {
	flows := randFlows(8, 1000)
	for _, k := range Keys() {
		idx := identity(len(flows))
		sortIdx(flows, idx, k, true)
		for i := 1; i < len(idx); i++ {
			a, b := &flows[idx[i-1]], &flows[idx[i]]
			if refMissing(a, k) == refMissing(b, k) && refPrimary(a, b, k) == 0 && refTuple(a, b) > 0 {
				t.Fatalf("%s reversed: rows %d and %d tie on the key but are not in tuple order", k, i-1, i)
			}
		}
	}
}

func TestParse(t *testing.T) {
	for _, k := range Keys() {
		for _, s := range []string{k.Letter(), k.Name(), strings.ToUpper(k.Name())} {
			if got, err := Parse(s); err != nil || got != k {
				t.Errorf("Parse(%q) = %v, %v; want %v", s, got, err, k)
			}
		}
	}
	for s, want := range map[string]Key{"S": SrcPort, "s": State, "D": DstPort, "d": Dst, "P": Packets, "p": Proto, "b": Bytes, "t": TTL, "a": Src, "T": Rate} {
		if got, err := Parse(s); err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "x", "B", "source", " d", "R"} {
		_, err := Parse(s)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", s)
			continue
		}
		if !strings.Contains(err.Error(), "d (dst)") || !strings.Contains(err.Error(), "P (packets)") {
			t.Errorf("Parse(%q) error %q does not list the valid keys", s, err)
		}
	}
}

func TestNames(t *testing.T) {
	want := []struct{ letter, name string }{
		{"a", "src"}, {"S", "sport"}, {"d", "dst"}, {"D", "dport"}, {"p", "proto"},
		{"s", "state"}, {"t", "ttl"}, {"b", "bytes"}, {"P", "packets"}, {"T", "rate"},
	}
	keys := Keys()
	if len(keys) != len(want) || keys[0] != Src {
		t.Fatalf("Keys() = %v", keys)
	}
	for i, k := range keys {
		if k.Letter() != want[i].letter || k.Name() != want[i].name || k.String() != want[i].name {
			t.Errorf("key %d: %q %q, want %v", i, k.Letter(), k.Name(), want[i])
		}
	}
}

// TestAscending checks Ascending against the order Sort produces: for each
// key and direction, two flows whose sorted field is smaller in one than in
// the other.
func TestAscending(t *testing.T) {
	base := flow.Flow{Family: flow.FamilyIPv4, Proto: flow.ProtoTCP,
		Present: flow.HasState | flow.HasTimeout | flow.HasCounters, State: flow.TCPEstablished}
	for _, k := range Keys() {
		small, big := base, base
		switch k {
		case Src:
			small.Orig.Src[15], big.Orig.Src[15] = 1, 2
		case SrcPort:
			small.Orig.SrcPort, big.Orig.SrcPort = 1, 2
		case Dst:
			small.Orig.Dst[15], big.Orig.Dst[15] = 1, 2
		case DstPort:
			small.Orig.DstPort, big.Orig.DstPort = 1, 2
		case Proto:
			small.Proto, big.Proto = flow.ProtoTCP, flow.ProtoUDP // "tcp" < "udp"
		case State:
			small.State, big.State = flow.TCPEstablished, flow.TCPTimeWait
		case TTL:
			small.Timeout, big.Timeout = 1, 2
		case Bytes:
			small.OrigBytes, big.OrigBytes = 1, 2
		case Packets:
			small.OrigPackets, big.OrigPackets = 1, 2
		case Rate:
			small.Present |= flow.HasRate
			big.Present |= flow.HasRate
			small.ByteRate, big.ByteRate = 1, 2
		}
		for _, reverse := range []bool{false, true} {
			flows := []flow.Flow{small, big}
			idx := []int32{0, 1}
			sortIdx(flows, idx, k, reverse)
			if smallFirst := idx[0] == 0; smallFirst != k.Ascending(reverse) {
				t.Errorf("%v reverse=%v: Ascending = %v, but the smaller value sorts first: %v",
					k, reverse, k.Ascending(reverse), smallFirst)
			}
		}
	}
}

// Protocols with a name sort by name, then the others by number, not by
// their names: unknown(99) before unknown(100).
func TestProtoOrder(t *testing.T) {
	protos := []uint8{253, 100, flow.ProtoUDP, 99, flow.ProtoTCP, flow.ProtoDCCP, 0, flow.ProtoGRE, flow.ProtoICMPv6, flow.ProtoICMP, 50, 2}
	flows := make([]flow.Flow, len(protos))
	idx := make([]int32, len(protos))
	for i, p := range protos {
		flows[i] = flow.Flow{Family: flow.FamilyIPv4, Proto: p}
		idx[i] = int32(i)
	}
	sortIdx(flows, idx, Proto, false)
	var got []string
	for _, i := range idx {
		got = append(got, flows[i].ProtoName())
	}
	want := []string{"dccp", "esp", "gre", "icmp", "icmpv6", "igmp", "tcp", "udp", "unknown(0)", "unknown(99)", "unknown(100)", "unknown(253)"}
	if !slices.Equal(got, want) {
		t.Errorf("by protocol: %v\nwant         %v", got, want)
	}
}

// TestStateOrderReadsSorted: sorted by state, the State column reads in
// order whatever the protocol, the phases of UDP and GRE among TCP's
// states; ICMP rows, whose column starts with the type, come last.
func TestStateOrderReadsSorted(t *testing.T) {
	seen, assured := flow.StatusSeenReply, flow.StatusSeenReply|flow.StatusAssured
	flows := []flow.Flow{
		{Proto: flow.ProtoICMP, Status: seen},
		{Proto: flow.ProtoUDP, Status: assured},
		{Proto: flow.ProtoTCP, State: flow.TCPTimeWait, Present: flow.HasState, Status: assured},
		{Proto: flow.ProtoUDP},
		{Proto: flow.ProtoGRE, Status: seen},
		{Proto: flow.ProtoTCP, State: flow.TCPSynSent, Present: flow.HasState},
		{Proto: flow.ProtoUDP, Status: assured | flow.StatusOffload},
		{Proto: flow.ProtoTCP, State: flow.TCPEstablished, Present: flow.HasState, Status: assured},
		{Proto: flow.ProtoICMP},
		{Proto: 50, Status: assured},
	}
	for i := range flows {
		flows[i].Family = flow.FamilyIPv4
	}
	read := func(reverse bool) string {
		idx := identity(len(flows))
		sortIdx(flows, idx, State, reverse)
		var col []string
		for _, i := range idx {
			f := &flows[i]
			col = append(col, f.ProtoName()+":"+f.DisplayState())
		}
		return strings.Join(col, " ")
	}
	// Names several protocols share order by protocol number: udp (17)
	// before esp (50).
	want := "udp:ASSURED esp:ASSURED tcp:ESTABLISHED udp:OFFLOAD gre:REPLIED tcp:SYN_SENT tcp:TIME_WAIT udp:UNREPLIED icmp:UNREPLIED icmp:REPLIED"
	if got := read(false); got != want {
		t.Errorf("by state:\n got %s\nwant %s", got, want)
	}
	want = "udp:UNREPLIED tcp:TIME_WAIT tcp:SYN_SENT gre:REPLIED udp:OFFLOAD tcp:ESTABLISHED esp:ASSURED udp:ASSURED icmp:REPLIED icmp:UNREPLIED"
	if got := read(true); got != want {
		t.Errorf("by state reversed:\n got %s\nwant %s", got, want)
	}
}

func TestNextPrevCycle(t *testing.T) {
	keys := Keys()
	for i, k := range keys {
		if got, want := k.Next(), keys[(i+1)%len(keys)]; got != want {
			t.Errorf("%v.Next() = %v, want %v", k, got, want)
		}
		if got, want := k.Prev(), keys[(i+len(keys)-1)%len(keys)]; got != want {
			t.Errorf("%v.Prev() = %v, want %v", k, got, want)
		}
	}
	if Rate.Next() != Src || Src.Prev() != Rate {
		t.Error("the cycle does not wrap between Rate and Src")
	}
}

func TestSortSmallAndInvalidKey(t *testing.T) {
	flows := randFlows(9, 50)
	sortIdx(flows, nil, Src, false)
	one := []int32{7}
	sortIdx(flows, one, Bytes, false)
	if one[0] != 7 {
		t.Fatal("sorting one row changed it")
	}
	a, b := identity(len(flows)), identity(len(flows))
	sortIdx(flows, a, Key(200), false)
	sortIdx(flows, b, Src, false)
	if !slices.Equal(a, b) {
		t.Fatal("an invalid key does not order as Src")
	}
}

func identity(n int) []int32 {
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(i)
	}
	return idx
}

func firstDiff(a, b []int32) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// TestSorterReusesMemory: re-sorting, split between two goroutines or not,
// allocates nothing once the scratch buffer has grown.
func TestSorterReusesMemory(t *testing.T) {
	flows := randFlows(10, 2*parallelMin)
	idx := identity(len(flows))
	var s Sorter
	for _, n := range []int{100, len(idx)} {
		s.Sort(flows, idx[:n], Dst, false)
		allocs := testing.AllocsPerRun(5, func() { s.Sort(flows, idx[:n], Bytes, true) })
		if allocs != 0 {
			t.Errorf("sorting %d rows again: %v allocations, want 0", n, allocs)
		}
		s.Top(flows, idx[:n], Src, false, 50)
		if allocs := testing.AllocsPerRun(5, func() { s.Top(flows, idx[:n], State, false, 50) }); allocs != 0 {
			t.Errorf("the top of %d rows again: %v allocations, want 0", n, allocs)
		}
	}
}

// TestDuplicatesByIndex: rows equal in every key byte (a saved dump may hold
// the same entry twice) come out in table order, in groups small and large.
func TestDuplicatesByIndex(t *testing.T) {
	for _, n := range []int{5, radixMin + 1, 1000} {
		flows := make([]flow.Flow, n)
		for i := range flows {
			flows[i] = flow.Flow{Family: flow.FamilyIPv6, Proto: flow.ProtoUDP}
			flows[i].Orig.Src[15] = 1
		}
		for _, k := range Keys() {
			idx := identity(n)
			rand.New(rand.NewPCG(uint64(n), 0)).Shuffle(n, func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
			sortIdx(flows, idx, k, false)
			if !slices.Equal(idx, identity(n)) {
				t.Fatalf("%d duplicates by %s: %v, want table order", n, k, idx[:min(n, 10)])
			}
		}
	}
}

// TestTopMatchesSort: Top's ordered rows are the first rows of Sort's order,
// the rest are the other rows, and sorting the rest completes the order;
// for every key, with ties in the first key bytes (a table of one source
// and port sorts its rows by later bytes) and without.
func TestTopMatchesSort(t *testing.T) {
	shared := make([]flow.Flow, parallelMin+1000)
	for i := range shared {
		f := &shared[i]
		f.Family, f.Proto = flow.FamilyIPv6, flow.ProtoTCP
		f.Orig.Src = flow.AddrFrom(netip.MustParseAddr("2001:db8::1"))
		f.Orig.Dst = flow.AddrFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}))
		f.Orig.DstPort = uint16(i / 256)
	}
	for name, flows := range map[string][]flow.Flow{"random": randFlows(11, parallelMin+3000), "shared prefixes": shared} {
		var s Sorter
		for _, k := range Keys() {
			for _, reverse := range []bool{false, true} {
				want := identity(len(flows))
				s.Sort(flows, want, k, reverse)
				for _, n := range []int{1, 7, 60, 1000} {
					got := identity(len(flows))
					rand.New(rand.NewPCG(uint64(n), 1)).Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
					m := s.Top(flows, got, k, reverse, n)
					if m < n {
						t.Fatalf("%s, %s reverse=%v: Top(%d) ordered %d rows", name, k, reverse, n, m)
					}
					if i := firstDiff(got[:m], want[:m]); i >= 0 {
						t.Fatalf("%s, %s reverse=%v, top %d: row %d is flow %d, want %d", name, k, reverse, n, i, got[i], want[i])
					}
					s.Sort(flows, got[m:], k, reverse)
					if i := firstDiff(got, want); i >= 0 {
						t.Fatalf("%s, %s reverse=%v, top %d then the rest: row %d is flow %d, want %d", name, k, reverse, n, i, got[i], want[i])
					}
				}
			}
		}
	}
}
