// Package screen is gostate's live, top-like view of the conntrack table: a
// header with the table's health, the flows (filtered and sorted as the
// one-shot view does), and a status line for prompts and messages.
//
// Data flows one way: a reader goroutine reads the table in batches and hands
// each to the UI goroutine, which merges it into the one copy of the table
// it shows (live.Table) and, when the read ends, rebuilds the view. Only the
// UI goroutine touches that copy, so nothing is locked, and the screen never
// holds a second copy of a table of a million rows.
package screen

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/live"
	"github.com/gostate/gostate/internal/source"
	"github.com/gostate/gostate/internal/view"
)

// Config is what the command line sets for the screen.
type Config struct {
	// View is the initial filter, sort and direction.
	View view.Options
	// Interval is the time between reads (-R); 0 means one second. Values
	// below MinInterval are raised to it.
	Interval time.Duration
	// Counters shows the bytes and packets columns (-C).
	Counters bool
	// Totals shows the per-state totals line (-t).
	Totals bool
	// NoColor turns colours off (-c); NO_COLOR in the environment does too.
	NoColor bool
	// Lookup shows host names instead of addresses (-l).
	Lookup bool
	// NameServer is host:port of the DNS server for -l lookups; empty: the
	// system's, from /etc/resolv.conf. Any form resolve.New accepts.
	NameServer string
	// ReadOnly refuses to delete entries (--read-only).
	ReadOnly bool
	// Hostname is shown in the header.
	Hostname string
	// Version is shown in the header.
	Version string
}

// MinInterval is the shortest refresh interval: shorter ones would turn the
// screen into a busy loop of dumps.
const MinInterval = 100 * time.Millisecond

// Clock is the screen's source of time. Tests substitute a manual clock so
// that refreshes and TTL countdowns happen exactly when they say.
type Clock interface {
	Now() time.Time
	// After behaves as time.After.
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the real time; Run uses it.
var SystemClock Clock = realClock{}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Run shows the screen until the user quits. It restores the terminal on
// every exit path (q, Ctrl-C, SIGTERM, SIGHUP, a panic). d is nil when
// deleting is impossible. The table's health is read before the terminal is
// touched, so a table that cannot be read is reported as a plain error; the
// screen then comes up at once, and the rows follow as they are read.
func Run(r source.Reader, d source.Deleter, cfg Config) error {
	// The heap is nearly all the table's rows, which hold no pointers, so
	// a collection costs little: collect early rather than let the garbage
	// of redraws grow the heap by more than a tenth (the default lets it
	// grow by the whole live heap).
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	u, err := newUI(r, d, cfg, SystemClock)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
			u.app.Stop()
		case <-u.quit:
		}
	}()
	return u.run()
}

// RunScreen is Run on a given screen and clock, for tests: scr is usually a
// tcell.SimulationScreen, initialised and sized or not, and clock a manual
// one (or SystemClock).
func RunScreen(r source.Reader, d source.Deleter, cfg Config, scr tcell.Screen, clock Clock) error {
	u, err := newUI(r, d, cfg, clock)
	if err != nil {
		return err
	}
	if w, _ := scr.Size(); w > 0 {
		// Already initialised (a test may have sized it): tview would
		// initialise it again and undo that.
		scr = initialised{scr}
	}
	u.app.SetScreen(scr)
	return u.run()
}

// initialised is a screen whose Init has already been called.
type initialised struct{ tcell.Screen }

func (initialised) Init() error { return nil }

// shownTable is the table on screen: its one copy of the rows, kept current
// by the reads merged into it, and the view built on them. Only the UI
// goroutine touches it.
type shownTable struct {
	t live.Table
	v view.View
	// hasNAT is true when a shown flow is NAT'd, so the NAT column appears.
	hasNAT bool
	// readTook is how long the last whole-table read took; fullEvery is the
	// time between whole-table reads.
	readTook, fullEvery time.Duration
	// born and gone count flows that appeared and vanished between the last
	// two whole-table reads, elapsed apart.
	born, gone int
	elapsed    time.Duration
	churnKnown bool
	// reads counts completed whole-table reads: rows change their indices
	// in t.Flows only when one completes.
	reads uint64
}

// readBatch is how many rows a whole-table read hands to the UI goroutine at a
// time: 557 KB of rows, small beside the table and large enough that the
// hand-overs cost little (49 of them at 200,000 rows).
const readBatch = 4096

