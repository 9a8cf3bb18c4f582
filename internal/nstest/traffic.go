package nstest

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/gostate/gostate/internal/netns"
)

// Loopback describes the connections LoopbackTraffic opened; they stay open
// until the test ends, so their entries stay in the table.
type Loopback struct {
	// TCPClient and TCPServer are the two ends of an established TCP connection.
	TCPClient, TCPServer netip.AddrPort
	// UDPClient sent a datagram to UDPServer, which answered.
	UDPClient, UDPServer netip.AddrPort
}

// LoopbackTraffic installs an nft rule that makes the namespace track its
// traffic (netns.TrackRules, which ctfill --tcp-churn loads too), then opens
// a TCP connection and exchanges a UDP datagram and its answer over
// 127.0.0.1 inside the namespace. The kernel, not a synthetic
// insert, creates the resulting entries: an assured TCP flow in ESTABLISHED
// and a replied UDP flow.
func (ns *NS) LoopbackTraffic(t testing.TB) Loopback {
	t.Helper()
	ns.nft(t, netns.TrackRules)
	var lb Loopback
	ns.Do(t, func() error {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ln.Close()
		client, server, err := tcpPair(t, ln, ln.Addr().String())
		if err != nil {
			return err
		}
		lb.TCPClient, lb.TCPServer = addrPort(client.LocalAddr()), addrPort(server.LocalAddr())

		srv, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		t.Cleanup(func() { srv.Close() })
		cl, err := net.Dial("udp4", srv.LocalAddr().String())
		if err != nil {
			return err
		}
		t.Cleanup(func() { cl.Close() })
		if _, err := cl.Write([]byte("ping")); err != nil {
			return err
		}
		buf := make([]byte, 16)
		_, from, err := srv.ReadFrom(buf)
		if err != nil {
			return err
		}
		if _, err := srv.WriteTo([]byte("pong"), from); err != nil {
			return err
		}
		if _, err := cl.Read(buf); err != nil {
			return err
		}
		lb.UDPClient, lb.UDPServer = addrPort(cl.LocalAddr()), addrPort(srv.LocalAddr())
		return nil
	})
	return lb
}

// NAT describes the connection NATFlow opened through destination NAT.
type NAT struct {
	// Client is the connecting end.
	Client netip.AddrPort
	// Orig is the address the client connected to: 127.0.0.1, which nothing
	// listens on.
	Orig netip.AddrPort
	// Translated is where the kernel sent the connection instead: 127.0.0.2,
	// same port. The entry's reply tuple comes from there.
	Translated netip.AddrPort
}

// NATFlow installs an nft rule in the namespace that rewrites connections to
// 127.0.0.1:P into 127.0.0.2:P (dnat in the output hook), and opens a TCP
// connection through it, so the kernel holds an established entry with the
// destination-NAT status and a reply tuple that is not the mirror of the
// original. The connection stays open until the test ends.
func (ns *NS) NATFlow(t testing.TB) NAT {
	t.Helper()
	var (
		nat NAT
		ln  net.Listener
	)
	ns.Do(t, func() error {
		// Listening first gives a free port for the rule to name.
		var err error
		ln, err = net.Listen("tcp4", "127.0.0.2:0")
		if err != nil {
			return err
		}
		t.Cleanup(func() { ln.Close() })
		nat.Translated = addrPort(ln.Addr())
		nat.Orig = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), nat.Translated.Port())
		return nil
	})
	ns.nft(t, fmt.Sprintf(`table ip gostate_nat {
	chain output {
		type nat hook output priority -100; policy accept;
		ip daddr 127.0.0.1 tcp dport %d dnat to 127.0.0.2
	}
}
`, nat.Orig.Port()))
	ns.Do(t, func() error {
		client, _, err := tcpPair(t, ln, nat.Orig.String())
		if err != nil {
			return err
		}
		nat.Client = addrPort(client.LocalAddr())
		return nil
	})
	return nat
}

// tcpPair connects a client to dial, accepts the connection on ln (dial
// reaches ln directly or through NAT), and sends a few bytes each way, so that
// conntrack sees the connection established and assured. Both ends are closed
// when the test ends.
func tcpPair(t testing.TB, ln net.Listener, dial string) (client, server net.Conn, err error) {
	client, err = net.Dial("tcp4", dial)
	if err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { client.Close() })
	if server, err = ln.Accept(); err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { server.Close() })
	if _, err := client.Write([]byte("hello")); err != nil {
		return nil, nil, err
	}
	if _, err := server.Write([]byte("hello")); err != nil {
		return nil, nil, err
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(client, buf); err != nil {
		return nil, nil, err
	}
	return client, server, nil
}

// nft loads a ruleset into the namespace.
func (ns *NS) nft(t testing.TB, ruleset string) {
	t.Helper()
	cmd := ns.Command(netns.Tool("nft"), "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nstest: nft in %s: %v\n%s", ns.name, err, out)
	}
}

func addrPort(a net.Addr) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}
