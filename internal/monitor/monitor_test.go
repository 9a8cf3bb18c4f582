package monitor

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/sortby"
	"github.com/gostate/gostate/internal/source"
	"github.com/gostate/gostate/internal/view"
)

// The tests run in a synctest bubble: time.Now and time.After are a fake
// clock that moves only when every goroutine of the test waits, so a read
// that "takes 2 s" takes no time and the schedule is exact to the
// nanosecond. The monitor uses the system clock, as in production.

// fakeSource is a table the test controls, behind the real source contract.
// It logs every call with the (fake) time it began.
type fakeSource struct {
	mu       sync.Mutex
	t0       time.Time
	rows     []flow.Flow
	stats    flow.Stats
	readTook time.Duration // a whole read takes this long, spread over its batches
	lookups  bool          // Refresh works
	frozen   bool
	// readErr fails whole reads, summaryErrs the next summaries, in turn.
	readErr     error
	summaryErrs []error
	stopped     bool // a whole read was stopped by its caller
	log         []call
}

type call struct {
	what string // "whole", "summary", "lookup"
	at   time.Duration
	rows int
}

func (s *fakeSource) note(what string, rows int) {
	s.log = append(s.log, call{what, time.Since(s.t0), rows})
}

// calls returns when each call of one kind began, as offsets from t0.
func (s *fakeSource) calls(what string) []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var at []time.Duration
	for _, c := range s.log {
		if c.what == what {
			at = append(at, c.at)
		}
	}
	return at
}

// now returns the rows as the kernel would give them now: their timeouts
// counted down since t0.
func (s *fakeSource) now() []flow.Flow {
	rows := slices.Clone(s.rows)
	elapsed := uint32(time.Since(s.t0) / time.Second)
	for i := range rows {
		rows[i].Timeout -= min(rows[i].Timeout, elapsed)
	}
	return rows
}

func (s *fakeSource) figures(t *flow.Table) {
	t.Flows = t.Flows[:0]
	t.Stats = s.stats
	t.Source = "fake"
	t.Frozen = s.frozen
	t.ReadAt = time.Now()
}

func (s *fakeSource) Read(t *flow.Table) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.figures(t)
	t.Flows = append(t.Flows, s.rows...)
	return s.readErr
}

func (s *fakeSource) ReadBatches(t *flow.Table, batch int, each func([]flow.Flow) bool) error {
	s.mu.Lock()
	s.note("whole", len(s.rows))
	rows, took, err := s.now(), s.readTook, s.readErr
	s.figures(t)
	s.mu.Unlock()
	if err != nil {
		time.Sleep(took)
		return err
	}
	parts := max((len(rows)+batch-1)/batch, 1)
	for i := 0; i < len(rows); i += batch {
		time.Sleep(took / time.Duration(parts))
		if !each(rows[i:min(i+batch, len(rows))]) {
			s.mu.Lock()
			s.stopped = true
			s.mu.Unlock()
			return source.ErrStopped
		}
	}
	if len(rows) == 0 {
		time.Sleep(took)
	}
	t.ReadAt = time.Now()
	return nil
}

func (s *fakeSource) ReadSummary(t *flow.Table) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.note("summary", 0)
	if len(s.summaryErrs) > 0 {
		err := s.summaryErrs[0]
		s.summaryErrs = s.summaryErrs[1:]
		if err != nil {
			return err
		}
	}
	s.figures(t)
	return nil
}

func (s *fakeSource) Listen(source.EventKind) (source.Listener, error) {
	return nil, source.ErrUnsupported
}

func (s *fakeSource) Refresh(rows []flow.Flow, res []source.Lookup) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.lookups {
		return source.ErrUnsupported
	}
	if rows == nil {
		return nil
	}
	s.note("lookup", len(rows))
	for i := range rows {
		res[i] = source.LookupGone
		for _, f := range s.now() {
			if f.Key() == rows[i].Key() {
				rows[i], res[i] = f, source.LookupFound
			}
		}
	}
	return nil
}

func (s *fakeSource) Close() error { return nil }

