package resolve

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeDNS is a lookup function with canned answers that counts its calls and
// can hold lookups until the test releases them.
type fakeDNS struct {
	mu      sync.Mutex
	names   map[string][]string // address → names; absent = NXDOMAIN
	fail    error               // when set, every lookup fails with it
	calls   map[string]int
	hold    bool          // block every lookup until release or ctx ends
	entered chan string   // receives each held lookup's address
	release chan struct{} // one value lets one held lookup finish

	inflight, maxInflight atomic.Int64
}

var (
	errNXDomain = &net.DNSError{Err: "no such host", IsNotFound: true}
	errTimeout  = &net.DNSError{Err: "i/o timeout", IsTimeout: true}
)

func newFake(names map[string][]string) *fakeDNS {
	return &fakeDNS{names: names, calls: map[string]int{},
		entered: make(chan string, 1000), release: make(chan struct{})}
}

func (f *fakeDNS) lookup(ctx context.Context, addr string) ([]string, error) {
	n := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for {
		m := f.maxInflight.Load()
		if n <= m || f.maxInflight.CompareAndSwap(m, n) {
			break
		}
	}
	f.mu.Lock()
	f.calls[addr]++
	names, ok := f.names[addr]
	hold, fail := f.hold, f.fail
	f.mu.Unlock()
	if hold {
		f.entered <- addr
		select {
		case <-f.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if fail != nil {
		return nil, fail
	}
	if !ok {
		return nil, errNXDomain
	}
	return names, nil
}

// distinct returns how many addresses were looked up.
func (f *fakeDNS) distinct() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *fakeDNS) count(addr string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[addr]
}

// clock is a settable time for testing expiry without sleeping.
type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *clock) advance(d time.Duration) { c.t.Add(int64(d)) }

func newTestResolver(t *testing.T, f *fakeDNS, workers, maxEntries int, c *clock) *Resolver {
	t.Helper()
	now := time.Now
	if c != nil {
		now = c.now
	}
	r := newResolver(f.lookup, workers, time.Minute, maxEntries, time.Minute, now)
	t.Cleanup(r.Close)
	return r
}

// within fails the test when f does not return within a generous bound: it
// guards against hangs, it does not measure speed.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s blocked for 10 s", what)
	}
}

var (
	host1 = netip.MustParseAddr("192.0.2.1")
	host2 = netip.MustParseAddr("192.0.2.2")
	nxdom = netip.MustParseAddr("192.0.2.4")
	host6 = netip.MustParseAddr("2001:db8::1")
)

