// Package exporter serves the conntrack table's figures to Prometheus: each
// watched table is read in a loop of its own, on the live screen's cadence
// rule (monitor.EffectiveInterval), into a Summary; a scrape builds the
// metrics afresh from the last Summary of each table and never waits for a
// read. It only reads: nothing here deletes an entry or writes a setting.
package exporter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/group"
	"github.com/gostate/gostate/internal/monitor"
	"github.com/gostate/gostate/internal/source"
)

// Options say what an Exporter exports.
type Options struct {
	// Interval is the time between the starts of two reads of a table,
	// stretched by monitor.EffectiveInterval when a read takes longer.
	Interval time.Duration
	// RowsEvery is the time between two whole reads of a table (its rows:
	// the flows by state, the sources); the reads between them read its
	// health alone (entries, limit, counters), which costs the same at any
	// size. 0 reads the rows every Interval. A whole read of 200,000
	// entries takes 0.8 s of CPU: every 5 s it cost the exporter 0.18 core.
	RowsEvery time.Duration
	// TopSources is how many of the biggest groups by TopSourcesBy to
	// export (gostate_conntrack_top_source_entries), at most
	// MaxTopSources; 0 exports none.
	TopSources   int
	TopSourcesBy group.Spec
	// NodeCompat adds node_exporter's node_nf_conntrack_* metrics.
	NodeCompat bool
	// NetNSLabel labels every series with its target's Name (netns).
	NetNSLabel bool
	// Log receives one line for each change worth telling: a read that
	// fails after reads that did not, the first read after failures, a
	// namespace gone, a table whose rows cannot be read. Nil logs nothing.
	Log func(msg string)
}

// Target is one table to export.
type Target struct {
	// Name is the value of its netns label (Options.NetNSLabel).
	Name string
	// Reader reads the table; the Exporter closes it when Run returns, or
	// when its namespace is gone.
	Reader source.Reader

	// last is the last successful read's Summary, nil before the first.
	last   atomic.Pointer[Summary]
	errors atomic.Uint64
	// gone is set once the namespace was deleted: the target is no longer
	// exported.
	gone atomic.Bool
	sum  *summarizer
	t    flow.Table
	// h takes the health reads between whole reads, so that t keeps the
	// rows' memory for the next whole read.
	h flow.Table
	// failing is whether the last read failed, and rowsRefused whether the
	// rows were refused (health only) already: each logged once.
	failing, rowsRefused bool
}

// Exporter reads its targets and collects their metrics.
type Exporter struct {
	opts    Options
	targets []*Target
	descs   *descs
}

// New returns an Exporter of the targets, which must have distinct names
// when opts.NetNSLabel is set.
func New(opts Options, targets []*Target) (*Exporter, error) {
	if opts.TopSources < 0 || opts.TopSources > MaxTopSources {
		return nil, fmt.Errorf("top sources: %d is not from 0 to %d", opts.TopSources, MaxTopSources)
	}
	if opts.TopSources > 0 && opts.TopSourcesBy.IsZero() {
		return nil, errors.New("top sources: no key to group by")
	}
	seen := make(map[string]bool)
	for _, t := range targets {
		if opts.NetNSLabel && seen[t.Name] {
			return nil, fmt.Errorf("namespace %q given twice", t.Name)
		}
		seen[t.Name] = true
		t.sum = newSummarizer(opts.TopSources, opts.TopSourcesBy)
	}
	return &Exporter{opts: opts, targets: targets, descs: newDescs(opts.NetNSLabel, opts.NodeCompat)}, nil
}

// Collector returns the collector to register.
func (e *Exporter) Collector() prometheus.Collector { return collector{e} }

// Run reads every target until ctx ends, then closes their readers.
func (e *Exporter) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, t := range e.targets {
		wg.Go(func() {
			defer t.Reader.Close()
			e.loop(ctx, t)
		})
	}
	wg.Wait()
}

// loop reads t, a read starting every EffectiveInterval, until ctx ends or
// t's namespace is gone: the whole table every RowsEvery, its health alone
// in between.
func (e *Exporter) loop(ctx context.Context, t *Target) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastRows time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		whole := lastRows.IsZero() || t.last.Load() == nil || start.Sub(lastRows) >= e.opts.RowsEvery
		ok := true
		if whole {
			ok, lastRows = e.read(t), start
		} else {
			ok = e.readHealth(t)
		}
		if !ok {
			return
		}
		took := time.Since(start)
		timer.Reset(monitor.EffectiveInterval(e.opts.Interval, took) - took)
	}
}

// read reads t once and publishes its Summary; it returns false when t's
// namespace is gone, which ends t's export.
func (e *Exporter) read(t *Target) bool {
	start := time.Now()
	err := t.Reader.Read(&t.t)
	rows := true
	if errors.Is(err, source.ErrHealthOnly) {
		// Unprivileged: the health is world-readable, the rows are not.
		if !t.rowsRefused {
			t.rowsRefused = true
			e.log(t, fmt.Sprintf("exporting the health only: %v", err))
		}
		rows = false
		err = t.Reader.ReadSummary(&t.t)
	}
	took := time.Since(start)
	if ok, alive := e.readEnded(t, err); !ok {
		return alive
	}
	t.last.Store(t.sum.summarize(&t.t, rows, took))
	return true
}

// readHealth reads t's health alone and publishes the last Summary with it:
// the figures counted from the rows stay those of the last whole read. It
// returns false when t's namespace is gone.
func (e *Exporter) readHealth(t *Target) bool {
	start := time.Now()
	err := t.Reader.ReadSummary(&t.h)
	took := time.Since(start)
	if ok, alive := e.readEnded(t, err); !ok {
		return alive
	}
	s := *t.last.Load()
	s.Stats, s.ReadAt, s.ReadTook = t.h.Stats, time.Now(), took
	t.last.Store(&s)
	return true
}

// readEnded notes how a read of t ended (err): ok when it worked; alive is
// false when t's namespace is gone, which ends t's export.
func (e *Exporter) readEnded(t *Target, err error) (ok, alive bool) {
	switch {
	case errors.Is(err, source.ErrNetNSGone):
		t.gone.Store(true)
		// The source's message names the namespace and ends with what
		// the live screen does ("showing its last state"): here the
		// namespace leaves the export instead.
		msg, _, _ := strings.Cut(err.Error(), ": showing")
		if e.opts.Log != nil {
			e.opts.Log(msg + ": no longer exported")
		}
		return false, false
	case err != nil:
		t.errors.Add(1)
		if !t.failing {
			t.failing = true
			e.log(t, fmt.Sprintf("read failed: %v", err))
		}
		return false, true
	}
	if t.failing {
		t.failing = false
		e.log(t, "reading again")
	}
	return true, true
}

// log logs msg about t, naming t's namespace when there is one.
func (e *Exporter) log(t *Target, msg string) {
	if e.opts.Log == nil {
		return
	}
	if t.Name != "" {
		msg = "netns " + t.Name + ": " + msg
	}
	e.opts.Log(msg)
}
