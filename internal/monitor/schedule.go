package monitor

import (
	"errors"
	"slices"
	"time"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/source"
)

// Whole reads cost CPU in proportion to the table (mostly the kernel's,
// walking its hash and building a message per entry). When the rows in the
// window can be looked up on their own, a whole read runs only every
// dumpShare-th of the time, but at least every maxFullAge, so that what only
// a whole read gives (totals per protocol and state, new and gone flows) is
// never older; at 200,000 entries a read takes ~0.7 s here, one every 4.2 s.
// A table whose read takes longer than maxFullAge/maxDumpShare cannot have
// both: there reading never takes more than a maxDumpShare-th of the time,
// since a monitor must stay light on a machine in trouble (at 1,000,000
// entries, a 4 s read every 12 s).
const (
	dumpShare    = 6
	maxDumpShare = 3
	maxFullAge   = 5 * time.Second
)

// fullInterval is the time between whole reads that took took each, when the
// window's rows are looked up between them.
func fullInterval(interval, took time.Duration) time.Duration {
	return max(interval, min(dumpShare*took, maxFullAge), maxDumpShare*took)
}

// EffectiveInterval is the cadence rule of every loop that reads the table
// again and again (the live screen's, the exporter's): the time from the
// start of one read to the start of the next is interval, stretched when a
// read took longer than it, so that reading never takes more than two thirds
// of the time.
func EffectiveInterval(interval, took time.Duration) time.Duration {
	if took > interval {
		return took + took/2
	}
	return interval
}

// readBatch is how many rows a whole read hands to the UI goroutine at a
// time: 557 KB of rows, small beside the table, and few hand-overs (49 at
// 200,000 rows).
const readBatch = 4096

// progressEvery is how many batches are merged between two reports of the
// first whole read's progress: ~15 for 1,000,000 entries.
const progressEvery = 16

// readLoop reads the table, one read at a time: the window's rows every
// interval, the whole table on the schedule or when asked.
func (m *Monitor) readLoop() {
	defer func() {
		if p := recover(); p != nil {
			m.fatal(p)
		}
	}()
	for {
		forced, ok := m.waitForRead()
		if !ok {
			return
		}
		if m.frame.CanRefresh && !forced && m.clock.Now().Before(m.nextFullRead()) {
			if !m.refreshWindow() {
				return
			}
			continue
		}
		if !m.readWhole() {
			return
		}
	}
}

// waitForRead waits until the next read is due, reporting a tick every
// second of a long wait so that clocks and TTLs move on screen. forced is
// true when a whole read was asked for; ok is false when the session ends.
func (m *Monitor) waitForRead() (forced, ok bool) {
	for {
		now := m.clock.Now()
		m.mu.Lock()
		next := m.nextRead
		m.mu.Unlock()
		if !now.Before(next) {
			return false, true
		}
		step := next.Sub(now)
		tick := step > time.Second
		if tick {
			step = time.Second
		}
		select {
		case <-m.quit:
			return false, false
		case <-m.readNow:
			return true, true
		case <-m.wake:
		case <-m.scrolled:
			return false, true
		case <-m.clock.After(step):
			if tick && !m.do(func() { m.notify(ChangeTick) }, true) {
				return false, false
			}
		}
	}
}

// readFirst reads the whole table on the caller's goroutine, before the
// session starts.
func (m *Monitor) readFirst() error {
	start := m.clock.Now()
	err := m.src.ReadBatches(&m.stage, readBatch, func(rows []flow.Flow) bool {
		m.merge(rows, m.clock.Now())
		return true
	})
	if err != nil {
		m.t.Abort()
		return err
	}
	took := m.clock.Now().Sub(start)
	m.endRead(start, took, m.schedule(start, took))
	return nil
}

// readWhole reads the whole table, each batch merged on the UI goroutine as
// it arrives. Until the first whole read has ended its progress is reported
// every progressEvery batches; later reads show when they end. It returns
// false when the session ends.
func (m *Monitor) readWhole() bool {
	start := m.clock.Now()
	var progress bool
	if !m.do(func() { progress = m.frame.Reads == 0 }, false) {
		return false
	}
	batch := 0
	err := m.src.ReadBatches(&m.stage, readBatch, func(rows []flow.Flow) bool {
		at := m.clock.Now()
		batch++
		report := progress && batch%progressEvery == 1
		return m.do(func() {
			m.merge(rows, at)
			if report {
				m.notify(ChangeProgress)
			}
		}, report)
	})
	took := m.clock.Now().Sub(start)
	switch {
	case errors.Is(err, source.ErrStopped):
		return false
	case err != nil:
		return m.do(func() {
			m.t.Abort()
			m.frame.Reading = false
			m.readFailed(err, took)
		}, true)
	}
	fullEvery := m.schedule(start, took)
	// The read brought every row in the window: no lookup is owed for
	// rows that came into it meanwhile.
	drain(m.scrolled)
	return m.do(func() {
		m.endRead(start, took, fullEvery)
		m.notify(ChangeRows)
	}, true)
}

