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
// The bulk filler (FillNetNS) has no dependency on a test, so cmd/ctfill uses
// it too.
package nstest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

// NetNSDir is where `ip netns` keeps the bind mounts that name namespaces.
const NetNSDir = "/var/run/netns"

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
	if err := Usable(); err != nil {
		t.Skipf("nstest: %v", err)
	}
	name := "gostate-test-" + randomSuffix()
	if err := Create(name); err != nil {
		if errors.Is(err, os.ErrPermission) {
			t.Skipf("nstest: %v", err)
		}
		t.Fatalf("nstest: %v", err)
	}
	t.Cleanup(func() {
		if err := Remove(name); err != nil {
			t.Errorf("nstest: %v", err)
		}
	})
	return &NS{name: name, path: Path(name)}
}

// Name returns the namespace's name, as `ip netns` and gostate's --netns know it.
func (ns *NS) Name() string { return ns.name }

// Path returns the namespace's file, /var/run/netns/NAME.
func (ns *NS) Path() string { return ns.path }

// Conn returns a ctnetlink socket opened in the namespace, closed when the
// test ends.
func (ns *NS) Conn(t testing.TB) *conntrack.Conn {
	t.Helper()
	c, err := Dial(ns.path)
	if err != nil {
		t.Fatalf("nstest: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Command returns a command that runs argv inside the namespace
// (`ip netns exec NAME argv...`).
func (ns *NS) Command(argv ...string) *exec.Cmd {
	return exec.Command(ipCommand(), append([]string{"netns", "exec", ns.name}, argv...)...)
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

// Do runs fn on an OS thread that has joined the namespace, so that sockets fn
// opens belong to the namespace. Sockets keep their namespace afterwards and
// may be used from any goroutine. fn must not start goroutines that open
// sockets: those run on other threads, in the caller's namespace. The test
// fails if fn returns an error.
func (ns *NS) Do(t testing.TB, fn func() error) {
	t.Helper()
	if err := do(ns.path, fn); err != nil {
		t.Fatalf("nstest: in %s: %v", ns.name, err)
	}
}

func do(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: when this goroutine returns, the Go
		// runtime ends the thread instead of giving it, still inside the
		// namespace, to another goroutine.
		runtime.LockOSThread()
		f, err := os.Open(path)
		if err != nil {
			errc <- err
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			errc <- fmt.Errorf("setns %s: %w", path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Count returns the number of entries in the table of the namespace whose
// file is path. It reads nf_conntrack_count on a thread inside the namespace:
// /proc/sys/net shows the namespace of the thread that opens it.
// (ti-mo/conntrack's StatsGlobal would ask over netlink, but with
// mdlayher/netlink v1.11.2 it waits forever for the end of a reply that
// has none.)
func Count(path string) (int, error) {
	var n int
	err := do(path, func() error {
		b, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_count")
		if err != nil {
			return err
		}
		n, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("count entries in %s: %w", path, err)
	}
	return n, nil
}

// Usable reports why this machine cannot give a test a namespace with a
// conntrack table, or nil when it can.
func Usable() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root to create network namespaces (CI runs the real-kernel tests as root)")
	}
	if _, err := exec.LookPath(ipCommand()); err != nil {
		return errors.New("needs the ip command (Debian package iproute2)")
	}
	if _, err := os.Stat("/proc/sys/net/netfilter/nf_conntrack_max"); err != nil {
		// Loading the module changes no setting; it only makes conntrack
		// available, as the first firewall rule would.
		exec.Command(tool("modprobe"), "nf_conntrack").Run()
		if _, err := os.Stat("/proc/sys/net/netfilter/nf_conntrack_max"); err != nil {
			return errors.New("the kernel has no nf_conntrack (modprobe nf_conntrack failed)")
		}
	}
	return nil
}

// Create creates a named network namespace and brings its loopback interface
// up. An error that wraps os.ErrPermission means this process may not.
func Create(name string) error {
	if out, err := exec.Command(ipCommand(), "netns", "add", name).CombinedOutput(); err != nil {
		msg := strings.TrimSpace(string(out))
		if strings.Contains(msg, "Operation not permitted") || strings.Contains(msg, "Permission denied") {
			return fmt.Errorf("ip netns add %s: %s: %w", name, msg, os.ErrPermission)
		}
		return fmt.Errorf("ip netns add %s: %v: %s", name, err, msg)
	}
	if out, err := exec.Command(ipCommand(), "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		Remove(name)
		return fmt.Errorf("ip -n %s link set lo up: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Remove deletes a named network namespace. The kernel frees its conntrack
// table once the last socket in it is closed.
func Remove(name string) error {
	if out, err := exec.Command(ipCommand(), "netns", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Path returns the file of a namespace given by name (under NetNSDir) or
// already by path (anything containing a slash, such as /proc/PID/ns/net).
func Path(nameOrPath string) string {
	if strings.ContainsRune(nameOrPath, '/') {
		return nameOrPath
	}
	return filepath.Join(NetNSDir, nameOrPath)
}

// Dial opens a ctnetlink socket in the namespace whose file is path. The
// process itself stays where it is.
func Dial(path string) (*conntrack.Conn, error) {
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

// ipCommand returns the path of the ip command.
func ipCommand() string { return tool("ip") }

// tool finds an administration command also where root's PATH has it but a
// test runner's PATH may not (/usr/sbin, /sbin).
func tool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return name
}

func randomSuffix() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
