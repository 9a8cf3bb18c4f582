package ui

import (
	"strings"
	"testing"

	"github.com/gostate/gostate/internal/flow"
)

func TestFillTenths(t *testing.T) {
	for _, x := range []struct{ entries, max, want int }{
		{0, 0, -1},
		{5, 0, -1},
		{0, 100, 0},
		{1000, 4000, 250},
		{190112, 262144, 725},
		{60000, 65536, 916},
		{200000, 262144, 763},
		{99999, 100000, 999}, // 99.999 %: not yet full
		{65535, 65536, 999},
		{65536, 65536, 1000},
		{70000, 65536, 1068},
	} {
		s := flow.Stats{Entries: x.entries, Max: x.max}
		if got := FillTenths(&s); got != x.want {
			t.Errorf("FillTenths(%d/%d) = %d, want %d", x.entries, x.max, got, x.want)
		}
	}
}

func healthText(fields []HealthField) string {
	var parts []string
	for _, f := range fields {
		parts = append(parts, f.Label+" "+f.Value)
	}
	return strings.Join(parts, "  ")
}

func TestHealth(t *testing.T) {
	s := flow.Stats{Entries: 190112, Max: 262144, BytesPerEntry: 256, HaveCPU: true,
		CPU: flow.CPUStats{Drop: 1234, InsertFailed: 2, EarlyDrop: 0}}
	want := "entries 190,112/262,144  fill 72.5%  memory 46MiB (256 B/entry)  drop 1,234  insert_failed 2  early_drop 0"
	fields := Health(&s, nil)
	if got := healthText(fields); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	for i, f := range fields {
		if f.ID != HealthID(i) || f.Level != LevelNormal {
			t.Errorf("field %d: %+v", i, f)
		}
	}

	// The screen passes the counters' growth: each shows it, and one that
	// grew is an alert.
	fields = Health(&s, &flow.CPUStats{Drop: 12})
	want = "entries 190,112/262,144  fill 72.5%  memory 46MiB (256 B/entry)  drop 1,234 (+12)  insert_failed 2 (+0)  early_drop 0 (+0)"
	if got := healthText(fields); got != want {
		t.Errorf("with deltas:\n got %q\nwant %q", got, want)
	}
	if fields[HealthDrop].Level != LevelAlert || fields[HealthInsertFailed].Level != LevelNormal {
		t.Errorf("levels: %+v", fields)
	}

	// What the source did not report is left out.
	dump := flow.Stats{Entries: 15}
	if got := healthText(Health(&dump, nil)); got != "entries 15" {
		t.Errorf("saved dump: %q", got)
	}
	est := flow.Stats{Entries: 4, BytesPerEntry: 320, BytesPerEntryEstimated: true}
	if got := healthText(Health(&est, nil)); got != "entries 4  memory ~1.2KiB (320 B/entry, estimated)" {
		t.Errorf("estimated: %q", got)
	}
}

func TestHealthFillLevel(t *testing.T) {
	for entries, want := range map[int]Level{0: LevelNormal, 799: LevelNormal, 800: LevelWarn, 899: LevelWarn, 900: LevelAlert, 1000: LevelAlert} {
		s := flow.Stats{Entries: entries, Max: 1000}
		f := Health(&s, nil)[HealthFill]
		if f.ID != HealthFill || f.Level != want {
			t.Errorf("%d/1000: %+v, want level %d", entries, f, want)
		}
	}
}
