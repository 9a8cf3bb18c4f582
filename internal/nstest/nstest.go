// Package nstest gives real-kernel tests a private network namespace with its
// own connection-tracking table, and fills that table: synthetic entries of
// every protocol and state, bulk entries at tens of thousands per second, real
// loopback traffic, and a NAT'd flow.
//
// Everything it does goes through the namespace: netlink sockets are dialed
// with the namespace's file descriptor (netlink.Config.NetNS), programs run
// under `ip netns exec`, and socket code runs on an OS thread that has
// setns()'d into it. The host's own table is never read or written, which is
// what makes these tests safe to run as root on any machine.
//
// The namespaces themselves and the bulk filler come from internal/netns,
// which cmd/ctfill uses too; this package adds what only tests need.
package nstest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gostate/gostate/internal/netns"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
)

// NS is a private, named network namespace that exists for one test.
type NS struct {
	name string
	path string
}

// New creates a namespace named gostate-test-<random>, brings its loopback
// interface up, and deletes it when the test ends. It skips the test, saying
// why, when the machine cannot do this: not root, no `ip` command, or no
// nf_conntrack in the kernel.
func New(t testing.TB) *NS {
	t.Helper()
	if err := netns.Usable(); err != nil {
		t.Skipf("nstest: %v", err)
	}
	name := "gostate-test-" + randomSuffix()
	if err := netns.Create(name); err != nil {
		if errors.Is(err, os.ErrPermission) {
			t.Skipf("nstest: %v", err)
		}
		t.Fatalf("nstest: %v", err)
	}
	t.Cleanup(func() {
		if err := netns.Remove(name); err != nil {
			t.Errorf("nstest: %v", err)
		}
	})
	return &NS{name: name, path: netns.Path(name)}
}

// Name returns the namespace's name, as `ip netns` and gostate's --netns know it.
func (ns *NS) Name() string { return ns.name }

// Path returns the namespace's file, /var/run/netns/NAME.
func (ns *NS) Path() string { return ns.path }

// Conn returns a ctnetlink socket opened in the namespace, closed when the
// test ends.
func (ns *NS) Conn(t testing.TB) *conntrack.Conn {
	t.Helper()
	c, err := dial(ns.path)
	if err != nil {
		t.Fatalf("nstest: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Command returns a command that runs argv inside the namespace
// (`ip netns exec NAME argv...`).
func (ns *NS) Command(argv ...string) *exec.Cmd {
	return exec.Command(netns.Tool("ip"), append([]string{"netns", "exec", ns.name}, argv...)...)
}

// Exec runs argv inside the namespace and returns its standard output; the
// test fails, showing the output, when the command fails.
func (ns *NS) Exec(t testing.TB, argv ...string) string {
	t.Helper()
	cmd := ns.Command(argv...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nstest: %s in %s: %v\n%s%s", strings.Join(argv, " "), ns.name, err, out, stderr.String())
	}
	return string(out)
}

// Count returns the number of entries in the namespace's table, as the
// kernel counts them (nf_conntrack_count, read from inside the namespace).
func (ns *NS) Count(t testing.TB) int {
	t.Helper()
	n, err := Count(ns.path)
	if err != nil {
		t.Fatalf("nstest: %v", err)
	}
	return n
}

// Do runs fn on an OS thread that has joined the namespace (netns.Run: sockets
// fn opens belong to the namespace; goroutines fn starts do not). The test
// fails if fn returns an error.
func (ns *NS) Do(t testing.TB, fn func() error) {
	t.Helper()
	if err := netns.Run(ns.path, fn); err != nil {
		t.Fatalf("nstest: in %s: %v", ns.name, err)
	}
}

// Fill inserts n distinct TCP and UDP entries into the namespace's table
// (netns.Fill with its defaults), failing the test if they do not all fit.
func (ns *NS) Fill(t testing.TB, n int) {
	t.Helper()
	r, err := netns.Fill(ns.path, n, netns.FillOptions{})
	if err != nil {
		t.Fatalf("nstest: %v", err)
	}
	if r.Full || r.Created != n {
		t.Fatalf("nstest: filled %d of %d entries in %s (table full: %v)", r.Created, n, ns.name, r.Full)
	}
}

// Count returns the number of entries in the table of the namespace whose
// file is path (netns.Count: nf_conntrack_count, read inside the namespace).
// (ti-mo/conntrack's StatsGlobal would ask over netlink, but with
// mdlayher/netlink v1.11.2 it waits forever for the end of a reply that
// has none.)
func Count(path string) (int, error) { return netns.Count(path) }

// dial opens a ctnetlink socket in the namespace whose file is path. The
// process itself stays where it is.
func dial(path string) (*conntrack.Conn, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open namespace: %w", err)
	}
	// The socket keeps its namespace after the file is closed.
	defer f.Close()
	c, err := conntrack.Dial(&netlink.Config{NetNS: int(f.Fd())})
	if err != nil {
		return nil, fmt.Errorf("ctnetlink socket in %s: %w", path, err)
	}
	return c, nil
}

func randomSuffix() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