func (s *fakeSource) set(f func(s *fakeSource)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// uiLoop stands in for an interface's event loop: it runs posted functions
// one at a time on its own goroutine and records the frame changes.
type uiLoop struct {
	fns     chan func()
	ended   chan struct{}
	changes []Change
	reads   []int // the frame's Reads at each change
}

func newLoop() *uiLoop {
	l := &uiLoop{fns: make(chan func()), ended: make(chan struct{})}
	go func() {
		for {
			select {
			case f := <-l.fns:
				f()
			case <-l.ended:
				return
			}
		}
	}()
	return l
}

func (l *uiLoop) post(f func(), _ bool) bool {
	done := make(chan struct{})
	select {
	case l.fns <- func() { f(); close(done) }:
	case <-l.ended:
		return false
	}
	<-done
	return true
}

func (l *uiLoop) onFrame(f *Frame, c Change) {
	l.changes = append(l.changes, c)
	l.reads = append(l.reads, f.Reads)
}

// on runs f on the loop's goroutine and waits for it.
func (l *uiLoop) on(f func()) { l.post(f, false) }

// session starts a monitor on src in the bubble. It is stopped when the test
// function returns.
func session(t *testing.T, src *fakeSource, cfg Config) (*Monitor, *uiLoop) {
	t.Helper()
	l := newLoop()
	cfg.Source, cfg.OnFrame = src, l.onFrame
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	m.Start(l.post)
	t.Cleanup(func() {
		m.Stop()
		close(l.ended)
	})
	return m, l
}

func tcpFlow(src string, sport uint16, timeout uint32) flow.Flow {
	f := flow.Flow{Family: flow.FamilyIPv4, Proto: flow.ProtoTCP, Present: flow.HasTimeout | flow.HasState,
		State: flow.TCPEstablished, Timeout: timeout, Status: flow.StatusConfirmed | flow.StatusSeenReply}
	f.Orig.Src = flow.AddrFrom(netip.MustParseAddr(src))
	f.Orig.Dst = flow.AddrFrom(netip.MustParseAddr("198.51.100.1"))
	f.Orig.SrcPort, f.Orig.DstPort = sport, 443
	f.Reply = f.Orig.Mirror()
	return f
}

// table is n distinct flows: from 192.0.2.1 ports 1000 up, then from the
// next addresses when the ports run out.
func table(n int) []flow.Flow {
	rows := make([]flow.Flow, n)
	for i := range rows {
		rows[i] = tcpFlow("192.0.2.1", uint16(1000+i%60000), 300)
		rows[i].Orig.Src[15] += byte(i / 60000)
		rows[i].Reply = rows[i].Orig.Mirror()
	}
	return rows
}

func secs(ds ...float64) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = time.Duration(d * float64(time.Second))
	}
	return out
}

// upTo keeps the times before limit.
func upTo(at []time.Duration, limit time.Duration) []time.Duration {
	var out []time.Duration
	for _, a := range at {
		if a < limit {
			out = append(out, a)
		}
	}
	return out
}

