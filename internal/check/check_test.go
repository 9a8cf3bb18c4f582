package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gostate/gostate/internal/flow"
)

// stats returns health figures with entries of max and the lost-flow
// counters.
func stats(entries, max int, drop, insertFailed, earlyDrop uint64) *flow.Stats {
	return &flow.Stats{
		Entries: entries, Max: max, HaveCPU: true,
		CPU: flow.CPUStats{
			Drop: drop, InsertFailed: insertFailed, EarlyDrop: earlyDrop,
			Has: flow.CounterDrop | flow.CounterInsertFailed | flow.CounterEarlyDrop | flow.CounterInsert,
		},
	}
}

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func TestEvaluate(t *testing.T) {
	th := Thresholds{DefaultWarn, DefaultCrit}
	for _, tc := range []struct {
		name   string
		st     *flow.Stats
		th     Thresholds
		prev   *Counters
		status Status
		line   string
	}{
		{"ok", stats(20000, 262144, 0, 0, 0), th, nil, OK,
			"CONNTRACK OK - 7.6% full (20,000 / 262,144), drops 0 | entries=20000;209715;235929;0;262144 fill=7.6%;80;90 drop=0c insert_failed=0c early_drop=0c"},
		{"warning at the threshold", stats(209716, 262144, 0, 0, 0), th, nil, Warning,
			"CONNTRACK WARNING - 80.0% full (209,716 / 262,144), drops 0 | entries=209716;209715;235929;0;262144 fill=80.0%;80;90 drop=0c insert_failed=0c early_drop=0c"},
		{"critical", stats(262144, 262144, 5, 1, 1000), th, nil, Critical,
			"CONNTRACK CRITICAL - 100.0% full (262,144 / 262,144), drops 1,006 | entries=262144;209715;235929;0;262144 fill=100.0%;80;90 drop=5c insert_failed=1c early_drop=1000c"},
		{"drops since the last check", stats(100, 1000, 7, 2, 3), Thresholds{50, 92.5}, &Counters{Drop: 7, InsertFailed: 1, EarlyDrop: 3}, Warning,
			"CONNTRACK WARNING - 10.0% full (100 / 1,000), drops 1 since the last check | entries=100;500;925;0;1000 fill=10.0%;50;92.5 drop=7c insert_failed=2c early_drop=3c"},
		{"none since the last check", stats(100, 1000, 7, 2, 3), th, &Counters{Drop: 7, InsertFailed: 2, EarlyDrop: 3}, OK,
			"CONNTRACK OK - 10.0% full (100 / 1,000), drops 0 since the last check | entries=100;800;900;0;1000 fill=10.0%;80;90 drop=7c insert_failed=2c early_drop=3c"},
		{"counters reset", stats(100, 1000, 2, 0, 0), th, &Counters{Drop: 7}, Warning,
			"CONNTRACK WARNING - 10.0% full (100 / 1,000), drops 2 since the last check | entries=100;800;900;0;1000 fill=10.0%;80;90 drop=2c insert_failed=0c early_drop=0c"},
		{"no limit", stats(100, 0, 0, 0, 0), th, nil, Unknown,
			"CONNTRACK UNKNOWN - the table's limit (nf_conntrack_max) cannot be read"},
		{"no counters", &flow.Stats{Entries: 1, Max: 10}, th, nil, Unknown,
			"CONNTRACK UNKNOWN - the kernel's drop, insert_failed and early_drop counters cannot be read"},
	} {
		r := Evaluate(tc.st, tc.th, tc.prev, now)
		if r.Status != tc.status || r.Line != tc.line {
			t.Errorf("%s:\n got %v %q\nwant %v %q", tc.name, r.Status, r.Line, tc.status, tc.line)
		}
	}
}

func TestThresholds(t *testing.T) {
	for _, th := range []Thresholds{{80, 90}, {0.5, 100}, {99, 99.5}} {
		if err := th.Validate(); err != nil {
			t.Errorf("%v: %v", th, err)
		}
	}
	for _, th := range []Thresholds{{90, 80}, {80, 80}, {0, 90}, {80, 101}, {-1, 50}} {
		if th.Validate() == nil {
			t.Errorf("%v accepted", th)
		}
	}
}

func TestState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	if c, err := LoadState(path); c != nil || err != nil {
		t.Fatalf("no state file: %v, %v; want nil, nil", c, err)
	}
	want := Counters{Drop: 1, InsertFailed: 2, EarlyDrop: 3, At: now}
	if err := SaveState(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(path)
	if err != nil || got == nil || *got != want {
		t.Fatalf("LoadState = %v, %v; want %v", got, err, want)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("%d files beside the state, want none", len(entries)-1)
	}
	if err := os.WriteFile(path, []byte("nonsense"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(path); err == nil || !strings.Contains(err.Error(), "not a state file") {
		t.Errorf("a file of nonsense: %v", err)
	}
}
