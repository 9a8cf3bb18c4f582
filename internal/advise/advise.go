package advise

import (
	"github.com/gostate/gostate/internal/numfmt"
	"strconv"
	"time"

	"github.com/gostate/gostate/internal/flow"
)

// Input is what the advisor is told about a table.
type Input struct {
	// Stats is the table's health at the latest read, MemTotal included.
	Stats flow.Stats
	// Peak is the most entries seen while watched; a one-shot report
	// reads the table twice and takes the larger count.
	Peak int
	// Grown is how much each per-CPU counter grew while watched (over
	// Watched), with Has the counters both reads had; nil when the table
	// was not watched (a saved dump) or its counters are unknown.
	Grown *flow.CPUStats
	// Watched is how long the table was watched: from the first read of
	// the counters to the last.
	Watched time.Duration
	// RowsRead is true when the rows were read (Rows may still be empty);
	// false when they were refused (they need CAP_NET_ADMIN or root).
	RowsRead bool
	// Rows are the table's rows, Timeout counting from their read, or,
	// with Elapsed, from Elapsed seconds ago (the live screen's rows count
	// from the session's epoch).
	Rows    []flow.Flow
	Elapsed int
	// Timeouts are the kernel's timeouts in the watched namespace
	// (flow.Table.Timeouts); nil when they could not be read.
	Timeouts []flow.Timeout
}

// Report is the advisor's answer.
type Report struct {
	// Stats, Peak, Grown and Watched are the Input's.
	Stats   flow.Stats
	Peak    int
	Grown   *flow.CPUStats
	Watched time.Duration

	// Decided is true when the verdict could be reached: the limit is
	// known, or a drop counter grew. ChangeNeeded is the verdict, Reasons
	// what it rests on, one sentence each.
	Decided      bool
	ChangeNeeded bool
	Reasons      []string

	// Suggestion is the sizing rule's figure (Suggest).
	Suggestion Suggestion
	// SuggestedMax is the limit to have: Suggestion.Max when a change is
	// needed or the verdict is unknown, else the current limit.
	// SuggestedBuckets is the hash table's size to go with it, one bucket
	// per entry (the kernel's default ratio), or the current size when the
	// limit stays.
	SuggestedMax, SuggestedBuckets int
	// MemoryAtSuggested is the kernel memory of a full table at
	// SuggestedMax (FullTableBytes); 0 when the size of an entry is
	// unknown.
	MemoryAtSuggested uint64
	// Sysctl are the commands that set SuggestedMax and SuggestedBuckets
	// now, Persist the files that keep them across reboots; both empty
	// when nothing is to change.
	Sysctl  []string
	Persist []File
	// Where says where and by whom the commands can be run, when the
	// limit cannot be set from where the table was read (MaxWritable);
	// "" otherwise.
	Where string

	// States is where the entries are, by protocol and displayed state,
	// most entries first; nil when the rows were not read. Rows is how
	// many rows were read, the whole the shares are of.
	States []State
	Rows   int
	// EstablishedTimeout is nf_conntrack_tcp_timeout_established, 0 when
	// unknown; IdleOver1h counts the TCP ESTABLISHED rows idle for more
	// than an hour (IdleKnown false when the rows or that timeout are
	// unknown).
	EstablishedTimeout int
	IdleOver1h         int
	IdleKnown          bool

	// Unknown lists, one sentence each, what could not be read or
	// decided, and what that leaves out.
	Unknown []string
}

// Advise builds the report on in.
func Advise(in *Input) *Report {
	s := &in.Stats
	r := &Report{Stats: *s, Peak: max(in.Peak, s.Entries), Grown: in.Grown, Watched: in.Watched}
	grew := dropsGrew(in.Grown)
	r.verdict(grew)
	r.Suggestion = Suggest(s, r.Peak, grew)
	r.SuggestedMax = r.Suggestion.Max
	if r.Decided && !r.ChangeNeeded {
		r.SuggestedMax = s.Max
	}
	r.SuggestedBuckets = r.SuggestedMax
	if r.SuggestedMax == s.Max && s.Buckets > 0 {
		// Nothing to change: the buckets stay as they are too.
		r.SuggestedBuckets = s.Buckets
	}
	r.MemoryAtSuggested = FullTableBytes(r.SuggestedMax, s.BytesPerEntry, r.SuggestedBuckets)
	if (!r.Decided || r.ChangeNeeded) && r.Suggestion.Raise {
		r.Sysctl, r.Persist = commands(r.SuggestedMax, r.SuggestedBuckets, s.Buckets)
		r.Where = where(s)
	}
	r.unknowns(in)
	if in.RowsRead {
		r.states(in)
	}
	return r
}

