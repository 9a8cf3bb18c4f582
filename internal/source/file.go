package source

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gostate/gostate/internal/flow"
)

// FileReader implements Reader over a saved dump: the file is read once, at
// open, and every Read returns the same rows. It is safe for concurrent use.
type FileReader struct {
	name    string
	flows   []flow.Flow
	skipped int
	readAt  time.Time
}

// The limits of a saved dump. A file, a pipe or a device need not end, nor
// hold a conntrack table at all; these bounds turn both into an error that
// names the file, instead of reading (and, for entries, growing memory)
// forever.
const (
	// MaxDumpEntries is the most entries a saved dump may hold:
	// 16,777,216, more than any conntrack table holds (its rows alone
	// take over 2 GiB here).
	MaxDumpEntries = 1 << 24
	// MaxDumpGap is the most of a saved dump that may be read without
	// finding an entry, from its start or since the last entry: 16 MiB,
	// over 20,000 lines of the longest kind a table prints.
	MaxDumpGap = 16 << 20
)

// fileLimits are the limits NewFileReader applies: MaxDumpEntries and
// MaxDumpGap, which tests lower to stay small.
var fileLimits = dumpLimits{rows: MaxDumpEntries, gap: MaxDumpGap}

// NewFileReader reads the dump at path in any format ParseConntrack knows;
// path "-" reads stdin. An empty file is an empty table; a file in which no
// line parsed but some were skipped is not a dump, and the error wraps
// ErrNotDump and names the file.
//
// The input need not end: NewFileReader refuses, with an error that matches
// ErrNotDump and names the file, input in which MaxDumpGap (16 MiB) pass
// without an entry, at the start or anywhere later ("/dev/zero: not a
// conntrack dump (no conntrack entry in its first 16 MiB)"), and input of
// more than MaxDumpEntries (16,777,216) entries. A line longer than any entry
// is skipped without being held in memory.
//
// delta-time= counts back from the file's modification time (when the dump
// was saved), or from now for stdin.
func NewFileReader(path string, stdin io.Reader) (*FileReader, error) {
	fr := &FileReader{name: path, readAt: time.Now()}
	r := stdin
	var flows []flow.Flow
	if path == "-" {
		fr.name = "standard input"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			fr.readAt = fi.ModTime()
			// A file that is not a dump is refused within its first
			// MaxDumpGap bytes, before it is counted whole.
			if err := sniffDump(f, fr.readAt); err != nil {
				return nil, fmt.Errorf("%s: %w", fr.name, err)
			}
			// Counting lines first sizes the rows exactly: growing by
			// doubling would leave as much again behind as garbage.
			lines, err := countEntryLines(f)
			if err != nil {
				return nil, err
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return nil, err
			}
			flows = make([]flow.Flow, 0, min(lines, fileLimits.rows))
		}
		r = f
	}
	flows, skipped, err := parseConntrack(bufio.NewReaderSize(r, maxLineLen), fr.readAt, flows, 0, nil, &fileLimits)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fr.name, err)
	}
	if len(flows) == 0 && skipped > 0 {
		return nil, fmt.Errorf("%s: %w (%d lines, none of them a conntrack entry)", fr.name, ErrNotDump, skipped)
	}
	fr.flows, fr.skipped = flows, skipped
	return fr, nil
}

// sniffDump reads f, a regular file, until its first entry and leaves it at
// its start again. The error is parseConntrack's when MaxDumpGap pass
// without an entry, or an I/O error.
func sniffDump(f *os.File, now time.Time) error {
	stop := func([]flow.Flow) bool { return false }
	_, _, err := parseConntrack(bufio.NewReaderSize(f, maxLineLen), now, make([]flow.Flow, 0, 1), 1, stop, &fileLimits)
	if err != nil && !errors.Is(err, ErrStopped) {
		return err
	}
	_, err = f.Seek(0, io.SeekStart)
	return err
}

// countEntryLines returns the number of lines in r, a last one without a
// newline included, that are long enough to be an entry (minEntryLen): an
// upper bound on the rows r holds that blank or short lines do not inflate.
func countEntryLines(r io.Reader) (int, error) {
	buf := make([]byte, 64<<10)
	lines, cur := 0, 0 // cur: the bytes of the line in progress so far
	for {
		n, err := r.Read(buf)
		for b := buf[:n]; len(b) > 0; {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				cur += len(b)
				break
			}
			if cur+i >= minEntryLen {
				lines++
			}
			cur, b = 0, b[i+1:]
		}
		if err == io.EOF {
			if cur >= minEntryLen {
				lines++
			}
			return lines, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// Path returns the file read, or "standard input".
func (fr *FileReader) Path() string { return fr.name }

// Read copies the dump's rows into t (reusing t.Flows's storage). The table is
// Frozen: its TTLs are as saved. Entries is the number of rows; Max and the
// per-CPU statistics are unknown.
func (fr *FileReader) Read(t *flow.Table) error {
	fr.ReadSummary(t)
	t.Flows = append(t.Flows, fr.flows...)
	return nil
}

// ReadBatches hands the dump's rows to each in batches of at most batch,
// without copying them; t gets the rest of what Read gives. See Reader.
func (fr *FileReader) ReadBatches(t *flow.Table, batch int, each func(rows []flow.Flow) bool) error {
	fr.ReadSummary(t)
	batch = max(batch, 1)
	for s := 0; s < len(fr.flows); s += batch {
		if !each(fr.flows[s:min(s+batch, len(fr.flows))]) {
			return ErrStopped
		}
	}
	return nil
}

// ReadSummary gives what Read does but the rows; of the health, only the
// number of rows is known. It never fails.
func (fr *FileReader) ReadSummary(t *flow.Table) error {
	t.Flows = t.Flows[:0]
	t.ReadAt = fr.readAt
	t.Source = fr.name
	t.Skipped = fr.skipped
	t.Warnings = t.Warnings[:0]
	t.Frozen = true
	t.Timeouts = nil
	t.Stats = flow.Stats{Entries: len(fr.flows)}
	return nil
}

// Refresh returns ErrUnsupported: a saved dump's rows stay as saved.
func (fr *FileReader) Refresh([]flow.Flow, []Lookup) error { return ErrUnsupported }

// Close releases nothing: the file was closed after it was read.
func (fr *FileReader) Close() error { return nil }
