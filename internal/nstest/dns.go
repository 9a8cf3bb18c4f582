package nstest

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// DNSServer is a tiny DNS server on UDP that answers PTR queries from a
// table, with any bytes the test likes in the names, and everything else
// with NXDOMAIN. It listens on 127.0.0.1 of the namespace the calling
// thread is in: start it in a process Isolated started (or inside Do), so
// that neither it nor its clients reach the host's network.
type DNSServer struct {
	conn net.PacketConn
	ptr  map[string][]string // query name ("10.2.0.192.in-addr.arpa.") → PTR names

	mu      sync.Mutex
	queries map[string]int
}

// StartDNS starts a server answering a PTR query for each address in ptr
// with its names, in order (fully qualified: "host.example."). It stops when
// the test ends.
func StartDNS(t testing.TB, ptr map[netip.Addr][]string) *DNSServer {
	t.Helper()
	s := &DNSServer{ptr: make(map[string][]string), queries: make(map[string]int)}
	for a, names := range ptr {
		for _, n := range names {
			if _, err := dnsmessage.NewName(n); err != nil {
				t.Fatalf("nstest: PTR name %q for %v: %v", n, a, err)
			}
		}
		s.ptr[ReverseName(a)] = names
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("nstest: DNS server: %v", err)
	}
	s.conn = conn
	t.Cleanup(func() { conn.Close() })
	go s.serve()
	return s
}

// Addr returns the server's address, 127.0.0.1:PORT.
func (s *DNSServer) Addr() string { return s.conn.LocalAddr().String() }

// Queries returns how many queries for a's PTR name the server has received.
func (s *DNSServer) Queries(a netip.Addr) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[ReverseName(a)]
}

// serve answers queries until the connection is closed.
func (s *DNSServer) serve() {
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
		// Counted before the answer leaves: a client that has its answer
		// finds its query counted.
		s.mu.Lock()
		s.queries[q.Name.String()]++
		s.mu.Unlock()
		msg, err := s.answer(h, q)
		if err != nil {
			// Names were checked by StartDNS: a failure here is a bug in
			// the server, and a missing answer shows up as a timeout.
			continue
		}
		s.conn.WriteTo(msg, from)
	}
}

// answer builds the response to one question.
func (s *DNSServer) answer(req dnsmessage.Header, q dnsmessage.Question) ([]byte, error) {
	names, found := s.ptr[q.Name.String()]
	h := dnsmessage.Header{ID: req.ID, Response: true, Authoritative: true,
		RecursionDesired: req.RecursionDesired, RecursionAvailable: true}
	if !found || q.Type != dnsmessage.TypePTR {
		h.RCode = dnsmessage.RCodeNameError
		names = nil
	}
	b := dnsmessage.NewBuilder(nil, h)
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	for _, n := range names {
		rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
		if err := b.PTRResource(rh, dnsmessage.PTRResource{PTR: dnsmessage.MustNewName(n)}); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

// ReverseName returns the name a PTR query for a asks about:
// "10.2.0.192.in-addr.arpa." for 192.0.2.10, nibbles under ip6.arpa. for IPv6.
func ReverseName(a netip.Addr) string {
	var b strings.Builder
	if a.Is4() || a.Is4In6() {
		ip := a.Unmap().As4()
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
