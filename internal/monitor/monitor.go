// Package monitor runs a live session on the conntrack table: it reads the
// table again and again from a source, keeps one copy of it current
// (live.Table), builds the view asked for (filter, order, totals) and hands
// the result to a user interface as a Frame. It knows nothing about
// terminals: the live screen is one user of it.
//
// Goroutines: everything that touches the table, the view or the frame runs
// on the user interface's goroutine (the UI goroutine), through the Post
// function the interface gives to Start, so nothing is locked and no row is
// ever copied for another goroutine. The monitor's own goroutines only read
// from the source and wait: one for whole-table reads and lookups of the rows
// on screen, one for the table's health, and one per delete.
//
// A whole read arrives in batches that are merged into the table on the UI
// goroutine as they come; rows keep their indices until the read ends, so
// the view stays valid during a read, and the view is rebuilt when it ends.
package monitor

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/live"
	"github.com/gostate/gostate/internal/sortby"
	"github.com/gostate/gostate/internal/source"
	"github.com/gostate/gostate/internal/view"
)

// Config says what a session watches and how.
type Config struct {
	// Source is the table to watch. The monitor reads it; the caller
	// closes it after Stop.
	Source source.Reader
	// Deleter deletes flows from the table; nil when the source cannot.
	Deleter source.Deleter
	// ReadOnly refuses every delete (--read-only).
	ReadOnly bool
	// View is the first filter and order.
	View view.Options
	// Interval is the time between reads: DefaultInterval when 0, and held
	// between MinInterval and MaxInterval.
	Interval time.Duration
	// Clock is the source of time; nil means the system's.
	Clock Clock
	// OnFrame is called on the UI goroutine after the monitor changed the
	// frame, with what changed. Commands (SetView, SetInterval, ...) change
	// the frame without calling it: their caller knows what it asked for.
	OnFrame func(f *Frame, c Change)
}

// Post runs f on the UI goroutine, then redraws the interface when redraw is
// set, and returns once f has run. It returns false, without running f, once
// the interface has ended.
type Post func(f func(), redraw bool) bool

// Change says what changed in a frame.
type Change uint8

// What a frame change can be; OnFrame receives one at a time.
const (
	// ChangeRows: a whole read ended and the view was rebuilt; rows have
	// new indices and positions in the view.
	ChangeRows Change = 1 << iota
	// ChangeProgress: rows of the whole read in progress were merged
	// (reported while no whole read has ended yet).
	ChangeProgress
	// ChangeRefresh: rows in the window were read again in place; rows
	// gone from the table left the view.
	ChangeRefresh
	// ChangeHealth: the health figures were read, or could not be.
	ChangeHealth
	// ChangeStale: a read failed; the frame shows the last good one.
	ChangeStale
	// ChangeEventsLost: the kernel dropped events (Frame.Resyncing); a
	// whole read is on its way.
	ChangeEventsLost
	// ChangeTick: a second passed without a read (TTLs and clocks move).
	ChangeTick
	// ChangeFatal: the monitor stopped on an internal error (Frame.Fatal).
	ChangeFatal
)

// Errors of Delete.
var (
	// ErrReadOnly means the session was started read-only.
	ErrReadOnly = errors.New("read-only mode (--read-only): deleting is disabled")
	// ErrCannotDelete means the source cannot delete entries.
	ErrCannotDelete = errors.New("this source cannot delete entries (only the live netlink source can)")
	// ErrNotFound means the flow to delete was already gone.
	ErrNotFound = source.ErrNotFound
)

