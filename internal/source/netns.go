package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// netnsDir is where `ip netns add` keeps named network namespaces.
const netnsDir = "/var/run/netns"

// netNS is a network namespace other than the caller's, held open. Sockets
// are opened in it through their configuration (the process never moves);
// /proc reads for it run on a thread that enters it for the duration (run).
type netNS struct {
	spec string // what the user gave: a name or a path
	f    *os.File
}

// openNetNS opens a namespace given as a name under /var/run/netns or as a
// path such as /proc/PID/ns/net. Errors are one line naming spec.
func openNetNS(spec string) (*netNS, error) {
	path := spec
	if !strings.Contains(spec, "/") {
		path = netnsDir + "/" + spec
	}
	f, err := os.Open(path)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist) && path != spec:
			return nil, fmt.Errorf("netns %s: no such namespace under %s", spec, netnsDir)
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("netns %s: no such file", spec)
		case errors.Is(err, fs.ErrPermission):
			return nil, fmt.Errorf("netns %s: permission denied (run as root)", spec)
		}
		return nil, fmt.Errorf("netns %s: %w", spec, unwrapPath(err))
	}
	typ, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE)
	if err != nil || typ != unix.CLONE_NEWNET {
		f.Close()
		return nil, fmt.Errorf("netns %s: %s is not a network namespace", spec, path)
	}
	return &netNS{spec: spec, f: f}, nil
}

// unwrapPath drops the path from an *fs.PathError, which the caller's
// message already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// fd returns the namespace's file descriptor, or -1 for the caller's own
// namespace (a nil netNS).
func (n *netNS) fd() int {
	if n == nil {
		return -1
	}
	return int(n.f.Fd())
}

func (n *netNS) close() error {
	if n == nil {
		return nil
	}
	return n.f.Close()
}

// run calls fn inside the namespace, on an OS thread of its own that enters
// it with setns and leaves again afterwards; on a nil netNS it just calls fn.
// Files opened under /proc/thread-self/net and /proc/sys/net by fn see the
// namespace's table. If the thread cannot return to its namespace it stays
// locked, so the runtime discards it with its goroutine instead of reusing it.
func (n *netNS) run(fn func() error) error {
	if n == nil {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns %s: %w", n.spec, err)
			return
		}
		defer home.Close()
		if err := unix.Setns(n.fd(), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns %s: entering: %w", n.spec, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netns %s: leaving: %w", n.spec, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
