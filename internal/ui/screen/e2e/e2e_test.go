// Package e2e runs the built gostate binary in a real terminal (tmux) on a
// private network namespace. It is apart from package screen so that the
// screen's unit tests do not depend on the namespace helpers.
package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gostate/gostate/internal/netns"
	"github.com/gostate/gostate/internal/nstest"
)

// tmuxSession is the built gostate running in a detached tmux session on a
// private tmux server, so that the test never touches the user's own.
type tmuxSession struct {
	t      *testing.T
	socket string
}

func (s *tmuxSession) tmux(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", s.socket}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (s *tmuxSession) capture() string { return s.tmux("capture-pane", "-p", "-t", "e2e") }

// keys sends keys as tmux send-keys names them ("o", "Enter", "Escape").
func (s *tmuxSession) keys(k ...string) { s.tmux(append([]string{"send-keys", "-t", "e2e"}, k...)...) }

// waitFor polls the pane until cond holds on a settled pane: a capture can
// catch the terminal half-way through a redraw, so the pane must read the
// same twice in a row.
func (s *tmuxSession) waitFor(what string, cond func(pane string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		pane := s.capture()
		if cond(pane) {
			time.Sleep(50 * time.Millisecond)
			if again := s.capture(); again == pane {
				return pane
			}
			continue
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s; pane:\n%s", what, pane)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// flowRows returns the table rows of a pane: the lines after the column
// header, up to the status line.
func flowRows(pane string) [][]string {
	lines := strings.Split(pane, "\n")
	var rows [][]string
	in := false
	for _, l := range lines {
		f := strings.Fields(l)
		if !in {
			in = len(f) > 1 && strings.HasPrefix(f[0], "Source")
			continue
		}
		// A row starts with its source; the status line below the rows
		// starts with a message or with the blanks before "row N of M".
		if len(f) < 3 || strings.HasPrefix(l, " ") {
			break
		}
		rows = append(rows, f)
	}
	return rows
}

// endpoint parses "addr:port", "[addr]:port" or a bare address.
func endpoint(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatalf("not an endpoint: %q", s)
	}
	return netip.AddrPortFrom(a, 0)
}

// build builds gostate into the test's temporary directory, once per test
// binary.
func build(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gostate-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		built = filepath.Join(dir, "gostate")
		// go test puts its own go command first in PATH.
		goCmd, err := exec.LookPath("go")
		if err != nil {
			buildErr = err
			return
		}
		if out, err := exec.Command(goCmd, "build", "-o", built, "github.com/gostate/gostate/cmd/gostate").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

var (
	buildOnce sync.Once
	built     string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if built != "" {
		os.RemoveAll(filepath.Dir(built))
	}
	os.Exit(code)
}

// readPID reads the process ID a test's command wrote to file.
func readPID(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return n
}

// needTmux skips a test that cannot run here.
func needTmux(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed")
	}
}

// start runs cmd in a new tmux session of its own server, w×h, killed when
// the test ends.
func start(t *testing.T, w, h int, cmd string) *tmuxSession {
	t.Helper()
	s := &tmuxSession{t: t, socket: "gostate-e2e-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(rand.IntN(1<<30))}
	s.tmux("new-session", "-d", "-s", "e2e", "-x", strconv.Itoa(w), "-y", strconv.Itoa(h), cmd)
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", s.socket, "kill-server").Run() })
	return s
}

// The screen runs and q ends it cleanly on the terminal types admins log in
// with, monochrome ones included; the time q takes on each is measured by
// scripts/bench.sh, not here.
func TestTerminalTypes(t *testing.T) {
	needTmux(t)
	ns := nstest.New(t)
	ns.Fill(t, 30)
	bin := build(t)
	for _, term := range []string{"vt100", "vt220", "xterm-mono", "linux", "screen", "tmux-256color", "xterm-256color"} {
		t.Run(term, func(t *testing.T) {
			s := start(t, 80, 24, fmt.Sprintf("TERM=%s timeout --foreground 120 %s -n %s; echo gostate-exit=$?; sleep 60", term, bin, ns.Name()))
			s.waitFor("the screen", func(p string) bool { return strings.Contains(p, "Sort src") && strings.Contains(p, "row 1 of 30") })
			s.keys("q")
			s.waitFor("a clean exit", func(p string) bool { return strings.Contains(p, "gostate-exit=0") })
		})
	}
}

// Signals from outside leave the terminal usable: SIGQUIT ends the screen
// with the terminal restored; SIGTSTP suspends it to the shell, which can
// use the terminal, and fg brings it back drawn.
func TestSignalsFromOutside(t *testing.T) {
	needTmux(t)
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash for job control")
	}
	ns := nstest.New(t)
	ns.Fill(t, 30)
	bin := build(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	s := start(t, 100, 30, "env -i PATH=$PATH TERM=xterm-256color PS1='$ ' bash --norc --noprofile -i")
	s.waitFor("the shell", func(p string) bool { return strings.Contains(p, "$") })
	run := fmt.Sprintf("sh -c 'echo $$ > %s; exec %s -n %s'", pidFile, bin, ns.Name())
	pid := func() int { return readPID(t, pidFile) }
	sane := func(what string) {
		// The marker the shell prints, sh-2, is not in the command line
		// it echoes, so the output is there when the marker is.
		s.keys("clear; stty -a | grep -o -- ' -\\?icanon' | tr -d ' '; echo sh-$((1+1))", "Enter")
		pane := s.waitFor(what, func(p string) bool { return strings.Contains(p, "sh-2\n") })
		if !regexp.MustCompile(`(?m)^icanon$`).MatchString(pane) {
			t.Errorf("%s: the terminal is not back in canonical mode:\n%s", what, pane)
		}
	}

	// SIGTSTP, then fg.
	s.keys(run, "Enter")
	s.waitFor("the screen", func(p string) bool { return strings.Contains(p, "row 1 of 30") })
	if err := syscall.Kill(pid(), syscall.SIGTSTP); err != nil {
		t.Fatal(err)
	}
	s.waitFor("the shell's job control", func(p string) bool { return strings.Contains(p, "Stopped") })
	sane("after SIGTSTP")
	s.keys("fg", "Enter")
	s.waitFor("the screen again", func(p string) bool { return strings.Contains(p, "row 1 of 30") && strings.Contains(p, "Sort src") })
	s.keys("q")
	s.waitFor("the shell after q", func(p string) bool { return strings.Contains(p, "$ ") && !strings.Contains(p, "Sort src") })

	// SIGQUIT.
	s.keys("clear; "+run+"; echo gostate-exit=$?", "Enter")
	s.waitFor("the screen", func(p string) bool { return strings.Contains(p, "row 1 of 30") })
	if err := syscall.Kill(pid(), syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	s.waitFor("the exit", func(p string) bool { return strings.Contains(p, "gostate-exit=") })
	sane("after SIGQUIT")
}

// A watched namespace deleted by name keeps its last state on screen,
// marked stale, with the header saying what happened, until q: gostate's
// own sockets would keep reading a namespace nobody can see any more.
func TestWatchedNamespaceDeleted(t *testing.T) {
	needTmux(t)
	ns := nstest.New(t)
	ns.Fill(t, 30)
	bin := build(t)
	s := start(t, 120, 30, fmt.Sprintf("TERM=xterm-256color timeout --foreground 120 %s -n %s; echo gostate-exit=$?; sleep 60", bin, ns.Name()))
	s.waitFor("the screen", func(p string) bool { return strings.Contains(p, "row 1 of 30") })
	if out, err := ns.Command("true").CombinedOutput(); err != nil {
		t.Fatalf("namespace not usable: %v %s", err, out)
	}
	if out, err := exec.Command("ip", "netns", "del", ns.Name()).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del: %v %s", err, out)
	}
	// nstest deletes the namespace when the test ends: give it one.
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "add", ns.Name()).Run() })
	pane := s.waitFor("the header to say so", func(p string) bool {
		return strings.Contains(p, "STALE") && strings.Contains(p, "netns "+ns.Name()+" was deleted")
	})
	if rows := flowRows(pane); len(rows) < 20 || !strings.Contains(pane, "Flows 30:") {
		t.Errorf("%d rows on screen after the namespace went, want its last 30:\n%s", len(rows), pane)
	}
	s.keys("q")
	s.waitFor("a clean exit", func(p string) bool { return strings.Contains(p, "gostate-exit=0") })
}

// The header keeps the peak after the table shrank, in a real terminal.
func TestPeakAfterShrinkInTmux(t *testing.T) {
	needTmux(t)
	ns := nstest.New(t)
	ns.Fill(t, 40)
	bin := build(t)
	s := start(t, 120, 30, fmt.Sprintf("TERM=xterm-256color timeout --foreground 120 %s -n %s -R 0.5; echo gostate-exit=$?; sleep 60", bin, ns.Name()))
	s.waitFor("the screen", func(p string) bool { return strings.Contains(p, "peak 40 at ") })
	ns.Exec(t, "conntrack", "-D", "-p", "udp")
	pane := s.waitFor("the smaller table", func(p string) bool { return strings.Contains(p, "entries 20/") })
	if !strings.Contains(pane, "peak 40 at ") {
		t.Errorf("the peak is gone after the table shrank:\n%s", pane)
	}
	s.keys("q")
	s.waitFor("a clean exit", func(p string) bool { return strings.Contains(p, "gostate-exit=0") })
}

// TestEndToEndInTmux runs the built binary in a real terminal (tmux) on a
// private namespace with synthetic entries: order, count and max, a filter,
// a delete that the kernel sees, a resize, and a clean exit with q.
func TestEndToEndInTmux(t *testing.T) {
	needTmux(t)
	ns := nstest.New(t)
	const n = 300
	ns.Fill(t, n)

	bin := build(t)
	maxText, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_max")
	if err != nil {
		t.Skipf("cannot read nf_conntrack_max: %v", err)
	}
	maxEntries, _ := strconv.Atoi(strings.TrimSpace(string(maxText)))

	// timeout ends gostate, and so the session and its server, even when
	// this test is killed before its cleanup runs (go test -timeout, ^C).
	s := start(t, 120, 40, fmt.Sprintf("TERM=xterm-256color timeout --foreground 300 %s -n %s -R 0.5; echo gostate-exit=$?; sleep 60", bin, ns.Name()))

	// The header's count and max.
	s.waitFor("the header", func(p string) bool {
		return strings.Contains(p, fmt.Sprintf("entries %s/%s", fmtCount(n), fmtCount(maxEntries)))
	})

	// Sorted by destination with o d: addresses ascending, IPv4 first.
	s.keys("o", "d")
	pane := s.waitFor("the sort by destination", func(p string) bool { return strings.Contains(p, "Destination▲") })
	rows := flowRows(pane)
	if len(rows) < 10 {
		t.Fatalf("only %d rows on screen:\n%s", len(rows), pane)
	}
	for i := 1; i < len(rows); i++ {
		a, b := endpoint(t, rows[i-1][1]).Addr(), endpoint(t, rows[i][1]).Addr()
		if a.Compare(b) > 0 {
			t.Errorf("row %d: destination %v after %v", i, b, a)
		}
	}

	// A destination port filter.
	s.keys("D")
	s.waitFor("the port prompt", func(p string) bool { return strings.Contains(p, "Destination port filter") })
	s.keys("4", "4", "3", "Enter")
	pane = s.waitFor("the filter", func(p string) bool { return strings.Contains(p, "hidden by filters") })
	for _, r := range flowRows(pane) {
		if endpoint(t, r[1]).Port() != 443 {
			t.Errorf("filter dport 443 shows %v", r)
		}
	}

	// Delete the first flow: the kernel's count drops by one.
	first := flowRows(pane)[0]
	s.keys("g", "x")
	s.waitFor("the delete question", func(p string) bool {
		return strings.Contains(p, "Delete ") && strings.Contains(p, first[0]+" -> "+first[1]+"? (y/n)")
	})
	s.keys("y")
	s.waitFor("the delete's result", func(p string) bool { return strings.Contains(p, "deleted ") })
	if got := ns.Count(t); got != n-1 {
		t.Errorf("the kernel counts %d entries after a delete, want %d", got, n-1)
	}
	s.waitFor("the new count", func(p string) bool { return strings.Contains(p, "entries "+fmtCount(n-1)+"/") })

	// Resize to 60x15: every line fits, the header and rows stay.
	s.tmux("resize-window", "-t", "e2e", "-x", "60", "-y", "15")
	pane = s.waitFor("the resize", func(p string) bool {
		lines := strings.Split(strings.TrimRight(p, "\n"), "\n")
		return len(lines) <= 15 && strings.Contains(p, "entries") && len(flowRows(p)) > 0
	})
	for _, l := range strings.Split(pane, "\n") {
		if len([]rune(l)) > 60 {
			t.Errorf("line wider than 60 columns: %q", l)
		}
	}

	// q ends gostate with status 0 and gives the terminal back.
	s.keys("q")
	s.waitFor("a clean exit", func(p string) bool { return strings.Contains(p, "gostate-exit=0") })
}

// fmtCount writes n with thousands separators, as the header does.
func fmtCount(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// groupRows returns the group view's rows of a pane: key and entries, from
// the line after the titles (the key's title, then Entries) to the status
// line.
func groupRows(pane string) [][2]string {
	var rows [][2]string
	in := false
	for _, l := range strings.Split(pane, "\n") {
		f := strings.Fields(l)
		if !in {
			in = len(f) > 1 && strings.HasPrefix(f[1], "Entries")
			continue
		}
		if len(f) < 3 || strings.HasPrefix(l, " ") {
			break
		}
		rows = append(rows, [2]string{f[0], f[1]})
	}
	return rows
}

// The group view on a real table: Tab opens it, a regroups, Enter goes into
// a network and then an address, Esc walks back, and x deletes a group's
// flows (a port's, a dozen or so), which the kernel's table loses, those and
// no others.
func TestGroupViewInTmux(t *testing.T) {
	needTmux(t)
	ns := nstest.New(t)
	const n = 300
	ns.Fill(t, n)
	bin := build(t)
	s := start(t, 120, 40, fmt.Sprintf("TERM=xterm-256color timeout --foreground 300 %s -n %s -R 0.5; echo gostate-exit=$?; sleep 60", bin, ns.Name()))
	s.waitFor("the header", func(p string) bool { return strings.Contains(p, "entries "+fmtCount(n)+"/") })

	s.keys("Tab")
	s.waitFor("the group view", func(p string) bool { return strings.Contains(p, "Groups src, biggest first") })
	s.keys("a", "s", "r", "c", "/", "2", "4", "Enter")
	pane := s.waitFor("the networks", func(p string) bool {
		return strings.Contains(p, "Groups src/24") && len(groupRows(p)) > 0
	})
	network := groupRows(pane)[0][0]
	s.keys("Enter")
	pane = s.waitFor("the network's sources", func(p string) bool {
		return strings.Contains(p, "src/24 "+network+" › Groups src") && len(groupRows(p)) > 0
	})
	host := groupRows(pane)[0][0]
	if !netip.MustParsePrefix(network).Contains(netip.MustParseAddr(host)) {
		t.Errorf("source %s is not in %s", host, network)
	}
	s.keys("Enter")
	pane = s.waitFor("the source's flows", func(p string) bool {
		return strings.Contains(p, "src "+host+" › Sort") && len(flowRows(p)) > 0
	})
	for _, r := range flowRows(pane) {
		if a := endpoint(t, r[0]).Addr(); a != netip.MustParseAddr(host) {
			t.Errorf("the flows of %s show one from %v", host, a)
		}
	}
	s.keys("Escape")
	s.waitFor("back to the sources", func(p string) bool {
		return strings.Contains(p, network+" › Groups src") && !strings.Contains(p, "src "+host+" ›")
	})
	s.keys("Escape")
	s.waitFor("back to the networks", func(p string) bool {
		return strings.Contains(p, "Groups src/24") && !strings.Contains(p, "›")
	})

	// Delete the flows to the busiest destination port ("tcp/443").
	s.keys("a", "d", "p", "o", "r", "t", "Enter")
	pane = s.waitFor("the ports", func(p string) bool {
		return strings.Contains(p, "grouped by dport") && len(groupRows(p)) > 0
	})
	top := groupRows(pane)[0]
	protoName, portText, _ := strings.Cut(top[0], "/")
	port, err := strconv.Atoi(portText)
	if err != nil || (protoName != "tcp" && protoName != "udp") {
		t.Fatalf("the biggest group is %q, want a TCP or UDP port", top[0])
	}
	proto := uint8(6)
	if protoName == "udp" {
		proto = 17
	}
	count, err := strconv.Atoi(strings.ReplaceAll(top[1], ",", ""))
	if err != nil {
		t.Fatalf("entries %q: %v", top[1], err)
	}
	s.keys("x")
	s.waitFor("the question", func(p string) bool {
		return strings.Contains(p, "delete "+fmtCount(count)+" flow")
	})
	if !strings.Contains(s.capture(), " of dport "+top[0]+"? y/N") {
		t.Errorf("the question does not name the group:\n%s", s.capture())
	}
	s.keys("y")
	s.waitFor("the deletes", func(p string) bool { return strings.Contains(p, "deleted "+fmtCount(count)) })
	if got := ns.Count(t); got != n-count {
		t.Errorf("the kernel counts %d entries after deleting %d of %d, want %d", got, count, n, n-count)
	}
	left, err := ns.Conn(t).Dump(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range left {
		if o := f.TupleOrig.Proto; o.Protocol == proto && o.DestinationPort == uint16(port) {
			t.Errorf("a flow to %s is left: %v", top[0], f)
		}
	}
	if count < 2 {
		t.Errorf("the biggest port's group has %d flows, too few to tell one delete from several", count)
	}
	if len(left) != n-count {
		t.Errorf("%d flows left, want %d", len(left), n-count)
	}
	s.keys("q")
	s.waitFor("a clean exit", func(p string) bool { return strings.Contains(p, "gostate-exit=0") })
}

// An overrun of the kernel's events, in a real terminal: gostate stopped
// (SIGSTOP) while 10,000 flows are created, five times what its 2 MiB
// receive buffer holds, then continued. The header says events were lost,
// the session reads the whole table, and the screen ends with every flow.
func TestOverrunInTmux(t *testing.T) {
	needTmux(t)
	ns := nstest.New(t)
	ns.Fill(t, 30)
	bin := build(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	s := start(t, 200, 30, fmt.Sprintf("TERM=xterm-256color sh -c 'echo $$ > %s; exec %s -n %s'; sleep 60", pidFile, bin, ns.Name()))
	s.waitFor("the screen, following events", func(p string) bool {
		return strings.Contains(p, "row 1 of 30") && strings.Contains(p, "events (whole table every 60s")
	})
	pid := readPID(t, pidFile)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		if _, after, _ := strings.Cut(string(stat), ") "); strings.HasPrefix(after, "T") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("gostate not stopped a minute after SIGSTOP")
		}
	}
	// The fill's first 30 entries are there already.
	if res, err := netns.Fill(ns.Path(), 10_030, netns.FillOptions{}); err != nil || res.Created != 10_000 {
		t.Fatalf("fill: %+v, %v", res, err)
	}
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	pane := s.waitFor("the overrun, healed", func(p string) bool {
		return regexp.MustCompile(`events lost \d×, last at \d\d:\d\d:\d\d, resynced`).MatchString(p) &&
			strings.Contains(p, "Flows 10,030:")
	})
	if rows := flowRows(pane); len(rows) < 20 {
		t.Errorf("%d rows on screen after the resync:\n%s", len(rows), pane)
	}
	s.keys("q")
}
