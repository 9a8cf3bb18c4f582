package screen

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/monitor"
	"github.com/gostate/gostate/internal/source"
	"github.com/gostate/gostate/internal/view"
)

// manualClock is a Clock that moves only when the test says so.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []manualTimer
}

type manualTimer struct {
	at time.Time
	ch chan time.Time
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.timers = append(c.timers, manualTimer{c.now.Add(d), ch})
	return ch
}

// Advance moves the clock on and fires the timers that are due.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.ch <- c.now
	}
	c.timers = kept
}

// fakeReader serves tables the test builds, behind the real source
// contract. Each read copies the current table, stamps it with the clock's
// time, and counts.
type fakeReader struct {
	mu    sync.Mutex
	clock *manualClock
	table flow.Table
	err   error
	reads int // whole reads
	// cost is how long a whole read takes: it moves the clock on.
	cost time.Duration
	// lookups makes Refresh look rows up, as the netlink source does.
	lookups   bool
	refreshes int
	// noSummary makes the health unreadable on its own, so that the screen
	// reads the whole table before it comes up.
	noSummary bool
	// hold, when set, holds every whole read until it is closed; held is
	// set once one waits.
	hold chan struct{}
	held atomic.Bool
}

var errNoSummary = errors.New("health cannot be read on its own")

// figures copies everything but the rows into t.
func (r *fakeReader) figures(t *flow.Table) {
	t.Flows = t.Flows[:0]
	t.Stats, t.Source, t.Warnings = r.table.Stats, r.table.Source, r.table.Warnings
	t.Skipped, t.Frozen, t.Timeouts = r.table.Skipped, r.table.Frozen, r.table.Timeouts
	t.ReadAt = r.clock.Now()
}

func (r *fakeReader) Read(t *flow.Table) error {
	return r.ReadBatches(t, len(r.table.Flows)+1, func(rows []flow.Flow) bool {
		t.Flows = append(t.Flows, rows...)
		return true
	})
}

func (r *fakeReader) ReadBatches(t *flow.Table, batch int, each func([]flow.Flow) bool) error {
	r.mu.Lock()
	r.reads++
	err, hold, cost := r.err, r.hold, r.cost
	rows := slices.Clone(r.table.Flows)
	r.figures(t)
	r.mu.Unlock()
	if hold != nil {
		r.held.Store(true)
		<-hold
	}
	if cost > 0 {
		r.clock.Advance(cost)
	}
	if err != nil {
		return err
	}
	for i := 0; i < len(rows); i += batch {
		if !each(rows[i:min(i+batch, len(rows))]) {
			return source.ErrStopped
		}
	}
	t.ReadAt = r.clock.Now()
	return nil
}

func (r *fakeReader) ReadSummary(t *flow.Table) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.err != nil:
		return r.err
	case r.noSummary:
		return errNoSummary
	}
	r.figures(t)
	return nil
}

func (r *fakeReader) Listen(source.EventKind) (source.Listener, error) {
	return nil, source.ErrUnsupported
}

func (r *fakeReader) Refresh(rows []flow.Flow, res []source.Lookup) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.lookups {
		return source.ErrUnsupported
	}
	if rows == nil {
		return nil
	}
	r.refreshes++
	for i := range rows {
		res[i] = source.LookupGone
		for _, f := range r.table.Flows {
			if f.Key() == rows[i].Key() {
				rows[i], res[i] = f, source.LookupFound
			}
		}
	}
	return nil
}

func (r *fakeReader) Close() error { return nil }

func (r *fakeReader) set(f func(t *flow.Table)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.table)
}

func (r *fakeReader) setErr(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

func (r *fakeReader) readCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reads
}

func (r *fakeReader) refreshCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refreshes
}

// fakeDeleter records deletes and answers with err.
type fakeDeleter struct {
	mu      sync.Mutex
	deleted []flow.Flow
	err     error
}

func (d *fakeDeleter) Delete(f *flow.Flow) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.deleted = append(d.deleted, *f)
	return d.err
}

func (d *fakeDeleter) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.deleted)
}

// mkFlow builds a flow from "proto src:sport dst:dport" style arguments.
func mkFlow(proto uint8, src string, sport uint16, dst string, dport uint16) flow.Flow {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	fam := flow.FamilyIPv4
	if s.Is6() {
		fam = flow.FamilyIPv6
	}
	f := flow.Flow{Family: fam, Proto: proto, Present: flow.HasTimeout, Timeout: 120,
		Status: flow.StatusConfirmed | flow.StatusSeenReply}
	f.Orig = flow.Tuple{Src: flow.AddrFrom(s), Dst: flow.AddrFrom(d), SrcPort: sport, DstPort: dport}
	if proto == flow.ProtoICMP || proto == flow.ProtoICMPv6 {
		f.Orig.SrcPort, f.Orig.DstPort, f.Orig.ICMPType = sport, 0, 8
	}
	f.Reply = f.Orig.Mirror()
	if proto == flow.ProtoTCP {
		f.Present |= flow.HasState
		f.State = flow.TCPEstablished
	}
	return f
}

