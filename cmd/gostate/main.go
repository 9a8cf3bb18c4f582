// Command gostate is a top-like monitor of the Linux netfilter
// connection-tracking table, in the tradition of iptstate: a live screen on a
// terminal, one sorted view (text or JSON Lines) otherwise.
//
// Run gostate --help for the flags; exit status 0 is success, 1 a usage
// error, 2 a table that cannot be read.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/source"
	"github.com/gostate/gostate/internal/termsafe"
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
	if err != nil {
		fmt.Fprintf(stderr, "gostate: %s (see gostate --help)\n", termsafe.OneLine(err.Error()))
		return exitUsage
	}
	switch {
	case cfg.help:
		io.WriteString(stdout, helpText())
		return exitOK
	case cfg.version:
		fmt.Fprintf(stdout, "gostate %s (%s)\n", versionString(), runtime.Version())
		return exitOK
	}

	if cfg.events != 0 {
		return runEvents(cfg, stdout, stderr)
	}
	term := probeTerminal(stdout)
	if !cfg.single && !cfg.json && term.interactive() {
		return runScreen(cfg, stderr)
	}
	return runOnce(cfg, term, stdout, stderr)
}

// runOnce prints one view (text, JSON Lines or the --stats object) and
// returns the exit status.
func runOnce(cfg *config, term terminal, stdout, stderr *os.File) int {
	r, err := source.Open(cfg.source)
	if err != nil {
		return fail(stderr, err)
	}
	defer r.Close()
	var t flow.Table
	if cfg.stats {
		// The health figures need no rows: reading them costs the same
		// whatever the table's size, while a dump grows with it.
		err = r.ReadSummary(&t)
	} else {
		err = r.Read(&t)
	}
	if err != nil {
		return fail(stderr, err)
	}
	for _, w := range t.Warnings {
		fmt.Fprintf(stderr, "gostate: %s\n", termsafe.OneLine(w))
	}
	if t.Skipped > 0 {
		fmt.Fprintf(stderr, "gostate: skipped %d unparseable lines\n", t.Skipped)
	}

	w := bufio.NewWriterSize(stdout, outputBuffer)
	if cfg.stats {
		err = text.WriteStatsJSON(w, &t)
	} else {
		var v view.View
		view.Build(&t, &cfg.view, &v)
		if cfg.json {
			err = text.WriteJSON(w, &t, v.Idx)
		} else {
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
		if errors.Is(err, syscall.EPIPE) {
			// The reader went away (gostate -1 | head): nothing is wrong.
			return exitOK
		}
		return fail(stderr, fmt.Errorf("writing output: %w", err))
	}
	return exitOK
}

// textOptions turns the command line and the terminal into the text writer's
// options.
func textOptions(cfg *config, term terminal) *text.Options {
	o := &text.Options{
		Counters: cfg.counters,
		Totals:   cfg.totals,
		NoHeader: cfg.noHeader,
		Color:    term.isTTY && term.colors && !cfg.noColor && os.Getenv("NO_COLOR") == "",
		Width:    term.width,
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
