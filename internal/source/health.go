package source

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gostate/gostate/internal/flow"
	"golang.org/x/sys/unix"
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

// Where count, max and buckets live: the current names first, then the
// names of kernels before nf_conntrack (2.4, early 2.6).
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
	bucketsPaths = []string{
		"sys/net/netfilter/nf_conntrack_buckets",
		"sys/net/ipv4/netfilter/ip_conntrack_buckets",
	}
)

// ReadHealth reads count, max, buckets, per-CPU stats and bytes per entry for
// the calling thread's network namespace from the /proc tree at root
// ("/proc" in production, a fixture tree in tests): count from
// net/netfilter/nf_conntrack_count, max from nf_conntrack_max, buckets from
// nf_conntrack_buckets (or the legacy ip_conntrack_* paths), per-CPU stats
// from <root>/thread-self/net/stat/nf_conntrack, bytes per entry from
// slabinfo, or a documented estimate (flag BytesPerEntryEstimated) when
// slabinfo is unreadable.
//
// Whether the max can be set there (MaxWritable) is found with access(2) on
// the file max was read from, and whether the namespace is the initial one
// (InitialNetNS) by comparing it with one known to be (see initialNetNS).
//
// Only the count is essential: without it ReadHealth returns an error, with
// what else it could read. A missing max or buckets leaves it 0 (unknown),
// missing statistics leave HaveCPU false.
func ReadHealth(root string) (flow.Stats, error) {
	var c cpuTotals
	return readHealth(root, &c)
}

// readHealth is ReadHealth adding the per-CPU statistics to cpu, so that
// their totals survive a 32-bit counter's wrap from one call to the next.
func readHealth(root string, cpu *cpuTotals) (flow.Stats, error) {
	var st flow.Stats
	err := readCountMax(root, &st)
	readCPU(root, &st, cpu)
	readProcOnly(root, &st)
	return st, err
}

// readCountMax reads the count and the max into st. Without the count it
// returns an error; a max that cannot be read is left 0 (unknown).
func readCountMax(root string, st *flow.Stats) error {
	count, _, err := readFirstInt(root, countPaths)
	if err != nil {
		return fmt.Errorf("conntrack count: %w", err)
	}
	st.Entries = count
	if max, _, err := readFirstInt(root, maxPaths); err == nil {
		st.Max = max
	}
	return nil
}

// readCPU reads the per-CPU statistics into st, adding them to cpu; when
// they cannot be read, HaveCPU stays false.
func readCPU(root string, st *flow.Stats, cpu *cpuTotals) {
	if s, err := readStat(root, cpu); err == nil {
		st.CPU, st.HaveCPU = s, true
	}
}

// readProcOnly reads into st the figures no other source gives: buckets,
// bytes per entry, whether the max can be set (MaxWritable, when st.Max is
// known), whether the namespace is the initial one and the machine's RAM.
// Each is read on its own, and what cannot be read is left unknown (bytes
// per entry: the estimate).
func readProcOnly(root string, st *flow.Stats) {
	if n, _, err := readFirstInt(root, bucketsPaths); err == nil {
		st.Buckets = n
	}
	if st.Max > 0 {
		st.MaxWritable = maxWritable(root)
	}
	st.InitialNetNS = initialNetNS(root, unix.Stat)
	if f, err := os.Open(filepath.Join(root, "meminfo")); err == nil {
		st.MemTotal, _ = ParseMemTotal(f)
		f.Close()
	}
	st.BytesPerEntry, st.BytesPerEntryEstimated = EstimatedBytesPerEntry, true
	if f, err := os.Open(filepath.Join(root, "slabinfo")); err == nil {
		size, err := ParseSlabinfo(f)
		f.Close()
		if err == nil {
			st.BytesPerEntry, st.BytesPerEntryEstimated = size, false
		}
	}
}

