package source

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/nstest"
	"golang.org/x/sys/unix"
)

// A table of 5,000 entries: ReadSummary (what gostate --stats and the live
// screen's health reads use) must count them without dumping the table, or
// reading the health would cost as much as reading the rows.
func TestNetlinkReadSummaryDoesNotDump(t *testing.T) {
	const n = 5000
	ns := nstest.New(t)
	ns.Fill(t, n)
	r := nlOpen(t, ns.Name())
	datagrams := 0
	r.onDatagram = func(int) error { datagrams++; return nil }

	tab := flow.Table{Flows: make([]flow.Flow, 3)}
	if err := r.ReadSummary(&tab); err != nil {
		t.Fatal(err)
	}
	if s := tab.Stats; s.Entries != n || s.Max == 0 || !s.HaveCPU || len(tab.Flows) != 0 || tab.Source != "netlink" || len(tab.Timeouts) == 0 {
		t.Errorf("ReadSummary: %+v, %d rows, source %q, %d timeouts; want %d entries, a max, per-CPU statistics, 0 rows, netlink, some timeouts",
			s, len(tab.Flows), tab.Source, len(tab.Timeouts), n)
	}
	if datagrams != 0 {
		t.Fatalf("ReadSummary received %d datagrams of a dump, want none", datagrams)
	}

	// The counter counts: a Read dumps.
	if err := r.Read(&tab); err != nil {
		t.Fatal(err)
	}
	if datagrams == 0 || len(tab.Flows) != n {
		t.Errorf("Read: %d datagrams, %d rows; want some and %d", datagrams, len(tab.Flows), n)
	}
}

