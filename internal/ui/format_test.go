package ui

import (
	"fmt"
	"math"
	"math/big"
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
	ping6 := flow.Flow{Proto: flow.ProtoICMPv6, Status: flow.StatusSeenReply, Orig: flow.Tuple{ICMPType: 128, SrcPort: 77}}
	// Protocols without states show the phase: a DNS query never answered
	// reads UNREPLIED.
	dns := flow.Flow{Proto: flow.ProtoUDP, Status: flow.StatusConfirmed}
	udp := flow.Flow{Proto: flow.ProtoUDP, Status: flow.StatusSeenReply}
	assured := flow.Flow{Proto: flow.ProtoUDP, Status: flow.StatusSeenReply | flow.StatusAssured}
	offload := flow.Flow{Proto: flow.ProtoUDP, Status: flow.StatusSeenReply | flow.StatusAssured | flow.StatusHWOffload}
	gre := flow.Flow{Proto: flow.ProtoGRE, Status: flow.StatusSeenReply | flow.StatusAssured}
	for f, want := range map[*flow.Flow]string{&tcp: "SYN_SENT2", &icmp: "8/0 4242 UNREPLIED", &ping6: "128/0 77 REPLIED",
		&dns: "UNREPLIED", &udp: "REPLIED", &assured: "ASSURED", &offload: "OFFLOAD", &gre: "ASSURED"} {
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

func TestAppendBytes(t *testing.T) {
	for n, want := range map[uint64]string{
		0: "0B", 812: "812B", 1023: "1023B", 1024: "1.0KiB", 1536: "1.5KiB",
		7680:           "7.5KiB",
		2304:           "2.2KiB",  // 2.25: a tie, rounded to even
		2816:           "2.8KiB",  // 2.75: a tie, rounded to even
		10188:          "9.9KiB",  // 9.949...
		10189:          "10KiB",   // 9.950... rounds past the one-decimal range
		1<<20 - 513:    "1023KiB", // 1023.4990...
		1<<20 - 512:    "1.0MiB",  // 1023.5: rounds to 1024 KiB, written in MiB
		10 << 20:       "10MiB",
		5 << 30:        "5.0GiB",
		46 << 20:       "46MiB",
		math.MaxUint64: "16EiB",
	} {
		if got := string(AppendBytes(nil, n)); got != want {
			t.Errorf("AppendBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestAppendPackets(t *testing.T) {
	for n, want := range map[uint64]string{
		0: "0", 999: "999", 1000: "1.0K", 1500: "1.5K", 2250: "2.2K", 9950: "10K",
		999_499:        "999K",
		999_500:        "1.0M", // rounds to 1000K, written in M
		1_000_000:      "1.0M",
		45_000_000:     "45M",
		math.MaxUint64: "18E",
	} {
		if got := string(AppendPackets(nil, n)); got != want {
			t.Errorf("AppendPackets(%d) = %q, want %q", n, got, want)
		}
	}
}

// appendScaledRef is appendScaled's rule in exact rational arithmetic, with
// no care for speed: the specification the fast version is checked against.
func appendScaledRef(b []byte, n uint64, u *units) []byte {
	if n < u.base {
		return append(strconv.AppendUint(b, n, 10), u.names[0]...)
	}
	k := 1
	for k < 6 && n >= u.pow[k+1] {
		k++
	}
	// Round n/d to tenths (below 10) or units, ties to even.
	round := func(num, den *big.Int) int64 {
		q, r := new(big.Int).QuoRem(num, den, new(big.Int))
		switch r.Lsh(r, 1).Cmp(den) {
		case 1:
			q.Add(q, big.NewInt(1))
		case 0:
			if q.Bit(0) == 1 {
				q.Add(q, big.NewInt(1))
			}
		}
		return q.Int64()
	}
	num, den := new(big.Int).SetUint64(n), new(big.Int).SetUint64(u.pow[k])
	if new(big.Int).Quo(num, den).Int64() < 10 {
		if t := round(new(big.Int).Mul(num, big.NewInt(10)), den); t < 100 {
			return append(fmt.Appendf(b, "%d.%d", t/10, t%10), u.names[k]...)
		}
		return append(b, "10"+u.names[k]...)
	}
	q := round(num, den)
	if q == int64(u.base) {
		return append(b, "1.0"+u.names[k+1]...)
	}
	return append(strconv.AppendInt(b, q, 10), u.names[k]...)
}

// scaledChecker compares appendScaled with appendScaledRef in both unit
// systems, reusing buffers, and checks the widths promised.
type scaledChecker struct {
	t         *testing.T
	got, want []byte
	failures  int
}

func (c *scaledChecker) check(n uint64) {
	for _, u := range []*units{iec, decimal} {
		c.got = appendScaled(c.got[:0], n, u)
		c.want = appendScaledRef(c.want[:0], n, u)
		maxWidth := BytesMaxWidth
		if u == decimal {
			maxWidth = PacketsMaxWidth
		}
		if (string(c.got) != string(c.want) || len(c.got) > maxWidth) && c.failures < 20 {
			c.failures++
			c.t.Errorf("appendScaled(%d, base %d) = %q, want %q (at most %d long)", n, u.base, c.got, c.want, maxWidth)
		}
	}
}

func TestAppendScaledBelow2p20(t *testing.T) {
	c := &scaledChecker{t: t}
	for n := uint64(0); n < 1<<20; n++ {
		c.check(n)
	}
}

func TestAppendScaledPowers(t *testing.T) {
	c := &scaledChecker{t: t}
	for k := range 64 {
		p := uint64(1) << k
		c.check(p - 1)
		c.check(p)
		c.check(p + 1)
	}
	for p := uint64(1); p <= 1e19; p *= 10 {
		c.check(p - 1)
		c.check(p)
		c.check(p + 1)
	}
	c.check(math.MaxUint64)
}

// TestAppendScaledRoundingPoints checks the numbers around every point
// where the text changes: (j+1/2)/10 and j+1/2 of each unit of both systems.
func TestAppendScaledRoundingPoints(t *testing.T) {
	c := &scaledChecker{t: t}
	for _, u := range []*units{iec, decimal} {
		for k := 1; k < len(u.pow); k++ {
			for j := uint64(0); j < 2*u.base; j++ {
				// (2j+1)/20 of a unit covers the tenths; j+1/2 is (20j+10)/20.
				for _, num := range []uint64{2*j + 1, 20*j + 10} {
					hi, lo := bits.Mul64(num, u.pow[k])
					if hi >= 20 {
						continue // beyond 2^64
					}
					mid, _ := bits.Div64(hi, lo, 20)
					for d := uint64(0); d <= 2; d++ {
						c.check(mid - d)
						c.check(mid + d)
					}
				}
			}
		}
	}
}

func TestAppendScaledRandom(t *testing.T) {
	c := &scaledChecker{t: t}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		// Spread over every magnitude: a random length, then random bits.
		c.check(r.Uint64() >> r.UintN(64))
	}
}

func FuzzAppendScaled(f *testing.F) {
	for _, n := range []uint64{0, 999, 1023, 1024, 7680, 10189, 999_500, 1<<20 - 512, math.MaxUint64} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, n uint64) {
		c := &scaledChecker{t: t}
		c.check(n)
	})
}

func TestAppendScaledAllocs(t *testing.T) {
	b := make([]byte, 0, 32)
	allocs := testing.AllocsPerRun(100, func() {
		for _, n := range scaledBenchValues {
			b = AppendBytes(b[:0], n)
			b = AppendPackets(b[:0], n)
		}
	})
	if allocs != 0 {
		t.Errorf("AppendBytes and AppendPackets allocate %v times per run into a reused buffer", allocs)
	}
}

// scaledBenchValues spread over every unit and both precisions, as the -C
// columns of a large table are.
var scaledBenchValues = []uint64{
	60, 1023, 1536, 9000, 52_000, 700_000, 3_400_000, 45_000_000, 987_654_321,
	5 << 30, 77 << 30, 3 << 40, 123 << 40, 2 << 50, 1<<60 + 12345, math.MaxUint64,
}

func BenchmarkAppendBytes(b *testing.B) {
	buf := make([]byte, 0, 32)
	for i := 0; b.Loop(); i++ {
		buf = AppendBytes(buf[:0], scaledBenchValues[i%len(scaledBenchValues)])
	}
}

func BenchmarkAppendPackets(b *testing.B) {
	buf := make([]byte, 0, 32)
	for i := 0; b.Loop(); i++ {
		buf = AppendPackets(buf[:0], scaledBenchValues[i%len(scaledBenchValues)])
	}
}

func TestAppendUint(t *testing.T) {
	for _, n := range []uint64{0, 9, 10, 99, 100, 255, 999, 1000, 9999, 10000, 65535, 99999, 100000, 1 << 31, math.MaxUint64} {
		if got, want := string(AppendUint(nil, n)), strconv.FormatUint(n, 10); got != want {
			t.Errorf("AppendUint(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestAppendCount(t *testing.T) {
	for n, want := range map[uint64]string{
		0: "0", 999: "999", 1000: "1,000", 65536: "65,536", 262144: "262,144",
		190112: "190,112", 1_000_000: "1,000,000", math.MaxUint64: "18,446,744,073,709,551,615",
	} {
		if got := string(AppendCount([]byte("x"), n)); got != "x"+want {
			t.Errorf("AppendCount(%d) = %q, want %q", n, got, "x"+want)
		}
	}
}

// TestAppendAddr: the direct IPv4 spelling is netip's.
func TestAppendAddr(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	addrs := []flow.Addr{
		flow.AddrFromSlice([]byte{0, 0, 0, 0}),
		flow.AddrFromSlice([]byte{10, 100, 255, 99}),
		flow.AddrFromSlice([]byte{255, 255, 255, 255}),
	}
	for range 1000 {
		addrs = append(addrs, flow.AddrFromSlice([]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}))
	}
	for _, a := range addrs {
		got, want := string(AppendAddr(nil, flow.FamilyIPv4, a)), a.Netip(flow.FamilyIPv4).String()
		if got != want {
			t.Errorf("AppendAddr(%v) = %q, want %q", a, got, want)
		}
		if n := ipv4Width(&a); n != len(want) {
			t.Errorf("ipv4Width(%v) = %d, want %d", a, n, len(want))
		}
	}
}

func TestProtoColor(t *testing.T) {
	for proto, want := range map[uint8]Color{
		flow.ProtoTCP: ColorGreen, flow.ProtoUDP: ColorYellow, flow.ProtoUDPLite: ColorYellow,
		flow.ProtoICMP: ColorRed, flow.ProtoICMPv6: ColorRed, flow.ProtoGRE: ColorDefault, 253: ColorDefault,
	} {
		if got := ProtoColor(proto); got != want {
			t.Errorf("ProtoColor(%d) = %d, want %d", proto, got, want)
		}
	}
}

func TestWidth(t *testing.T) {
	for s, want := range map[string]int{
		"": 0, "192.0.2.1:80": 12, "höst": 4, "界面.example": 12, "e\u0301t\u0301e\u0301": 3, "🇺🇸x": 3,
	} {
		if got := Width([]byte(s)); got != want {
			t.Errorf("Width(%q) = %d, want %d", s, got, want)
		}
		if got := stringWidth(s); got != want {
			t.Errorf("stringWidth(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestAppendRate(t *testing.T) {
	for _, c := range []struct {
		in   float32
		want string
	}{{0, "0B/s"}, {0.4, "0B/s"}, {812, "812B/s"}, {1 << 20, "1.0MiB/s"}, {1047552, "1023KiB/s"}, {-1, "0B/s"}} {
		got := string(AppendRate(nil, c.in))
		if got != c.want || len(got) > RateMaxWidth {
			t.Errorf("AppendRate(%v) = %q, want %q (at most %d)", c.in, got, c.want, RateMaxWidth)
		}
	}
}
