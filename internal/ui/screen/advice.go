package screen

import (
	"bufio"
	"bytes"
	"time"

	"github.com/gostate/gostate/internal/advise"
	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/ui/text"
)

// firstCounters are the kernel's counters as the session first read them:
// the advisor's "grew while watched" is since then.
type firstCounters struct {
	cpu  flow.CPUStats
	at   time.Time
	seen bool
}

// noteCounters keeps the first health read that had the counters.
func (u *model) noteCounters() {
	if s := &u.f.Table.Stats; !u.first.seen && s.HaveCPU {
		u.first = firstCounters{cpu: s.CPU, at: u.f.StatsAt, seen: true}
	}
}

// showAdvice opens the sizing advisor's page (A): the report of gostate
// --advise on what the session has watched, its peak and the counters'
// growth since it began, over the help screen's pager.
func (u *model) showAdvice() {
	u.mode = modeHelp
	u.help.SetText(u.adviceText()).ScrollToBeginning()
	u.pages.SwitchToPage("help")
	u.setStatus("advisor: q, h, ? or Esc closes; arrows, j/k, PgUp/PgDn scroll", false)
}

// adviceText is the advisor's report as --advise prints it, on the whole
// table (not the view: the limit is of every entry) and the session's peak.
func (u *model) adviceText() string {
	f := u.f
	in := &advise.Input{
		Stats:    f.Table.Stats,
		Peak:     max(f.Peak, f.Table.Stats.Entries),
		RowsRead: f.Reads > 0,
		Rows:     f.Table.Flows,
		Timeouts: f.Table.Timeouts,
	}
	if !f.Table.Frozen {
		// The rows' timeouts count from the session's epoch.
		in.Elapsed = int(u.clock.Now().Sub(f.Epoch()).Seconds())
	}
	if u.first.seen && f.Table.Stats.HaveCPU && !f.Table.Frozen {
		g := f.Table.Stats.CPU.Since(&u.first.cpu)
		in.Grown = &g
		in.Watched = f.StatsAt.Sub(u.first.at)
	}
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	_, _, width, _ := u.help.GetInnerRect()
	if err := text.WriteAdvice(w, advise.Advise(in), f.Table.Source, width); err != nil {
		return "the advisor failed: " + err.Error()
	}
	return b.String()
}
