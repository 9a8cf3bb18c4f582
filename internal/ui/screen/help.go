package screen

import (
	"strconv"
	"strings"

	"github.com/gostate/gostate/internal/monitor"
	"github.com/gostate/gostate/internal/termsafe"
)

// KeyHelp is one entry of the live screen's key list: keys, and what they
// do, one line each (a second line continues the first).
type KeyHelp struct {
	Keys string
	What []string
}

// Keys lists every key of the live screen: its help screen and gostate
// --help both show this list.
func Keys() []KeyHelp {
	return []KeyHelp{
		{"q, Ctrl-C", []string{"quit"}},
		{"h, ?", []string{"this help (q, h, ? or Esc closes it)"}},
		{"A", []string{"the sizing advisor: is the table full, what to set (gostate --advise,",
			"  on the peak and the counters' growth since the screen started)"}},
		{"b / B", []string{"next / previous sort column"}},
		{"o LETTER", []string{"sort by the -b letter (every ordering in two keys):", "  " + sortLetters()}},
		{"r", []string{"reverse the order"}},
		{"s / d", []string{"source / destination filter: ADDR or ADDR/PREFIX (empty clears)"}},
		{"S / D", []string{"source / destination port filter: 1-65535 (empty clears)",
			"in a prompt: Enter applies, Esc or Ctrl-G cancels, Ctrl-U erases"}},
		{"H", []string{"host filter: ADDR or ADDR/PREFIX at either end, before or after NAT"}},
		{"m / z", []string{"mark filter VALUE[/MASK] / zone filter N (empty clears)"}},
		{"i", []string{"invert the address, host and port filters"}},
		{"f", []string{"hide / show loopback flows (127.0.0.0/8, ::1)"}},
		{"L", []string{"hide / show DNS flows (port 53)"}},
		{"l", []string{"host names instead of addresses (also hides DNS flows)"}},
		{"C", []string{"bytes, packets and rate (bytes/s, both directions) columns"}},
		{"t", []string{"per-state totals line"}},
		{"c", []string{"colours on / off (tcp green, udp yellow, icmp red)"}},
		{"R", []string{"refresh interval in seconds (" + intervalLimits() + ")"}},
		{"Space", []string{"refresh now"}},
		{"Ctrl-L", []string{"redraw the terminal"}},
		{"Ctrl-Z", []string{"suspend to the shell (fg resumes)"}},
		{"F", []string{"follow the selected flow into a new order (default: a new order",
			"starts at its top, as in top)"}},
		{"x", []string{"delete the selected flow from the kernel's table (asks y/n)"}},
		{"Tab", []string{"group view: who fills the table, the flows counted by a key",
			"(biggest first; b / B: by key, r reverses), or back to the flows"}},
		{"a KEY", []string{"group by KEY, as --group-by: src dst src/N dst/N src/N/M sport dport",
			"proto state mark zone nat, or two joined by a comma (src,dport)"}},
		{"Enter", []string{"in the group view: the selected group's flows (a network's:",
			"its addresses' groups first); the header names the groups entered"}},
		{"Esc", []string{"back one level, to the group entered, selected"}},
		{"x (groups)", []string{"in the group view: delete the group's flows one by one",
			"(asks, with their count)"}},
		{"Up/Down, k/j", []string{"move one row"}},
		{"PgUp/PgDn", []string{"one page (also Ctrl-B/Ctrl-F)"}},
		{"Ctrl-U/Ctrl-D", []string{"half a page"}},
		{"Home/End, g/G", []string{"first / last row"}},
		{"mouse", []string{"wheel moves, a click selects a row; a click on a column's",
			"title sorts by it (again: reverses)"}},
	}
}

// KeyList writes Keys as the help screen shows them: each key indented by
// indent, what it does aligned after it.
func KeyList(indent string) string {
	const keyWidth = 16
	var b strings.Builder
	for _, k := range Keys() {
		for i, what := range k.What {
			keys := ""
			if i == 0 {
				keys = k.Keys
			}
			b.WriteString(indent + keys + strings.Repeat(" ", max(keyWidth-len(keys), 1)) + what + "\n")
		}
	}
	return b.String()
}

