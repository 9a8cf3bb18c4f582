// Package advise sizes the connection-tracking table: from its health, the
// peak seen, the counters' growth while watched, the machine's RAM and the
// rows, it says whether nf_conntrack_max needs changing, to what, and the
// commands and configuration files that would do it. It reads nothing and
// changes nothing (gostate never changes a kernel setting); its arithmetic
// is the one rule behind every figure gostate suggests, the full-table
// banner's (ui.TableWarning) included.
package advise

import (
	"math"

	"github.com/gostate/gostate/internal/flow"
)

// The sizing rule's constants.
const (
	// ChangePercent is the peak, as a percentage of the limit, from which
	// a change is needed: below it the limit is at least twice the most
	// ever seen, headroom enough for a burst to double the table.
	ChangePercent = 50
	// Factor is how many times the peak the suggested limit holds: common
	// sizing advice gives 3 to 5 times the usual peak, and 4 keeps the
	// suggestion inside that range after rounding up (at most 10 % more).
	Factor = 4
	// MemoryPercent is the share of the machine's RAM a full table may
	// take at the suggested limit: conntrack entries are kernel memory,
	// never swapped out, and a table that could take more would starve
	// the rest of the machine before it overflowed.
	MemoryPercent = 5
	// BucketBytes is what one bucket of the kernel's hash table costs: a
	// list head, one pointer on 64-bit kernels.
	BucketBytes = 8
	// maxLimit is the largest value nf_conntrack_max takes: the sysctl is
	// a C int.
	maxLimit = math.MaxInt32
)

// Suggestion is the limit the rule gives a table.
type Suggestion struct {
	// Max is the nf_conntrack_max the rule gives: Factor times Base,
	// rounded up to two significant figures, or MemoryBound when that is
	// lower; never below the current limit (see Raise).
	Max int
	// Raise is true when Max is above the current limit, or the limit is
	// unknown: setting Max raises it. False when the memory bound leaves
	// no room above the limit: Max is then the current limit.
	Raise bool
	// Base is what Factor multiplies: the peak (at least 1), or the limit
	// when drop, insert_failed or early_drop grew, since a table that drops
	// reached its limit at some instant between two reads, which a peak
	// sampled at those reads may miss.
	Base int
	// MemoryBound is the largest limit whose full table (entries and
	// buckets, one bucket per entry) takes at most MemoryPercent of the
	// RAM, rounded down to two significant figures; 0 when the RAM or the
	// size of an entry is unknown, and then nothing bounds Max but the
	// sysctl's range.
	MemoryBound int
	// Bounded is true when MemoryBound lowered Max.
	Bounded bool
}

// Suggest applies the sizing rule to a table whose health is s (its limit,
// size of an entry and RAM), whose peak is the most entries seen, and whose
// drop, insert_failed or early_drop counters grew while watched when grew
// is true.
func Suggest(s *flow.Stats, peak int, grew bool) Suggestion {
	g := Suggestion{Base: max(peak, s.Entries, 1)}
	if grew {
		g.Base = max(g.Base, s.Max)
	}
	want := maxLimit
	if g.Base <= maxLimit/Factor {
		want = min(roundUp(Factor*g.Base), maxLimit)
	}
	if want == maxLimit {
		want = roundDown(maxLimit)
	}
	if s.MemTotal > 0 && s.BytesPerEntry > 0 {
		n := s.MemTotal / 100 * MemoryPercent / uint64(s.BytesPerEntry+BucketBytes)
		// At least one entry, so that a bound is never 0, its unknown
		// value (and never the kernel's 0, no limit at all).
		g.MemoryBound = roundDown(int(min(max(n, 1), maxLimit)))
		if want > g.MemoryBound {
			want, g.Bounded = g.MemoryBound, true
		}
	}
	g.Max, g.Raise = want, true
	if s.Max > 0 && want <= s.Max {
		g.Max, g.Raise = s.Max, false
	}
	return g
}

// FullTableBytes is the kernel memory of a full table of limit entries of
// bytesPerEntry bytes and buckets hash buckets; 0 when bytesPerEntry is
// unknown (0).
func FullTableBytes(limit, bytesPerEntry, buckets int) uint64 {
	if bytesPerEntry <= 0 {
		return 0
	}
	return uint64(limit)*uint64(bytesPerEntry) + uint64(buckets)*BucketBytes
}

// roundUp returns the smallest number of two significant figures at least
// n (n ≥ 0): 943,720 → 950,000; numbers under 100 stay as they are.
func roundUp(n int) int {
	p := step(n)
	return (n + p - 1) / p * p
}

// roundDown returns the largest number of two significant figures at most
// n (n ≥ 0): 1,016,000 → 1,000,000.
func roundDown(n int) int {
	p := step(n)
	return n / p * p
}

// step is the place of n's second significant figure: 1 under 100, 10,000
// for 943,720.
func step(n int) int {
	p := 1
	for n/p >= 100 {
		p *= 10
	}
	return p
}
