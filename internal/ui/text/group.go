package text

import (
	"bufio"
	"bytes"
	"encoding/json"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/group"
	"github.com/gostate/gostate/internal/termsafe"
	"github.com/gostate/gostate/internal/ui"
)

// The group table's fixed columns: a share is at most "100.0%", the bar
// ui.GroupBarCells cells between brackets.
const (
	shareWidth = len("100.0%")
	barWidth   = ui.GroupBarCells + 2
	// minKeyWidth is as narrow as a narrow terminal cuts the key column:
	// enough to tell most addresses and networks apart ("198.51.100.~").
	minKeyWidth = 12
	// maxStates is how many states a row names before "+N more".
	maxStates = 3
	groupSep  = "  "
)

// groupLayout is which of the group table's columns are shown, and how wide
// the key is.
type groupLayout struct {
	keyWidth, entriesWidth int
	ofMax, counters, bar   bool
}

// WriteGroups writes the grouped view (--group-by): the health line and the
// full-table warning as WriteText writes them, a title row, then one row
// per group of g, in g's order, at most top of them (0: as many as fit
// o.Height, defaultTop):
//
//	src           Entries   Share  of max                States
//	203.0.113.66    5,000   62.5%    1.9%  [######----]  SYN_RECV 5,000
//	3,041 groups, 8,000 flows shown (top 20 of 3,041 groups)
//
// Share is of the rows grouped (the view's), "of max" of nf_conntrack_max
// (only when the limit is known), the bar draws the share; the states are
// the group's commonest, as many of maxStates as the width allows, then
// "+N more"; with o.Counters, Bytes and Packets add up the group's
// counters. A last line counts the groups and the flows, and says when the
// rows were cut at top. o.Width limits every line (0: none); the bar, the
// counters and then the key's width give way first. With o.Color, a group
// of one protocol (a key of proto, sport or dport) is coloured as its flows
// are; o.NoHeader writes the rows alone.
func WriteGroups(w *bufio.Writer, t *flow.Table, g *group.Grouping, o *Options, top int) error {
	// The health line and the banner come first, measured in lines, so
	// that the default number of groups fills the rest of the terminal.
	var head bytes.Buffer
	if !o.NoHeader {
		hw := bufio.NewWriter(&head)
		writeSegments(hw, healthSegments(t, o), o.Width)
		writeBanner(hw, t, o.Width)
		hw.Flush()
	}
	if top <= 0 {
		top = defaultTop(o.Height, bytes.Count(head.Bytes(), []byte("\n")))
	}
	n := min(top, len(g.Groups))
	labels := make([]string, n)
	lay := groupLayout{entriesWidth: len("Entries"), ofMax: t.Stats.Max > 0, counters: o.Counters, bar: true}
	lay.keyWidth = ui.Width([]byte(g.Spec.String()))
	for i := range labels {
		labels[i] = termsafe.Sanitize(g.Label(i))
		lay.keyWidth = max(lay.keyWidth, ui.Width([]byte(labels[i])))
		lay.entriesWidth = max(lay.entriesWidth, len(ui.AppendCount(nil, uint64(g.Groups[i].Entries))))
	}
	lay.fit(o.Width, statesFloor(g, n))
	if !o.NoHeader {
		w.Write(head.Bytes())
		writeGroupTitles(w, g.Spec.String(), &lay, o.Width)
	}
	var line []byte
	for i := range n {
		gr := &g.Groups[i]
		line = line[:0]
		color := ""
		if p, ok := g.Proto(i); ok && o.Color {
			color = ansiColor[ui.ProtoColor(p)]
		}
		line = append(line, color...)
		text := len(line)
		line = appendCell(line, labels[i], lay.keyWidth, false)
		line = appendCell(line, string(ui.AppendCount(nil, uint64(gr.Entries))), lay.entriesWidth, true)
		line = appendCell(line, string(ui.AppendPercent(nil, gr.Entries, g.Rows)), shareWidth, true)
		if lay.ofMax {
			line = appendCell(line, string(ui.AppendPercent(nil, gr.Entries, t.Stats.Max)), shareWidth, true)
		}
		if lay.counters {
			line = appendCell(line, string(ui.AppendBytes(nil, gr.Bytes)), ui.BytesMaxWidth, true)
			line = appendCell(line, string(ui.AppendPackets(nil, gr.Packets)), len("Packets"), true)
		}
		if lay.bar {
			line = ui.AppendGroupBar(line, gr.Entries, g.Rows, "#", "-")
			line = append(line, groupSep...)
		}
		rest := 0
		if o.Width > 0 {
			rest = max(o.Width-ui.Width(line[text:]), 1)
		}
		line = append(line, statesText(gr.States(), rest)...)
		line = trimRight(line, text)
		if o.Width > 0 {
			line = append(line[:text], ui.CutEnd(line[text:], o.Width, cutMarker)...)
		}
		if color != "" {
			line = append(line, ansiReset...)
		}
		w.Write(append(line, '\n'))
	}
	if !o.NoHeader {
		writeGroupFooter(w, g, n, o.Width)
	}
	return w.Flush()
}

