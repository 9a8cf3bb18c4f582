package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gostate/gostate/internal/netns"
	"github.com/gostate/gostate/internal/nstest"
	"github.com/gostate/gostate/internal/ui/text"
	"github.com/ti-mo/conntrack"
)

// These tests run the built gostate -E inside private namespaces (nstest
// skips them without root) while they create and delete flows there.

// eventsRun is a gostate -E running on a namespace, the lines of its
// standard output arriving on lines, those of its standard error on errs.
type eventsRun struct {
	cmd         *exec.Cmd
	lines, errs chan string
}

// startEvents starts gostate --netns NS with args and returns once it
// listens: the kernel only announces flows created after that.
func startEvents(t *testing.T, ns *nstest.NS, args ...string) *eventsRun {
	t.Helper()
	before := listeners(t, ns)
	r := &eventsRun{
		cmd:   gostateCmd(t, append([]string{"--netns", ns.Name()}, args...)...),
		lines: make(chan string, 100000),
		errs:  make(chan string, 100),
	}
	out, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errOut, err := r.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	})
	for _, p := range []struct {
		from io.Reader
		to   chan string
	}{{out, r.lines}, {errOut, r.errs}} {
		go func() {
			sc := bufio.NewScanner(p.from)
			for sc.Scan() {
				p.to <- sc.Text()
			}
			close(p.to)
		}()
	}
	waitListeners(t, ns, before+1)
	return r
}

// listeners counts the ctnetlink sockets in ns subscribed to any group, from
// the namespace's /proc/net/netlink: protocol 12 (NETLINK_NETFILTER) with a
// non-zero group mask.
func listeners(t *testing.T, ns *nstest.NS) int {
	t.Helper()
	n := 0
	ns.Do(t, func() error {
		b, err := os.ReadFile("/proc/thread-self/net/netlink")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			// sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
			if f := strings.Fields(line); len(f) > 3 && f[1] == "12" && strings.Trim(f[3], "0") != "" {
				n++
			}
		}
		return nil
	})
	return n
}

// waitListeners waits until ns has n listeners. Polling is how a test learns
// that another process has subscribed; the minute only bounds a gostate that
// never does.
func waitListeners(t *testing.T, ns *nstest.NS, n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); listeners(t, ns) < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gostate -E did not subscribe within a minute")
		}
	}
}

// next returns the next line of standard output, failing the test when
// gostate ends first or prints nothing for a minute (events come in
// milliseconds).
func (r *eventsRun) next(t *testing.T) string {
	t.Helper()
	return r.line(t, r.lines, "standard output")
}

// nextErr is next for standard error.
func (r *eventsRun) nextErr(t *testing.T) string {
	t.Helper()
	return r.line(t, r.errs, "standard error")
}

func (r *eventsRun) line(t *testing.T, from chan string, what string) string {
	t.Helper()
	select {
	case line, ok := <-from:
		if ok {
			return line
		}
		t.Fatalf("gostate -E closed its %s; stderr: %q", what, drain(r.errs))
	case <-time.After(time.Minute):
		t.Fatalf("nothing on gostate -E's %s for a minute; stderr: %q", what, drain(r.errs))
	}
	return ""
}

// drain returns the lines waiting in c, without waiting for more.
func drain(c chan string) []string {
	var lines []string
	for {
		select {
		case line, ok := <-c:
			if !ok {
				return lines
			}
			lines = append(lines, line)
		default:
			return lines
		}
	}
}

// stop sends sig and checks that gostate ends with status 0 and says
// nothing on standard error.
func (r *eventsRun) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	// A gostate that ignores the signal is killed after a minute, and
	// the test fails on its status.
	kill := time.AfterFunc(time.Minute, func() { r.cmd.Process.Kill() })
	defer kill.Stop()
	for range r.lines {
	}
	var said []string
	for line := range r.errs {
		said = append(said, line)
	}
	if err := r.cmd.Wait(); err != nil {
		t.Errorf("gostate -E after %v: %v", sig, err)
	}
	if len(said) > 0 {
		t.Errorf("gostate -E after %v said: %q", sig, said)
	}
}

func evFlow(proto uint8, src, dst string, sport, dport uint16, state uint8) conntrack.Flow {
	f := conntrack.NewFlow(proto, conntrack.StatusConfirmed, netip.MustParseAddr(src), netip.MustParseAddr(dst), sport, dport, 120, 0)
	if proto == 6 {
		f.ProtoInfo.TCP = &conntrack.ProtoInfoTCP{State: state}
	}
	return f
}

const (
	tcpSynSent     = 1
	tcpEstablished = 3
)

// timestampRE matches text.EventTimeLayout.
const timestampRE = `(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(?:Z|[+-]\d\d:\d\d))`

