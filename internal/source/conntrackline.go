package source

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/gostate/gostate/internal/numfmt"
	"io"
	"math/bits"
	"strconv"
	"time"

	"github.com/gostate/gostate/internal/flow"
)

// maxLineLen bounds one input line. The longest real line (IPv6, counters,
// secctx, zones, id) is under 700 bytes; anything longer is not a table entry
// and is skipped without being held in memory.
const maxLineLen = 64 << 10

// minEntryLen is a lower bound on the length of a line that parses as an
// entry: the protocol's name and number, then src= and dst= of two tuples
// with addresses of two characters at least ("::"). Fewer bytes are never an
// entry, which bounds the rows a file can hold by its lines this long.
const minEntryLen = len("x 1 src=:: dst=:: src=:: dst=::")

// dumpLimits bound what parseConntrack reads of input that need not end: a
// saved dump may be a pipe from a producer that never stops, or a device
// such as /dev/zero. A zero field bounds nothing.
type dumpLimits struct {
	// rows is the most entries accepted; one more is an error that
	// matches ErrNotDump (tooManyEntriesError).
	rows int
	// gap is the most bytes read without an entry, from the start or
	// since the last entry; more is an error that wraps ErrNotDump. A
	// line without end, however long, is read in buffers of maxLineLen
	// and counted as it goes.
	gap int64
}

// check returns the error for rows entries read so far and sinceRow bytes
// read since the last one (or the start), or nil within the limits.
func (l *dumpLimits) check(rows int, sinceRow int64) error {
	switch {
	case l == nil:
	case l.rows > 0 && rows > l.rows:
		return &tooManyEntriesError{limit: l.rows}
	case l.gap > 0 && sinceRow > l.gap && rows == 0:
		return fmt.Errorf("%w (no conntrack entry in its first %s)", ErrNotDump, sizeText(l.gap))
	case l.gap > 0 && sinceRow > l.gap:
		return fmt.Errorf("%w (%s without a conntrack entry after entry %s)", ErrNotDump, sizeText(l.gap), numfmt.Count(rows))
	}
	return nil
}

// tooManyEntriesError says a dump holds more entries than any conntrack
// table; it matches ErrNotDump.
type tooManyEntriesError struct{ limit int }

func (e *tooManyEntriesError) Error() string {
	return fmt.Sprintf("more than %s entries; a conntrack table is never that large — is this a dump?", numfmt.Count(e.limit))
}

func (e *tooManyEntriesError) Unwrap() error { return ErrNotDump }

