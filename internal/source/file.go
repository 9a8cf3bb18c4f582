package source

import (
	"bytes"
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

// NewFileReader reads the dump at path in any format ParseConntrack knows;
// path "-" reads stdin. An empty file is an empty table; a file in which no
// line parsed but some were skipped is not a dump, and the error wraps
// ErrNotDump and names the file.
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
			// Counting lines first sizes the rows exactly: growing by
			// doubling would leave as much again behind as garbage.
			lines, err := countLines(f)
			if err != nil {
				return nil, err
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return nil, err
			}
			flows = make([]flow.Flow, 0, lines)
		}
		r = f
	}
	flows, skipped, err := ParseConntrack(r, fr.readAt, flows)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fr.name, err)
	}
	if len(flows) == 0 && skipped > 0 {
		return nil, fmt.Errorf("%s: %w (%d lines, none of them a conntrack entry)", fr.name, ErrNotDump, skipped)
	}
	fr.flows, fr.skipped = flows, skipped
	return fr, nil
}

// countLines returns the number of lines in r, a last one without a newline
// included.
func countLines(r io.Reader) (int, error) {
	buf := make([]byte, 64<<10)
	lines, last := 0, byte('\n')
	for {
		n, err := r.Read(buf)
		if n > 0 {
			lines += bytes.Count(buf[:n], []byte{'\n'})
			last = buf[n-1]
		}
		if err == io.EOF {
			if last != '\n' {
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