// TestEventsText: a TCP flow's NEW, UPDATE and DESTROY (with counters, as
// accounting is on), then a UDP flow's NEW, as text lines; SIGINT ends the
// stream with status 0.
func TestEventsText(t *testing.T) {
	ns := nstest.New(t)
	ns.Exec(t, "sysctl", "-q", "-w", "net.netfilter.nf_conntrack_acct=1")
	start := time.Now().Truncate(time.Millisecond)
	r := startEvents(t, ns, "-E")
	c := ns.Conn(t)
	tcp := evFlow(6, "192.0.2.1", "198.51.100.2", 40000, 80, tcpSynSent)
	udp := evFlow(17, "2001:db8::1", "2001:db8::2", 5353, 53, 0)
	if err := c.Create(tcp); err != nil {
		t.Fatal(err)
	}
	tcp.ProtoInfo.TCP.State = tcpEstablished
	for _, op := range []func(conntrack.Flow) error{c.Update, c.Delete} {
		if err := op(tcp); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Create(udp); err != nil {
		t.Fatal(err)
	}
	const tuple = `  192\.0\.2\.1:40000  198\.51\.100\.2:80  tcp  `
	for _, want := range []string{
		`^\[NEW\]  ` + timestampRE + tuple + `SYN_SENT  0:0[12]:\d\d$`,
		`^\[UPDATE\]  ` + timestampRE + tuple + `ESTABLISHED  0:0[12]:\d\d$`,
		`^\[DESTROY\]  ` + timestampRE + tuple + `ESTABLISHED  0:0[12]:\d\d  0B  0$`,
		`^\[NEW\]  ` + timestampRE + `  \[2001:db8::1\]:5353  \[2001:db8::2\]:53  udp  UNREPLIED  0:0[12]:\d\d$`,
	} {
		line := r.next(t)
		m := regexp.MustCompile(want).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("line %q does not match %s", line, want)
		}
		// The time the event was received: after gostate started, and
		// not later than now.
		if ts, err := time.Parse(text.EventTimeLayout, m[1]); err != nil || ts.Before(start) || ts.After(time.Now()) {
			t.Errorf("timestamp %s (%v): not between %v and now", m[1], err, start)
		}
	}
	r.stop(t, syscall.SIGINT)
}

