package monitor

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/sortby"
	"github.com/gostate/gostate/internal/source"
	"github.com/gostate/gostate/internal/view"
)

// fakeListener hands the events a test sends, or an error, to Read.
type fakeListener struct {
	batches chan []source.Event
	errs    chan error
	closed  chan struct{}
}

func newListener() *fakeListener {
	return &fakeListener{batches: make(chan []source.Event), errs: make(chan error), closed: make(chan struct{})}
}

func (l *fakeListener) Read(each func([]source.Event) bool) error {
	for {
		select {
		case evs := <-l.batches:
			if !each(evs) {
				return source.ErrStopped
			}
		case err := <-l.errs:
			return err
		case <-l.closed:
			return source.ErrClosed
		}
	}
}

func (l *fakeListener) Close() error {
	close(l.closed)
	return nil
}

// eventSource is a fakeSource that can listen: its events go to the test's
// listener, which sends them.
type eventSource struct {
	*fakeSource
	l         *fakeListener
	listenErr error
}

func (s *eventSource) Listen(kinds source.EventKind) (source.Listener, error) {
	if s.listenErr != nil {
		return nil, s.listenErr
	}
	return s.l, nil
}

// send applies events to the fake kernel's table and announces them.
func (s *eventSource) send(evs ...source.Event) {
	s.set(func(fs *fakeSource) {
		for _, e := range evs {
			k := e.Flow.Key()
			i := slices.IndexFunc(fs.rows, func(f flow.Flow) bool { return f.Key() == k })
			switch {
			case e.Kind == source.EventDestroy && i >= 0:
				fs.rows = slices.Delete(fs.rows, i, i+1)
			case e.Kind != source.EventDestroy && i >= 0:
				fs.rows[i] = e.Flow
			case e.Kind != source.EventDestroy:
				fs.rows = append(fs.rows, e.Flow)
			}
		}
		fs.stats.Entries = len(fs.rows)
	})
	s.l.batches <- evs
}

func ev(kind source.EventKind, f flow.Flow) source.Event { return source.Event{Kind: kind, Flow: f} }

func eventSession(t *testing.T, n int, cfg Config) (*eventSource, *Monitor, *uiLoop) {
	t.Helper()
	src := &eventSource{fakeSource: &fakeSource{t0: time.Now(), rows: table(n), readTook: 500 * time.Millisecond, lookups: true}, l: newListener()}
	src.stats.Entries = n
	l := newLoop()
	cfg.Source, cfg.OnFrame = src, l.onFrame
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.Start(l.post)
	t.Cleanup(func() {
		m.Stop()
		close(l.ended)
	})
	return src, m, l
}

// Events keep the set of flows current between whole reads: new flows join
// the view and destroyed ones leave it within an interval, without a dump.
func TestEventsKeepTheTableCurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src, m, l := eventSession(t, 5, Config{Interval: time.Second})
		l.on(func() { m.SetWindow(0, 10) })
		time.Sleep(2 * time.Second)
		whole := len(src.calls("whole"))
		old := table(5)
		fresh := tcpFlow("198.51.100.9", 4000, 120)
		src.send(ev(source.EventNew, fresh), ev(source.EventDestroy, old[1]))
		changed := old[3]
		changed.State = flow.TCPFinWait
		src.send(ev(source.EventUpdate, changed))
		time.Sleep(1100 * time.Millisecond) // an interval: the view is settled
		l.on(func() {
			f := m.Frame()
			if !f.Events {
				t.Fatalf("not following events (%v)", f.EventsOff)
			}
			if f.Len() != 5 || f.Find(fresh.Key()) < 0 || f.Find(old[1].Key()) >= 0 {
				t.Errorf("%d rows, new flow at %d, destroyed at %d: want 5, shown, gone", f.Len(), f.Find(fresh.Key()), f.Find(old[1].Key()))
			}
			if i := f.Find(changed.Key()); i < 0 || f.Row(i).State != flow.TCPFinWait {
				t.Errorf("the UPDATE's state is not shown")
			}
			if f.EventCount != 3 {
				t.Errorf("%d events counted, want 3", f.EventCount)
			}
		})
		if got := len(src.calls("whole")); got != whole {
			t.Errorf("%d whole reads for three events, want none", got-whole)
		}
	})
}

// With events the whole table is read only to reconcile, every minute; the
// rows on screen are still looked up every interval. An order that needs
// whole reads' values (TTL) reads the whole table on the usual schedule.
func TestEventsReconcileEveryMinute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src, m, l := eventSession(t, 5, Config{Interval: time.Second})
		l.on(func() { m.SetWindow(0, 3) })
		time.Sleep(130 * time.Second)
		if got, want := src.calls("whole"), secs(0, 60, 120); !slices.Equal(got, want) {
			t.Errorf("whole reads at %v, want %v", got, want)
		}
		if got := len(upTo(src.calls("lookup"), 60*time.Second)); got < 55 {
			t.Errorf("%d lookups in the first minute, want one a second", got)
		}
		var every time.Duration
		l.on(func() {
			every = m.Frame().FullEvery
			m.SetView(view.Options{Sort: sortby.TTL})
		})
		if every != reconcileEvery {
			t.Errorf("the frame says a whole read every %v, want %v", every, reconcileEvery)
		}
		before := len(src.calls("whole"))
		time.Sleep(10 * time.Second)
		if got := len(src.calls("whole")) - before; got < 2 {
			t.Errorf("%d whole reads in 10 s sorted by TTL, want the usual schedule (every 3 s)", got)
		}
	})
}

