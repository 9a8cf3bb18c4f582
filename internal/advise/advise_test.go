package advise

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gostate/gostate/internal/flow"
)

// full is a host table 91.6 % full, watched for a second without a drop.
func full() *Input {
	return &Input{
		Stats: flow.Stats{
			Entries: 240000, Max: 262144, Buckets: 262144, BytesPerEntry: 256, HaveCPU: true,
			MaxWritable: flow.TriYes, InitialNetNS: flow.TriYes, MemTotal: 16 << 30,
			CPU: flow.CPUStats{Drop: 7, Has: flow.AllCounters},
		},
		Peak:    240000,
		Grown:   &flow.CPUStats{Has: flow.AllCounters},
		Watched: time.Second,
	}
}

func TestAdviseFull(t *testing.T) {
	r := Advise(full())
	if !r.Decided || !r.ChangeNeeded {
		t.Fatalf("91.6%% full: decided %v, change needed %v; want a change", r.Decided, r.ChangeNeeded)
	}
	// 4 × 240,000 = 960,000, already two significant figures; a bucket
	// per entry; 960,000 × (256 + 8) bytes.
	if r.SuggestedMax != 960000 || r.SuggestedBuckets != 960000 || r.MemoryAtSuggested != 960000*264 || r.Suggestion.Bounded {
		t.Errorf("suggested max %d, buckets %d, memory %d, bounded %v; want 960000, 960000, %d, false",
			r.SuggestedMax, r.SuggestedBuckets, r.MemoryAtSuggested, r.Suggestion.Bounded, 960000*264)
	}
	wantCmds := []string{
		"sysctl -w net.netfilter.nf_conntrack_max=960000",
		"sysctl -w net.netfilter.nf_conntrack_buckets=960000",
	}
	if !slices.Equal(r.Sysctl, wantCmds) || r.Where != "" {
		t.Errorf("commands %q, where %q; want %q and nothing", r.Sysctl, r.Where, wantCmds)
	}
	wantFiles := []File{
		{"/etc/sysctl.d/90-conntrack.conf", "# The conntrack table's limit (gostate --advise).\nnet.netfilter.nf_conntrack_max = 960000\n"},
		{"/etc/modules-load.d/conntrack.conf", "# Loaded at boot, so that /etc/sysctl.d/90-conntrack.conf finds nf_conntrack_max.\nnf_conntrack\n"},
		{"/etc/modprobe.d/conntrack.conf", "# The conntrack hash table's buckets, one per entry of the limit.\noptions nf_conntrack hashsize=960000\n"},
	}
	if !slices.Equal(r.Persist, wantFiles) {
		t.Errorf("persist %q\nwant %q", r.Persist, wantFiles)
	}
	wantReasons := []string{
		"the peak seen (240,000) is 91.6% of the limit (262,144): 50% or more leaves less than twice the peak",
		"no drop, insert_failed or early_drop while watched (1.0 s)",
		"the counters' totals decide nothing: counted since nf_conntrack was loaded (in another namespace, since it was created), they may date from long ago",
	}
	if !slices.Equal(r.Reasons, wantReasons) {
		t.Errorf("reasons %q\nwant %q", r.Reasons, wantReasons)
	}
	// Without rows nothing is said of the states.
	if r.States != nil || r.IdleKnown || len(r.Unknown) != 1 || !strings.Contains(r.Unknown[0], "CAP_NET_ADMIN") {
		t.Errorf("no rows: states %v, idle known %v, unknown %q", r.States, r.IdleKnown, r.Unknown)
	}
}

// TestAdviseMemoryBound: the suggestion stays within MemoryPercent of the
// RAM, and where even the current limit passes it, nothing is to be raised.
func TestAdviseMemoryBound(t *testing.T) {
	in := full()
	in.Stats.MemTotal = 2 << 30
	r := Advise(in)
	// 5 % of 2 GiB is 107,374,180 bytes: 406,720 entries of 256 + 8 bytes,
	// rounded down.
	if r.SuggestedMax != 400000 || !r.Suggestion.Bounded || r.Suggestion.MemoryBound != 400000 || r.MemoryAtSuggested != 400000*264 {
		t.Errorf("2 GiB: suggestion %+v, memory %d; want 400000, bounded", r.Suggestion, r.MemoryAtSuggested)
	}
	if r.MemoryAtSuggested > in.Stats.MemTotal*MemoryPercent/100 {
		t.Errorf("2 GiB: a full table takes %d bytes, over %d%% of RAM", r.MemoryAtSuggested, MemoryPercent)
	}

	in.Stats.MemTotal = 1 << 30 // 203,000 entries: under the limit
	r = Advise(in)
	if !r.ChangeNeeded || r.Suggestion.Raise || r.SuggestedMax != 262144 || r.Sysctl != nil || r.Persist != nil {
		t.Errorf("1 GiB: change %v, suggestion %+v, commands %q; want a change but nothing to raise", r.ChangeNeeded, r.Suggestion, r.Sysctl)
	}
}