// maxWritable says whether the first of the max's files that exists under
// root is writable (see writable); TriUnknown when none does.
func maxWritable(root string) flow.Tristate {
	for _, p := range maxPaths {
		path := filepath.Join(root, p)
		if _, err := os.Stat(path); err == nil {
			return writable(path)
		}
	}
	return flow.TriUnknown
}

// readStat reads the per-CPU statistics into cpu, under their old name on
// kernels before nf_conntrack.
func readStat(root string, cpu *cpuTotals) (flow.CPUStats, error) {
	f, err := openNet(root, "stat/nf_conntrack")
	if errors.Is(err, os.ErrNotExist) {
		f, err = openNet(root, "stat/ip_conntrack")
	}
	if err != nil {
		return flow.CPUStats{}, err
	}
	defer f.Close()
	return cpu.parseStat(f)
}

// writable says whether path passes access(2) for writing with the
// process's effective ids and capabilities (faccessat2 with AT_EACCESS),
// which is the check a write to a sysctl would meet: the kernel computes a
// sysctl's permissions per network namespace and per caller (root, or
// CAP_NET_ADMIN over the namespace). Kernels before 5.8 have no faccessat2
// (and some seccomp filters refuse it with EPERM); there plain access(2),
// which checks the real ids, answers when they are the effective ones.
func writable(path string) flow.Tristate {
	err := unix.Faccessat2(unix.AT_FDCWD, path, unix.W_OK, unix.AT_EACCESS)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		if os.Getuid() != os.Geteuid() || os.Getgid() != os.Getegid() {
			return flow.TriUnknown
		}
		err = unix.Access(path, unix.W_OK)
	}
	switch {
	case err == nil:
		return flow.TriYes
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EROFS), errors.Is(err, unix.EPERM):
		return flow.TriNo
	}
	return flow.TriUnknown
}

// Inode numbers the kernel gives initial namespaces (include/linux/proc_ns.h).
// Namespaces made later get numbers from 0xF0000000 up (PROC_DYNAMIC_FIRST),
// so no other namespace has these on any kernel.
const (
	// pidNSInitIno is the initial PID namespace's, fixed since Linux 3.8.
	pidNSInitIno = 0xEFFFFFFC
	// netNSInitIno is the initial network namespace's on kernels that fix
	// it (6.x); older ones number it like any other.
	netNSInitIno = 0xEFFFFFF9
)

// initialNetNS says whether the calling thread's network namespace, as the
// /proc tree at root shows it, is the initial one. It stats (with stat) the
// thread's namespace file and compares it with the namespace of a process
// known to be in the initial one: kthreadd (PID 2: kernel threads never leave
// it), else init (PID 1), as far as they can be opened (another user's, or a
// more privileged process's, refuse). Those PIDs are only the host's in the
// initial PID namespace: in a container's, where they are the container's
// own, the answer is unknown, unless the kernel's fixed inode number of the
// initial network namespace says yes.
func initialNetNS(root string, stat func(string, *unix.Stat_t) error) flow.Tristate {
	var self unix.Stat_t
	if err := stat(filepath.Join(root, "thread-self/ns/net"), &self); err != nil {
		// Before Linux 4.1 there is no thread-self; self shows the
		// thread-group leader, the same namespace unless the caller
		// entered another on a thread of its own.
		if err := stat(filepath.Join(root, "self/ns/net"), &self); err != nil {
			return flow.TriUnknown
		}
	}
	if self.Ino == netNSInitIno {
		return flow.TriYes
	}
	var pidNS unix.Stat_t
	if err := stat(filepath.Join(root, "self/ns/pid"), &pidNS); err != nil || pidNS.Ino != pidNSInitIno {
		return flow.TriUnknown
	}
	for _, pid := range []string{"2", "1"} {
		var ref unix.Stat_t
		if stat(filepath.Join(root, pid, "ns/net"), &ref) != nil {
			continue
		}
		if ref.Dev == self.Dev && ref.Ino == self.Ino {
			return flow.TriYes
		}
		return flow.TriNo
	}
	return flow.TriUnknown
}
