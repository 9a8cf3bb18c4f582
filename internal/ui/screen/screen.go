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
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/gdamore/tcell/v2/terminfo"

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
	// of redraws grow the heap by more than a twentieth (the default lets
	// it grow by the whole live heap). At 200,000 entries a tenth measured
	// 52.0 MiB peak RSS and 0.071 core under a churn of 1,000 flows a
	// second, a twentieth 49.8 MiB and 0.082 core.
	defer debug.SetGCPercent(debug.SetGCPercent(5))
	u, err := newUI(mc, cfg)
	if err != nil {
		return err
	}
	noPadding(os.Getenv("TERM"))
	scr, err := tcell.NewScreen()
	if err != nil {
		return fmt.Errorf("terminal: %w", err)
	}
	u.app.SetScreen(scr)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTSTP, syscall.SIGCONT)
	defer signal.Stop(sigs)
	go u.signals(sigs)
	return u.run()
}

// signals restores the terminal whenever the process ends or stops on a
// signal from outside: SIGTERM, SIGHUP, SIGINT and SIGQUIT end the screen
// (Go's default for SIGQUIT would leave the terminal raw); SIGTSTP
// suspends it as Ctrl-Z does in a shell, SIGCONT redraws.
func (u *model) signals(sigs <-chan os.Signal) {
	for {
		select {
		case <-u.ended:
			return
		case sig := <-sigs:
			switch sig {
			case syscall.SIGTSTP:
				u.post(u.suspend, true)
			case syscall.SIGCONT:
				u.post(func() { u.gen++; u.app.Sync() }, true)
			default:
				u.app.Stop()
			}
		}
	}
}

// suspend gives the terminal back and stops the process group, as a shell's
// Ctrl-Z does, until it is continued (fg, SIGCONT); then it takes the
// terminal again and redraws. It runs on the UI goroutine.
func (u *model) suspend() {
	u.app.Suspend(func() {
		_ = syscall.Kill(0, syscall.SIGSTOP)
		// Continued. The shell that continued the process (bash's fg)
		// may set the terminal's modes again just after its SIGCONT;
		// taking the terminal before it has would leave it line-buffered
		// and the keys unread until Enter (seen in 1 of 2 fg's).
		time.Sleep(resumeDelay)
	})
}

// resumeDelay is how long a continued screen waits before it takes the
// terminal back: long enough for the shell, too short to notice.
const resumeDelay = 100 * time.Millisecond

// noPadding replaces the terminfo entry of term with one that asks for no
// padding delays. tcell sleeps for every delay an entry names (vt100 asks
// for 2 ms after every change of attributes, 50 ms after a clear), which made
// a redraw take seconds and q as long to act; every terminal that still
// answers to these names is an emulator that needs no delay.
func noPadding(term string) {
	ti, err := terminfo.LookupTerminfo(term)
	if err != nil || ti.PadChar == "" {
		return
	}
	plain := *ti
	plain.PadChar = ""
	terminfo.AddTerminfo(&plain)
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
