package source

import (
	"errors"
	"fmt"
	"github.com/gostate/gostate/internal/numfmt"
	"io/fs"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/gostate/gostate/internal/flow"
	"golang.org/x/sys/unix"
)

// EventKind is what happened to a flow: a bit each, so that a set of kinds is
// a mask.
type EventKind uint8

// The kinds of events, one per ctnetlink multicast group.
const (
	// EventNew: the kernel created the flow (group NFNLGRP_CONNTRACK_NEW).
	EventNew EventKind = 1 << iota
	// EventUpdate: its state or status changed (NFNLGRP_CONNTRACK_UPDATE);
	// a packet that only refreshes its timeout sends none.
	EventUpdate
	// EventDestroy: it left the table (NFNLGRP_CONNTRACK_DESTROY), deleted
	// or reaped by the garbage collector once expired.
	EventDestroy
	// EventAll is every kind.
	EventAll = EventNew | EventUpdate | EventDestroy
)

// String returns "new", "update" or "destroy" for a single kind; a set of
// several is its kinds joined by commas in that order, the empty set "none".
func (k EventKind) String() string {
	switch k {
	case EventNew:
		return "new"
	case EventUpdate:
		return "update"
	case EventDestroy:
		return "destroy"
	case 0:
		return "none"
	}
	var names []string
	for _, one := range []EventKind{EventNew, EventUpdate, EventDestroy} {
		if k&one != 0 {
			names = append(names, one.String())
		}
	}
	if k&^EventAll != 0 {
		names = append(names, fmt.Sprintf("0x%x", uint8(k&^EventAll)))
	}
	return strings.Join(names, ",")
}

// Event is one change of the table, as the kernel announced it.
type Event struct {
	Kind EventKind
	// Flow is the flow after the change; a DESTROY carries its final
	// counters.
	//
	// What the kernel puts in an event (ctnetlink_conntrack_event) is less
	// than a dump gives: every event has both tuples, the zone, the id and
	// the status word; NEW and UPDATE have the timeout, and the protocol
	// state only when it is part of the change (always for NEW), so an
	// UPDATE of the status alone has no state (Present lacks HasState);
	// only DESTROY has the counters (with nf_conntrack_acct=1 when the flow
	// was created) and the start timestamp, and its timeout only while the
	// flow still had time left (a deleted flow, not an expired one). The
	// mark comes when it is not zero or it changed.
	Flow flow.Flow
}

// Listener is a subscription. Read and Close may be called from different
// goroutines; Read from one at a time.
type Listener interface {
	// Read waits for events and hands them to each in batches, in the order
	// the kernel sent them, until each returns false (then ErrStopped) or
	// the listener is closed (then ErrClosed). A batch is valid only during
	// the call. Events received but not yet handed over when each stops
	// are handed to the next Read. When the kernel dropped events because
	// the socket's buffer was full (ENOBUFS), Read returns an
	// *OverrunError (wrapping ErrOverrun) saying how many were lost, 0 when
	// unknown; the listener has then grown its buffer and may be read
	// again at once. The table is then no longer known from events alone:
	// read it whole again. The report comes as soon as the kernel tells:
	// the events it still held from before the loss follow it, and so may
	// a second report, of what it dropped until they were read.
	Read(each func(events []Event) bool) error
	// Close ends the subscription; a Read in progress returns ErrClosed.
	Close() error
}

// Sentinel errors of Listen and of a Listener's Read.
var (
	// ErrClosed means the listener was closed, during the Read or before.
	ErrClosed = errors.New("conntrack event listener closed")
	// ErrOverrun means the kernel dropped events because the listener's
	// receive buffer was full. Read's error is then an *OverrunError.
	ErrOverrun = errors.New("conntrack events lost")
	// ErrEventsOff means the kernel sends no conntrack events in the
	// namespace: net.netfilter.nf_conntrack_events is 0 there, or the
	// kernel was built without them. The error's text says how to turn
	// them on; a caller falls back to reading the table on a schedule.
	ErrEventsOff = errors.New("conntrack events are off")
)

