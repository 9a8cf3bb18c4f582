package source

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"testing"

	"github.com/gostate/gostate/internal/flow"
	"golang.org/x/sys/unix"
)

// testdata/netlink-dump.bin holds the netlink messages of one ctnetlink dump
// captured from a private namespace on Linux 6.18 (accounting and timestamps
// on); testdata/netlink-dump.txt is `conntrack -L -o extended,id` of the same
// table a moment later (its TTLs are a second lower).
func nlCaptured(t testing.TB) [][]byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/netlink-dump.bin")
	if err != nil {
		t.Fatal(err)
	}
	var msgs [][]byte
	for m, rest, ok := nextMsg(b); ok; m, rest, ok = nextMsg(rest) {
		msgs = append(msgs, m.data)
	}
	return msgs
}

// nlTuple builds a tuple from text addresses.
func nlTuple(src, dst string, sport, dport uint16, icmpType, icmpCode uint8) flow.Tuple {
	return flow.Tuple{
		Src: flow.AddrFrom(netip.MustParseAddr(src)), Dst: flow.AddrFrom(netip.MustParseAddr(dst)),
		SrcPort: sport, DstPort: dport, ICMPType: icmpType, ICMPCode: icmpCode,
	}
}

const (
	nlAll      = flow.HasState | flow.HasTimeout | flow.HasCounters | flow.HasID | flow.HasStart
	nlNoState  = nlAll &^ flow.HasState
	nlSeen     = flow.StatusConfirmed | flow.StatusSeenReply | flow.StatusAssured
	nlStart    = 1795608855                                             // 2026-11-25 12:14:15 UTC
	nlNATState = flow.StatusConfirmed | flow.StatusDstNAT | 1<<7 | 1<<8 // SRC_NAT_DONE, DST_NAT_DONE
)

