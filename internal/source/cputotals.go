package source

import (
	"math/bits"

	"github.com/gostate/gostate/internal/flow"
)

// numCounters is how many counters flow.CPUStats has: the bits of
// flow.AllCounters.
const numCounters = 11

// flow.AllCounters has exactly numCounters bits, the low ones, as
// cpuReading indexes by bit: with more or fewer, one of these lengths
// overflows and the package does not compile.
var (
	_ [flow.AllCounters + 1 - 1<<numCounters]struct{}
	_ [1<<numCounters - 1 - flow.AllCounters]struct{}
)

// cpuReading is one CPU's counters as the kernel keeps them, 32 bits each:
// v[i] is the counter of bit 1<<i of flow.CPUCounters, meaningful when that
// bit is in has.
type cpuReading struct {
	v   [numCounters]uint32
	has flow.CPUCounters
}

// set records the value of counter c, a single bit.
func (r *cpuReading) set(c flow.CPUCounters, v uint32) {
	r.v[bits.TrailingZeros16(uint16(c))] = v
	r.has |= c
}

// pendingCPU is one CPU's reading, waiting for the rest of its reading.
type pendingCPU struct {
	cpu int
	r   cpuReading
}

// cpuTotals turns successive readings of the kernel's per-CPU counters into
// 64-bit totals, summed over the CPUs, that do not wrap: each CPU's first
// reading of a counter adds its value (so the first totals are the kernel's
// own sums), and each later one adds its growth since, modulo 2^32. A
// counter that wrapped between two readings thus still grows, as long as it
// grew by less than 2^32 on one CPU in between; a reset of the counters (the
// module reloaded) cannot be told from a wrap and also counts as growth.
//
// A reading is begun with begin, filled a CPU at a time with cpu, and
// counts only once commit ends it: one left unfinished (a dump that failed
// half-way) changes nothing. CPUs are numbered by the source: the kernel's
// CPU number over netlink, the row in /proc/net/stat/nf_conntrack. The two
// need not agree, so each source has a cpuTotals of its own.
//
// Its slices are reused: in steady state a reading allocates nothing. A
// cpuTotals is not safe for concurrent use.
type cpuTotals struct {
	prev    []cpuReading // each CPU's last committed reading, by number; has 0 for a CPU never seen
	total   flow.CPUStats
	pending []pendingCPU
}

// begin starts a reading, dropping one left unfinished.
func (c *cpuTotals) begin() { c.pending = c.pending[:0] }

// cpu returns where CPU n's counters of the reading in progress go, empty.
func (c *cpuTotals) cpu(n int) *cpuReading {
	c.pending = append(c.pending, pendingCPU{cpu: n})
	return &c.pending[len(c.pending)-1].r
}

// commit ends the reading and returns the totals. Counters no CPU of this
// reading reported have their bit clear in Has and read 0.
func (c *cpuTotals) commit() flow.CPUStats {
	var has flow.CPUCounters
	for i := range c.pending {
		p := &c.pending[i]
		if p.cpu >= len(c.prev) {
			c.prev = append(c.prev, make([]cpuReading, p.cpu+1-len(c.prev))...)
		}
		c.add(&c.prev[p.cpu], &p.r)
		has |= p.r.has
	}
	c.pending = c.pending[:0]
	s := c.total
	for bit := flow.CPUCounters(1); bit&flow.AllCounters != 0; bit <<= 1 {
		if has&bit == 0 {
			*s.Counter(bit) = 0
		}
	}
	s.Has = has
	return s
}

// add adds one CPU's reading r to the totals and makes it that CPU's last,
// prev.
func (c *cpuTotals) add(prev, r *cpuReading) {
	for i := range numCounters {
		bit := flow.CPUCounters(1) << i
		if r.has&bit == 0 {
			continue
		}
		d := r.v[i]
		if prev.has&bit != 0 {
			d -= prev.v[i] // modulo 2^32: a wrap is growth
		}
		*c.total.Counter(bit) += uint64(d)
		prev.v[i] = r.v[i]
	}
	prev.has |= r.has
}