// TestEventsJSON: -E -j prints the --json object with event and timestamp
// first; DESTROY carries the counters. SIGTERM ends it with status 0.
func TestEventsJSON(t *testing.T) {
	ns := nstest.New(t)
	ns.Exec(t, "sysctl", "-q", "-w", "net.netfilter.nf_conntrack_acct=1")
	r := startEvents(t, ns, "-E", "-j")
	c := ns.Conn(t)
	udp := evFlow(17, "192.0.2.3", "203.0.113.4", 5353, 53, 0)
	if err := c.Create(udp); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(udp); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"new", "destroy"} {
		line := r.next(t)
		var rec struct {
			Event, Timestamp, Proto, Src, Dst string
			Sport, Dport                      int
			OrigPackets                       *uint64 `json:"orig_packets"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, line)
		}
		if !strings.HasPrefix(line, `{"event":"`+kind+`","timestamp":"`) || rec.Proto != "udp" ||
			rec.Src != "192.0.2.3" || rec.Dst != "203.0.113.4" || rec.Sport != 5353 || rec.Dport != 53 {
			t.Errorf("%s: %s", kind, line)
		}
		if _, err := time.Parse(time.RFC3339Nano, rec.Timestamp); err != nil {
			t.Errorf("%s: timestamp: %v", kind, err)
		}
		if (rec.OrigPackets != nil) != (kind == "destroy") {
			t.Errorf("%s: counters %v, want them on destroy only: %s", kind, rec.OrigPackets != nil, line)
		}
	}
	r.stop(t, syscall.SIGTERM)
}

// TestEventsFilterAndKinds runs two streams at once: one with a filter (-D
// 80), one with --events=destroy. A last flow marks the end: every event
// before it has been printed, or left out, by then.
func TestEventsFilterAndKinds(t *testing.T) {
	ns := nstest.New(t)
	filtered := startEvents(t, ns, "-E", "-D", "80")
	destroys := startEvents(t, ns, "--events=destroy")
	c := ns.Conn(t)
	web := evFlow(6, "192.0.2.1", "198.51.100.2", 40000, 80, tcpSynSent)
	dns := evFlow(17, "192.0.2.1", "198.51.100.53", 40001, 53, 0)
	marker := evFlow(6, "192.0.2.9", "198.51.100.9", 9999, 80, tcpSynSent)
	for _, op := range []struct {
		do func(conntrack.Flow) error
		f  conntrack.Flow
	}{{c.Create, web}, {c.Create, dns}, {c.Delete, dns}, {c.Delete, web}, {c.Create, marker}, {c.Delete, marker}} {
		if err := op.do(op.f); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{
		`^\[NEW\] .* 192\.0\.2\.1:40000  198\.51\.100\.2:80  tcp  `,
		`^\[DESTROY\] .* 192\.0\.2\.1:40000  198\.51\.100\.2:80  tcp  `,
		`^\[NEW\] .* 192\.0\.2\.9:9999  198\.51\.100\.9:80  tcp  `,
	} {
		if line := filtered.next(t); !regexp.MustCompile(want).MatchString(line) {
			t.Errorf("-D 80: %q does not match %s", line, want)
		}
	}
	for _, want := range []string{
		`^\[DESTROY\] .* 192\.0\.2\.1:40001  198\.51\.100\.53:53  udp  `,
		`^\[DESTROY\] .* 192\.0\.2\.1:40000  198\.51\.100\.2:80  tcp  `,
		`^\[DESTROY\] .* 192\.0\.2\.9:9999  198\.51\.100\.9:80  tcp  `,
	} {
		if line := destroys.next(t); !regexp.MustCompile(want).MatchString(line) {
			t.Errorf("--events=destroy: %q does not match %s", line, want)
		}
	}
	filtered.stop(t, syscall.SIGINT)
	destroys.stop(t, syscall.SIGINT)
}

// TestEventsClosedPipe is gostate -E | head -1: once the reader has gone,
// gostate ends with status 0 and says nothing, without waiting for another
// event to fail to write.
func TestEventsClosedPipe(t *testing.T) {
	ns := nstest.New(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	before := listeners(t, ns)
	cmd := gostateCmd(t, "--netns", ns.Name(), "-E")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = pw, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	t.Cleanup(func() { cmd.Process.Kill() })
	waitListeners(t, ns, before+1)
	if err := ns.Conn(t).Create(evFlow(17, "192.0.2.3", "203.0.113.4", 5353, 53, 0)); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(pr).ReadString('\n'); err != nil || !strings.HasPrefix(line, "[NEW]  ") {
		t.Fatalf("first line %q, %v", line, err)
	}
	pr.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil || stderr.Len() > 0 {
			t.Errorf("gostate -E after its reader went away: %v; stderr %q", err, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("gostate -E still running a minute after its reader went away")
	}
}

// TestEventsOverrun stops gostate (SIGSTOP) while 10,000 flows are created:
// its buffer holds about 3,300 events, the kernel drops the rest. Continued,
// gostate says on standard error how many were lost and how large its buffer
// is now, then prints the events the buffer held: the two add up to 10,000.
func TestEventsOverrun(t *testing.T) {
	ns := nstest.New(t)
	r := startEvents(t, ns, "-E")
	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, r.cmd.Process.Pid)
	const n = 10000
	if res, err := netns.Fill(ns.Path(), n, netns.FillOptions{}); err != nil || res.Created != n {
		t.Fatalf("fill: %+v, %v", res, err)
	}
	if err := r.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// Without CAP_NET_ADMIN over the initial user namespace the buffer
	// cannot pass net.core.rmem_max, and says so.
	report := regexp.MustCompile(`^gostate: events lost: ([\d,]+) \(the socket's buffer was full; ` +
		`(now 4 MiB|it stays at [^,]+, as net\.core\.rmem_max caps it without CAP_NET_ADMIN)\)$`)
	line := r.nextErr(t)
	m := report.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("standard error %q does not match %s", line, report)
	}
	lost, _ := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
	if lost <= 0 || lost >= n {
		t.Fatalf("%d of %d events lost", lost, n)
	}
	for printed := range n - lost {
		if line := r.next(t); !strings.HasPrefix(line, "[NEW]  ") {
			t.Fatalf("line %d: %q", printed, line)
		}
	}
	// Nothing else was lost, nor printed: a new flow's event is next.
	if err := ns.Conn(t).Create(evFlow(17, "192.0.2.3", "203.0.113.4", 5353, 53, 0)); err != nil {
		t.Fatal(err)
	}
	if line := r.next(t); !strings.Contains(line, "  192.0.2.3:5353  203.0.113.4:53  udp  ") {
		t.Errorf("after %d lines and %d lost of %d: %q", n-lost, lost, n, line)
	}
	r.stop(t, syscall.SIGINT)
}

// waitStopped waits until process pid is stopped (state T in
// /proc/PID/stat): a signal takes effect a moment after it is sent.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		// pid (comm) state ...: the state follows the last parenthesis.
		if f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])); len(f) > 0 && f[0] == "T" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d not stopped a minute after SIGSTOP", pid)
		}
	}
}

// TestEventsCannotListen: nf_conntrack_events=0 in the namespace, and the
// /proc source, are a one-line error with status 2 saying what to do.
func TestEventsCannotListen(t *testing.T) {
	ns := nstest.New(t)
	ns.Exec(t, "sysctl", "-q", "-w", "net.netfilter.nf_conntrack_events=0")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-E"}, fmt.Sprintf("^gostate: conntrack events are off: net.netfilter.nf_conntrack_events is 0 in netns %s "+
			`\(turn them on with: ip netns exec %[1]s sysctl -w net.netfilter.nf_conntrack_events=1; the setting belongs to the namespace\)\n$`, ns.Name())},
		{[]string{"-E", "--source", "proc"}, `^gostate: -E/--events needs the netlink source: /proc \(--source proc\) announces no changes \(see gostate --help\)\n$`},
	} {
		cmd := gostateCmd(t, append([]string{"--netns", ns.Name()}, tc.args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || len(out) > 0 || !regexp.MustCompile(tc.want).MatchString(stderr.String()) {
			t.Errorf("%v: %v, stdout %q, stderr %q; want status 2 and %s", tc.args, err, out, stderr.String(), tc.want)
		}
	}
}
