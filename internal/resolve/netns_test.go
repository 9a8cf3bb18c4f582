package resolve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"
)

// privateNetns starts a goroutine locked to an OS thread that has left the
// host's network namespace for a new one with only loopback, and returns a
// function running code on that thread. Sockets created there stay in the
// namespace whichever thread uses them later, so the test's DNS server and
// the resolver's connections to it never reach the host's network. The thread
// is never unlocked: it ends with its goroutine at cleanup, and no other
// goroutine ever runs in the namespace.
func privateNetns(t *testing.T) (inNetns func(func())) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: a private network namespace needs root (CAP_SYS_ADMIN) for unshare(CLONE_NEWNET)")
	}
	jobs := make(chan func())
	ready := make(chan error)
	go func() {
		runtime.LockOSThread()
		err := enterPrivateNetns()
		ready <- err
		if err != nil {
			return
		}
		for job := range jobs {
			job()
		}
	}()
	if err := <-ready; errors.Is(err, unix.EPERM) {
		t.Skipf("skipping: cannot create a network namespace: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(jobs) })
	return func(f func()) {
		done := make(chan struct{})
		jobs <- func() { f(); close(done) }
		<-done
	}
}

// enterPrivateNetns moves the calling thread into a new network namespace,
// checks that it did, and brings loopback up.
func enterPrivateNetns() error {
	before, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		return err
	}
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
	}
	after, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		return err
	}
	if after == before {
		return fmt.Errorf("still in network namespace %s after unshare", before)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing lo up: %w", err)
	}
	return nil
}

// dnsServer is a tiny UDP DNS server answering PTR queries from a table.
// It counts queries per name and can hold queries until the test releases
// them, counting how many it holds at once.
type dnsServer struct {
	conn net.PacketConn
	addr string

	mu        sync.Mutex
	ptr       map[string][]string // query name → PTR answers
	nxdomain  map[string]bool
	silent    map[string]bool // never answered
	hold      map[string]bool // answered (NXDOMAIN) once released
	queries   map[string]int
	held, max int
	arrived   chan string   // each silent or held query's name
	release   chan struct{} // one value releases one held query
}

func startDNSServer(t *testing.T, inNetns func(func())) *dnsServer {
	t.Helper()
	s := &dnsServer{
		ptr: map[string][]string{}, nxdomain: map[string]bool{}, silent: map[string]bool{},
		hold: map[string]bool{}, queries: map[string]int{},
		arrived: make(chan string, 100), release: make(chan struct{}),
	}
	var err error
	inNetns(func() { s.conn, err = net.ListenPacket("udp", "127.0.0.1:0") })
	if err != nil {
		t.Fatal(err)
	}
	s.addr = s.conn.LocalAddr().String()
	t.Cleanup(func() { s.conn.Close() })
	go s.serve()
	return s
}

func (s *dnsServer) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			return // closed at cleanup
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil {
			continue
		}
		q, err := p.Question()
		if err != nil {
			continue
		}
		name := q.Name.String()
		s.mu.Lock()
		s.queries[name]++
		silent, hold := s.silent[name], s.hold[name]
		if hold {
			s.held++
			s.max = max(s.max, s.held)
		}
		s.mu.Unlock()
		switch {
		case silent:
			s.arrived <- name
		case hold:
			s.arrived <- name
			go func() {
				<-s.release
				s.mu.Lock()
				s.held--
				s.mu.Unlock()
				s.reply(h, q, from)
			}()
		default:
			s.reply(h, q, from)
		}
	}
}

func (s *dnsServer) reply(req dnsmessage.Header, q dnsmessage.Question, to net.Addr) {
	name := q.Name.String()
	s.mu.Lock()
	answers, found := s.ptr[name]
	s.mu.Unlock()
	h := dnsmessage.Header{ID: req.ID, Response: true, Authoritative: true,
		RecursionDesired: req.RecursionDesired, RecursionAvailable: true}
	if !found || q.Type != dnsmessage.TypePTR {
		h.RCode = dnsmessage.RCodeNameError
		answers = nil
	}
	b := dnsmessage.NewBuilder(nil, h)
	b.EnableCompression()
	err := b.StartQuestions()
	if err == nil {
		err = b.Question(q)
	}
	if err == nil {
		err = b.StartAnswers()
	}
	for _, a := range answers {
		if err == nil {
			rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
			err = b.PTRResource(rh, dnsmessage.PTRResource{PTR: dnsmessage.MustNewName(a)})
		}
	}
	msg, ferr := b.Finish()
	if err != nil || ferr != nil {
		panic(fmt.Sprintf("test DNS server: building the answer for %s: %v %v", name, err, ferr))
	}
	s.conn.WriteTo(msg, to)
}

func (s *dnsServer) count(a netip.Addr) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[arpa(a)]
}

// arpa returns the PTR query name for a.
func arpa(a netip.Addr) string {
	var b strings.Builder
	if a.Is4() {
		ip := a.As4()
		for i := 3; i >= 0; i-- {
			fmt.Fprintf(&b, "%d.", ip[i])
		}
		return b.String() + "in-addr.arpa."
	}
	ip := a.As16()
	for i := 15; i >= 0; i-- {
		fmt.Fprintf(&b, "%x.%x.", ip[i]&0xf, ip[i]>>4)
	}
	return b.String() + "ip6.arpa."
}

