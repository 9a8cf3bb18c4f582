package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// errStdoutClosed is why a one-shot view has nowhere to go.
var errStdoutClosed = errors.New("standard output is closed")

// startOutput prepares standard output for a one-shot view (the view,
// --help, --version): it returns errStdoutClosed when there is none.
//
// A reader that goes away (gostate -1 | head) is not a failure, and gostate
// then ends quietly with status 0: SIGPIPE is ignored, so that a write to
// the closed pipe fails with EPIPE (which outputFailed lets pass) instead
// of killing the process.
func startOutput(stdout *os.File) error {
	signal.Ignore(syscall.SIGPIPE)
	if closedAtStart(stdout) {
		return errStdoutClosed
	}
	return nil
}

// outputFailed reports an error writing standard output and returns the
// exit status: 0 for a reader that went away (EPIPE), 2 for anything else,
// said in one line.
func outputFailed(stderr io.Writer, err error) int {
	if errors.Is(err, syscall.EPIPE) {
		return exitOK
	}
	return fail(stderr, fmt.Errorf("writing output: %w", err))
}

// writeOutput writes s, all of a one-shot output, and returns the exit
// status.
func writeOutput(stdout *os.File, stderr io.Writer, s string) int {
	if err := startOutput(stdout); err != nil {
		return outputFailed(stderr, err)
	}
	if _, err := io.WriteString(stdout, s); err != nil {
		return outputFailed(stderr, err)
	}
	return exitOK
}

// kcmpFile is KCMP_FILE of kcmp(2): whether two descriptors share an open
// file description.
const kcmpFile = 0

// closedAtStart reports whether f, a standard descriptor, was closed when
// gostate started (gostate -1 >&-). Go's runtime opens /dev/null read-write
// in the place of a standard descriptor closed at start, so writes to it
// succeed and the output would be lost without a word. A shell's >/dev/null
// opens /dev/null write-only. Parents that detach a daemon (daemon(3),
// start-stop-daemon) open it read-write, but once, for standard input,
// output and error together: the runtime opens a description of its own for
// each descriptor it replaces, so f sharing its description with another
// standard descriptor was not replaced. Where kcmp(2) is refused (a seccomp
// filter), a read-write /dev/null counts as closed. A parent that gives
// standard output alone a read-write /dev/null (Python's
// subprocess.DEVNULL) cannot be told from a closed one.
func closedAtStart(f *os.File) bool {
	fd := int(f.Fd())
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		return false // not /dev/null
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil || flags&unix.O_ACCMODE != unix.O_RDWR {
		return false
	}
	pid := uintptr(os.Getpid())
	for _, other := range []int{0, 1, 2} {
		if other == fd {
			continue
		}
		r, _, errno := unix.Syscall6(unix.SYS_KCMP, pid, pid, kcmpFile, uintptr(fd), uintptr(other), 0)
		if errno == 0 && r == 0 {
			return false
		}
	}
	return true
}
