package filter

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/gostate/gostate/internal/flow"
)

// The lists below are values whose slices are never written in place: adding
// to one makes a new array (see appendItem), so a copy of a Filter keeps its
// own lists whatever is done to the original.

// appendItem returns list with x added at the end in a new array, unless
// list already holds it.
func appendItem[T comparable](list []T, x T) []T {
	if slices.Contains(list, x) {
		return list
	}
	return append(list[:len(list):len(list)], x)
}

// splitList calls parse for each comma-separated item of list, ignoring
// empty items, and reports whether any item was not empty. It stops at
// parse's first error.
func splitList(list string, parse func(item string) error) (bool, error) {
	found := false
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		found = true
		if err := parse(item); err != nil {
			return true, err
		}
	}
	return found, nil
}

// Prefixes is a list of address prefixes: an address matches it when it is
// in any of them, and then only an address of the prefix's family (IPv4
// prefixes match IPv4 flows, IPv6 prefixes, IPv4-mapped ones among them,
// IPv6 flows). The zero Prefixes is empty, which a Filter takes as "no
// filter".
type Prefixes struct {
	list []prefix
}

// prefix is one prefix, made ready for comparing a flow.Addr eight bytes
// at a time: Match runs over every row, and converting each row's address
// to a netip.Addr to ask netip.Prefix.Contains cost twice as much.
type prefix struct {
	p   netip.Prefix // as parsed, for String
	fam flow.Family
	// addr and mask are the prefix's address and netmask in the layout of
	// a flow.Addr (IPv4 in bytes 12-15), each as two words loaded as
	// Contains loads an address; addr is masked. An IPv4 mask covers only
	// bytes 12-15: the family says the rest.
	addr, mask [2]uint64
}

func newPrefix(p netip.Prefix) prefix {
	fam, from := flow.FamilyIPv6, 0
	if p.Addr().Is4() {
		fam, from = flow.FamilyIPv4, 96
	}
	var m [16]byte
	for bit := from; bit < from+p.Bits(); bit++ {
		m[bit/8] |= 0x80 >> (bit % 8)
	}
	a := flow.AddrFrom(p.Addr())
	x := prefix{p: p, fam: fam, mask: words(&m)}
	aw := words((*[16]byte)(&a))
	x.addr = [2]uint64{aw[0] & x.mask[0], aw[1] & x.mask[1]}
	return x
}

// words loads 16 bytes as two words, in the machine's byte order (the
// cheapest load; masks and addresses are loaded alike, so the order does
// not matter).
func words(b *[16]byte) [2]uint64 {
	return [2]uint64{binary.NativeEndian.Uint64(b[:8]), binary.NativeEndian.Uint64(b[8:])}
}

// Empty reports whether the list holds no prefix.
func (ps *Prefixes) Empty() bool { return len(ps.list) == 0 }

// Contains reports whether the address a, of a flow of family fam, is in
// any of the prefixes.
func (ps *Prefixes) Contains(fam flow.Family, a *flow.Addr) bool {
	w := words((*[16]byte)(a))
	for i := range ps.list {
		x := &ps.list[i]
		if x.fam == fam && w[0]&x.mask[0] == x.addr[0] && w[1]&x.mask[1] == x.addr[1] {
			return true
		}
	}
	return false
}

// ContainsAny reports whether any of the flow's four addresses (original
// source and destination, reply source and destination) is in any of the
// prefixes.
func (ps *Prefixes) ContainsAny(f *flow.Flow) bool {
	return ps.Contains(f.Family, &f.Orig.Src) || ps.Contains(f.Family, &f.Orig.Dst) ||
		ps.Contains(f.Family, &f.Reply.Src) || ps.Contains(f.Family, &f.Reply.Dst)
}

// String lists the prefixes as ParsePrefixes reads them, comma-separated, a
// one-address prefix as the bare address: "192.0.2.0/24,2001:db8::1".
func (ps *Prefixes) String() string {
	items := make([]string, len(ps.list))
	for i, x := range ps.list {
		items[i] = prefixString(x.p)
	}
	return strings.Join(items, ",")
}

// ParsePrefixes reads a comma-separated list of address filters, each as
// ParsePrefix reads it: "192.0.2.0/24, 2001:db8::1". Empty items are
// ignored, but a list without any item is an error.
func ParsePrefixes(list string) (Prefixes, error) {
	var ps Prefixes
	found, err := splitList(list, func(item string) error {
		p, err := ParsePrefix(item)
		if err == nil {
			ps.list = appendItem(ps.list, newPrefix(p))
		}
		return err
	})
	if err == nil && !found {
		_, err = ParsePrefix("")
	}
	if err != nil {
		return Prefixes{}, err
	}
	return ps, nil
}

// Ports is a list of ports; the zero Ports is empty, which a Filter takes
// as "no filter".
type Ports struct {
	list []uint16
}

// Empty reports whether the list holds no port.
func (ps *Ports) Empty() bool { return len(ps.list) == 0 }

// Contains reports whether port is in the list.
func (ps *Ports) Contains(port uint16) bool { return contains16(ps.list, port) }

// String lists the ports, comma-separated: "22,443".
func (ps *Ports) String() string { return joinUints(ps.list) }

