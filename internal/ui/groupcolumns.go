package ui

import "github.com/gostate/gostate/internal/group"

// GroupColumn is a column of a group view (who fills the table): one row a
// group of flows. The live screen's group view and the one-shot --group-by
// text (internal/ui/text) show the same columns in the same order, written
// by the same rules.
type GroupColumn uint8

// The group view's columns, in display order.
const (
	GroupKey     GroupColumn = iota // the group's key: "192.0.2.0/24", "tcp/443"
	GroupEntries                    // its flows
	GroupShare                      // of the flows grouped
	GroupOfMax                      // of nf_conntrack_max, when known
	GroupBytes                      // both directions, the flows with counters
	GroupPackets
	GroupBar    // the share as a bar
	GroupStates // its display states, most flows first
	NumGroupColumns
)

var groupTitles = [NumGroupColumns]string{"", "Entries", "Share", "of max", "Bytes", "Packets", "", "States"}

// Title is the column's title; the key's is the grouping's spec
// ("src/24"), which the view knows.
func (c GroupColumn) Title() string { return groupTitles[c] }

// RightAligned reports whether the column's figures are right-aligned.
func (c GroupColumn) RightAligned() bool {
	switch c {
	case GroupEntries, GroupShare, GroupOfMax, GroupBytes, GroupPackets:
		return true
	}
	return false
}

// GroupBarCells is the width of a group's bar, between its brackets.
const GroupBarCells = 10

// WantedGroupColumns returns the columns a group view shows: of max when
// the limit is known (max > 0), bytes and packets with counters.
func WantedGroupColumns(counters bool, max int) []GroupColumn {
	cols := []GroupColumn{GroupKey, GroupEntries, GroupShare}
	if max > 0 {
		cols = append(cols, GroupOfMax)
	}
	if counters {
		cols = append(cols, GroupBytes, GroupPackets)
	}
	return append(cols, GroupBar, GroupStates)
}

// GroupCells formats a group's cells as every view writes them.
type GroupCells struct {
	// Rows is the number of flows grouped (the shares' whole), Max the
	// table's limit (0 when unknown).
	Rows, Max int
}

// maxStates is how many of a group's states the States column names
// before "+N more".
const maxStates = 3

// Append appends the text of column col of group g, whose key reads label.
func (c *GroupCells) Append(b []byte, col GroupColumn, g *group.Group, label string) []byte {
	switch col {
	case GroupKey:
		return append(b, label...)
	case GroupEntries:
		return AppendCount(b, uint64(g.Entries))
	case GroupShare:
		return AppendPercent(b, g.Entries, c.Rows)
	case GroupOfMax:
		return AppendPercent(b, g.Entries, c.Max)
	case GroupBar:
		return AppendGroupBar(b, g.Entries, c.Rows, "█", "░")
	case GroupStates:
		states := g.States()
		for i, s := range states[:min(len(states), maxStates)] {
			if i > 0 {
				b = append(b, "  "...)
			}
			b = AppendCount(append(append(b, s.Name...), ' '), uint64(s.N))
		}
		if more := len(states) - maxStates; more > 0 {
			b = AppendCount(append(b, "  +"...), uint64(more))
			b = append(b, " more"...)
		}
		return b
	case GroupBytes, GroupPackets:
		if col == GroupBytes {
			return AppendBytes(b, g.Bytes)
		}
		return AppendPackets(b, g.Packets)
	}
	return b
}

// AppendGroupBar draws n's share of total as GroupBarCells cells between
// brackets, full and empty as given: the screen's block characters, the
// one-shot text's ASCII ('#', '-').
func AppendGroupBar(b []byte, n, total int, full, empty string) []byte {
	filled := 0
	if total > 0 {
		filled = min((2*n*GroupBarCells+total)/(2*total), GroupBarCells)
	}
	b = append(b, '[')
	for i := range GroupBarCells {
		if i < filled {
			b = append(b, full...)
		} else {
			b = append(b, empty...)
		}
	}
	return append(b, ']')
}

// AppendPercent appends n of whole as a percentage to the nearest tenth,
// never 100.0% while part is missing: "62.5%", "0.0%"; "-" when whole is
// not positive.
func AppendPercent(b []byte, n, whole int) []byte {
	if whole <= 0 {
		return append(b, '-')
	}
	t := (2000*n + whole) / (2 * whole)
	if n < whole {
		t = min(t, 999)
	}
	b = AppendUint(b, uint64(t/10))
	return append(b, '.', byte('0'+t%10), '%')
}