// run starts the reader goroutine and the UI loop, on the screen given to
// the application or else on the terminal, and returns when the user quits.
func (u *model) run() (err error) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		u.readLoop()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		u.healthLoop()
	}()
	defer func() {
		close(u.quit)
		wg.Wait()
		// tview re-raises a panic of its event loop after restoring the
		// terminal; report it as an error instead of a stack trace.
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error: %v", p)
		}
		if err == nil {
			err = u.loopErr()
		}
		if u.resolver != nil {
			u.resolver.Close()
		}
	}()
	return u.app.Run()
}

// errQuit is never shown: it only marks a reader goroutine that saw quit.
var errQuit = errors.New("quit")

// onUI runs f on the UI goroutine, redraws, and waits for it. It returns
// false, without running f, when the screen is closing.
func (u *model) onUI(f func()) bool { return u.queue(f, true) }

// onUIQuiet is onUI without the redraw, for work the screen need not show at
// once (a batch of rows merged during a read).
func (u *model) onUIQuiet(f func()) bool { return u.queue(f, false) }

func (u *model) queue(f func(), draw bool) bool {
	done := make(chan struct{})
	go func() {
		// QueueUpdate never returns once the event loop has ended; this
		// goroutine is then abandoned, and the select below gives up.
		if draw {
			u.app.QueueUpdateDraw(f)
		} else {
			u.app.QueueUpdate(f)
		}
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-u.quit:
		return false
	}
}

// readLoop reads the table on its own goroutine: one read at a time, every
// interval, or at once when the user asks.
func (u *model) readLoop() {
	defer func() {
		if p := recover(); p != nil {
			u.setLoopErr(fmt.Errorf("internal error while reading the table: %v", p))
			u.app.Stop()
		}
	}()
	// Until the first whole read is on screen, its progress is drawn as it
	// merges; later reads are drawn when they end.
	progress := u.shown.reads == 0
	for {
		forced, err := u.waitForRead()
		if err != nil {
			return
		}
		if u.lightOK && !forced && u.clock.Now().Before(u.nextFullRead()) {
			if !u.refreshVisible() {
				return
			}
			continue
		}
		start := u.clock.Now()
		err = u.readTable(progress)
		took := u.clock.Now().Sub(start)
		if errors.Is(err, source.ErrStopped) {
			return
		}
		if err != nil {
			if !u.onUI(func() { u.shown.t.Abort(); u.readFailed(err, took) }) {
				return
			}
			continue
		}
		fullEvery := u.schedule(took, u.lightOK)
		if !u.onUI(func() { u.endRead(start, took, fullEvery); u.readShown() }) {
			return
		}
		progress = false
	}
}

// readTable reads the whole table into u.stage batch by batch, each merged
// into the table on screen on the UI goroutine; with progress, every
// progressEvery-th batch is drawn too. When the screen is closing, the read
// stops there with source.ErrStopped rather than finish a dump that can take
// seconds.
func (u *model) readTable(progress bool) error {
	return u.readBatches(func(batch int, f func()) bool {
		if progress && batch%progressEvery == 1 {
			return u.onUI(f)
		}
		return u.onUIQuiet(f)
	})
}

// progressEvery is how many batches are merged between two draws of the
// first read's progress: ~15 draws for 1,000,000 entries.
const progressEvery = 16

// readBatches reads the whole table into u.stage batch by batch, and has run
// merge each into the table on screen (on the UI goroutine, or directly
// before the screen runs); it stops when run refuses.
func (u *model) readBatches(run func(batch int, f func()) bool) error {
	st := &u.stage
	batch := 0
	return u.r.ReadBatches(st, readBatch, func(rows []flow.Flow) bool {
		at := u.clock.Now()
		batch++
		return run(batch, func() {
			if !u.shown.t.Reading() {
				// The source read the health first: room for the count.
				u.shown.t.Begin(st.Stats.Entries)
			}
			u.shown.t.Merge(rows, at)
		})
	})
}

// healthLoop reads the table's health figures every interval on its own
// goroutine, beside the whole-table reads, so that the header's counts are
// never older than the interval even when a dump takes several seconds or
// runs only every few intervals. Reading them (ReadSummary, into a table of
// its own) costs a few small /proc files, whatever the table's size. When
// they cannot be read, the header is left to the whole-table reads.
func (u *model) healthLoop() {
	var s flow.Table
	for {
		select {
		case <-u.quit:
			return
		case <-u.clock.After(u.currentInterval()):
		}
		at := u.clock.Now()
		if u.r.ReadSummary(&s) != nil {
			return
		}
		if !u.onUI(func() { u.applyStats(&s.Stats, at) }) {
			return
		}
	}
}

