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
//
// A test can also make it keep quiet about a name (Silence) or hold a
// name's queries until the test lets them go (Hold, Release), to see what
// a client does while it waits.
type DNSServer struct {
	conn    net.PacketConn
	ptr     map[string][]string // query name ("10.2.0.192.in-addr.arpa.") → PTR names
	arrived chan string
	release chan struct{}
	closed  chan struct{}

	mu            sync.Mutex
	queries       map[string]int
	silent, hold  map[string]bool
	held, maxHeld int
}

// arrivedBuffer is how many silent or held queries the server announces on
// Arrived before it waits for the test to take one.
const arrivedBuffer = 100

// StartDNS starts a server answering a PTR query for each address in ptr
// with its names, in order (fully qualified: "host.example."). It stops when
// the test ends.
func StartDNS(t testing.TB, ptr map[netip.Addr][]string) *DNSServer {
	t.Helper()
	return StartDNSOn(t, ptr, func() (net.PacketConn, error) {
		return net.ListenPacket("udp4", "127.0.0.1:0")
	})
}

// StartDNSOn is StartDNS on the socket listen opens, for a test whose
// private namespace is one OS thread's: listen opens the socket on that
// thread, and the socket stays in that namespace whichever thread serves it.
func StartDNSOn(t testing.TB, ptr map[netip.Addr][]string, listen func() (net.PacketConn, error)) *DNSServer {
	t.Helper()
	s := &DNSServer{
		ptr:     make(map[string][]string),
		arrived: make(chan string, arrivedBuffer),
		release: make(chan struct{}),
		closed:  make(chan struct{}),
		queries: make(map[string]int),
		silent:  make(map[string]bool),
		hold:    make(map[string]bool),
	}
	for a, names := range ptr {
		for _, n := range names {
			if _, err := dnsmessage.NewName(n); err != nil {
				t.Fatalf("nstest: PTR name %q for %v: %v", n, a, err)
			}
		}
		s.ptr[ReverseName(a)] = names
	}
	conn, err := listen()
	if err != nil {
		t.Fatalf("nstest: DNS server: %v", err)
	}
	s.conn = conn
	t.Cleanup(func() {
		close(s.closed) // held queries stay unanswered
		conn.Close()
	})
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

// Silence makes the server never answer queries for a's PTR name from now
// on, as a lost packet or a dead server would. Each such query is announced
// on Arrived.
func (s *DNSServer) Silence(a netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.silent[ReverseName(a)] = true
}

// Hold makes the server keep each query for a's PTR name from now on,
// unanswered, until Release lets it go; it is then answered from the table.
// Each such query is announced on Arrived when it comes in.
func (s *DNSServer) Hold(a netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold[ReverseName(a)] = true
}

// Release lets one held query be answered, waiting until one is held.
func (s *DNSServer) Release() { s.release <- struct{}{} }

// MaxHeld returns the most queries the server has held at once: how many
// a client had waiting for an answer together.
func (s *DNSServer) MaxHeld() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxHeld
}

// Arrived delivers the PTR name of each silent or held query as it reaches
// the server, so that a test knows its client is now waiting. The server
// stops reading queries while 100 of these are untaken.
func (s *DNSServer) Arrived() <-chan string { return s.arrived }

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
		name := q.Name.String()
		// Counted before the answer leaves: a client that has its answer
		// finds its query counted.
		s.mu.Lock()
		s.queries[name]++
		silent, hold := s.silent[name], s.hold[name]
		if hold {
			s.held++
			s.maxHeld = max(s.maxHeld, s.held)
		}
		s.mu.Unlock()
		switch {
		case silent:
			s.announce(name)
		case hold:
			s.announce(name)
			go s.replyOnRelease(h, q, from)
		default:
			s.reply(h, q, from)
		}
	}
}

// replyOnRelease answers a held query once Release lets it go, or never if
// the test ends first.
func (s *DNSServer) replyOnRelease(req dnsmessage.Header, q dnsmessage.Question, to net.Addr) {
	select {
	case <-s.release:
	case <-s.closed:
		return
	}
	s.mu.Lock()
	s.held--
	s.mu.Unlock()
	s.reply(req, q, to)
}

// announce delivers name on Arrived, unless the test has ended.
func (s *DNSServer) announce(name string) {
	select {
	case s.arrived <- name:
	case <-s.closed:
	}
}

// reply sends the answer to one question.
func (s *DNSServer) reply(req dnsmessage.Header, q dnsmessage.Question, to net.Addr) {
	msg, err := s.answer(req, q)
	if err != nil {
		// Names were checked by StartDNSOn: a failure here is a bug in the
		// server, and a missing answer shows up as a timeout.
		return
	}
	s.conn.WriteTo(msg, to)
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
