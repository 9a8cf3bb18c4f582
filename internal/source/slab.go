package source

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ParseSlabinfo returns the object size of the nf_conntrack slab from
// /proc/slabinfo.
//
// The cache is "nf_conntrack" today, "nf_conntrack_<hex address>" on kernels
// that kept one cache per namespace (2.6.31 to 3.x) and "ip_conntrack" on the
// oldest; "nf_conntrack_expect" is a different cache. A kernel that merged the
// cache into a generic one lists none of these: the error then wraps
// ErrNoSlab.
func ParseSlabinfo(r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !isConntrackCache(fields[0]) {
			continue
		}
		size, err := strconv.Atoi(fields[3])
		if err != nil || size <= 0 {
			return 0, fmt.Errorf("slabinfo: %s: object size %q is not a positive number: %w", fields[0], fields[3], ErrMalformed)
		}
		return size, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("slabinfo: %w", err)
	}
	return 0, fmt.Errorf("slabinfo: %w", ErrNoSlab)
}

func isConntrackCache(name string) bool {
	if name == "nf_conntrack" || name == "ip_conntrack" {
		return true
	}
	addr, ok := strings.CutPrefix(name, "nf_conntrack_")
	if !ok || addr == "" {
		return false
	}
	for i := range len(addr) {
		if hexVal(addr[i]) < 0 {
			return false
		}
	}
	return true
}
