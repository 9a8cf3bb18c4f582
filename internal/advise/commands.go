package advise

import (
	"strconv"

	"github.com/gostate/gostate/internal/flow"
)

// File is a configuration file to write: its path and whole content.
type File struct {
	Path, Content string
}

// The configuration files that keep the limit across reboots.
const (
	// SysctlFile sets the limit at boot. systemd-sysctl (or procps) applies
	// it early, and a key whose module is not loaded yet is skipped: hence
	// ModulesFile.
	SysctlFile = "/etc/sysctl.d/90-conntrack.conf"
	// ModulesFile loads nf_conntrack at boot, before sysctl.d is applied.
	ModulesFile = "/etc/modules-load.d/conntrack.conf"
	// ModprobeFile sizes the hash table when the module loads (its
	// hashsize option), before it holds an entry to rehash.
	ModprobeFile = "/etc/modprobe.d/conntrack.conf"
)

// commands returns the commands that set limit and buckets now, the
// buckets' only when they differ from the current (0: unknown), and the
// files that keep both.
func commands(limit, buckets, current int) ([]string, []File) {
	n, b := strconv.Itoa(limit), strconv.Itoa(buckets)
	cmds := []string{"sysctl -w net.netfilter.nf_conntrack_max=" + n}
	if buckets != current {
		cmds = append(cmds, "sysctl -w net.netfilter.nf_conntrack_buckets="+b)
	}
	return cmds, []File{
		{SysctlFile, "# The conntrack table's limit (gostate --advise).\nnet.netfilter.nf_conntrack_max = " + n + "\n"},
		{ModulesFile, "# Loaded at boot, so that " + SysctlFile + " finds nf_conntrack_max.\nnf_conntrack\n"},
		{ModprobeFile, "# The conntrack hash table's buckets, one per entry of the limit.\noptions nf_conntrack hashsize=" + b + "\n"},
	}
}

// where says where and by whom the limit can be set, when not from where
// the table was read: the kernel has one limit for all network namespaces,
// writable in the initial one alone, and there only by root or
// CAP_NET_ADMIN. "" when it can be, or when that could not be checked.
func where(s *flow.Stats) string {
	switch s.LimitAccess() {
	case flow.LimitWritable:
		return ""
	case flow.LimitOnHost:
		return "nf_conntrack_max and nf_conntrack_buckets are global and read-only in this namespace: the limit is set on the host (the initial network namespace)"
	case flow.LimitNeedsRoot:
		return "writing nf_conntrack_max needs root or CAP_NET_ADMIN: run these as root"
	}
	return "nf_conntrack_max is read-only here: run these as root on the host (the initial network namespace)"
}
