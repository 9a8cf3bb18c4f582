// Package ui holds what the live screen (package screen) and the one-shot
// writers (package text) share: how a flow's fields are spelled as text, the
// table's columns and how they fit a width (columns.go), and the table's
// health as fields (health.go).
//
// The Append functions write into a caller's buffer so that printing 200,000
// rows allocates nothing per row.
package ui

import (
	"github.com/gostate/gostate/internal/numfmt"
	"math/bits"
	"strconv"
	"unicode/utf8"

	"github.com/rivo/uniseg"

	"github.com/gostate/gostate/internal/flow"
)

// AppendAddr appends the address in its usual text form (IPv6 per RFC 5952).
// IPv4, most rows of most tables, is spelled directly, without the detour
// through netip: the same text in half the time.
func AppendAddr(b []byte, fam flow.Family, a flow.Addr) []byte { return appendAddr(b, fam, &a) }

func appendAddr(b []byte, fam flow.Family, a *flow.Addr) []byte {
	if fam != flow.FamilyIPv4 {
		return a.Netip(fam).AppendTo(b)
	}
	for k, octet := range a[12:] {
		if k > 0 {
			b = append(b, '.')
		}
		// Three bytes appended, then cut to the octet's length: no branch
		// on the number of digits, which varies at random from row to row.
		t := &octets[octet]
		b = append(b, t.text[0], t.text[1], t.text[2])
		b = b[:len(b)-3+int(t.n)]
	}
	return b
}

// octets holds the decimal text of every byte value, left-aligned, and its
// length.
var octets = func() (t [256]struct {
	text [3]byte
	n    uint8
}) {
	for i := range t {
		t[i].n = uint8(copy(t[i].text[:], strconv.Itoa(i)))
	}
	return t
}()

// ipv4Width is the length of AppendAddr's text of an IPv4 address.
func ipv4Width(a *flow.Addr) int {
	return len("...") + int(octets[a[12]].n+octets[a[13]].n+octets[a[14]].n+octets[a[15]].n)
}

// AppendEndpoint appends one end of a tuple: "addr:port" when the protocol has
// ports (IPv6 as "[addr]:port"), the bare address otherwise.
func AppendEndpoint(b []byte, f *flow.Flow, t *flow.Tuple, source bool) []byte {
	if source {
		return appendEndpoint(b, f, &t.Src, t.SrcPort)
	}
	return appendEndpoint(b, f, &t.Dst, t.DstPort)
}

func appendEndpoint(b []byte, f *flow.Flow, addr *flow.Addr, port uint16) []byte {
	if !f.HasPorts() {
		return appendAddr(b, f.Family, addr)
	}
	if f.Family == flow.FamilyIPv6 {
		b = append(b, '[')
		b = appendAddr(b, f.Family, addr)
		b = append(b, ']')
	} else {
		b = appendAddr(b, f.Family, addr)
	}
	b = append(b, ':')
	return AppendUint(b, uint64(port))
}

// DescribeFlow names a flow in one line, for messages and questions about
// it: "tcp 192.0.2.1:40000 -> 198.51.100.2:443", and " zone 7" after it when
// the flow is in a zone other than 0, since the kernel may track the same
// tuple in two zones.
func DescribeFlow(f *flow.Flow) string {
	b := append([]byte(f.ProtoName()), ' ')
	b = AppendEndpoint(b, f, &f.Orig, true)
	b = append(b, " -> "...)
	b = AppendEndpoint(b, f, &f.Orig, false)
	if f.Zone != 0 {
		b = append(b, " zone "...)
		b = AppendUint(b, uint64(f.Zone))
	}
	return string(b)
}

// AppendState appends what the state column shows: the flow's display
// state (flow.Flow.DisplayState: ESTABLISHED, or for protocols without
// states UNREPLIED, REPLIED, ASSURED, OFFLOAD), after "type/code id" for
// ICMP ("8/0 77 UNREPLIED").
func AppendState(b []byte, f *flow.Flow) []byte {
	if f.IsICMP() {
		b = AppendUint(b, uint64(f.Orig.ICMPType))
		b = append(b, '/')
		b = AppendUint(b, uint64(f.Orig.ICMPCode))
		b = append(b, ' ')
		b = AppendUint(b, uint64(f.Orig.SrcPort))
		b = append(b, ' ')
	}
	return append(b, f.DisplayState()...)
}