// An overrun (events lost) marks the frame and reads the whole table at
// once; too many overruns give events up for the usual schedule.
func TestEventOverruns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src, m, l := eventSession(t, 5, Config{Interval: time.Second})
		time.Sleep(5 * time.Second)
		whole := len(src.calls("whole"))
		src.l.errs <- fmt.Errorf("netlink events: %w", source.ErrOverrun)
		time.Sleep(time.Second)
		if got := len(src.calls("whole")) - whole; got != 1 {
			t.Errorf("%d whole reads after an overrun, want 1 at once", got)
		}
		l.on(func() {
			if f := m.Frame(); f.Overruns != 1 || !f.Events {
				t.Errorf("overruns %d, events %v after one overrun; want 1, still following", f.Overruns, f.Events)
			}
		})
		for range 2 {
			src.l.errs <- fmt.Errorf("netlink events: %w", source.ErrOverrun)
			time.Sleep(time.Second)
		}
		l.on(func() {
			f := m.Frame()
			if f.Events || f.EventsOff == nil {
				t.Fatalf("events %v (%v) after three overruns in a minute; want given up, saying why", f.Events, f.EventsOff)
			}
			if f.FullEvery >= reconcileEvery {
				t.Errorf("whole reads every %v after giving events up, want the usual schedule", f.FullEvery)
			}
		})
	})
}

// A namespace with events turned off is read on the usual schedule, and
// the frame says why.
func TestEventsOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		off := fmt.Errorf("nf_conntrack_events is 0 in this namespace: %w", source.ErrEventsOff)
		src := &eventSource{fakeSource: &fakeSource{t0: time.Now(), rows: table(5), lookups: true}, l: newListener(), listenErr: off}
		l := newLoop()
		m, err := New(Config{Source: src, OnFrame: l.onFrame, Interval: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		m.Start(l.post)
		defer func() { m.Stop(); close(l.ended) }()
		time.Sleep(5 * time.Second)
		l.on(func() {
			if f := m.Frame(); f.Events || !errors.Is(f.EventsOff, source.ErrEventsOff) {
				t.Errorf("events %v, off %v; want polling, saying events are off", f.Events, f.EventsOff)
			}
		})
		if got := len(src.calls("whole")); got < 4 {
			t.Errorf("%d whole reads in 5 s, want the usual schedule", got)
		}
	})
}

// With events, the flows that come and go are counted from the NEW and
// DESTROY events over each interval, not from whole reads, which see
// neither the flows events already brought nor those that came and went
// between two reads.
func TestEventsCountNewAndGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src, m, l := eventSession(t, 5, Config{Interval: time.Second})
		time.Sleep(2500 * time.Millisecond)
		for i := range 6 {
			f := tcpFlow("198.51.100.9", uint16(4000+i), 120)
			src.send(ev(source.EventNew, f), ev(source.EventUpdate, f))
		}
		src.send(ev(source.EventDestroy, table(5)[0]), ev(source.EventDestroy, tcpFlow("198.51.100.9", 4000, 120)))
		time.Sleep(time.Second)
		l.on(func() {
			f := m.Frame()
			if f.Born != 6 || f.Gone != 2 || f.Over != time.Second {
				t.Errorf("born %d, gone %d over %v; want 6 and 2 over the interval", f.Born, f.Gone, f.Over)
			}
		})
		time.Sleep(time.Second)
		l.on(func() {
			if f := m.Frame(); f.Born != 0 || f.Gone != 0 || f.Over != time.Second {
				t.Errorf("born %d, gone %d over %v in a quiet interval; want 0 and 0", f.Born, f.Gone, f.Over)
			}
		})
	})
}

// Flows older than the listener leave without a DESTROY: the kernel's
// entry count says they left, and the frame counts them gone in the
// interval they left, not when a whole read finds them missing.
func TestGoneWithoutDestroy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src, m, l := eventSession(t, 5, Config{Interval: time.Second})
		time.Sleep(2500 * time.Millisecond)
		old := table(5)
		src.set(func(fs *fakeSource) {
			fs.rows = slices.DeleteFunc(fs.rows, func(f flow.Flow) bool { return f.Key() == old[0].Key() || f.Key() == old[1].Key() })
			fs.stats.Entries = len(fs.rows)
		})
		src.send(ev(source.EventNew, tcpFlow("198.51.100.9", 4000, 120)), ev(source.EventDestroy, old[2]))
		time.Sleep(time.Second)
		l.on(func() {
			if f := m.Frame(); f.Born != 1 || f.Gone != 3 {
				t.Errorf("born %d, gone %d; want 1 and 3 (1 DESTROY, 2 left without one)", f.Born, f.Gone)
			}
		})
	})
}

// Flows that leave without a DESTROY stay in the table until a whole read:
// once they are over a sixteenth of the kernel's count, the whole read
// comes early, not reconcileEvery after the last, and takes them away.
func TestStaleFlowsBringTheReadForward(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src, m, l := eventSession(t, 4000, Config{Interval: time.Second})
		time.Sleep(2500 * time.Millisecond)
		whole := len(src.calls("whole"))
		drop := func(n int) {
			src.set(func(fs *fakeSource) {
				fs.rows = fs.rows[n:]
				fs.stats.Entries = len(fs.rows)
			})
		}
		drop(200) // under a sixteenth: no read
		time.Sleep(5 * time.Second)
		if n := len(src.calls("whole")); n != whole {
			t.Fatalf("%d whole reads for 200 stale flows of 4,000; want none", n-whole)
		}
		drop(300)
		time.Sleep(3 * time.Second)
		if n := len(src.calls("whole")); n != whole+1 {
			t.Fatalf("%d whole reads 3 s after 500 stale flows of 3,500; want 1", n-whole)
		}
		l.on(func() {
			if f := m.Frame(); f.Len() != 3500 {
				t.Errorf("%d flows after the read; want the kernel's 3,500", f.Len())
			}
		})
	})
}
