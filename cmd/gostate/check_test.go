package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gostate/gostate/internal/nstest"
)

// TestKernelCheck runs gostate --check in a private namespace of n entries,
// as root and as nobody (the health needs no privilege), with thresholds on
// either side of the table's fill: OK, WARNING and CRITICAL with their exit
// statuses and the count and limit in the line; then twice with a state
// file, the second time "since the last check".
func TestKernelCheck(t *testing.T) {
	const n = 3000
	ns := nstest.New(t)
	ns.Fill(t, n)
	b, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_max")
	if err != nil {
		t.Fatal(err)
	}
	max, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || max <= n {
		t.Skipf("nf_conntrack_max %q: want more than %d", b, n)
	}
	fill := 100 * float64(n) / float64(max)
	pct := func(f float64) string { return strconv.FormatFloat(f, 'f', 4, 64) }
	asRoot := func(args ...string) *exec.Cmd { return ns.Command(append([]string{gostateCmd(t).Path}, args...)...) }
	setpriv := needSetpriv(t)
	bin := buildWorldRunnable(t)
	asNobody := func(args ...string) *exec.Cmd {
		return ns.Command(append([]string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", bin}, args...)...)
	}
	line := regexp.MustCompile(`^CONNTRACK (OK|WARNING|CRITICAL) - ([0-9.]+)% full \(([0-9,]+) / ([0-9,]+)\), drops ([0-9,]+)( since the last check)? \| entries=(\d+);\d+;\d+;0;(\d+) fill=[0-9.]+%;[0-9.]+;[0-9.]+ drop=\d+c insert_failed=\d+c early_drop=\d+c\n$`)
	for _, tc := range []struct {
		warn, crit float64
		status     int
		word       string
	}{
		{fill * 2, fill * 3, 0, "OK"},
		{fill / 2, fill * 2, 1, "WARNING"},
		{fill / 3, fill / 2, 2, "CRITICAL"},
	} {
		for who, cmd := range map[string]func(...string) *exec.Cmd{"root": asRoot, "nobody": asNobody} {
			args := []string{"--check", "--warn", pct(tc.warn), "--crit", pct(tc.crit)}
			status, out, stderr := runAll(t, cmd(args...))
			m := line.FindStringSubmatch(out)
			switch {
			case status != tc.status || m == nil || stderr != "":
				t.Errorf("%s %v: exit status %d, stdout %q, stderr %q; want %d and one %s line", who, args, status, out, stderr, tc.status, tc.word)
			case m[1] != tc.word || m[7] != strconv.Itoa(n) || m[8] != strconv.Itoa(max) || m[3] != thousands(n) || m[4] != thousands(max):
				t.Errorf("%s %v: %q; want %s, %d of %d", who, args, out, tc.word, n, max)
			}
		}
	}

	state := filepath.Join(t.TempDir(), "check.state")
	for i, since := range []string{"", " since the last check"} {
		status, out, _ := runAll(t, asRoot("--check", "--check-state", state))
		if m := line.FindStringSubmatch(out); status != 0 || m == nil || m[6] != since || m[5] != "0" {
			t.Errorf("check %d with a state file: exit status %d, %q; want OK, drops 0%s", i+1, status, out, since)
		}
	}
	if _, err := os.Stat(state); err != nil {
		t.Errorf("state file: %v", err)
	}
}