// nlGolden is what the captured dump holds, checked field by field against
// testdata/netlink-dump.txt.
var nlGolden = []flow.Flow{
	{Family: flow.FamilyIPv4, Proto: 99, Present: nlNoState, Status: flow.StatusConfirmed, ID: 1517837930, Timeout: 595, Start: nlStart,
		Orig: nlTuple("192.0.2.9", "198.51.100.9", 0, 0, 0, 0), Reply: nlTuple("198.51.100.9", "192.0.2.9", 0, 0, 0, 0)},
	{Family: flow.FamilyIPv4, Proto: 6, State: flow.TCPSynSent2, Present: nlAll, Status: nlNATState, ID: 3353111991, Timeout: 95, Start: nlStart,
		Orig: nlTuple("192.0.2.10", "198.51.100.20", 1000, 80, 0, 0), Reply: nlTuple("203.0.113.30", "192.0.2.10", 8080, 1000, 0, 0)},
	{Family: flow.FamilyIPv6, Proto: 6, State: flow.TCPEstablished, Present: nlAll, Status: nlSeen, ID: 1587003367, Timeout: 2995, Start: nlStart,
		Orig: nlTuple("2001:db8::1", "2001:db8::2", 50000, 22, 0, 0), Reply: nlTuple("2001:db8::2", "2001:db8::1", 22, 50000, 0, 0)},
	{Family: flow.FamilyIPv6, Proto: 58, Present: nlNoState, Status: flow.StatusConfirmed, ID: 2938372609, Timeout: 24, Start: nlStart,
		Orig: nlTuple("2001:db8::1", "2001:db8::2", 77, 0, 128, 0), Reply: nlTuple("2001:db8::2", "2001:db8::1", 77, 0, 129, 0)},
	{Family: flow.FamilyIPv4, Proto: 6, State: flow.TCPSynSent, Present: nlAll, Status: flow.StatusConfirmed, ID: 3778280528, Timeout: 114, Start: nlStart,
		Orig: nlTuple("192.0.2.1", "198.51.100.2", 40001, 443, 0, 0), Reply: nlTuple("198.51.100.2", "192.0.2.1", 443, 40001, 0, 0)},
	{Family: flow.FamilyIPv4, Proto: 6, State: flow.TCPTimeWait, Present: nlAll, Status: nlSeen, ID: 1076014967, Timeout: 119, Start: nlStart + 5,
		Orig: nlTuple("127.0.0.1", "127.0.0.1", 56424, 8081, 0, 0), Reply: nlTuple("127.0.0.1", "127.0.0.1", 8081, 56424, 0, 0),
		OrigPackets: 6, OrigBytes: 1320, ReplyPackets: 4, ReplyBytes: 226},
	{Family: flow.FamilyIPv4, Proto: 6, State: flow.TCPEstablished, Present: nlAll, Status: nlSeen, Mark: 7, ID: 1506249328, Timeout: 294, Start: nlStart,
		Orig: nlTuple("192.0.2.1", "198.51.100.2", 40000, 80, 0, 0), Reply: nlTuple("198.51.100.2", "192.0.2.1", 80, 40000, 0, 0)},
	{Family: flow.FamilyIPv4, Proto: 132, State: 4 /* ESTABLISHED */, Present: nlAll, Status: flow.StatusConfirmed, ID: 1161558844, Timeout: 194, Start: nlStart,
		Orig: nlTuple("192.0.2.5", "198.51.100.6", 3868, 3868, 0, 0), Reply: nlTuple("198.51.100.6", "192.0.2.5", 3868, 3868, 0, 0)},
	{Family: flow.FamilyIPv4, Proto: 17, Present: nlNoState, Status: flow.StatusConfirmed, Zone: 5, ID: 1352526150, Timeout: 24, Start: nlStart,
		Orig: nlTuple("192.0.2.3", "203.0.113.4", 5353, 53, 0, 0), Reply: nlTuple("203.0.113.4", "192.0.2.3", 53, 5353, 0, 0)},
	{Family: flow.FamilyIPv4, Proto: 1, Present: nlNoState, Status: flow.StatusConfirmed, ID: 995341313, Timeout: 24, Start: nlStart,
		Orig: nlTuple("192.0.2.1", "198.51.100.2", 1234, 0, 8, 0), Reply: nlTuple("198.51.100.2", "192.0.2.1", 1234, 0, 0, 0)},
	{Family: flow.FamilyIPv4, Proto: 17, Present: nlNoState, Status: flow.StatusConfirmed, ID: 4167052482, Timeout: 27, Start: nlStart + 2,
		Orig: nlTuple("127.0.0.1", "127.0.0.1", 40122, 9999, 0, 0), Reply: nlTuple("127.0.0.1", "127.0.0.1", 9999, 40122, 0, 0),
		OrigPackets: 1, OrigBytes: 34},
	{Family: flow.FamilyIPv4, Proto: 47, Present: nlNoState, Status: flow.StatusConfirmed, ID: 2375240202, Timeout: 55, Start: nlStart,
		Orig: nlTuple("192.0.2.7", "198.51.100.8", 0x10, 0x20, 0, 0), Reply: nlTuple("198.51.100.8", "192.0.2.7", 0x20, 0x10, 0, 0)},
}

func TestDecodeCaptured(t *testing.T) {
	msgs := nlCaptured(t)
	if len(msgs) != len(nlGolden) {
		t.Fatalf("captured dump has %d messages, golden list %d", len(msgs), len(nlGolden))
	}
	for i, m := range msgs {
		// Decode into a dirty row: decodeFlow must overwrite every field.
		f := flow.Flow{Mark: 99, OrigBytes: 99, Present: flow.HasCounters, Zone: 3}
		if err := decodeFlow(m, &f); err != nil {
			t.Errorf("message %d: %v", i, err)
			continue
		}
		if f != nlGolden[i] {
			t.Errorf("message %d:\n got %+v\nwant %+v", i, f, nlGolden[i])
		}
	}
}

