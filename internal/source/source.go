// Package source reads the connection-tracking table: live from the kernel
// over ctnetlink, from /proc/net/nf_conntrack (or the legacy
// /proc/net/ip_conntrack), or from a saved dump. It produces flow.Table values
// and knows nothing about how they are shown.
package source

import (
	"errors"
	"fmt"

	"github.com/gostate/gostate/internal/flow"
)

// Reader is the contract between gostate and a conntrack table: the live
// kernel's over ctnetlink (NetlinkReader), /proc/net/nf_conntrack
// (ProcReader), or a saved dump (FileReader). Every reader of this package
// implements all of it; what a source cannot do (looking rows up in a file)
// it says with ErrUnsupported.
//
// A Reader reads for one goroutine at a time, except that ReadSummary may
// run on another while a Read or ReadBatches is in flight: the live screen
// reads the health between the dumps of a large table that way.
type Reader interface {
	// Read replaces t's contents with a whole read of the table, reusing
	// t.Flows' storage: callers that keep rows across reads copy them.
	Read(t *flow.Table) error
	// ReadBatches reads the whole table as Read does, but hands the rows
	// to each in the order read, in batches of at most batch rows (batch
	// < 1 means 1), and keeps none: t receives everything else (health,
	// source, warnings, skipped, timeouts, ReadAt) and is left with no
	// rows. A batch is valid only during the call and must not be
	// modified. When each returns false the read stops within a batch's
	// work and ReadBatches returns ErrStopped; the reader is then ready
	// for the next read. The live screen keeps its one copy of the table
	// this way (reading into a second copy would double its memory), and
	// stops a read of a million entries when the user quits.
	ReadBatches(t *flow.Table, batch int, each func(rows []flow.Flow) bool) error
	// ReadSummary replaces t's contents with everything Read gives except
	// the rows, without reading the rows: cheap enough to call every
	// second on a table of 1,000,000 entries. Unlike Read, a health figure
	// that cannot be read is an error, as there are no rows to count
	// instead.
	ReadSummary(t *flow.Table) error
	// Refresh looks each of rows up by identity (original tuple and zone)
	// and replaces it with the kernel's current version. res, at least as
	// long as rows (else an error), says for each row what was found:
	// LookupFound (rows[i] replaced), LookupGone (no longer in the table;
	// rows[i] unchanged) or LookupUnknown (no usable answer, such as one
	// that could not be decoded; rows[i] unchanged, and the next whole
	// read settles it). A source that cannot look rows up (a /proc file,
	// a saved dump) returns ErrUnsupported and touches nothing;
	// Refresh(nil, nil) is how a caller asks whether a source can (a nil
	// error means it can).
	Refresh(rows []flow.Flow, res []Lookup) error
	// Listen subscribes to the changes of the table of the given kinds
	// (ctnetlink's NEW, UPDATE and DESTROY groups) in the reader's
	// namespace, on a socket of its own that outlives the reader's Close;
	// kinds outside EventAll are ignored, and none at all is an error.
	// /proc and saved dumps return ErrUnsupported. When the namespace's
	// net.netfilter.nf_conntrack_events is 0 (no event would ever come)
	// the error wraps ErrEventsOff and says how to turn them on.
	//
	// Events do not replace whole reads: with nf_conntrack_events=2, the
	// default, the kernel announces nothing about flows created before
	// the first listener subscribed, not even their end; the DESTROY of an
	// expired flow comes when the garbage collector reaps it, which can be
	// long after its timeout; and after an overrun (ErrOverrun) what was
	// lost is unknown.
	Listen(kinds EventKind) (Listener, error)
	// Close releases the reader's sockets and files.
	Close() error
}

// Lookup is what Refresh found for one row.
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
	// HealthFallback lets Open return a reader of the table's health alone
	// when the rows are refused for want of privilege (ctnetlink needs
	// CAP_NET_ADMIN, /proc/net/nf_conntrack is root's) but the health is
	// not: the count, the limit, the buckets and the per-CPU statistics
	// under /proc are world-readable. Its ReadSummary works (with a warning
	// that says what the rows need) and its Read and ReadBatches fail with
	// an error wrapping ErrHealthOnly. For the one-shot views, which can
	// show the health without the rows; the live screen does not ask.
	HealthFallback bool
	// EventBuffer is the receive buffer, in bytes, that the netlink
	// source's event listeners start with (0: 2 MiB); each overrun doubles
	// it, up to 16 MiB or EventBuffer, whichever is larger. A smaller
	// buffer overruns sooner: tests shrink it to cause overruns.
	EventBuffer int
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
	// ErrNetNSGone means the network namespace a reader was opened on
	// (Options.NetNS) is no longer what its name or path opens: deleted
	// with `ip netns del`, deleted and made again under the same name, or
	// gone with the process of its /proc/PID/ns/net. The reader's sockets
	// and files keep the old namespace alive, so a read would go on
	// showing a table nobody can see any more; instead every Read,
	// ReadBatches and ReadSummary returns an error wrapping ErrNetNSGone,
	// whose one-line text says what happened ("netns blue was deleted (ip
	// netns del): showing its last state"). The live screen keeps the last
	// good read and shows the message.
	ErrNetNSGone = errors.New("network namespace gone")
	// ErrHealthOnly means the reader reads the table's health but not its
	// rows: Open, asked for Options.HealthFallback, found the rows refused
	// for want of privilege. Its Read and ReadBatches fail with an error
	// that wraps ErrHealthOnly and the refusal (ErrUnavailable, and EPERM
	// or EACCES), whose text is the one Open would have failed with.
	ErrHealthOnly = errors.New("the rows cannot be read, only the health")
	// ErrStopped means ReadBatches stopped because its caller asked it to.
	ErrStopped = errors.New("read stopped")
	// ErrUnsupported means the source cannot do what was asked (Refresh
	// on a /proc file or a saved dump). It wraps errors.ErrUnsupported.
	ErrUnsupported = fmt.Errorf("conntrack source: %w", errors.ErrUnsupported)
)