// dropsGrew says whether drop, insert_failed or early_drop grew: the kernel
// refused or evicted a connection for want of room (insert_failed also
// counts lost races on insertion, which a busier table makes likelier).
func dropsGrew(g *flow.CPUStats) bool {
	return g != nil && (g.Drop > 0 || g.InsertFailed > 0 || g.EarlyDrop > 0)
}

// verdict decides whether the limit needs changing: when the peak reaches
// ChangePercent of it, or when drop, insert_failed or early_drop grew while
// watched. The counters' totals decide nothing: the kernel counts them per
// namespace, on the host since nf_conntrack was loaded, elsewhere since the
// namespace was created, and they may date from a burst long ago, already
// dealt with.
func (r *Report) verdict(grew bool) {
	s := &r.Stats
	if grew {
		r.Decided, r.ChangeNeeded = true, true
		r.Reasons = append(r.Reasons, "drop, insert_failed or early_drop grew while watched ("+
			grownText(r.Grown)+" in "+seconds(r.Watched)+"): the table refused or evicted connections")
	}
	if s.Max > 0 {
		r.Decided = true
		pct := percentText(float64(r.Peak), float64(s.Max))
		if 100*r.Peak >= ChangePercent*s.Max {
			r.ChangeNeeded = true
			r.Reasons = append(r.Reasons, "the peak seen ("+numfmt.Count(r.Peak)+") is "+pct+" of the limit ("+numfmt.Count(s.Max)+"): "+
				strconv.Itoa(ChangePercent)+"% or more leaves less than twice the peak")
		} else {
			r.Reasons = append(r.Reasons, "the peak seen ("+numfmt.Count(r.Peak)+") is "+pct+" of the limit ("+numfmt.Count(s.Max)+"), under "+
				strconv.Itoa(ChangePercent)+"%")
		}
	}
	switch {
	case r.Grown != nil && !grew:
		r.Reasons = append(r.Reasons, "no drop, insert_failed or early_drop while watched ("+seconds(r.Watched)+")")
	case r.Grown == nil:
		r.Reasons = append(r.Reasons, "the counters were not watched: a drop now would go unseen")
	}
	r.Reasons = append(r.Reasons, "the counters' totals decide nothing: counted since nf_conntrack was loaded (in another namespace, since it was created), they may date from long ago")
}

// unknowns says what could not be read, and what it leaves out.
func (r *Report) unknowns(in *Input) {
	s := &r.Stats
	if s.Max <= 0 {
		r.Unknown = append(r.Unknown, "the limit (nf_conntrack_max) is unknown: no verdict; compare the suggestion with sysctl net.netfilter.nf_conntrack_max on the machine")
	}
	if s.Buckets <= 0 {
		r.Unknown = append(r.Unknown, "the buckets (nf_conntrack_buckets) are unknown: only /proc/sys shows them")
	}
	switch {
	case s.BytesPerEntry <= 0:
		r.Unknown = append(r.Unknown, "the size of an entry is unknown: no memory figures, and no memory bound on the suggestion")
	case s.MemTotal == 0:
		r.Unknown = append(r.Unknown, "the RAM (MemTotal of /proc/meminfo) is unknown: no memory bound on the suggestion")
	}
	if !in.RowsRead {
		r.Unknown = append(r.Unknown, "the rows could not be read (they need CAP_NET_ADMIN or root): no states, shares or idle flows")
	} else if in.Timeouts == nil {
		r.Unknown = append(r.Unknown, "the timeouts (/proc/sys/net/netfilter/nf_conntrack_*_timeout*) could not be read: no timeouts, no idle flows")
	}
}
