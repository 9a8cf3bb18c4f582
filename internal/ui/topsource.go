package ui

import (
	"strconv"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/group"
)

// DominantPercent is the share of the table below which no source is
// named as the one filling it: under 5 % of the entries, the table is
// filled by many, and TopSource names a destination port or a state
// instead.
const DominantPercent = 5

// The groupings TopSource counts by: sources as whole IPv4 addresses and
// IPv6 /64s (one host's privacy addresses are one source), destination
// ports, states.
var (
	topSourceSpec = mustSpec("src/32/64")
	topPortSpec   = mustSpec("dport")
	topStateSpec  = mustSpec("state")
)

func mustSpec(s string) group.Spec {
	sp, err := group.Parse(s)
	if err != nil {
		panic(err)
	}
	return sp
}

// TopSource says who fills the table, for the line under TableWarning's
// banner: every view shows it when that banner is up. idx are the rows to
// count (the whole table: the shares are of all its entries, whatever a
// view's filters hide); g is any Grouping, reused for its memory, which
// TopSource overwrites.
//
//	top source 203.0.113.66: 62% of entries (SYN_RECV 100%)
//	no dominant source; top destination port tcp/443: 37%
//	no dominant source; top state ESTABLISHED: 80%
//
// The top source's share and that of its commonest state in it; when the
// top source holds under DominantPercent of the entries, the top
// destination port if it holds at least that, else the top state. ""
// without rows.
func TopSource(t *flow.Table, idx []int32, g *group.Grouping) string {
	if len(idx) == 0 {
		return ""
	}
	g.Build(t.Flows, idx, topSourceSpec)
	if top := &g.Groups[0]; top.Entries*100 >= DominantPercent*g.Rows {
		st := top.States()[0]
		return "top source " + g.Label(0) + ": " + percentOf(top.Entries, g.Rows) + " of entries (" +
			st.Name + " " + percentOf(st.N, top.Entries) + ")"
	}
	g.Build(t.Flows, idx, topPortSpec)
	what := "destination port"
	if g.Groups[0].Entries*100 < DominantPercent*g.Rows {
		g.Build(t.Flows, idx, topStateSpec)
		what = "state"
	}
	return "no dominant source; top " + what + " " + g.Label(0) + ": " + percentOf(g.Groups[0].Entries, g.Rows)
}

// percentOf writes n as a whole percentage of total (total > 0), rounded
// to the nearest but never to 100% while part is missing nor to 0% while
// there is some: "100%" means all of them.
func percentOf(n, total int) string {
	p := (200*n + total) / (2 * total)
	if n < total {
		p = min(p, 99)
	}
	if n > 0 {
		p = max(p, 1)
	}
	return strconv.Itoa(p) + "%"
}