// OverrunError is Read's error when the kernel dropped events because the
// listener's receive buffer was full. It matches ErrOverrun.
type OverrunError struct {
	// Lost is how many events were dropped since the last report (or since
	// Listen), from the socket's drop counter; 0 means unknown. The kernel
	// announces an overrun once and goes on dropping events until the
	// queue has been read empty: those come in a report of their own,
	// when the listener next finds the queue empty.
	Lost uint64
	// Buffer is the receive buffer's size in bytes now, after the
	// listener tried to grow it.
	Buffer int
	// limit says why the buffer did not grow ("" when it did).
	limit string
}

// Error says how many events were lost and the buffer's size now: "events
// lost: 1,234 (the socket's buffer was full; now 4 MiB)", or "some events
// lost (…)" when the count is unknown.
func (e *OverrunError) Error() string {
	msg := "some events lost"
	if e.Lost > 0 {
		msg = "events lost: " + numfmt.Count(int(min(e.Lost, 1<<62)))
	}
	msg += " (the socket's buffer was full; "
	if e.limit == "" {
		return msg + "now " + sizeText(int64(e.Buffer)) + ")"
	}
	return msg + "it stays at " + sizeText(int64(e.Buffer)) + ", " + e.limit + ")"
}

// Unwrap makes the error match ErrOverrun.
func (e *OverrunError) Unwrap() error { return ErrOverrun }

// The receive buffer of a listener: what it asks for first and the most it
// grows to, doubling on each overrun (conntrackd starts at 2 MB too, and
// stops at 8 MB). Each queued event takes 1,280 bytes of it (measured on
// Linux 6.18: the message and its socket buffer), and the kernel grants
// twice the size asked for, the other half for its bookkeeping: 2 MiB holds
// about 3,300 events, 16 MiB about 26,000.
const (
	firstEventBuffer = 2 << 20
	// maxEventBuffer is the largest receive buffer a listener grows to.
	maxEventBuffer = 16 << 20
)

// eventBuffers is what Listen asks for: firstEventBuffer, growing up to
// maxEventBuffer. Tests make both tiny to cause overruns.
var eventBuffers = struct{ first, most int }{firstEventBuffer, maxEventBuffer}

// ctnetlink's multicast groups (enum nfnetlink_groups).
const (
	groupCTNew     = 1 // NFNLGRP_CONNTRACK_NEW
	groupCTUpdate  = 2 // NFNLGRP_CONNTRACK_UPDATE
	groupCTDestroy = 3 // NFNLGRP_CONNTRACK_DESTROY
)

// How a listener receives: eventSlots datagrams per system call (recvmmsg),
// each into a slot of eventSlotSize bytes, and hands eventBatch events per
// call of Read's callback. The kernel sends each event as a datagram of its
// own, sized by ctnetlink_nlmsg_size: a few hundred bytes (the tuples, a
// dozen small attributes, a helper's name, a security label), so a page
// holds any of them. A datagram that does not fit (truncated) is skipped. conntrackd handles at most 100 events
// per round so that it stays responsive; 256 per batch keeps a caller's
// pauses between batches short too.
const (
	eventSlots    = 64
	eventSlotSize = 4096
	eventBatch    = 256
)

// eventsSysctl is the per-namespace switch of conntrack events: 0 none, 1
// for every flow, 2 (the default) only for flows created while a listener
// is subscribed.
const eventsSysctl = "/proc/sys/net/netfilter/nf_conntrack_events"

// Listen subscribes to the changes of the table of the given kinds in the
// reader's namespace, on a socket of its own that stays open after the
// reader's Close. See Reader.
func (r *NetlinkReader) Listen(kinds EventKind) (Listener, error) {
	kinds &= EventAll
	if kinds == 0 {
		return nil, errors.New("conntrack events: no kind of event asked for")
	}
	if err := r.ns.check(); err != nil {
		return nil, err
	}
	if r.ns != nil && r.ns.fd() < 0 {
		// Closed: a socket opened with no namespace's descriptor would
		// listen in the caller's namespace instead.
		return nil, errors.New("conntrack events: the reader is closed")
	}
	if err := r.eventsOn(); err != nil {
		return nil, err
	}
	c, err := openEvSocket(r.ns)
	if err != nil {
		return nil, fmt.Errorf("conntrack events: netlink: %w", err)
	}
	l := newEventListener(c, kinds)
	first := eventBuffers.first
	if r.eventBuffer > 0 {
		first = r.eventBuffer
	}
	if err := l.setBuffer(first); err != nil {
		c.close()
		return nil, fmt.Errorf("conntrack events: receive buffer: %w", err)
	}
	l.most = max(eventBuffers.most, first)
	// The drop counter starts at zero on a new socket; reading it anyway
	// keeps the first report's count right if that ever changes.
	l.drops, _ = l.dropCount()
	for _, g := range []struct {
		kind  EventKind
		group uint32
	}{{EventNew, groupCTNew}, {EventUpdate, groupCTUpdate}, {EventDestroy, groupCTDestroy}} {
		if kinds&g.kind == 0 {
			continue
		}
		if err := c.join(g.group); err != nil {
			c.close()
			return nil, fmt.Errorf("conntrack events: joining the %s group: %w", g.kind, err)
		}
	}
	return l, nil
}

