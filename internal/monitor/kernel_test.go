package monitor_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ti-mo/conntrack"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/monitor"
	"github.com/gostate/gostate/internal/netns"
	"github.com/gostate/gostate/internal/nstest"
	"github.com/gostate/gostate/internal/source"
)

// uiLoop is a UI goroutine for a monitor without a screen: it runs what the
// monitor posts, one at a time.
type uiLoop struct {
	fns  chan func()
	quit chan struct{}
}

func newUILoop(t *testing.T) *uiLoop {
	l := &uiLoop{fns: make(chan func()), quit: make(chan struct{})}
	go func() {
		for {
			select {
			case f := <-l.fns:
				f()
			case <-l.quit:
				return
			}
		}
	}()
	t.Cleanup(func() { close(l.quit) })
	return l
}

func (l *uiLoop) post(f func(), _ bool) bool {
	done := make(chan struct{})
	select {
	case l.fns <- func() { f(); close(done) }:
	case <-l.quit:
		return false
	}
	<-done
	return true
}

// waitFor polls cond on the UI goroutine until it holds.
func (l *uiLoop) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var ok bool
		l.post(func() { ok = cond() }, false)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// watch starts a session on the source opts opens, at a 1 s interval, and
// waits for its first whole read and its events; the test's end stops it.
func watch(t *testing.T, opts source.Options) (source.Reader, *monitor.Frame, *uiLoop) {
	t.Helper()
	r, err := source.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	m, err := monitor.New(monitor.Config{Source: r, Interval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ui := newUILoop(t)
	m.Start(ui.post)
	t.Cleanup(m.Stop)
	f := m.Frame()
	ui.waitFor(t, "the first whole read, and events", func() bool { return f.Reads == 1 && f.Events })
	return r, f, ui
}

// TestKernelEventsWithoutDumps watches a private namespace's real table:
// the flows there before the start come with the first whole read, and
// flows created and deleted afterwards appear and vanish through the
// kernel's events alone, each within an interval (1 s), with no other whole
// read (events leave those to reconcile the table once a minute).
func TestKernelEventsWithoutDumps(t *testing.T) {
	ns := nstest.New(t)
	before := len(ns.InsertSynthetic(t))
	_, f, ui := watch(t, source.Options{Kind: source.KindNetlink, NetNS: ns.Path()})
	var n int
	ui.post(func() { n = f.Len() }, false)
	if n != before {
		t.Fatalf("the first read has %d flows, want the %d there before", n, before)
	}

	c := ns.Conn(t)
	var made []conntrack.Flow
	for i := range 200 {
		fl := conntrack.NewFlow(17, conntrack.StatusConfirmed,
			netip.MustParseAddr("192.0.2.77"), netip.MustParseAddr("198.51.100.53"),
			uint16(20000+i), 53, 120, 0)
		if err := c.Create(fl); err != nil {
			t.Fatalf("insert: %v", err)
		}
		made = append(made, fl)
	}
	ui.waitFor(t, "the 200 new flows", func() bool { return f.Len() == before+200 })
	for _, fl := range made[:50] {
		if err := c.Delete(fl); err != nil {
			t.Fatalf("delete: %v", err)
		}
	}
	ui.waitFor(t, "50 of them gone", func() bool { return f.Len() == before+150 })
	var reads, events int
	ui.post(func() { reads, events = f.Reads, f.EventCount }, false)
	if reads != 1 {
		t.Errorf("%d whole reads, want the first alone: the events should have done it", reads)
	}
	if events < 250 {
		t.Errorf("%d events applied, want at least 250 (200 new, 50 destroyed)", events)
	}
	if got, want := ns.Count(t), before+150; got != want {
		t.Errorf("the kernel counts %d, want %d", got, want)
	}
}

// TestKernelOverrunHeals overruns a session's event subscription for real:
// its receive buffer shrunk to 64 KiB (about a hundred events), its UI
// goroutine held while 100 flows it knows of are deleted and 10,000 new ones
// created. The kernel drops most of those events; the session sees the
// overrun, says so (Resyncing, then Overruns), reads the whole table, and
// ends with exactly the kernel's set of flows; events then go on keeping
// the table current.
func TestKernelOverrunHeals(t *testing.T) {
	ns := nstest.New(t)
	before := len(ns.InsertSynthetic(t))
	r, f, ui := watch(t, source.Options{Kind: source.KindNetlink, NetNS: ns.Path(), EventBuffer: 64 << 10})

	c := ns.Conn(t)
	var known []conntrack.Flow
	for i := range 100 {
		fl := conntrack.NewFlow(6, conntrack.StatusConfirmed|conntrack.StatusAssured,
			netip.MustParseAddr("192.0.2.99"), netip.MustParseAddr("198.51.100.80"),
			uint16(30000+i), 80, 300, 0)
		fl.ProtoInfo.TCP = &conntrack.ProtoInfoTCP{State: 3} // ESTABLISHED
		if err := c.Create(fl); err != nil {
			t.Fatalf("insert: %v", err)
		}
		known = append(known, fl)
	}
	ui.waitFor(t, "the 100 flows by event", func() bool { return f.Len() == before+100 })

	// Hold the UI goroutine: the event goroutine waits to hand over its
	// batch, and the kernel queues the rest until the buffer is full.
	held, release := make(chan struct{}), make(chan struct{})
	go ui.post(func() { close(held); <-release }, false)
	<-held
	for _, fl := range known {
		if err := c.Delete(fl); err != nil {
			t.Fatalf("delete: %v", err)
		}
	}
	const flood = 10_000
	if res, err := netns.Fill(ns.Path(), flood, netns.FillOptions{}); err != nil || res.Created != flood {
		t.Fatalf("fill: %+v, %v", res, err)
	}
	close(release)

	ui.waitFor(t, "the overrun to show", func() bool { return f.Overruns > 0 })
	ui.waitFor(t, "the resync", func() bool { return !f.Resyncing })
	var reads int
	var got map[flow.Key]bool
	ui.post(func() {
		reads = f.Reads
		got = make(map[flow.Key]bool, f.Len())
		for i := range f.Len() {
			got[f.Row(i).Key()] = true
		}
	}, false)
	if reads < 2 {
		t.Errorf("%d whole reads after an overrun, want the first and a resync", reads)
	}
	want := kernelKeys(t, r)
	if len(want) != before+flood {
		t.Fatalf("the kernel holds %d flows, want %d", len(want), before+flood)
	}
	if len(got) != len(want) {
		t.Errorf("the session holds %d flows after the resync, the kernel %d", len(got), len(want))
	}
	for k := range want {
		if !got[k] {
			t.Fatalf("the kernel's flow %v is missing after the resync", k)
		}
	}

	// Healed: events keep the table current again, or, after overruns
	// too many, whole reads do, and the frame says so.
	var events bool
	ui.post(func() { events, reads = f.Events, f.Reads }, false)
	if !events {
		ui.post(func() {
			if f.EventsOff == nil {
				t.Error("events given up without saying why")
			}
		}, false)
	}
	fl := conntrack.NewFlow(17, conntrack.StatusConfirmed,
		netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("203.0.113.53"), 40000, 53, 120, 0)
	if err := c.Create(fl); err != nil {
		t.Fatal(err)
	}
	ui.waitFor(t, "a flow created after the resync", func() bool { return f.Len() == before+flood+1 })
	if events {
		var now int
		ui.post(func() { now = f.Reads }, false)
		if now != reads {
			t.Errorf("%d whole reads for one new flow after the resync, want none: events", now-reads)
		}
	}
}

// kernelKeys reads the identities of the flows in r's table.
func kernelKeys(t *testing.T, r source.Reader) map[flow.Key]bool {
	t.Helper()
	var tab flow.Table
	if err := r.Read(&tab); err != nil {
		t.Fatal(err)
	}
	keys := make(map[flow.Key]bool, len(tab.Flows))
	for i := range tab.Flows {
		keys[tab.Flows[i].Key()] = true
	}
	return keys
}
