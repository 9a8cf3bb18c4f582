package screen

import (
	"strconv"
	"strings"

	"github.com/gostate/gostate/internal/termsafe"
)

// helpKeys lists every key, as the help screen shows it.
const helpKeys = `Keys
  q, Ctrl-C       quit
  h, ?            this help (q, h, ? or Esc closes it)
  b / B           next / previous sort column
  o LETTER        sort by the -b letter (every ordering in two keys):
                    %s
  r               reverse the order
  s / d           source / destination filter: ADDR or ADDR/PREFIX (empty clears)
  S / D           source / destination port filter: 1-65535 (empty clears)
                  in a prompt: Enter applies, Esc or Ctrl-G cancels, Ctrl-U erases
  i               invert the address and port filters
  f               hide / show loopback flows (127.0.0.0/8, ::1)
  L               hide / show DNS flows (port 53)
  l               host names instead of addresses (also hides DNS flows)
  C               bytes and packets columns
  t               per-state totals line
  c               colours on / off (tcp green, udp yellow, icmp red)
  R               refresh interval in seconds (fractions allowed, at least 0.1)
  Space           refresh now
  Ctrl-L          redraw the terminal
  x               delete the selected flow from the kernel's table (asks y/n)
  Up/Down, k/j    move one row          PgUp/PgDn, Ctrl-B/Ctrl-F  one page
  Ctrl-U/Ctrl-D   half a page           Home/End, g/G             first / last
  mouse           wheel moves, a click selects a row; a click on a column's
                  title sorts by it (again: reverses)

`

// helpText is the help screen: keys, the current settings, the kernel's
// timeouts, and what the health figures mean.
func (u *model) helpText() string {
	var b strings.Builder
	b.WriteString(strings.Replace(helpKeys, "%s", sortLetters(), 1))

	o := &u.opts
	b.WriteString("Current settings\n")
	dir := "ascending"
	if sortArrow(o.Sort, o.Reverse) == "▼" {
		dir = "descending"
	}
	line := func(k, v string) { b.WriteString("  " + k + strings.Repeat(" ", max(16-len(k), 1)) + v + "\n") }
	line("sort", o.Sort.Name()+" ("+o.Sort.Letter()+"), "+dir)
	line("filters", onOff(o.Filter.Active(), termsafe.Sanitize(o.Filter.Describe()), "none"))
	line("interval", fmtDuration(u.currentInterval()))
	line("counters", onOff(u.counters, "on", "off"))
	line("totals", onOff(u.totals, "on", "off"))
	line("colours", onOff(!u.noColor, "on", "off"))
	line("name lookups", onOff(u.lookup, "on", "off"))
	line("deleting", onOff(u.cfg.ReadOnly, "off (--read-only)", onOff(u.d != nil, "on (x)", "not possible with this source")))
	line("source", termsafe.Sanitize(u.shown.t.Source))
	b.WriteString("\n")

	b.WriteString("Kernel timeouts (seconds; /proc/sys/net/netfilter/nf_conntrack_*_timeout*)\n")
	if len(u.shown.t.Timeouts) == 0 {
		b.WriteString("  not available from this source\n")
	}
	for i, t := range u.shown.t.Timeouts {
		if i%3 == 0 {
			b.WriteString(" ")
		}
		cell := " " + termsafe.Sanitize(t.Name) + " " + strconv.Itoa(t.Seconds)
		b.WriteString(cell + strings.Repeat(" ", max(26-len(cell), 1)))
		if i%3 == 2 || i == len(u.shown.t.Timeouts)-1 {
			b.WriteString("\n")
		}
	}
	b.WriteString("\n")

	b.WriteString(`What the header means
  Entries / max: each entry costs kernel memory (Memory = entries × bytes per entry); at max
  (net.netfilter.nf_conntrack_max) the kernel logs "nf_conntrack: table full, dropping packet"
  and new connections fail. drop, insert_failed and early_drop count what the kernel could not
  track (their change since the last read in brackets). new / gone: flows per second.
`)
	return b.String()
}