// ParsePorts reads a comma-separated list of ports, each as ParsePort reads
// it: "22, 443". Empty items are ignored, but a list without any item is an
// error.
func ParsePorts(list string) (Ports, error) {
	var ps Ports
	found, err := splitList(list, func(item string) error {
		p, err := ParsePort(item)
		if err == nil {
			ps.list = appendItem(ps.list, p)
		}
		return err
	})
	if err == nil && !found {
		_, err = ParsePort("")
	}
	if err != nil {
		return Ports{}, err
	}
	return ps, nil
}

// Zones is a list of conntrack zones; the zero Zones is empty, which a
// Filter takes as "no filter".
type Zones struct {
	list []uint16
}

// Empty reports whether the list holds no zone.
func (zs *Zones) Empty() bool { return len(zs.list) == 0 }

// Contains reports whether zone is in the list.
func (zs *Zones) Contains(zone uint16) bool { return contains16(zs.list, zone) }

// contains16 is slices.Contains written out: small enough to be inlined
// into Match, which slices.Contains is not.
func contains16(list []uint16, x uint16) bool {
	for _, y := range list {
		if y == x {
			return true
		}
	}
	return false
}

// String lists the zones, comma-separated: "0,7".
func (zs *Zones) String() string { return joinUints(zs.list) }

// ParseZones reads a comma-separated list of conntrack zones, decimal
// numbers from 0 to 65535 (0 is the zone of every flow no rule put
// elsewhere): "7", "0, 7". Empty items are ignored, but a list without any
// item is an error.
func ParseZones(list string) (Zones, error) {
	var zs Zones
	found, err := splitList(list, func(item string) error {
		n, err := strconv.ParseUint(item, 10, 16)
		if err != nil {
			return fmt.Errorf("invalid zone %q: want a number from 0 to 65535", item)
		}
		zs.list = appendItem(zs.list, uint16(n))
		return nil
	})
	if err == nil && !found {
		err = fmt.Errorf("empty zone: want a number from 0 to 65535, or a comma-separated list")
	}
	if err != nil {
		return Zones{}, err
	}
	return zs, nil
}

func joinUints(list []uint16) string {
	items := make([]string, len(list))
	for i, n := range list {
		items[i] = strconv.Itoa(int(n))
	}
	return strings.Join(items, ",")
}

// Marks is a list of connection-mark matches, each a value and a mask as in
// iptables' -m connmark --mark VALUE/MASK: a flow's mark matches when
// mark & mask == value & mask. The zero Marks is empty, which a Filter
// takes as "no filter".
type Marks struct {
	list []markMatch
}

// markMatch is one VALUE/MASK; value is stored masked.
type markMatch struct{ value, mask uint32 }

// Empty reports whether the list holds no mark.
func (ms *Marks) Empty() bool { return len(ms.list) == 0 }

// Contains reports whether mark matches any of the marks.
func (ms *Marks) Contains(mark uint32) bool {
	for _, m := range ms.list {
		if mark&m.mask == m.value {
			return true
		}
	}
	return false
}

// String lists the marks as ParseMarks reads them, comma-separated: a
// whole-word mark in decimal, as conntrack -L prints marks ("42"), one with
// a mask in hexadecimal, as iptables prints them ("0x10/0xf0").
func (ms *Marks) String() string {
	items := make([]string, len(ms.list))
	for i, m := range ms.list {
		if m.mask == ^uint32(0) {
			items[i] = strconv.FormatUint(uint64(m.value), 10)
		} else {
			items[i] = fmt.Sprintf("%#x/%#x", m.value, m.mask)
		}
	}
	return strings.Join(items, ",")
}

// ParseMarks reads a comma-separated list of marks, each VALUE or
// VALUE/MASK with numbers in decimal or, after 0x, hexadecimal, up to
// 0xffffffff: "42", "0x10/0xf0". Without a mask every bit counts. Empty
// items are ignored, but a list without any item is an error.
func ParseMarks(list string) (Marks, error) {
	var ms Marks
	found, err := splitList(list, func(item string) error {
		value, mask, hasMask := strings.Cut(item, "/")
		v, okV := parseMarkNumber(value)
		m, okM := ^uint32(0), true
		if hasMask {
			m, okM = parseMarkNumber(mask)
		}
		if !okV || !okM {
			return fmt.Errorf("invalid mark %q: want VALUE or VALUE/MASK, numbers in decimal or 0x hexadecimal up to 0xffffffff, such as 42 or 0x10/0xf0", item)
		}
		ms.list = appendItem(ms.list, markMatch{value: v & m, mask: m})
		return nil
	})
	if err == nil && !found {
		err = fmt.Errorf("empty mark: want VALUE or VALUE/MASK, such as 42 or 0x10/0xf0")
	}
	if err != nil {
		return Marks{}, err
	}
	return ms, nil
}

// parseMarkNumber reads a 32-bit number in decimal, or in hexadecimal after
// 0x (never octal: a leading 0 is decimal, as conntrack prints marks).
func parseMarkNumber(s string) (uint32, bool) {
	base := 10
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		s, base = s[2:], 16
	}
	if s == "" || s[0] == '+' || s[0] == '-' {
		return 0, false
	}
	n, err := strconv.ParseUint(s, base, 32)
	return uint32(n), err == nil
}