// A source that looks rows up gets a whole read every
// max(interval, min(6 × read time, 5 s), 3 × read time) and a lookup of the
// window's rows every interval between them.
func TestCadenceWithLookups(t *testing.T) {
	for _, tc := range []struct {
		name      string
		took      time.Duration
		wholeAt   []time.Duration
		lookupsAt []time.Duration
	}{
		// 6 × 2 s and 3 × 2 s: a whole read every 6 s.
		{"slow read", 2 * time.Second, secs(0, 6, 12), secs(3, 4, 5, 9, 10, 11)},
		// min(6 × 0.5 s, 5 s) = 3 s.
		{"half a second", 500 * time.Millisecond, secs(0, 3, 6, 9, 12), secs(1.5, 2.5, 4.5, 5.5, 7.5, 8.5, 10.5, 11.5)},
		// 6 × 1.5 s capped at 5 s, but 3 × 1.5 s = 4.5 s is less: 5 s.
		{"capped", 1500 * time.Millisecond, secs(0, 5, 10), secs(2.5, 3.5, 4.5, 7.5, 8.5, 9.5)},
		// 6 × 0.1 s is under the interval: every interval, no lookups.
		{"fast read", 100 * time.Millisecond, secs(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				src := &fakeSource{t0: time.Now(), rows: table(5), readTook: tc.took, lookups: true}
				m, l := session(t, src, Config{Interval: time.Second})
				l.on(func() { m.SetWindow(0, 3) })
				time.Sleep(12500 * time.Millisecond)
				if got := upTo(src.calls("whole"), 12500*time.Millisecond); !slices.Equal(got, tc.wholeAt) {
					t.Errorf("whole reads at %v, want %v", got, tc.wholeAt)
				}
				if got := upTo(src.calls("lookup"), 12*time.Second); !slices.Equal(got, tc.lookupsAt) {
					t.Errorf("lookups at %v, want %v", got, tc.lookupsAt)
				}
				var every time.Duration
				l.on(func() { every = m.Frame().FullEvery })
				if want := fullInterval(time.Second, tc.took); every != max(want, EffectiveInterval(time.Second, tc.took)) {
					t.Errorf("frame says a whole read every %v, want %v", every, want)
				}
			})
		})
	}
}

// Without lookups every read is whole: every interval, stretched to 1.5 × a
// read that takes longer than the interval.
func TestCadenceWithoutLookups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{t0: time.Now(), rows: table(5), readTook: 2 * time.Second}
		m, l := session(t, src, Config{Interval: time.Second})
		l.on(func() { m.SetWindow(0, 3) })
		time.Sleep(10 * time.Second)
		if got, want := src.calls("whole"), secs(0, 3, 6, 9); !slices.Equal(got, want) {
			t.Errorf("whole reads at %v, want %v", got, want)
		}
		if got := src.calls("lookup"); len(got) > 0 {
			t.Errorf("lookups at %v from a source that cannot", got)
		}
	})
}

// The window's rows are looked up every interval: changed rows change in the
// frame, rows the kernel no longer has leave the view, and other rows stay as
// the last whole read left them.
func TestLookupsUpdateTheWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{t0: time.Now(), rows: table(6), readTook: 2 * time.Second, lookups: true}
		m, l := session(t, src, Config{Interval: time.Second})
		l.on(func() { m.SetWindow(0, 3) })
		time.Sleep(2500 * time.Millisecond) // the first whole read is in
		src.set(func(s *fakeSource) {
			s.rows[0].State = flow.TCPTimeWait
			s.rows[4].State = flow.TCPTimeWait // outside the window
			s.rows = slices.Delete(s.rows, 1, 2)
		})
		time.Sleep(time.Second) // one lookup at 3 s
		l.on(func() {
			f := m.Frame()
			if f.Len() != 5 {
				t.Fatalf("%d rows in the view, want 5: the gone row is still shown", f.Len())
			}
			if got := f.Row(0).State; got != flow.TCPTimeWait {
				t.Errorf("first row's state %d, want TIME_WAIT from the lookup", got)
			}
			if i := f.Find(table(6)[4].Key()); i < 0 || f.Row(i).State != flow.TCPEstablished {
				t.Errorf("a row outside the window changed before a whole read")
			}
			if !f.RowsAt.Equal(src.t0.Add(3 * time.Second)) {
				t.Errorf("RowsAt %v, want the lookup's time", f.RowsAt.Sub(src.t0))
			}
		})
	})
}