// Frame is what a session shows: a view of the one live table and the
// figures read beside it. It belongs to the UI goroutine, which may read it
// at any time; the monitor changes it only there.
type Frame struct {
	// Table is the live table: its rows, in place, never copied, and the
	// last whole read's figures (source, warnings, timeouts, and ReadAt,
	// when that read ended). Its Stats are the newest health figures,
	// read at StatsAt, often between whole reads.
	Table *flow.Table
	// View is the filtered, ordered rows (indices into Table.Flows) and
	// their totals; Options is what it was built with.
	View    *view.View
	Options view.Options

	// StatsAt is when Table.Stats were read. Delta is how much the kernel's
	// counters (drop, insert_failed, early_drop, insert) grew since the
	// figures shown before them, read DeltaOver earlier, when HaveDelta.
	StatsAt   time.Time
	Delta     flow.CPUStats
	DeltaOver time.Duration
	HaveDelta bool
	// Peak is the most entries read since the session began, at PeakAt;
	// History is the count over the last minutes, oldest first, at most a
	// sample a second.
	Peak    int
	PeakAt  time.Time
	History []Sample
	// HealthErr is why the last read of the health failed, nil when it
	// worked; the monitor tries again every interval.
	HealthErr error

	// Reads counts the whole reads that ended; 0 until the first one has.
	Reads int
	// Reading is true while a whole read merges its rows: Merged of the
	// Expected (the count read before it; 0 when unknown).
	Reading          bool
	Merged, Expected int
	// ReadTook is how long the last whole read took, FullEvery the time
	// between whole reads.
	ReadTook, FullEvery time.Duration
	// Interval is the time between reads.
	Interval time.Duration
	// CanRefresh is true when the rows in the window are read again every
	// interval between whole reads (the source looks single rows up).
	CanRefresh bool
	// RowsAt is when the rows in the window were last read: the end of a
	// whole read or a lookup of the window's rows.
	RowsAt time.Time

	// Born and Gone count the flows that appeared and left over Over: while
	// events keep the table, the NEW events between the last two health
	// reads (every interval), and the DESTROY events or, when more, the
	// new flows less the entry count's growth (flows made before gostate
	// listened may send no DESTROY); otherwise the flows the last whole read found new
	// and gone since the one before, which misses those that came and went
	// between them. Over is 0 until there are two. (The
	// kernel's insert counter is no measure: it counts entries made over
	// ctnetlink, not those of packets.)
	Born, Gone int
	Over       time.Duration

	// Events is true while the kernel's events keep the table current
	// between whole reads (see events.go); EventsOff is why they do not,
	// when that is worth saying (events turned off in the namespace, given
	// up after overruns). EventCount counts the events applied; Overruns the
	// times events were lost, OverrunErr and OverrunAt the last such time's
	// report and time. Resyncing is true from an overrun until a whole read
	// that began after it has ended: until then the table may miss flows
	// and hold gone ones.
	Events     bool
	EventsOff  error
	EventCount int
	Overruns   int
	OverrunErr error
	OverrunAt  time.Time
	Resyncing  bool

	// Stale is true when the last read failed, Err saying why: the frame
	// shows the last good read.
	Stale bool
	Err   error
	// Fatal is set when the monitor stopped on an internal error.
	Fatal error

	t *live.Table
}

// Len returns the number of rows in the view.
func (f *Frame) Len() int { return len(f.View.Idx) }

// Row returns the i-th row of the view (0 ≤ i < Len).
func (f *Frame) Row(i int) *flow.Flow { return &f.Table.Flows[f.View.At(i)] }

// Find returns the position in the view of the flow with identity k, or -1.
func (f *Frame) Find(k flow.Key) int {
	row := f.t.Find(k)
	if row < 0 {
		return -1
	}
	// The view is in display order: the row is found through the table's
	// index first, then among the view's indices, rather than by reading
	// rows in display order, which would visit a million rows at random.
	i := slices.Index(f.View.Idx, int32(row))
	if i >= f.View.Ordered() {
		// Past the top the view put in order: order the rest.
		f.View.Ensure(f.Len())
		i = slices.Index(f.View.Idx, int32(row))
	}
	return i
}

// Epoch is the time the rows' timeouts count from: a row has
// row.TTL(f.Epoch(), now) seconds left at the time now, unless the table is
// a saved dump (Table.Frozen), whose timeouts are as saved.
func (f *Frame) Epoch() time.Time { return f.t.Epoch }