// stateWidth is the length of AppendState's text.
func stateWidth(f *flow.Flow) int {
	n := len(f.DisplayState())
	if f.IsICMP() {
		n += decimalDigits(uint64(f.Orig.ICMPType)) + len("/") + decimalDigits(uint64(f.Orig.ICMPCode)) +
			len(" ") + decimalDigits(uint64(f.Orig.SrcPort)) + len(" ")
	}
	return n
}

// AppendTTL appends seconds as h:mm:ss; hours are not limited to two digits.
func AppendTTL(b []byte, secs uint32) []byte {
	h, m, s := secs/3600, secs/60%60, secs%60
	b = AppendUint(b, uint64(h))
	b = append(b, ':', byte('0'+m/10), byte('0'+m%10), ':', byte('0'+s/10), byte('0'+s%10))
	return b
}

// ttlWidth is the length of AppendTTL's text.
func ttlWidth(secs uint32) int { return decimalDigits(uint64(secs/3600)) + len(":mm:ss") }

// AppendUint appends n in decimal as strconv.AppendUint does, faster for the
// small numbers of octets, ports and most counters.
func AppendUint(b []byte, n uint64) []byte {
	switch {
	case n < 10:
		return append(b, byte('0'+n))
	case n < 100:
		return append(b, byte('0'+n/10), byte('0'+n%10))
	case n < 1000:
		return append(b, byte('0'+n/100), byte('0'+n/10%10), byte('0'+n%10))
	case n < 10000:
		return append(b, byte('0'+n/1000), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10))
	case n < 100000:
		return append(b, byte('0'+n/10000), byte('0'+n/1000%10), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10))
	}
	return strconv.AppendUint(b, n, 10)
}

func decimalDigits(n uint64) int {
	d := 1
	for ; n >= 10; n /= 10 {
		d++
	}
	return d
}

// AppendCount appends n in decimal with thousands separators: 262,144
// (numfmt.AppendCount, the one rule for counts).
func AppendCount(b []byte, n uint64) []byte { return numfmt.AppendCount(b, n) }

// units is a system of units for AppendBytes and AppendPackets: pow[k] is
// base^k, names[k] the name of unit k (names[0] that of single items).
type units struct {
	base uint64
	// binary is true for base 1024, whose powers are found and divided by
	// with shifts.
	binary bool
	pow    [7]uint64
	names  [7]string
}

func newUnits(base uint64, names [7]string) *units {
	u := &units{base: base, binary: base == 1024, names: names}
	u.pow[0] = 1
	for k := 1; k < len(u.pow); k++ {
		u.pow[k] = u.pow[k-1] * base // 1024^6 and 1000^6 fit in 64 bits
	}
	return u
}