// sampleTable is a small table of every kind of row the screen shows.
func sampleTable() flow.Table {
	t := flow.Table{
		Source: "netlink",
		Stats:  flow.Stats{Entries: 4, Max: 65536, BytesPerEntry: 320, HaveCPU: true},
		Flows: []flow.Flow{
			mkFlow(flow.ProtoTCP, "192.0.2.10", 40000, "198.51.100.7", 443),
			mkFlow(flow.ProtoUDP, "192.0.2.3", 5353, "203.0.113.9", 53),
			mkFlow(flow.ProtoICMP, "198.51.100.1", 77, "192.0.2.200", 0),
			mkFlow(flow.ProtoTCP, "2001:db8::1", 50000, "2001:db8::2", 22),
		},
		Timeouts: []flow.Timeout{{Name: "tcp_established", Seconds: 432000}, {Name: "udp", Seconds: 30}},
	}
	t.Flows[0].Timeout = 431999
	t.Flows[1].Timeout = 30
	t.Flows[2].Timeout = 10
	t.Flows[3].Timeout = 7200
	return t
}

// cfg is a test's settings of the session and of the screen together.
type cfg struct {
	View     view.Options
	Interval time.Duration
	ReadOnly bool

	Counters, Totals, NoColor, Lookup bool
	NameServer, Hostname, Version     string
}

// split gives the session's settings on r and d, and the screen's.
func (c cfg) split(r source.Reader, d source.Deleter, clk monitor.Clock) (monitor.Config, Config) {
	return monitor.Config{Source: r, Deleter: d, ReadOnly: c.ReadOnly, View: c.View, Interval: c.Interval, Clock: clk},
		Config{Counters: c.Counters, Totals: c.Totals, NoColor: c.NoColor, Lookup: c.Lookup,
			NameServer: c.NameServer, Hostname: c.Hostname, Version: c.Version}
}

// harness runs the screen on a simulation screen on its own goroutine.
type harness struct {
	t    *testing.T
	sim  tcell.SimulationScreen
	u    *model
	clk  *manualClock
	r    *fakeReader
	keys chan struct{}
	done chan error
}

func startScreen(t *testing.T, table flow.Table, d source.Deleter, c cfg, width, height int) *harness {
	t.Helper()
	return startReader(t, &fakeReader{clock: newManualClock(), table: table}, d, c, width, height)
}

// newUIRead is newUI on a table read whole before it returns, for tests and
// benchmarks that never run the screen.
func newUIRead(r *fakeReader, c cfg) (*model, error) {
	r.noSummary = true
	mc, sc := c.split(r, nil, r.clock)
	return newUI(mc, sc)
}

// startReader is startScreen with a given reader. It returns once the first
// whole read is on screen.
func startReader(t *testing.T, r *fakeReader, d source.Deleter, c cfg, width, height int) *harness {
	t.Helper()
	h := launch(t, r, d, c, width, height)
	h.waitFor("the first whole read", func(u *model) bool { return u.f.Reads > 0 })
	return h
}

// launch is startReader without waiting for the first whole read.
func launch(t *testing.T, r *fakeReader, d source.Deleter, c cfg, width, height int) *harness {
	t.Helper()
	mc, sc := c.split(r, d, r.clock)
	u, err := newUI(mc, sc)
	if err != nil {
		t.Fatalf("newUI: %v", err)
	}
	h := &harness{t: t, sim: tcell.NewSimulationScreen("UTF-8"), u: u, clk: r.clock, r: r,
		keys: make(chan struct{}, 1), done: make(chan error, 1)}
	u.keyHook = func() { h.keys <- struct{}{} }
	u.app.SetScreen(h.sim)
	h.sim.SetSize(width, height)
	go func() { h.done <- u.run() }()
	t.Cleanup(func() {
		select {
		case err := <-h.done:
			h.done <- err
		default:
			u.app.Stop()
			select {
			case <-h.done:
			case <-time.After(waitLimit):
				t.Error("the screen did not stop")
			}
		}
	})
	h.sync()
	return h
}

// waitLimit bounds every wait for the UI goroutine: a test that reaches it
// has found a hang, not a slow machine.
const waitLimit = 10 * time.Second

// sync waits until the UI goroutine has drawn everything queued so far.
func (h *harness) sync() {
	h.t.Helper()
	done := make(chan struct{})
	go func() {
		h.u.app.QueueUpdateDraw(func() {})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(waitLimit):
		h.t.Fatal("the UI goroutine did not answer")
	}
}

// onUI runs f on the UI goroutine and waits for it.
func (h *harness) onUI(f func()) {
	h.t.Helper()
	done := make(chan struct{})
	go func() {
		h.u.app.QueueUpdate(f)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(waitLimit):
		h.t.Fatal("the UI goroutine did not answer")
	}
}