// Monitor is one live session. Its commands (SetView, SetInterval,
// RefreshNow, SetWindow, Delete) and its Frame are for the UI goroutine.
type Monitor struct {
	src      source.Reader
	del      source.Deleter
	readOnly bool
	clock    Clock
	onFrame  func(*Frame, Change)

	// The UI goroutine's.
	t      live.Table
	v      view.View
	frame  Frame
	window struct{ first, n int }
	// layout counts the times rows were renumbered (a whole read's end,
	// a settling of destroyed flows): indices taken before are stale.
	layout int
	// events is the subscription to the table's events, nil without;
	// changed is true when events changed the table since the view was
	// built; overrunsAt are the recent overruns' times.
	events     source.Listener
	changed    bool
	overrunsAt []time.Time
	// newEvents and goneEvents count the NEW and DESTROY events applied;
	// counted holds them and the kernel's entry count as of the health
	// read at countedAt, the start of the frame's Born and Gone.
	newEvents, goneEvents int
	counted               struct{ newEvents, goneEvents, entries int }
	countedAt             time.Time
	// closeEvents ends the subscription, once, from any goroutine; set by
	// Start before the goroutines it starts.
	closeEvents func()

	// The reader goroutine's: a whole read's figures (the UI goroutine
	// reads them while the reader waits for it), and the rows of the
	// window while they are looked up.
	stage flow.Table
	lr    lookup

	// mu guards the schedule, shared by the reader goroutine and the
	// commands.
	mu       sync.Mutex
	interval time.Duration
	nextRead time.Time
	nextFull time.Time
	// lastStart and lastTook are the last whole read's; haveRead is false
	// until one ended.
	lastStart time.Time
	lastTook  time.Duration
	haveRead  bool

	post      Post
	quit      chan struct{}
	stopOnce  sync.Once
	readNow   chan struct{} // a whole read now (Space, after a delete)
	wake      chan struct{} // the schedule changed
	scrolled  chan struct{} // other rows came into the window
	healthNow chan struct{} // the interval changed
	wg        sync.WaitGroup
}

// New starts a session on cfg.Source. It reads the table's health before
// anything else, which takes milliseconds whatever the table's size, so that
// an interface can show it at once while Start's first whole read brings the
// rows. A source whose health cannot be read on its own is read whole here
// instead. The error is the source's when neither can be read.
func New(cfg Config) (*Monitor, error) {
	if cfg.Clock == nil {
		cfg.Clock = SystemClock
	}
	m := &Monitor{
		src: cfg.Source, del: cfg.Deleter, readOnly: cfg.ReadOnly,
		clock: cfg.Clock, onFrame: cfg.OnFrame,
		interval:  clampInterval(cfg.Interval),
		quit:      make(chan struct{}),
		readNow:   make(chan struct{}, 1),
		wake:      make(chan struct{}, 1),
		scrolled:  make(chan struct{}, 1),
		healthNow: make(chan struct{}, 1),
	}
	m.frame = Frame{Table: &m.t.Table, View: &m.v, Options: cfg.View, t: &m.t, Interval: m.interval}
	// A call without rows asks whether the source can look rows up at all.
	m.frame.CanRefresh = m.src.Refresh(nil, nil) == nil
	start := m.clock.Now()
	if err := m.src.ReadSummary(&m.stage); err == nil {
		m.t.SetFigures(&m.stage)
		m.statsRead(&flow.Stats{}, start)
		return m, nil
	}
	if err := m.readFirst(); err != nil {
		return nil, err
	}
	return m, nil
}

// Frame returns the session's frame, for the UI goroutine.
func (m *Monitor) Frame() *Frame { return &m.frame }

// Start starts reading: a whole read at once (unless New had to do it), then
// on the schedule. post runs the monitor's changes on the UI goroutine.
func (m *Monitor) Start(post Post) {
	m.post = post
	m.listen()
	if l := m.events; l != nil {
		m.closeEvents = sync.OnceFunc(func() { l.Close() })
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.eventLoop(l)
		}()
	}
	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		m.readLoop()
	}()
	go func() {
		defer m.wg.Done()
		m.healthLoop()
	}()
}

// Stop ends the session: a read in progress stops within a batch, and Stop
// returns when the monitor's goroutines have. It may be called more than
// once, from any goroutine.
func (m *Monitor) Stop() {
	m.stopOnce.Do(func() {
		close(m.quit)
		if m.closeEvents != nil {
			m.closeEvents()
		}
	})
	m.wg.Wait()
}

// SetView filters and orders the table anew, at once.
func (m *Monitor) SetView(o view.Options) {
	fresh := NeedsWholeReads(m.frame.Options.Sort) != NeedsWholeReads(o.Sort)
	m.frame.Options = o
	m.rebuild()
	if fresh {
		m.rescheduleFor()
	}
}