// sizeText spells a size in bytes in the largest binary unit that divides it.
func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// parseConntrack reads a table in any text form the kernel or conntrack-tools
// print, detected line by line: /proc/net/nf_conntrack, legacy
// /proc/net/ip_conntrack (no l3 columns), `conntrack -L` (plain, `-o
// extended`, with or without `-o id`), from a caller's buffered reader (so
// that a reader refreshing every second reuses one buffer). It appends to
// flows (reusing its storage) and returns the rows, the number of lines it
// could not understand (skipped), and an error. now is the time of reading
// (for delta-time= → Start). Blank lines and conntrack's own "conntrack
// v1.4.7 (conntrack-tools): …" summary (present when a dump was saved with
// 2>&1) are neither rows nor skipped.
//
// When each is set, the rows are handed to it whenever flows holds batch
// rows (at least 1), and flows is emptied, instead of growing flows; the
// rows of the last, partial batch are returned. When each returns false, parsing stops with ErrStopped. lim, when
// set, stops parsing with an error at its limits (see dumpLimits).
//
// Memory stays bounded by br's buffer and the rows whatever the input: a line
// longer than br's buffer is skipped a buffer at a time, never held whole.
func parseConntrack(br *bufio.Reader, now time.Time, flows []flow.Flow, batch int, each func([]flow.Flow) bool, lim *dumpLimits) ([]flow.Flow, int, error) {
	skipped := 0
	nowSec := now.Unix()
	var scratch []byte
	rows := 0
	var sinceRow int64 // bytes read since the last entry, or the start
	for {
		line, err := br.ReadSlice('\n')
		sinceRow += int64(len(line))
		if errors.Is(err, bufio.ErrBufferFull) {
			// Too long to be an entry: drop the rest of the line unread,
			// up to the limit of input without an entry (/dev/zero is
			// one line that never ends).
			skipped++
			for errors.Is(err, bufio.ErrBufferFull) {
				if lerr := lim.check(rows, sinceRow); lerr != nil {
					return flows, skipped, lerr
				}
				line, err = br.ReadSlice('\n')
				sinceRow += int64(len(line))
			}
			line = nil
		}
		line, scratch = spacesOnly(line, scratch)
		if len(line) > 0 {
			if each != nil && len(flows) >= batch && len(flows) > 0 {
				if !each(flows) {
					return flows[:0], skipped, ErrStopped
				}
				flows = flows[:0]
			}
			flows = append(flows, flow.Flow{})
			switch parseLine(line, nowSec, &flows[len(flows)-1]) {
			case lineFlow:
				rows++
				sinceRow = 0
			case lineIgnored:
				flows = flows[:len(flows)-1]
			case lineBad:
				flows = flows[:len(flows)-1]
				skipped++
			}
		}
		if lerr := lim.check(rows, sinceRow); lerr != nil {
			return flows, skipped, lerr
		}
		if err == io.EOF {
			return flows, skipped, nil
		}
		if err != nil {
			return flows, skipped, err
		}
	}
}

// lineKind is what parseLine made of a line.
type lineKind uint8

const (
	lineFlow    lineKind = iota // a table entry, stored in the flow
	lineIgnored                 // blank, or conntrack's summary line
	lineBad                     // not understood
)

