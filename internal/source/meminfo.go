package source

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// ParseMemTotal returns the MemTotal line of /proc/meminfo in bytes: the
// RAM the kernel manages (a container under lxcfs sees its own limit). The
// kernel prints every figure in kB (KiB: "MemTotal:       24683584 kB");
// any other unit, a number that is not positive, or no MemTotal line at all
// is an error wrapping ErrMalformed.
func ParseMemTotal(r io.Reader) (uint64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("meminfo: MemTotal %q is not a number of kB: %w", strings.TrimSpace(rest), ErrMalformed)
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil || kb == 0 || kb > math.MaxUint64/1024 {
			return 0, fmt.Errorf("meminfo: MemTotal %q is not a positive number of kB: %w", fields[0], ErrMalformed)
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("meminfo: %w", err)
	}
	return 0, fmt.Errorf("meminfo: no MemTotal line: %w", ErrMalformed)
}
