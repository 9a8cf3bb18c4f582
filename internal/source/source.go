// Package source reads the connection-tracking table: live from the kernel
// over ctnetlink, from /proc/net/nf_conntrack (or the legacy
// /proc/net/ip_conntrack), or from a saved dump. It produces flow.Table values
// and knows nothing about how they are shown.
package source

import (
	"errors"

	"github.com/gostate/gostate/internal/flow"
)

// Reader reads the table again and again, as a live screen refreshes.
type Reader interface {
	// Read replaces t's contents with a fresh read of the table. It reuses the
	// storage of t.Flows, so callers that keep rows across reads copy them.
	Read(t *flow.Table) error
	// Close releases the reader's sockets and files.
	Close() error
}

// Lookup is what NetlinkReader.Refresh found for one row.
type Lookup uint8

// What Refresh can find for a row.
const (
	// LookupUnknown: no usable answer; the row is left as it was.
	LookupUnknown Lookup = iota
	// LookupFound: the row was replaced with the kernel's current version.
	LookupFound
	// LookupGone: the entry is no longer in the table.
	LookupGone
)

// StatsReader reads the table's health (flow.Stats) without reading its rows:
// cheap enough to call every second on a table of a million entries. Every
// Reader of this package is one.
type StatsReader interface {
	ReadStats(s *flow.Stats) error
}

// summaryReader fills a Table with everything Read gives but the rows. Every
// Reader of this package is one; see ReadSummary.
type summaryReader interface {
	readSummary(t *flow.Table) error
}

// ReadSummary replaces t's contents with what r.Read would give except the
// rows: health (through ReadStats, so the table is not dumped), source name,
// warnings, timeouts and, for a saved dump, the count of skipped lines.
// t.Flows is left empty. A Reader from outside this package is read whole.
// Unlike Read, a health figure that cannot be read is an error: without rows
// there is no count to fall back on.
func ReadSummary(r Reader, t *flow.Table) error {
	if s, ok := r.(summaryReader); ok {
		return s.readSummary(t)
	}
	if err := r.Read(t); err != nil {
		return err
	}
	t.Flows = t.Flows[:0]
	return nil
}

// batchReader reads as Read does but hands the rows over in batches. Every
// Reader of this package is one; see ReadBatches.
type batchReader interface {
	readBatches(t *flow.Table, batch int, each func(rows []flow.Flow) bool) error
}

// ReadBatches reads the table as r.Read would, except that the rows are
// handed to each, in the order read, in batches of at most batch rows as
// they arrive, and not kept: t receives everything else (health, source,
// warnings, skipped lines) and is left with no rows. A batch is only valid
// during the call and must not be modified. When each returns false the read
// stops there, within a batch's work, and ReadBatches returns ErrStopped; r
// is ready for the next read. The live screen keeps its one copy of the
// table this way (reading into a second copy would double its memory), and
// stops a read of a million entries when the user quits instead of finishing
// it. A Reader from outside this package is read whole first.
func ReadBatches(r Reader, t *flow.Table, batch int, each func(rows []flow.Flow) bool) error {
	batch = max(batch, 1)
	if br, ok := r.(batchReader); ok {
		err := br.readBatches(t, batch, each)
		t.Flows = t.Flows[:0]
		return err
	}
	if err := r.Read(t); err != nil {
		return err
	}
	defer func() { t.Flows = t.Flows[:0] }()
	for s := 0; s < len(t.Flows); s += batch {
		if !each(t.Flows[s:min(s+batch, len(t.Flows))]) {
			return ErrStopped
		}
	}
	return nil
}

// Deleter removes an entry from the kernel's table. Only the live netlink
// source can; ErrNotFound from Delete means the entry was already gone.
type Deleter interface {
	Delete(f *flow.Flow) error
}

// Kind chooses a source.
type Kind string

// The sources --source accepts.
const (
	KindAuto    Kind = "auto"
	KindNetlink Kind = "netlink"
	KindProc    Kind = "proc"
)

// Options says what to read.
type Options struct {
	Kind Kind
	// NetNS names a network namespace to read instead of the caller's: a name
	// under /var/run/netns or a path such as /proc/PID/ns/net. Empty means the
	// caller's own.
	NetNS string
	// File, when set, reads a saved dump instead of the kernel ("-" is
	// standard input). Kind and NetNS are then ignored.
	File string
}

// Sentinel errors, wrapped with %w by the readers so that callers can tell
// what went wrong and say what fixes it.
var (
	// ErrUnavailable means no source could be read; the error's text names
	// what was tried and what fixes it.
	ErrUnavailable = errors.New("conntrack table cannot be read")
	// ErrNotFound means an entry to delete was already gone.
	ErrNotFound = errors.New("no such conntrack entry")
	// ErrNotDump means a file is not a conntrack dump in any known format.
	ErrNotDump = errors.New("not a conntrack dump")
	// ErrStopped means ReadBatches stopped because its caller asked it to.
	ErrStopped = errors.New("read stopped")
)
