package text

import (
	"bufio"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/gostate/gostate/internal/advise"
	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/termsafe"
	"github.com/gostate/gostate/internal/ui"
)

// WriteAdvice writes the sizing report (--advise) as text: the table now,
// the verdict and what it rests on, the limit and buckets to set with the
// commands and files that set them, where the entries are, and what could
// not be known. Prose is wrapped between words at width (0: no limit);
// commands and file contents are never cut or wrapped, so that they can be
// copied whole. source names what was read (made safe for a terminal).
func WriteAdvice(w *bufio.Writer, r *advise.Report, source string, width int) error {
	s := &r.Stats
	p := &prose{w: w, width: width}
	w.WriteString("The table now (source " + termsafe.Sanitize(source) + ")\n")
	entries := countText(s.Entries)
	if s.Max > 0 {
		entries += " of " + countText(s.Max) + " (" + tenths(100*float64(s.Entries)/float64(s.Max)) + "% full)"
	}
	rows := [][2]string{{"entries", entries}}
	peak := countText(r.Peak)
	if r.Grown != nil {
		peak += " (the larger count of two reads " + secs(r.Watched) + " apart)"
	}
	rows = append(rows, [2]string{"peak", peak})
	if s.Buckets > 0 {
		rows = append(rows, [2]string{"buckets", countText(s.Buckets)})
	}
	if s.BytesPerEntry > 0 {
		rows = append(rows,
			[2]string{"bytes per entry", strconv.Itoa(s.BytesPerEntry) + " (" + bytesSource(s) + "; extensions not counted)"},
			[2]string{"memory in use", sizeText(s.MemoryBytes()) + " (entries x bytes per entry)"})
	}
	if s.MemTotal > 0 {
		rows = append(rows, [2]string{"RAM", sizeText(s.MemTotal)})
	}
	if s.HaveCPU {
		rows = append(rows, [2]string{"counters so far", counters(&s.CPU, "", true)})
	}
	if r.Grown != nil {
		rows = append(rows, [2]string{"while watched", counters(r.Grown, "+", false) + " in " + secs(r.Watched)})
	}
	writePairs(w, rows)

	switch {
	case !r.Decided:
		w.WriteString("\nVerdict: unknown (the limit is unknown)\n")
	case r.ChangeNeeded:
		w.WriteString("\nVerdict: change needed\n")
	default:
		w.WriteString("\nVerdict: no change needed\n")
	}
	for _, reason := range r.Reasons {
		p.item("  - ", reason)
	}
	writeSuggestion(w, p, r)
	writeStates(w, p, r)
	if len(r.Unknown) > 0 {
		w.WriteString("\nNot known\n")
		for _, u := range r.Unknown {
			p.item("  - ", u)
		}
	}
	return w.Flush()
}

// writeSuggestion writes the limit to have, and how to set it.
func writeSuggestion(w *bufio.Writer, p *prose, r *advise.Report) {
	s, g := &r.Stats, &r.Suggestion
	w.WriteString("\n")
	switch {
	case r.Decided && !r.ChangeNeeded:
		p.item("", "Keep nf_conntrack_max at "+countText(r.SuggestedMax)+".")
	case !g.Raise:
		p.item("", "Keep nf_conntrack_max at "+countText(r.SuggestedMax)+": a higher limit would let a full table pass "+
			strconv.Itoa(advise.MemoryPercent)+"% of RAM ("+countText(g.MemoryBound)+" entries). Shorten the timeouts that hold the most entries instead (below).")
	default:
		why := strconv.Itoa(advise.Factor) + " x " + base(r) + ", rounded up to two significant figures; 3 to 5 times the peak is the usual advice"
		if g.Bounded {
			why = "lowered from " + strconv.Itoa(advise.Factor) + " x " + base(r) + " so that a full table stays within " +
				strconv.Itoa(advise.MemoryPercent) + "% of RAM"
		}
		p.item("", "Set nf_conntrack_max to "+countText(r.SuggestedMax)+" ("+why+").")
		p.item("", "Set nf_conntrack_buckets to "+countText(r.SuggestedBuckets)+" (one per entry, the kernel's default ratio). "+
			"Changing the buckets of a loaded module rehashes the whole table, which stalls the lookups of every packet while it runs: do it at a quiet time, or set hashsize (below) and reboot.")
	}
	if r.MemoryAtSuggested > 0 {
		full := "A full table at " + countText(r.SuggestedMax) + " takes " + sizeText(r.MemoryAtSuggested) + " (" +
			countText(r.SuggestedMax) + " x " + strconv.Itoa(s.BytesPerEntry) + " B, and " + countText(r.SuggestedBuckets) + " buckets x " +
			strconv.Itoa(advise.BucketBytes) + " B)"
		if s.MemTotal > 0 {
			full += ", " + hundredths(100*float64(r.MemoryAtSuggested)/float64(s.MemTotal)) + "% of RAM (at most " +
				strconv.Itoa(advise.MemoryPercent) + "% is suggested)"
		}
		p.item("", full+".")
	}
	if len(r.Sysctl) == 0 {
		return
	}
	w.WriteString("\nNow (gostate changes nothing itself):\n")
	if r.Where != "" {
		p.item("  ", r.Where+".")
	}
	for _, c := range r.Sysctl {
		w.WriteString("  " + c + "\n")
	}
	w.WriteString("\nAfter a reboot too, in these files:\n")
	for _, f := range r.Persist {
		w.WriteString("  " + f.Path + "\n")
		for _, l := range strings.SplitAfter(strings.TrimSuffix(f.Content, "\n"), "\n") {
			w.WriteString("      " + strings.TrimSuffix(l, "\n") + "\n")
		}
	}
}

