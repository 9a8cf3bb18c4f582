package monitor

import (
	"errors"
	"fmt"
	"time"

	"github.com/gostate/gostate/internal/sortby"
	"github.com/gostate/gostate/internal/source"
)

// Following the kernel's events. The kernel announces every flow it creates,
// every change of a flow's state or status, and every flow it destroys, to
// whoever listens (ctnetlink's NEW, UPDATE and DESTROY groups); the session
// applies them to its table as they come, so that the set of flows and their
// states stay current without reading the whole table. What events cannot
// tell decides the rest:
//   - flows made while nothing listened never send UPDATE or DESTROY (with
//     nf_conntrack_events=2 the kernel gives a new flow its event state only
//     when a listener exists; it checks the whole machine, not the
//     namespace, so another namespace's listener gives them one), and
//     the kernel drops events silently when the socket's buffer is full
//     (ENOBUFS aside): a whole read reconciles the table at least every
//     reconcileEvery, at once after an overrun, and sooner when the table
//     holds a staleShare more flows than the kernel counts (reconcileSoon);
//   - a packet that refreshes a flow's timeout sends nothing: TTLs count
//     down locally, a busy flow's to 0, until a lookup of the rows on screen
//     (every interval) or a whole read settles it;
//   - counters come only with DESTROY: orders by TTL, bytes or packets
//     need whole reads as often as without events.

// reconcileEvery is the longest time between two whole reads while events
// keep the table current.
const reconcileEvery = 60 * time.Second

// staleShare is the share of the kernel's count by which the table may hold
// more flows than the kernel before a whole read comes early: flows made
// before the subscription that left (deleted, evicted, expired and reaped)
// without a DESTROY stay in the table until a whole read. At 1,000 such a second and 200,000
// entries, waiting reconcileEvery held 60,000 flows no longer there, shown
// as if they were, and grew the rows past their room: copying them made the
// screen's peak RSS 98 MiB (55 without). A sixteenth keeps such flows under
// 7 % of those shown and within the room Begin makes.
const staleShare = 16

// reconcileSoon brings the next whole read forward when the table holds more
// flows than the kernel counts by over a staleShare-th of them; reading
// still never takes more than a maxDumpShare-th of the time.
func (m *Monitor) reconcileSoon(entries int) {
	if !m.frame.Events || m.t.Reading() || m.t.Rows()-entries <= max(entries/staleShare, minStale) {
		return
	}
	m.mu.Lock()
	soon := m.lastStart.Add(maxDumpShare * m.lastTook)
	if m.haveRead && soon.Before(m.nextFull) {
		m.nextFull = soon
		m.nextRead = earliest(m.nextRead, soon)
	}
	m.mu.Unlock()
	signal(m.wake)
}

// minStale is the fewest stale flows that bring a whole read forward: a
// small table is read in full every reconcileEvery anyway, cheaply.
const minStale = 256

// Events are handed to the UI goroutine in batches. A batch smaller than
// smallBatch means the socket held no more, and the next is read eventPause
// later, so that a steady trickle (a firewall's state changes: eight events
// for each TCP connection) costs a few wake-ups a second instead of one per
// event: under 1,000 real TCP connections a second at 200,000 entries this
// took the screen from 0.32 to 0.17 core (and the listener's socket kept
// out of the runtime's poller, to 0.09). The socket's 2 MiB hold the events
// of 165,000 a second over the pause; bigger batches come at once.
const (
	smallBatch = 64
	eventPause = 20 * time.Millisecond
)

// Overruns: after maxOverruns within overrunWindow, events are given up for
// whole reads on the usual schedule.
const (
	maxOverruns   = 3
	overrunWindow = time.Minute
)

// listen subscribes to the table's events before the first whole read, so
// that nothing that happens during it is missed; a source that cannot (a
// /proc file, a saved dump, events turned off in the namespace) is read on
// the usual schedule instead, and the frame says why when it is not obvious.
func (m *Monitor) listen() {
	l, err := m.src.Listen(source.EventAll)
	switch {
	case err == nil:
		m.events = l
		m.frame.Events = true
	case errors.Is(err, source.ErrUnsupported):
	default:
		m.frame.EventsOff = err
	}
}