// earliest returns the earlier of two times.
func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// drain takes a pending signal off c.
func drain(c chan struct{}) {
	select {
	case <-c:
	default:
	}
}

// merge merges a batch of the whole read in progress into the table; the
// read's figures so far (its health: the count to make room for) are in
// m.stage.
func (m *Monitor) merge(rows []flow.Flow, at time.Time) {
	f := &m.frame
	if !m.t.Reading() {
		m.t.Begin(m.stage.Stats.Entries)
		f.Reading, f.Merged, f.Expected = true, 0, m.stage.Stats.Entries
	}
	m.t.Merge(rows, at)
	f.Merged += len(rows)
}

// endRead ends a whole read that began at start and took took: the rows it
// did not bring leave the table, its figures (in m.stage) replace the
// table's, and the view is rebuilt.
func (m *Monitor) endRead(start time.Time, took, fullEvery time.Duration) {
	f := &m.frame
	prevStats, prevRead := m.t.Stats, m.t.ReadAt
	born, gone := m.t.End(&m.stage)
	m.layout++
	m.changed = false
	f.Reads++
	f.Reading = false
	f.ReadTook, f.FullEvery = took, fullEvery
	if !f.Events {
		// With events, they count the flows that come and go (statsRead).
		f.Born, f.Gone, f.Over = 0, 0, 0
		if f.Reads > 1 && m.t.ReadAt.After(prevRead) {
			f.Born, f.Gone, f.Over = born, gone, m.t.ReadAt.Sub(prevRead)
		}
	}
	if start.Before(f.StatsAt) {
		// The health read on its own during the dump is newer.
		m.t.Stats = prevStats
	} else {
		m.statsRead(&prevStats, start)
	}
	f.Stale, f.Err = false, nil
	if f.Resyncing && !start.Before(f.OverrunAt) {
		// Every flow lost events told of was in the table when this
		// read began.
		f.Resyncing = false
	}
	f.RowsAt = m.t.ReadAt
	m.rebuild()
}

// readFailed keeps the last good read and marks it stale; the next read is
// tried after the interval.
func (m *Monitor) readFailed(err error, took time.Duration) {
	m.frame.Stale, m.frame.Err = true, err
	now := m.clock.Now()
	m.mu.Lock()
	m.nextRead = now.Add(EffectiveInterval(m.interval, took) - took)
	m.mu.Unlock()
	m.notify(ChangeStale)
}

// schedule sets the next reads after a whole read that began at start and
// took took, and returns the time between whole reads. It runs on the reader
// goroutine.
func (m *Monitor) schedule(start time.Time, took time.Duration) (fullEvery time.Duration) {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastStart, m.lastTook, m.haveRead = start, took, true
	fullEvery = m.fullEveryLocked()
	m.nextFull = start.Add(fullEvery)
	m.nextRead = m.nextFull
	if m.frame.CanRefresh {
		m.nextRead = earliest(now.Add(m.interval), m.nextFull)
	}
	return fullEvery
}

// fullEveryLocked is the time between whole reads for the last read's
// duration and the interval; m.mu is held. With events they only reconcile,
// at least every reconcileEvery, unless the order needs values only whole
// reads bring; still never more than a maxDumpShare-th of the time.
func (m *Monitor) fullEveryLocked() time.Duration {
	eff := EffectiveInterval(m.interval, m.lastTook)
	if !m.frame.CanRefresh {
		return eff
	}
	full := max(eff, fullInterval(m.interval, m.lastTook))
	if m.frame.Events && !NeedsWholeReads(m.frame.Options.Sort) {
		full = max(eff, reconcileEvery, maxDumpShare*m.lastTook)
	}
	return full
}

// reschedule sets the next whole read after a change of the interval, the
// order or events; m.mu is held. A whole read that falls due earlier than
// the next read comes then.
func (m *Monitor) reschedule() {
	if !m.haveRead {
		return
	}
	full := m.fullEveryLocked()
	m.nextFull = m.lastStart.Add(full)
	m.frame.FullEvery = full
	if !m.frame.CanRefresh || m.nextFull.Before(m.nextRead) {
		m.nextRead = m.nextFull
	}
}

