package source

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gostate/gostate/internal/flow"
)

func TestFileReader(t *testing.T) {
	path := "../../testdata/conntrack-L-extended-id-acct.txt"
	fr, err := NewFileReader(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fr.Path() != path {
		t.Errorf("Path() = %q", fr.Path())
	}
	var tab flow.Table
	tab.Warnings = []string{"from an earlier read"}
	for range 2 {
		if err := fr.Read(&tab); err != nil {
			t.Fatal(err)
		}
		if len(tab.Flows) != 28 || tab.Stats != (flow.Stats{Entries: 28}) || !tab.Frozen ||
			tab.Source != path || len(tab.Warnings) != 0 || tab.Skipped != 0 {
			t.Errorf("got %d rows, stats %+v, frozen %v, source %q, warnings %q", len(tab.Flows), tab.Stats, tab.Frozen, tab.Source, tab.Warnings)
		}
		tab.Flows[0].Mark = 12345 // a caller's change must not leak into the next Read
	}
	if err := fr.Close(); err != nil {
		t.Error(err)
	}
}

// TestFileReaderStart checks that delta-time= counts back from when the dump
// was saved (the file's modification time), not from when it is read.
func TestFileReaderStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dump")
	writeFile(t, path, "udp 17 30 src=192.0.2.1 dst=192.0.2.2 sport=1 dport=2 src=192.0.2.2 dst=192.0.2.1 sport=2 dport=1 mark=0 delta-time=100 use=1\n")
	saved := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(path, saved, saved); err != nil {
		t.Fatal(err)
	}
	fr, err := NewFileReader(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var tab flow.Table
	if err := fr.Read(&tab); err != nil {
		t.Fatal(err)
	}
	if got, want := tab.Flows[0].Start, uint32(saved.Unix()-100); got != want || !tab.ReadAt.Equal(saved) {
		t.Errorf("start %d, read at %v; want %d, %v", got, tab.ReadAt, want, saved)
	}
}

func TestFileReaderStdin(t *testing.T) {
	in, err := os.ReadFile("../../testdata/ip_conntrack.txt")
	if err != nil {
		t.Fatal(err)
	}
	fr, err := NewFileReader("-", strings.NewReader(string(in)+"junk\n"))
	if err != nil {
		t.Fatal(err)
	}
	var tab flow.Table
	if err := fr.Read(&tab); err != nil || len(tab.Flows) != 7 || tab.Skipped != 1 || tab.Source != "standard input" {
		t.Errorf("got %v, %d rows, %d skipped, source %q; want 7 rows, 1 skipped, standard input", err, len(tab.Flows), tab.Skipped, tab.Source)
	}
}

func TestFileReaderEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty")
	writeFile(t, path, "")
	fr, err := NewFileReader(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var tab flow.Table
	if err := fr.Read(&tab); err != nil || len(tab.Flows) != 0 || tab.Stats.Entries != 0 {
		t.Errorf("got %v, %d rows", err, len(tab.Flows))
	}
}

func TestFileReaderNotDump(t *testing.T) {
	for _, path := range []string{"file.go", "../../testdata/proc-6.18/slabinfo", "../../testdata/proc-6.18/thread-self/net/stat/nf_conntrack"} {
		_, err := NewFileReader(path, nil)
		if !errors.Is(err, ErrNotDump) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: got %v, want ErrNotDump naming the file", path, err)
		}
	}
	if _, err := NewFileReader("-", strings.NewReader("\x7fELF\x02\x01\x01\x00\x00\x00\n\xff\xfe")); !errors.Is(err, ErrNotDump) {
		t.Errorf("binary stdin: got %v, want ErrNotDump", err)
	}
	if _, err := NewFileReader("../../testdata/no-such-file", nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: got %v, want ErrNotExist", err)
	}
	if _, err := NewFileReader("../../testdata", nil); err == nil {
		t.Error("a directory: got no error")
	}
}

func TestCountEntryLines(t *testing.T) {
	entry := strings.Repeat("e", minEntryLen)
	short := entry[1:]
	for in, want := range map[string]int{
		"": 0, "\n\n": 0, short: 0, short + "\n": 0, entry: 1, entry + "\n": 1,
		entry + "\n" + short + "\n\n" + entry: 2,
		strings.Repeat(entry+"\n", 70000):     70000,
		strings.Repeat("\n", 70000):           0,
		// A line that spans many reads counts once.
		strings.Repeat("x", 200<<10) + "\n" + entry: 2,
	} {
		if got, err := countEntryLines(strings.NewReader(in)); got != want || err != nil {
			t.Errorf("countEntryLines(%.10q…, %d bytes) = %d, %v; want %d", in, len(in), got, err, want)
		}
	}
	// The bound is tight: the shortest entry, minEntryLen bytes, parses
	// (FuzzParseConntrack holds every row to the bound).
	line := "x 1 src=:: dst=:: src=:: dst=::"
	if flows, skipped, err := parseAll(strings.NewReader(line), fixtureNow, nil); len(line) != minEntryLen || len(flows) != 1 || skipped != 0 || err != nil {
		t.Errorf("%q (%d bytes, minEntryLen %d): %d rows, %d skipped, %v; want 1 row", line, len(line), minEntryLen, len(flows), skipped, err)
	}
}

// Neither a saved dump nor /proc can look rows up: Refresh says so with
// ErrUnsupported and leaves rows and results alone.
func TestRefreshUnsupported(t *testing.T) {
	fr, err := NewFileReader("../../testdata/conntrack-L.txt", nil)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := NewProcReader("../../testdata/proc-6.18")
	if err != nil {
		t.Fatal(err)
	}
	var tab flow.Table
	if err := fr.Read(&tab); err != nil {
		t.Fatal(err)
	}
	for _, r := range []Reader{fr, pr} {
		rows := tab.Flows[:2:2]
		before := [2]flow.Flow(rows)
		res := []Lookup{LookupGone, LookupFound}
		for _, err := range []error{r.Refresh(nil, nil), r.Refresh(rows, res)} {
			if !errors.Is(err, ErrUnsupported) || !errors.Is(err, errors.ErrUnsupported) {
				t.Errorf("%T: Refresh gave %v, want ErrUnsupported", r, err)
			}
		}
		if [2]flow.Flow(rows) != before || res[0] != LookupGone || res[1] != LookupFound {
			t.Errorf("%T: Refresh touched the rows or the results", r)
		}
	}
}
