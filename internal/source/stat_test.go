package source

import (
	"bufio"
	"bytes"
	"errors"
	"os"
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