// nextFullRead is when the next whole read is due.
func (m *Monitor) nextFullRead() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.nextFull
}

// lookup holds the window's rows while the reader goroutine looks them up;
// it passes between the goroutines only through do.
type lookup struct {
	rows []flow.Flow
	res  []source.Lookup
	// at are the rows' indices in the table, valid while the table's
	// layout count is layout.
	at     []int32
	layout int
	// gone are the rows of at that the source no longer has.
	gone []int32
}

// refreshWindow looks the window's rows up in the source between whole reads,
// so that they are never older than the interval while whole reads, whose
// cost grows with the table, run less often. It returns false when the
// session ends.
func (m *Monitor) refreshWindow() bool {
	lr := &m.lr
	if !m.do(func() { m.windowRows(lr) }, false) {
		return false
	}
	var err error
	if len(lr.rows) > 0 {
		err = m.src.Refresh(lr.rows, lr.res)
	}
	at := m.clock.Now()
	m.mu.Lock()
	m.nextRead = earliest(at.Add(m.interval), m.nextFull)
	m.mu.Unlock()
	return m.do(func() {
		if err != nil {
			m.readFailed(err, 0)
			m.forceFull()
			return
		}
		if lr.layout == m.layout && !m.t.Reading() {
			m.applyLookups(lr, at)
		}
		// Events changed the table since the view was built: the
		// destroyed flows leave and the new ones take their places.
		if m.settle() {
			m.notify(ChangeRows)
			return
		}
		m.notify(ChangeRefresh)
	}, true)
}

// windowRows copies the window's rows into lr.
func (m *Monitor) windowRows(lr *lookup) {
	lr.rows, lr.at = lr.rows[:0], lr.at[:0]
	first := min(max(m.window.first, 0), len(m.v.Idx))
	last := min(first+max(m.window.n, 0), len(m.v.Idx))
	m.v.Ensure(last)
	idx := m.v.Idx
	for _, i := range idx[first:last] {
		lr.rows = append(lr.rows, m.t.Flows[i])
		lr.at = append(lr.at, i)
	}
	lr.res = slices.Grow(lr.res[:0], len(lr.rows))[:len(lr.rows)]
	clear(lr.res)
	lr.layout = m.layout
}

// applyLookups writes the rows looked up at the time at into the table; rows
// the kernel no longer has leave the view (the next whole read removes them
// from the table), and rows without an answer stay as they were.
func (m *Monitor) applyLookups(lr *lookup, at time.Time) {
	lr.gone = lr.gone[:0]
	for i, row := range lr.at {
		switch lr.res[i] {
		case source.LookupFound:
			m.t.Update(int(row), &lr.rows[i], at)
		case source.LookupGone:
			lr.gone = append(lr.gone, row)
		}
	}
	m.v.Drop(lr.gone)
	m.frame.RowsAt = at
}

// forceFull makes the next read a whole one.
func (m *Monitor) forceFull() {
	m.mu.Lock()
	m.nextFull = time.Time{}
	m.mu.Unlock()
}

// currentInterval is the time between reads.
func (m *Monitor) currentInterval() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.interval
}

// healthLoop reads the table's health every interval, beside the whole reads,
// so that the counts are never older than the interval even when a whole
// read takes seconds or runs only every few intervals; reading it costs a
// few small files or one netlink request, whatever the table's size. A read
// that fails is reported and tried again at the next interval.
func (m *Monitor) healthLoop() {
	defer func() {
		if p := recover(); p != nil {
			m.fatal(p)
		}
	}()
	var t flow.Table
	for {
		select {
		case <-m.quit:
			return
		case <-m.healthNow:
			continue
		case <-m.clock.After(m.currentInterval()):
		}
		at := m.clock.Now()
		err := m.src.ReadSummary(&t)
		if !m.do(func() { m.healthRead(&t.Stats, at, err) }, true) {
			return
		}
	}
}

// healthRead shows health figures read at the time at between whole reads,
// or why they could not be read.
func (m *Monitor) healthRead(s *flow.Stats, at time.Time, err error) {
	f := &m.frame
	f.HealthErr = err
	if errors.Is(err, source.ErrNetNSGone) {
		// For good: the whole table, read seldom while events keep it
		// current, would say so only at its next read.
		m.readFailed(err, 0)
		return
	}
	if err == nil && !at.Before(f.StatsAt) {
		prev := m.t.Stats
		m.t.Stats = *s
		m.statsRead(&prev, at)
		m.reconcileSoon(s.Entries)
	}
	m.notify(ChangeHealth)
}
