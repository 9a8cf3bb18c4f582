package source

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Netlink and nfnetlink numbers (linux/netlink.h, nfnetlink_conntrack.h).
const (
	nlmsgHdrLen = unix.NLMSG_HDRLEN

	nlmsgError = unix.NLMSG_ERROR
	nlmsgDone  = unix.NLMSG_DONE

	nlmFRequest  = unix.NLM_F_REQUEST
	nlmFAck      = unix.NLM_F_ACK
	nlmFDump     = unix.NLM_F_DUMP
	nlmFDumpIntr = unix.NLM_F_DUMP_INTR

	ctMsgNew    = 0 // IPCTNL_MSG_CT_NEW: what dumps and lookups answer with
	ctMsgGet    = 1 // IPCTNL_MSG_CT_GET
	ctMsgDelete = 2 // IPCTNL_MSG_CT_DELETE

	// recvBufferSize is the size of each receive. The kernel sizes the
	// datagrams of a dump after the largest receive it has seen on the
	// socket, up to 32 KiB (netlink_recvmsg's max_recvmsg_len), so the
	// largest buffer means the fewest receives. What this buys: 64
	// receives for a dump of 10,000 entries instead of 507 with 4 KiB.
	recvBufferSize = 32 << 10

	// ioTimeout bounds every wait for the kernel, so that a lost reply
	// ends in an error rather than a hung screen.
	ioTimeout = 30 * time.Second
)

// nlConn is one ctnetlink socket. It sends and receives raw bytes through
// reused buffers: mdlayher/netlink opens the socket (in another network
// namespace if asked), but its Receive would allocate a buffer per datagram.
// An nlConn is not safe for concurrent use.
type nlConn struct {
	c   *netlink.Conn
	raw syscall.RawConn
	buf []byte // receive buffer of recv
	in  []byte // buffer of the receive in progress
	req []byte // request being built
	seq uint32

	// The callbacks handed to raw, made once: a closure made per call would
	// escape to the heap on every datagram. They read out and set n and err.
	readFn, writeFn func(fd uintptr) bool
	out             []byte
	n               int
	err             error
}

// dialNetfilter opens a NETLINK_NETFILTER socket in the network namespace
// nsFD refers to, or in the caller's when nsFD is negative. The socket keeps
// its namespace for its whole life; the process never moves.
func dialNetfilter(nsFD int) (*nlConn, error) {
	cfg := &netlink.Config{}
	if nsFD >= 0 {
		cfg.NetNS = nsFD
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, cfg)
	if err != nil {
		// The socket is made on a thread that enters the namespace
		// first; that setns fails for want of CAP_SYS_ADMIN, which
		// the hint names apart from conntrack's own privilege.
		var se *os.SyscallError
		if errors.As(err, &se) && se.Syscall == "setns" {
			return nil, &setnsError{err: se.Err}
		}
		return nil, unwrapOp(err)
	}
	raw, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	nc := &nlConn{c: c, raw: raw, buf: make([]byte, recvBufferSize), seq: uint32(time.Now().UnixNano())}
	nc.readFn, nc.writeFn = nc.readRaw, nc.writeRaw
	return nc, nil
}

func (c *nlConn) close() error { return c.c.Close() }

