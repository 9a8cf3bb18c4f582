package source

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/netns"
	"github.com/gostate/gostate/internal/nstest"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

// The kernel tests below need root and make private network namespaces
// (nstest skips them otherwise). Every flow they create lives in such a
// namespace; nf_conntrack_events and nf_conntrack_acct are set in the test's
// own namespace only.

// evListen subscribes to the events of kinds in ns, through a netlink reader
// opened on it; both close when the test ends.
func evListen(t *testing.T, ns *nstest.NS, kinds EventKind) Listener {
	t.Helper()
	l, err := nlOpen(t, ns.Name()).Listen(kinds)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// evGuard closes l if the test is still waiting for events after a minute:
// the Read in progress then returns ErrClosed and the test fails saying what
// did not come, instead of hanging until the test binary's timeout. It is no
// timing of what is tested: on any machine the events come in milliseconds.
// The returned function reports whether the guard fired.
func evGuard(t *testing.T, l Listener) func() bool {
	var fired atomic.Bool
	timer := time.AfterFunc(time.Minute, func() {
		fired.Store(true)
		l.Close()
	})
	t.Cleanup(func() { timer.Stop() })
	return fired.Load
}

// evCollect reads until n events have come and returns copies of them; any
// error of Read fails the test.
func evCollect(t *testing.T, l Listener, n int) []Event {
	t.Helper()
	fired := evGuard(t, l)
	var got []Event
	for len(got) < n {
		err := l.Read(func(events []Event) bool {
			got = append(got, events...)
			return len(got) < n
		})
		if err != nil && !errors.Is(err, ErrStopped) {
			t.Fatalf("after %d of %d events: %v (guard fired: %v)", len(got), n, err, fired())
		}
	}
	return got
}

// evFlow is a flow to create: TCP (with a state) or UDP, IPv4 or IPv6 by the
// addresses.
func evFlow(proto uint8, src, dst string, sport, dport uint16, tcpState uint8) conntrack.Flow {
	f := conntrack.NewFlow(proto, conntrack.StatusConfirmed, netip.MustParseAddr(src), netip.MustParseAddr(dst),
		sport, dport, 120, 0)
	if proto == flow.ProtoTCP {
		f.ProtoInfo.TCP = &conntrack.ProtoInfoTCP{State: tcpState}
	}
	return f
}

// evIs reports whether ev is of kind k about the flow with c's original tuple.
func evIs(ev *Event, k EventKind, c conntrack.Flow) bool {
	o := &ev.Flow.Orig
	return ev.Kind == k && ev.Flow.Proto == c.TupleOrig.Proto.Protocol &&
		o.Src == flow.AddrFrom(c.TupleOrig.IP.SourceAddress) && o.Dst == flow.AddrFrom(c.TupleOrig.IP.DestinationAddress) &&
		o.SrcPort == c.TupleOrig.Proto.SourcePort && o.DstPort == c.TupleOrig.Proto.DestinationPort
}

func evDescribe(events []Event) string {
	var b strings.Builder
	for i := range events {
		b.WriteString("\n  " + events[i].Kind.String() + " " + strings.TrimSuffix(describe([]flow.Flow{events[i].Flow}), "\n"))
	}
	return b.String()
}

func evSysctl(t *testing.T, ns *nstest.NS, setting string) {
	t.Helper()
	ns.Exec(t, "sysctl", "-q", "-w", "net.netfilter."+setting)
}

// TestListenEvents follows two flows created while listening through their
// lives: NEW with the state they were created in, UPDATE when a TCP flow's
// state changes, DESTROY with the counters when they are deleted. A flow
// created before the subscription announces nothing, not even its end
// (nf_conntrack_events=2, the default), unless something listened elsewhere
// when it was made: the kernel asks whether any listener exists on the
// machine, not in the namespace, so with other tests' listeners (go test
// runs packages at once) its DESTROY may come, and is left out.
func TestListenEvents(t *testing.T) {
	ns := nstest.New(t)
	evSysctl(t, ns, "nf_conntrack_events=2")
	evSysctl(t, ns, "nf_conntrack_acct=1")
	c := ns.Conn(t)
	before := evFlow(flow.ProtoTCP, "192.0.2.50", "198.51.100.50", 1000, 80, flow.TCPEstablished)
	if err := c.Create(before); err != nil {
		t.Fatal(err)
	}
	l := evListen(t, ns, EventAll)

	tcp := evFlow(flow.ProtoTCP, "192.0.2.1", "198.51.100.2", 40000, 80, flow.TCPSynSent)
	udp := evFlow(flow.ProtoUDP, "2001:db8::1", "2001:db8::2", 5353, 53, 0)
	if err := c.Delete(before); err != nil {
		t.Fatal(err)
	}
	for _, f := range []conntrack.Flow{tcp, udp} {
		if err := c.Create(f); err != nil {
			t.Fatal(err)
		}
	}
	tcp.ProtoInfo.TCP.State = flow.TCPEstablished
	if err := c.Update(tcp); err != nil {
		t.Fatal(err)
	}
	for _, f := range []conntrack.Flow{tcp, udp} {
		if err := c.Delete(f); err != nil {
			t.Fatal(err)
		}
	}

	got := evCollect(t, l, 5)
	got = slices.DeleteFunc(got, func(e Event) bool { return evIs(&e, EventDestroy, before) })
	if len(got) < 5 {
		got = append(got, evCollect(t, l, 5-len(got))...)
	}
	want := []struct {
		kind  EventKind
		f     conntrack.Flow
		state string
	}{
		{EventNew, tcp, "SYN_SENT"}, {EventNew, udp, ""}, {EventUpdate, tcp, "ESTABLISHED"},
		{EventDestroy, tcp, "ESTABLISHED"}, {EventDestroy, udp, ""},
	}
	for i, w := range want {
		if !evIs(&got[i], w.kind, w.f) || got[i].Flow.StateName() != w.state {
			t.Fatalf("event %d is not %s of %v in %q; got:%s", i, w.kind, w.f.TupleOrig, w.state, evDescribe(got))
		}
	}
	for i := range got {
		f := &got[i].Flow
		if f.Family != flow.FamilyIPv4 && f.Family != flow.FamilyIPv6 || f.Reply.Src != f.Orig.Dst || f.Reply.DstPort != f.Orig.SrcPort {
			t.Errorf("event %d: family %s, reply tuple %+v of original %+v", i, f.Family, f.Reply, f.Orig)
		}
		// The TCP flow's events are 0, 2 and 3; the UDP flow's 1 and 4.
		first := got[[]int{0, 1, 0, 0, 1}[i]].Flow.ID
		if f.Present&flow.HasID == 0 || f.ID != first {
			t.Errorf("event %d: id %d (present %v), the flow's NEW had %d", i, f.ID, f.Present&flow.HasID != 0, first)
		}
		// Counters travel in DESTROY events only.
		if counted := f.Present&flow.HasCounters != 0; counted != (got[i].Kind == EventDestroy) {
			t.Errorf("event %d (%s): counters %v", i, got[i].Kind, counted)
		}
	}
	if f := got[0].Flow; f.Family != flow.FamilyIPv4 || f.Timeout < 100 || f.Timeout > 120 || f.Present&flow.HasTimeout == 0 {
		t.Errorf("NEW tcp: family %s, timeout %d (present %v); created with 120", f.Family, f.Timeout, f.Present&flow.HasTimeout != 0)
	}
	if got[1].Flow.Family != flow.FamilyIPv6 {
		t.Errorf("NEW udp: family %s, want ipv6", got[1].Flow.Family)
	}
}

// TestListenKinds subscribes to DESTROY alone: creating flows announces
// nothing, deleting them does, in order.
func TestListenKinds(t *testing.T) {
	ns := nstest.New(t)
	l := evListen(t, ns, EventDestroy)
	c := ns.Conn(t)
	var flows []conntrack.Flow
	for i := range 3 {
		f := evFlow(flow.ProtoUDP, "192.0.2.7", "203.0.113.7", 7000+uint16(i), 53, 0)
		if err := c.Create(f); err != nil {
			t.Fatal(err)
		}
		flows = append(flows, f)
	}
	for _, f := range flows {
		if err := c.Delete(f); err != nil {
			t.Fatal(err)
		}
	}
	got := evCollect(t, l, 3)
	for i, f := range flows {
		if !evIs(&got[i], EventDestroy, f) {
			t.Fatalf("event %d is not the DESTROY of %v; got:%s", i, f.TupleOrig, evDescribe(got))
		}
	}
}

// TestListenEventsOff: with nf_conntrack_events=0 in the namespace no event
// would ever come, and Listen says so, naming the namespace and the fix.
func TestListenEventsOff(t *testing.T) {
	ns := nstest.New(t)
	evSysctl(t, ns, "nf_conntrack_events=0")
	r := nlOpen(t, ns.Name())
	l, err := r.Listen(EventAll)
	if !errors.Is(err, ErrEventsOff) {
		if l != nil {
			l.Close()
		}
		t.Fatalf("Listen with nf_conntrack_events=0: %v, want ErrEventsOff", err)
	}
	want := "ip netns exec " + ns.Name() + " sysctl -w net.netfilter.nf_conntrack_events=1"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	// Turned on again, the same reader listens.
	evSysctl(t, ns, "nf_conntrack_events=1")
	l, err = r.Listen(EventAll)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
}

// evSmallBuffers makes the listeners the test opens start at first bytes of
// receive buffer and grow to at most most.
func evSmallBuffers(t *testing.T, first, most int) {
	saved := eventBuffers
	eventBuffers.first, eventBuffers.most = first, most
	t.Cleanup(func() { eventBuffers = saved })
}

// evFill creates n flows in ns with netns.Fill.
func evFill(t *testing.T, ns *nstest.NS, n int) {
	t.Helper()
	if r, err := netns.Fill(ns.Path(), n, netns.FillOptions{}); err != nil || r.Created != n {
		t.Fatalf("fill: %+v, %v", r, err)
	}
}

// evOverrun reads l, into whose tiny buffer many more events were sent than
// it holds, expecting an overrun first; it returns the overrun and the
// events handed over before it.
func evOverrun(t *testing.T, l Listener) (*OverrunError, int) {
	t.Helper()
	fired := evGuard(t, l)
	received := 0
	err := l.Read(func(events []Event) bool {
		received += len(events)
		return true
	})
	var overrun *OverrunError
	if !errors.As(err, &overrun) || !errors.Is(err, ErrOverrun) {
		t.Fatalf("Read after a flood into a tiny buffer: %v (%d events; guard fired: %v), want an overrun", err, received, fired())
	}
	return overrun, received
}

// evDrain reads l until the NEW event of marker, which it creates once the
// events queued before it have been handed over (the kernel drops every
// event until the queue has been read empty). It returns the events before
// the marker and the overruns reported on the way.
func evDrain(t *testing.T, ns *nstest.NS, l Listener, marker conntrack.Flow) (received int, overruns []*OverrunError) {
	t.Helper()
	fired := evGuard(t, l)
	c := ns.Conn(t)
	created, seen := false, false
	for !seen {
		err := l.Read(func(events []Event) bool {
			for i := range events {
				if evIs(&events[i], EventNew, marker) {
					seen = true
					return false
				}
				received++
			}
			// A batch short of full is handed over when the queue is
			// empty.
			if !created && len(events) < eventBatch {
				created = true
				if err := c.Create(marker); err != nil {
					t.Error(err)
					return false
				}
			}
			return true
		})
		var o *OverrunError
		switch {
		case errors.As(err, &o):
			overruns = append(overruns, o)
		case err != nil && !errors.Is(err, ErrStopped):
			t.Fatalf("reading on after the overrun: %v (guard fired: %v)", err, fired())
		}
	}
	return received, overruns
}

// TestListenOverrun floods a listener whose buffer holds a handful of events
// and may not grow: Read reports the overrun with the exact count lost, and
// reading goes on with the events the buffer held, then new ones.
func TestListenOverrun(t *testing.T) {
	ns := nstest.New(t)
	evSmallBuffers(t, 4<<10, 4<<10)
	l := evListen(t, ns, EventNew)
	const n = 3000
	evFill(t, ns, n)
	o, before := evOverrun(t, l)
	if o.Buffer != 4<<10 || !strings.Contains(o.Error(), "it stays at 4 KiB, its largest") {
		t.Errorf("overrun at a buffer that may not grow: %q, buffer %d", o, o.Buffer)
	}
	after, more := evDrain(t, ns, l, evFlow(flow.ProtoTCP, "192.0.2.99", "198.51.100.99", 9999, 443, flow.TCPSynSent))
	if len(more) > 0 {
		t.Errorf("more overruns reported while reading on: %v", more)
	}
	if received := before + after; received == 0 || o.Lost == 0 || uint64(received)+o.Lost != n {
		t.Errorf("%d events received and %d lost; %d flows were created", received, o.Lost, n)
	}
}

// TestListenOverrunUnannounced: after an overrun the kernel drops every event
// until the queue is read empty, without announcing it again; the listener
// reports those too once it has read the queue empty, before the events that
// follow.
func TestListenOverrunUnannounced(t *testing.T) {
	ns := nstest.New(t)
	evSmallBuffers(t, 4<<10, 4<<10)
	l := evListen(t, ns, EventNew)
	evFill(t, ns, 1000)
	o, before := evOverrun(t, l)
	// The queue is still full: these are all dropped, silently.
	ns.Exec(t, "conntrack", "-F")
	evFill(t, ns, 1000)
	after, more := evDrain(t, ns, l, evFlow(flow.ProtoUDP, "192.0.2.96", "198.51.100.96", 9996, 53, 0))
	if len(more) != 1 || more[0].Lost != 1000 || !strings.HasPrefix(more[0].Error(), "events lost: 1,000 (") {
		t.Fatalf("overruns reported after the first: %v; want one of the 1,000 dropped silently", more)
	}
	if received := before + after; uint64(received)+o.Lost != 1000 {
		t.Errorf("%d events received and %d lost of the first 1,000 flows", received, o.Lost)
	}
}

// TestListenOverrunGrows: each overrun doubles the buffer until its cap; the
// error says the size reached.
func TestListenOverrunGrows(t *testing.T) {
	ns := nstest.New(t)
	evSmallBuffers(t, 4<<10, 8<<10)
	l := evListen(t, ns, EventNew)
	for round, want := range []string{"now 8 KiB", "it stays at 8 KiB, its largest"} {
		// netns.Fill makes the same tuples each time: the table is
		// emptied for the second round.
		ns.Exec(t, "conntrack", "-F")
		evFill(t, ns, 2000)
		o, _ := evOverrun(t, l)
		if o.Buffer != 8<<10 || !strings.HasPrefix(o.Error(), "events lost: ") ||
			!strings.HasSuffix(o.Error(), "(the socket's buffer was full; "+want+")") {
			t.Errorf("overrun %d: %q, buffer %d; want %q", round+1, o, o.Buffer, want)
		}
		evDrain(t, ns, l, evFlow(flow.ProtoUDP, "192.0.2.98", "198.51.100.98", 9998-uint16(round), 53, 0))
	}
}

// TestListenClose: Close ends a Read in progress with ErrClosed, and every
// Read after it.
func TestListenClose(t *testing.T) {
	ns := nstest.New(t)
	l := evListen(t, ns, EventAll)
	inRead := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		first := true
		done <- l.Read(func([]Event) bool {
			if first {
				first = false
				close(inRead)
			}
			return true
		})
	}()
	// The Read is in progress once it has handed over an event: it goes on
	// waiting for more.
	if err := ns.Conn(t).Create(evFlow(flow.ProtoUDP, "192.0.2.5", "198.51.100.5", 5000, 53, 0)); err != nil {
		t.Fatal(err)
	}
	<-inRead
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// A minute is no timing of Close: it bounds a Read that Close never
	// ends, so that the test fails instead of hanging.
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Read in progress after Close: %v, want ErrClosed", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Read still waiting a minute after Close")
	}
	if err := l.Read(func([]Event) bool { return true }); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v, want ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestListenIgnoresOtherSenders: a message sent to the listener's socket by
