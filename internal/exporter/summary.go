package exporter

import (
	"slices"
	"strings"
	"time"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/group"
)

// MaxTopSources is the most top-source series --top-sources may ask for:
// each is a labelled series, and Prometheus's guidance is to investigate
// anything past a hundred values of a label.
const MaxTopSources = 100

// flowKey is one gostate_conntrack_flows series. Its label values are
// bounded: two families, at most 256 protocol names (flow.ProtoName) and
// the display states of flow.DisplayState, which come from fixed tables.
type flowKey struct {
	family flow.Family
	proto  uint8
	state  string
}

// FlowCount is how many entries of the table have one family, protocol and
// display state.
type FlowCount struct {
	// Family is "ipv4" or "ipv6"; Protocol as flow.ProtoName names it;
	// State as flow.DisplayState gives it: the protocol's own state (TCP,
	// SCTP, DCCP: "ESTABLISHED") or, for protocols without states, the
	// phase ("UNREPLIED", "REPLIED", "ASSURED", "OFFLOAD").
	Family, Protocol, State string
	Entries                 int
}

// SourceCount is one of the biggest groups of --top-sources.
type SourceCount struct {
	// Source is the group's key as group.Spec.Label writes it
	// ("192.0.2.0/24").
	Source  string
	Entries int
}

// Summary is what the collector exports of one read of a table: the
// figures, never the rows, so that a scrape reads nothing but it.
type Summary struct {
	// Stats are the table's health figures.
	Stats flow.Stats
	// Rows is false when only the health could be read (source.ErrHealthOnly):
	// the figures counted from the rows below are then absent, not zero.
	Rows bool
	// Flows are the entries by family, protocol and state, in a fixed
	// order (family, protocol number, state).
	Flows []FlowCount
	// Unreplied, Assured, SNAT and DNAT count the entries with each status.
	Unreplied, Assured, SNAT, DNAT int
	// DistinctSources is the number of original source addresses;
	// LargestSource the entries of the one with most.
	DistinctSources, LargestSource int
	// Top are the biggest groups by the --top-sources-by key, biggest
	// first; empty unless asked for.
	Top []SourceCount
	// ReadAt is when the read ended; ReadTook how long it took.
	ReadAt   time.Time
	ReadTook time.Duration
}

// summarizer turns reads into Summaries, keeping its memory from one read
// to the next: a table of a million rows is summarized without growing the
// heap again.
type summarizer struct {
	top    int
	topBy  group.Spec
	bySrc  group.Spec
	counts map[flowKey]int
	idx    []int32
	src    group.Grouping
	topG   group.Grouping
}

// newSummarizer returns a summarizer that keeps the top biggest groups by
// topBy (none when top is 0).
func newSummarizer(top int, topBy group.Spec) *summarizer {
	src, err := group.Parse("src")
	if err != nil {
		panic(err) // a constant spec
	}
	return &summarizer{top: top, topBy: topBy, bySrc: src, counts: make(map[flowKey]int)}
}

// summarize reads t's rows (when rows is set) into a new Summary.
func (s *summarizer) summarize(t *flow.Table, rows bool, took time.Duration) *Summary {
	sum := &Summary{Stats: t.Stats, Rows: rows, ReadAt: t.ReadAt, ReadTook: took}
	if !rows {
		return sum
	}
	clear(s.counts)
	for i := range t.Flows {
		f := &t.Flows[i]
		s.counts[flowKey{f.Family, f.Proto, f.DisplayState()}]++
		if f.Unreplied() {
			sum.Unreplied++
		}
		if f.Assured() {
			sum.Assured++
		}
		if f.Status.Has(flow.StatusSrcNAT) {
			sum.SNAT++
		}
		if f.Status.Has(flow.StatusDstNAT) {
			sum.DNAT++
		}
	}
	sum.Flows = make([]FlowCount, 0, len(s.counts))
	keys := make([]flowKey, 0, len(s.counts))
	for k := range s.counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b flowKey) int {
		if a.family != b.family {
			return int(a.family) - int(b.family)
		}
		if a.proto != b.proto {
			return int(a.proto) - int(b.proto)
		}
		return strings.Compare(a.state, b.state)
	})
	for _, k := range keys {
		sum.Flows = append(sum.Flows, FlowCount{k.family.String(), flow.ProtoName(k.proto), k.state, s.counts[k]})
	}

	// Grouping takes a view's indices: here every row.
	s.idx = s.idx[:0]
	for i := range t.Flows {
		s.idx = append(s.idx, int32(i))
	}
	s.src.Build(t.Flows, s.idx, s.bySrc)
	sum.DistinctSources = len(s.src.Groups)
	if len(s.src.Groups) > 0 {
		sum.LargestSource = s.src.Groups[0].Entries
	}
	if s.top > 0 {
		g := &s.src
		if s.topBy != s.bySrc {
			s.topG.Build(t.Flows, s.idx, s.topBy)
			g = &s.topG
		}
		n := min(s.top, len(g.Groups))
		sum.Top = make([]SourceCount, n)
		for i := range n {
			sum.Top[i] = SourceCount{g.Label(i), g.Groups[i].Entries}
		}
	}
	return sum
}