// eventLoop reads the events on its own goroutine and applies each batch to
// the table on the UI goroutine, during whole reads too: a read of a million
// entries takes seconds, in which a busy firewall sends more events than a
// socket's buffer holds.
func (m *Monitor) eventLoop(l source.Listener) {
	defer func() {
		if p := recover(); p != nil {
			m.fatal(p)
		}
	}()
	for {
		err := l.Read(func(evs []source.Event) bool {
			at := m.clock.Now()
			if !m.do(func() { m.applyEvents(evs, at) }, false) {
				return false
			}
			if len(evs) >= smallBatch {
				return true
			}
			// The socket had no more: let events gather there for a
			// moment rather than wake both goroutines for each.
			select {
			case <-m.clock.After(eventPause):
				return true
			case <-m.quit:
				return false
			}
		})
		switch {
		case errors.Is(err, source.ErrStopped), errors.Is(err, source.ErrClosed):
			return
		case errors.Is(err, source.ErrOverrun):
			if !m.do(func() { m.overrun(err) }, true) {
				return
			}
		default:
			m.do(func() { m.stopEvents(fmt.Errorf("events failed: %w", err)) }, true)
			return
		}
	}
}

// applyEvents applies a batch of events to the table: new and changed flows
// in place (new ones join the view when it is next rebuilt), destroyed ones
// marked gone until the table is next settled. No row moves.
func (m *Monitor) applyEvents(evs []source.Event, at time.Time) {
	for i := range evs {
		e := &evs[i]
		switch e.Kind {
		case source.EventDestroy:
			m.t.Destroy(e.Flow.Key())
			m.goneEvents++
		case source.EventNew:
			m.newEvents++
			fallthrough
		default:
			m.t.Upsert(&e.Flow, at)
		}
	}
	m.changed = true
	m.frame.EventCount += len(evs)
}

// overrun notes that events were lost: the table may now miss flows or hold
// gone ones until a whole read, which is asked for at once. Too many
// overruns in a row give events up.
func (m *Monitor) overrun(err error) {
	f := &m.frame
	now := m.clock.Now()
	f.Overruns++
	f.OverrunErr, f.OverrunAt, f.Resyncing = err, now, true
	m.overrunsAt = append(m.overrunsAt, now)
	for len(m.overrunsAt) > 0 && now.Sub(m.overrunsAt[0]) > overrunWindow {
		m.overrunsAt = m.overrunsAt[1:]
	}
	if len(m.overrunsAt) >= maxOverruns {
		m.stopEvents(fmt.Errorf("events overran %d times in %v: reading the whole table instead", len(m.overrunsAt), overrunWindow))
	}
	m.RefreshNow()
	m.notify(ChangeEventsLost)
}

// stopEvents gives events up: whole reads keep the table current from now
// on, on the usual schedule.
func (m *Monitor) stopEvents(why error) {
	if m.events == nil {
		return
	}
	m.events = nil
	m.frame.Events, m.frame.EventsOff = false, why
	// Whole reads count the flows from the next on.
	m.frame.Born, m.frame.Gone, m.frame.Over = 0, 0, 0
	// Not on the UI goroutine: the event goroutine may be waiting for it,
	// and its Read ends when the subscription closes.
	go m.closeEvents()
	m.mu.Lock()
	m.reschedule()
	m.mu.Unlock()
}

// settle removes the flows the kernel destroyed and rebuilds the view, when
// events changed the table since the view was built. It reports whether it
// did.
func (m *Monitor) settle() bool {
	if !m.changed || m.t.Reading() {
		return false
	}
	m.changed = false
	if m.t.Settle() > 0 {
		m.layout++
	}
	m.rebuild()
	return true
}

// NeedsWholeReads reports whether an order needs values that only whole
// reads bring up to date (events carry no timeout refreshes and no counters
// before DESTROY): with events, whole reads come on the usual schedule for
// it instead of every reconcileEvery.
func NeedsWholeReads(k sortby.Key) bool {
	return k == sortby.TTL || k == sortby.Bytes || k == sortby.Packets || k == sortby.Rate
}