// nlMessage builds a conntrack message of family fam from attribute bytes.
func nlMessage(fam uint8, attrs ...[]byte) []byte {
	b := []byte{fam, 0, 0, 0}
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

// nlOrigTuple is a valid CTA_TUPLE_ORIG for tcp 192.0.2.1:1 -> 198.51.100.2:2.
func nlOrigTuple() []byte {
	f := flow.Flow{Family: flow.FamilyIPv4, Proto: flow.ProtoTCP, Orig: nlTuple("192.0.2.1", "198.51.100.2", 1, 2, 0, 0)}
	return appendTuple(nil, ctaTupleOrig, &f, &f.Orig)
}

func nlNest(typ uint16, inner ...[]byte) []byte {
	b, start := beginNest(nil, typ)
	for _, in := range inner {
		b = append(b, in...)
	}
	endNest(b, start)
	return b
}

func TestDecodeCounters32(t *testing.T) {
	msg := nlMessage(unix.AF_INET, nlOrigTuple(),
		nlNest(ctaCountersOrig, appendBE32(nil, ctaCounters32Packets, 3), appendBE32(nil, ctaCounters32Bytes, 180)),
		nlNest(ctaCountersReply, appendBE32(nil, ctaCounters32Packets, 2), appendBE32(nil, ctaCounters32Bytes, 120)))
	var f flow.Flow
	if err := decodeFlow(msg, &f); err != nil {
		t.Fatal(err)
	}
	if f.OrigPackets != 3 || f.OrigBytes != 180 || f.ReplyPackets != 2 || f.ReplyBytes != 120 || f.Present&flow.HasCounters == 0 {
		t.Errorf("counters: got %d/%d %d/%d present %b", f.OrigPackets, f.OrigBytes, f.ReplyPackets, f.ReplyBytes, f.Present)
	}
}

func TestDecodeSkipsUnknownAttributes(t *testing.T) {
	msg := nlMessage(unix.AF_INET,
		appendBE32(nil, 200, 1),                              // unknown top-level attribute
		nlNest(ctaProtoinfo, nlNest(9, appendU8(nil, 1, 4))), // unknown protocol info
		// The original tuple with an unknown nest at its end.
		nlNest(ctaTupleOrig, nlOrigTuple()[4:], nlNest(7, appendBE32(nil, 1, 1))),
		nlNest(ctaTimestamp, appendBE32(nil, 5, 1)),    // unknown timestamp field
		nlNest(ctaCountersOrig, appendBE32(nil, 9, 1)), // unknown counter
		appendBE16(nil, ctaZone|0x4000, 9),             // NLA_F_NET_BYTEORDER is ignored
	)
	var f flow.Flow
	if err := decodeFlow(msg, &f); err != nil {
		t.Fatal(err)
	}
	if f.Zone != 9 || f.Present&flow.HasState != 0 || f.Orig.DstPort != 2 {
		t.Errorf("got zone %d present %b dport %d", f.Zone, f.Present, f.Orig.DstPort)
	}
}

func TestDecodeTupleZone(t *testing.T) {
	orig := append(nlOrigTuple(), appendBE16(nil, ctaTupleZone, 4)...)
	endNest(orig, 0)
	var f flow.Flow
	if err := decodeFlow(nlMessage(unix.AF_INET, orig), &f); err != nil {
		t.Fatal(err)
	}
	if f.Zone != 4 {
		t.Errorf("zone: got %d, want the original direction's 4", f.Zone)
	}
}

func TestDecodeMalformed(t *testing.T) {
	good := nlMessage(unix.AF_INET, nlOrigTuple(), appendBE32(nil, ctaStatus, 8))
	cases := map[string][]byte{
		"empty":            nil,
		"short header":     {2, 0},
		"unknown family":   nlMessage(7, nlOrigTuple()),
		"no tuple":         nlMessage(unix.AF_INET, appendBE32(nil, ctaStatus, 8)),
		"truncated":        good[:len(good)-2],
		"attribute length": append(nlMessage(unix.AF_INET, nlOrigTuple()), 2, 0, 3, 0),
		"short status":     nlMessage(unix.AF_INET, nlOrigTuple(), appendBE16(nil, ctaStatus, 8)),
		"long mark":        nlMessage(unix.AF_INET, nlOrigTuple(), appendAttr(nil, ctaMark, make([]byte, 8))),
		"5-byte address":   nlMessage(unix.AF_INET, nlNest(ctaTupleOrig, nlNest(ctaTupleIP, appendAttr(nil, ctaIPv4Src, make([]byte, 5))))),
		"2-byte proto":     nlMessage(unix.AF_INET, nlNest(ctaTupleOrig, nlNest(ctaTupleProto, appendBE16(nil, ctaProtoNum, 6)))),
		"short counter":    nlMessage(unix.AF_INET, nlOrigTuple(), nlNest(ctaCountersOrig, appendBE32(nil, ctaCountersBytes, 1))),
		"short timestamp":  nlMessage(unix.AF_INET, nlOrigTuple(), nlNest(ctaTimestamp, appendBE32(nil, ctaTimestampStart, 1))),
		"garbage in nest":  nlMessage(unix.AF_INET, nlOrigTuple(), nlNest(ctaProtoinfo, []byte{1, 2})),
	}
	var f flow.Flow
	if err := decodeFlow(good, &f); err != nil {
		t.Fatalf("the valid message the cases start from: %v", err)
	}
	for name, msg := range cases {
		if err := decodeFlow(msg, &f); !errors.Is(err, errBadMessage) {
			t.Errorf("%s: got %v, want errBadMessage", name, err)
		}
	}
}

// TestEncodeDecode checks the lookup and delete encoder against the decoder
// for every tuple layout.
func TestEncodeDecode(t *testing.T) {
	for _, f := range []flow.Flow{
		{Family: flow.FamilyIPv4, Proto: flow.ProtoTCP, Orig: nlTuple("192.0.2.1", "198.51.100.2", 1, 65535, 0, 0)},
		{Family: flow.FamilyIPv6, Proto: flow.ProtoUDP, Orig: nlTuple("2001:db8::1", "2001:db8::2", 53, 5353, 0, 0)},
		{Family: flow.FamilyIPv4, Proto: flow.ProtoICMP, Orig: nlTuple("192.0.2.1", "198.51.100.2", 7, 0, 8, 1)},
		{Family: flow.FamilyIPv6, Proto: flow.ProtoICMPv6, Orig: nlTuple("2001:db8::1", "2001:db8::2", 7, 0, 128, 0)},
		{Family: flow.FamilyIPv4, Proto: flow.ProtoGRE, Orig: nlTuple("192.0.2.1", "198.51.100.2", 0x10, 0x20, 0, 0)},
		{Family: flow.FamilyIPv4, Proto: 99, Orig: nlTuple("192.0.2.1", "198.51.100.2", 0, 0, 0, 0)},
	} {
		msg := nlMessage(uint8(f.Family), appendTuple(nil, ctaTupleOrig, &f, &f.Orig))
		var got flow.Flow
		if err := decodeFlow(msg, &got); err != nil {
			t.Errorf("%s %d: %v", f.Family, f.Proto, err)
			continue
		}
		if got != f {
			t.Errorf("%s %d:\n got %+v\nwant %+v", f.Family, f.Proto, got, f)
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	msgs := nlCaptured(t)
	var f flow.Flow
	allocs := testing.AllocsPerRun(100, func() {
		for _, m := range msgs {
			_ = decodeFlow(m, &f)
		}
	})
	if allocs != 0 {
		t.Errorf("decodeFlow allocates %.1f times per dump of %d messages, want 0", allocs, len(msgs))
	}
}

// FuzzDecode feeds arbitrary messages to the decoder: it must never panic,
// and decoding must not depend on what the row held before.
func FuzzDecode(f *testing.F) {
	for _, m := range nlCaptured(f) {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var clean flow.Flow
		errClean := decodeFlow(b, &clean)
		dirty := flow.Flow{Mark: 1, Zone: 2, Present: flow.HasStart, Start: 3, State: 4}
		errDirty := decodeFlow(b, &dirty)
		if (errClean == nil) != (errDirty == nil) || errClean == nil && clean != dirty {
			t.Fatalf("decoding depends on the row's old contents: %v / %v", errClean, errDirty)
		}
		if errClean == nil && clean.Family != flow.FamilyIPv4 && clean.Family != flow.FamilyIPv6 {
			t.Fatalf("decoded a row of family %d", clean.Family)
		}
	})
}

// BenchmarkDecode decodes the captured dump; ns/op and B/op are per entry.
func BenchmarkDecode(b *testing.B) {
	msgs := nlCaptured(b)
	var f flow.Flow
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := decodeFlow(msgs[i%len(msgs)], &f); err != nil {
			b.Fatal(err)
		}
	}
}

// nlDatagram frames payloads as netlink messages of the given types and flags.
func nlDatagram(seq uint32, msgs ...struct {
	typ, flags uint16
	data       []byte
}) []byte {
	var b []byte
	for _, m := range msgs {
		start := len(b)
		b = append(b, make([]byte, nlmsgHdrLen)...)
		b = append(b, m.data...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		binary.NativeEndian.PutUint32(b[start:], uint32(nlmsgHdrLen+len(m.data)))
		binary.NativeEndian.PutUint16(b[start+4:], m.typ)
		binary.NativeEndian.PutUint16(b[start+6:], m.flags)
		binary.NativeEndian.PutUint32(b[start+8:], seq)
	}
	return b
}

// TestDecodeDatagram also checks that endsDump, which stops the receiving
// goroutine, agrees with decodeDatagram on where a dump ends.
func TestDecodeDatagram(t *testing.T) {
	type msg = struct {
		typ, flags uint16
		data       []byte
	}
	captured := nlCaptured(t)
	const ctNew = unix.NFNL_SUBSYS_CTNETLINK << 8
	enoent := binary.NativeEndian.AppendUint32(nil, uint32(0x100000000-int64(unix.ENOENT)))

	var tab flow.Table
	var intr bool
	// Two good entries, one that cannot be decoded, one of an unknown type.
	d := nlDatagram(7, msg{ctNew, unix.NLM_F_MULTI, captured[0]}, msg{ctNew, unix.NLM_F_MULTI, []byte{2, 0}},
		msg{ctNew | 9, unix.NLM_F_MULTI, captured[1]}, msg{ctNew, unix.NLM_F_MULTI, captured[2]})
	if done, err := decodeDatagram(d, 7, &dumpInto{t: &tab}, &intr); done || err != nil || intr || endsDump(d, 7) {
		t.Fatalf("first datagram: done %v err %v intr %v ends %v", done, err, intr, endsDump(d, 7))
	}
	if len(tab.Flows) != 2 || tab.Skipped != 2 || tab.Flows[1] != nlGolden[2] {
		t.Fatalf("first datagram: %d rows, %d skipped", len(tab.Flows), tab.Skipped)
	}
	// A message of another request is ignored; the kernel flags the dump as
	// interrupted; the end carries no error.
	d = nlDatagram(6, msg{ctNew, unix.NLM_F_MULTI, captured[3]})
	d = append(d, nlDatagram(7, msg{ctNew, unix.NLM_F_MULTI | unix.NLM_F_DUMP_INTR, captured[3]},
		msg{unix.NLMSG_DONE, unix.NLM_F_MULTI, make([]byte, 4)})...)
	if done, err := decodeDatagram(d, 7, &dumpInto{t: &tab}, &intr); !done || err != nil || !intr || !endsDump(d, 7) {
		t.Fatalf("second datagram: done %v err %v intr %v ends %v", done, err, intr, endsDump(d, 7))
	}
	if len(tab.Flows) != 3 || tab.Skipped != 2 {
		t.Fatalf("second datagram: %d rows, %d skipped", len(tab.Flows), tab.Skipped)
	}
	// A dump that ends in an error.
	d = nlDatagram(8, msg{unix.NLMSG_DONE, unix.NLM_F_MULTI, enoent})
	if done, err := decodeDatagram(d, 8, &dumpInto{t: &tab}, &intr); !done || !errors.Is(err, unix.ENOENT) || !endsDump(d, 8) {
		t.Fatalf("error datagram: done %v err %v ends %v", done, err, endsDump(d, 8))
	}
	// The end of another request's dump does not end this one: the
	// receiving goroutine would stop while the kernel still sends.
	if endsDump(d, 7) {
		t.Fatal("the end of dump 8 ends dump 7")
	}
}
