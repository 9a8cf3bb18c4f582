// Package check is gostate --check: the table's health judged as a
// monitoring plugin (Nagios, Icinga, Sensu) reports it, in one line of text
// and performance data, with the plugin convention's exit statuses.
package check

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/numfmt"
)

// Status is a plugin's result, whose number is its exit status.
type Status int

// The statuses of the plugin convention.
const (
	OK Status = iota
	Warning
	Critical
	Unknown
)

var statusNames = [...]string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}

// String returns OK, WARNING, CRITICAL or UNKNOWN.
func (s Status) String() string { return statusNames[s] }

// Default thresholds, in percent of the limit: the alert rules people run
// warn before the kernel starts dropping at 100 %.
const (
	DefaultWarn = 80
	DefaultCrit = 90
)

// Thresholds are the fill, in percent of the limit, from which the table
// is WARNING and CRITICAL: 0 < Warn < Crit ≤ 100.
type Thresholds struct {
	Warn, Crit float64
}

// Validate says what is wrong with t, if anything.
func (t Thresholds) Validate() error {
	switch {
	case t.Warn <= 0 || t.Warn > 100 || t.Crit <= 0 || t.Crit > 100:
		return errors.New("thresholds are percentages of the limit, above 0 and at most 100")
	case t.Warn >= t.Crit:
		return fmt.Errorf("--warn %s must be below --crit %s", fmtFloat(t.Warn), fmtFloat(t.Crit))
	}
	return nil
}

// Counters are the kernel's counters of lost flows, as a state file keeps
// them from one check to the next.
type Counters struct {
	Drop         uint64    `json:"drop"`
	InsertFailed uint64    `json:"insert_failed"`
	EarlyDrop    uint64    `json:"early_drop"`
	At           time.Time `json:"at"`
}

// lost returns the flows lost: drop, insert_failed and early_drop together.
func (c Counters) lost() uint64 { return c.Drop + c.InsertFailed + c.EarlyDrop }

// since returns c's growth over prev, counter by counter; a counter that
// went down (the module reloaded, the machine restarted) counts from 0.
func (c Counters) since(prev Counters) Counters {
	d := func(now, then uint64) uint64 {
		if now < then {
			return now
		}
		return now - then
	}
	return Counters{Drop: d(c.Drop, prev.Drop), InsertFailed: d(c.InsertFailed, prev.InsertFailed), EarlyDrop: d(c.EarlyDrop, prev.EarlyDrop), At: c.At}
}

// CountersOf returns the lost-flow counters of st, read at at; ok is false
// when the kernel did not report all three.
func CountersOf(st *flow.Stats, at time.Time) (c Counters, ok bool) {
	need := flow.CounterDrop | flow.CounterInsertFailed | flow.CounterEarlyDrop
	if !st.HaveCPU || st.CPU.Has&need != need {
		return Counters{}, false
	}
	return Counters{Drop: st.CPU.Drop, InsertFailed: st.CPU.InsertFailed, EarlyDrop: st.CPU.EarlyDrop, At: at}, true
}

// Result is a check's outcome: its status and its one line.
type Result struct {
	Status Status
	Line   string
}

// Evaluate judges st by th: CRITICAL from th.Crit percent of the limit,
// WARNING from th.Warn, or when prev (the counters of the last check, nil
// without a state file) shows flows lost since; UNKNOWN without a limit or
// the counters. now is when st was read.
func Evaluate(st *flow.Stats, th Thresholds, prev *Counters, now time.Time) Result {
	if st.Max <= 0 {
		return Unknownf("the table's limit (nf_conntrack_max) cannot be read")
	}
	cur, ok := CountersOf(st, now)
	if !ok {
		return Unknownf("the kernel's drop, insert_failed and early_drop counters cannot be read")
	}
	fill := st.FillPercent()
	status := OK
	switch {
	case fill >= th.Crit:
		status = Critical
	case fill >= th.Warn:
		status = Warning
	}
	shown, drops := cur, fmt.Sprintf("drops %s", string(numfmt.AppendCount(nil, cur.lost())))
	if prev != nil {
		shown = cur.since(*prev)
		drops = fmt.Sprintf("drops %s since the last check", string(numfmt.AppendCount(nil, shown.lost())))
		if shown.lost() > 0 && status == OK {
			status = Warning
		}
	}
	warnAt := int(float64(st.Max) * th.Warn / 100)
	critAt := int(float64(st.Max) * th.Crit / 100)
	line := fmt.Sprintf("CONNTRACK %s - %.1f%% full (%s / %s), %s | entries=%d;%d;%d;0;%d fill=%.1f%%;%s;%s drop=%dc insert_failed=%dc early_drop=%dc",
		status, fill, numfmt.Count(st.Entries), numfmt.Count(st.Max), drops,
		st.Entries, warnAt, critAt, st.Max, fill, fmtFloat(th.Warn), fmtFloat(th.Crit),
		cur.Drop, cur.InsertFailed, cur.EarlyDrop)
	return Result{status, line}
}

// Unknownf is the UNKNOWN result of a check that could not be made.
func Unknownf(format string, args ...any) Result {
	msg := strings.Join(strings.Fields(fmt.Sprintf(format, args...)), " ")
	return Result{Unknown, "CONNTRACK UNKNOWN - " + msg}
}

// LoadState reads a state file that SaveState wrote; a file that does not
// exist yet is no error and nil (the first check).
func LoadState(path string) (*Counters, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c Counters
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: not a state file of gostate --check: %v", path, err)
	}
	return &c, nil
}

// SaveState writes c to path, replacing it whole (a temporary file renamed
// over it), so that a check interrupted half-way leaves the last state.
func SaveState(path string, c Counters) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// fmtFloat writes a threshold as given: 80, 92.5.
func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
