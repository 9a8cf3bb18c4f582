package source

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/gostate/gostate/internal/flow"
)

// Where the per-protocol timeouts live, and the prefix of their names: the
// current directory first, then that of kernels before nf_conntrack.
var timeoutDirs = []struct{ dir, prefix string }{
	{"sys/net/netfilter", "nf_conntrack_"},
	{"sys/net/ipv4/netfilter", "ip_conntrack_"},
}

// ReadTimeouts reads every <root>/sys/net/netfilter/nf_conntrack_*timeout*
// (names trimmed as in flow.Timeout), sorted by name.
//
// nf_conntrack_frag6_timeout is left out: it bounds IPv6 fragment reassembly,
// not how long a connection is tracked. Kernels before nf_conntrack are read
// from sys/net/ipv4/netfilter/ip_conntrack_*timeout* instead.
func ReadTimeouts(root string) ([]flow.Timeout, error) {
	for _, d := range timeoutDirs {
		paths, err := filepath.Glob(filepath.Join(root, d.dir, d.prefix+"*timeout*"))
		if err != nil {
			return nil, err
		}
		var out []flow.Timeout
		for _, p := range paths {
			name := strings.TrimPrefix(filepath.Base(p), d.prefix)
			if name == "frag6_timeout" {
				continue
			}
			secs, err := readInt(p)
			if err != nil {
				return nil, err
			}
			// tcp_timeout_established → tcp_established, udp_timeout → udp.
			name = strings.Replace(name, "_timeout", "", 1)
			out = append(out, flow.Timeout{Name: name, Seconds: secs})
		}
		if len(out) > 0 {
			sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
			return out, nil
		}
	}
	return nil, nil
}

// readFirstInt reads the first of paths (relative to root) that exists, and
// returns the number and the file it was read from.
func readFirstInt(root string, paths []string) (int, string, error) {
	var first error
	for _, p := range paths {
		path := filepath.Join(root, p)
		n, err := readInt(path)
		if err == nil {
			return n, path, nil
		}
		if first == nil || !errors.Is(err, os.ErrNotExist) && errors.Is(first, os.ErrNotExist) {
			// Report why the most relevant file failed: a permission
			// error says more than the absence of a legacy name.
			first = err
		}
	}
	return 0, "", first
}

// readInt reads a sysctl file holding one decimal number.
func readInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a number: %w", path, strings.TrimSpace(string(b)), ErrMalformed)
	}
	return n, nil
}