// A failed health read is reported and tried again every interval; the next
// good one replaces the figures.
func TestHealthRetriesAfterAnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("no such file")
		src := &fakeSource{t0: time.Now(), rows: table(2), stats: flow.Stats{Entries: 2, Max: 100}, lookups: true}
		m, l := session(t, src, Config{Interval: time.Second})
		time.Sleep(500 * time.Millisecond)
		src.set(func(s *fakeSource) {
			s.summaryErrs = []error{boom, boom}
			s.stats.Entries = 42
		})
		time.Sleep(2 * time.Second) // health at 1 s and 2 s: both fail
		l.on(func() {
			if f := m.Frame(); !errors.Is(f.HealthErr, boom) {
				t.Errorf("HealthErr %v after two failed reads, want %v", f.HealthErr, boom)
			}
		})
		time.Sleep(time.Second) // at 3 s it works again
		l.on(func() {
			f := m.Frame()
			if f.HealthErr != nil || f.Table.Stats.Entries != 42 {
				t.Errorf("after the retry: HealthErr %v, entries %d; want nil, 42", f.HealthErr, f.Table.Stats.Entries)
			}
		})
		if got := len(src.calls("summary")); got < 4 {
			t.Errorf("%d health reads in 3.5 s: the loop stopped after the error", got)
		}
	})
}

// Stop ends a whole read in progress at its next batch instead of finishing
// it, and returns once the monitor's goroutines have.
func TestStopEndsAReadInProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{t0: time.Now(), rows: table(10 * readBatch), readTook: 10 * time.Second}
		l := newLoop()
		defer close(l.ended)
		m, err := New(Config{Source: src, OnFrame: l.onFrame})
		if err != nil {
			t.Fatal(err)
		}
		m.Start(l.post)
		time.Sleep(3500 * time.Millisecond) // in the fourth of ten batches
		before := time.Now()
		m.Stop()
		if took := time.Since(before); took > time.Second {
			t.Errorf("Stop took %v: the read ran on", took)
		}
		src.mu.Lock()
		defer src.mu.Unlock()
		if !src.stopped {
			t.Error("the read in progress was not told to stop")
		}
	})
}

// Frames arrive in order: the first read's progress, then its end, then
// later reads; a whole read's rows are all merged before it ends.
func TestFramesInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{t0: time.Now(), rows: table(40 * readBatch), readTook: 2 * time.Second}
		m, l := session(t, src, Config{Interval: time.Second})
		time.Sleep(7 * time.Second)
		var rows int
		var changes []Change
		var reads []int
		l.on(func() { rows, changes, reads = m.Frame().Len(), slices.Clone(l.changes), slices.Clone(l.reads) })
		if rows != 40*readBatch {
			t.Fatalf("%d rows in the view, want %d", rows, 40*readBatch)
		}
		firstEnd := slices.Index(changes, ChangeRows)
		if firstEnd < 0 {
			t.Fatalf("no whole read ended; changes %v", changes)
		}
		progress := 0
		for i, c := range changes {
			switch {
			case c == ChangeProgress && i > firstEnd:
				t.Errorf("progress reported after the first read ended (change %d)", i)
			case c == ChangeProgress:
				progress++
			}
			if i > 0 && reads[i] < reads[i-1] {
				t.Errorf("change %d has Reads %d after %d", i, reads[i], reads[i-1])
			}
		}
		if progress != 3 { // batches 1, 17 and 33 of 40
			t.Errorf("%d progress reports, want 3", progress)
		}
		ends := 0
		for i, c := range changes {
			if c == ChangeRows {
				ends++
				if reads[i] != ends {
					t.Errorf("whole read %d ended with Reads %d", ends, reads[i])
				}
			}
		}
		if ends < 2 {
			t.Errorf("%d whole reads ended in 7 s, want at least 2", ends)
		}
	})
}

// A shorter interval applies at once: after 30 s then 1 s, the next read
// comes within 1 s, and so do the health's.
func TestShorterIntervalAppliesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{t0: time.Now(), rows: table(5), readTook: 100 * time.Millisecond}
		m, l := session(t, src, Config{Interval: 30 * time.Second})
		time.Sleep(time.Second)
		l.on(func() { m.SetInterval(time.Second) })
		time.Sleep(1500 * time.Millisecond)
		if got := src.calls("whole"); len(got) < 2 || got[1] > 2100*time.Millisecond {
			t.Errorf("whole reads at %v: the second did not come within 1 s of R 1", got)
		}
		if got := src.calls("summary"); len(got) < 2 || got[1] > 2100*time.Millisecond {
			t.Errorf("health reads at %v: none within 1 s of R 1", got)
		}
	})
}