var (
	iec     = newUnits(1024, [7]string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"})
	decimal = newUnits(1000, [7]string{"", "K", "M", "G", "T", "P", "E"})
)

// AppendBytes appends a byte count in IEC units, as short as it stays
// readable: "812B", "7.5KiB", "46MiB", "16EiB". At most 7 characters
// (BytesMaxWidth).
func AppendBytes(b []byte, n uint64) []byte { return appendScaled(b, n, iec) }

// AppendPackets appends a count of packets in decimal units (K is 1,000):
// "999", "1.0M" for 1,000,000, "18E". At most 4 characters
// (PacketsMaxWidth).
func AppendPackets(b []byte, n uint64) []byte { return appendScaled(b, n, decimal) }

// AppendRate appends bytes per second as AppendBytes writes bytes, with
// "/s": "0B/s", "1.2MiB/s". At most 9 characters (RateMaxWidth).
func AppendRate(b []byte, perSecond float32) []byte {
	return append(AppendBytes(b, uint64(max(perSecond, 0)+0.5)), "/s"...)
}

// The widest texts of AppendBytes ("1023KiB"), AppendPackets ("999K") and
// AppendRate ("1023KiB/s").
const (
	BytesMaxWidth   = 7
	PacketsMaxWidth = 4
	RateMaxWidth    = BytesMaxWidth + len("/s")
)

func appendScaled(b []byte, n uint64, u *units) []byte {
	k, q, tenths := scale(n, u)
	if tenths {
		b = append(b, byte('0'+q/10), '.', byte('0'+q%10))
	} else {
		b = AppendUint(b, q)
	}
	return append(b, u.names[k]...)
}

// scale chooses how appendScaled writes n: in unit k, the largest that
// leaves a number of at least 1, the number q with one decimal below 10
// (tenths, q = 75 for "7.5") and none from 10 on ("46"), ties rounded to
// even. A number that rounds up to the base ("1024" of a unit) becomes 1.0 of
// the next unit, so that a cell never reads 1024KiB.
//
// Integer arithmetic only: formatting floats took a fifth of the one-shot -C
// time. No product overflows: r < d <= base^6 <= 2^60, so r*10 < 2^64.
func scale(n uint64, u *units) (k int, q uint64, tenths bool) {
	if n < u.base {
		return 0, n, false
	}
	if u.binary {
		k = (bits.Len64(n) - 1) / 10
	} else {
		k = 1
		for k < len(u.pow)-1 && n >= u.pow[k+1] {
			k++
		}
	}
	q, r := u.divmod(n, k)
	tenths = q < 10
	if tenths {
		t, rt := u.divmod(r*10, k)
		q, r = q*10+t, rt
	}
	if d := u.pow[k]; r > d-r || r == d-r && q&1 == 1 {
		q++
	}
	switch {
	case tenths && q == 100: // 9.95 and above: "10", no decimal
		return k, 10, false
	case !tenths && q == u.base: // k < 6 here: 2^64 is under 1024 and 1000 of unit 6
		return k + 1, 10, true
	}
	return k, q, tenths
}

// divmod divides n by base^k, 1 <= k <= 6: by shifting for base 1024, by
// constants for base 1000, which the compiler turns into multiplications
// (a DIV instruction costs tens of cycles, twice per count).
func (u *units) divmod(n uint64, k int) (q, r uint64) {
	if u.binary {
		s := 10 * uint(k)
		return n >> s, n & (1<<s - 1)
	}
	switch k {
	case 1:
		return n / 1e3, n % 1e3
	case 2:
		return n / 1e6, n % 1e6
	case 3:
		return n / 1e9, n % 1e9
	case 4:
		return n / 1e12, n % 1e12
	case 5:
		return n / 1e15, n % 1e15
	}
	return n / 1e18, n % 1e18
}

// Color is the colour a row is drawn in: the rule is one, each view maps it
// to its own palette (ANSI codes, tcell colours).
type Color uint8

// The colours of rows, as iptstate chose them.
const (
	ColorDefault Color = iota // the terminal's own foreground
	ColorGreen
	ColorYellow
	ColorRed
)

// ProtoColor returns the colour of a protocol's rows: tcp green, udp and
// udplite yellow, icmp and icmpv6 red, the others the default.
func ProtoColor(proto uint8) Color {
	switch proto {
	case flow.ProtoTCP:
		return ColorGreen
	case flow.ProtoUDP, flow.ProtoUDPLite:
		return ColorYellow
	case flow.ProtoICMP, flow.ProtoICMPv6:
		return ColorRed
	}
	return ColorDefault
}

// Width returns how many terminal cells b takes: one per ASCII byte; beyond
// ASCII, the width of each grapheme cluster (two for East Asian wide
// characters, none for combining marks). Every view measures with it, so a
// cell measured by one is as wide in the other.
func Width(b []byte) int {
	if isASCII(b) {
		return len(b)
	}
	w, state := 0, -1
	for len(b) > 0 {
		var bounds int
		_, b, bounds, state = uniseg.Step(b, state)
		w += bounds >> uniseg.ShiftWidth
	}
	return w
}

// stringWidth is Width of a string.
func stringWidth(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return uniseg.StringWidth(s)
		}
	}
	return len(s)
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