// noTerminalTop is how many groups WriteGroups shows by default without a
// terminal: the top of the list is the answer to "who fills the table".
const noTerminalTop = 20

// defaultTop is how many groups fit a terminal of height lines (0: not a
// terminal, noTerminalTop) under head lines of health and banner, with the
// title row, the last line and the shell's prompt after it; at least one.
func defaultTop(height, head int) int {
	if height <= 0 {
		return noTerminalTop
	}
	return max(height-head-3, 1)
}

// writeBanner writes the full-table warning (ui.TableWarning, on the fill
// alone) and under it who fills the table (ui.TopSource, over every row);
// nothing when the table is healthy.
func writeBanner(w *bufio.Writer, t *flow.Table, width int) {
	msg, fix := ui.TableWarning(&t.Stats, t.Stats.Entries, nil)
	if msg == "" {
		return
	}
	writeWarning(w, msg, fix, width)
	idx := make([]int32, len(t.Flows))
	for i := range idx {
		idx[i] = int32(i)
	}
	var g group.Grouping
	switch who := ui.TopSource(t, idx, &g); {
	case who == "":
	case width > 0:
		writeWrapped(w, who, width)
	default:
		w.WriteString(who + "\n")
	}
}

// fit makes the row fit width (0: no limit): without the bar first, then
// without the counters, then with the key cut, down to minKeyWidth, until
// statesFloor is left for the states; what is still too wide is cut at the
// line's end. The states take what is left.
func (l *groupLayout) fit(width, statesFloor int) {
	if width <= 0 {
		return
	}
	if l.fixed()+statesFloor > width {
		l.bar = false
	}
	if l.fixed()+statesFloor > width {
		l.counters = false
	}
	if over := l.fixed() + statesFloor - width; over > 0 {
		l.keyWidth = max(min(l.keyWidth, minKeyWidth), l.keyWidth-over)
	}
}

// statesFloor is the narrowest states cell worth its place: the widest
// commonest state of the first n groups with its count, at most
// "ESTABLISHED 1,000".
func statesFloor(g *group.Grouping, n int) int {
	floor := 0
	for i := range n {
		if st := g.Groups[i].States(); len(st) > 0 {
			floor = max(floor, len(st[0].Name)+1+len(ui.AppendCount(nil, uint64(st[0].N))))
		}
	}
	return min(floor, len("ESTABLISHED 1,000"))
}

// fixed is the width of a row before its states, separators included.
func (l *groupLayout) fixed() int {
	n := l.keyWidth + l.entriesWidth + shareWidth + 3*len(groupSep)
	if l.ofMax {
		n += shareWidth + len(groupSep)
	}
	if l.counters {
		n += ui.BytesMaxWidth + len("Packets") + 2*len(groupSep)
	}
	if l.bar {
		n += barWidth + len(groupSep)
	}
	return n
}

// appendCell appends s padded to width (cut to it when wider), then the
// separator.
func appendCell(b []byte, s string, width int, right bool) []byte {
	cell := []byte(s)
	if ui.Width(cell) > width {
		cell = ui.CutEnd(cell, width, cutMarker)
	}
	pad := width - ui.Width(cell)
	if right {
		b = appendSpaces(b, pad)
	}
	b = append(b, cell...)
	if !right {
		b = appendSpaces(b, pad)
	}
	return append(b, groupSep...)
}