func TestClean(t *testing.T) {
	long := strings.Repeat("a.", 126) + "b" // 253 bytes
	cases := []struct{ in, want string }{
		{"host1.example.", "host1.example"},
		{"host1.example", "host1.example"},
		{".", ""},
		{"", ""},
		{"evil\x1b[31m.example.", "evil?[31m.example"},
		{"evil\x9b31m.example.", "evil?31m.example"},
		{"bad\xffutf8.example.", "bad?utf8.example"},
		{long + ".", long},
		{long + "c.", ""},
	}
	for _, c := range cases {
		if got := clean(c.in); got != c.want {
			t.Errorf("clean(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := pick([]string{"", long + "c.", "good.example."}); got != "good.example" {
		t.Errorf("pick skipped no unusable name: got %q", got)
	}
}

func TestServerAddr(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.53:53":    "127.0.0.53:53",
		"127.0.0.53":       "127.0.0.53:53",
		"[2001:db8::1]:54": "[2001:db8::1]:54",
		"2001:db8::1":      "[2001:db8::1]:53",
		"ns.example":       "ns.example:53",
	} {
		if got := serverAddr(in); got != want {
			t.Errorf("serverAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNameCachesAnswers(t *testing.T) {
	f := newFake(map[string][]string{"192.0.2.1": {"host1.example."}, "2001:db8::1": {"v6.example."}})
	r := newTestResolver(t, f, 2, 100, nil)
	notified := make(chan struct{}, 10)
	r.SetNotify(func() { notified <- struct{}{} })

	if name, ok := r.Name(host1); ok || name != "" {
		t.Fatalf("first Name = %q, %v; want a miss", name, ok)
	}
	<-notified
	if name, ok := r.Name(host1); !ok || name != "host1.example" {
		t.Fatalf("Name after the answer = %q, %v", name, ok)
	}
	r.Name(host6)
	<-notified
	if name, ok := r.Name(host6); !ok || name != "v6.example" {
		t.Fatalf("Name(%v) = %q, %v", host6, name, ok)
	}
	for range 100 {
		r.Name(host1)
		r.Name(host6)
	}
	r.ResolveAll(context.Background(), []netip.Addr{host1, host6, host1})
	if n1, n6 := f.count("192.0.2.1"), f.count("2001:db8::1"); n1 != 1 || n6 != 1 {
		t.Errorf("lookups: %d and %d, want 1 each (answers are cached)", n1, n6)
	}
}

func TestNegativeCaching(t *testing.T) {
	f := newFake(nil)
	r := newTestResolver(t, f, 2, 100, nil)
	r.ResolveAll(context.Background(), []netip.Addr{nxdom, nxdom})
	for range 10 {
		if name, ok := r.Name(nxdom); ok || name != "" {
			t.Fatalf("Name(NXDOMAIN) = %q, %v", name, ok)
		}
	}
	r.ResolveAll(context.Background(), []netip.Addr{nxdom})
	if n := f.count("192.0.2.4"); n != 1 {
		t.Errorf("NXDOMAIN looked up %d times, want 1 (negative answers are cached)", n)
	}
}

func TestExpiry(t *testing.T) {
	f := newFake(map[string][]string{"192.0.2.1": {"old.example."}})
	c := &clock{}
	r := newTestResolver(t, f, 1, 100, c)
	r.ResolveAll(context.Background(), []netip.Addr{host1})

	c.advance(59 * time.Second)
	r.ResolveAll(context.Background(), []netip.Addr{host1})
	if n := f.count("192.0.2.1"); n != 1 {
		t.Fatalf("looked up %d times before the TTL ended, want 1", n)
	}

	c.advance(time.Second)
	f.mu.Lock()
	f.names["192.0.2.1"] = []string{"new.example."}
	f.mu.Unlock()
	notified := make(chan struct{}, 1)
	r.SetNotify(func() { notified <- struct{}{} })
	// The expired name stays on screen while the new lookup runs.
	if name, ok := r.Name(host1); !ok || name != "old.example" {
		t.Fatalf("Name after expiry = %q, %v; want the old name", name, ok)
	}
	<-notified
	if name, _ := r.Name(host1); name != "new.example" {
		t.Fatalf("Name after the refresh = %q", name)
	}
	if n := f.count("192.0.2.1"); n != 2 {
		t.Errorf("looked up %d times, want 2", n)
	}
}

func TestFailureKeepsKnownName(t *testing.T) {
	f := newFake(map[string][]string{"192.0.2.1": {"host1.example."}})
	c := &clock{}
	r := newTestResolver(t, f, 1, 100, c)
	r.ResolveAll(context.Background(), []netip.Addr{host1, host2})

	c.advance(time.Minute)
	f.mu.Lock()
	f.fail = errTimeout
	f.mu.Unlock()
	r.ResolveAll(context.Background(), []netip.Addr{host1, host2})
	if name, ok := r.Name(host1); !ok || name != "host1.example" {
		t.Errorf("after a timed-out refresh Name = %q, %v; want the known name", name, ok)
	}
	if name, ok := r.Name(host2); ok {
		t.Errorf("Name(host2) = %q after NXDOMAIN and a timeout", name)
	}
	if n := f.count("192.0.2.1"); n != 2 {
		t.Fatalf("%d lookups, want 2", n)
	}
	r.ResolveAll(context.Background(), []netip.Addr{host1})
	if n := f.count("192.0.2.1"); n != 2 {
		t.Errorf("a failed refresh was not cached: %d lookups, want 2", n)
	}

	c.advance(time.Minute)
	f.mu.Lock()
	f.fail = errNXDomain
	f.mu.Unlock()
	r.ResolveAll(context.Background(), []netip.Addr{host1})
	if name, ok := r.Name(host1); ok {
		t.Errorf("Name = %q after NXDOMAIN; want no name", name)
	}
}

func TestNotifyCoalesces(t *testing.T) {
	names := map[string][]string{}
	var batch []netip.Addr
	for i := 1; i <= 20; i++ {
		a := fmt.Sprintf("203.0.113.%d", i)
		names[a] = []string{fmt.Sprintf("h%d.example.", i)}
		batch = append(batch, netip.MustParseAddr(a))
	}
	f := newFake(names)
	r := newTestResolver(t, f, 4, 100, nil)
	var calls atomic.Int64
	notified := make(chan struct{}, 100)
	r.SetNotify(func() { calls.Add(1); notified <- struct{}{} })

	r.ResolveAll(context.Background(), batch)
	if n := calls.Load(); n != 1 {
		t.Fatalf("20 answers without a Name call gave %d notifications, want 1", n)
	}
	<-notified
	r.Name(batch[0]) // a redraw reads names: the next answer notifies again
	r.ResolveAll(context.Background(), []netip.Addr{host2})
	if n := calls.Load(); n != 1 {
		t.Fatalf("a negative answer notified (%d calls): nothing on screen changed", n)
	}
	f.mu.Lock()
	f.names["192.0.2.1"] = []string{"host1.example."}
	f.mu.Unlock()
	r.Name(host1)
	<-notified
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d notifications, want 2", n)
	}
}

func TestConcurrencyBound(t *testing.T) {
	f := newFake(nil)
	f.hold = true
	const workers = 3
	r := newTestResolver(t, f, workers, 100, nil)
	var addrs []netip.Addr
	for i := 1; i <= 12; i++ {
		addrs = append(addrs, netip.MustParseAddr(fmt.Sprintf("198.51.100.%d", i)))
	}
	within(t, "Name with every worker busy", func() {
		for _, a := range addrs {
			r.Name(a)
		}
	})
	for range workers {
		<-f.entered // every worker holds a lookup
	}
	if n := len(r.queue); n != len(addrs)-workers {
		t.Errorf("%d requests still queued with every worker busy, want %d", n, len(addrs)-workers)
	}
	for range len(addrs) - workers {
		f.release <- struct{}{}
		<-f.entered
	}
	for range workers {
		f.release <- struct{}{}
	}
	if m := f.maxInflight.Load(); m != workers {
		t.Errorf("at most %d lookups ran at once, want exactly %d", m, workers)
	}
}

func TestQueueDropsBeyondBound(t *testing.T) {
	f := newFake(nil)
	f.hold = true
	r := newTestResolver(t, f, 1, 1000, nil)
	first := netip.MustParseAddr("198.51.100.1")
	r.Name(first)
	<-f.entered // the only worker is now busy
	var more []netip.Addr
	for i := range queueLen + 50 {
		more = append(more, netip.AddrFrom4([4]byte{203, 0, 113 + byte(i/250), byte(1 + i%250)}))
	}
	within(t, "Name with a full queue", func() {
		for _, a := range more {
			r.Name(a)
		}
	})
	f.release <- struct{}{}
	for range queueLen {
		<-f.entered
		f.release <- struct{}{}
	}
	// Dropped requests were not remembered as pending: asking again queues them.
	dropped := more[queueLen:]
	for _, a := range dropped {
		r.Name(a)
	}
	for range dropped {
		<-f.entered
		f.release <- struct{}{}
	}
	total := 0
	f.mu.Lock()
	for _, n := range f.calls {
		total += n
	}
	f.mu.Unlock()
	if want := 1 + len(more); total != want {
		t.Errorf("%d lookups, want %d (each address once)", total, want)
	}
}

func TestCacheBound(t *testing.T) {
	f := newFake(nil)
	const maxEntries = 16
	r := newTestResolver(t, f, 2, maxEntries, nil)
	var addrs []netip.Addr
	for i := 1; i <= 100; i++ {
		addrs = append(addrs, netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}))
	}
	r.ResolveAll(context.Background(), addrs)
	if n := f.distinct(); n != maxEntries {
		t.Errorf("ResolveAll looked up %d addresses, want the first %d", n, maxEntries)
	}
	for _, a := range addrs {
		r.Name(a)
		r.mu.Lock()
		n := len(r.cache)
		r.mu.Unlock()
		if n > maxEntries {
			t.Fatalf("cache holds %d entries, bound is %d", n, maxEntries)
		}
	}
}

func TestResolveAllDeadline(t *testing.T) {
	f := newFake(map[string][]string{"192.0.2.1": {"host1.example."}})
	f.hold = true
	r := newTestResolver(t, f, 1, 100, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-f.entered // host1: answered
		f.release <- struct{}{}
		<-f.entered // host2: never answered before the deadline
		cancel()
	}()
	within(t, "ResolveAll after its context ended", func() {
		r.ResolveAll(ctx, []netip.Addr{host1, host2, nxdom})
	})
	if name, ok := r.Name(host1); !ok || name != "host1.example" {
		t.Errorf("Name(host1) = %q, %v", name, ok)
	}
	// host2 was abandoned, not cached as "no name": Name asks again.
	r.Name(host2)
	if a := <-f.entered; a != "192.0.2.2" {
		t.Errorf("lookup after the deadline for %s, want 192.0.2.2", a)
	}
	if n := f.count("192.0.2.4"); n != 0 {
		t.Errorf("a lookup queued by an abandoned ResolveAll ran %d times", n)
	}
}

func TestClose(t *testing.T) {
	f := newFake(map[string][]string{"192.0.2.1": {"host1.example."}})
	r := newResolver(f.lookup, 2, time.Minute, 100, time.Minute, time.Now)
	r.ResolveAll(context.Background(), []netip.Addr{host1})
	f.mu.Lock()
	f.hold = true
	f.mu.Unlock()
	r.Name(host2)
	<-f.entered
	within(t, "Close with a lookup in flight", r.Close)
	r.Close()
	if name, ok := r.Name(host1); !ok || name != "host1.example" {
		t.Errorf("Name after Close = %q, %v; want the cached name", name, ok)
	}
	r.Name(nxdom)
	within(t, "ResolveAll after Close", func() { r.ResolveAll(context.Background(), []netip.Addr{nxdom}) })
	if n := f.count("192.0.2.4"); n != 0 {
		t.Errorf("lookups after Close: %d", n)
	}
}

func TestIgnoresInvalidAddresses(t *testing.T) {
	f := newFake(nil)
	r := newTestResolver(t, f, 1, 100, nil)
	for _, a := range []netip.Addr{{}, netip.IPv4Unspecified(), netip.IPv6Unspecified()} {
		if name, ok := r.Name(a); ok || name != "" {
			t.Errorf("Name(%v) = %q, %v", a, name, ok)
		}
	}
	r.ResolveAll(context.Background(), []netip.Addr{{}, netip.IPv4Unspecified()})
	if n := f.distinct(); n != 0 {
		t.Errorf("looked up %d addresses", n)
	}
}
