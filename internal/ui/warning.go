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
// with the limit SuggestMax gives.
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
	return msg, "Raise the limit: sysctl -w net.netfilter.nf_conntrack_max=" + strconv.Itoa(SuggestMax(s.Entries, s.Max))
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