// base names what the factor multiplies.
func base(r *advise.Report) string {
	if r.Suggestion.Base > r.Peak {
		return "the limit of " + countText(r.Suggestion.Base) + ", which the table reached when it dropped"
	}
	return "the peak of " + countText(r.Suggestion.Base)
}

// writeStates writes where the entries are.
func writeStates(w *bufio.Writer, p *prose, r *advise.Report) {
	if r.States == nil {
		return
	}
	w.WriteString("\nWhere the entries are (" + countText(r.Rows) + " rows read)\n")
	if len(r.States) > 0 {
		cells := [][]string{{"Proto", "State", "Entries", "Share", "Timeout", "Sysctl"}}
		for _, st := range r.States {
			to := "-"
			if st.Timeout >= 0 {
				to = strconv.Itoa(st.Timeout) + " s"
			}
			cells = append(cells, []string{st.Proto, st.State, countText(st.Entries), tenths(st.Share) + "%", to, st.TimeoutSysctl})
		}
		writeGrid(w, cells, []bool{false, false, true, true, true, false}, p.width)
	}
	if r.IdleKnown {
		w.WriteString("\n")
		p.item("", "TCP ESTABLISHED idle over 1 h: "+countText(r.IdleOver1h)+" (no packet for more than "+countText(advise.IdleSeconds)+
			" s of nf_conntrack_tcp_timeout_established = "+strconv.Itoa(r.EstablishedTimeout)+" s; the kernel's default is 432000 s). "+
			"Shortening it lets idle flows go sooner; a connection silent for longer than it loses its entry.")
	}
}

// writePairs writes label-value rows, the values aligned.
func writePairs(w *bufio.Writer, rows [][2]string) {
	n := 0
	for _, r := range rows {
		n = max(n, len(r[0]))
	}
	for _, r := range rows {
		w.WriteString("  " + r[0] + strings.Repeat(" ", n-len(r[0])+2) + r[1] + "\n")
	}
}

// writeGrid writes cells as columns two spaces apart, right-aligned where
// right says, without trailing spaces. When the whole is wider than width
// (0: no limit), the last column, the least needed, is left out.
func writeGrid(w *bufio.Writer, cells [][]string, right []bool, width int) {
	widths := make([]int, len(right))
	for _, row := range cells {
		for i, c := range row {
			widths[i] = max(widths[i], ui.Width([]byte(c)))
		}
	}
	cols, total := len(widths), 0
	for _, n := range widths {
		total += 2 + n
	}
	if width > 0 && total > width {
		cols--
	}
	for _, row := range cells {
		var b []byte
		b = append(b, "  "...)
		for i, c := range row[:cols] {
			pad := strings.Repeat(" ", widths[i]-ui.Width([]byte(c)))
			if right[i] {
				b = append(b, pad+c...)
			} else {
				b = append(b, c+pad...)
			}
			b = append(b, "  "...)
		}
		w.Write(append(trimRight(b, 0), '\n'))
	}
}

// prose writes sentences wrapped between words at width (0: no limit).
type prose struct {
	w     *bufio.Writer
	width int
}

