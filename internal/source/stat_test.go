package source

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gostate/gostate/internal/flow"
)

// legacyCounters are the counters of the columns of kernels before 5.x:
// no search_restart yet, and no clashres or chainlength (their columns were
// searched and delete_list, which gostate does not read).
const legacyCounters = flow.CounterFound | flow.CounterInvalid | flow.CounterIgnore | flow.CounterInsert |
	flow.CounterInsertFailed | flow.CounterDrop | flow.CounterEarlyDrop | flow.CounterError

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		file string
		want flow.CPUStats
	}{
		// Linux 6.18, two CPUs; of the counters only insert had moved.
		{"../../testdata/proc-6.18/thread-self/net/stat/nf_conntrack", flow.CPUStats{
			Insert: 0xd + 0xb, Has: flow.AllCounters,
		}},
		// Old column names: searched and delete_list are not clash_resolve
		// and chaintoolong, and search_restart does not exist yet.
		{"../../testdata/proc-legacy/net/stat/ip_conntrack", flow.CPUStats{
			Found: 0x340 + 0x200, Invalid: 3 + 1, Ignore: 0x22 + 0x10, Insert: 0x10 + 5,
			InsertFailed: 1, Drop: 2 + 1, EarlyDrop: 1, Has: legacyCounters,
		}},
	} {
		f, err := os.Open(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseStat(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s:\n got  %+v\n want %+v", tc.file, got, tc.want)
		}
	}
}

func TestParseStatReordered(t *testing.T) {
	in := "entries drop found chainlength\n00000001 00000002 0000000a 00000003\n00000001 ffffffff 00000001 00000000\n"
	got, err := ParseStat(strings.NewReader(in))
	want := flow.CPUStats{Drop: 2 + 0xffffffff, Found: 11, ChainTooLong: 3,
		Has: flow.CounterDrop | flow.CounterFound | flow.CounterChainTooLong}
	if err != nil || got != want {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
}

// The kernel's per-CPU counters are 32 bits and wrap: a reader that reads
// the file again sums each CPU's growth modulo 2^32, so that a counter that
// goes from 0xfffffff0 to 0x10 on one CPU grew by 0x20 and its total says
// so instead of dropping (the screen's "(+N)", a Prometheus counter).
func TestParseStatWrap(t *testing.T) {
	var tot cpuTotals
	first, err := tot.parseStat(strings.NewReader("entries ignore drop\n00000001 00000000 fffffff0\n00000001 00000000 00000002\n"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := tot.parseStat(strings.NewReader("entries ignore drop\n00000001 00000000 00000010\n00000001 00000000 00000002\n"))
	if err != nil {
		t.Fatal(err)
	}
	if first.Drop != 0xfffffff2 || second.Drop != first.Drop+0x20 {
		t.Errorf("drop %#x, then %#x; want 0xfffffff2, then 0x20 more", first.Drop, second.Drop)
	}
	if want := flow.CounterIgnore | flow.CounterDrop; second.Has != want {
		t.Errorf("Has %b, want %b: the columns of the header", second.Has, want)
	}
}

func TestParseStatMalformed(t *testing.T) {
	for _, in := range []string{
		"",
		"\n",
		"entries found\n",                    // no CPU rows
		"found entries\n00000001 00000002\n", // not a stat header
		"entries found\n00000001\n",          // short row
		"entries found\n00000001 0000000g\n", // not hex
		"entries found\n00000001 00000001 0000002\n",  // long row
		"entries found\n00000001 1ffffffffffffffff\n", // overflows
		"\x00\xff garbage",
	} {
		if _, err := ParseStat(strings.NewReader(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: got %v, want ErrMalformed", in, err)
		}
	}
}

// FuzzParseStat checks that any input gives stats or an error wrapping
// ErrMalformed, never a panic. Seeds: testdata/fuzz/FuzzParseStat.
func FuzzParseStat(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		if _, err := ParseStat(bytes.NewReader(in)); err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, bufio.ErrTooLong) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// The /proc reader keeps its totals from one read to the next: a wrap
// between two reads of its stat file is growth there too.
func TestProcReaderStatWrap(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "net/nf_conntrack"), "")
	writeFile(t, filepath.Join(root, "sys/net/netfilter/nf_conntrack_count"), "0\n")
	stat := filepath.Join(root, "net/stat/nf_conntrack")
	p, err := NewProcReader(root)
	if err != nil {
		t.Fatal(err)
	}
	var drops []uint64
	for _, v := range []string{"fffffff0", "00000010"} {
		writeFile(t, stat, "entries drop\n00000000 "+v+"\n")
		var tab flow.Table
		if err := p.ReadSummary(&tab); err != nil || !tab.Stats.HaveCPU {
			t.Fatalf("ReadSummary: %v, per-CPU statistics %v", err, tab.Stats.HaveCPU)
		}
		drops = append(drops, tab.Stats.CPU.Drop)
	}
	if drops[1] != drops[0]+0x20 {
		t.Errorf("drop %#x, then %#x; want 0x20 more", drops[0], drops[1])
	}
}
