package source

import (
	"time"

	"github.com/gostate/gostate/internal/flow"
)

// healthOnlySource is the Source of the tables a healthReader reads.
const healthOnlySource = "/proc (health only)"

// healthReader reads the health of a table whose rows it may not read (see
// Options.HealthFallback): ReadSummary reads /proc in the namespace, where
// the count, the limit, the buckets and the per-CPU statistics are
// world-readable, and Read and ReadBatches fail with rowsErr.
type healthReader struct {
	ns       *netNS
	rowsErr  error  // wraps ErrHealthOnly and why the rows were refused
	warning  string // every summary's: what the rows need
	timeouts []flow.Timeout
	cpu      cpuTotals // summaries are read one at a time (see Reader)
}

// openHealthOnly returns a reader of the health in ns when its count can be
// read, rowsErr being Open's error for the rows and need the privilege they
// need (see rowsNeed). The reader owns ns if it succeeds.
func openHealthOnly(ns *netNS, rowsErr error, need string) (*healthReader, error) {
	h := &healthReader{
		ns:      ns,
		rowsErr: &healthOnlyError{err: rowsErr},
		warning: "rows need " + need + ": showing the table's health only",
	}
	err := ns.run(func() error {
		if _, _, err := readFirstInt("/proc", countPaths); err != nil {
			return err
		}
		// As the other sources, without the timeouts there is less to
		// show, which is no reason to fail.
		h.timeouts, _ = ReadTimeouts("/proc")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// Read fails: the rows are refused.
func (h *healthReader) Read(*flow.Table) error {
	if err := h.ns.check(); err != nil {
		return err
	}
	return h.rowsErr
}

// ReadBatches fails as Read does, handing nothing to each and leaving t
// without rows.
func (h *healthReader) ReadBatches(t *flow.Table, _ int, _ func([]flow.Flow) bool) error {
	t.Flows = t.Flows[:0]
	return h.Read(t)
}

// ReadSummary reads the health from /proc in the namespace (see ReadHealth),
// with the warning of what the rows need.
func (h *healthReader) ReadSummary(t *flow.Table) error {
	if err := h.ns.check(); err != nil {
		return err
	}
	t.Flows = t.Flows[:0]
	t.Skipped = 0
	t.Source = healthOnlySource
	t.Frozen = false
	t.Timeouts = h.timeouts
	t.Warnings = append(t.Warnings[:0], h.warning)
	t.ReadAt = time.Now()
	return h.ns.run(func() error {
		var err error
		t.Stats, err = readHealth("/proc", &h.cpu)
		return err
	})
}

// Refresh returns ErrUnsupported: there are no rows to look up.
func (h *healthReader) Refresh([]flow.Flow, []Lookup) error { return ErrUnsupported }

// Listen returns ErrUnsupported: events need CAP_NET_ADMIN, as the rows do.
func (h *healthReader) Listen(EventKind) (Listener, error) { return nil, ErrUnsupported }

// Close closes the namespace.
func (h *healthReader) Close() error { return h.ns.close() }

// healthOnlyError is a healthReader's error for the rows: Open's text, and
// matching both ErrHealthOnly and whatever Open's error matches.
type healthOnlyError struct{ err error }

func (e *healthOnlyError) Error() string { return e.err.Error() }

func (e *healthOnlyError) Unwrap() []error { return []error{ErrHealthOnly, e.err} }
