package flow

import "time"

// Table is one read of the connection-tracking table.
type Table struct {
	// Flows holds the rows in the order the source produced them.
	Flows []Flow
	// ReadAt is when the read finished; TTLs count down from it.
	ReadAt time.Time
	// Stats describes the whole table, whatever filters the user applies.
	Stats Stats
	// Source names what was read: "netlink", "/proc/net/nf_conntrack", a file name.
	Source string
	// Skipped counts input lines or messages that could not be understood and
	// were left out.
	Skipped int
	// Warnings are one-line remarks for the user: why a fallback happened, or a
	// dump the kernel marked as possibly inconsistent.
	Warnings []string
	// Frozen is true for a saved dump: its TTLs are as saved and must not
	// count down.
	Frozen bool
	// Timeouts are the kernel's per-protocol and per-state timeouts, when the
	// source can read them (/proc/sys/net/netfilter).
	Timeouts []Timeout
}

// Timeout is one of the kernel's conntrack timeouts.
type Timeout struct {
	// Name is the sysctl's name without the nf_conntrack_ prefix and _timeout
	// suffix: "tcp_established", "udp_stream", "generic".
	Name    string
	Seconds int
}

// Stats are the table's health figures.
type Stats struct {
	// Entries is the number of entries in the table (in this network namespace).
	Entries int
	// Max is nf_conntrack_max, the table's global limit; 0 when unknown.
	Max int
	// Buckets is nf_conntrack_buckets, the size of the kernel's hash table
	// (global, like Max); 0 when unknown: only /proc/sys shows it.
	Buckets int
	// BytesPerEntry is the kernel memory one entry costs, as far as it can
	// be known: the size of the nf_conntrack slab object; 0 when unknown.
	// The extensions an entry may carry (counters, timestamps, NAT, event
	// state) are allocated apart, from caches shared with the rest of the
	// kernel, and are not counted.
	BytesPerEntry int
	// BytesPerEntryEstimated is true when BytesPerEntry is an estimate rather
	// than a reading of /proc/slabinfo.
	BytesPerEntryEstimated bool
	// CPU holds the per-CPU statistics, summed over all CPUs.
	CPU CPUStats
	// HaveCPU is true when CPU was read; CPU.Has then says which of its
	// counters were.
	HaveCPU bool
	// MaxWritable says whether Max can be set from where the table was
	// read: whether nf_conntrack_max, as the reader's network namespace
	// shows it, is writable for gostate's effective user, groups and
	// capabilities (access(2) with W_OK; nothing is written to find out).
	// The kernel shows the global limit read-only in every network
	// namespace but the initial one, and writable only to root or
	// CAP_NET_ADMIN in that one: InitialNetNS tells the two causes of
	// TriNo apart. TriUnknown for a saved dump, when Max is unknown, or
	// when the check could not be made.
	MaxWritable Tristate
	// InitialNetNS says whether the table was read in the initial network
	// namespace (the host's), the only one in which the limit can be set:
	// TriNo means it is set on the host, whatever gostate's privileges.
	// TriUnknown for a saved dump, or when no namespace known to be the
	// initial one could be compared with the reader's.
	InitialNetNS Tristate
	// MemTotal is the machine's RAM in bytes (MemTotal of /proc/meminfo),
	// which bounds the limit gostate suggests (internal/advise); 0 when
	// unknown, as for a saved dump, which may come from another machine.
	MemTotal uint64
}

// LimitAccess says who can raise nf_conntrack_max, from where the table was
// read (Stats.LimitAccess): the one rule the advice and the warnings word
// their own way.
type LimitAccess uint8

// The answers of Stats.LimitAccess.
const (
	// LimitWritable: writable here, or not known not to be: worth trying.
	LimitWritable LimitAccess = iota
	// LimitOnHost: read-only in this namespace, whatever the privileges:
	// the limit is global and set on the host (the initial namespace).
	LimitOnHost
	// LimitNeedsRoot: the initial namespace, read-only for want of root or
	// CAP_NET_ADMIN.
	LimitNeedsRoot
	// LimitReadOnly: read-only here, for want of privileges or because
	// this is not the initial namespace, gostate could not tell which.
	LimitReadOnly
)

