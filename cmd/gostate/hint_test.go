package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gostate/gostate/internal/nstest"
)

// runExit runs cmd with a minute to finish
// and returns its exit status and standard error.
func runExit(t *testing.T, cmd *exec.Cmd) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	c.Env = append(os.Environ(), "COLUMNS=", "COLS=", "NO_COLOR=")
	var stderr bytes.Buffer
	c.Stderr = &stderr
	err := c.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &ee) && ee.Exited():
		return ee.ExitCode(), stderr.String()
	}
	t.Fatalf("%s: %v; stderr: %s", strings.Join(cmd.Args, " "), err, stderr.String())
	return 0, ""
}

// buildWorldRunnable builds gostate into a directory any user may enter and
// run it from, for runs under another user.
func buildWorldRunnable(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command on PATH to build gostate for another user")
	}
	dir, err := os.MkdirTemp("", "gostate-hint-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "gostate")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func needSetpriv(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv (util-linux) to run gostate without privileges")
	}
	return p
}

// TestHintUnprivileged runs gostate -1 without the privileges it needs and
// checks that the message names the privilege that is missing, not a module,
// and that gostate exits with status 2.
func TestHintUnprivileged(t *testing.T) {
	setpriv := needSetpriv(t)
	ns := nstest.New(t)
	bin := buildWorldRunnable(t)
	nobody := []string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"}
	noSysAdmin := []string{setpriv, "--inh-caps=-all", "--bounding-set=-sys_admin"}
	enter := ": entering the namespace: operation not permitted"
	netnsHint := "(reading another network namespace needs CAP_SYS_ADMIN as well as CAP_NET_ADMIN: run as root)\n"
	for _, c := range []struct {
		name                 string
		cmd                  *exec.Cmd
		wantPrefix, wantTail string
	}{
		{"nobody --netns", exec.Command(nobody[0], append(nobody[1:], bin, "-1", "--netns", ns.Name())...),
			"gostate: cannot read the conntrack table: netlink" + enter + "; netns " + ns.Name() + enter + " ", netnsHint},
		{"root without CAP_SYS_ADMIN --netns", exec.Command(noSysAdmin[0], append(noSysAdmin[1:], bin, "-1", "--netns", ns.Name())...),
			"gostate: cannot read the conntrack table: netlink" + enter + "; netns " + ns.Name() + enter + " ", netnsHint},
		// Inside the namespace, gostate reads its own: ctnetlink and the
		// /proc file refuse nobody.
		{"nobody inside", ns.Command(append(nobody, bin, "-1")...),
			"gostate: cannot read the conntrack table: netlink: operation not permitted; /proc/net/nf_conntrack: permission denied ",
			"(run as root: netlink needs CAP_NET_ADMIN, and /proc/net/nf_conntrack is readable by root only)\n"},
		{"nobody inside, --source netlink", ns.Command(append(nobody, bin, "-1", "--source", "netlink")...),
			"gostate: cannot read the conntrack table: netlink: operation not permitted ",
			"(netlink needs CAP_NET_ADMIN: run as root or with CAP_NET_ADMIN)\n"},
	} {
		status, stderr := runExit(t, c.cmd)
		if status != exitFailure || !strings.HasPrefix(stderr, c.wantPrefix) || !strings.HasSuffix(stderr, c.wantTail) ||
			strings.Count(stderr, "\n") != 1 || strings.Contains(stderr, "modprobe") {
			t.Errorf("%s: exit status %d, stderr:\n%s\nwant status %d and one line:\n%s…%s", c.name, status, stderr, exitFailure, c.wantPrefix, c.wantTail)
		}
	}
}

// TestBadNetNS runs gostate -1 as root on --netns values that name no
// network namespace: the message says what is wrong with the name or file,
// never to run as root or to load a module, and gostate exits with status 2.
func TestBadNetNS(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the messages under test are root's")
	}
	bin, err := exec.LookPath("gostate")
	if err != nil {
		t.Fatal(err)
	}
	unreadable := filepath.Join(t.TempDir(), "unreadable")
	if err := os.WriteFile(unreadable, nil, 0); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{bin, "-1", "--netns", "gostate-test-no-such-ns"}, "netns gostate-test-no-such-ns: no such namespace under /var/run/netns"},
		{[]string{bin, "-1", "--netns", "/nonexistent/ns/net"}, "netns /nonexistent/ns/net: no such file"},
		{[]string{bin, "-1", "--netns", "/etc/hostname"}, "netns /etc/hostname: /etc/hostname is not a network namespace"},
		{[]string{bin, "-1", "--netns", "/proc/self/ns/uts"}, "netns /proc/self/ns/uts: /proc/self/ns/uts is not a network namespace"},
	}
	// Root without the capabilities that override file permissions: the
	// file refuses root, and running as root is not what fixes it.
	if setpriv, err := exec.LookPath("setpriv"); err == nil {
		cases = append(cases, struct {
			args []string
			want string
		}{[]string{setpriv, "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", bin, "-1", "--netns", unreadable},
			"netns " + unreadable + ": permission denied"})
	} else {
		t.Log("no setpriv: the unreadable file is not tried")
	}
	for _, c := range cases {
		status, stderr := runExit(t, exec.Command(c.args[0], c.args[1:]...))
		if want := "gostate: " + c.want + "\n"; status != exitFailure || stderr != want {
			t.Errorf("%s: exit status %d, stderr %q; want %d, %q", strings.Join(c.args[1:], " "), status, stderr, exitFailure, want)
		}
	}
}
