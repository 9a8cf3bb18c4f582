// Command gostate is a top-like monitor of the Linux netfilter
// connection-tracking table, in the tradition of iptstate: a live screen on a
// terminal, one sorted view (text or JSON Lines) otherwise.
//
// Run gostate --help for the flags; exit status 0 is success, 1 a usage
// error, 2 a table that cannot be read or output that cannot be written (a
// reader that goes away, as head does, is not a failure).
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/group"
	"github.com/gostate/gostate/internal/live"
	"github.com/gostate/gostate/internal/sortby"
	"github.com/gostate/gostate/internal/source"
	"github.com/gostate/gostate/internal/termsafe"
	"github.com/gostate/gostate/internal/ui"
	"github.com/gostate/gostate/internal/ui/text"
	"github.com/gostate/gostate/internal/view"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise
// the module version or VCS revision recorded by the Go toolchain is used.
var version = ""

// Exit statuses, as iptstate's.
const (
	exitOK      = 0
	exitUsage   = 1
	exitFailure = 2
)

// outputBuffer is the size of the buffer in front of standard output: one
// write system call per 256 KiB rather than per row.
const outputBuffer = 256 << 10

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is gostate without the process around it: it returns the exit status.
func run(args []string, stdout, stderr *os.File) int {
	cfg, err := parseFlags(args)
	if err != nil && wantsCheck(args) {
		return checkUsage(stdout, err)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gostate: %s (see gostate --help)\n", termsafe.OneLine(err.Error()))
		return exitUsage
	}
	switch {
	case cfg.help:
		return writeOutput(stdout, stderr, helpText())
	case cfg.version:
		return writeOutput(stdout, stderr, "gostate "+versionString()+" ("+runtime.Version()+")\n")
	}

	if cfg.checking {
		return runCheck(cfg, stdout)
	}
	if cfg.listen != "" {
		return runListen(cfg, stderr)
	}
	if cfg.events != 0 {
		return runEvents(cfg, stdout, stderr)
	}
	term := probeTerminal(stdout)
	if cfg.advise {
		return runAdvise(cfg, term, stdout, stderr)
	}
	// Groups are one view (the live screen has no grouping of its own).
	if !cfg.single && !cfg.json && cfg.groupBy.IsZero() && term.interactive() {
		return runScreen(cfg, stderr)
	}
	return runOnce(cfg, term, stdout, stderr)
}

// runOnce prints one view (text, JSON Lines or the --stats object) and
// returns the exit status.
func runOnce(cfg *config, term terminal, stdout, stderr *os.File) int {
	if err := startOutput(stdout); err != nil {
		return outputFailed(stderr, err)
	}
	opts := cfg.source
	// The health is world-readable where the rows are not: --stats shows
	// it with a warning, and the text view its health line before failing.
	// JSON Lines are rows only.
	opts.HealthFallback = cfg.stats || !cfg.json
	r, err := source.Open(opts)
	if err != nil {
		return fail(stderr, err)
	}
	defer r.Close()
	var t flow.Table
	switch {
	case cfg.stats:
		// The health figures need no rows: reading them costs the same
		// whatever the table's size, while a dump grows with it.
		err = r.ReadSummary(&t)
	case cfg.rates:
		err = readTwice(r, &t, cfg.rate)
	default:
		err = r.Read(&t)
	}
	if errors.Is(err, source.ErrHealthOnly) {
		return healthOnly(r, term, stdout, stderr, err)
	}
	if err != nil {
		return fail(stderr, err)
	}
	reportReadNotes(stderr, &t)
	if wantsCounters(cfg) {
		if hint := ui.CountersOffHint(&t); hint != "" {
			fmt.Fprintf(stderr, "gostate: %s\n", hint)
		}
	}

	w := bufio.NewWriterSize(stdout, outputBuffer)
	if cfg.stats {
		err = text.WriteStatsJSON(w, &t)
	} else {
		var v view.View
		view.Build(&t, &cfg.view, &v)
		switch {
		case !cfg.groupBy.IsZero():
			err = writeGroups(w, cfg, term, &t, &v)
		case cfg.json:
			err = text.WriteJSON(w, &t, v.Idx)
		default:
			o := textOptions(cfg, term)
			if cfg.lookup {
				var done func()
				o.Names, done = lookupNames(&t, v.Idx, cfg.nameServer)
				defer done()
			}
			err = text.WriteText(w, &t, &v, o)
		}
	}
	if err != nil {
		return outputFailed(stderr, err)
	}
	return exitOK
}

