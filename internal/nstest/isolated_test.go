package nstest

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"
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
