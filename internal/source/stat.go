package source

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/gostate/gostate/internal/flow"
)

// ParseStat reads /proc/net/stat/nf_conntrack (hex, one row per CPU, columns
// named by the header line, old and new column names) and sums the CPUs. A
// counter whose column the header lacks has its bit clear in Has.
//
// The columns are found by name because kernels renamed and reused them:
// 5.x turned "searched" into "clashres" and "delete_list" into "chainlength"
// (which counts chains found too long). Columns gostate does not show
// (entries, new, delete, expect_*) are read and ignored. Every value is the
// kernel's 32-bit counter: a wider one is malformed.
func ParseStat(r io.Reader) (flow.CPUStats, error) {
	var c cpuTotals
	return c.parseStat(r)
}

// statColumns are the columns of /proc/net/stat/nf_conntrack that gostate
// reads, by the name the header gives them.
var statColumns = map[string]flow.CPUCounters{
	"found":          flow.CounterFound,
	"invalid":        flow.CounterInvalid,
	"ignore":         flow.CounterIgnore,
	"insert":         flow.CounterInsert,
	"insert_failed":  flow.CounterInsertFailed,
	"drop":           flow.CounterDrop,
	"early_drop":     flow.CounterEarlyDrop,
	"icmp_error":     flow.CounterError,
	"search_restart": flow.CounterSearchRestart,
	"clashres":       flow.CounterClashResolve,
	"chainlength":    flow.CounterChainTooLong,
}

// parseStat is ParseStat adding the reading to c, each row a CPU (the file
// lists the possible CPUs in order, the same ones every time): the totals
// grow across readings even when a CPU's 32-bit counter wraps. A file that
// cannot be parsed changes nothing.
func (c *cpuTotals) parseStat(r io.Reader) (flow.CPUStats, error) {
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return flow.CPUStats{}, fmt.Errorf("conntrack stat: %w", err)
		}
		return flow.CPUStats{}, fmt.Errorf("conntrack stat: empty: %w", ErrMalformed)
	}
	header := strings.Fields(sc.Text())
	if len(header) == 0 || header[0] != "entries" {
		return flow.CPUStats{}, fmt.Errorf("conntrack stat: header does not start with \"entries\": %w", ErrMalformed)
	}
	col := make([]flow.CPUCounters, len(header))
	for i, name := range header {
		col[i] = statColumns[name]
	}
	c.begin()
	cpus := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != len(header) {
			return flow.CPUStats{}, fmt.Errorf("conntrack stat: CPU row %d has %d columns, header has %d: %w",
				cpus, len(fields), len(header), ErrMalformed)
		}
		cpu := c.cpu(cpus)
		for i, field := range fields {
			n, err := strconv.ParseUint(field, 16, 32)
			if err != nil {
				return flow.CPUStats{}, fmt.Errorf("conntrack stat: CPU row %d, column %s: %q is not a 32-bit hex number: %w",
					cpus, header[i], field, ErrMalformed)
			}
			if col[i] != 0 {
				cpu.set(col[i], uint32(n))
			}
		}
		cpus++
	}
	if err := sc.Err(); err != nil {
		return flow.CPUStats{}, fmt.Errorf("conntrack stat: %w", err)
	}
	if cpus == 0 {
		return flow.CPUStats{}, fmt.Errorf("conntrack stat: no CPU rows: %w", ErrMalformed)
	}
	return c.commit(), nil
}
