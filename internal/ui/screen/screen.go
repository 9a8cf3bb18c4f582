// Package screen is gostate's live, top-like view of the conntrack table: a
// header with the table's health, the flows (filtered and sorted as the
// one-shot view does), and a status line for prompts and messages.
//
// It is input modes and drawing over a monitor.Frame: the session itself
// (reading the table, its schedule, the one copy of the rows, the view) is
// package monitor's, which runs its changes on tview's event loop, so the
// screen reads the frame without locks and never copies a row.
package screen

import (
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/gostate/gostate/internal/monitor"
)

// Config is what the command line sets for the screen's looks; what is read
// and how often is the session's (monitor.Config).
type Config struct {
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
	// Hostname is shown in the header.
	Hostname string
	// Version is shown in the header.
	Version string
}

// Run shows the screen on the session mc describes until the user quits. It
// restores the terminal on every exit path (q, Ctrl-C, SIGTERM, SIGHUP, a
// panic). The table's health is read before the terminal is touched, so a
// table that cannot be read is reported as a plain error; the screen then
// comes up at once, and the rows follow as they are read.
func Run(mc monitor.Config, cfg Config) error {
	// The heap is nearly all the table's rows, which hold no pointers, so
	// a collection costs little: collect early rather than let the garbage
	// of redraws grow the heap by more than a tenth (the default lets it
	// grow by the whole live heap).
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	u, err := newUI(mc, cfg)
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
		case <-u.ended:
		}
	}()
	return u.run()
}

// run starts the session's reads and the UI loop, on the screen given to the
// application or else on the terminal, and returns when the user quits.
func (u *model) run() (err error) {
	u.m.Start(u.post)
	defer func() {
		close(u.ended)
		u.m.Stop()
		// tview re-raises a panic of its event loop after restoring the
		// terminal; report it as an error instead of a stack trace.
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error: %v", p)
		}
		if err == nil {
			err = u.f.Fatal
		}
		if u.resolver != nil {
			u.resolver.Close()
		}
	}()
	return u.app.Run()
}
