package ui

import (
	"strconv"

	"github.com/gostate/gostate/internal/flow"
)

// Level says how urgent a health figure is: the screen colours by it, the
// text ignores it.
type Level uint8

// The levels.
const (
	LevelNormal Level = iota
	LevelWarn
	LevelAlert
)

// HealthID names a health figure, for a view that places or decorates one
// (the screen draws a bar after the fill, and the counters on a line of
// their own).
type HealthID uint8

// The health figures, in the order Health returns them.
const (
	HealthEntries HealthID = iota
	HealthFill
	HealthMemory
	HealthDrop
	HealthInsertFailed
	HealthEarlyDrop
)

// HealthField is one figure of the table's health: its label ("entries"),
// its value ("190,112/262,144") and how urgent it is.
type HealthField struct {
	ID    HealthID
	Label string
	Value string
	Level Level
}

// The fill levels at which the fill is a warning and an alert. From
// FillAlertPercent on, the table is about to overflow (netdata warns at 90 %).
const (
	FillWarnPercent  = 80
	FillAlertPercent = 90
)

// FillTenths returns the entries as tenths of a percent of the limit (725 for
// 72.5 %), rounded to the nearest but never to 1000 (100.0 %) while an entry
// is still free; -1 when the limit is unknown.
func FillTenths(s *flow.Stats) int {
	if s.Max <= 0 {
		return -1
	}
	t := (2000*s.Entries + s.Max) / (2 * s.Max)
	if s.Entries < s.Max {
		t = min(t, 999)
	}
	return t
}

// Health returns the table's health as fields, the same for every view:
//
//	entries 190,112/262,144  fill 72.5%  memory 46MiB (256 B/entry)
//	drop 0  insert_failed 0  early_drop 0
//
// What the source did not report is left out: the fill without a limit,
// the memory without an entry size, the counters without per-CPU
// statistics. With delta (the counters' growth since the previous read,
// which only the live screen knows) each counter ends in "(+N)", and one
// that grew is an alert.
func Health(s *flow.Stats, delta *flow.CPUStats) []HealthField {
	fields := make([]HealthField, 0, 6)
	b := AppendCount(nil, uint64(max(s.Entries, 0)))
	if s.Max > 0 {
		b = append(b, '/')
		b = AppendCount(b, uint64(s.Max))
	}
	fields = append(fields, HealthField{ID: HealthEntries, Label: "entries", Value: string(b)})
	if t := FillTenths(s); t >= 0 {
		b = strconv.AppendInt(b[:0], int64(t/10), 10)
		b = append(b, '.', byte('0'+t%10), '%')
		level := LevelNormal
		switch {
		case t >= 10*FillAlertPercent:
			level = LevelAlert
		case t >= 10*FillWarnPercent:
			level = LevelWarn
		}
		fields = append(fields, HealthField{ID: HealthFill, Label: "fill", Value: string(b), Level: level})
	}
	if s.BytesPerEntry > 0 {
		b = b[:0]
		if s.BytesPerEntryEstimated {
			b = append(b, '~')
		}
		b = AppendBytes(b, s.MemoryBytes())
		b = append(b, " ("...)
		b = AppendCount(b, uint64(s.BytesPerEntry))
		b = append(b, " B/entry"...)
		if s.BytesPerEntryEstimated {
			b = append(b, ", estimated"...)
		}
		b = append(b, ')')
		fields = append(fields, HealthField{ID: HealthMemory, Label: "memory", Value: string(b)})
	}
	if !s.HaveCPU {
		return fields
	}
	var d flow.CPUStats
	if delta != nil {
		d = *delta
	}
	for _, c := range [...]struct {
		id      HealthID
		label   string
		n, grew uint64
	}{
		{HealthDrop, "drop", s.CPU.Drop, d.Drop},
		{HealthInsertFailed, "insert_failed", s.CPU.InsertFailed, d.InsertFailed},
		{HealthEarlyDrop, "early_drop", s.CPU.EarlyDrop, d.EarlyDrop},
	} {
		b = AppendCount(b[:0], c.n)
		level := LevelNormal
		if delta != nil {
			b = append(b, " (+"...)
			b = AppendCount(b, c.grew)
			b = append(b, ')')
			if c.grew > 0 {
				level = LevelAlert
			}
		}
		fields = append(fields, HealthField{ID: c.id, Label: c.label, Value: string(b), Level: level})
	}
	return fields
}
