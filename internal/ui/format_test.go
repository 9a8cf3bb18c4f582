package ui

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"testing"

	"github.com/gostate/gostate/internal/flow"
)

func TestAppendEndpoint(t *testing.T) {
	mk := func(proto uint8, src, dst string, sp, dp uint16) flow.Flow {
		s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
		fam := flow.FamilyIPv4
		if s.Is6() {
			fam = flow.FamilyIPv6
		}
		return flow.Flow{Family: fam, Proto: proto, Orig: flow.Tuple{
			Src: flow.AddrFrom(s), Dst: flow.AddrFrom(d), SrcPort: sp, DstPort: dp}}
	}
	cases := []struct {
		f        flow.Flow
		src, dst string
	}{
		{mk(flow.ProtoTCP, "192.0.2.1", "198.51.100.2", 40000, 443), "192.0.2.1:40000", "198.51.100.2:443"},
		{mk(flow.ProtoUDP, "2001:db8::1", "2001:db8:0:0:1::2", 53, 5353), "[2001:db8::1]:53", "[2001:db8::1:0:0:2]:5353"},
		{mk(flow.ProtoICMP, "192.0.2.1", "203.0.113.1", 7, 0), "192.0.2.1", "203.0.113.1"},
		{mk(47, "192.0.2.1", "203.0.113.1", 7, 9), "192.0.2.1", "203.0.113.1"},
	}
	for _, c := range cases {
		if got := string(AppendEndpoint(nil, &c.f, &c.f.Orig, true)); got != c.src {
			t.Errorf("source: got %q, want %q", got, c.src)
		}
		if got := string(AppendEndpoint(nil, &c.f, &c.f.Orig, false)); got != c.dst {
			t.Errorf("destination: got %q, want %q", got, c.dst)
		}
	}
}

