package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/gostate/gostate/internal/exporter"
	"github.com/gostate/gostate/internal/group"
	"github.com/gostate/gostate/internal/source"
	"github.com/gostate/gostate/internal/termsafe"
)

// exportFlags are the exporter's settings (--listen and its companions).
type exportFlags struct {
	top        int
	topBy      group.Spec
	nodeCompat bool
	// netns are the namespaces to export, none for gostate's own.
	netns []string
}

// defaultExportRate is the time between reads of an exporter left at -R's
// default: a whole read of 200,000 entries takes ~0.7 s of CPU, too much
// to spend every second for scrapes that come every 15 s or so.
const defaultExportRate = 5 * time.Second

// notWithListen are the flags that mean nothing to the exporter, which
// exports the whole table of the live kernel: the other outputs, a view's
// order and filters, the live screen's settings.
var notWithListen = []string{
	"single", "json", "stats", "advise", "events", "sort", "reverse", "totals", "no-header",
	"counters", "rates", "no-color", "lookup", "nameserver", "read-only", "file", "group-by",
	"top", "src-filter", "dst-filter", "srcpt-filter", "dstpt-filter", "invert-filters",
	"no-loopback", "no-dns", "host", "proto", "state", "mark", "zone",
}

// exportOnly are the flags that only the exporter takes.
var exportOnly = []string{"top-sources", "top-sources-by", "node-compat"}

// spelled returns a flag's name as help spells it: "-R/--rate", "--listen".
func spelled(fs *pflag.FlagSet, name string) string {
	if f := fs.Lookup(name); f.Shorthand != "" {
		return "-" + f.Shorthand + "/--" + name
	}
	return "--" + name
}

// notWithoutListen refuses the exporter's flags without --listen.
func notWithoutListen(fs *pflag.FlagSet) error {
	for _, name := range exportOnly {
		if fs.Changed(name) {
			return usagef("%s applies only to --listen", spelled(fs, name))
		}
	}
	return nil
}

// parseExport reads --listen and its companions into cfg: the address
// (exporter.ParseListen), the namespaces (-n repeated or comma-separated),
// --top-sources and its key; it refuses the flags of other outputs.
func parseExport(fs *pflag.FlagSet, raw *rawFlags, cfg *config) error {
	for _, name := range notWithListen {
		if fs.Changed(name) {
			return usagef("%s does not apply to --listen, which exports the whole table", spelled(fs, name))
		}
	}
	addr, err := exporter.ParseListen(*raw.listen)
	if err != nil {
		return usagef("invalid --listen %q: %v", *raw.listen, err)
	}
	cfg.listen = addr
	e := &cfg.export
	if e.top < 0 || e.top > exporter.MaxTopSources {
		return usagef("invalid --top-sources %d: want 0 to %d (each source is a series)", e.top, exporter.MaxTopSources)
	}
	if e.topBy, err = group.Parse(*raw.topBy); err != nil {
		return usagef("invalid --top-sources-by %q: %v", *raw.topBy, err)
	}
	if fs.Changed("top-sources-by") && e.top == 0 {
		return usagef("--top-sources-by needs --top-sources N")
	}
	seen := make(map[string]bool)
	for _, v := range *raw.netns {
		for _, ns := range strings.Split(v, ",") {
			if ns == "" {
				return usagef("invalid -n/--netns %q: an empty name", v)
			}
			if seen[ns] {
				return usagef("invalid -n/--netns: %q given twice", ns)
			}
			seen[ns] = true
			e.netns = append(e.netns, ns)
		}
	}
	if !fs.Changed("rate") {
		cfg.rate = defaultExportRate
	}
	return nil
}

// exporterRowsEvery is the time between the exporter's whole reads.
const exporterRowsEvery = time.Minute

// runListen is the exporter: it opens every namespace's table, serves
// /metrics on cfg.listen, and reads the tables until SIGTERM or SIGINT,
// then exits with status 0. A table that cannot be opened, or an address
// that cannot be bound, fails at start with status 2.
func runListen(cfg *config, stderr *os.File) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logf := func(msg string) { fmt.Fprintf(stderr, "gostate: %s\n", termsafe.OneLine(msg)) }

	names := cfg.export.netns
	if len(names) == 0 {
		names = []string{""}
	}
	var targets []*exporter.Target
	closeAll := func() {
		for _, t := range targets {
			t.Reader.Close()
		}
	}
	for _, ns := range names {
		opts := cfg.source
		opts.NetNS = ns
		// Without CAP_NET_ADMIN the health is still world-readable.
		opts.HealthFallback = true
		r, err := source.Open(opts)
		if err != nil {
			closeAll()
			if ns != "" {
				err = fmt.Errorf("netns %s: %w", ns, err)
			}
			return fail(stderr, err)
		}
		targets = append(targets, &exporter.Target{Name: ns, Reader: r})
	}
	e, err := exporter.New(exporter.Options{
		Interval: cfg.rate,
		// The rows' figures change slowly next to a scrape's 15 s; a
		// whole read a minute keeps the exporter light on a big table.
		RowsEvery:    exporterRowsEvery,
		TopSources:   cfg.export.top,
		TopSourcesBy: cfg.export.topBy,
		NodeCompat:   cfg.export.nodeCompat,
		NetNSLabel:   len(cfg.export.netns) > 0,
		Log:          logf,
	}, targets)
	if err != nil {
		closeAll()
		return fail(stderr, err)
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		closeAll()
		return fail(stderr, err)
	}
	logf("serving http://" + ln.Addr().String() + "/metrics")

	srv := exporter.NewServer(e.Handler())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	read := make(chan struct{})
	go func() {
		e.Run(ctx)
		close(read)
	}()
	status := exitOK
	select {
	case <-ctx.Done():
	case err := <-served:
		logf(err.Error())
		status = exitFailure
		stop()
	}
	// Scrapes in flight may end; then the readers are closed.
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logf(err.Error())
	}
	<-read
	return status
}
