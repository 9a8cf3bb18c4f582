package text

import (
	"bufio"
	"io"
	"testing"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/group"
	"github.com/gostate/gostate/internal/view"
)

// bigTable returns n distinct flows shaped like a firewall's table: mostly
// TCP and UDP over IPv4, some IPv6 and ICMP, counters on, a few NAT'd.
func bigTable(n int) *flow.Table {
	t := &flow.Table{Flows: make([]flow.Flow, n), Source: "bench",
		Stats: flow.Stats{Entries: n, Max: 262144, BytesPerEntry: 372, HaveCPU: true}}
	for i := range t.Flows {
		f := &t.Flows[i]
		f.Family = flow.FamilyIPv4
		f.Orig.Src = flow.AddrFromSlice([]byte{192, 0, 2, byte(i)})
		f.Orig.Dst = flow.AddrFromSlice([]byte{198, 51, 100, byte(i >> 8)})
		if i%10 == 9 {
			f.Family = flow.FamilyIPv6
			f.Orig.Src = flow.Addr{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)}
			f.Orig.Dst = flow.Addr{0x20, 0x01, 0x0d, 0xb8, 5: 1, 15: 1}
		}
		f.Orig.SrcPort, f.Orig.DstPort = uint16(1024+i%60000), 443
		f.Proto, f.Present = flow.ProtoTCP, flow.HasTimeout|flow.HasCounters|flow.HasState
		f.State = flow.TCPEstablished
		switch i % 7 {
		case 3:
			f.Proto, f.Present = flow.ProtoUDP, flow.HasTimeout|flow.HasCounters
		case 5:
			f.Proto, f.Present = flow.ProtoICMP, flow.HasTimeout|flow.HasCounters
			f.Orig.ICMPType = 8
		}
		f.Timeout = uint32(i % 432000)
		f.Reply = f.Orig.Mirror()
		f.Status = flow.StatusSeenReply | flow.StatusAssured
		if i%50 == 0 {
			f.Reply.Src = flow.AddrFromSlice([]byte{203, 0, 113, byte(i)})
			f.Status |= flow.StatusDstNAT
		}
		f.OrigBytes, f.OrigPackets = uint64(i)*1500, uint64(i)
		f.ReplyBytes, f.ReplyPackets = uint64(i)*900, uint64(i)
	}
	return t
}

const benchRows = 200000

// scattered returns a view of every row of t in an order unrelated to where
// the rows are stored, as a sorted view's is: each row read is then a cache
// miss, as on a real table.
func scattered(t *flow.Table) *view.View {
	v := &view.View{}
	view.Build(t, &view.Options{}, v) // for the totals of every row
	for i := range v.Idx {
		v.Idx[i] = int32(i * 7919 % len(t.Flows)) // 7919 is prime: a permutation
	}
	return v
}

func BenchmarkWriteText(b *testing.B) {
	tab := bigTable(benchRows)
	v := scattered(tab)
	w := bufio.NewWriterSize(io.Discard, 256<<10)
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteText(w, tab, v, &Options{Counters: true, Totals: true, Sort: "src"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRows, "ns/row")
}

// BenchmarkWriteTextPlain is what gostate -1 writes by default: no counters,
// no totals.
func BenchmarkWriteTextPlain(b *testing.B) {
	tab := bigTable(benchRows)
	v := scattered(tab)
	w := bufio.NewWriterSize(io.Discard, 256<<10)
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteText(w, tab, v, &Options{Sort: "dst"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRows, "ns/row")
}

func BenchmarkWriteJSON(b *testing.B) {
	tab := bigTable(benchRows)
	v := scattered(tab)
	w := bufio.NewWriterSize(io.Discard, 256<<10)
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteJSON(w, tab, v.Idx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRows, "ns/row")
}

// BenchmarkWriteGroups is the one-shot --group-by src over 200,000 rows:
// the grouping and the writer, of the default 20 groups and of all of
// them.
func BenchmarkWriteGroups(b *testing.B) {
	tab := bigTable(benchRows)
	v := scattered(tab)
	spec, err := group.Parse("src")
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(io.Discard, 256<<10)
	var g group.Grouping
	for _, c := range []struct {
		name string
		top  int
	}{{"top20", 0}, {"all", benchRows}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				g.Build(tab.Flows, v.Idx, spec)
				if err := WriteGroups(w, tab, &g, &Options{Counters: true, Sort: "entries"}, c.top); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
