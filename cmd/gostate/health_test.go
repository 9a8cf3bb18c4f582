package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gostate/gostate/internal/nstest"
)

// statsOutput is gostate --stats as these tests read it: pointers for what
// may be left out.
type statsOutput struct {
	Entries             int      `json:"entries"`
	Max                 *int     `json:"max"`
	Fill                *float64 `json:"fill"`
	Buckets             *int     `json:"buckets"`
	BytesPerEntrySource string   `json:"bytes_per_entry_source"`
	Source              string   `json:"source"`
	Warnings            []string `json:"warnings"`
	Found               *uint64  `json:"found"`
	Ignore              *uint64  `json:"ignore"`
	Insert              *uint64  `json:"insert"`
	InsertFailed        *uint64  `json:"insert_failed"`
	Drop                *uint64  `json:"drop"`
	EarlyDrop           *uint64  `json:"early_drop"`
}

// runAll runs cmd with a minute to finish and returns its exit status and
// output.
func runAll(t *testing.T, cmd *exec.Cmd) (status int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	c.Env = append(os.Environ(), "COLUMNS=", "COLS=", "NO_COLOR=")
	var out, errOut bytes.Buffer
	c.Stdout, c.Stderr = &out, &errOut
	err := c.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		status = ee.ExitCode()
	default:
		t.Fatalf("%s: %v; stderr: %s", strings.Join(cmd.Args, " "), err, errOut.String())
	}
	return status, out.String(), errOut.String()
}

// parseStats decodes gostate --stats.
func parseStats(t *testing.T, out string) statsOutput {
	t.Helper()
	var st statsOutput
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("--stats: %v\n%s", err, out)
	}
	return st
}

// checkHealthLine checks the health line gostate -1 starts with: n entries
// of a known limit, the fill, and the kernel's drop counters.
func checkHealthLine(t *testing.T, what, line string, n int) {
	t.Helper()
	if !strings.HasPrefix(line, "entries "+thousands(n)+"/") || !strings.Contains(line, "  fill ") ||
		!strings.Contains(line, "  drop 0  insert_failed 0  early_drop 0  ") {
		t.Errorf("%s: health line %q; want %d entries of a limit, the fill and the drop counters", what, line, n)
	}
}