// refreshVisible re-reads the rows on screen between whole-table dumps, so
// that they are never older than the interval while the dumps, whose cost
// grows with the table, run less often; the source can look rows up
// (u.lightOK). It returns false when the screen is closing.
func (u *model) refreshVisible() bool {
	lr := &u.light
	var reads uint64
	if !u.onUI(func() { reads = u.visibleRows(lr) }) {
		return false
	}
	err := u.r.Refresh(lr.rows, lr.res)
	at := u.clock.Now()
	u.mu.Lock()
	u.nextRead = at.Add(u.interval)
	u.mu.Unlock()
	return u.onUI(func() {
		if err != nil {
			u.readFailed(err, 0)
			u.forceFull()
			return
		}
		if reads == u.shown.reads {
			u.applyRefresh(lr, at)
		}
	})
}

// lightRead holds the rows on screen while the reader refreshes them; it
// passes between the goroutines only through onUI.
type lightRead struct {
	rows []flow.Flow
	res  []source.Lookup
	// at are the rows' indices in the frame's table.
	at []int32
}

// waitForRead waits until the next read is due, redrawing once a second so
// that the clock and the TTLs count down between long intervals. forced is
// true when the user asked for a read (Space).
func (u *model) waitForRead() (forced bool, err error) {
	for {
		now := u.clock.Now()
		u.mu.Lock()
		next := u.nextRead
		u.mu.Unlock()
		if !now.Before(next) {
			return false, nil
		}
		step := next.Sub(now)
		tick := step > time.Second
		if tick {
			step = time.Second
		}
		select {
		case <-u.quit:
			return false, errQuit
		case <-u.refreshNow:
			return true, nil
		case <-u.intervalChanged:
		case <-u.scrolled:
			return false, nil
		case <-u.clock.After(step):
			if tick && !u.onUI(u.tick) {
				return false, errQuit
			}
		}
	}
}

// nextFullRead is when the next whole-table read is due.
func (u *model) nextFullRead() time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.nextFull
}

// schedule sets the time of the next read after a whole-table read that took
// took, and returns the time between whole-table reads. light says whether
// the rows on screen can be refreshed between whole-table reads. It runs on
// the reader goroutine.
func (u *model) schedule(took time.Duration, light bool) (fullEvery time.Duration) {
	now := u.clock.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	start := now.Add(-took)
	eff := effectiveInterval(u.interval, took)
	u.nextRead = start.Add(eff)
	u.nextFull = u.nextRead
	if light {
		u.nextRead = now.Add(u.interval)
		u.nextFull = start.Add(max(eff, fullInterval(u.interval, took)))
	}
	return u.nextFull.Sub(start)
}

// Whole-table reads cost CPU in proportion to the table (mostly the
// kernel's, walking its hash and building a message per entry). When the
// rows on screen can be refreshed on their own, a whole read runs only every
// dumpShare-th of the time, but at least every maxFullAge, so that what only
// a whole read gives (totals per protocol and state, new and gone flows) is
// never older; at 200,000 entries a read takes ~0.7 s, one every 4.4 s.
// A table whose read takes longer than maxFullAge/maxDumpShare cannot have
// both: there, reading never takes more than a maxDumpShare-th of the time,
// since a monitor must stay light on a machine in trouble (1,000,000
// entries: a 4 s read every 12 s, not every 6 s).
const (
	dumpShare    = 6
	maxDumpShare = 3
	maxFullAge   = 5 * time.Second
)

// fullInterval is the time between whole-table reads that took took each.
func fullInterval(interval, took time.Duration) time.Duration {
	return max(interval, min(dumpShare*took, maxFullAge), maxDumpShare*took)
}

// effectiveInterval stretches the interval when a read takes longer than
// it, so that reading never takes more than two thirds of the time.
func effectiveInterval(interval, took time.Duration) time.Duration {
	if took > interval {
		return took + took/2
	}
	return interval
}

func (u *model) setLoopErr(err error) {
	u.mu.Lock()
	u.lerr = err
	u.mu.Unlock()
}

func (u *model) loopErr() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.lerr
}
