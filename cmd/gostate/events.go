package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/gostate/gostate/internal/source"
	"github.com/gostate/gostate/internal/termsafe"
	"github.com/gostate/gostate/internal/ui/text"
)

// eventsBuffer is the buffer in front of standard output for -E: each batch
// of events is written out (flushed) as soon as it is formatted, so this only
// bounds one batch's write.
const eventsBuffer = 64 << 10

// notWithEvents are the flags that mean nothing to the event stream: other
// outputs (-1, --stats), the order and totals of a whole view, the live
// screen's settings, and host names (looked up on a live screen).
var notWithEvents = []string{"single", "stats", "sort", "reverse", "totals", "no-header", "rate", "read-only", "lookup", "nameserver"}

// parseEvents reads -E/--events (value "all" when given bare) into cfg, and
// refuses the flags that do not apply to it.
func parseEvents(fs *pflag.FlagSet, value string, cfg *config) error {
	for _, name := range notWithEvents {
		if fs.Changed(name) {
			f := fs.Lookup(name)
			spelled := "--" + name
			if f.Shorthand != "" {
				spelled = "-" + f.Shorthand + "/" + spelled
			}
			return usagef("%s does not apply to -E/--events, which prints changes as they happen", spelled)
		}
	}
	for _, word := range strings.Split(value, ",") {
		switch strings.ToLower(strings.TrimSpace(word)) {
		case "new":
			cfg.events |= source.EventNew
		case "update":
			cfg.events |= source.EventUpdate
		case "destroy":
			cfg.events |= source.EventDestroy
		case "all":
			cfg.events |= source.EventAll
		default:
			return usagef("invalid -E/--events %q: want new, update, destroy or all, comma-separated", value)
		}
	}
	return nil
}

// runEvents prints the table's changes as the kernel announces them, one
// line each (text, or JSON Lines with -j), after the filters, until SIGINT or
// SIGTERM, or until the reader of standard output goes away: then it exits
// with status 0. Events the kernel dropped are reported on standard error
// and the stream goes on.
func runEvents(cfg *config, stdout, stderr *os.File) int {
	opts := cfg.source
	if opts.File == "" && (opts.Kind == source.KindAuto || opts.Kind == "") {
		// Only ctnetlink announces changes: auto means it, so that a
		// failure says what netlink needs rather than that /proc,
		// opened instead, cannot listen.
		opts.Kind = source.KindNetlink
	}
	r, err := source.Open(opts)
	if err != nil {
		return fail(stderr, err)
	}
	// The listener has a socket of its own: the reader is done with.
	l, err := r.Listen(cfg.events)
	r.Close()
	if errors.Is(err, source.ErrUnsupported) {
		what := "/proc (--source proc)"
		if opts.File != "" {
			what = "a saved dump (--file)"
		}
		fmt.Fprintf(stderr, "gostate: -E/--events needs the netlink source: %s announces no changes (see gostate --help)\n", what)
		return exitFailure
	}
	if err != nil {
		return fail(stderr, err)
	}
	defer l.Close()

	// Writes to a closed pipe then fail with EPIPE, which ends the stream
	// quietly, instead of killing the process.
	signal.Ignore(syscall.SIGPIPE)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(stop)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-stop:
			l.Close()
		case <-done:
		}
	}()
	go closeWhenUnread(stdout, l)

	w := bufio.NewWriterSize(stdout, eventsBuffer)
	out := text.NewEventWriter(w, cfg.json)
	f := &cfg.view.Filter
	filtered := f.Active()
	var werr error
	each := func(events []source.Event) bool {
		// One time for the batch: its events came in one receive.
		now := time.Now()
		for i := range events {
			ev := &events[i]
			if !filtered || f.Match(&ev.Flow) {
				out.Write(ev.Kind.String(), now, &ev.Flow)
			}
		}
		werr = w.Flush()
		return werr == nil
	}
	for {
		err := l.Read(each)
		switch {
		case errors.Is(err, source.ErrOverrun):
			fmt.Fprintf(stderr, "gostate: %s\n", termsafe.OneLine(err.Error()))
		case errors.Is(err, source.ErrClosed):
			return exitOK
		case errors.Is(err, source.ErrStopped) && errors.Is(werr, syscall.EPIPE):
			return exitOK
		case errors.Is(err, source.ErrStopped):
			return fail(stderr, fmt.Errorf("writing output: %w", werr))
		default:
			return fail(stderr, err)
		}
	}
}

// closeWhenUnread closes l once nobody reads out any more: the far end of a
// pipe or socket closed (POLLERR, POLLHUP). gostate -E | head -1 then ends
// as soon as head does, not at the next event, which may be long in coming.
// On a file or a terminal it waits for good.
func closeWhenUnread(out *os.File, l source.Listener) {
	// Asking for no event still reports errors and hang-ups.
	fds := []unix.PollFd{{Fd: int32(out.Fd())}}
	for {
		n, err := unix.Poll(fds, -1)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return
		case n > 0 && fds[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0:
			l.Close()
			return
		case n > 0:
			return // POLLNVAL: not a descriptor poll can watch
		}
	}
}