// item writes s after lead, its following lines indented as far as lead.
func (p *prose) item(lead, s string) {
	indent := strings.Repeat(" ", len(lead))
	line := []byte(lead)
	for i, word := range strings.Fields(s) {
		if i > 0 && p.width > 0 && ui.Width(line)+1+ui.Width([]byte(word)) > p.width {
			p.w.Write(append(line, '\n'))
			line = append(line[:0], indent...)
		} else if i > 0 {
			line = append(line, ' ')
		}
		line = append(line, word...)
	}
	p.w.Write(append(line, '\n'))
}

// counters writes drop, insert_failed, early_drop and, with chain,
// chaintoolong, those the source reported, each after sign.
func counters(c *flow.CPUStats, sign string, chain bool) string {
	var parts []string
	add := func(name string, bit flow.CPUCounters) {
		if c.Has&bit != 0 {
			parts = append(parts, name+" "+sign+countText(int(*c.Counter(bit))))
		}
	}
	add("drop", flow.CounterDrop)
	add("insert_failed", flow.CounterInsertFailed)
	add("early_drop", flow.CounterEarlyDrop)
	if chain {
		add("chaintoolong", flow.CounterChainTooLong)
	}
	return strings.Join(parts, "  ")
}

// bytesSource says which figure bytes_per_entry is, as --stats does.
func bytesSource(s *flow.Stats) string {
	if s.BytesPerEntryEstimated {
		return "estimate"
	}
	return "slabinfo object"
}

// countText writes n (n ≥ 0) with thousands separators: 262,144.
func countText(n int) string { return string(ui.AppendCount(nil, uint64(n))) }

// sizeText writes n bytes in B, KiB, MiB...
func sizeText(n uint64) string { return string(ui.AppendBytes(nil, n)) }

// tenths writes a percentage with one decimal.
func tenths(pct float64) string { return strconv.FormatFloat(pct, 'f', 1, 64) }

// hundredths writes a percentage with two decimals.
func hundredths(pct float64) string { return strconv.FormatFloat(pct, 'f', 2, 64) }

// secs writes d in seconds with one decimal: 1.0 s.
func secs(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
}

// WriteAdviceJSON writes the sizing report (--advise --json) as one JSON
// object; what is unknown is left out, never written as 0 (see adviceJSON).
func WriteAdviceJSON(w *bufio.Writer, r *advise.Report, source string) error {
	s := &r.Stats
	out := adviceJSON{
		Entries:          s.Entries,
		Max:              s.Max,
		Buckets:          s.Buckets,
		BytesPerEntry:    s.BytesPerEntry,
		Peak:             r.Peak,
		MemTotal:         s.MemTotal,
		MaxWritable:      tristate(s.MaxWritable),
		InitialNetNS:     tristate(s.InitialNetNS),
		Reasons:          r.Reasons,
		SuggestedMax:     r.SuggestedMax,
		Factor:           advise.Factor,
		MemoryPercent:    advise.MemoryPercent,
		MemoryBound:      r.Suggestion.MemoryBound,
		Bounded:          r.Suggestion.Bounded,
		SuggestedBuckets: r.SuggestedBuckets,
		MemoryAt:         r.MemoryAtSuggested,
		Sysctl:           append([]string{}, r.Sysctl...),
		Persist:          []fileJSON{},
		Where:            r.Where,
		Unknown:          append([]string{}, r.Unknown...),
		Source:           source,
	}
	if s.Max > 0 {
		fill := percent(s.FillPercent())
		out.Fill = &fill
	}
	if s.BytesPerEntry > 0 {
		out.BytesPerEntrySource = bytesSource(s)
		m := s.MemoryBytes()
		out.MemoryBytes = &m
	}
	if r.Decided {
		out.ChangeNeeded = &r.ChangeNeeded
	}
	if r.Grown != nil {
		ws := r.Watched.Seconds()
		out.WatchedSeconds = &ws
	}
	out.Boot = counterJSON(s.HaveCPU, &s.CPU)
	out.Grown = counterJSON(r.Grown != nil, r.Grown)
	for _, f := range r.Persist {
		out.Persist = append(out.Persist, fileJSON{f.Path, f.Content})
	}
	if r.States != nil {
		out.Rows = &r.Rows
		states := []stateJSON{}
		out.States = &states
		for _, st := range r.States {
			sj := stateJSON{Proto: st.Proto, State: st.State, Entries: st.Entries, Share: percent(st.Share), Sysctl: st.TimeoutSysctl}
			if st.Timeout >= 0 {
				sj.Timeout = &st.Timeout
			}
			states = append(states, sj)
		}
	}
	if r.IdleKnown {
		out.EstablishedTimeout = r.EstablishedTimeout
		out.Idle = &r.IdleOver1h
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&out); err != nil {
		return err
	}
	return w.Flush()
}