// LimitAccess says who can raise the limit from where the table was read,
// from MaxWritable and InitialNetNS.
func (s *Stats) LimitAccess() LimitAccess {
	if s.MaxWritable != TriNo {
		return LimitWritable
	}
	switch s.InitialNetNS {
	case TriNo:
		return LimitOnHost
	case TriYes:
		return LimitNeedsRoot
	}
	return LimitReadOnly
}

// Tristate is a yes-or-no fact that may not be known; the zero value is
// TriUnknown.
type Tristate uint8

// The values of a Tristate.
const (
	// TriUnknown: not found out (the source cannot tell, or the check
	// failed).
	TriUnknown Tristate = iota
	// TriNo: checked, and false.
	TriNo
	// TriYes: checked, and true.
	TriYes
)

// String returns "unknown", "no" or "yes".
func (t Tristate) String() string {
	switch t {
	case TriNo:
		return "no"
	case TriYes:
		return "yes"
	}
	return "unknown"
}

// FillPercent returns Entries as a percentage of Max, or -1 when Max is unknown.
func (s Stats) FillPercent() float64 {
	if s.Max <= 0 {
		return -1
	}
	return 100 * float64(s.Entries) / float64(s.Max)
}

// MemoryBytes returns the kernel memory the entries use: count × bytes per
// entry, or 0 when the size of an entry is unknown.
func (s Stats) MemoryBytes() uint64 {
	return uint64(s.Entries) * uint64(s.BytesPerEntry)
}

// CPUStats are the kernel's per-CPU conntrack statistics (conntrack -S,
// /proc/net/stat/nf_conntrack), summed over the CPUs. A counter the source
// did not report has its bit clear in Has and stays zero: it is unknown, not
// zero.
//
// The kernel keeps each counter in 32 bits per CPU, and they wrap; a source
// that reads them repeatedly sums each CPU's growth modulo 2^32 into these
// 64-bit totals, so that a total never goes down while the module stays
// loaded.
type CPUStats struct {
	Found         uint64
	Invalid       uint64
	Ignore        uint64
	Insert        uint64
	InsertFailed  uint64
	Drop          uint64
	EarlyDrop     uint64
	Error         uint64
	SearchRestart uint64
	ClashResolve  uint64
	ChainTooLong  uint64
	// Has says which of the counters above the source reported.
	Has CPUCounters
}

// CPUCounters is a set of the counters of CPUStats, one bit each.
type CPUCounters uint16

// The counters of CPUStats, in the order of its fields. Which ones a source
// reports depends on the kernel and on the source: Linux 5.x replaced
// /proc's searched and delete_list columns with clashres and chainlength and
// stopped counting ignore, which its netlink answer no longer carries (the
// /proc column stays, always 0).
const (
	CounterFound CPUCounters = 1 << iota
	CounterInvalid
	CounterIgnore
	CounterInsert
	CounterInsertFailed
	CounterDrop
	CounterEarlyDrop
	CounterError
	CounterSearchRestart
	CounterClashResolve
	CounterChainTooLong

	// AllCounters is the set of every counter.
	AllCounters = CounterChainTooLong<<1 - 1
)

// Since returns how much each counter that both s and prev have grew from
// prev to s. The readers keep 64-bit totals that never go down while the
// module stays loaded; one that did (the module reloaded) counts as 0.
func (s *CPUStats) Since(prev *CPUStats) CPUStats {
	g := CPUStats{Has: s.Has & prev.Has}
	for bit := CPUCounters(1); bit&AllCounters != 0; bit <<= 1 {
		if g.Has&bit != 0 && *s.Counter(bit) > *prev.Counter(bit) {
			*g.Counter(bit) = *s.Counter(bit) - *prev.Counter(bit)
		}
	}
	return g
}

// Counter returns the field of s that holds the counter c, a single bit of
// AllCounters; nil for anything else.
func (s *CPUStats) Counter(c CPUCounters) *uint64 {
	switch c {
	case CounterFound:
		return &s.Found
	case CounterInvalid:
		return &s.Invalid
	case CounterIgnore:
		return &s.Ignore
	case CounterInsert:
		return &s.Insert
	case CounterInsertFailed:
		return &s.InsertFailed
	case CounterDrop:
		return &s.Drop
	case CounterEarlyDrop:
		return &s.EarlyDrop
	case CounterError:
		return &s.Error
	case CounterSearchRestart:
		return &s.SearchRestart
	case CounterClashResolve:
		return &s.ClashResolve
	case CounterChainTooLong:
		return &s.ChainTooLong
	}
	return nil
}
