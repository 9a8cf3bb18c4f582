package source

import (
	"bufio"
	"bytes"
	"errors"
	"net/netip"
	"strconv"
	"testing"

	"github.com/gostate/gostate/internal/flow"
)

// FuzzParseConntrack checks that any input parses without a panic, that every
// row is sound and came from a line of minEntryLen bytes at least, that every
// row survives being written back in /proc's format and parsed again
// unchanged, and that limits (dumpLimits) only ever stop a parse with an
// error matching ErrNotDump, never change what it returns otherwise. Seeds:
// testdata/fuzz/FuzzParseConntrack.
func FuzzParseConntrack(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		flows, skipped, err := parseAll(bytes.NewReader(in), fixtureNow, nil)
		if err != nil {
			t.Fatalf("error from an in-memory reader: %v", err)
		}
		if lines := bytes.Count(in, []byte{'\n'}) + 1; len(flows)+skipped > lines {
			t.Fatalf("%d rows and %d skipped from %d lines", len(flows), skipped, lines)
		}
		if len(in) < len(flows)*minEntryLen {
			t.Fatalf("%d rows from %d bytes: a row's line is %d bytes at least", len(flows), len(in), minEntryLen)
		}
		lim := dumpLimits{rows: 2, gap: 200}
		limited, lskipped, lerr := parseConntrack(bufio.NewReaderSize(bytes.NewReader(in), maxLineLen), fixtureNow, nil, 0, nil, &lim)
		switch {
		case lerr != nil && !errors.Is(lerr, ErrNotDump):
			t.Fatalf("limits stopped the parse with %v, which is not ErrNotDump", lerr)
		case lerr == nil && (len(limited) != len(flows) || lskipped != skipped):
			t.Fatalf("limits changed a parse they did not stop: %d rows, %d skipped; without, %d and %d", len(limited), lskipped, len(flows), skipped)
		case len(limited) > lim.rows+1:
			t.Fatalf("%d rows read with a limit of %d", len(limited), lim.rows)
		}
		for i := range flows {
			fl := &flows[i]
			if fl.Family != flow.FamilyIPv4 && fl.Family != flow.FamilyIPv6 {
				t.Fatalf("row %d: family %d", i, fl.Family)
			}
			line := appendProcLine(nil, fl)
			again, skipped, _ := parseAll(bytes.NewReader(line), fixtureNow, nil)
			if skipped != 0 || len(again) != 1 || again[0] != *fl {
				t.Fatalf("row %d does not survive a round trip through\n%s\n got  %+v\n want %+v", i, line, again, *fl)
			}
		}
	})
}

// appendProcLine writes a flow as /proc/net/nf_conntrack would, but with every
// tuple field spelled as a port or ICMP field so that any row, however odd
// the line it came from, can be written.
func appendProcLine(b []byte, f *flow.Flow) []byte {
	if f.Family == flow.FamilyIPv4 {
		b = append(b, "ipv4 2 "...)
	} else {
		b = append(b, "ipv6 10 "...)
	}
	b = append(b, f.ProtoName()...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(f.Proto), 10)
	if f.Present&flow.HasTimeout != 0 {
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(f.Timeout), 10)
	}
	if f.Present&flow.HasState != 0 {
		b = append(b, ' ')
		b = append(b, f.StateName()...)
	}
	for dir, t := range []*flow.Tuple{&f.Orig, &f.Reply} {
		b = append(b, " src="...)
		b = t.Src.Netip(f.Family).AppendTo(b)
		b = append(b, " dst="...)
		b = t.Dst.Netip(f.Family).AppendTo(b)
		b = append(b, " sport="...)
		b = strconv.AppendUint(b, uint64(t.SrcPort), 10)
		b = append(b, " dport="...)
		b = strconv.AppendUint(b, uint64(t.DstPort), 10)
		b = append(b, " type="...)
		b = strconv.AppendUint(b, uint64(t.ICMPType), 10)
		b = append(b, " code="...)
		b = strconv.AppendUint(b, uint64(t.ICMPCode), 10)
		if f.Present&flow.HasCounters != 0 {
			packets, bytes := f.OrigPackets, f.OrigBytes
			if dir == 1 {
				packets, bytes = f.ReplyPackets, f.ReplyBytes
			}
			b = append(b, " packets="...)
			b = strconv.AppendUint(b, packets, 10)
			b = append(b, " bytes="...)
			b = strconv.AppendUint(b, bytes, 10)
		}
		if dir == 0 && f.Unreplied() {
			b = append(b, " [UNREPLIED]"...)
		}
	}
	for _, fl := range []struct {
		bit  flow.Status
		name string
	}{{flow.StatusAssured, " [ASSURED]"}, {flow.StatusOffload, " [OFFLOAD]"}, {flow.StatusHWOffload, " [HW_OFFLOAD]"}} {
		if f.Status.Has(fl.bit) {
			b = append(b, fl.name...)
		}
	}
	b = append(b, " mark="...)
	b = strconv.AppendUint(b, uint64(f.Mark), 10)
	b = append(b, " zone="...)
	b = strconv.AppendUint(b, uint64(f.Zone), 10)
	if f.Present&flow.HasStart != 0 {
		b = append(b, " delta-time="...)
		b = strconv.AppendInt(b, fixtureNow.Unix()-int64(f.Start), 10)
	}
	b = append(b, " use=2"...)
	if f.Present&flow.HasID != 0 {
		b = append(b, " id="...)
		b = strconv.AppendUint(b, uint64(f.ID), 10)
	}
	return append(b, '\n')
}

// FuzzParseAddr holds parseAddr to netip.ParseAddr on any input.
// Seeds: testdata/fuzz/FuzzParseAddr.
func FuzzParseAddr(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		a, fam, ok := parseAddr([]byte(s))
		want, err := netip.ParseAddr(s)
		if err == nil && want.Zone() != "" {
			if ok {
				t.Fatalf("%q: parseAddr accepted a zone", s)
			}
			return
		}
		if ok != (err == nil) {
			t.Fatalf("%q: parseAddr ok=%v, netip err=%v", s, ok, err)
		}
		if ok && (a.Netip(fam) != want || (fam == flow.FamilyIPv4) != want.Is4()) {
			t.Fatalf("%q: parseAddr %v (%v), netip %v", s, a.Netip(fam), fam, want)
		}
	})
}
