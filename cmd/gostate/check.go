package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/gostate/gostate/internal/check"
	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/source"
)

// checkFlags are --check's settings.
type checkFlags struct {
	th    check.Thresholds
	state string
}

// checkOnly are the flags only --check takes; withCheck the others it does
// (which table to read).
var (
	checkOnly = []string{"warn", "crit", "check-state"}
	withCheck = map[string]bool{"check": true, "warn": true, "crit": true, "check-state": true, "netns": true, "source": true}
)

// wantsCheck reports whether args ask for --check, looked at before they are
// parsed: under --check even a usage error is reported as a plugin does.
func wantsCheck(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "--check", "--check=true":
			return true
		}
	}
	return false
}

// parseCheck refuses the flags --check does not take, and checks the
// thresholds.
func parseCheck(fs *pflag.FlagSet, cfg *config) error {
	var err error
	fs.Visit(func(f *pflag.Flag) {
		if err == nil && !withCheck[f.Name] {
			err = usagef("%s does not apply to --check, which judges the table's health", spelled(fs, f.Name))
		}
	})
	if err != nil {
		return err
	}
	if err := cfg.check.th.Validate(); err != nil {
		return usagef("invalid thresholds: %v", err)
	}
	return nil
}

// notWithoutCheck refuses --check's flags without it.
func notWithoutCheck(fs *pflag.FlagSet) error {
	for _, name := range checkOnly {
		if fs.Changed(name) {
			return usagef("%s applies only to --check", spelled(fs, name))
		}
	}
	return nil
}

// checkUsage is the one line and exit status of a command line --check
// cannot run with: UNKNOWN (3), as every failure of a plugin.
func checkUsage(stdout *os.File, err error) int {
	return checkExit(stdout, check.Unknownf("usage: %v (see gostate --help)", err))
}

// checkExit prints r's line and returns its exit status.
func checkExit(stdout *os.File, r check.Result) int {
	fmt.Fprintln(stdout, r.Line)
	return int(r.Status)
}

// runCheck is --check: the table's health in one line, exit status 0 OK, 1
// WARNING, 2 CRITICAL, 3 UNKNOWN. It reads the health alone, which any
// user may (the world-readable /proc files when netlink is refused).
func runCheck(cfg *config, stdout *os.File) int {
	opts := cfg.source
	opts.HealthFallback = true
	r, err := source.Open(opts)
	if err != nil {
		return checkExit(stdout, check.Unknownf("%v", err))
	}
	defer r.Close()
	var t flow.Table
	if err := r.ReadSummary(&t); err != nil {
		return checkExit(stdout, check.Unknownf("%v", err))
	}
	now := time.Now()
	var prev *check.Counters
	if cfg.check.state != "" {
		if prev, err = check.LoadState(cfg.check.state); err != nil {
			return checkExit(stdout, check.Unknownf("--check-state: %v", err))
		}
	}
	res := check.Evaluate(&t.Stats, cfg.check.th, prev, now)
	if cur, ok := check.CountersOf(&t.Stats, now); ok && cfg.check.state != "" {
		if err := check.SaveState(cfg.check.state, cur); err != nil {
			return checkExit(stdout, check.Unknownf("--check-state: %v", err))
		}
	}
	return checkExit(stdout, res)
}