// TestAdviseWhere: a limit that cannot be set from where the table was read
// is set on the host.
func TestAdviseWhere(t *testing.T) {
	for _, c := range []struct {
		writable, initial flow.Tristate
		want              string
	}{
		{flow.TriYes, flow.TriNo, ""},
		{flow.TriUnknown, flow.TriUnknown, ""},
		{flow.TriNo, flow.TriNo, "nf_conntrack_max and nf_conntrack_buckets are global and read-only in this namespace: the limit is set on the host (the initial network namespace)"},
		{flow.TriNo, flow.TriYes, "writing nf_conntrack_max needs root or CAP_NET_ADMIN: run these as root"},
		{flow.TriNo, flow.TriUnknown, "nf_conntrack_max is read-only here: run these as root on the host (the initial network namespace)"},
	} {
		in := full()
		in.Stats.MaxWritable, in.Stats.InitialNetNS = c.writable, c.initial
		if r := Advise(in); r.Where != c.want || len(r.Sysctl) != 2 {
			t.Errorf("writable %v, initial %v: where %q, %d commands; want %q and the commands", c.writable, c.initial, r.Where, len(r.Sysctl), c.want)
		}
	}
}

// TestAdviseVerdict: the peak against half the limit, and drops that grew
// while watched; the counters' totals alone decide nothing.
func TestAdviseVerdict(t *testing.T) {
	for _, c := range []struct {
		name           string
		entries, peak  int
		grown          *flow.CPUStats
		decided, needs bool
		max            int
	}{
		{"quiet", 1000, 1000, &flow.CPUStats{}, true, false, 262144},
		{"just under half", 131071, 131071, &flow.CPUStats{}, true, false, 262144},
		{"half at the peak", 1000, 131072, &flow.CPUStats{}, true, true, 530000},
		{"drops at a low fill", 1000, 1000, &flow.CPUStats{Drop: 1}, true, true, 1100000},
		{"insert_failed", 1000, 1000, &flow.CPUStats{InsertFailed: 2}, true, true, 1100000},
		{"early_drop", 1000, 1000, &flow.CPUStats{EarlyDrop: 3}, true, true, 1100000},
		{"other counters", 1000, 1000, &flow.CPUStats{Insert: 50, Invalid: 4}, true, false, 262144},
		{"not watched", 1000, 1000, nil, true, false, 262144},
	} {
		in := full()
		in.Stats.Entries, in.Peak, in.Grown = c.entries, c.peak, c.grown
		in.Stats.CPU.Drop = 1 << 20 // the total: no weight
		r := Advise(in)
		if r.Decided != c.decided || r.ChangeNeeded != c.needs || r.SuggestedMax != c.max || (len(r.Sysctl) > 0) != c.needs {
			t.Errorf("%s: decided %v, change %v, max %d, commands %q; want %v, %v, %d", c.name, r.Decided, r.ChangeNeeded, r.SuggestedMax, r.Sysctl, c.decided, c.needs, c.max)
		}
	}

	// A saved dump: no limit, no counters, no RAM, no size of an entry.
	r := Advise(&Input{Stats: flow.Stats{Entries: 300}, Peak: 300, RowsRead: true})
	if r.Decided || r.SuggestedMax != 1200 || r.MemoryAtSuggested != 0 || len(r.Sysctl) != 2 {
		t.Errorf("saved dump: decided %v, max %d, memory %d, commands %q; want no verdict, 1200, unknown, the commands", r.Decided, r.SuggestedMax, r.MemoryAtSuggested, r.Sysctl)
	}
	if len(r.Unknown) != 4 {
		t.Errorf("saved dump: unknown %q; want the limit, the buckets, the size of an entry, the timeouts", r.Unknown)
	}
}

func TestSuggestRounding(t *testing.T) {
	for _, c := range []struct {
		entries, limit, want int
		grew                 bool
	}{
		{0, 0, 4, false},   // never 0, the kernel's "no limit"
		{24, 0, 96, false}, // under 100: exact
		{235930, 0, 950000, false},
		{262144, 262144, 1100000, false},
		{1000, 65536, 270000, true},
		{math.MaxInt32, 0, 2100000000, false}, // the sysctl is a C int
		{math.MaxInt32 / 4, 0, 2100000000, false},
	} {
		s := flow.Stats{Entries: c.entries, Max: c.limit}
		if g := Suggest(&s, c.entries, c.grew); g.Max != c.want || !g.Raise {
			t.Errorf("Suggest(%d of %d, grew %v) = %+v, want %d", c.entries, c.limit, c.grew, g, c.want)
		}
	}
	for n, want := range map[int]int{0: 0, 99: 99, 100: 100, 101: 110, 999: 1000, 943720: 950000} {
		if got := roundUp(n); got != want {
			t.Errorf("roundUp(%d) = %d, want %d", n, got, want)
		}
	}
	for n, want := range map[int]int{99: 99, 101: 100, 406720: 400000, 1016000: 1000000} {
		if got := roundDown(n); got != want {
			t.Errorf("roundDown(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestAdviseKeep: with nothing to change, the limit and the buckets stay as
// they are, and no command is given.
func TestAdviseKeep(t *testing.T) {
	in := full()
	in.Stats.Entries, in.Peak, in.Stats.Buckets = 1000, 1000, 65536
	r := Advise(in)
	if r.ChangeNeeded || r.SuggestedMax != 262144 || r.SuggestedBuckets != 65536 || r.Sysctl != nil ||
		r.MemoryAtSuggested != 262144*256+65536*8 {
		t.Errorf("change %v, max %d, buckets %d, commands %q, memory %d; want the limit and buckets kept",
			r.ChangeNeeded, r.SuggestedMax, r.SuggestedBuckets, r.Sysctl, r.MemoryAtSuggested)
	}
}