// intervalLimits says which intervals R accepts, as -R does.
func intervalLimits() string {
	return "fractions allowed, " + fmtDuration(monitor.MinInterval) + " to " + fmtDuration(monitor.MaxInterval)
}

// helpText is the help screen: keys, the current settings, the kernel's
// timeouts, and what the health figures mean.
func (u *model) helpText() string {
	var b strings.Builder
	b.WriteString("Keys\n" + KeyList("  ") + "\n")

	o := &u.f.Options
	b.WriteString("Current settings\n")
	dir := "ascending"
	if !o.Sort.Ascending(o.Reverse) {
		dir = "descending"
	}
	line := func(k, v string) { b.WriteString("  " + k + strings.Repeat(" ", max(16-len(k), 1)) + v + "\n") }
	line("sort", o.Sort.Name()+" ("+o.Sort.Letter()+"), "+dir)
	line("filters", onOff(o.Filter.Active(), termsafe.Sanitize(o.Filter.Describe()), "none"))
	line("groups", u.gv.spec.String()+", "+u.groupOrder()+onOff(u.gv.on, " (shown)", " (Tab shows them)"))
	line("interval", fmtDuration(u.f.Interval))
	line("counters", onOff(u.counters, "on", "off"))
	line("totals", onOff(u.totals, "on", "off"))
	line("colours", onOff(!u.colorless(), "on", onOff(u.mono, "off (the terminal has none)", "off")))
	line("name lookups", onOff(u.lookup, "on", "off"))
	deleting := "on (x)"
	if err := u.m.CanDelete(); err != nil {
		deleting = "off: " + err.Error()
	}
	line("deleting", deleting)
	line("source", termsafe.Sanitize(u.f.Table.Source))
	b.WriteString("\n")

	if u.f.Reads > 0 {
		tot := &u.f.View.Totals
		b.WriteString("Flows shown: " + fmtCount(tot.Shown) + " (" + fmtCount(tot.Hidden) + " hidden by filters)\n ")
		for _, c := range tot.ByProto() {
			b.WriteString(" " + c.Name + " " + fmtCount(c.N))
		}
		b.WriteString("\n ")
		for _, c := range tot.ByState() {
			b.WriteString(" " + c.Name + " " + fmtCount(c.N))
		}
		b.WriteString("\n\n")
	}

	b.WriteString("Kernel timeouts (seconds; /proc/sys/net/netfilter/nf_conntrack_*_timeout*)\n")
	if len(u.f.Table.Timeouts) == 0 {
		b.WriteString("  not available from this source\n")
	}
	for i, t := range u.f.Table.Timeouts {
		if i%3 == 0 {
			b.WriteString(" ")
		}
		cell := " " + termsafe.Sanitize(t.Name) + " " + strconv.Itoa(t.Seconds)
		b.WriteString(cell + strings.Repeat(" ", max(26-len(cell), 1)))
		if i%3 == 2 || i == len(u.f.Table.Timeouts)-1 {
			b.WriteString("\n")
		}
	}
	b.WriteString("\n")

	b.WriteString(`What the header means
  entries / max, fill: each entry costs kernel memory (memory = entries × bytes per entry);
  at max (net.netfilter.nf_conntrack_max) the kernel logs
  "nf_conntrack: table full, dropping packet" and new connections fail.
  drop, insert_failed, early_drop: what the kernel could not track, counted since the module
  was loaded (or the namespace created). "drop 12 (+3)" is 12 in all, 3 of them since the
  figures before, one interval ago: a (+N) above 0 means it is happening now.
  peak: the most entries since the screen started, and when; then the count over the last
  10 minutes, a bar per half minute (a full bar is a full table).
  new, gone: flows per second that appeared and left: counted from the kernel's events over
  the last interval while events keep the table (flows older than gostate may send no event
  when they leave: those are the new flows less the count's growth), else between the last
  two whole reads (which miss the flows that came and went between them).
  events (whole table every 60s, last …): the kernel's events keep the flows current; the
  whole table is read to catch what they miss, sooner when the kernel counts a sixteenth fewer
  flows than the screen holds (flows older than gostate may leave without an event).
  events lost: the kernel dropped events (its buffer for gostate was full); the whole table is
  read again at once, and the header says when it was.
  read N s ago: the rows on screen are that old (a read is failing or slow).
`)
	return b.String()
}
