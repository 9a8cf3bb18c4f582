// Package ui holds what the live screen (package screen) and the one-shot
// writers (package text) share: how a flow's fields are spelled as text.
//
// The Append functions write into a caller's buffer so that printing 200,000
// rows allocates nothing per row.
package ui

import (
	"strconv"
	"unicode"
	"unicode/utf8"

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
func AppendHuman(b []byte, n uint64) []byte {
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

// Sanitize makes text from outside gostate (host names, helper names, labels,
// file contents) safe to put on a terminal: control characters, including the
// ESC that starts terminal escape sequences, and invalid UTF-8 become '?'.
func Sanitize(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || r == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || r == 0x7f {
			r = '?'
		}
		out = append(out, r)
	}
	return string(out)
}
