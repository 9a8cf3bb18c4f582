package netns

import (
	"encoding/binary"
	"fmt"

	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

// batchSize is how many create or delete requests go to the kernel in one
// sendmsg. The kernel handles them one after the other and answers each with
// an ack, so a batch costs a few system calls instead of two per entry; 256
// requests take about 40 KiB of the default 208 KiB send buffer.
const batchSize = 256

// Netlink constants not in x/sys/unix (linux/netfilter/nfnetlink*.h).
const (
	nfnlSubsysCTNetlink = 1
	ipctnlMsgCtNew      = 0
	ipctnlMsgCtDelete   = 2
	nfnetlinkV0         = 0

	ctaTupleOrig  = 1
	ctaTupleReply = 2
	ctaStatus     = 3
	ctaProtoinfo  = 4
	ctaTimeout    = 7
	ctaMark       = 8
	ctaZone       = 18

	ctaTupleIP    = 1
	ctaTupleProto = 2
	ctaIPv4Src    = 1
	ctaIPv4Dst    = 2
	ctaIPv6Src    = 3
	ctaIPv6Dst    = 4
	ctaProtoNum   = 1
	ctaProtoSrc   = 2
	ctaProtoDst   = 3

	ctaProtoinfoTCP      = 1
	ctaProtoinfoTCPState = 1
)

// batcher inserts and deletes entries over a raw ctnetlink socket, batchSize
// at a time.
// ti-mo/conntrack's Create waits for each entry's ack before sending the
// next, which tops out near 25,000 entries/s on a busy two-core machine.
type batcher struct {
	fd  int
	seq uint32
	out []byte
	in  []byte
}

// newBatcher opens a netfilter netlink socket inside the namespace whose
// file is path.
func newBatcher(path string) (*batcher, error) {
	b := &batcher{out: make([]byte, 0, batchSize*192), in: make([]byte, 64<<10)}
	err := Run(path, func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
		if err != nil {
			return err
		}
		b.fd = fd
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ctnetlink socket in %s: %w", path, err)
	}
	if err := unix.Bind(b.fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(b.fd)
		return nil, fmt.Errorf("bind ctnetlink socket: %w", err)
	}
	// Error acks then carry only the failed request's header, not all of it.
	unix.SetsockoptInt(b.fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	// Each ack is a small buffer of its own that costs the receive buffer
	// about 768 bytes: a batch's acks nearly fill the default 208 KiB, and an
	// ack that does not fit is lost. This socket's buffer only, not a sysctl.
	if err := unix.SetsockoptInt(b.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 1<<20); err != nil {
		unix.SetsockoptInt(b.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	}
	return b, nil
}

// Close closes the socket.
func (b *batcher) Close() error { return unix.Close(b.fd) }

// insert sends flows (at most batchSize) and returns the kernel's answer to
// each, in order: 0 or a negative errno such as -EEXIST or -ENOMEM.
func (b *batcher) insert(flows []conntrack.Flow, errs []int32) error {
	b.out = b.out[:0]
	first := b.seq + 1
	for i := range flows {
		b.seq++
		b.out = appendCreate(b.out, &flows[i], b.seq)
	}
	return b.exchange(first, len(flows), errs)
}

// remove deletes the entries of flows (at most batchSize), found by both
// tuples in zone 0, and returns the kernel's answer to each, in order: 0 or
// a negative errno such as -ENOENT (already gone).
func (b *batcher) remove(flows []conntrack.Flow, errs []int32) error {
	b.out = b.out[:0]
	first := b.seq + 1
	for i := range flows {
		b.seq++
		b.out = appendDelete(b.out, &flows[i], b.seq)
	}
	return b.exchange(first, len(flows), errs)
}

// exchange sends the n requests in b.out, numbered first to first+n-1, and
// waits for the kernel's n acks, putting each one's errno in errs[i] for
// request first+i. Every request asks for an ack, so exactly n come back.
func (b *batcher) exchange(first uint32, n int, errs []int32) error {
	if err := unix.Sendto(b.fd, b.out, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	for got := 0; got < n; {
		m, _, err := unix.Recvfrom(b.fd, b.in, 0)
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		for buf := b.in[:m]; len(buf) >= unix.SizeofNlMsghdr; {
			// struct nlmsghdr: length, type, flags, sequence, port.
			length := int(binary.NativeEndian.Uint32(buf))
			typ := binary.NativeEndian.Uint16(buf[4:])
			idx := int(binary.NativeEndian.Uint32(buf[8:]) - first)
			if length < unix.SizeofNlMsghdr+4 || length > len(buf) || typ != unix.NLMSG_ERROR || idx < 0 || idx >= n {
				return fmt.Errorf("unexpected netlink message (type %d, %d bytes) in reply", typ, length)
			}
			// struct nlmsgerr starts with the errno, 0 for an ack.
			errs[idx] = int32(binary.NativeEndian.Uint32(buf[unix.SizeofNlMsghdr:]))
			got++
			buf = buf[min((length+3)&^3, len(buf)):]
		}
	}
	return nil
}

// appendCreate appends an IPCTNL_MSG_CT_NEW request for f: both tuples,
// timeout, status, mark and TCP state. It encodes only what fill entries use:
// TCP and UDP over IPv4 or IPv6.
func appendCreate(b []byte, f *conntrack.Flow, seq uint32) []byte {
	start := len(b)
	family := byte(unix.AF_INET)
	if f.TupleOrig.IP.SourceAddress.Is6() {
		family = unix.AF_INET6
	}
	b = binary.NativeEndian.AppendUint32(b, 0) // length, set below
	b = binary.NativeEndian.AppendUint16(b, nfnlSubsysCTNetlink<<8|ipctnlMsgCtNew)
	b = binary.NativeEndian.AppendUint16(b, unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_EXCL|unix.NLM_F_CREATE)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = append(b, family, nfnetlinkV0, 0, 0)

	b = appendTuple(b, ctaTupleOrig, &f.TupleOrig, family)
	b = appendTuple(b, ctaTupleReply, &f.TupleReply, family)
	b = appendAttr(b, ctaTimeout, be32(f.Timeout))
	b = appendAttr(b, ctaStatus, be32(uint32(f.Status)))
	if f.Mark != 0 {
		b = appendAttr(b, ctaMark, be32(f.Mark))
	}
	if f.ProtoInfo.TCP != nil {
		pi := nestStart(&b, ctaProtoinfo)
		tcp := nestStart(&b, ctaProtoinfoTCP)
		b = appendAttr(b, ctaProtoinfoTCPState, []byte{f.ProtoInfo.TCP.State})
		nestEnd(b, tcp)
		nestEnd(b, pi)
	}
	binary.NativeEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

// appendDelete appends an IPCTNL_MSG_CT_DELETE request for f's entry: both
// tuples and the zone (0, where fill entries live), as gostate's own delete
// sends them (internal/source). No conntrack ID: a fill entry is known by
// its tuples, and whatever entry holds them now is the one to go.
func appendDelete(b []byte, f *conntrack.Flow, seq uint32) []byte {
	start := len(b)
	family := byte(unix.AF_INET)
	if f.TupleOrig.IP.SourceAddress.Is6() {
		family = unix.AF_INET6
	}
	b = binary.NativeEndian.AppendUint32(b, 0) // length, set below
	b = binary.NativeEndian.AppendUint16(b, nfnlSubsysCTNetlink<<8|ipctnlMsgCtDelete)
	b = binary.NativeEndian.AppendUint16(b, unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = append(b, family, nfnetlinkV0, 0, 0)

	b = appendTuple(b, ctaTupleOrig, &f.TupleOrig, family)
	b = appendTuple(b, ctaTupleReply, &f.TupleReply, family)
	b = appendAttr(b, ctaZone, be16(f.Zone))
	binary.NativeEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

func appendTuple(b []byte, typ uint16, t *conntrack.Tuple, family byte) []byte {
	tuple := nestStart(&b, typ)
	ip := nestStart(&b, ctaTupleIP)
	if family == unix.AF_INET {
		src, dst := t.IP.SourceAddress.As4(), t.IP.DestinationAddress.As4()
		b = appendAttr(b, ctaIPv4Src, src[:])
		b = appendAttr(b, ctaIPv4Dst, dst[:])
	} else {
		src, dst := t.IP.SourceAddress.As16(), t.IP.DestinationAddress.As16()
		b = appendAttr(b, ctaIPv6Src, src[:])
		b = appendAttr(b, ctaIPv6Dst, dst[:])
	}
	nestEnd(b, ip)
	proto := nestStart(&b, ctaTupleProto)
	b = appendAttr(b, ctaProtoNum, []byte{t.Proto.Protocol})
	b = appendAttr(b, ctaProtoSrc, be16(t.Proto.SourcePort))
	b = appendAttr(b, ctaProtoDst, be16(t.Proto.DestinationPort))
	nestEnd(b, proto)
	nestEnd(b, tuple)
	return b
}

// appendAttr appends one netlink attribute, padded to four bytes.
func appendAttr(b []byte, typ uint16, data []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(unix.SizeofNlAttr+len(data)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%unix.NLA_ALIGNTO != 0 {
		b = append(b, 0)
	}
	return b
}

// be32 and be16 encode in network byte order, as ctnetlink's numbers are.
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(make([]byte, 0, 4), v) }
func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(make([]byte, 0, 2), v) }

// nestStart appends the header of a nested attribute and returns where it
// starts, for nestEnd to fill in its length.
func nestStart(b *[]byte, typ uint16) int {
	at := len(*b)
	*b = binary.NativeEndian.AppendUint16(*b, 0)
	*b = binary.NativeEndian.AppendUint16(*b, typ|unix.NLA_F_NESTED)
	return at
}

func nestEnd(b []byte, at int) {
	binary.NativeEndian.PutUint16(b[at:], uint16(len(b)-at))
}
