package main

import (
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/netns"
	"github.com/gostate/gostate/internal/nstest"
)

func ctfill(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut strings.Builder
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "name a namespace with -n"},
		{[]string{"-n", "x", "-proto", "sctp"}, `-proto "sctp"`},
		{[]string{"-n", "x", "-N", "-5"}, "cannot be negative"},
		{[]string{"-n", "x", "-timeout", "0"}, "-timeout 0"},
		{[]string{"-n", "/proc/1/ns/net", "--create"}, "needs a name"},
		{[]string{"-n", "x", "extra"}, `unexpected argument "extra"`},
		{[]string{"-bogus"}, "flag provided but not defined"},
		{[]string{"-n", "x", "--churn", "-1"}, "--churn -1"},
		{[]string{"-n", "x", "-duration", "5s"}, "give --churn RATE too"},
		{[]string{"-n", "x", "--churn", "10", "-duration", "-1s"}, "-duration -1s"},
		{[]string{"-n", "x", "--churn", "10", "-N", "0"}, "want -N of at least 1"},
		{[]string{"-n", "x", "--tcp-churn", "-1"}, "--tcp-churn -1"},
		{[]string{"-n", "x", "--churn", "10", "--tcp-churn", "10"}, "give one of them"},
		{[]string{"-n", "x", "-tw-timeout", "5"}, "give --tcp-churn RATE too"},
		{[]string{"-n", "x", "--tcp-churn", "10", "-tw-timeout", "-1"}, "-tw-timeout -1"},
		{[]string{"-n", "x", "-reap", "5"}, "give --tcp-churn RATE too"},
		{[]string{"-n", "x", "--tcp-churn", "10", "-reap", "-1"}, "-reap -1"},
	} {
		code, stdout, stderr := ctfill(t, tc.args...)
		if code != 1 || stdout != "" || !strings.Contains(stderr, tc.want) {
			t.Errorf("ctfill %q: exit %d, stdout %q, stderr %q; want exit 1 and %q",
				tc.args, code, stdout, stderr, tc.want)
		}
	}
}

// However -n names it, the namespace ctfill runs in is never filled.
func TestRefusesOwnNamespace(t *testing.T) {
	// thread-self, not self: after a fill in this test process the main
	// thread may be parked in a test namespace (see notOwnNamespace).
	code, _, stderr := ctfill(t, "-n", "/proc/thread-self/ns/net", "-N", "1")
	if code != 2 || !strings.Contains(stderr, "refusing to fill") {
		t.Errorf("ctfill -n /proc/thread-self/ns/net: exit %d, stderr %q; want a refusal", code, stderr)
	}
	// In a container even root may not open init's namespace; either way,
	// nothing is filled.
	code, _, stderr = ctfill(t, "-n", "/proc/1/ns/net", "-N", "1")
	if code != 2 || strings.Contains(stderr, "inserted") {
		t.Errorf("ctfill -n /proc/1/ns/net: exit %d, stderr %q; want a refusal", code, stderr)
	}
}

func TestFillsNamedNamespace(t *testing.T) {
	ns := nstest.New(t)
	code, stdout, stderr := ctfill(t, "-n", ns.Name(), "-N", "3000", "-proto", "udp", "-timeout", "600")
	if code != 0 || stdout != "" || !strings.Contains(stderr, "inserted 3,000 entries into "+ns.Name()) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if got := ns.Count(t); got != 3000 {
		t.Errorf("namespace holds %d entries, want 3000", got)
	}
	if out := ns.Exec(t, "conntrack", "-L", "-p", "tcp"); strings.TrimSpace(out) != "" {
		t.Errorf("-proto udp inserted TCP entries:\n%s", out)
	}
}

// tuples returns the original tuples of the namespace's entries, as text.
func tuples(t *testing.T, ns *nstest.NS) map[string]bool {
	t.Helper()
	flows, err := ns.Conn(t).Dump(nil)
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]bool, len(flows))
	for _, f := range flows {
		m[f.TupleOrig.String()] = true
	}
	return m
}

