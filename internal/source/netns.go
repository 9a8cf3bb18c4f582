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
//
// Holding it open (and holding sockets in it) keeps the namespace alive after
// `ip netns del` or after the process whose /proc/PID/ns/net was given ends,
// and reads go on succeeding on a namespace nobody can see any more. check
// notices: path must still open the namespace that was opened, the one whose
// device and inode f has.
type netNS struct {
	spec     string // what the user gave: a name or a path
	path     string // the file opened: spec, or /var/run/netns/spec for a name
	f        *os.File
	dev, ino uint64 // f's, which name the namespace
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
		return nil, netnsOpenError(spec, path, err, os.Geteuid() == 0)
	}
	typ, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE)
	if err != nil || typ != unix.CLONE_NEWNET {
		f.Close()
		return nil, fmt.Errorf("netns %s: %s is not a network namespace", spec, path)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("netns %s: %w", spec, err)
	}
	return &netNS{spec: spec, path: path, f: f, dev: st.Dev, ino: st.Ino}, nil
}

// check returns nil when the namespace's path still opens the namespace held
// open (a stat: cheap enough for every read), and otherwise an error wrapping
// ErrNetNSGone that says what happened in one line. A nil netNS, the caller's
// own namespace, is never gone.
func (n *netNS) check() error {
	if n == nil {
		return nil
	}
	var st unix.Stat_t
	err := unix.Stat(n.path, &st)
	if err == nil && st.Dev == n.dev && st.Ino == n.ino {
		return nil
	}
	return &netNSGoneError{msg: goneMessage(n.spec, n.path, err)}
}

// goneMessage says why path, the file opened for spec (what the user gave),
// no longer opens the namespace held open: statErr is stat(path)'s error, nil
// when path opens another namespace (or another file).
func goneMessage(spec, path string, statErr error) string {
	// /var/run is /run on current systems: both spell a name of ip netns.
	named := strings.HasPrefix(path, netnsDir+"/") || strings.HasPrefix(path, "/run/netns/")
	proc := strings.HasPrefix(path, "/proc/")
	missing := errors.Is(statErr, fs.ErrNotExist)
	switch {
	case statErr != nil && !missing:
		return fmt.Sprintf("netns %s can no longer be opened (%v): showing its last state", spec, statErr)
	case named && missing:
		return fmt.Sprintf("netns %s was deleted (ip netns del): showing its last state", spec)
	case named:
		return fmt.Sprintf("netns %s now names another namespace (deleted and added again): showing the old one's last state", spec)
	case proc && missing:
		return fmt.Sprintf("netns %s is gone (its process ended): showing its last state", spec)
	case missing:
		return fmt.Sprintf("netns %s was removed: showing its last state", spec)
	}
	return fmt.Sprintf("netns %s now names another namespace: showing the last state of the one opened", spec)
}

// netNSGoneError is check's error: a one-line message that matches
// ErrNetNSGone.
type netNSGoneError struct{ msg string }

func (e *netNSGoneError) Error() string { return e.msg }

func (e *netNSGoneError) Unwrap() error { return ErrNetNSGone }

// netnsOpenError is the one-line error of a namespace that cannot be opened:
// spec as the user gave it, path the file tried, err why, root whether the
// process runs as root (which is then not what fixes it).
func netnsOpenError(spec, path string, err error, root bool) error {
	proc := strings.HasPrefix(path, "/proc/")
	switch {
	case errors.Is(err, fs.ErrNotExist) && path != spec:
		return &causeError{msg: fmt.Sprintf("netns %s: no such namespace under %s", spec, netnsDir), err: unwrapPath(err)}
	case errors.Is(err, fs.ErrNotExist):
		return &causeError{msg: fmt.Sprintf("netns %s: no such file", spec), err: unwrapPath(err)}
	case !errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("netns %s: %w", spec, unwrapPath(err))
	}
	var fix string
	switch {
	case proc && root:
		// Opening another user's /proc/PID/ns/* passes a ptrace access
		// check.
		fix = " (another user's process: needs CAP_SYS_PTRACE)"
	case proc:
		fix = " (another user's process: run as root)"
	case !root:
		fix = " (run as root)"
	}
	return fmt.Errorf("netns %s: %w%s", spec, unwrapPath(err), fix)
}

// causeError is a message that says its cause in its own words, and matches
// it (errors.Is).
type causeError struct {
	msg string
	err error
}

func (e *causeError) Error() string { return e.msg }

func (e *causeError) Unwrap() error { return e.err }

// setnsError is a failure to enter a network namespace with setns(2): for
// want of CAP_SYS_ADMIN, a refusal that no privilege over conntrack itself
// fixes, so Open's hint tells it apart.
type setnsError struct{ err error }

func (e *setnsError) Error() string { return "entering the namespace: " + e.err.Error() }

func (e *setnsError) Unwrap() error { return e.err }

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
			errc <- fmt.Errorf("netns %s: %w", n.spec, &setnsError{err: err})
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
