package source

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gostate/gostate/internal/flow"
)

// Errors of the /proc parsers, wrapped with %w.
var (
	// ErrMalformed means a /proc file was readable but not in the expected
	// layout.
	ErrMalformed = errors.New("unexpected format")
	// ErrNoSlab means /proc/slabinfo lists no conntrack cache (the kernel
	// merged it into a generic one).
	ErrNoSlab = errors.New("no nf_conntrack cache")
)

// EstimatedBytesPerEntry is what an entry costs when /proc/slabinfo cannot be
// read (it is root-only): the nf_conntrack object size on 64-bit Linux 5.x and
// 6.x, as slabinfo shows it on the kernels gostate was built on. Extensions
// (counters, timestamps, NAT) live in separate allocations and are not counted,
// as they are not in a slabinfo reading either.
const EstimatedBytesPerEntry = 256

// Where count and max live: the current names first, then the names of
// kernels before nf_conntrack (2.4, early 2.6).
var (
	countPaths = []string{
		"sys/net/netfilter/nf_conntrack_count",
		"sys/net/ipv4/netfilter/ip_conntrack_count",
	}
	maxPaths = []string{
		"sys/net/netfilter/nf_conntrack_max",
		"sys/net/nf_conntrack_max",
		"sys/net/ipv4/ip_conntrack_max",
		"sys/net/ipv4/netfilter/ip_conntrack_max",
	}
)

// ReadHealth reads count, max, per-CPU stats and bytes per entry for the
// calling thread's network namespace from the /proc tree at root ("/proc" in
// production, a fixture tree in tests): count from
// net/netfilter/nf_conntrack_count, max from nf_conntrack_max (or the legacy
// ip_conntrack_* paths), per-CPU stats from
// <root>/thread-self/net/stat/nf_conntrack, bytes per entry from slabinfo, or a
// documented estimate (flag BytesPerEntryEstimated) when slabinfo is
// unreadable.
//
// Only the count is essential: without it ReadHealth returns an error. A
// missing max leaves Max 0 (unknown), missing statistics leave HaveCPU false.
func ReadHealth(root string) (flow.Stats, error) {
	var st flow.Stats
	count, err := readFirstInt(root, countPaths)
	if err != nil {
		return st, fmt.Errorf("conntrack count: %w", err)
	}
	st.Entries = count
	if max, err := readFirstInt(root, maxPaths); err == nil {
		st.Max = max
	}
	if cpu, err := readStat(root); err == nil {
		st.CPU, st.HaveCPU = cpu, true
	}
	st.BytesPerEntry, st.BytesPerEntryEstimated = EstimatedBytesPerEntry, true
	if f, err := os.Open(filepath.Join(root, "slabinfo")); err == nil {
		size, err := ParseSlabinfo(f)
		f.Close()
		if err == nil {
			st.BytesPerEntry, st.BytesPerEntryEstimated = size, false
		}
	}
	return st, nil
}

// readStat reads the per-CPU statistics, under their old name on kernels
// before nf_conntrack.
func readStat(root string) (flow.CPUStats, error) {
	f, err := openNet(root, "stat/nf_conntrack")
	if errors.Is(err, os.ErrNotExist) {
		f, err = openNet(root, "stat/ip_conntrack")
	}
	if err != nil {
		return flow.CPUStats{}, err
	}
	defer f.Close()
	return ParseStat(f)
}
