package nstest

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// TestIsolatedDNS runs Go's DNS client against DNSServer in a process of
// its own network namespace: the process sees loopback alone, the server
// answers PTR queries from its table and NXDOMAIN otherwise.
func TestIsolatedDNS(t *testing.T) {
	if !Isolated(t) {
		return
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(ifaces) != 1 || ifaces[0].Name != "lo" || ifaces[0].Flags&net.FlagUp == 0 {
		t.Fatalf("interfaces in the isolated process: %v, want lo alone, up", ifaces)
	}

	named, v6, unknown := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10"), netip.MustParseAddr("192.0.2.11")
	srv := StartDNS(t, map[netip.Addr][]string{
		named: {"web1.example.", "www.example."},
		v6:    {"v6.example."},
	})
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Addr())
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for a, want := range map[netip.Addr][]string{named: {"web1.example.", "www.example."}, v6: {"v6.example."}} {
		names, err := r.LookupAddr(ctx, a.String())
		if err != nil || !slices.Equal(names, want) {
			t.Errorf("LookupAddr(%v) = %q, %v; want %q", a, names, err, want)
		}
		if srv.Queries(a) == 0 {
			t.Errorf("%v: answered without a query reaching the server", a)
		}
	}
	names, err := r.LookupAddr(ctx, unknown.String())
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("LookupAddr(%v) = %q, %v; want NXDOMAIN", unknown, names, err)
	}
}

// TestIsolatedDNSHoldAndSilence checks the server's waiting games: a held
// query is announced, counted among those held at once, and answered only
// once released; a silent one is announced and not answered.
func TestIsolatedDNSHoldAndSilence(t *testing.T) {
	if !Isolated(t) {
		return
	}
	named, held1, held2, quiet := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11"),
		netip.MustParseAddr("192.0.2.12"), netip.MustParseAddr("192.0.2.13")
	srv := StartDNS(t, map[netip.Addr][]string{named: {"web1.example."}, held1: {"held.example."}})
	srv.Hold(held1)
	srv.Hold(held2)
	srv.Silence(quiet)
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Addr())
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	type result struct {
		names []string
		err   error
	}
	lookup := func(a netip.Addr) <-chan result {
		c := make(chan result, 1)
		go func() {
			names, err := r.LookupAddr(ctx, a.String())
			c <- result{names, err}
		}()
		return c
	}
	arrival := func(want netip.Addr) {
		t.Helper()
		select {
		case name := <-srv.Arrived():
			if name != ReverseName(want) {
				t.Fatalf("arrived %q, want %q", name, ReverseName(want))
			}
		case <-ctx.Done():
			t.Fatalf("the query for %v never arrived", want)
		}
	}

	first := lookup(held1)
	arrival(held1)
	second := lookup(held2)
	arrival(held2)
	// Both queries are held: neither lookup has ended, and a name neither
	// held nor silent is still answered meanwhile.
	if names, err := r.LookupAddr(ctx, named.String()); err != nil || !slices.Equal(names, []string{"web1.example."}) {
		t.Errorf("LookupAddr(%v) while two are held = %q, %v", named, names, err)
	}
	select {
	case res := <-first:
		t.Fatalf("a held lookup ended before its release: %q, %v", res.names, res.err)
	case res := <-second:
		t.Fatalf("a held lookup ended before its release: %q, %v", res.names, res.err)
	default:
	}
	if n := srv.MaxHeld(); n != 2 {
		t.Errorf("MaxHeld = %d with two queries held, want 2", n)
	}
	srv.Release()
	srv.Release()
	if res := <-first; res.err != nil || !slices.Equal(res.names, []string{"held.example."}) {
		t.Errorf("released LookupAddr(%v) = %q, %v; want its name from the table", held1, res.names, res.err)
	}
	var dnsErr *net.DNSError
	if res := <-second; !errors.As(res.err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("released LookupAddr(%v) = %q, %v; want NXDOMAIN", held2, res.names, res.err)
	}
	if n := srv.MaxHeld(); n != 2 {
		t.Errorf("MaxHeld = %d after the releases, want 2 still", n)
	}

	// The silent query is announced and not answered: the server answers
	// in the order queries come, so the first answer on a socket that asked
	// about the silent name and then another is the other's.
	c, err := net.Dial("udp4", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d, _ := ctx.Deadline()
	c.SetDeadline(d)
	if _, err := c.Write(ptrQuery(t, 1, quiet)); err != nil {
		t.Fatal(err)
	}
	arrival(quiet)
	if _, err := c.Write(ptrQuery(t, 2, named)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var p dnsmessage.Parser
	if h, err := p.Start(buf[:n]); err != nil || h.ID != 2 {
		t.Errorf("first answer: header %+v, %v; want the answer to query 2, not to the silent query 1", h, err)
	}
	if n := srv.Queries(quiet); n != 1 {
		t.Errorf("%v: %d queries counted, want 1", quiet, n)
	}
}

// ptrQuery returns a DNS query with the given ID for a's PTR name.
func ptrQuery(t *testing.T, id uint16, a netip.Addr) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	err := b.StartQuestions()
	if err == nil {
		err = b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(ReverseName(a)),
			Type: dnsmessage.TypePTR, Class: dnsmessage.ClassINET})
	}
	msg, ferr := b.Finish()
	if err != nil || ferr != nil {
		t.Fatalf("building a query: %v %v", err, ferr)
	}
	return msg
}

func TestReverseName(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.10":          "10.2.0.192.in-addr.arpa.",
		"::ffff:198.51.100.7": "7.100.51.198.in-addr.arpa.",
		"2001:db8::1":         "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
	} {
		if got := ReverseName(netip.MustParseAddr(addr)); got != want {
			t.Errorf("ReverseName(%s) = %q, want %q", addr, got, want)
		}
	}
}

func TestRunPattern(t *testing.T) {
	if got, want := runPattern("TestA/b.c_(d)"), `^TestA$/^b\.c_\(d\)$`; got != want {
		t.Errorf("runPattern = %q, want %q", got, want)
	}
}