// parseLine parses one entry, a line without its line ending and with spaces
// as its only white space, into f (which must be zeroed).
//
// Every format shares one grammar: [l3name l3num] l4name l4num [timeout]
// [state] then key=value fields and [FLAGS]. The first src= opens the
// original tuple, the second the reply tuple; counters belong to the tuple
// they follow. That is how the l3 columns, the missing timeout of offloaded
// entries and the formats' optional fields are told apart without knowing the
// format in advance.
func parseLine(line []byte, nowSec int64, f *flow.Flow) lineKind {
	tok, eq, rest := nextToken(line)
	if len(tok) == 0 {
		return lineIgnored
	}
	if string(tok) == "conntrack" {
		return lineIgnored // "conntrack v1.4.7 (conntrack-tools): …"
	}

	var l3 flow.Family
	switch string(tok) {
	case "ipv4", "ipv6":
		l3 = flow.FamilyIPv4
		if tok[3] == '6' {
			l3 = flow.FamilyIPv6
		}
		tok, _, rest = nextToken(rest)
		if n, ok := parseDec(tok, 255); !ok || flow.Family(n) != l3 {
			return lineBad
		}
		tok, eq, rest = nextToken(rest)
	}

	// The l4 name is not checked against the number: the kernel prints
	// "unknown" for protocols whose module is not loaded (dccp on 6.18).
	if len(tok) == 0 || eq >= 0 {
		return lineBad
	}
	tok, _, rest = nextToken(rest)
	proto, ok := parseDec(tok, 255)
	if !ok {
		return lineBad
	}
	f.Proto = uint8(proto)

	var (
		tuple     = -1 // 0 while reading the original tuple, 1 the reply
		seen      [2]uint8
		unreplied bool
		afterCode bool // the previous field was an ICMP code=, so id= is the ICMP id
	)
	const seenSrc, seenDst = 1, 2
	for {
		tok, eq, rest = nextToken(rest)
		if len(tok) == 0 {
			break
		}
		if tok[0] == '[' {
			switch string(tok) {
			case "[UNREPLIED]":
				unreplied = true
			case "[ASSURED]":
				f.Status |= flow.StatusAssured
			case "[OFFLOAD]":
				f.Status |= flow.StatusOffload
			case "[HW_OFFLOAD]":
				f.Status |= flow.StatusHWOffload
			}
			afterCode = false
			continue
		}
		if eq < 0 {
			// Before the tuples: the timeout, then the state.
			if tuple >= 0 {
				continue
			}
			if f.Present&(flow.HasTimeout|flow.HasState) == 0 && isDigits(tok) {
				n, ok := parseDec(tok, 1<<32-1)
				if !ok {
					return lineBad
				}
				f.Timeout = uint32(n)
				f.Present |= flow.HasTimeout
				continue
			}
			// State names are short; the length check keeps string(tok) on
			// the stack.
			if f.Present&flow.HasState == 0 && len(tok) <= 32 {
				if st, ok := flow.StateByName(f.Proto, string(tok)); ok {
					f.State = st
					f.Present |= flow.HasState
				}
			}
			continue
		}
		key, val := tok[:eq], tok[eq+1:]
		wasCode := afterCode
		afterCode = false
		var t *flow.Tuple
		if tuple >= 0 {
			t = &f.Orig
			if tuple == 1 {
				t = &f.Reply
			}
		}
		switch string(key) {
		case "src", "dst":
			if key[0] == 's' {
				tuple++
				if tuple > 1 {
					return lineBad
				}
				t = &f.Orig
				if tuple == 1 {
					t = &f.Reply
				}
			} else if t == nil {
				return lineBad
			}
			a, fam, ok := parseAddr(val)
			if !ok || (f.Family != 0 && fam != f.Family) {
				return lineBad
			}
			f.Family = fam
			if key[0] == 's' {
				t.Src = a
				seen[tuple] |= seenSrc
			} else {
				t.Dst = a
				seen[tuple] |= seenDst
			}
		case "sport", "dport", "srckey", "dstkey":
			if t == nil {
				return lineBad
			}
			var n uint64
			if key[1] == 'p' { // sport, dport; GRE keys are hex
				n, ok = parseDec(val, 1<<16-1)
			} else {
				n, ok = parseHex(val, 1<<16-1)
			}
			if !ok {
				return lineBad
			}
			if key[0] == 's' {
				t.SrcPort = uint16(n)
			} else {
				t.DstPort = uint16(n)
			}
		case "type", "code":
			if t == nil {
				return lineBad
			}
			n, ok := parseDec(val, 255)
			if !ok {
				return lineBad
			}
			if key[0] == 't' {
				t.ICMPType = uint8(n)
			} else {
				t.ICMPCode = uint8(n)
				afterCode = true
			}
		case "id":
			n, ok := parseDec(val, 1<<32-1)
			if !ok {
				return lineBad
			}
			if wasCode {
				if n > 1<<16-1 {
					return lineBad
				}
				t.SrcPort = uint16(n)
			} else {
				f.ID = uint32(n)
				f.Present |= flow.HasID
			}
		case "packets", "bytes":
			if tuple < 0 {
				return lineBad
			}
			n, ok := parseDec(val, 1<<64-1)
			if !ok {
				return lineBad
			}
			switch {
			case tuple == 0 && key[0] == 'p':
				f.OrigPackets = n
			case tuple == 0:
				f.OrigBytes = n
			case key[0] == 'p':
				f.ReplyPackets = n
			default:
				f.ReplyBytes = n
			}
			f.Present |= flow.HasCounters
		case "mark":
			n, ok := parseNum(val, 1<<32-1)
			if !ok {
				return lineBad
			}
			f.Mark = uint32(n)
		case "zone", "zone-orig", "zone-reply":
			// The kernel keeps one zone id with direction flags; whichever
			// spelling it printed carries that id, as netlink's CTA_ZONE does.
			n, ok := parseDec(val, 1<<16-1)
			if !ok {
				return lineBad
			}
			f.Zone = uint16(n)
		case "delta-time":
			n, ok := parseDec(val, 1<<32-1)
			if !ok {
				return lineBad
			}
			if start := nowSec - int64(n); start > 0 && start < 1<<32 {
				f.Start = uint32(start)
				f.Present |= flow.HasStart
			}
		}
		// Other fields (use=, secctx=, GRE's timeout=0, …) say nothing a
		// monitor shows; unknown ones from newer tools are ignored likewise.
	}
	if seen[0] != seenSrc|seenDst || seen[1] != seenSrc|seenDst {
		return lineBad
	}
	if l3 != 0 && l3 != f.Family {
		return lineBad
	}
	if !unreplied {
		f.Status |= flow.StatusSeenReply
	}
	f.InferNAT()
	return lineFlow
}

