package nstest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// isolatedEnv tells a test binary that it is the child Isolated started. Its
// value is the network namespace the parent was in, so that the child can
// check that it left it.
const isolatedEnv = "GOSTATE_NSTEST_ISOLATED"

// Isolated runs the calling test in a child process of the test binary whose
// every thread is in a new network namespace with only loopback, up.
//
// Do confines one OS thread; code that opens sockets on goroutines of its
// own (Go's DNS client, a resolver's workers) runs on other threads, in the
// host's namespace. A whole process in a private namespace confines
// everything: no packet it sends can leave that namespace's loopback.
//
// Use it as the test's first statement:
//
//	if !nstest.Isolated(t) {
//		return // the child ran the test
//	}
//
// In the test process Isolated runs the child, logs its output, fails the
// test when the child failed or ran no test, skips it when the child skipped,
// and returns false. In the child it brings loopback up and returns true.
// It skips the test when the process may not create a network namespace
// (not root).
func Isolated(t *testing.T) bool {
	t.Helper()
	if parent := os.Getenv(isolatedEnv); parent != "" {
		if err := enterIsolated(parent); err != nil {
			t.Fatalf("nstest: in the isolated child: %v", err)
		}
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("nstest: needs root to create a network namespace (CI runs the real-kernel tests as root)")
	}
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatalf("nstest: %v", err)
	}
	args := []string{"-test.run=" + runPattern(t.Name()), "-test.v"}
	if d, ok := t.Deadline(); ok {
		// The child must end before the parent's own timeout kills the
		// parent and leaves the child behind.
		args = append(args, "-test.timeout="+time.Until(d).Truncate(time.Second).String())
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), isolatedEnv+"="+self)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.Is(err, unix.EPERM):
		t.Skipf("nstest: cannot create a network namespace: %v", err)
	case err != nil && !errors.As(err, &exit):
		t.Fatalf("nstest: starting the isolated child: %v", err)
	case err != nil:
		t.Fatalf("nstest: the isolated child failed (%v):\n%s", err, out)
	}
	// With -test.v the child prints a result line per test it ran,
	// subtests' indented.
	result := regexp.MustCompile(`(?m)^\s*--- (PASS|SKIP): ` + regexp.QuoteMeta(t.Name()) + ` `).FindSubmatch(out)
	switch {
	case result == nil:
		t.Fatalf("nstest: the isolated child did not run %s:\n%s", t.Name(), out)
	case string(result[1]) == "SKIP":
		t.Skipf("nstest: the isolated child skipped:\n%s", out)
	}
	t.Logf("nstest: the isolated child's output:\n%s", out)
	return false
}

// runPattern is a -test.run pattern selecting exactly the test (or subtest)
// named name.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// enterIsolated checks that the process is no longer in the parent's network
// namespace and brings loopback up.
func enterIsolated(parent string) error {
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return err
	}
	if self == parent {
		return fmt.Errorf("%s is set but the process is still in network namespace %s", isolatedEnv, self)
	}
	return LoopbackUp()
}

// LoopbackUp brings the loopback interface up in the network namespace of
// the calling thread: a new namespace has lo, but down. It is for a
// namespace made with unshare(CLONE_NEWNET) on a locked thread or with
// CLONE_NEWNET for a process, which has no name for `ip -n` to find it by.
func LoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing lo up: %w", err)
	}
	return nil
}