// TestHealthWithoutProc runs gostate inside a namespace whose /proc is
// hidden, as in containers and on kernels without
// CONFIG_NF_CONNTRACK_PROCFS: a tmpfs over /proc in a mount namespace of
// its own, with private propagation, so that nothing reaches the host's
// mounts. The health comes over netlink: entries, the limit, the fill and
// the counters; the buckets, which only /proc shows, are left out, and the
// size of an entry is the estimate.
func TestHealthWithoutProc(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare (util-linux) for a mount namespace")
	}
	// A binary of its own: the test binary's race detector, under -race,
	// complains on standard error without /proc/self/exe.
	bin := buildWorldRunnable(t)
	const n = 500
	ns := nstest.New(t)
	ns.Fill(t, n)
	hidden := func(args ...string) *exec.Cmd {
		script := `mount -t tmpfs gostate-test-noproc /proc && test ! -e /proc/sys/net && exec "$0" "$@"`
		return ns.Command(append([]string{unshare, "--mount", "--propagation", "private", "sh", "-c", script, bin}, args...)...)
	}

	status, out, stderr := runAll(t, hidden("--stats"))
	if status != exitOK || stderr != "" {
		t.Fatalf("--stats with /proc hidden: exit status %d, stderr:\n%s", status, stderr)
	}
	st := parseStats(t, out)
	switch {
	case st.Entries != n || st.Max == nil || *st.Max <= 0 || st.Fill == nil || st.Source != "netlink" || len(st.Warnings) != 0:
		t.Errorf("--stats with /proc hidden: %s\nwant %d entries, a max, the fill, source netlink, no warnings", out, n)
	case st.Found == nil || st.Insert == nil || *st.Insert < n || st.InsertFailed == nil || st.Drop == nil || st.EarlyDrop == nil:
		t.Errorf("--stats with /proc hidden: %s\nwant the per-CPU counters, insert counting the %d entries", out, n)
	case st.Buckets != nil || st.BytesPerEntrySource != "estimate":
		t.Errorf("--stats with /proc hidden: %s\nwant no buckets and the estimated size of an entry", out)
	}

	status, out, stderr = runAll(t, hidden("-1"))
	if status != exitOK || stderr != "" {
		t.Fatalf("-1 with /proc hidden: exit status %d, stderr:\n%s", status, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	checkHealthLine(t, "-1 with /proc hidden", lines[0], n)
	if !strings.Contains(lines[0], "(256 B/entry, estimated)  ") || len(lines) != n+2 {
		t.Errorf("-1 with /proc hidden: %d lines, health %q; want the estimated size of an entry and %d rows", len(lines), lines[0], n)
	}

	// The host's /proc is still there.
	if _, err := os.Stat("/proc/sys/net"); err != nil {
		t.Errorf("after the runs: %v", err)
	}
}

// TestHealthUnprivileged runs gostate as nobody inside a namespace: the rows
// are refused (ctnetlink needs CAP_NET_ADMIN, /proc/net/nf_conntrack is
// root's), the health is not. --stats shows it with a warning, and -1 its
// health line before failing with the reason.
func TestHealthUnprivileged(t *testing.T) {
	setpriv := needSetpriv(t)
	const n = 40
	ns := nstest.New(t)
	ns.Fill(t, n)
	bin := buildWorldRunnable(t)
	nobody := func(args ...string) *exec.Cmd {
		return ns.Command(append([]string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", bin}, args...)...)
	}
	const warning = "rows need CAP_NET_ADMIN or root: showing the table's health only"

	status, out, stderr := runAll(t, nobody("--stats"))
	if status != exitOK || stderr != "gostate: "+warning+"\n" {
		t.Fatalf("--stats as nobody: exit status %d, stderr:\n%s\nwant %d and the warning %q", status, stderr, exitOK, warning)
	}
	st := parseStats(t, out)
	switch {
	case st.Entries != n || st.Max == nil || *st.Max <= 0 || st.Fill == nil || st.Buckets == nil || *st.Buckets <= 0:
		t.Errorf("--stats as nobody: %s\nwant %d entries, a max, the fill and the buckets", out, n)
	case st.Source != "/proc (health only)" || len(st.Warnings) != 1 || st.Warnings[0] != warning:
		t.Errorf("--stats as nobody: %s\nwant source \"/proc (health only)\" and the warning %q", out, warning)
	case st.Insert == nil || *st.Insert < n || st.Drop == nil || st.Ignore == nil:
		t.Errorf("--stats as nobody: %s\nwant the counters of /proc/net/stat/nf_conntrack, ignore among them", out)
	case st.BytesPerEntrySource != "estimate":
		t.Errorf("--stats as nobody: %s\nwant the estimated size of an entry (/proc/slabinfo is root's)", out)
	}

	status, out, stderr = runAll(t, nobody("-1"))
	want := "gostate: cannot read the conntrack table: netlink: operation not permitted; /proc/net/nf_conntrack: permission denied"
	if status != exitFailure || !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("-1 as nobody: exit status %d, stderr:\n%s\nwant %d and one line: %s…", status, stderr, exitFailure, want)
	}
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "  source /proc (health only)\n") {
		t.Errorf("-1 as nobody: stdout\n%s\nwant the health line alone, naming its source", out)
	}
	checkHealthLine(t, "-1 as nobody", out, n)

	// JSON Lines are rows only: nothing to show without them.
	if status, out, _ := runAll(t, nobody("--json")); status != exitFailure || out != "" {
		t.Errorf("--json as nobody: exit status %d, stdout %q; want %d and nothing", status, out, exitFailure)
	}
}
