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
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gostate/gostate/internal/nstest"
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
	return nstest.LoopbackUp()
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
	var (
		plain   = netip.MustParseAddr("192.0.2.1")
		mixed   = netip.MustParseAddr("192.0.2.2")
		evil    = netip.MustParseAddr("192.0.2.3")
		missing = netip.MustParseAddr("192.0.2.4") // NXDOMAIN: not in the table
		silent  = netip.MustParseAddr("192.0.2.5")
		v6      = netip.MustParseAddr("2001:db8::1")
	)
	srv := nstest.StartDNSOn(t, map[netip.Addr][]string{
		plain: {"host1.example."},
		mixed: {"evil\x1b[31m.example.", "good.example."},
		evil:  {"evil\x1b]0;pwned\x07.example."},
		v6:    {"v6.example."},
	}, func() (c net.PacketConn, err error) {
		inNetns(func() { c, err = net.ListenPacket("udp4", "127.0.0.1:0") })
		return c, err
	})
	srv.Silence(silent)
	// Dial from the namespace's thread; everything else is New's own setup.
	dial := func(ctx context.Context, network, address string) (c net.Conn, err error) {
		inNetns(func() {
			var d net.Dialer
			c, err = d.DialContext(ctx, network, address)
		})
		return c, err
	}
	lookup := goResolver(srv.Addr(), dial).LookupAddr
	newR := func(workers int, timeout time.Duration) *Resolver {
		r := newResolver(lookup, workers, time.Hour, 1000, timeout, time.Now)
		t.Cleanup(r.Close)
		return r
	}

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
			if n := srv.Queries(a); n != 1 {
				t.Errorf("%v: %d queries, want 1 (answers and NXDOMAIN are cached)", a, n)
			}
		}
	})

	t.Run("no answer", func(t *testing.T) {
		r := newR(2, 500*time.Millisecond)
		r.ResolveAll(context.Background(), []netip.Addr{plain}) // cached before the server goes quiet
		r.Name(silent)
		<-srv.Arrived() // the query is at the server, which never answers
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
		queries := srv.Queries(silent)
		for range 100 {
			if name, ok := r.Name(silent); ok {
				t.Fatalf("Name(silent) = %q after the timeout", name)
			}
		}
		r.ResolveAll(context.Background(), []netip.Addr{silent})
		if n := srv.Queries(silent); n != queries {
			t.Errorf("the timed-out address was asked again (%d queries, then %d): failures are cached", queries, n)
		}
		for len(srv.Arrived()) > 0 {
			<-srv.Arrived() // retries by Go's client within the timeout, if any
		}
	})

	t.Run("concurrency bound", func(t *testing.T) {
		const workers = 3
		r := newR(workers, 30*time.Second)
		var held []netip.Addr
		for i := 1; i <= 10; i++ {
			a := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
			srv.Hold(a)
			held = append(held, a)
		}
		done := make(chan struct{})
		go func() {
			r.ResolveAll(context.Background(), held)
			close(done)
		}()
		for range workers {
			<-srv.Arrived() // every worker waits for an answer
		}
		within(t, "Name with every worker waiting for DNS", func() { r.Name(plain) })
		for range len(held) - workers {
			srv.Release()
			<-srv.Arrived()
		}
		for range workers {
			srv.Release()
		}
		<-done
		if n := srv.MaxHeld(); n != workers {
			t.Errorf("the server saw at most %d queries at once, want %d", n, workers)
		}
	})
}
