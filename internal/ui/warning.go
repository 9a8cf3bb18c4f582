package ui

import (
	"strconv"

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
//	Raise the limit: sysctl -w net.netfilter.nf_conntrack_max=524288
//
// with the limit SuggestMax gives. When the limit cannot be set from where
// the table was read (Stats.MaxWritable), the instruction says where or by
// whom it can (raiseLimit).
func TableWarning(s *flow.Stats, delta *flow.CPUStats) (msg, fix string) {
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
	return msg, raiseLimit(s) + ": sysctl -w net.netfilter.nf_conntrack_max=" + strconv.Itoa(SuggestMax(s.Entries, s.Max))
}

// raiseLimit is TableWarning's instruction. The kernel has one limit for all
// network namespaces, writable only in the initial one, and there only by
// root or CAP_NET_ADMIN: inside another namespace no privilege helps, so the
// instruction says to raise it on the host. When the check could not be made
// (a saved dump), nothing more is said.
func raiseLimit(s *flow.Stats) string {
	if s.MaxWritable != flow.TriNo {
		return "Raise the limit"
	}
	switch s.InitialNetNS {
	case flow.TriNo:
		return "Raise the limit on the host (nf_conntrack_max is global; read-only in this namespace)"
	case flow.TriYes:
		return "Raise the limit as root (writing nf_conntrack_max needs root or CAP_NET_ADMIN)"
	}
	// Read-only, for want of privileges or because this is not the
	// initial namespace: which, gostate could not tell.
	return "Raise the limit as root on the host (nf_conntrack_max is read-only here)"
}

// SuggestMax returns the nf_conntrack_max that TableWarning suggests for a
// table of entries entries whose limit is limit (0 when unknown): the next
// power of two at least twice the larger of the two, and at least 2. Every
// view's suggestion comes from here, so a better sizing rule replaces this
// one alone.
func SuggestMax(entries, limit int) int {
	n := 2 * max(entries, limit, 1)
	p := 1
	for p < n {
		p <<= 1
	}
	return p
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