// eventsOn returns an error wrapping ErrEventsOff, saying how to turn events
// on, when the namespace's nf_conntrack_events is 0 (the kernel then sends no
// event at all, and a listener would wait forever), or when the kernel has no
// such sysctl: it was built without CONFIG_NF_CONNTRACK_EVENTS. A sysctl that
// cannot be read for another reason is no reason to refuse: the subscription
// is tried.
func (r *NetlinkReader) eventsOn() error {
	var v int
	err := r.ns.run(func() error {
		var err error
		v, err = readInt(eventsSysctl)
		return err
	})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: this kernel sends none (it has no net.netfilter.nf_conntrack_events: built without CONFIG_NF_CONNTRACK_EVENTS)", ErrEventsOff)
	case err != nil || v != 0:
		return nil
	}
	where, cmd := "this network namespace", "sysctl -w net.netfilter.nf_conntrack_events=1"
	if r.ns != nil {
		where = "netns " + r.ns.spec
		if strings.Contains(r.ns.spec, "/") {
			cmd = "nsenter --net=" + r.ns.spec + " " + cmd
		} else {
			cmd = "ip netns exec " + r.ns.spec + " " + cmd
		}
	}
	return fmt.Errorf("%w: net.netfilter.nf_conntrack_events is 0 in %s (turn them on with: %s; the setting belongs to the namespace)", ErrEventsOff, where, cmd)
}

// eventListener is the netlink source's Listener. Everything but closed is
// Read's own.
type eventListener struct {
	c      *evSocket
	kinds  EventKind
	closed atomic.Bool

	// The receive: hdrs[i] points at iovs[i] (slot i of bufs) and names[i]
	// (the sender's address), for one recvmmsg.
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrNetlink
	bufs  []byte
	// got datagrams came with the last receive, of which next is the
	// first not yet decoded; rest is what is left of the one in progress.
	got, next int
	rest      []byte
	batch     []Event // decoded, not yet handed over; cap eventBatch

	// The buffer: want is the size last asked for, most the cap; drops
	// is the socket's drop counter at the last report.
	want, most int
	drops      uint32
	// unsettled is set by an overrun until the queue is next seen empty:
	// until then the kernel goes on dropping events without a word (it
	// reports ENOBUFS once per overrun), so those drops are counted then.
	unsettled bool
	// lost is an overrun to report once the events before it are handed
	// over (each stopped in between).
	lost *OverrunError
}

func newEventListener(c *evSocket, kinds EventKind) *eventListener {
	l := &eventListener{
		c:     c,
		kinds: kinds,
		hdrs:  make([]unix.Mmsghdr, eventSlots),
		iovs:  make([]unix.Iovec, eventSlots),
		names: make([]unix.RawSockaddrNetlink, eventSlots),
		bufs:  make([]byte, eventSlots*eventSlotSize),
		batch: make([]Event, 0, eventBatch),
	}
	for i := range l.hdrs {
		l.iovs[i].Base = &l.bufs[i*eventSlotSize]
		l.iovs[i].SetLen(eventSlotSize)
		h := &l.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&l.names[i]))
		h.Namelen = unix.SizeofSockaddrNetlink
		h.Iov = &l.iovs[i]
		h.SetIovlen(1)
	}
	return l
}