// rescheduleFor reschedules whole reads for an order that needs them more
// or less often than the one before, while events keep the table.
func (m *Monitor) rescheduleFor() {
	if !m.frame.Events {
		return
	}
	m.mu.Lock()
	m.reschedule()
	m.mu.Unlock()
	signal(m.wake)
}

// SetOrder orders the view anew by k (reversed or not), at once, as SetView
// with only the order changed does, but keeps the view's rows instead of
// filtering the table again: flows that events brought since then join at
// the next rebuild, within an interval.
func (m *Monitor) SetOrder(k sortby.Key, reverse bool) {
	o := m.frame.Options
	o.Sort, o.Reverse = k, reverse
	if m.changed {
		m.SetView(o)
		return
	}
	fresh := NeedsWholeReads(m.frame.Options.Sort) != NeedsWholeReads(o.Sort)
	m.frame.Options = o
	view.Reorder(&m.t.Table, &m.frame.Options, &m.v, m.topRows())
	if fresh {
		m.rescheduleFor()
	}
}

// SetInterval changes the time between reads (held between MinInterval and
// MaxInterval). A shorter one applies at once: the next read comes within
// the new interval, not at the time the old one set.
func (m *Monitor) SetInterval(d time.Duration) {
	d = clampInterval(d)
	now := m.clock.Now()
	m.mu.Lock()
	m.interval = d
	if next := now.Add(d); next.Before(m.nextRead) {
		m.nextRead = next
	}
	m.reschedule()
	m.mu.Unlock()
	m.frame.Interval = d
	signal(m.wake)
	signal(m.healthNow)
}

// RefreshNow asks for a whole read at once; one in progress is not
// disturbed, and a request made during it is served after it.
func (m *Monitor) RefreshNow() { signal(m.readNow) }

// SetWindow says which rows of the view the interface shows: n rows from
// position first. Those rows are read again every interval between whole
// reads, and at once when other rows come into the window.
func (m *Monitor) SetWindow(first, n int) {
	if first == m.window.first && n == m.window.n {
		return
	}
	m.window.first, m.window.n = first, n
	if m.frame.CanRefresh {
		signal(m.scrolled)
	}
}

// CanDelete returns nil when Delete may delete, or why it may not
// (ErrReadOnly, ErrCannotDelete).
func (m *Monitor) CanDelete() error {
	switch {
	case m.readOnly:
		return ErrReadOnly
	case m.del == nil:
		return ErrCannotDelete
	}
	return nil
}

// Delete deletes f from the kernel's table on another goroutine, then calls
// done with the result on the UI goroutine (source.ErrNotFound when it was
// already gone) and reads the table again. It refuses at once, without
// calling done, with CanDelete's error.
func (m *Monitor) Delete(f flow.Flow, done func(err error)) error {
	if err := m.CanDelete(); err != nil {
		return err
	}
	go func() {
		err := m.del.Delete(&f)
		m.do(func() {
			done(err)
			m.RefreshNow()
		}, true)
	}()
	return nil
}

// DeleteResult is how a DeleteAll went so far: Deleted flows deleted, Gone
// already gone (source.ErrNotFound), of Total; Err is the error that
// stopped it, nil while it goes on and when it ended well.
type DeleteResult struct {
	Deleted, Gone, Total int
	Err                  error
}

// deleteProgressEvery is how many flows DeleteAll deletes between two
// progress reports: a report waits for the UI goroutine.
const deleteProgressEvery = 1000

// DeleteAll deletes flows from the kernel's table one by one (each by its
// tuple, zone and id, as Delete does: never a flush, never a filter) on
// another goroutine. It copies flows first, so that the caller's slice may
// change at once. progress, when not nil, is called on the UI goroutine
// every deleteProgressEvery flows; done once at the end, then the table is
// read again. An error other than source.ErrNotFound stops the deletes and
// reaches done in the result. It refuses at once, calling neither, with
// CanDelete's error.
func (m *Monitor) DeleteAll(flows []flow.Flow, progress, done func(DeleteResult)) error {
	if err := m.CanDelete(); err != nil {
		return err
	}
	rows := slices.Clone(flows)
	go func() {
		r := DeleteResult{Total: len(rows)}
		for i := range rows {
			select {
			case <-m.quit:
				return
			default:
			}
			switch err := m.del.Delete(&rows[i]); {
			case err == nil:
				r.Deleted++
			case errors.Is(err, source.ErrNotFound):
				r.Gone++
			default:
				r.Err = err
			}
			if r.Err != nil {
				break
			}
			if n := i + 1; progress != nil && n%deleteProgressEvery == 0 && n < len(rows) {
				now := r
				m.do(func() { progress(now) }, true)
			}
		}
		m.do(func() {
			done(r)
			m.RefreshNow()
		}, true)
	}()
	return nil
}

