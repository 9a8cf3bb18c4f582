package source

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gostate/gostate/internal/flow"
)

// openNet opens a per-namespace file under <root>/net through
// <root>/thread-self/net, which shows the calling thread's network namespace.
// <root>/net shows the thread-group leader's instead, which is wrong when a
// locked OS thread has entered another namespace with setns (--netns). Kernels
// before 4.1 have no thread-self; there <root>/net is all there is.
func openNet(root, name string) (*os.File, error) {
	f, err := os.Open(filepath.Join(root, "thread-self/net", name))
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(filepath.Join(root, "thread-self")); serr != nil {
			return os.Open(filepath.Join(root, "net", name))
		}
	}
	return f, err
}

// ProcReader implements Reader over /proc/net/nf_conntrack, falling back to
// /proc/net/ip_conntrack. Each Read reads the file and the table's health
// again, in the network namespace of the calling thread; the per-protocol
// timeouts, sysctls that rarely change, are read once, at open. Reads reuse
// one buffer, so one goroutine reads at a time; ReadSummary shares only the
// per-CPU counters' totals with them, under a lock. It cannot look rows up:
// Refresh returns ErrUnsupported.
type ProcReader struct {
	root string
	name string // "nf_conntrack" or "ip_conntrack"
	br   *bufio.Reader

	cpuMu sync.Mutex
	cpu   cpuTotals // the per-CPU counters' totals, guarded by cpuMu

	timeouts   []flow.Timeout
	timeoutErr error // why the timeouts could not be read, a warning of every read
}

// NewProcReader returns a reader of the /proc tree at root ("/proc" in
// production). The error wraps ErrUnavailable and the reason (often
// fs.ErrPermission: the files are root-only) when neither file is readable.
func NewProcReader(root string) (*ProcReader, error) {
	var errs [2]error
	for i, name := range []string{"nf_conntrack", "ip_conntrack"} {
		f, err := openNet(root, name)
		if err == nil {
			f.Close()
			p := &ProcReader{root: root, name: name, br: bufio.NewReaderSize(nil, maxLineLen)}
			p.timeouts, p.timeoutErr = ReadTimeouts(root)
			return p, nil
		}
		errs[i] = err
	}
	return nil, fmt.Errorf("%w: %s: %w (legacy %s: %v)", ErrUnavailable,
		filepath.Join(root, "net/nf_conntrack"), unwrapPath(errs[0]),
		filepath.Join(root, "net/ip_conntrack"), unwrapPath(errs[1]))
}

// Path returns the file the reader reads, as the user knows it
// ("/proc/net/nf_conntrack"), for the "reading /proc/net/…" message.
func (p *ProcReader) Path() string {
	return filepath.Join(p.root, "net", p.name)
}

// Read replaces t's contents with a fresh read of the table, reusing the
// storage of t.Flows. Health figures that cannot be read are left unknown and
// reported in t.Warnings; the entries count then falls back to the rows read.
func (p *ProcReader) Read(t *flow.Table) error { return p.read(t, 0, nil) }

// ReadBatches is Read handing the rows to each in batches of at most batch;
// t.Flows' storage holds one batch. See Reader.
func (p *ProcReader) ReadBatches(t *flow.Table, batch int, each func(rows []flow.Flow) bool) error {
	err := p.read(t, max(batch, 1), each)
	t.Flows = t.Flows[:0]
	return err
}

// read is Read, handing the rows to each in batches of batch rows when each
// is set, and stopping with ErrStopped when each returns false.
func (p *ProcReader) read(t *flow.Table, batch int, each func([]flow.Flow) bool) error {
	f, err := openNet(p.root, p.name)
	if err != nil {
		return fmt.Errorf("%s: %w", p.Path(), unwrapPath(err))
	}
	defer f.Close()
	// The count, read first, sizes the rows: growing a slice of 200,000
	// rows by doubling would leave as much again behind as garbage.
	healthErr := p.ReadSummary(t)
	switch want := t.Stats.Entries + t.Stats.Entries/8; {
	case each == nil && cap(t.Flows) < want:
		t.Flows = make([]flow.Flow, 0, want)
	case each != nil && (cap(t.Flows) < batch || cap(t.Flows) > 4*batch):
		// One batch's room; storage that once held a whole table gives
		// its memory back.
		t.Flows = make([]flow.Flow, 0, batch)
	}
	p.br.Reset(f)
	rows := 0
	count := func(b []flow.Flow) bool {
		rows += len(b)
		return each(b)
	}
	if each == nil {
		count = nil
	}
	// No limits: the kernel's file ends, and holds what the table holds.
	flows, skipped, err := parseConntrack(p.br, time.Now(), t.Flows[:0], batch, count, nil)
	p.br.Reset(nil)
	if errors.Is(err, ErrStopped) {
		t.Flows = flows[:0]
		return err
	}
	if err != nil {
		return fmt.Errorf("%s: %w", p.Path(), err)
	}
	rows += len(flows)
	t.Flows, t.Skipped = flows, skipped
	if each != nil && len(flows) > 0 {
		t.Flows = flows[:0]
		if !each(flows) {
			return ErrStopped
		}
	}
	t.ReadAt = time.Now()
	if healthErr != nil {
		t.Stats.Entries = rows
		t.Warnings = append(t.Warnings, healthErr.Error())
	}
	return nil
}

// ReadSummary fills t but for the rows with the health, read in the calling
// thread's network namespace, and the timeouts read at open, and returns the
// health error (which Read turns into a warning). Timeouts that could not be
// read are a warning.
func (p *ProcReader) ReadSummary(t *flow.Table) error {
	t.Flows = t.Flows[:0]
	t.Skipped = 0
	t.ReadAt = time.Now()
	t.Source = p.Path()
	t.Frozen = false
	t.Warnings = t.Warnings[:0]
	t.Timeouts = p.timeouts
	if p.timeoutErr != nil {
		t.Warnings = append(t.Warnings, "timeouts: "+p.timeoutErr.Error())
	}
	p.cpuMu.Lock()
	defer p.cpuMu.Unlock()
	var err error
	t.Stats, err = readHealth(p.root, &p.cpu)
	return err
}

// Refresh returns ErrUnsupported: /proc has no lookup by tuple.
func (p *ProcReader) Refresh([]flow.Flow, []Lookup) error { return ErrUnsupported }

// Close releases nothing: files are opened and closed within each Read.
func (p *ProcReader) Close() error { return nil }
