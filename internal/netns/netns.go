// Package netns makes named network namespaces, runs code inside them, and
// fills their connection-tracking tables with synthetic entries at well over
// 30,000 a second (Fill), replaces them at a steady rate (Churn), or makes
// real TCP connections over their loopback at a steady rate (TCPChurn).
//
// It is what cmd/ctfill is built from, and what internal/nstest builds its
// per-test namespaces on; it imports no test code, so ctfill does not link
// package testing. Nothing here touches the namespace the process runs in:
// sockets are opened on a thread that has joined the target namespace.
package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// dir is where `ip netns` keeps the bind mounts that name namespaces.
const dir = "/var/run/netns"

// Path returns the file of a namespace given by name (under /var/run/netns)
// or already by path (anything containing a slash, such as /proc/PID/ns/net).
func Path(nameOrPath string) string {
	if strings.ContainsRune(nameOrPath, '/') {
		return nameOrPath
	}
	return filepath.Join(dir, nameOrPath)
}

// Usable reports why this machine cannot make a network namespace with a
// conntrack table, or nil when it can: it needs root, the ip command and
// nf_conntrack, which it loads when missing.
func Usable() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root to create network namespaces (CI runs the real-kernel tests as root)")
	}
	if _, err := exec.LookPath(Tool("ip")); err != nil {
		return errors.New("needs the ip command (Debian package iproute2)")
	}
	if _, err := os.Stat("/proc/sys/net/netfilter/nf_conntrack_max"); err != nil {
		// Loading the module changes no setting; it only makes conntrack
		// available, as the first firewall rule would.
		exec.Command(Tool("modprobe"), "nf_conntrack").Run()
		if _, err := os.Stat("/proc/sys/net/netfilter/nf_conntrack_max"); err != nil {
			return errors.New("the kernel has no nf_conntrack (modprobe nf_conntrack failed)")
		}
	}
	return nil
}

// Create creates a named network namespace and brings its loopback interface
// up. An error that wraps os.ErrPermission means this process may not.
func Create(name string) error {
	if out, err := exec.Command(Tool("ip"), "netns", "add", name).CombinedOutput(); err != nil {
		msg := strings.TrimSpace(string(out))
		if strings.Contains(msg, "Operation not permitted") || strings.Contains(msg, "Permission denied") {
			return fmt.Errorf("ip netns add %s: %s: %w", name, msg, os.ErrPermission)
		}
		return fmt.Errorf("ip netns add %s: %v: %s", name, err, msg)
	}
	if out, err := exec.Command(Tool("ip"), "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		Remove(name)
		return fmt.Errorf("ip -n %s link set lo up: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Remove deletes a named network namespace. The kernel frees its conntrack
// table once the last socket in it is closed.
func Remove(name string) error {
	if out, err := exec.Command(Tool("ip"), "netns", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Run runs fn on an OS thread that has joined the namespace whose file is
// path, and returns fn's error. Sockets fn opens belong to the namespace,
// keep it afterwards and may be used from any goroutine. fn must not start
// goroutines that open sockets: those run on other threads, in the caller's
// namespace. The calling thread never moves.
func Run(path string, fn func() error) error {
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

// Tool returns the path of an administration command (ip, nft, modprobe),
// found also where root's PATH has it but a test runner's may not (/usr/sbin,
// /sbin); the bare name when it is nowhere.
func Tool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return name
}

// Count returns the number of entries in the table of the namespace whose
// file is path, as the kernel counts them: nf_conntrack_count, read on a
// thread inside the namespace (/proc/sys/net shows the namespace of the
// thread that opens it).
func Count(path string) (int, error) {
	var n int
	err := Run(path, func() error {
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
