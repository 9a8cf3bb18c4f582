package screen

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/gdamore/tcell/v2"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/monitor"
	"github.com/gostate/gostate/internal/sortby"
	"github.com/gostate/gostate/internal/view"
)

// bigTable is a table of n (up to 16 million) distinct synthetic flows in
// the documentation ranges: 192.0.2.(i%256), source port 1024+i/256.
func bigTable(n int) flow.Table {
	t := sampleTable()
	t.Flows = make([]flow.Flow, 0, n)
	for i := range n {
		sport := uint16(1024 + i>>8)
		f := mkFlow(flow.ProtoTCP, "198.51.100.1", sport, "203.0.113.1", 443)
		if i%3 == 1 {
			f = mkFlow(flow.ProtoUDP, "198.51.100.1", sport, "203.0.113.1", 53)
		}
		f.Orig.Src[12], f.Orig.Src[13], f.Orig.Src[14], f.Orig.Src[15] = 192, 0, 2, byte(i)
		f.Timeout = uint32(i % 432000)
		f.Reply = f.Orig.Mirror()
		t.Flows = append(t.Flows, f)
	}
	// In the kernel's hash order, which no ordering follows.
	rand.New(rand.NewPCG(1, 2)).Shuffle(n, func(i, j int) { t.Flows[i], t.Flows[j] = t.Flows[j], t.Flows[i] })
	t.Stats.Entries = n
	return t
}

// BenchmarkRedraw draws one 200x60 screen of a 200,000-row table, with every
// visible cell formatted again (as when the TTLs have moved on).
func BenchmarkRedraw(b *testing.B) {
	u, sim := benchScreen(b, 200_000, cfg{Counters: true, View: view.Options{Sort: sortby.Dst}})
	b.ReportAllocs()
	for b.Loop() {
		u.gen++
		u.beforeDraw(sim)
		u.grid.Draw(sim)
	}
}

// benchScreen is a 200x60 screen on a table of n rows, read, with the
// middle row selected.
func benchScreen(b *testing.B, n int, c cfg) (*model, tcell.SimulationScreen) {
	b.Helper()
	u, err := newUIRead(&fakeReader{clock: newManualClock(), table: bigTable(n)}, c)
	if err != nil {
		b.Fatal(err)
	}
	sim := tcell.NewSimulationScreen("UTF-8")
	if err := sim.Init(); err != nil {
		b.Fatal(err)
	}
	sim.SetSize(200, 60)
	u.grid.SetRect(0, 0, 200, 60)
	u.selectRow(n / 2)
	return u, sim
}

// BenchmarkSortKeyPress is the UI goroutine's work for one b key press on
// 200,000 rows, and on 1,000,000: re-sort the view on screen, find the
// selected flow again, and redraw.
func BenchmarkSortKeyPress(b *testing.B) {
	for _, n := range []int{200_000, 1_000_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			u, sim := benchScreen(b, n, cfg{})
			press := tcell.NewEventKey(tcell.KeyRune, 'b', 0)
			b.ReportAllocs()
			for b.Loop() {
				u.onKey(press)
				u.beforeDraw(sim)
				u.grid.Draw(sim)
			}
		})
	}
}

// BenchmarkGroupRefresh is the UI goroutine's work when a whole read ends
// with the group view up at 1,000,000 rows (grouped by source, 256
// groups): group the view's rows again, keep the selected group's line,
// and redraw.
func BenchmarkGroupRefresh(b *testing.B) {
	u, sim := benchScreen(b, 1_000_000, cfg{Counters: true})
	u.onKey(tcell.NewEventKey(tcell.KeyTab, 0, 0))
	u.selectGroup(100)
	b.ReportAllocs()
	for b.Loop() {
		u.onFrame(u.f, monitor.ChangeRows)
		u.beforeDraw(sim)
		u.grid.Draw(sim)
	}
}
