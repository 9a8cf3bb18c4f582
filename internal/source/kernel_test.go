package source_test

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/nstest"
	"github.com/gostate/gostate/internal/source"
	"github.com/ti-mo/conntrack"
)

// comparable is the part of the status word both sources can show: /proc
// prints [ASSURED], [UNREPLIED], [OFFLOAD] and [HW_OFFLOAD], and NAT shows in
// its tuples.
const comparable = flow.StatusAssured | flow.StatusSeenReply | flow.StatusSrcNAT |
	flow.StatusDstNAT | flow.StatusOffload | flow.StatusHWOffload

// The netlink and /proc sources read the same namespace and must return the
// same flows: synthetic entries of every kind, real loopback traffic and a
// NAT'd connection; once with the kernel's defaults (no counters, no
// timestamps) and once with accounting and timestamps on in the namespace.
func TestNetlinkAndProcAgree(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sysctls []string
	}{
		{"defaults", nil},
		{"acct+timestamps", []string{"nf_conntrack_acct", "nf_conntrack_timestamp"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := nstest.New(t)
			// Both sysctls belong to the namespace: the host's stay as they are.
			ns.Do(t, func() error {
				for _, s := range tc.sysctls {
					if err := os.WriteFile(filepath.Join("/proc/sys/net/netfilter", s), []byte("1"), 0); err != nil {
						return err
					}
				}
				return nil
			})
			synthetic := ns.InsertSynthetic(t)
			lb := ns.LoopbackTraffic(t)
			nat := ns.NATFlow(t)

			nl := read(t, source.KindNetlink, ns.Name())
			pr := read(t, source.KindProc, ns.Name())
			count := ns.Count(t)

			for _, tb := range []struct {
				name string
				t    *flow.Table
			}{{"netlink", nl}, {"proc", pr}} {
				if len(tb.t.Flows) != count || tb.t.Stats.Entries != count {
					t.Errorf("%s: %d rows, Stats.Entries %d; the kernel counts %d",
						tb.name, len(tb.t.Flows), tb.t.Stats.Entries, count)
				}
				if tb.t.Skipped != 0 {
					t.Errorf("%s: skipped %d entries it could not read", tb.name, tb.t.Skipped)
				}
			}

			nlRows, prRows := index(t, "netlink", nl), index(t, "proc", pr)
			for k, a := range nlRows {
				b, ok := prRows[k]
				if !ok {
					t.Errorf("only netlink has %s", describe(a))
					continue
				}
				if diff := compare(a, b); diff != "" {
					t.Errorf("%s: netlink and proc differ: %s", describe(a), diff)
				}
			}
			for k, b := range prRows {
				if _, ok := nlRows[k]; !ok {
					t.Errorf("only proc has %s", describe(b))
				}
			}

			// Everything the namespace was given is there, in both.
			for _, rows := range []map[flow.Key]*flow.Flow{nlRows, prRows} {
				for _, s := range synthetic {
					f, ok := rows[keyOf(s)]
					if !ok {
						t.Errorf("synthetic entry %v zone %d missing", s.TupleOrig, s.Zone)
						continue
					}
					if f.Mark != s.Mark || f.Timeout > s.Timeout || f.Timeout+5 < s.Timeout {
						t.Errorf("%s: mark %d TTL %d; inserted with mark %d TTL %d",
							describe(f), f.Mark, f.Timeout, s.Mark, s.Timeout)
					}
					if s.ProtoInfo.TCP != nil && (f.Present&flow.HasState == 0 || f.State != s.ProtoInfo.TCP.State) {
						t.Errorf("%s: state %q, inserted in %s", describe(f), f.StateName(),
							flow.StateName(flow.ProtoTCP, s.ProtoInfo.TCP.State))
					}
				}
				for _, c := range []struct{ src, dst netip.AddrPort }{
					{lb.TCPClient, lb.TCPServer}, {lb.UDPClient, lb.UDPServer}, {nat.Client, nat.Orig},
				} {
					proto := uint8(flow.ProtoTCP)
					if c.src == lb.UDPClient {
						proto = flow.ProtoUDP
					}
					f, ok := rows[tcpUDPKey(proto, c.src, c.dst)]
					if !ok {
						t.Errorf("no %s flow %v -> %v from real traffic", flow.ProtoName(proto), c.src, c.dst)
						continue
					}
					if (f.Present&flow.HasCounters != 0) != (tc.sysctls != nil) || (f.Present&flow.HasStart != 0) != (tc.sysctls != nil) {
						t.Errorf("%s: counters %v, start time %v; want them exactly when accounting and timestamps are on",
							describe(f), f.Present&flow.HasCounters != 0, f.Present&flow.HasStart != 0)
					}
					if f.Present&flow.HasCounters != 0 && (f.OrigPackets == 0 || f.ReplyPackets == 0) {
						t.Errorf("%s: packets %d/%d, want traffic both ways", describe(f), f.OrigPackets, f.ReplyPackets)
					}
					natted := c.src == nat.Client
					if f.NATed() != natted {
						t.Errorf("%s: NAT'd %v, want %v", describe(f), f.NATed(), natted)
					}
					if natted && (!f.Status.Has(flow.StatusDstNAT) || f.Reply.Src != flow.AddrFrom(nat.Translated.Addr()) ||
						f.Reply.SrcPort != nat.Translated.Port()) {
						t.Errorf("%s: status %#x, reply from %v:%d; want destination NAT to %v", describe(f), f.Status,
							f.Reply.Src.Netip(f.Family), f.Reply.SrcPort, nat.Translated)
					}
				}
			}
		})
	}
}