// key sends one key event and waits until it is handled and drawn.
func (h *harness) key(k tcell.Key, r rune, mod tcell.ModMask) {
	h.t.Helper()
	h.u.app.QueueEvent(tcell.NewEventKey(k, r, mod))
	select {
	case <-h.keys:
	case <-time.After(waitLimit):
		h.t.Fatalf("key %v %q was not handled", k, r)
	}
	h.sync()
}

// typeKeys sends runes as key presses; "\n" is Enter, "\x1b" Esc, "\a" Ctrl-G.
func (h *harness) typeKeys(s string) {
	h.t.Helper()
	for _, r := range s {
		switch r {
		case '\n':
			h.key(tcell.KeyEnter, 0, 0)
		case 0x1b:
			h.key(tcell.KeyEscape, 0, 0)
		case '\a':
			h.key(tcell.KeyCtrlG, 0, 0)
		default:
			h.key(tcell.KeyRune, r, 0)
		}
	}
}

// waitFor waits until cond, run on the UI goroutine, holds.
func (h *harness) waitFor(what string, cond func(u *model) bool) {
	h.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		var ok bool
		h.onUI(func() { ok = cond(h.u) })
		if ok {
			h.sync()
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; screen:\n%s", what, h.text())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// resize gives the terminal a new size and waits until a draw at that size
// shows the selected row: tview takes the resize event and the test's own
// draws in either order.
func (h *harness) resize(w, ht int) {
	h.t.Helper()
	h.sim.SetSize(w, ht)
	h.u.app.QueueEvent(tcell.NewEventResize(w, ht))
	h.waitFor(fmt.Sprintf("a draw at %dx%d", w, ht), func(u *model) bool {
		sw, sh := h.sim.Size()
		_, _, tw, th := u.table.GetRect()
		off, _ := u.table.GetOffset()
		visible := u.f.Len() == 0 || th < 2 || (u.selRow >= off && u.selRow < off+th-1)
		return sw == w && sh == ht && (tw == w || ht < 4) && visible
	})
}

// refresh presses Space and waits for the new read to be on screen: ended
// on the UI goroutine (its rows merged and the view rebuilt), or failed
// after a good one (the screen turned stale).
func (h *harness) refresh() {
	h.t.Helper()
	var reads int
	var stale bool
	h.onUI(func() { reads, stale = h.u.f.Reads, h.u.f.Stale })
	h.key(tcell.KeyRune, ' ', 0)
	h.waitFor("a new read", func(u *model) bool {
		return u.f.Reads > reads || (u.f.Stale && !stale)
	})
}

// lines returns the screen as text, one string per row, trailing blanks cut.
// It reads the screen on the UI goroutine, the only one that draws.
func (h *harness) lines() []string {
	var (
		cells []tcell.SimCell
		w, ht int
	)
	h.onUI(func() {
		c, cw, ch := h.sim.GetContents()
		cells, w, ht = slices.Clone(c), cw, ch
	})
	out := make([]string, ht)
	for y := range ht {
		var b strings.Builder
		for x := range w {
			c := cells[y*w+x]
			if len(c.Runes) == 0 {
				b.WriteByte(' ')
				continue
			}
			b.WriteString(string(c.Runes))
		}
		out[y] = strings.TrimRight(b.String(), " ")
	}
	return out
}

func (h *harness) text() string { return strings.Join(h.lines(), "\n") }

// contains fails unless the screen shows s.
func (h *harness) contains(s string) {
	h.t.Helper()
	if !strings.Contains(h.text(), s) {
		h.t.Errorf("screen lacks %q; screen:\n%s", s, h.text())
	}
}

func (h *harness) lacks(s string) {
	h.t.Helper()
	if strings.Contains(h.text(), s) {
		h.t.Errorf("screen shows %q; screen:\n%s", s, h.text())
	}
}

// rowOf returns the screen row showing s, or -1.
func (h *harness) rowOf(s string) int {
	for i, l := range h.lines() {
		if strings.Contains(l, s) {
			return i
		}
	}
	return -1
}

// order fails unless the screen shows the strings top to bottom in this order.
func (h *harness) order(ss ...string) {
	h.t.Helper()
	prev := -1
	for _, s := range ss {
		r := h.rowOf(s)
		if r < 0 || r <= prev {
			h.t.Fatalf("want %q below the previous row (row %d, previous %d); screen:\n%s", s, r, prev, h.text())
		}
		prev = r
	}
}

// quit presses q and returns Run's result.
func (h *harness) quit() error {
	h.t.Helper()
	h.u.app.QueueEvent(tcell.NewEventKey(tcell.KeyRune, 'q', 0))
	select {
	case err := <-h.done:
		h.done <- err
		return err
	case <-time.After(waitLimit):
		h.t.Fatal("q did not end the screen")
	}
	return nil
}

var errTest = errors.New("netlink: connection refused")

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// pending waits until the reader goroutine waits on the clock, so that an
// Advance that follows reaches it.
func (h *harness) pending() {
	h.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		h.clk.mu.Lock()
		n := len(h.clk.timers)
		h.clk.mu.Unlock()
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatal("the reader never waited on the clock")
		}
		time.Sleep(time.Millisecond)
	}
}
