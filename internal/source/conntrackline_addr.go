package source

import "github.com/gostate/gostate/internal/flow"

// parseAddr parses an IPv4 or IPv6 address written as text, with the same
// rules as netip.ParseAddr (less zones, which conntrack never prints).
//
// It exists because netip.ParseAddr takes a string: converting each address of
// a 200,000-line dump from []byte would allocate four times per line.
// TestParseAddrMatchesNetip and FuzzParseAddr hold it to netip's behaviour.
func parseAddr(b []byte) (a flow.Addr, fam flow.Family, ok bool) {
	for _, c := range b {
		switch c {
		case '.':
			a[10], a[11] = 0xff, 0xff
			if !parseIPv4(b, a[12:]) {
				return flow.Addr{}, 0, false
			}
			return a, flow.FamilyIPv4, true
		case ':':
			if !parseIPv6(b, &a) {
				return flow.Addr{}, 0, false
			}
			return a, flow.FamilyIPv6, true
		}
	}
	return flow.Addr{}, 0, false
}

// parseIPv4 parses four dotted decimal fields into dst (4 bytes). Like netip,
// it refuses leading zeros, which some tools read as octal.
func parseIPv4(b []byte, dst []byte) bool {
	field, digits, val := 0, 0, 0
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
			if digits == 1 && val == 0 {
				return false // leading zero
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return false
			}
		case c == '.':
			// A field needs digits, and a dot cannot end the address.
			if digits == 0 || field == 3 || i == len(b)-1 {
				return false
			}
			dst[field] = byte(val)
			field++
			digits, val = 0, 0
		default:
			return false
		}
	}
	if field != 3 || digits == 0 {
		return false
	}
	dst[3] = byte(val)
	return true
}

// parseIPv6 parses colon-separated hex groups with at most one "::" and an
// optional trailing dotted IPv4 part, as netip's parseIPv6 does.
func parseIPv6(b []byte, ip *flow.Addr) bool {
	ellipsis := -1 // index in ip where "::" stands
	if len(b) >= 2 && b[0] == ':' && b[1] == ':' {
		ellipsis = 0
		b = b[2:]
		if len(b) == 0 {
			return true // "::"
		}
	}
	i := 0
	for i < 16 {
		off, acc := 0, 0
		for ; off < len(b); off++ {
			v := hexVal(b[off])
			if v < 0 {
				break
			}
			if off > 3 {
				return false // more than four digits
			}
			acc = acc<<4 + v
		}
		if off == 0 {
			return false
		}
		if off < len(b) && b[off] == '.' {
			// An embedded IPv4 address fills the last four bytes.
			if (ellipsis < 0 && i != 12) || i+4 > 16 {
				return false
			}
			if !parseIPv4(b, ip[i:i+4]) {
				return false
			}
			b = nil
			i += 4
			break
		}
		ip[i], ip[i+1] = byte(acc>>8), byte(acc)
		i += 2
		b = b[off:]
		if len(b) == 0 {
			break
		}
		if b[0] != ':' || len(b) == 1 {
			return false
		}
		b = b[1:]
		if b[0] == ':' {
			if ellipsis >= 0 {
				return false // a second "::"
			}
			ellipsis = i
			b = b[1:]
			if len(b) == 0 {
				break
			}
		}
	}
	if len(b) != 0 {
		return false
	}
	if i < 16 {
		if ellipsis < 0 {
			return false
		}
		n := 16 - i
		for j := i - 1; j >= ellipsis; j-- {
			ip[j+n] = ip[j]
		}
		clear(ip[ellipsis : ellipsis+n])
	} else if ellipsis >= 0 {
		return false // "::" must stand for at least one group
	}
	return true
}

// hexVal returns the value of a hex digit, or -1.
func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}