// A failed whole read keeps the last good rows, marks the frame stale, and is
// tried again after the interval; a good one ends the staleness.
func TestFailedReadKeepsTheLastGoodOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("netlink: connection refused")
		src := &fakeSource{t0: time.Now(), rows: table(3)}
		m, l := session(t, src, Config{Interval: time.Second})
		time.Sleep(500 * time.Millisecond)
		src.set(func(s *fakeSource) { s.readErr = boom })
		time.Sleep(time.Second)
		l.on(func() {
			f := m.Frame()
			if !f.Stale || !errors.Is(f.Err, boom) || f.Len() != 3 {
				t.Errorf("after a failed read: stale %v, err %v, %d rows; want true, %v, 3", f.Stale, f.Err, f.Len(), boom)
			}
		})
		src.set(func(s *fakeSource) { s.readErr = nil })
		time.Sleep(time.Second)
		l.on(func() {
			if f := m.Frame(); f.Stale || f.Err != nil {
				t.Errorf("after a good read: stale %v, err %v", f.Stale, f.Err)
			}
		})
	})
}

// SetView rebuilds the view at once, without a read.
func TestSetViewAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{t0: time.Now(), rows: table(5)}
		m, l := session(t, src, Config{Interval: time.Hour})
		time.Sleep(time.Millisecond)
		reads := len(src.calls("whole"))
		l.on(func() {
			m.SetView(view.Options{Sort: sortby.SrcPort, Reverse: true})
			if got := m.Frame().Row(0).Orig.SrcPort; got != 1004 {
				t.Errorf("first row's port %d after a reversed port sort, want 1004", got)
			}
		})
		if got := len(src.calls("whole")); got != reads {
			t.Errorf("SetView read the table")
		}
	})
}

// A new order of a big table puts its top in place at once, as far as the
// window and a margin, and the rest when a row past it or its position is
// asked for: Row and Find answer as if the whole view were sorted.
func TestNewOrderTopFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{t0: time.Now(), rows: table(20_000)}
		m, l := session(t, src, Config{Interval: time.Hour})
		time.Sleep(time.Millisecond)
		l.on(func() {
			f := m.Frame()
			m.SetWindow(0, 40)
			m.SetOrder(sortby.SrcPort, true)
			if n := f.View.Ordered(); n < 40 || n >= f.Len() {
				t.Fatalf("%d of %d rows in order after a new order, want the window's 40 and a margin", n, f.Len())
			}
			// Ports 1000 to 60999 once, then from 1000 again.
			if got := f.Row(0).Orig.SrcPort; got != 20999 {
				t.Errorf("first row's port %d, want 20999", got)
			}
			last := f.Row(f.Len() - 1)
			if last.Orig.SrcPort != 1000 || f.View.Ordered() != f.Len() {
				t.Errorf("last row's port %d (%d of %d in order), want 1000, all in order", last.Orig.SrcPort, f.View.Ordered(), f.Len())
			}
			m.SetOrder(sortby.SrcPort, false)
			k := table(20_000)[15_000].Key() // port 16000
			if got := f.Find(k); got != 15_000 || f.Row(got).Key() != k {
				t.Errorf("Find past the top: %d, want 15000", got)
			}
		})
	})
}

// Delete is refused read-only and without a deleter; a delete's result
// reaches done on the UI goroutine and a whole read follows.
func TestDelete(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{t0: time.Now(), rows: table(2)}
		ro, _ := session(t, src, Config{Interval: time.Hour, ReadOnly: true, Deleter: &fakeDeleter{}})
		if err := ro.Delete(table(1)[0], func(error) {}); !errors.Is(err, ErrReadOnly) {
			t.Errorf("read-only Delete: %v, want ErrReadOnly", err)
		}
		none, _ := session(t, src, Config{Interval: time.Hour})
		if err := none.Delete(table(1)[0], func(error) {}); !errors.Is(err, ErrCannotDelete) {
			t.Errorf("Delete without a deleter: %v, want ErrCannotDelete", err)
		}

		d := &fakeDeleter{err: source.ErrNotFound}
		src2 := &fakeSource{t0: time.Now(), rows: table(2)}
		m, l := session(t, src2, Config{Interval: time.Hour, Deleter: d})
		time.Sleep(time.Millisecond)
		var got error
		called := false
		l.on(func() {
			if err := m.Delete(table(1)[0], func(err error) { got, called = err, true }); err != nil {
				t.Errorf("Delete: %v", err)
			}
		})
		time.Sleep(time.Millisecond)
		l.on(func() {
			if !called || !errors.Is(got, source.ErrNotFound) {
				t.Errorf("done called %v with %v, want the deleter's ErrNotFound", called, got)
			}
		})
		if n := len(src2.calls("whole")); n != 2 {
			t.Errorf("%d whole reads, want the first and one after the delete", n)
		}
	})
}