// counterJSON returns the drop counters of c that the source reported; nil,
// which leaves them all out, when have is false.
func counterJSON(have bool, c *flow.CPUStats) *dropsJSON {
	if !have {
		return nil
	}
	get := func(bit flow.CPUCounters) *uint64 {
		if c.Has&bit == 0 {
			return nil
		}
		v := *c.Counter(bit)
		return &v
	}
	return &dropsJSON{
		Drop: get(flow.CounterDrop), InsertFailed: get(flow.CounterInsertFailed),
		EarlyDrop: get(flow.CounterEarlyDrop), ChainTooLong: get(flow.CounterChainTooLong),
	}
}

// adviceJSON is the object WriteAdviceJSON writes, fields in this order.
// counters (the totals so far: since nf_conntrack was loaded, or the
// namespace created) and grown_while_watched hold drop, insert_failed,
// early_drop and chaintoolong, each as far as the source reported it; share is a
// percentage of the rows read, with two decimals, timeout in seconds.
type adviceJSON struct {
	Entries             int          `json:"entries"`
	Max                 int          `json:"max,omitempty"`
	Fill                *percent     `json:"fill,omitempty"`
	Buckets             int          `json:"buckets,omitempty"`
	BytesPerEntry       int          `json:"bytes_per_entry,omitempty"`
	BytesPerEntrySource string       `json:"bytes_per_entry_source,omitempty"`
	MemoryBytes         *uint64      `json:"memory_bytes,omitempty"`
	Peak                int          `json:"peak"`
	WatchedSeconds      *float64     `json:"watched_seconds,omitempty"`
	Boot                *dropsJSON   `json:"counters,omitempty"`
	Grown               *dropsJSON   `json:"grown_while_watched,omitempty"`
	MemTotal            uint64       `json:"mem_total,omitempty"`
	MaxWritable         *bool        `json:"max_writable,omitempty"`
	InitialNetNS        *bool        `json:"initial_netns,omitempty"`
	ChangeNeeded        *bool        `json:"change_needed,omitempty"`
	Reasons             []string     `json:"reasons"`
	SuggestedMax        int          `json:"suggested_max"`
	Factor              int          `json:"suggested_factor"`
	MemoryPercent       int          `json:"memory_percent_bound"`
	MemoryBound         int          `json:"memory_bound_max,omitempty"`
	Bounded             bool         `json:"bounded_by_memory"`
	SuggestedBuckets    int          `json:"suggested_buckets"`
	MemoryAt            uint64       `json:"memory_bytes_at_suggested_max,omitempty"`
	Sysctl              []string     `json:"sysctl"`
	Persist             []fileJSON   `json:"persist"`
	Where               string       `json:"where,omitempty"`
	Rows                *int         `json:"rows,omitempty"`
	States              *[]stateJSON `json:"states,omitempty"`
	EstablishedTimeout  int          `json:"established_timeout,omitempty"`
	Idle                *int         `json:"established_idle_over_1h,omitempty"`
	Unknown             []string     `json:"unknown"`
	Source              string       `json:"source"`
}

// dropsJSON are the counters that say the table refused or evicted
// connections, and chaintoolong; a nil field is a counter not reported.
type dropsJSON struct {
	Drop         *uint64 `json:"drop,omitempty"`
	InsertFailed *uint64 `json:"insert_failed,omitempty"`
	EarlyDrop    *uint64 `json:"early_drop,omitempty"`
	ChainTooLong *uint64 `json:"chaintoolong,omitempty"`
}

// fileJSON is a configuration file to write (advise.File).
type fileJSON struct {
	Path    string `json:"path"`
	Content string `json:"content"`
}

// stateJSON is one advise.State; timeout is left out when unknown.
type stateJSON struct {
	Proto   string  `json:"proto"`
	State   string  `json:"state"`
	Entries int     `json:"entries"`
	Share   percent `json:"share"`
	Timeout *int    `json:"timeout,omitempty"`
	Sysctl  string  `json:"timeout_sysctl,omitempty"`
}