// readTwice reads the table into t twice, interval apart, and gives each
// flow of the second read its rates from the change of its counters.
func readTwice(r source.Reader, t *flow.Table, interval time.Duration) error {
	var first flow.Table
	if err := r.Read(&first); err != nil {
		return err
	}
	// A row's two reads are apart by the time between the reads' ends
	// (and their starts) when both take as long.
	firstEnd := time.Now()
	time.Sleep(interval)
	if err := r.Read(t); err != nil {
		return err
	}
	live.Rates(first.Flows, t.Flows, time.Since(firstEnd))
	return nil
}

// writeGroups writes the view v grouped by --group-by (the filters applied
// first: the groups are of the rows shown), biggest first or, with -b, by
// key; -r reverses either.
func writeGroups(w *bufio.Writer, cfg *config, term terminal, t *flow.Table, v *view.View) error {
	var g group.Grouping
	g.Build(t.Flows, v.Idx, cfg.groupBy)
	if cfg.byKey || cfg.view.Reverse {
		g.Sort(cfg.byKey, cfg.view.Reverse)
	}
	if cfg.json {
		return text.WriteGroupsJSON(w, t, &g, cfg.counters, cfg.top)
	}
	o := textOptions(cfg, term)
	o.Sort = "entries"
	if cfg.byKey {
		o.Sort = "key"
	}
	if cfg.view.Reverse {
		o.Sort += " reversed"
	}
	return text.WriteGroups(w, t, &g, o, cfg.top)
}

// reportReadNotes says on standard error what the read of t warned about
// and how many lines of a saved dump it skipped.
func reportReadNotes(stderr io.Writer, t *flow.Table) {
	for _, w := range t.Warnings {
		fmt.Fprintf(stderr, "gostate: %s\n", termsafe.OneLine(w))
	}
	if t.Skipped > 0 {
		fmt.Fprintf(stderr, "gostate: skipped %d unparseable lines\n", t.Skipped)
	}
}

// wantsCounters reports whether the command line asks for the flows' byte
// and packet counters: to show them (-C), their rates (--rates) or to sort by
// them (-b b, -b P, -b rate). --stats reads no rows.
func wantsCounters(cfg *config) bool {
	k := cfg.view.Sort
	return !cfg.stats && (cfg.counters || cfg.rates || k == sortby.Bytes || k == sortby.Packets)
}

// healthOnly is the text view of a table whose rows may not be read
// (rowsErr says why): the health line on standard output, then the reason on
// standard error and the exit status of a table that cannot be read, since
// the rows asked for are not there.
func healthOnly(r source.Reader, term terminal, stdout, stderr *os.File, rowsErr error) int {
	var t flow.Table
	if r.ReadSummary(&t) == nil {
		w := bufio.NewWriterSize(stdout, outputBuffer)
		if err := text.WriteHealth(w, &t, term.width); err != nil {
			return outputFailed(stderr, err)
		}
	}
	return fail(stderr, rowsErr)
}

// textOptions turns the command line and the terminal into the text writer's
// options.
func textOptions(cfg *config, term terminal) *text.Options {
	o := &text.Options{
		Counters: cfg.counters,
		Rates:    cfg.rates,
		Totals:   cfg.totals,
		NoHeader: cfg.noHeader,
		Color:    term.isTTY && term.colors && !cfg.noColor && os.Getenv("NO_COLOR") == "",
		Width:    term.width,
		Height:   term.height,
		Sort:     cfg.view.Sort.Name(),
	}
	if cfg.view.Reverse {
		o.Sort += " reversed"
	}
	if cfg.view.Filter.Active() {
		o.Filter = cfg.view.Filter.Describe()
	}
	return o
}

// fail reports a table that cannot be read (or output that cannot be
// written) in one line.
func fail(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "gostate: %s\n", termsafe.OneLine(err.Error()))
	return exitFailure
}

func versionString() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "devel-" + rev
}