// nextToken returns the first space-separated token of b, the index of the
// first '=' in it (or -1), and what follows it. Lines reach it with every
// other kind of white space turned into spaces (see spacesOnly).
//
// It looks at eight bytes at a time: tokenizing is half the cost of parsing a
// line, and a line is 25 tokens of about nine bytes.
func nextToken(b []byte) (tok []byte, eq int, rest []byte) {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	eq = -1
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		sp, eqs := zeroBytes(w^spaces), zeroBytes(w^equals)
		if eqs != 0 && eq < 0 {
			if j := i + bits.TrailingZeros64(eqs)/8; sp == 0 || j < i+bits.TrailingZeros64(sp)/8 {
				eq = j
			}
		}
		if sp != 0 {
			i += bits.TrailingZeros64(sp) / 8
			return b[:i], eq, b[i:]
		}
	}
	for ; i < len(b) && b[i] != ' '; i++ {
		if b[i] == '=' && eq < 0 {
			eq = i
		}
	}
	return b[:i], eq, b[i:]
}

const (
	spaces = 0x2020202020202020
	equals = 0x3d3d3d3d3d3d3d3d
	lows   = 0x0101010101010101
	highs  = 0x8080808080808080
)

// zeroBytes returns a word whose lowest set bit is the high bit of the first
// (lowest-addressed) zero byte of w, or 0 when w has none. Bits above that may
// be wrong, which is why callers only look at the lowest.
func zeroBytes(w uint64) uint64 {
	return (w - lows) &^ w & highs
}

// spacesOnly returns line without its line ending and with tabs, CRs, vertical
// tabs and form feeds turned into spaces, copying into scratch only in the
// rare case (hand-edited or CRLF dumps) that it has any.
func spacesOnly(line, scratch []byte) (out, newScratch []byte) {
	for len(line) > 0 && (line[len(line)-1] == '\n' || line[len(line)-1] == '\r') {
		line = line[:len(line)-1]
	}
	if bytes.IndexByte(line, '\t') < 0 && bytes.IndexByte(line, '\r') < 0 &&
		bytes.IndexByte(line, '\v') < 0 && bytes.IndexByte(line, '\f') < 0 && bytes.IndexByte(line, '\n') < 0 {
		return line, scratch
	}
	scratch = append(scratch[:0], line...)
	for i, c := range scratch {
		switch c {
		case '\t', '\r', '\v', '\f', '\n':
			scratch[i] = ' '
		}
	}
	return scratch, scratch
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// parseDec parses an unsigned decimal number no larger than max.
func parseDec(b []byte, max uint64) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if d > max || n > (max-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parseHex parses an unsigned hex number, with or without 0x, no larger than max.
func parseHex(b []byte, max uint64) (uint64, bool) {
	if len(b) >= 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'X') {
		b = b[2:]
	}
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		v := hexVal(c)
		if v < 0 {
			return 0, false
		}
		n = n<<4 | uint64(v)
	}
	if n > max {
		return 0, false
	}
	return n, true
}

// parseNum parses a decimal number, or a hex one with 0x (marks are decimal in
// /proc and conntrack -L, hex in some hand-edited dumps).
func parseNum(b []byte, max uint64) (uint64, bool) {
	if len(b) >= 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'X') {
		return parseHex(b, max)
	}
	return parseDec(b, max)
}
