package source

import (
	"path/filepath"
	"testing"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/nstest"
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
