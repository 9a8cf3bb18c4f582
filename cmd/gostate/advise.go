package main

import (
	"bufio"
	"errors"
	"os"
	"time"

	"github.com/gostate/gostate/internal/advise"
	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/source"
	"github.com/gostate/gostate/internal/ui/text"
)

// runAdvise prints the sizing report (--advise) and returns the exit status.
//
// The table is watched for one interval (-R): its health is read, then,
// an interval later, the rows with the health again, so that the report can
// say whether drop, insert_failed or early_drop grew meanwhile (their
// totals say nothing of now) and take the larger count as the peak. A
// saved dump is read once: it has no counters. Without the privilege to read
// the rows the report is of the health alone, and says so.
func runAdvise(cfg *config, term terminal, stdout, stderr *os.File) int {
	if err := startOutput(stdout); err != nil {
		return outputFailed(stderr, err)
	}
	opts := cfg.source
	opts.HealthFallback = true
	r, err := source.Open(opts)
	if err != nil {
		return fail(stderr, err)
	}
	defer r.Close()
	var first, t flow.Table
	if err := r.ReadSummary(&first); err != nil {
		return fail(stderr, err)
	}
	in := advise.Input{RowsRead: true}
	if !first.Frozen {
		time.Sleep(time.Until(first.ReadAt.Add(cfg.rate)))
	}
	err = r.Read(&t)
	if errors.Is(err, source.ErrHealthOnly) {
		in.RowsRead = false
		err = r.ReadSummary(&t)
	}
	if err != nil {
		return fail(stderr, err)
	}
	reportReadNotes(stderr, &t)
	in.Stats, in.Rows, in.Timeouts = t.Stats, t.Flows, t.Timeouts
	in.Peak = max(first.Stats.Entries, t.Stats.Entries)
	if !t.Frozen && first.Stats.HaveCPU && t.Stats.HaveCPU {
		g := t.Stats.CPU.Since(&first.Stats.CPU)
		in.Grown = &g
		in.Watched = t.ReadAt.Sub(first.ReadAt)
	}
	rep := advise.Advise(&in)
	w := bufio.NewWriterSize(stdout, outputBuffer)
	if cfg.json {
		err = text.WriteAdviceJSON(w, rep, t.Source)
	} else {
		err = text.WriteAdvice(w, rep, t.Source, term.width)
	}
	if err != nil {
		return outputFailed(stderr, err)
	}
	return exitOK
}