// --churn keeps the table at -N entries while it replaces them: as many
// entries go as come, and those that went are the fill's, oldest first.
func TestChurn(t *testing.T) {
	ns := nstest.New(t)
	if code, _, stderr := ctfill(t, "-n", ns.Name(), "-N", "2000"); code != 0 {
		t.Fatalf("fill: exit %d, stderr %q", code, stderr)
	}
	before := tuples(t, ns)
	code, stdout, stderr := ctfill(t, "-n", ns.Name(), "-N", "2000", "--churn", "1000", "-duration", "2s")
	if code != 0 || stdout != "" || !strings.Contains(stderr, "2,000 were already there") ||
		!strings.Contains(stderr, "for 2s") || !strings.Contains(stderr, "the table holds 2,000 entries") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	m := regexp.MustCompile(`churned \S+ for [0-9.]+ s: ([0-9,]+) created and ([0-9,]+) deleted`).FindStringSubmatch(stderr)
	if m == nil || m[1] != m[2] || m[1] == "0" {
		t.Fatalf("stderr %q: want as many created as deleted, and some", stderr)
	}
	replaced := 0
	for _, c := range strings.ReplaceAll(m[1], ",", "") {
		replaced = replaced*10 + int(c-'0')
	}
	after := tuples(t, ns)
	gone, kept := 0, 0
	for k := range before {
		if after[k] {
			kept++
		} else {
			gone++
		}
	}
	// 2,000 entries of which only 2,000-gone are the fill's: the rest are new.
	if len(after) != 2000 || gone != min(replaced, 2000) {
		t.Errorf("after replacing %d: %d entries, %d of the fill's gone, %d kept; want 2000 and %d gone",
			replaced, len(after), gone, kept, min(replaced, 2000))
	}
}

// --tcp-churn fills -N synthetic entries, then makes real connections whose
// entries the kernel creates (the churn's addresses, in TIME_WAIT at the
// end), with the TIME_WAIT timeout set in that namespace alone.
func TestTCPChurn(t *testing.T) {
	ns := nstest.New(t)
	code, stdout, stderr := ctfill(t, "-n", ns.Name(), "-N", "500", "--tcp-churn", "200", "-tw-timeout", "30", "-duration", "2s")
	if code != 0 || stdout != "" || !strings.Contains(stderr, "inserted 500 entries") ||
		!strings.Contains(stderr, "churning "+ns.Name()+" for 2s with real TCP") || !strings.Contains(stderr, ", 0 failed;") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	m := regexp.MustCompile(`churned \S+ with real TCP for [0-9.]+ s: ([0-9,]+) connections`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("stderr %q: no summary of the connections", stderr)
	}
	completed, _ := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
	if got := strings.TrimSpace(ns.Exec(t, "cat", "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait")); got != "30" {
		t.Errorf("the namespace's TIME_WAIT timeout is %s, want 30", got)
	}
	flows, err := ns.Conn(t).Dump(nil)
	if err != nil {
		t.Fatal(err)
	}
	churned := netip.MustParsePrefix("127.1.0.0/16")
	timeWait := 0
	for _, f := range flows {
		if churned.Contains(f.TupleOrig.IP.SourceAddress) && f.ProtoInfo.TCP != nil && f.ProtoInfo.TCP.State == flow.TCPTimeWait {
			timeWait++
		}
	}
	// A TIME_WAIT of 30 s outlasts the test: every connection's entry is
	// still there.
	if completed < 300 || timeWait != completed || len(flows) != 500+completed {
		t.Errorf("%d connections completed; the table holds %d entries, %d of them the churn's in TIME_WAIT; want about 400, and 500 more entries than that",
			completed, len(flows), timeWait)
	}
}

func TestCreate(t *testing.T) {
	if err := netns.Usable(); err != nil {
		t.Skip(err)
	}
	code, stdout, stderr := ctfill(t, "--create", "-N", "100")
	name := strings.TrimSpace(stdout)
	if name != "" {
		t.Cleanup(func() { netns.Remove(name) })
	}
	if code != 0 || !strings.HasPrefix(name, "gostate-demo-") || strings.Contains(name, "\n") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want the new namespace's name alone", code, stdout, stderr)
	}
	if n, err := nstest.Count(netns.Path(name)); err != nil || n != 100 {
		t.Errorf("new namespace holds %d entries (%v), want 100", n, err)
	}
}

// ctfill is a tool, not a test: it must not link package testing (which
// internal/nstest imports) nor anything built on it.
func TestDoesNotLinkTesting(t *testing.T) {
	// go test puts its own go command first on the PATH.
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to list the dependencies with: %v", err)
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "testing" || strings.HasSuffix(pkg, "/internal/nstest") {
			t.Errorf("ctfill links %s", pkg)
		}
	}
}