// settle waits until the lookup Name queued for a has ended.
func settle(t *testing.T, r *Resolver, a netip.Addr) {
	t.Helper()
	within(t, "waiting for a lookup to end", func() {
		for {
			r.mu.Lock()
			pending := r.cache[a].pending
			r.mu.Unlock()
			if !pending {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// TestAgainstDNSServer runs Go's real DNS client, as New sets it up for a
// given server, against a DNS server inside a private network namespace.
func TestAgainstDNSServer(t *testing.T) {
	inNetns := privateNetns(t)
	srv := startDNSServer(t, inNetns)
	// Dial from the namespace's thread; everything else is New's own setup.
	dial := func(ctx context.Context, network, address string) (c net.Conn, err error) {
		inNetns(func() {
			var d net.Dialer
			c, err = d.DialContext(ctx, network, address)
		})
		return c, err
	}
	lookup := goResolver(srv.addr, dial).LookupAddr
	newR := func(workers int, timeout time.Duration) *Resolver {
		r := newResolver(lookup, workers, time.Hour, 1000, timeout, time.Now)
		t.Cleanup(r.Close)
		return r
	}

	var (
		plain   = netip.MustParseAddr("192.0.2.1")
		mixed   = netip.MustParseAddr("192.0.2.2")
		evil    = netip.MustParseAddr("192.0.2.3")
		missing = netip.MustParseAddr("192.0.2.4")
		silent  = netip.MustParseAddr("192.0.2.5")
		v6      = netip.MustParseAddr("2001:db8::1")
	)
	srv.mu.Lock()
	srv.ptr[arpa(plain)] = []string{"host1.example."}
	srv.ptr[arpa(mixed)] = []string{"evil\x1b[31m.example.", "good.example."}
	srv.ptr[arpa(evil)] = []string{"evil\x1b]0;pwned\x07.example."}
	srv.nxdomain[arpa(missing)] = true
	srv.silent[arpa(silent)] = true
	srv.ptr[arpa(v6)] = []string{"v6.example."}
	srv.mu.Unlock()

	t.Run("answers", func(t *testing.T) {
		r := newR(2, 30*time.Second)
		all := []netip.Addr{plain, mixed, evil, missing, v6, plain}
		r.ResolveAll(context.Background(), all)
		want := map[netip.Addr]string{plain: "host1.example", mixed: "good.example", v6: "v6.example"}
		for _, a := range all {
			name, ok := r.Name(a)
			if strings.ContainsAny(name, "\x1b\x07") {
				t.Errorf("Name(%v) = %q reached the screen unsanitised", a, name)
			}
			if name != want[a] || ok != (want[a] != "") {
				t.Errorf("Name(%v) = %q, %v; want %q", a, name, ok, want[a])
			}
		}
		for range 10 {
			for _, a := range all {
				r.Name(a)
			}
		}
		r.ResolveAll(context.Background(), all)
		for _, a := range all[:5] {
			if n := srv.count(a); n != 1 {
				t.Errorf("%v: %d queries, want 1 (answers and NXDOMAIN are cached)", a, n)
			}
		}
	})

	t.Run("no answer", func(t *testing.T) {
		r := newR(2, 500*time.Millisecond)
		r.ResolveAll(context.Background(), []netip.Addr{plain}) // cached before the server goes quiet
		r.Name(silent)
		<-srv.arrived // the query is at the server, which never answers
		within(t, "Name during a lookup that never gets an answer", func() {
			for range 1000 {
				if _, ok := r.Name(silent); ok {
					t.Error("Name(silent) has a name")
				}
				if name, _ := r.Name(plain); name != "host1.example" {
					t.Errorf("Name(plain) = %q", name)
				}
			}
		})
		settle(t, r, silent) // the lookup timed out
		queries := srv.count(silent)
		for range 100 {
			if name, ok := r.Name(silent); ok {
				t.Fatalf("Name(silent) = %q after the timeout", name)
			}
		}
		r.ResolveAll(context.Background(), []netip.Addr{silent})
		if n := srv.count(silent); n != queries {
			t.Errorf("the timed-out address was asked again (%d queries, then %d): failures are cached", queries, n)
		}
		for len(srv.arrived) > 0 {
			<-srv.arrived // retries by Go's client within the timeout, if any
		}
	})

	t.Run("concurrency bound", func(t *testing.T) {
		const workers = 3
		r := newR(workers, 30*time.Second)
		var held []netip.Addr
		for i := 1; i <= 10; i++ {
			a := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
			srv.mu.Lock()
			srv.hold[arpa(a)] = true
			srv.mu.Unlock()
			held = append(held, a)
		}
		done := make(chan struct{})
		go func() {
			r.ResolveAll(context.Background(), held)
			close(done)
		}()
		for range workers {
			<-srv.arrived // every worker waits for an answer
		}
		within(t, "Name with every worker waiting for DNS", func() { r.Name(plain) })
		for range len(held) - workers {
			srv.release <- struct{}{}
			<-srv.arrived
		}
		for range workers {
			srv.release <- struct{}{}
		}
		<-done
		srv.mu.Lock()
		defer srv.mu.Unlock()
		if srv.max != workers {
			t.Errorf("the server saw at most %d queries at once, want %d", srv.max, workers)
		}
	})
}