// Read hands the events to each in batches of at most eventBatch. See
// Listener.
func (l *eventListener) Read(each func(events []Event) bool) error {
	if l.lost != nil && !l.closed.Load() {
		// Each stopped before an overrun could be reported.
		err := l.lost
		l.lost = nil
		return err
	}
	for {
		if l.closed.Load() {
			return ErrClosed
		}
		l.decode()
		if len(l.batch) == cap(l.batch) {
			if !l.hand(each) {
				return ErrStopped
			}
			continue
		}
		// Everything received is decoded and the batch has room: receive
		// more, waiting for the kernel only when there is nothing to hand
		// over meanwhile, and no overrun to settle (which needs to see the
		// queue empty).
		err := l.receive(len(l.batch) == 0 && !l.unsettled)
		switch {
		case err == nil:
		case errors.Is(err, unix.EAGAIN):
			var lost *OverrunError
			if l.unsettled {
				lost = l.settle()
			}
			if err := l.report(each, lost); err != nil {
				return err
			}
		case errors.Is(err, unix.ENOBUFS):
			return l.report(each, l.overrun())
		case l.closed.Load():
			return ErrClosed
		default:
			return fmt.Errorf("conntrack events: %w", err)
		}
	}
}

// report hands over the events received before an overrun, then returns the
// overrun; when each stops instead (ErrStopped), the next Read returns it.
// Without an overrun (nil) it hands the events over and returns nil, or
// ErrStopped.
func (l *eventListener) report(each func([]Event) bool, lost *OverrunError) error {
	if len(l.batch) > 0 {
		l.lost = lost
		if !l.hand(each) {
			return ErrStopped
		}
		l.lost = nil
	}
	if lost == nil {
		return nil
	}
	return lost
}

// hand gives the batch to each and empties it; it returns what each did.
func (l *eventListener) hand(each func([]Event) bool) bool {
	ok := each(l.batch)
	l.batch = l.batch[:0]
	return ok
}

// decode decodes the datagrams received and not yet decoded into the batch,
// until the batch is full or none is left. It skips what is not an event of
// l.kinds from the kernel itself: a datagram from another socket (only
// processes with CAP_NET_ADMIN may send one), a truncated one, a message of
// another type or one that cannot be decoded.
func (l *eventListener) decode() {
	for len(l.batch) < cap(l.batch) {
		if len(l.rest) == 0 {
			if l.next >= l.got {
				return
			}
			i := l.next
			l.next++
			if l.hdrs[i].Hdr.Flags&unix.MSG_TRUNC != 0 || l.names[i].Pid != 0 {
				continue
			}
			l.rest = l.bufs[i*eventSlotSize : i*eventSlotSize+int(l.hdrs[i].Len)]
		}
		m, rest, ok := nextMsg(l.rest)
		if !ok {
			l.rest = nil
			continue
		}
		l.rest = rest
		n := len(l.batch)
		l.batch = l.batch[:n+1]
		if !decodeEvent(m, l.kinds, &l.batch[n]) {
			l.batch = l.batch[:n]
		}
	}
}

// decodeEvent decodes m into ev and reports whether it is an event of one of
// kinds. IPCTNL_MSG_CT_NEW is a NEW event when the kernel flags it
// NLM_F_CREATE|NLM_F_EXCL and an UPDATE otherwise; IPCTNL_MSG_CT_DELETE is a
// DESTROY. It allocates nothing for a message it can decode.
func decodeEvent(m nlMsg, kinds EventKind, ev *Event) bool {
	var k EventKind
	switch m.typ {
	case unix.NFNL_SUBSYS_CTNETLINK<<8 | ctMsgNew:
		k = EventUpdate
		if m.flags&(unix.NLM_F_CREATE|unix.NLM_F_EXCL) != 0 {
			k = EventNew
		}
	case unix.NFNL_SUBSYS_CTNETLINK<<8 | ctMsgDelete:
		k = EventDestroy
	default:
		return false
	}
	if kinds&k == 0 || decodeFlow(m.data, &ev.Flow) != nil {
		return false
	}
	ev.Kind = k
	return true
}