func read(t *testing.T, kind source.Kind, netns string) *flow.Table {
	t.Helper()
	r, err := source.Open(source.Options{Kind: kind, NetNS: netns})
	if err != nil {
		t.Fatalf("open %s source: %v", kind, err)
	}
	defer r.Close()
	var tb flow.Table
	if err := r.Read(&tb); err != nil {
		t.Fatalf("read %s source: %v", kind, err)
	}
	return &tb
}

// index maps the rows of a table by identity; two rows with one identity
// would mean a source split or duplicated an entry.
func index(t *testing.T, name string, tb *flow.Table) map[flow.Key]*flow.Flow {
	t.Helper()
	m := make(map[flow.Key]*flow.Flow, len(tb.Flows))
	for i := range tb.Flows {
		f := &tb.Flows[i]
		if _, dup := m[f.Key()]; dup {
			t.Errorf("%s: two rows for %s", name, describe(f))
		}
		m[f.Key()] = f
	}
	return m
}

// compare returns how two rows for one entry differ, or "". TTLs and start
// times may differ by the time between the two reads, and by the rounding of
// /proc's seconds.
func compare(a, b *flow.Flow) string {
	var diff string
	add := func(format string, args ...any) { diff += fmt.Sprintf(format+"; ", args...) }
	if a.Reply != b.Reply {
		add("reply tuple %+v vs %+v", a.Reply, b.Reply)
	}
	const shared = flow.HasState | flow.HasTimeout | flow.HasCounters | flow.HasStart
	if a.Present&shared != b.Present&shared {
		add("present %#x vs %#x", a.Present&shared, b.Present&shared)
	}
	if a.Present&flow.HasState != 0 && a.State != b.State {
		add("state %s vs %s", a.StateName(), b.StateName())
	}
	if a.Status&comparable != b.Status&comparable {
		add("status %#x vs %#x", a.Status&comparable, b.Status&comparable)
	}
	if a.Mark != b.Mark {
		add("mark %d vs %d", a.Mark, b.Mark)
	}
	if a.Present&flow.HasTimeout != 0 && absDiff(a.Timeout, b.Timeout) > 2 {
		add("TTL %d vs %d", a.Timeout, b.Timeout)
	}
	if a.Present&flow.HasStart != 0 && absDiff(a.Start, b.Start) > 2 {
		add("start %d vs %d", a.Start, b.Start)
	}
	// Idle connections: the counters do not move between the two reads.
	if a.OrigBytes != b.OrigBytes || a.OrigPackets != b.OrigPackets ||
		a.ReplyBytes != b.ReplyBytes || a.ReplyPackets != b.ReplyPackets {
		add("counters %d/%d %d/%d vs %d/%d %d/%d", a.OrigBytes, a.OrigPackets, a.ReplyBytes, a.ReplyPackets,
			b.OrigBytes, b.OrigPackets, b.ReplyBytes, b.ReplyPackets)
	}
	return diff
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// keyOf is the identity gostate gives an entry inserted with ti-mo/conntrack.
func keyOf(f conntrack.Flow) flow.Key {
	o := f.TupleOrig
	k := flow.Key{
		Family: flow.FamilyIPv4,
		Proto:  o.Proto.Protocol,
		Zone:   f.Zone,
		Orig: flow.Tuple{
			Src: flow.AddrFrom(o.IP.SourceAddress),
			Dst: flow.AddrFrom(o.IP.DestinationAddress),
		},
	}
	if o.IP.SourceAddress.Is6() {
		k.Family = flow.FamilyIPv6
	}
	switch o.Proto.Protocol {
	case flow.ProtoICMP, flow.ProtoICMPv6:
		k.Orig.SrcPort, k.Orig.ICMPType, k.Orig.ICMPCode = o.Proto.ICMPID, o.Proto.ICMPType, o.Proto.ICMPCode
	default:
		k.Orig.SrcPort, k.Orig.DstPort = o.Proto.SourcePort, o.Proto.DestinationPort
	}
	return k
}

func tcpUDPKey(proto uint8, src, dst netip.AddrPort) flow.Key {
	return flow.Key{Family: flow.FamilyIPv4, Proto: proto, Orig: flow.Tuple{
		Src: flow.AddrFrom(src.Addr()), Dst: flow.AddrFrom(dst.Addr()),
		SrcPort: src.Port(), DstPort: dst.Port(),
	}}
}

func describe(f *flow.Flow) string {
	return fmt.Sprintf("%s %v:%d -> %v:%d (icmp %d/%d) zone %d", f.ProtoName(),
		f.Orig.Src.Netip(f.Family), f.Orig.SrcPort, f.Orig.Dst.Netip(f.Family), f.Orig.DstPort,
		f.Orig.ICMPType, f.Orig.ICMPCode, f.Zone)
}

// A table large enough to take many netlink datagrams and many /proc reads:
// neither source drops, duplicates or invents a row.
func TestSourcesReadWholeFilledTable(t *testing.T) {
	const n = 10000
	ns := nstest.New(t)
	ns.Fill(t, n)
	nl := index(t, "netlink", read(t, source.KindNetlink, ns.Name()))
	pr := index(t, "proc", read(t, source.KindProc, ns.Name()))
	if len(nl) != n || len(pr) != n {
		t.Fatalf("netlink read %d distinct rows, proc %d; the namespace holds %d", len(nl), len(pr), n)
	}
	for k, a := range nl {
		b, ok := pr[k]
		if !ok {
			t.Fatalf("only netlink has %s", describe(a))
		}
		if diff := compare(a, b); diff != "" {
			t.Fatalf("%s: netlink and proc differ: %s", describe(a), diff)
		}
	}
}

// ReadBatches hands over exactly the rows Read gives, in batches no bigger
// than asked, and keeps none of them: for each kind of source, on a table of
// many datagrams and many /proc reads, and for a saved dump.
func TestReadBatchesGivesWhatReadGives(t *testing.T) {
	const n = 3000
	ns := nstest.New(t)
	ns.Fill(t, n)
	for _, kind := range []source.Kind{source.KindNetlink, source.KindProc} {
		t.Run(string(kind), func(t *testing.T) {
			r, err := source.Open(source.Options{Kind: kind, NetNS: ns.Name()})
			if err != nil {
				t.Fatalf("open %s source: %v", kind, err)
			}
			defer r.Close()
			checkBatches(t, r, n)
			checkStop(t, r, n)
		})
	}
	t.Run("file", func(t *testing.T) {
		r, err := source.Open(source.Options{File: "../../testdata/conntrack-L-extended-id-acct.txt"})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		checkBatches(t, r, 28)
		checkStop(t, r, 28)
	})
}

// checkStop stops a read after its first batch (as the screen does when the
// user quits), then checks that the next reads give the whole table: a
// netlink reader must not be left inside the abandoned dump.
func checkStop(t *testing.T, r source.Reader, n int) {
	t.Helper()
	var tb flow.Table
	calls := 0
	err := r.ReadBatches(&tb, 7, func([]flow.Flow) bool {
		calls++
		return false
	})
	if !errors.Is(err, source.ErrStopped) || calls != 1 {
		t.Fatalf("a read stopped at its first batch: %v after %d batches, want ErrStopped after 1", err, calls)
	}
	rows := 0
	if err := r.ReadBatches(&tb, 97, func(b []flow.Flow) bool { rows += len(b); return true }); err != nil || rows != n {
		t.Fatalf("the read after a stop: %d rows, %v; want %d", rows, err, n)
	}
	var whole flow.Table
	if err := r.Read(&whole); err != nil || len(whole.Flows) != n {
		t.Fatalf("Read after a stop: %d rows, %v; want %d", len(whole.Flows), err, n)
	}
}

func checkBatches(t *testing.T, r source.Reader, n int) {
	t.Helper()
	const batch = 97
	var whole flow.Table
	if err := r.Read(&whole); err != nil {
		t.Fatal(err)
	}
	want := index(t, "Read", &whole)
	// Room for more than a batch: the batches' size is batch, whatever
	// the storage t brings.
	tb := flow.Table{Flows: make([]flow.Flow, 0, 3*batch)}
	got := map[flow.Key]bool{}
	calls := 0
	err := r.ReadBatches(&tb, batch, func(rows []flow.Flow) bool {
		calls++
		if len(rows) == 0 || len(rows) > batch {
			t.Errorf("a batch of %d rows; want 1 to %d", len(rows), batch)
		}
		for i := range rows {
			k := rows[i].Key()
			if _, ok := want[k]; !ok || got[k] {
				t.Errorf("ReadBatches gave %s, which Read did not, or twice", describe(&rows[i]))
			}
			got[k] = true
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n || len(want) != n {
		t.Fatalf("ReadBatches gave %d rows, Read %d; the table holds %d", len(got), len(want), n)
	}
	if calls < n/batch {
		t.Errorf("%d batches for %d rows of at most %d", calls, n, batch)
	}
	if len(tb.Flows) != 0 || tb.Stats.Entries != n || tb.Source != whole.Source {
		t.Errorf("after ReadBatches: %d rows kept, Stats.Entries %d, source %q; want 0, %d, %q",
			len(tb.Flows), tb.Stats.Entries, tb.Source, n, whole.Source)
	}
}
