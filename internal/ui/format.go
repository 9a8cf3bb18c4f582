// Package ui holds what the live screen (package screen) and the one-shot
// writers (package text) share: how a flow's fields are spelled as text.
//
// The Append functions write into a caller's buffer so that printing 200,000
// rows allocates nothing per row.
package ui

import (
	"math/bits"
	"strconv"

	"github.com/gostate/gostate/internal/flow"
)

// AppendAddr appends the address in its usual text form (IPv6 per RFC 5952).
func AppendAddr(b []byte, fam flow.Family, a flow.Addr) []byte {
	return a.Netip(fam).AppendTo(b)
}

// AppendEndpoint appends one end of a tuple: "addr:port" when the protocol has
// ports (IPv6 as "[addr]:port"), the bare address otherwise.
func AppendEndpoint(b []byte, f *flow.Flow, t *flow.Tuple, source bool) []byte {
	addr, port := t.Dst, t.DstPort
	if source {
		addr, port = t.Src, t.SrcPort
	}
	if !f.HasPorts() {
		return AppendAddr(b, f.Family, addr)
	}
	if f.Family == flow.FamilyIPv6 {
		b = append(b, '[')
		b = AppendAddr(b, f.Family, addr)
		b = append(b, ']')
	} else {
		b = AppendAddr(b, f.Family, addr)
	}
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(port), 10)
}

// AppendState appends what the state column shows: the protocol state
// (ESTABLISHED), "type/code id" for ICMP, or nothing.
func AppendState(b []byte, f *flow.Flow) []byte {
	if f.IsICMP() {
		b = strconv.AppendUint(b, uint64(f.Orig.ICMPType), 10)
		b = append(b, '/')
		b = strconv.AppendUint(b, uint64(f.Orig.ICMPCode), 10)
		b = append(b, ' ')
		return strconv.AppendUint(b, uint64(f.Orig.SrcPort), 10)
	}
	if f.Present&flow.HasState == 0 {
		return b
	}
	return append(b, f.StateName()...)
}

// AppendTTL appends seconds as h:mm:ss; hours are not limited to two digits.
func AppendTTL(b []byte, secs uint32) []byte {
	h, m, s := secs/3600, secs/60%60, secs%60
	b = strconv.AppendUint(b, uint64(h), 10)
	b = append(b, ':', byte('0'+m/10), byte('0'+m%10), ':', byte('0'+s/10), byte('0'+s%10))
	return b
}

// AppendHuman appends a count in short human units: 999, 1.5K, 23M, 4.0G
// (powers of 1024, as top and ls -h do).
//
// It prints what strconv.AppendFloat(float64(n)/1024^k, 'f', 1 or 0, 64)
// would, byte for byte (golden files hold that output), in integer arithmetic
// because the float conversion took ~19 % of the one-shot -C time: the value
// is first rounded as float64(n) rounds it (above 2^53, so 2^60-1 is "1.0E"),
// then to one decimal below 10 and none above, ties to even ("2.2K" for 2.25K).
func AppendHuman(b []byte, n uint64) []byte {
	const units = "KMGTPE"
	if n < 1024 {
		return strconv.AppendUint(b, n, 10)
	}
	// The value is m * 2^s with m <= 2^53, as float64 holds it.
	m, s := n, 0
	if l := bits.Len64(n); l > 53 {
		s = l - 53
		m = n >> s
		rest, half := n&(1<<s-1), uint64(1)<<(s-1)
		if rest > half || rest == half && m&1 == 1 {
			m++ // may reach 2^53: still exact, and m*10 below still fits
		}
	}
	// Unit k (1 for K) is the largest with 1024^k <= value; value <= 2^64
	// keeps k <= 6, and s <= 11 is above 0 only when k >= 5, so sh >= 10.
	k := (bits.Len64(m) + s - 1) / 10
	sh := uint(10*k - s) // value/1024^k = m / 2^sh
	tenths := m>>sh < 10
	if tenths {
		m *= 10 // m <= 2^53: no overflow
	}
	q, rest, half := m>>sh, m&(1<<sh-1), uint64(1)<<(sh-1)
	if rest > half || rest == half && q&1 == 1 {
		q++
	}
	if tenths {
		b = strconv.AppendUint(b, q/10, 10)
		b = append(b, '.', byte('0'+q%10))
	} else {
		b = strconv.AppendUint(b, q, 10)
	}
	return append(b, units[k-1])
}
