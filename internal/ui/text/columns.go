package text

import (
	"strconv"
	"unicode/utf8"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/ui"
)

// column is one column of the text table, in display order.
type column uint8

const (
	colSrc column = iota
	colDst
	colProto
	colState
	colTTL
	colBytes
	colPackets
	colNAT
	numCols
)

var titles = [numCols]string{"Source", "Destination", "Proto", "State", "TTL", "Bytes", "Packets", "NAT"}

// rightAligned marks the numeric columns, whose digits line up on the right.
var rightAligned = [numCols]bool{colTTL: true, colBytes: true, colPackets: true}

// dropOrder is which columns give way, first to last, when the width is too
// small: counters and TTL go before the addresses (issue 3), the NAT column
// (the reply side, still in -j output) before the narrow state and protocol.
// Source and destination are never dropped, only truncated when even they
// alone cannot fit.
var dropOrder = []column{colPackets, colBytes, colTTL, colNAT, colProto, colState}

// cells formats the cells of a row. buf is scratch for measuring the cells
// whose width takes formatting them.
type cells struct {
	names Namer
	buf   []byte
}

// Namer returns a host name for an address, or false when it has none (yet).
// It is how -l shows names instead of addresses. WriteText calls it from
// several goroutines at once when the view is large.
type Namer func(fam flow.Family, a flow.Addr) (string, bool)

// appendCell appends the text of column c for flow f.
func (c *cells) appendCell(b []byte, col column, f *flow.Flow) []byte {
	switch col {
	case colSrc:
		return c.appendEndpoint(b, f, f.Orig.Src, f.Orig.SrcPort)
	case colDst:
		return c.appendEndpoint(b, f, f.Orig.Dst, f.Orig.DstPort)
	case colProto:
		return append(b, f.ProtoName()...)
	case colState:
		return ui.AppendState(b, f)
	case colTTL:
		if f.Present&flow.HasTimeout == 0 {
			return append(b, '-')
		}
		return ui.AppendTTL(b, f.Timeout)
	case colBytes:
		if f.Present&flow.HasCounters == 0 {
			return append(b, '-')
		}
		return ui.AppendBytes(b, f.Bytes())
	case colPackets:
		if f.Present&flow.HasCounters == 0 {
			return append(b, '-')
		}
		return ui.AppendPackets(b, f.Packets())
	case colNAT:
		return appendNAT(b, f)
	}
	return b
}

// width returns how many columns the cell of col takes for f. Where the
// length follows from the numbers it is computed without formatting: the
// first pass over 200,000 rows only measures.
func (c *cells) width(col column, f *flow.Flow) int {
	switch col {
	case colSrc, colDst:
		if c.names == nil && f.Family == flow.FamilyIPv4 {
			a, port := &f.Orig.Src, f.Orig.SrcPort
			if col == colDst {
				a, port = &f.Orig.Dst, f.Orig.DstPort
			}
			n := len("...") + int(octets[a[12]].n+octets[a[13]].n+octets[a[14]].n+octets[a[15]].n)
			if f.HasPorts() {
				n += len(":") + decimalDigits(uint32(port))
			}
			return n
		}
	case colProto:
		return len(f.ProtoName())
	case colState:
		if !f.IsICMP() {
			return len(f.StateName())
		}
	case colTTL:
		if f.Present&flow.HasTimeout == 0 {
			return 1
		}
		return decimalDigits(f.Timeout/3600) + len(":mm:ss")
	case colBytes, colPackets:
		// Counters are not measured: a flow that has them gets their
		// widest text, since measuring them exactly made the -C view 7 %
		// slower to save a column or two.
		switch {
		case f.Present&flow.HasCounters == 0:
			return 1 // "-"
		case col == colBytes:
			return ui.BytesMaxWidth
		}
		return ui.PacketsMaxWidth
	case colNAT:
		if !f.NATed() {
			return 0
		}
	}
	c.buf = c.appendCell(c.buf[:0], col, f)
	if c.names == nil {
		// Without host names every cell is ASCII.
		return len(c.buf)
	}
	return displayWidth(c.buf)
}

func decimalDigits(n uint32) int {
	d := 1
	for ; n >= 10; n /= 10 {
		d++
	}
	return d
}

// appendEndpoint appends one end of the original tuple: the host name when -l
// found one, else the address, then the port when the protocol has ports.
func (c *cells) appendEndpoint(b []byte, f *flow.Flow, a flow.Addr, port uint16) []byte {
	if c.names != nil {
		if name, ok := c.names(f.Family, a); ok {
			b = append(b, name...)
			if f.HasPorts() {
				b = append(b, ':')
				b = appendDecimal(b, uint32(port))
			}
			return b
		}
	}
	if f.Family != flow.FamilyIPv4 {
		// IPv6 with a port takes brackets: ui.AppendEndpoint knows how.
		t := flow.Tuple{Src: a, SrcPort: port}
		return ui.AppendEndpoint(b, f, &t, true)
	}
	b = appendAddr(b, f.Family, &a)
	if f.HasPorts() {
		b = append(b, ':')
		b = appendDecimal(b, uint32(port))
	}
	return b
}

// appendAddr appends an address as ui.AppendAddr does. IPv4, most rows of
// most tables, is spelled directly, without the detour through netip: the same
// text in half the time.
func appendAddr(b []byte, fam flow.Family, a *flow.Addr) []byte {
	if fam != flow.FamilyIPv4 {
		return ui.AppendAddr(b, fam, *a)
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

// appendDecimal appends n in decimal as strconv.AppendUint does, faster for
// the numbers of octets and ports.
func appendDecimal(b []byte, n uint32) []byte {
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
	return strconv.AppendUint(b, uint64(n), 10)
}

// appendNAT appends what the kernel rewrote, read from the reply tuple:
// "snat ADDR:PORT" is the source the far end sees (masquerading), "dnat
// ADDR:PORT" the destination the flow really goes to (port forwarding).
// Flows without NAT leave the cell empty.
func appendNAT(b []byte, f *flow.Flow) []byte {
	if f.Status.Has(flow.StatusSrcNAT) {
		b = append(b, "snat "...)
		b = ui.AppendEndpoint(b, f, &f.Reply, false)
	}
	if f.Status.Has(flow.StatusDstNAT) {
		if f.Status.Has(flow.StatusSrcNAT) {
			b = append(b, ' ')
		}
		b = append(b, "dnat "...)
		b = ui.AppendEndpoint(b, f, &f.Reply, true)
	}
	return b
}

// displayWidth is the number of terminal cells text takes, counting one per
// rune: addresses are ASCII, and names from -l are sanitised.
func displayWidth(b []byte) int {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return utf8.RuneCount(b)
		}
	}
	return len(b)
}

// truncate cuts b to at most w cells, marking the cut with a final '~' so
// nobody mistakes a shortened address for a real one.
func truncate(b []byte, w int) []byte {
	if displayWidth(b) <= w {
		return b
	}
	if w <= 0 {
		return b[:0]
	}
	n, i := 0, 0
	for i < len(b) && n < w-1 {
		_, size := utf8.DecodeRune(b[i:])
		i += size
		n++
	}
	return append(b[:i], '~')
}