// statesText names a group's commonest states with their counts, two spaces
// apart: at most maxStates, fewer when width (0: no limit) is short, then
// "+N more" for the rest; when only one fits, without "+N more"; cut at its
// end when even that one does not fit.
func statesText(states []group.StateCount, width int) string {
	var b []byte
	for k := min(len(states), maxStates); k >= 1; k-- {
		b = b[:0]
		for i, s := range states[:k] {
			if i > 0 {
				b = append(b, groupSep...)
			}
			b = append(b, s.Name...)
			b = append(b, ' ')
			b = ui.AppendCount(b, uint64(s.N))
		}
		first := len(b)
		if more := len(states) - k; more > 0 {
			b = append(b, groupSep+"+"...)
			b = ui.AppendCount(b, uint64(more))
			b = append(b, " more"...)
		}
		switch {
		case width <= 0 || ui.Width(b) <= width:
			return string(b)
		case k == 1:
			return string(ui.CutEnd(b[:first], width, cutMarker))
		}
	}
	return ""
}

// writeGroupTitles writes the title row: the spec names the key column.
func writeGroupTitles(w *bufio.Writer, spec string, lay *groupLayout, width int) {
	b := appendCell(nil, spec, lay.keyWidth, false)
	b = appendCell(b, "Entries", lay.entriesWidth, true)
	b = appendCell(b, "Share", shareWidth, true)
	if lay.ofMax {
		b = appendCell(b, "of max", shareWidth, true)
	}
	if lay.counters {
		b = appendCell(b, "Bytes", ui.BytesMaxWidth, true)
		b = appendCell(b, "Packets", len("Packets"), true)
	}
	if lay.bar {
		b = appendSpaces(b, barWidth+len(groupSep))
	}
	b = append(b, "States"...)
	if width > 0 {
		b = ui.CutEnd(b, width, cutMarker)
	}
	w.Write(append(trimRight(b, 0), '\n'))
}

// writeGroupFooter counts the groups and the rows grouped:
//
//	312 groups, 8,012 flows shown (top 20 of 312 groups)
func writeGroupFooter(w *bufio.Writer, g *group.Grouping, shown, width int) {
	b := ui.AppendCount(nil, uint64(len(g.Groups)))
	b = append(b, plural(len(g.Groups), " group", " groups")...)
	b = append(b, ", "...)
	b = ui.AppendCount(b, uint64(g.Rows))
	b = append(b, plural(g.Rows, " flow shown", " flows shown")...)
	if shown < len(g.Groups) {
		b = append(b, " (top "...)
		b = ui.AppendCount(b, uint64(shown))
		b = append(b, " of "...)
		b = ui.AppendCount(b, uint64(len(g.Groups)))
		b = append(b, " groups)"...)
	}
	writeSegments(w, []string{string(b)}, width)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// WriteGroupsJSON writes one JSON object per group of g, in g's order, at
// most top of them (0: all), one per line. Fields, in this order:
//
//	group key entries share of_max states bytes packets
//
// group is the spec ("src/24"), key the group's label ("192.0.2.0/24",
// "tcp/443", "ESTABLISHED"), share the percentage of the rows grouped and
// of_max that of nf_conntrack_max (left out when the limit is unknown),
// both with two decimals; states maps each display state to its count,
// commonest first; bytes and packets, the group's counters added up, only
// with counters (-C).
func WriteGroupsJSON(w *bufio.Writer, t *flow.Table, g *group.Grouping, counters bool, top int) error {
	spec, _ := json.Marshal(g.Spec.String())
	var b []byte
	n := len(g.Groups)
	if top > 0 {
		n = min(top, n)
	}
	for i := range n {
		gr := &g.Groups[i]
		key, _ := json.Marshal(g.Label(i))
		b = append(b[:0], `{"group":`...)
		b = append(b, spec...)
		b = append(b, `,"key":`...)
		b = append(b, key...)
		b = appendUintField(b, "entries", uint64(gr.Entries))
		b = appendPercentField(b, "share", gr.Entries, g.Rows)
		if t.Stats.Max > 0 {
			b = appendPercentField(b, "of_max", gr.Entries, t.Stats.Max)
		}
		b = append(b, `,"states":{`...)
		for k, s := range gr.States() {
			if k > 0 {
				b = append(b, ',')
			}
			name, _ := json.Marshal(s.Name)
			b = append(b, name...)
			b = append(b, ':')
			b = ui.AppendUint(b, uint64(s.N))
		}
		b = append(b, '}')
		if counters {
			b = appendUintField(b, "bytes", gr.Bytes)
			b = appendUintField(b, "packets", gr.Packets)
		}
		b = append(b, '}', '\n')
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return w.Flush()
}

// appendPercentField appends n as a percentage of total with two decimals,
// as --stats writes its fill.
func appendPercentField(b []byte, name string, n, total int) []byte {
	p, _ := percent(100 * float64(n) / float64(max(total, 1))).MarshalJSON()
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return append(b, p...)
}