// receive receives up to eventSlots datagrams into the slots, waiting for the
// first when wait is set; without wait, EAGAIN means none was queued. Its
// other errors are the socket's: ENOBUFS after an overrun, or ErrClosed.
func (l *eventListener) receive(wait bool) error {
	// The kernel sets each received header's address length and flags;
	// the others still hold their initial values.
	for i := range l.got {
		l.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrNetlink
		l.hdrs[i].Hdr.Flags = 0
	}
	l.got, l.next = 0, 0
	n, err := l.c.recv(l.hdrs, wait)
	if err != nil {
		return err
	}
	l.got = n
	return nil
}

// overrun is what an ENOBUFS from the kernel means: events were dropped. It
// doubles the buffer (up to l.most) and returns the report: how many were
// dropped since the last one, and the buffer's size now. The kernel, which
// reports ENOBUFS once, goes on dropping until the queue has been read
// empty: settle counts those.
func (l *eventListener) overrun() *OverrunError {
	l.unsettled = true
	e := &OverrunError{}
	if drops, err := l.dropCount(); err == nil {
		e.Lost = uint64(drops - l.drops)
		l.drops = drops
	}
	before, _ := l.buffer()
	if l.want < l.most {
		l.setBuffer(min(2*l.want, l.most))
	}
	e.Buffer, _ = l.buffer()
	switch {
	case e.Buffer > before:
	case e.Buffer < l.want:
		e.limit = "as net.core.rmem_max caps it without CAP_NET_ADMIN"
	default:
		e.limit = "its largest"
	}
	return e
}

// settle is called when the queue is seen empty after an overrun: the kernel
// stopped dropping events when it emptied (netlink_rcv_wake). Events it
// dropped after the overrun was reported were not announced; it returns a
// report of them, or nil when there were none. Those drops happened before
// every event received from now on.
func (l *eventListener) settle() *OverrunError {
	l.unsettled = false
	drops, err := l.dropCount()
	if err != nil || drops == l.drops {
		return nil
	}
	e := &OverrunError{Lost: uint64(drops - l.drops)}
	l.drops = drops
	e.Buffer, _ = l.buffer()
	return e
}

// setBuffer asks for a receive buffer of n bytes: SO_RCVBUFFORCE, which
// passes net.core.rmem_max but needs CAP_NET_ADMIN over the initial user
// namespace (refused in user-namespaced containers), else SO_RCVBUF, which
// the kernel caps at net.core.rmem_max.
func (l *eventListener) setBuffer(n int) error {
	l.want = n
	return l.c.control(func(fd int) error {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n) == nil {
			return nil
		}
		return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, n)
	})
}

// buffer returns the receive buffer's size as asked for and granted: the
// kernel reports twice that, having doubled the request to leave room for
// its bookkeeping.
func (l *eventListener) buffer() (int, error) {
	var n int
	err := l.c.control(func(fd int) error {
		var err error
		n, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
		return err
	})
	return n / 2, err
}

// dropCount returns the socket's drop counter (sk_drops, from SO_MEMINFO):
// the events the kernel could not queue for it. It is the counter the Drops
// column of the namespace's /proc/net/netlink shows, read from the socket
// itself: no file to find in another namespace. Kernels before 4.12 have no
// SO_MEMINFO; the count is then unknown.
func (l *eventListener) dropCount() (uint32, error) {
	var mem [unix.SK_MEMINFO_VARS]uint32
	err := l.c.control(func(fd int) error {
		size := uint32(unsafe.Sizeof(mem))
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_MEMINFO,
			uintptr(unsafe.Pointer(&mem[0])), uintptr(unsafe.Pointer(&size)), 0)
		if errno != 0 {
			return errno
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return mem[unix.SK_MEMINFO_DROPS], nil
}

// Close closes the socket; a Read waiting on it returns ErrClosed. Closing
// again does nothing.
func (l *eventListener) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return nil
	}
	return l.c.close()
}

// Listen returns ErrUnsupported: a /proc file announces no changes.
func (p *ProcReader) Listen(EventKind) (Listener, error) { return nil, ErrUnsupported }

// Listen returns ErrUnsupported: a saved dump does not change.
func (fr *FileReader) Listen(EventKind) (Listener, error) { return nil, ErrUnsupported }

func (p *procInNS) Listen(EventKind) (Listener, error) { return nil, ErrUnsupported }
