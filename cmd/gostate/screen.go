package main

import (
	"os"

	"github.com/gostate/gostate/internal/monitor"
	"github.com/gostate/gostate/internal/source"
	"github.com/gostate/gostate/internal/ui/screen"
)

// runScreen shows the live screen until the user quits.
func runScreen(cfg *config, stderr *os.File) int {
	r, err := source.Open(cfg.source)
	if err != nil {
		return fail(stderr, err)
	}
	defer r.Close()
	// Only the live netlink source can delete; the screen refuses x without
	// a Deleter and says why, and with --read-only.
	d, _ := r.(source.Deleter)
	host, _ := os.Hostname()
	err = screen.Run(monitor.Config{
		Source:   r,
		Deleter:  d,
		ReadOnly: cfg.readOnly,
		View:     cfg.view,
		Interval: cfg.rate,
	}, screen.Config{
		Counters: cfg.counters,
		// The header shows the flows per state at a glance from the start;
		// t hides that line.
		Totals:     true,
		NoColor:    cfg.noColor,
		Lookup:     cfg.lookup,
		NameServer: cfg.nameServer,
		Hostname:   host,
		Version:    versionString(),
	})
	if err != nil {
		return fail(stderr, err)
	}
	return exitOK
}