// another socket (only a process with CAP_NET_ADMIN in the namespace can) is
// not taken for the kernel's event.
func TestListenIgnoresOtherSenders(t *testing.T) {
	ns := nstest.New(t)
	l := evListen(t, ns, EventAll)
	forged := nlDatagram(0, struct {
		typ, flags uint16
		data       []byte
	}{unix.NFNL_SUBSYS_CTNETLINK<<8 | ctMsgNew, unix.NLM_F_CREATE | unix.NLM_F_EXCL, nlCaptured(t)[4]})
	var pid uint32
	if err := l.(*eventListener).c.control(func(fd int) error {
		sa, err := unix.Getsockname(fd)
		if err == nil {
			pid = sa.(*unix.SockaddrNetlink).Pid
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ns.Do(t, func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Sendto(fd, forged, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Pid: pid})
	})
	real := evFlow(flow.ProtoTCP, "192.0.2.6", "198.51.100.6", 6000, 22, flow.TCPSynSent)
	if err := ns.Conn(t).Create(real); err != nil {
		t.Fatal(err)
	}
	if got := evCollect(t, l, 1); !evIs(&got[0], EventNew, real) {
		t.Fatalf("first event is not the kernel's NEW of %v:%s", real.TupleOrig, evDescribe(got))
	}
}

// TestListenReadsWithoutAllocating reads 2,000 queued events from the kernel
// in batches of at most eventBatch and counts the heap allocations of the
// whole Read: receiving, decoding and handing over allocate nothing per
// event. 2,000 events fit the default buffer unread (it holds about 3,300).
func TestListenReadsWithoutAllocating(t *testing.T) {
	ns := nstest.New(t)
	l := evListen(t, ns, EventNew)
	const n = 2000
	ns.Fill(t, n)
	fired := evGuard(t, l)
	received, largest := 0, 0
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for received < n {
		err := l.Read(func(events []Event) bool {
			received += len(events)
			largest = max(largest, len(events))
			return received < n
		})
		if err != nil && !errors.Is(err, ErrStopped) {
			t.Fatalf("after %d of %d events: %v (guard fired: %v)", received, n, err, fired())
		}
	}
	runtime.ReadMemStats(&after)
	if received != n || largest > eventBatch {
		t.Errorf("%d events in batches of up to %d; want %d in batches of at most %d", received, largest, n, eventBatch)
	}
	// A few allocations anywhere in the process (the runtime's own) are
	// no cost per event; one per event or per batch is.
	if allocs := after.Mallocs - before.Mallocs; allocs > 4 {
		t.Errorf("%d allocations reading %d events", allocs, n)
	}
}

// evReceived puts datagrams into l's slots as a receive would, from the
// kernel (pid 0) unless fromPid says otherwise.
func evReceived(l *eventListener, fromPid uint32, datagrams ...[]byte) {
	for i, d := range datagrams {
		copy(l.bufs[i*eventSlotSize:(i+1)*eventSlotSize], d)
		l.hdrs[i].Len = uint32(len(d))
		l.hdrs[i].Hdr.Flags = 0
		if len(d) > eventSlotSize {
			l.hdrs[i].Len, l.hdrs[i].Hdr.Flags = eventSlotSize, unix.MSG_TRUNC
		}
		l.names[i].Pid = fromPid
	}
	l.got, l.next, l.rest = len(datagrams), 0, nil
}

type evMsg = struct {
	typ, flags uint16
	data       []byte
}

const (
	evNewType    = unix.NFNL_SUBSYS_CTNETLINK<<8 | ctMsgNew
	evDeleteType = unix.NFNL_SUBSYS_CTNETLINK<<8 | ctMsgDelete
	evNewFlags   = unix.NLM_F_CREATE | unix.NLM_F_EXCL
)

// TestEventDecode: the kinds from message types and flags, the kinds
// subscribed to, several messages in a datagram, and what is skipped.
func TestEventDecode(t *testing.T) {
	msgs := nlCaptured(t)
	l := newEventListener(nil, EventAll)
	evReceived(l, 0,
		nlDatagram(0, evMsg{evNewType, evNewFlags, msgs[0]}),
		nlDatagram(0, evMsg{evNewType, 0, msgs[1]}, evMsg{evDeleteType, 0, msgs[2]}),
		nlDatagram(0, evMsg{evNewType, evNewFlags, []byte{2, 0}}),                                                         // cannot be decoded
		nlDatagram(0, evMsg{unix.NLMSG_ERROR, 0, make([]byte, 20)}),                                                       // not an event
		nlDatagram(0, evMsg{evNewType, evNewFlags, append(append([]byte{}, msgs[3]...), make([]byte, eventSlotSize)...)}), // truncated
		nlDatagram(0, evMsg{evDeleteType, 0, msgs[4]}),
	)
	l.decode()
	want := []struct {
		kind EventKind
		f    flow.Flow
	}{{EventNew, nlGolden[0]}, {EventUpdate, nlGolden[1]}, {EventDestroy, nlGolden[2]}, {EventDestroy, nlGolden[4]}}
	if len(l.batch) != len(want) {
		t.Fatalf("%d events decoded, want %d:%s", len(l.batch), len(want), evDescribe(l.batch))
	}
	for i, w := range want {
		if l.batch[i].Kind != w.kind || l.batch[i].Flow != w.f {
			t.Errorf("event %d: %s %+v, want %s %+v", i, l.batch[i].Kind, l.batch[i].Flow, w.kind, w.f)
		}
	}

	// Kinds not subscribed to are left out; datagrams not from the
	// kernel too.
	l = newEventListener(nil, EventNew|EventDestroy)
	evReceived(l, 0, nlDatagram(0, evMsg{evNewType, 0, msgs[1]}, evMsg{evDeleteType, 0, msgs[2]}))
	l.decode()
	if len(l.batch) != 1 || l.batch[0].Kind != EventDestroy {
		t.Errorf("subscribed to new and destroy: %s", evDescribe(l.batch))
	}
	l = newEventListener(nil, EventAll)
	evReceived(l, 4242, nlDatagram(0, evMsg{evNewType, evNewFlags, msgs[0]}))
	l.decode()
	if len(l.batch) != 0 {
		t.Errorf("a datagram from port 4242 was taken for an event:%s", evDescribe(l.batch))
	}
}

// TestEventDecodeBatches: a batch stops at eventBatch events, and the next
// decode goes on where it stopped, inside a datagram.
func TestEventDecodeBatches(t *testing.T) {
	msgs := nlCaptured(t)
	var d [][]byte
	for i := range eventSlots {
		// Eight messages a datagram: 512 events, two batches.
		var m []evMsg
		for k := range 8 {
			m = append(m, evMsg{evNewType, evNewFlags, msgs[(i*8+k)%len(msgs)]})
		}
		d = append(d, nlDatagram(0, m...))
	}
	l := newEventListener(nil, EventAll)
	evReceived(l, 0, d...)
	for batch := range 2 {
		l.decode()
		if len(l.batch) != eventBatch {
			t.Fatalf("batch %d: %d events, want %d", batch, len(l.batch), eventBatch)
		}
		for i := range l.batch {
			if want := nlGolden[(batch*eventBatch+i)%len(nlGolden)]; l.batch[i].Flow != want {
				t.Fatalf("batch %d event %d: %+v, want %+v", batch, i, l.batch[i].Flow, want)
			}
		}
		l.batch = l.batch[:0]
	}
	if l.decode(); len(l.batch) != 0 {
		t.Errorf("%d events after all were decoded", len(l.batch))
	}
}

// TestEventDecodeAllocs: decoding a receive's worth of events into the batch
// allocates nothing.
func TestEventDecodeAllocs(t *testing.T) {
	msgs := nlCaptured(t)
	var d [][]byte
	for i := range eventSlots {
		d = append(d, nlDatagram(0, evMsg{evNewType, evNewFlags, msgs[i%len(msgs)]}))
	}
	l := newEventListener(nil, EventAll)
	allocs := testing.AllocsPerRun(100, func() {
		l.got, l.next, l.rest, l.batch = 0, 0, nil, l.batch[:0]
		evReceived(l, 0, d...)
		l.decode()
	})
	if allocs != 0 || len(l.batch) != eventSlots {
		t.Errorf("decoding %d events allocates %.1f times (%d decoded), want 0", eventSlots, allocs, len(l.batch))
	}
}

func TestEventKindString(t *testing.T) {
	for k, want := range map[EventKind]string{
		EventNew: "new", EventUpdate: "update", EventDestroy: "destroy",
		EventAll: "new,update,destroy", EventNew | EventDestroy: "new,destroy", 0: "none",
	} {
		if got := k.String(); got != want {
			t.Errorf("EventKind(%d) = %q, want %q", uint8(k), got, want)
		}
	}
}

// TestListenAfterClose: a reader opened on a namespace and closed no longer
// holds it, and does not listen in the caller's namespace instead.
func TestListenAfterClose(t *testing.T) {
	ns := nstest.New(t)
	r, err := openNetlinkReader(ns.Name())
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if l, err := r.Listen(EventAll); err == nil {
		l.Close()
		t.Fatal("a closed reader listens")
	}
}

func TestListenUnsupported(t *testing.T) {
	for name, r := range map[string]Reader{"proc": &ProcReader{}, "file": &FileReader{}} {
		if l, err := r.Listen(EventAll); l != nil || !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: Listen = %v, %v; want ErrUnsupported", name, l, err)
		}
	}
}