// unwrapOp reduces mdlayher's *netlink.OpError and *os.SyscallError to the
// errno inside, so messages read "netlink: operation not permitted".
func unwrapOp(err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// startRequest begins a request in c.req: the netlink header (its length is
// filled in by send) and struct nfgenmsg. It returns the sequence number.
func (c *nlConn) startRequest(msg uint16, flags uint16, family uint8) uint32 {
	c.seq++
	c.req = appendRequest(c.req[:0], msg, flags, family, c.seq)
	return c.seq
}

// appendRequest appends a netlink header for ctnetlink message msg and struct
// nfgenmsg; finishRequest sets the length once the attributes are appended.
func appendRequest(b []byte, msg, flags uint16, family uint8, seq uint32) []byte {
	var h [nlmsgHdrLen + nfgenmsgLen]byte
	binary.NativeEndian.PutUint16(h[4:], unix.NFNL_SUBSYS_CTNETLINK<<8|msg)
	binary.NativeEndian.PutUint16(h[6:], flags)
	binary.NativeEndian.PutUint32(h[8:], seq)
	h[16] = family
	h[17] = unix.NFNETLINK_V0
	return append(b, h[:]...)
}

// finishRequest writes the length of the message that starts at b[start:].
func finishRequest(b []byte, start int) {
	binary.NativeEndian.PutUint32(b[start:], uint32(len(b)-start))
}

// send writes b (one or more complete netlink messages) to the kernel.
func (c *nlConn) send(b []byte) error {
	if err := c.c.SetWriteDeadline(time.Now().Add(ioTimeout)); err != nil {
		return err
	}
	c.out = b
	err := c.raw.Write(c.writeFn)
	c.out = nil
	if err != nil {
		return err
	}
	return c.err
}

func (c *nlConn) writeRaw(fd uintptr) bool {
	_, c.err = unix.Write(int(fd), c.out)
	return c.err != unix.EAGAIN
}

// recv reads one datagram into c.buf and returns it. The slice is valid
// until the next recv.
func (c *nlConn) recv() ([]byte, error) {
	return c.recvInto(c.buf)
}

// recvInto reads one datagram into b and returns it (a prefix of b).
func (c *nlConn) recvInto(b []byte) ([]byte, error) {
	c.in = b
	if err := c.c.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
		return nil, err
	}
	if err := c.raw.Read(c.readFn); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("no answer from the kernel in %v", ioTimeout)
		}
		return nil, err
	}
	if c.err != nil {
		return nil, c.err
	}
	if c.n > len(b) {
		return nil, fmt.Errorf("netlink datagram of %d bytes exceeds the %d-byte buffer", c.n, len(b))
	}
	return b[:c.n], nil
}

func (c *nlConn) readRaw(fd uintptr) bool {
	// recvfrom with MSG_TRUNC reports a datagram's true length, so a
	// too-small buffer is noticed; unix.Recvfrom would allocate a sockaddr
	// on every call.
	r, _, e := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&c.in[0])),
		uintptr(len(c.in)), unix.MSG_TRUNC, 0, 0)
	c.n, c.err = int(r), nil
	if e != 0 {
		c.err = e
	}
	return c.err != unix.EAGAIN
}

// nlMsg is one netlink message inside a received datagram.
type nlMsg struct {
	typ   uint16
	flags uint16
	seq   uint32
	data  []byte // payload after the netlink header
}

// nextMsg splits the first message off a datagram. ok is false at the end of
// the datagram or when the rest of it is malformed.
func nextMsg(b []byte) (m nlMsg, rest []byte, ok bool) {
	if len(b) < nlmsgHdrLen {
		return nlMsg{}, nil, false
	}
	l := int(binary.NativeEndian.Uint32(b))
	if l < nlmsgHdrLen || l > len(b) {
		return nlMsg{}, nil, false
	}
	m = nlMsg{
		typ:   binary.NativeEndian.Uint16(b[4:]),
		flags: binary.NativeEndian.Uint16(b[6:]),
		seq:   binary.NativeEndian.Uint32(b[8:]),
		data:  b[nlmsgHdrLen:l],
	}
	al := (l + 3) &^ 3
	if al > len(b) {
		al = len(b)
	}
	return m, b[al:], true
}

// errnoOf returns the error carried by an NLMSG_ERROR or NLMSG_DONE payload
// (a negative errno; 0 is an acknowledgement).
func errnoOf(data []byte) error {
	if len(data) < 4 {
		return nil
	}
	if e := int32(binary.NativeEndian.Uint32(data)); e < 0 {
		return unix.Errno(-e)
	}
	return nil
}