// rebuild filters, orders and totals the table anew. Of a big table only
// the top of the order is put in place at once, as far as the window and
// topMargin rows past it: the rest when it is first asked for (Frame.Row,
// Frame.Find), which on a screen at the top of the order is never before
// the next rebuild.
func (m *Monitor) rebuild() {
	view.BuildTop(&m.t.Table, &m.frame.Options, &m.v, m.topRows())
}

// topRows is how many rows of the order a rebuild puts in place at once:
// all of a table not eight times the rows of the window and its margin
// (the top is then not worth it).
func (m *Monitor) topRows() int {
	n := max(m.window.first, 0) + max(m.window.n, 0) + topMargin
	if n > len(m.t.Flows)/8 {
		return len(m.t.Flows)
	}
	return n
}

// topMargin is how many rows past the window a rebuild puts in order at
// once: a page or two to scroll to without sorting the rest.
const topMargin = 128

func (m *Monitor) notify(c Change) {
	if m.onFrame != nil {
		m.onFrame(&m.frame, c)
	}
}

// do runs f on the UI goroutine and waits for it; false means the session
// is ending and f may not have run.
func (m *Monitor) do(f func(), redraw bool) bool {
	select {
	case <-m.quit:
		return false
	default:
	}
	done := make(chan bool, 1)
	go func() {
		// A Post that never returns once the interface has ended
		// abandons this goroutine; the select below gives up on it.
		done <- m.post(f, redraw)
	}()
	select {
	case ok := <-done:
		return ok
	case <-m.quit:
		return false
	}
}

// statsRead notes that the health figures in the table, read at the time at,
// replaced prev: the drop counters' growth is since prev.
func (m *Monitor) statsRead(prev *flow.Stats, at time.Time) {
	f, s := &m.frame, &m.t.Stats
	f.HaveDelta = s.HaveCPU && prev.HaveCPU && !f.Stale && !f.StatsAt.IsZero()
	if f.HaveDelta {
		f.Delta, f.DeltaOver = cpuDelta(s.CPU, prev.CPU), at.Sub(f.StatsAt)
	}
	f.StatsAt = at
	m.record(s.Entries, at)
	if f.Events {
		if !m.countedAt.IsZero() && at.After(m.countedAt) {
			c := &m.counted
			f.Born, f.Gone = m.newEvents-c.newEvents, m.goneEvents-c.goneEvents
			f.Over = at.Sub(m.countedAt)
			// Flows made before the subscription may leave without
			// a DESTROY (events.go); the count's change says how
			// many left.
			f.Gone = max(f.Gone, f.Born-(s.Entries-c.entries))
		}
		m.counted.newEvents, m.counted.goneEvents, m.counted.entries = m.newEvents, m.goneEvents, s.Entries
		m.countedAt = at
	}
}

// cpuDelta is how much the counters grew from prev to now; a counter that
// went down (the module was reloaded) grew by 0.
func cpuDelta(now, prev flow.CPUStats) flow.CPUStats {
	sub := func(a, b uint64) uint64 {
		if a < b {
			return 0
		}
		return a - b
	}
	return flow.CPUStats{
		Drop:         sub(now.Drop, prev.Drop),
		InsertFailed: sub(now.InsertFailed, prev.InsertFailed),
		EarlyDrop:    sub(now.EarlyDrop, prev.EarlyDrop),
		Insert:       sub(now.Insert, prev.Insert),
	}
}

// signal wakes whoever waits on c, without waiting itself.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// fatal records an internal error of a monitor goroutine and tells the
// interface, which should end.
func (m *Monitor) fatal(p any) {
	err := fmt.Errorf("internal error while reading the table: %v", p)
	m.do(func() {
		m.frame.Fatal = err
		m.notify(ChangeFatal)
	}, true)
}