// BenchmarkListen measures the events a listener at the default buffer
// receives while netns.Fill creates b.N flows as fast as its batching
// sockets can (one or two of them: on two cores, two leave the listener no
// core of its own), and how many the kernel dropped (lost/op is per flow).
// Run it with a fixed count: go test -run '^$' -bench Listen -benchtime
// 100000x.
func BenchmarkListen(b *testing.B) {
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("fillers=%d", workers), func(b *testing.B) { benchmarkListen(b, workers) })
	}
}

func benchmarkListen(b *testing.B, workers int) {
	ns := nstest.New(b)
	r, err := openNetlinkReader(ns.Name())
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	l, err := r.Listen(EventNew)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	// Markers go to an address the fill does not use.
	markerDst := flow.AddrFrom(netip.MustParseAddr("198.51.100.99"))
	var received, lost uint64
	done := make(chan error, 1)
	go func() {
		for {
			seen := false
			err := l.Read(func(events []Event) bool {
				for i := range events {
					if events[i].Flow.Orig.Dst == markerDst {
						received += uint64(i)
						seen = true
						return false
					}
				}
				received += uint64(len(events))
				return true
			})
			var o *OverrunError
			switch {
			case seen:
				done <- nil
				return
			case errors.As(err, &o):
				lost += o.Lost
			default:
				done <- err
				return
			}
		}
	}()
	b.ResetTimer()
	start := time.Now()
	if fr, err := netns.Fill(ns.Path(), b.N, netns.FillOptions{Workers: workers}); err != nil || fr.Created != b.N {
		b.Fatalf("fill: %+v, %v", fr, err)
	}
	// The marker comes after every event of the fill, once an overrun's
	// queue has been read empty: create it until it arrives.
	c := ns.Conn(b)
	for port := uint16(9999); ; port-- {
		if err := c.Create(evFlow(flow.ProtoTCP, "192.0.2.99", "198.51.100.99", port, 443, flow.TCPSynSent)); err != nil {
			b.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				b.Fatal(err)
			}
		case <-time.After(100 * time.Millisecond):
			continue
		}
		break
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(received)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(lost)/float64(b.N), "lost/op")
}
