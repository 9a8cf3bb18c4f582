package ui

import (
	"strconv"

	"github.com/gostate/gostate/internal/advise"
	"github.com/gostate/gostate/internal/flow"
)

// TableWarning returns the warning every view gives when new connections are
// being dropped, or are about to be: msg says what is wrong, fix what to do
// about it; both are empty when the table is healthy.
//
//	TABLE FULL: new connections are being dropped.
//	TABLE 91.6% FULL: new connections are about to be dropped.
//
// The first when delta (the counters' growth since the previous read, which
// only a live view has: nil otherwise) shows that drop, insert_failed or
// early_drop grew; the second when the fill reaches FillAlertPercent. fix is
// always an instruction, ": ", then the command that carries it out, so that
// a narrow view can put the command on a line of its own:
//
//	Raise the limit: sysctl -w net.netfilter.nf_conntrack_max=960000
//
// with the limit of the sizing rule (advise.Suggest, the one --advise
// applies) on peak, the most entries the view has seen (a one-shot view's:
// the entries). When the limit cannot be set from where
// the table was read (Stats.MaxWritable), the instruction says where or by
// whom it can (raiseLimit). When the rule finds no room above the limit
// within its memory bound, the instruction is to shorten the timeouts
// instead, and the command the advisor that shows them.
func TableWarning(s *flow.Stats, peak int, delta *flow.CPUStats) (msg, fix string) {
	grew := delta != nil && (delta.Drop > 0 || delta.InsertFailed > 0 || delta.EarlyDrop > 0)
	tenths := FillTenths(s)
	switch {
	case grew:
		msg = "TABLE FULL: new connections are being dropped."
	case tenths >= 10*FillAlertPercent:
		msg = "TABLE " + strconv.Itoa(tenths/10) + "." + strconv.Itoa(tenths%10) + "% FULL: new connections are about to be dropped."
	default:
		return "", ""
	}
	g := advise.Suggest(s, peak, grew)
	if !g.Raise {
		return msg, "Shorten the timeouts that hold the most entries (a full table at a higher limit would pass " +
			strconv.Itoa(advise.MemoryPercent) + "% of RAM): gostate --advise"
	}
	return msg, raiseLimit(s) + ": sysctl -w net.netfilter.nf_conntrack_max=" + strconv.Itoa(g.Max)
}

// raiseLimit is TableWarning's instruction. The kernel has one limit for all
// network namespaces, writable only in the initial one, and there only by
// root or CAP_NET_ADMIN: inside another namespace no privilege helps, so the
// instruction says to raise it on the host. When the check could not be made
// (a saved dump), nothing more is said.
func raiseLimit(s *flow.Stats) string {
	switch s.LimitAccess() {
	case flow.LimitWritable:
		return "Raise the limit"
	case flow.LimitOnHost:
		return "Raise the limit on the host (nf_conntrack_max is global; read-only in this namespace)"
	case flow.LimitNeedsRoot:
		return "Raise the limit as root (writing nf_conntrack_max needs root or CAP_NET_ADMIN)"
	}
	return "Raise the limit as root on the host (nf_conntrack_max is read-only here)"
}

// CountersOffHint returns what to tell a user who asked for the byte and
// packet counters (to show them, or to sort by them) of a table without any:
//
//	counters are off: sysctl -w net.netfilter.nf_conntrack_acct=1 (per namespace; counts new flows only)
//
// "" when a row has counters, or when there is no row to tell by. Accounting
// (net.netfilter.nf_conntrack_acct) is a per-namespace switch that gives
// counters to the flows created while it is on: a row with counters shows it
// was on when that flow began, and nothing is said rather than guess whether
// it still is; a table of rows without any is read as accounting off.
// gostate never turns it on itself. A table still being read (the first read
// of a live session) may lack its rows with counters: ask once a whole read
// has ended.
func CountersOffHint(t *flow.Table) string {
	if len(t.Flows) == 0 {
		return ""
	}
	for i := range t.Flows {
		if t.Flows[i].Present&flow.HasCounters != 0 {
			return ""
		}
	}
	return "counters are off: sysctl -w net.netfilter.nf_conntrack_acct=1 (per namespace; counts new flows only)"
}