type fakeDeleter struct{ err error }

func (d *fakeDeleter) Delete(*flow.Flow) error { return d.err }

// Health read on its own during a whole read is newer than the health the
// read began with: the read's end keeps it.
func TestWholeReadKeepsNewerHealth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{t0: time.Now(), rows: table(2 * readBatch), readTook: 3 * time.Second, stats: flow.Stats{Entries: 10}}
		m, l := session(t, src, Config{Interval: time.Second})
		time.Sleep(3500 * time.Millisecond) // first whole read: 0 to 3 s
		src.set(func(s *fakeSource) { s.stats.Entries = 20 })
		// The second whole read begins at 4.5 s with 20 entries; the health
		// at 5 s reads 30, and the read ends at 7.5 s.
		time.Sleep(1200 * time.Millisecond)
		src.set(func(s *fakeSource) { s.stats.Entries = 30 })
		time.Sleep(2900 * time.Millisecond) // 7.6 s
		l.on(func() {
			if f := m.Frame(); f.Reads != 2 || f.Table.Stats.Entries != 30 {
				t.Errorf("after the second read: reads %d, entries %d; want 2 and the health's newer 30", f.Reads, f.Table.Stats.Entries)
			}
		})
	})
}

// A live table's TTLs count down from the epoch; a saved dump's epoch does
// not shift them (see live.TestFrozenTimeoutsDoNotShift).
func TestTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{t0: time.Now(), rows: table(1)}
		m, l := session(t, src, Config{Interval: 3 * time.Second})
		time.Sleep(10 * time.Second) // read again at 3, 6 and 9 s
		l.on(func() {
			f := m.Frame()
			if got := f.Row(0).TTL(f.Epoch(), time.Now()); got != 290 {
				t.Errorf("TTL %d after 10 s, want 290", got)
			}
		})
	})
}

