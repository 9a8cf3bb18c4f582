package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns the two ends of a new pseudo-terminal of the given size.
func openPTY(t *testing.T, cols, rows uint16) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlocking the pty: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening the pty's terminal end: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Col: cols, Row: rows}); err != nil {
		t.Fatalf("setting the pty's size: %v", err)
	}
	return m, s
}

// runOnTTY runs gostate with standard output on a terminal of the given
// width and returns what it wrote there (line ends as \n) and on stderr.
func runOnTTY(t *testing.T, cols uint16, env []string, args ...string) (string, string) {
	t.Helper()
	master, slave := openPTY(t, cols, 24)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := gostateCmd(t, args...)
	cmd = execContext(ctx, cmd)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout = slave
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(master) // ends with EIO once every slave is closed
		out <- b
	}()
	err := cmd.Run()
	slave.Close()
	got := <-out
	if ctx.Err() != nil {
		t.Fatalf("%v: still running after 20 s: it must print once and exit", args)
	}
	if err != nil {
		t.Fatalf("%v: %v; stderr: %s", args, err, stderr.String())
	}
	return strings.ReplaceAll(string(got), "\r\n", "\n"), stderr.String()
}

const ttyDump = `ipv4     2 tcp      6 431999 ESTABLISHED src=192.0.2.10 dst=198.51.100.20 sport=40000 dport=443 src=198.51.100.20 dst=192.0.2.10 sport=443 dport=40000 [ASSURED] mark=0 zone=0 use=2
ipv4     2 udp      17 29 src=192.0.2.12 dst=198.51.100.53 sport=33333 dport=53 src=198.51.100.53 dst=192.0.2.12 sport=53 dport=33333 mark=0 zone=0 use=2
ipv4     2 icmp     1 29 src=192.0.2.13 dst=203.0.113.7 type=8 code=0 id=4242 src=203.0.113.7 dst=192.0.2.13 type=0 code=0 id=4242 mark=0 zone=0 use=2
ipv6     10 tcp      6 431990 ESTABLISHED src=2001:0db8:0000:0000:0000:0000:0000:0001 dst=2001:0db8:0000:0000:0000:0000:0000:0002 sport=41000 dport=80 src=2001:0db8:0000:0000:0000:0000:0000:0002 dst=2001:0db8:0000:0000:0000:0000:0000:0001 sport=80 dport=41000 [ASSURED] mark=7 zone=0 use=2
`

func writeTTYDump(t *testing.T) string {
	t.Helper()
	path := t.TempDir() + "/dump.txt"
	if err := os.WriteFile(path, []byte(ttyDump), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTerminalColours: colours by protocol on a terminal (tcp green, udp
// yellow, icmp red), none with NO_COLOR, -c or TERM=dumb.
func TestTerminalColours(t *testing.T) {
	dump := writeTTYDump(t)
	out, _ := runOnTTY(t, 120, []string{"TERM=xterm"}, "-1", "--file", dump)
	for _, want := range []string{"\x1b[32m192.0.2.10:40000", "\x1b[33m192.0.2.12:33333", "\x1b[31m192.0.2.13"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q on a terminal:\n%q", want, out)
		}
	}
	for _, c := range []struct {
		env  []string
		args []string
	}{
		{[]string{"TERM=xterm", "NO_COLOR=1"}, []string{"-1"}},
		{[]string{"TERM=xterm"}, []string{"-1", "-c"}},
		{[]string{"TERM=xterm"}, []string{"-1", "--no-color"}},
		{[]string{"TERM=dumb"}, []string{"-1"}},
	} {
		out, _ := runOnTTY(t, 120, c.env, append(c.args, "--file", dump)...)
		if strings.Contains(out, "\x1b") || !strings.Contains(out, "192.0.2.10:40000") {
			t.Errorf("%v %v: want plain rows, got %q", c.env, c.args, out)
		}
	}
}

// TestTerminalWithoutScreen: on a terminal that the screen cannot drive
// (TERM dumb, unset or unknown), gostate prints one view and exits.
func TestTerminalWithoutScreen(t *testing.T) {
	dump := writeTTYDump(t)
	for _, term := range []string{"TERM=dumb", "TERM=", "TERM=gostate-no-such-terminal"} {
		out, _ := runOnTTY(t, 120, []string{term}, "--file", dump)
		if !strings.Contains(out, "Source") || !strings.Contains(out, "[2001:db8::1]:41000") {
			t.Errorf("%s: want one view, got %q", term, out)
		}
	}
}

// TestTerminalWidth: lines fit the terminal, and COLUMNS wins over it.
func TestTerminalWidth(t *testing.T) {
	dump := writeTTYDump(t)
	for _, c := range []struct {
		cols  uint16
		env   string
		width int
	}{
		{50, "COLUMNS=", 50},
		{120, "COLUMNS=40", 40},
		{30, "COLUMNS=", 30},
	} {
		out, _ := runOnTTY(t, c.cols, []string{"TERM=dumb", c.env}, "-1", "-C", "-t", "--file", dump)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) < 7 {
			t.Errorf("%d columns, %s: too few lines: %q", c.cols, c.env, out)
		}
		for _, l := range lines {
			if len(l) > c.width {
				t.Errorf("%d columns, %s: line of %d > %d: %q", c.cols, c.env, len(l), c.width, l)
			}
			if strings.HasSuffix(l, " ") {
				t.Errorf("%d columns, %s: trailing space: %q", c.cols, c.env, l)
			}
		}
	}
}

// TestTerminalGroups: on a terminal --group-by prints one view, without
// -1, of as many groups as fit its height (LINES wins over it), coloured
// by protocol when the key has one.
func TestTerminalGroups(t *testing.T) {
	dump := writeDump(t, 40) // 40 sources
	for _, c := range []struct {
		env  string
		rows int
	}{{"LINES=", 20}, {"LINES=10", 6}} {
		out, _ := runOnTTY(t, 120, []string{"TERM=xterm", c.env}, "--group-by", "src", "--file", dump)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		// The health line, the title, the rows, the last line.
		if len(lines) != c.rows+3 || !strings.HasSuffix(lines[len(lines)-1], "(top "+strconv.Itoa(c.rows)+" of 40 groups)") {
			t.Errorf("24 lines, %s: want %d groups, got\n%s", c.env, c.rows, out)
		}
	}
	out, _ := runOnTTY(t, 120, []string{"TERM=xterm"}, "-1", "--group-by", "proto", "--file", dump)
	if !strings.Contains(out, "\x1b[32mtcp ") {
		t.Errorf("tcp's group not green: %q", out)
	}
}
