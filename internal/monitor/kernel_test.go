package monitor_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ti-mo/conntrack"

	"github.com/gostate/gostate/internal/monitor"
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

// TestKernelEventsWithoutDumps watches a private namespace's real table:
// the flows there before the start come with the first whole read, and
// flows created and deleted afterwards appear and vanish through the
// kernel's events alone, each within an interval (1 s), with no other whole
// read (events leave those to reconcile the table once a minute).
func TestKernelEventsWithoutDumps(t *testing.T) {
	ns := nstest.New(t)
	before := len(ns.InsertSynthetic(t))
	r, err := source.Open(source.Options{Kind: source.KindNetlink, NetNS: ns.Path()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	m, err := monitor.New(monitor.Config{Source: r, Interval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ui := newUILoop(t)
	m.Start(ui.post)
	defer m.Stop()
	f := m.Frame()
	ui.waitFor(t, "the first whole read, and events", func() bool { return f.Reads == 1 && f.Events })
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