// The netlink source reads the health over ctnetlink and gives the figures
// the /proc source reads from the same namespace: the same entries, limit
// and per-CPU counters (the namespace is idle between the two reads, so
// they stand still), the buckets and the size of an entry from /proc,
// which alone has them. The reader's record says that netlink answered:
// both would agree as well if it read /proc.
func TestNetlinkHealthMatchesProc(t *testing.T) {
	const n = 300
	ns := nstest.New(t)
	ns.Fill(t, n)
	r := nlOpen(t, ns.Name())
	var nl flow.Table
	if err := r.ReadSummary(&nl); err != nil {
		t.Fatal(err)
	}
	if want := viaNetlinkGlobal | viaNetlinkCPU; r.via != want || len(nl.Warnings) != 0 {
		t.Fatalf("health read over netlink: %b, warnings %q; want %b and none", r.via, nl.Warnings, want)
	}
	p, err := Open(Options{Kind: KindProc, NetNS: ns.Name()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var pr flow.Table
	if err := p.ReadSummary(&pr); err != nil {
		t.Fatal(err)
	}

	a, b := nl.Stats, pr.Stats
	if a.Entries != n || b.Entries != n || a.Max <= 0 || a.Max != b.Max || a.Buckets <= 0 || a.Buckets != b.Buckets ||
		a.BytesPerEntry != b.BytesPerEntry || a.BytesPerEntryEstimated != b.BytesPerEntryEstimated {
		t.Errorf("netlink %+v\n/proc   %+v\nwant %d entries in both, the same limit, buckets and size of an entry", a, b, n)
	}
	if !a.HaveCPU || !b.HaveCPU {
		t.Fatalf("per-CPU statistics: netlink %v, /proc %v", a.HaveCPU, b.HaveCPU)
	}
	// Every counter the kernel has sent over netlink since it had them
	// all, and the /proc file has a column for each; 6.18 no longer sends
	// ignore, whose column stays.
	const always = flow.CounterFound | flow.CounterInvalid | flow.CounterInsert | flow.CounterInsertFailed |
		flow.CounterDrop | flow.CounterEarlyDrop | flow.CounterError | flow.CounterSearchRestart
	if a.CPU.Has&always != always || b.CPU.Has&always != always {
		t.Errorf("counters read: netlink %b, /proc %b; want at least %b in both", a.CPU.Has, b.CPU.Has, always)
	}
	for bit := flow.CPUCounters(1); bit&flow.AllCounters != 0; bit <<= 1 {
		if a.CPU.Has&b.CPU.Has&bit != 0 && *a.CPU.Counter(bit) != *b.CPU.Counter(bit) {
			t.Errorf("counter %b: netlink %d, /proc %d", bit, *a.CPU.Counter(bit), *b.CPU.Counter(bit))
		}
	}
	// The entries were inserted in this namespace: its counters count
	// them, whatever other namespaces do.
	if a.CPU.Insert < n {
		t.Errorf("insert %d after %d entries were inserted", a.CPU.Insert, n)
	}
}

// The /proc reader in a namespace counts the namespace's entries, not the
// caller's, and reads no rows.
func TestProcReadSummaryInNetNS(t *testing.T) {
	const n = 300
	ns := nstest.New(t)
	ns.Fill(t, n)
	r, err := Open(Options{Kind: KindProc, NetNS: ns.Name()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var tab flow.Table
	if err := r.ReadSummary(&tab); err != nil {
		t.Fatal(err)
	}
	if tab.Stats.Entries != n || len(tab.Flows) != 0 || tab.Source != "/proc/net/nf_conntrack" || len(tab.Timeouts) == 0 {
		t.Errorf("ReadSummary: %d entries, %d rows, source %q, %d timeouts; want %d, 0, /proc/net/nf_conntrack, some",
			tab.Stats.Entries, len(tab.Flows), tab.Source, len(tab.Timeouts), n)
	}
}

// A saved dump's summary keeps what a Read of it says about the file: rows
// counted, lines skipped, frozen.
func TestFileReadSummary(t *testing.T) {
	r, err := NewFileReader(filepath.Join("../../testdata", "odd.txt"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var full, sum flow.Table
	if err := r.Read(&full); err != nil {
		t.Fatal(err)
	}
	if err := r.ReadSummary(&sum); err != nil {
		t.Fatal(err)
	}
	if sum.Stats != full.Stats || sum.Skipped != full.Skipped || !sum.Frozen || sum.Source != full.Source || len(sum.Flows) != 0 {
		t.Errorf("summary %+v (skipped %d, frozen %v, source %q, %d rows), read %+v (skipped %d, source %q)",
			sum.Stats, sum.Skipped, sum.Frozen, sum.Source, len(sum.Flows), full.Stats, full.Skipped, full.Source)
	}
}

// cpuAnswer is one CPU's message in a crafted per-CPU statistics answer:
// attribute numbers of enum ctattr_stats_cpu and their values.
type cpuAnswer struct {
	cpu   uint16
	attrs [][2]uint32
}

// Attribute numbers of enum ctattr_stats_cpu, written out here rather than
// taken from the decoder's table, which the tests check.
const (
	ctaStatsFound        = 2
	ctaStatsIgnore       = 5
	ctaStatsInsert       = 8
	ctaStatsInsertFailed = 9
	ctaStatsDrop         = 10
	ctaStatsChainTooLong = 15
)

// statsCPUAnswer builds a datagram of the kernel's answer to the per-CPU
// statistics dump request seq: a message per CPU, the CPU number in
// nfgenmsg's res_id (big-endian), each counter a big-endian u32; then
// NLMSG_DONE when done.
func statsCPUAnswer(seq uint32, done bool, cpus ...cpuAnswer) []byte {
	var b []byte
	for _, c := range cpus {
		start := len(b)
		b = appendRequest(b, ctMsgGetStatsCPU, unix.NLM_F_MULTI, unix.AF_UNSPEC, seq)
		binary.BigEndian.PutUint16(b[start+nlmsgHdrLen+2:], c.cpu)
		for _, a := range c.attrs {
			b = appendBE32(b, uint16(a[0]), a[1])
		}
		finishRequest(b, start)
	}
	if done {
		start := len(b)
		var h [nlmsgHdrLen + 4]byte
		binary.NativeEndian.PutUint16(h[4:], nlmsgDone)
		binary.NativeEndian.PutUint16(h[6:], unix.NLM_F_MULTI)
		binary.NativeEndian.PutUint32(h[8:], seq)
		b = append(b, h[:]...)
		finishRequest(b, start)
	}
	return b
}

// readCPUAnswer decodes a crafted answer into tot as one reading.
func readCPUAnswer(t *testing.T, tot *cpuTotals, seq uint32, answer []byte) flow.CPUStats {
	t.Helper()
	tot.begin()
	done, end, bad := decodeStatsCPU(answer, seq, tot)
	if !done || end != nil || bad != nil {
		t.Fatalf("decodeStatsCPU: done %v, end %v, bad %v; want the end of a clean dump", done, end, bad)
	}
	return tot.commit()
}

// The kernel's per-CPU counters are 32 bits and wrap: a counter that goes
// from 0xFFFFFFF0 to 0x10 on one CPU grew by 0x20, and its total says so
// instead of dropping (the screen's "(+N)", a Prometheus counter).
func TestStatsCPUWrap(t *testing.T) {
	const seq = 41
	var tot cpuTotals
	// The first reading's totals are the kernel's own sums, and only the
	// counters the kernel sent are there: no ignore on Linux 6.18.
	first := readCPUAnswer(t, &tot, seq, statsCPUAnswer(seq, true,
		cpuAnswer{0, [][2]uint32{{ctaStatsFound, 3}, {ctaStatsInsert, 7}, {ctaStatsDrop, 0xFFFFFFF0}}},
		cpuAnswer{1, [][2]uint32{{ctaStatsFound, 1}, {ctaStatsInsert, 2}, {ctaStatsDrop, 5}, {ctaStatsChainTooLong, 9}}}))
	want := flow.CPUStats{Found: 4, Insert: 9, Drop: 0xFFFFFFF0 + 5, ChainTooLong: 9,
		Has: flow.CounterFound | flow.CounterInsert | flow.CounterDrop | flow.CounterChainTooLong}
	if first != want {
		t.Fatalf("first reading:\n got  %+v\n want %+v", first, want)
	}

	second := readCPUAnswer(t, &tot, seq+1, statsCPUAnswer(seq+1, true,
		cpuAnswer{0, [][2]uint32{{ctaStatsFound, 3}, {ctaStatsInsert, 8}, {ctaStatsDrop, 0x10}}},
		cpuAnswer{1, [][2]uint32{{ctaStatsFound, 1}, {ctaStatsInsert, 2}, {ctaStatsDrop, 5}, {ctaStatsChainTooLong, 9}}}))
	if d := second.Drop - first.Drop; second.Drop < first.Drop || d != 0x20 {
		t.Errorf("drop went from %#x to %#x; want it to grow by 0x20", first.Drop, second.Drop)
	}
	if second.Insert != first.Insert+1 || second.Found != first.Found || second.ChainTooLong != first.ChainTooLong {
		t.Errorf("second reading %+v after %+v: want insert +1, found and chaintoolong unchanged", second, first)
	}

	// A reading that fails counts for nothing: the next one grows from
	// the last good one.
	bad := appendRequest(nil, ctMsgGetStatsCPU, unix.NLM_F_MULTI, unix.AF_UNSPEC, seq+2)
	bad = appendAttr(bad, ctaStatsDrop, []byte{0xff, 0xff}) // a u32 in two bytes
	finishRequest(bad, 0)
	bad = append(bad, statsCPUAnswer(seq+2, true, cpuAnswer{1, [][2]uint32{{ctaStatsDrop, 0x7FFFFFFF}}})...)
	tot.begin()
	if done, end, err := decodeStatsCPU(bad, seq+2, &tot); !done || end != nil || err == nil {
		t.Fatalf("an attribute of the wrong size: done %v, end %v, bad %v; want the end and an error", done, end, err)
	}
	third := readCPUAnswer(t, &tot, seq+3, statsCPUAnswer(seq+3, true,
		cpuAnswer{0, [][2]uint32{{ctaStatsFound, 3}, {ctaStatsInsert, 8}, {ctaStatsDrop, 0x11}}},
		cpuAnswer{1, [][2]uint32{{ctaStatsFound, 1}, {ctaStatsInsert, 2}, {ctaStatsDrop, 5}, {ctaStatsChainTooLong, 9}}}))
	if third.Drop != second.Drop+1 {
		t.Errorf("drop %#x after %#x and a failed reading; want one more", third.Drop, second.Drop)
	}
}