func TestAppendState(t *testing.T) {
	tcp := flow.Flow{Proto: flow.ProtoTCP, State: flow.TCPSynSent2, Present: flow.HasState}
	icmp := flow.Flow{Proto: flow.ProtoICMP, Orig: flow.Tuple{ICMPType: 8, ICMPCode: 0, SrcPort: 4242}}
	udp := flow.Flow{Proto: flow.ProtoUDP}
	for f, want := range map[*flow.Flow]string{&tcp: "SYN_SENT2", &icmp: "8/0 4242", &udp: ""} {
		if got := string(AppendState(nil, f)); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestAppendTTL(t *testing.T) {
	for secs, want := range map[uint32]string{0: "0:00:00", 59: "0:00:59", 3661: "1:01:01", 432000: "120:00:00"} {
		if got := string(AppendTTL(nil, secs)); got != want {
			t.Errorf("%d: got %q, want %q", secs, got, want)
		}
	}
}

func TestAppendHuman(t *testing.T) {
	for n, want := range map[uint64]string{
		0: "0", 1023: "1023", 1536: "1.5K", 10 << 20: "10M", 5 << 30: "5.0G",
		2304:                "2.2K",  // 2.25: a tie, rounded to even
		2816:                "2.8K",  // 2.75: a tie, rounded to even
		10188:               "9.9K",  // 9.949...
		10189:               "10.0K", // 9.950...: rounds up past the one-decimal range
		1<<20 - 1:           "1024K", // 1023.999...K: rounds up, stays in K
		1<<60 - 1:           "1.0E",  // float64 rounds it to 2^60
		math.MaxUint64:      "16E",   // float64 rounds it to 2^64
		1<<60 + 1<<55 + 1:   "1.0E",
		3 << 59:             "1.5E",
		(1<<64 - 1) &^ 1023: "16E",
	} {
		if got := string(AppendHuman(nil, n)); got != want {
			t.Errorf("%d: got %q, want %q", n, got, want)
		}
	}
}

// appendHumanFloat is the float64 AppendHuman that the integer one replaced;
// its output is the specification (golden files and transcripts hold it).
func appendHumanFloat(b []byte, n uint64) []byte {
	const units = "KMGTPE"
	if n < 1024 {
		return strconv.AppendUint(b, n, 10)
	}
	v := float64(n)
	i := -1
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	prec := 1
	if v >= 10 {
		prec = 0
	}
	b = strconv.AppendFloat(b, v, 'f', prec, 64)
	return append(b, units[i])
}

// humanChecker compares AppendHuman with appendHumanFloat, reusing buffers.
type humanChecker struct {
	t         *testing.T
	got, want []byte
	failures  int
}

func (c *humanChecker) check(n uint64) {
	c.got = AppendHuman(c.got[:0], n)
	c.want = appendHumanFloat(c.want[:0], n)
	if string(c.got) != string(c.want) && c.failures < 20 {
		c.failures++
		c.t.Errorf("AppendHuman(%d) = %q, float version %q", n, c.got, c.want)
	}
}

func TestAppendHumanMatchesFloatBelow2p20(t *testing.T) {
	c := &humanChecker{t: t}
	for n := uint64(0); n < 1<<20; n++ {
		c.check(n)
	}
}

func TestAppendHumanMatchesFloatPowersOfTwo(t *testing.T) {
	c := &humanChecker{t: t}
	for k := range 64 {
		p := uint64(1) << k
		c.check(p - 1)
		c.check(p)
		c.check(p + 1)
	}
	c.check(math.MaxUint64)
}

// TestAppendHumanMatchesFloatRoundingPoints checks the numbers around every
// point where the printed value changes: (j+1/2)/10 and j+1/2 of each unit,
// and, above 2^53 where float64(n) rounds, the halfway points between two
// float64 values next to them.
func TestAppendHumanMatchesFloatRoundingPoints(t *testing.T) {
	c := &humanChecker{t: t}
	for unit := 10; unit <= 60; unit += 10 {
		for j := uint64(0); j < 20480; j++ {
			// (2j+1)/20 * 2^unit covers the tenths; j+1/2 is (20j+10)/20.
			for _, num := range []uint64{2*j + 1, 20*j + 10} {
				hi, lo := bits.Mul64(num, 1<<unit)
				if hi >= 20 {
					continue // beyond 2^64
				}
				mid, _ := bits.Div64(hi, lo, 20)
				checkAround(c, mid)
			}
		}
	}
}

// checkAround checks n and its neighbours, and where float64 cannot hold n
// exactly, the neighbours of the halfway points between the float64 values
// around n.
func checkAround(c *humanChecker, n uint64) {
	for d := uint64(0); d <= 2; d++ {
		c.check(n - d)
		c.check(n + d)
	}
	l := bits.Len64(n)
	if l <= 53 {
		return
	}
	ulp := uint64(1) << (l - 53)
	base := n &^ (ulp - 1)
	for _, h := range []uint64{base - ulp/2, base + ulp/2, base + ulp + ulp/2} {
		c.check(h - 1)
		c.check(h)
		c.check(h + 1)
	}
}

func TestAppendHumanMatchesFloatRandom(t *testing.T) {
	c := &humanChecker{t: t}
	r := rand.New(rand.NewPCG(1, 2))
	// Each magnitude: below 1K, then K, M, G, T, P, E.
	for unit := 0; unit <= 60; unit += 10 {
		lo, span := uint64(0), uint64(1024)<<unit
		if unit > 0 {
			lo, span = 1<<unit, (1<<unit)*1023
		}
		if unit == 60 {
			span = math.MaxUint64 - lo + 1
		}
		for range 1_000_000 {
			c.check(lo + r.Uint64N(span))
		}
	}
}

func FuzzAppendHuman(f *testing.F) {
	for _, n := range []uint64{0, 1023, 1024, 2304, 10189, 1<<20 - 1, 1<<53 + 1, 1<<60 - 1, math.MaxUint64} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, n uint64) {
		got, want := AppendHuman(nil, n), appendHumanFloat(nil, n)
		if string(got) != string(want) {
			t.Errorf("AppendHuman(%d) = %q, float version %q", n, got, want)
		}
	})
}

func TestAppendHumanAllocs(t *testing.T) {
	b := make([]byte, 0, 32)
	allocs := testing.AllocsPerRun(100, func() {
		for _, n := range humanBenchValues {
			b = AppendHuman(b[:0], n)
		}
	})
	if allocs != 0 {
		t.Errorf("AppendHuman allocates %v times per run into a reused buffer", allocs)
	}
}

// humanBenchValues spread over every unit and both precisions, as the -C
// columns of a large table are.
var humanBenchValues = []uint64{
	60, 1023, 1536, 9000, 52_000, 700_000, 3_400_000, 45_000_000, 987_654_321,
	5 << 30, 77 << 30, 3 << 40, 123 << 40, 2 << 50, 1<<60 + 12345, math.MaxUint64,
}

func BenchmarkAppendHuman(b *testing.B) {
	buf := make([]byte, 0, 32)
	for i := 0; b.Loop(); i++ {
		buf = AppendHuman(buf[:0], humanBenchValues[i%len(humanBenchValues)])
	}
}