func TestParseInterval(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1", time.Second, true},
		{" 0.5 ", 500 * time.Millisecond, true},
		{"7200", 2 * time.Hour, true},
		{"86400", 24 * time.Hour, true},
		{"0.1", 100 * time.Millisecond, true},
		{"0.05", 0, false},
		{"86401", 0, false},
		{"NaN", 0, false},
		{"inf", 0, false},
		{"", 0, false},
		{"1s", 0, false},
	} {
		got, err := ParseInterval(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseInterval(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// Whole reads take a sixth of the time, at least every 5 s, but never more
// than a third of the time however slow they are.
func TestFullInterval(t *testing.T) {
	for _, c := range []struct{ took, want time.Duration }{
		{10 * time.Millisecond, time.Second}, // never more often than the interval
		{600 * time.Millisecond, 3600 * time.Millisecond},
		{time.Second, 5 * time.Second},
		{4 * time.Second, 12 * time.Second},
	} {
		if got := fullInterval(time.Second, c.took); got != c.want {
			t.Errorf("a read of %v: whole table every %v, want %v", c.took, got, c.want)
		}
	}
}

// The session holds one copy of the table: a read arrives in batches merged
// into it, with room for the count the source reported plus an eighth, so
// that a table that grows a little is not copied into a fresh allocation,
// and the reader keeps no more than a batch.
func TestOneCopyOfTheTable(t *testing.T) {
	const n = 9000
	var dump strings.Builder
	for i := range n {
		fmt.Fprintf(&dump, "ipv4 2 udp 17 30 src=192.0.2.%d dst=198.51.100.1 sport=%d dport=53 [UNREPLIED] src=198.51.100.1 dst=192.0.2.%d sport=53 dport=%d mark=0 use=1\n",
			i%250, 1024+i, i%250, 1024+i)
	}
	path := filepath.Join(t.TempDir(), "dump")
	if err := os.WriteFile(path, []byte(dump.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := source.NewFileReader(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{Source: r})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.readFirst(); err != nil {
		t.Fatal(err)
	}
	if got := len(m.t.Flows); got != n {
		t.Fatalf("%d rows, want %d", got, n)
	}
	if got, want := cap(m.t.Flows), n+n/8; got != want {
		t.Errorf("the table has room for %d rows, want %d", got, want)
	}
	if got := cap(m.stage.Flows); got > readBatch {
		t.Errorf("the reader kept room for %d rows, more than a batch (%d)", got, readBatch)
	}
}

// BenchmarkWholeRead is the session's own work for one whole read of 200,000
// rows, besides the source's: merging the batches into the table (the UI
// goroutine's, spread over the read), then ending the read and rebuilding
// the view (filter, sort, totals), which the UI goroutine does at once. The
// fake source copies the rows out of its own table first.
func BenchmarkWholeRead(b *testing.B) {
	rows := make([]flow.Flow, 200_000)
	for i := range rows {
		rows[i] = tcpFlow("192.0.2.1", 0, uint32(i%432000))
		rows[i].Orig.Src[14], rows[i].Orig.Src[15] = byte(i>>16), byte(i>>8)
		rows[i].Orig.SrcPort = uint16(i)
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	src := &fakeSource{t0: time.Now(), rows: rows}
	m, err := New(Config{Source: src, View: view.Options{Sort: sortby.Dst}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := m.readFirst(); err != nil {
			b.Fatal(err)
		}
	}
}

// The session keeps the peak of the entry count with its time, after the
// table shrank, and a bounded history of the count.
func TestPeakAndHistory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{t0: time.Now(), rows: table(3), stats: flow.Stats{Entries: 10, Max: 100}}
		m, l := session(t, src, Config{Interval: time.Second})
		time.Sleep(1500 * time.Millisecond)
		src.set(func(s *fakeSource) { s.stats.Entries = 50 })
		time.Sleep(2 * time.Second) // read at 2 s and 3 s
		src.set(func(s *fakeSource) { s.stats.Entries = 20 })
		time.Sleep(2 * time.Second)
		l.on(func() {
			f := m.Frame()
			if f.Table.Stats.Entries != 20 {
				t.Fatalf("entries %d, want 20", f.Table.Stats.Entries)
			}
			if f.Peak != 50 || !f.PeakAt.Equal(src.t0.Add(2*time.Second)) {
				t.Errorf("peak %d at %v, want 50 at 2s", f.Peak, f.PeakAt.Sub(src.t0))
			}
			if n := len(f.History); n < 5 || f.History[n-1].Entries != 20 {
				t.Errorf("history %v: want a sample a second, the last 20", f.History)
			}
		})
		time.Sleep(20 * time.Minute)
		l.on(func() {
			if n := len(m.Frame().History); n != historyLen {
				t.Errorf("%d samples after 20 minutes, want the last %d", n, historyLen)
			}
		})
	})
}

// A namespace deleted by name is seen by the next health read (every
// interval), not only by the next whole read, which may be a minute away.
func TestNamespaceGoneMarksStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Whole reads at 0 and 6 s (a read takes 2 s); health every second.
		src := &fakeSource{t0: time.Now(), rows: table(3), readTook: 2 * time.Second, lookups: true}
		m, l := session(t, src, Config{Interval: time.Second})
		time.Sleep(2500 * time.Millisecond)
		gone := fmt.Errorf("netns blue was deleted (ip netns del): showing its last state: %w", source.ErrNetNSGone)
		src.set(func(s *fakeSource) { s.summaryErrs = []error{gone, gone, gone} })
		time.Sleep(time.Second) // the health read at 3 s
		l.on(func() {
			if f := m.Frame(); !f.Stale || !errors.Is(f.Err, source.ErrNetNSGone) || f.Len() != 3 {
				t.Errorf("stale %v, err %v, %d rows; want stale with the namespace's last 3 rows", f.Stale, f.Err, f.Len())
			}
		})
		if got := len(src.calls("whole")); got != 1 {
			t.Errorf("%d whole reads: the test meant the health to see it first", got)
		}
	})
}

// DeleteAll deletes every flow given, one by one, counting those already
// gone apart; it reports progress on the UI goroutine, stops at another
// error, refuses read-only, and reads the table again at the end.
func TestDeleteAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{t0: time.Now(), rows: table(2)}
		ro, _ := session(t, src, Config{Interval: time.Hour, ReadOnly: true, Deleter: &countingDeleter{}})
		if err := ro.DeleteAll(table(3), nil, func(DeleteResult) { t.Error("done called") }); !errors.Is(err, ErrReadOnly) {
			t.Errorf("read-only DeleteAll: %v, want ErrReadOnly", err)
		}

		rows := table(2500)
		d := &countingDeleter{gone: map[uint16]bool{1000: true, 1001: true, 3000: true}}
		src2 := &fakeSource{t0: time.Now(), rows: table(2)}
		m, l := session(t, src2, Config{Interval: time.Hour, Deleter: d})
		time.Sleep(time.Millisecond)
		var progress []DeleteResult
		var got *DeleteResult
		l.on(func() {
			err := m.DeleteAll(rows, func(r DeleteResult) { progress = append(progress, r) },
				func(r DeleteResult) { got = &r })
			if err != nil {
				t.Errorf("DeleteAll: %v", err)
			}
			// The flows were copied: the caller may reuse its slice.
			clear(rows)
		})
		synctest.Wait()
		time.Sleep(time.Millisecond)
		l.on(func() {
			if want := (DeleteResult{Deleted: 2497, Gone: 3, Total: 2500}); got == nil || *got != want {
				t.Errorf("done with %+v, want %+v", got, want)
			}
			if len(progress) != 2 || progress[0].Deleted+progress[0].Gone != 1000 || progress[1].Deleted+progress[1].Gone != 2000 {
				t.Errorf("progress %+v, want after 1,000 and 2,000", progress)
			}
		})
		if d.n != 2500 || d.ports[0] != 1000 || d.ports[2499] != 3499 {
			t.Errorf("%d deletes, want the 2,500 flows given in order", d.n)
		}
		if n := len(src2.calls("whole")); n != 2 {
			t.Errorf("%d whole reads, want the first and one after the deletes", n)
		}

		d.fail = errors.New("netlink: operation not permitted")
		got = nil
		l.on(func() {
			if err := m.DeleteAll(table(10), nil, func(r DeleteResult) { got = &r }); err != nil {
				t.Errorf("DeleteAll: %v", err)
			}
		})
		synctest.Wait()
		time.Sleep(time.Millisecond)
		l.on(func() {
			if got == nil || got.Err != d.fail || got.Deleted != 0 || got.Total != 10 {
				t.Errorf("done with %+v, want the first delete's error", got)
			}
		})
		if d.n != 2501 {
			t.Errorf("%d deletes, want none after the error", d.n-2500)
		}
	})
}

// countingDeleter deletes every flow but those whose source port is in
// gone (already gone), or fails them all with fail.
type countingDeleter struct {
	mu    sync.Mutex
	gone  map[uint16]bool
	fail  error
	n     int
	ports []uint16
}

func (d *countingDeleter) Delete(f *flow.Flow) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.n++
	d.ports = append(d.ports, f.Orig.SrcPort)
	switch {
	case d.fail != nil:
		return d.fail
	case d.gone[f.Orig.SrcPort]:
		return fmt.Errorf("netlink: %w", source.ErrNotFound)
	}
	return nil
}
