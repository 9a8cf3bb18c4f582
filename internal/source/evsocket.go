package source

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// evSocket is an event listener's netlink socket, kept out of the Go
// runtime's poller. A socket in the poller wakes an idle thread for every
// datagram the kernel queues on it, also while nobody waits for one: a
// listener that lets events gather between batches (as the live session
// does) paid for each anyway, 0.04 core of epoll_wait at 8,000 events a
// second. This one is waited for with poll(2), and only when the listener
// has nothing else to do.
//
// Close wakes a waiting receive through an eventfd; the descriptors are
// closed only when no call uses them, so that their numbers are never
// reused under one.
type evSocket struct {
	// mu is held by every use of fd and wake; closed is set under it.
	// closing is set by the first close, before it wakes a receive.
	mu       sync.Mutex
	fd, wake int
	closed   bool
	closing  atomic.Bool
}

// openEvSocket opens a ctnetlink socket in the namespace ns (nil: the
// caller's), bound for multicast groups.
func openEvSocket(ns *netNS) (*evSocket, error) {
	fd := -1
	err := ns.run(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &evSocket{fd: fd, wake: wake}, nil
}

// join subscribes the socket to a multicast group.
func (s *evSocket) join(group uint32) error {
	return s.control(func(fd int) error {
		return unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, int(group))
	})
}

// control runs f on the socket's descriptor, or returns ErrClosed.
func (s *evSocket) control(f func(fd int) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return f(s.fd)
}

// recv receives up to len(hdrs) datagrams (recvmmsg), waiting for the first
// when wait is set; without wait, EAGAIN means none was queued. A Close
// ends the wait with ErrClosed.
func (s *evSocket) recv(hdrs []unix.Mmsghdr, wait bool) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.closed {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&hdrs[0])), uintptr(len(hdrs)), unix.MSG_DONTWAIT, 0, 0)
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN && wait:
			// Readable, an error to report (ENOBUFS), or woken by Close.
			fds := [2]unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}, {Fd: int32(s.wake), Events: unix.POLLIN}}
			if _, err := unix.Poll(fds[:], -1); err != nil && err != unix.EINTR {
				return 0, err
			}
			if fds[1].Revents != 0 {
				return 0, ErrClosed
			}
			continue
		case e != 0:
			return 0, e
		}
		return int(r), nil
	}
	return 0, ErrClosed
}

// close wakes a receive waiting on the socket, then closes it once that
// receive has returned. Closing again does nothing.
func (s *evSocket) close() error {
	if !s.closing.CompareAndSwap(false, true) {
		return nil
	}
	// Without the lock: the receive holds it while it waits. A write to an
	// eventfd only fails when its counter would overflow, and nothing
	// reads it.
	one := [8]byte{1}
	unix.Write(s.wake, one[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	unix.Close(s.wake)
	return unix.Close(s.fd)
}
