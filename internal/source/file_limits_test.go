package source

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// entryLine is one valid entry of a dump.
const entryLine = "ipv4     2 udp      17 30 src=192.0.2.1 dst=198.51.100.2 sport=5353 dport=53 src=198.51.100.2 dst=192.0.2.1 sport=53 dport=5353 mark=0 zone=0 use=2\n"

// returns runs fn and fails the test if it has not returned after 30 s: the
// inputs under test never end, and a reader that does not stop would hang
// the test forever. It says nothing about how fast fn is.
func returns(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: still reading after 30 s", what)
	}
}

// repeatReader yields b over and over: n bytes, or without end when n < 0.
type repeatReader struct {
	b byte
	n int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	if r.n > 0 && int64(len(p)) > r.n {
		p = p[:r.n]
	}
	for i := range p {
		p[i] = r.b
	}
	if r.n > 0 {
		r.n -= int64(len(p))
	}
	return len(p), nil
}

// checkRefused checks that reading path (stdin for "-") as a dump stops, with
// an error that matches ErrNotDump and reads want.
func checkRefused(t *testing.T, path string, stdin io.Reader, want string) {
	t.Helper()
	var err error
	returns(t, path, func() { _, err = NewFileReader(path, stdin) })
	if !errors.Is(err, ErrNotDump) || err == nil || err.Error() != want {
		t.Errorf("%s: got %v; want %q matching ErrNotDump", path, err, want)
	}
}

// /dev/zero is one line that never ends, as a file and as standard input.
func TestFileReaderDevZero(t *testing.T) {
	checkRefused(t, "/dev/zero", nil, "/dev/zero: not a conntrack dump (no conntrack entry in its first 16 MiB)")
	checkRefused(t, "-", &repeatReader{b: 0, n: -1}, "standard input: not a conntrack dump (no conntrack entry in its first 16 MiB)")
}

// A file of 17 MiB of lines that are not entries is refused after 16 MiB,
// and so is a dump whose entries are followed by that much garbage.
func TestFileReaderGarbage(t *testing.T) {
	var b bytes.Buffer
	for b.Len() < 17<<20 {
		b.WriteString("this line of a log file is not a conntrack entry at all\n")
	}
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	writeFile(t, garbage, b.String())
	checkRefused(t, garbage, nil, garbage+": not a conntrack dump (no conntrack entry in its first 16 MiB)")

	tail := filepath.Join(dir, "tail")
	writeFile(t, tail, entryLine+entryLine+b.String()+entryLine)
	checkRefused(t, tail, nil, tail+": not a conntrack dump (16 MiB without a conntrack entry after entry 2)")
}

// A line without end after an entry: skipped as it is read, and refused once
// 16 MiB of it pass without an entry.
func TestFileReaderEndlessLine(t *testing.T) {
	in := io.MultiReader(strings.NewReader(entryLine), &repeatReader{b: 'x', n: -1})
	checkRefused(t, "-", in, "standard input: not a conntrack dump (16 MiB without a conntrack entry after entry 1)")
}

// A line of 100 MB without a newline is skipped, and never held in memory.
func TestParseHugeLine(t *testing.T) {
	in := io.MultiReader(strings.NewReader(entryLine), &repeatReader{b: 'x', n: 100 << 20})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	flows, skipped, err := parseAll(in, fixtureNow, nil)
	runtime.ReadMemStats(&after)
	if len(flows) != 1 || skipped != 1 || err != nil {
		t.Errorf("%d rows, %d skipped, %v; want the entry and the long line skipped", len(flows), skipped, err)
	}
	// The buffer is maxLineLen; holding the line would take 100 MB.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("parsing allocated %d bytes for a 100 MB line; the line must not be held", alloc)
	}
}

// A producer of valid entries that never stops, on a pipe as standard input
// and as a named pipe given by path, is stopped at the limit of entries
// (lowered here, so that the test stays small).
func TestFileReaderEndlessEntries(t *testing.T) {
	saved := fileLimits
	fileLimits.rows = 1000
	t.Cleanup(func() { fileLimits = saved })
	const want = "more than 1,000 entries; a conntrack table is never that large — is this a dump?"

	produce := func(w *os.File) chan error {
		done := make(chan error, 1)
		go func() {
			line := []byte(entryLine)
			for {
				if _, err := w.Write(line); err != nil {
					w.Close()
					done <- err
					return
				}
			}
		}()
		return done
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	done := produce(w)
	checkRefused(t, "-", r, "standard input: "+want)
	r.Close()
	if err := <-done; !errors.Is(err, syscall.EPIPE) {
		t.Errorf("the producer ended with %v, want EPIPE once the reader gave up", err)
	}

	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	opened := make(chan chan error, 1)
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			ch := make(chan error, 1)
			ch <- err
			opened <- ch
			return
		}
		opened <- produce(w)
	}()
	checkRefused(t, fifo, nil, fifo+": "+want)
	if err := <-<-opened; !errors.Is(err, syscall.EPIPE) {
		t.Errorf("the producer on the named pipe ended with %v, want EPIPE once the reader gave up", err)
	}
}

// At the limit exactly, a dump is read whole.
func TestFileReaderAtEntryLimit(t *testing.T) {
	saved := fileLimits
	fileLimits.rows = 100
	t.Cleanup(func() { fileLimits = saved })
	path := filepath.Join(t.TempDir(), "dump")
	var b strings.Builder
	for range 100 {
		b.WriteString(entryLine)
	}
	writeFile(t, path, b.String())
	for _, stdin := range []bool{false, true} {
		name, in := path, io.Reader(nil)
		if stdin {
			name, in = "-", strings.NewReader(b.String())
		}
		fr, err := NewFileReader(name, in)
		if err != nil || len(fr.flows) != 100 {
			t.Fatalf("%s: %v; want the 100 entries", name, err)
		}
	}
}

func TestSizeTextAndThousands(t *testing.T) {
	for n, want := range map[int64]string{16 << 20: "16 MiB", 64 << 10: "64 KiB", 1000: "1000 bytes", 3<<20 + 1: "3145729 bytes"} {
		if got := sizeText(n); got != want {
			t.Errorf("sizeText(%d) = %q, want %q", n, got, want)
		}
	}
	if got := (&tooManyEntriesError{limit: MaxDumpEntries}).Error(); got != "more than 16,777,216 entries; a conntrack table is never that large — is this a dump?" {
		t.Errorf("the production limit reads %q", got)
	}
}
