package netns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

// TrackRules is an nft ruleset that makes a namespace track its traffic. A
// new namespace registers no conntrack hooks until some rule needs them, so
// without a rule that matches `ct state` its loopback traffic would leave no
// entries at all. Loading it again replaces the table instead of adding a
// second rule: the first two lines create the table if it is missing and
// delete it, in the same transaction as the definition.
const TrackRules = `table inet gostate_track
delete table inet gostate_track
table inet gostate_track {
	chain output {
		type filter hook output priority 0; policy accept;
		ct state new,established,related counter accept
	}
}
`

// Track loads TrackRules into the namespace whose file is path, so that the
// kernel tracks the namespace's own traffic; loading it again changes
// nothing. nft runs as a child of a thread that has joined the namespace,
// and so inherits it: the rules go nowhere else.
func Track(path string) error {
	return Run(path, func() error {
		cmd := exec.Command(Tool("nft"), "-f", "-")
		cmd.Stdin = strings.NewReader(TrackRules)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("nft in %s: %v: %s", path, err, strings.TrimSpace(string(out)))
		}
		return nil
	})
}

// TCPChurnOptions says how fast TCPChurn connects.
type TCPChurnOptions struct {
	// Rate is how many connections are opened per second. It must be
	// positive.
	Rate int
	// TimeWait, when positive, first sets the namespace's conntrack
	// TIME_WAIT timeout (net.netfilter.nf_conntrack_tcp_timeout_time_wait,
	// a per-namespace sysctl: the host's and other namespaces' stay as
	// they are) to that many seconds, and leaves it so. Every connection
	// ends in TIME_WAIT in the table, 120 s by default, so the table holds
	// about Rate × TimeWait entries of the churn once it has run that long,
	// and from then on as many leave a second as arrive.
	TimeWait int
	// Reap, when positive, deletes each connection's entry from the table
	// (over ctnetlink: a DESTROY event, as when it expires) that long
	// after the connection closed, unless it has left already. Without
	// it, an expired entry leaves only when something passes over it: the
	// kernel's garbage collector, which scans every namespace's entries at
	// intervals of up to a minute when most of them are long-lived (as
	// -N's synthetic entries are), or a dump of the table (gostate's
	// whole reads), which drops the expired entries it meets. Either way
	// they leave in bursts. With Reap below the TIME_WAIT timeout about
	// Rate entries leave a second, steadily, once the churn has run Reap.
	Reap time.Duration
	// Progress, when not nil, is called about once a second on TCPChurn's
	// goroutine with what the churn has done so far.
	Progress func(TCPChurnResult)
}

// TCPChurnResult says what TCPChurn did.
type TCPChurnResult struct {
	// Server is the address every connection went to.
	Server netip.AddrPort
	// Started counts the connections begun; Completed those that went
	// through the whole exchange and closed; Failed those that did not
	// (the connect, a read or write, or the reply went wrong). Started
	// minus both is what was still under way.
	Started, Completed, Failed int
	// LastError is the most recent failure, "" when there was none.
	LastError string
	// Reaped counts the entries Reap deleted; Expired those it found gone
	// already.
	Reaped, Expired int
	// Elapsed is how long the churn ran.
	Elapsed time.Duration
}

// Rate returns the connections completed per second.
func (r TCPChurnResult) Rate() float64 { return perSecond(r.Completed, r.Elapsed) }

// The churn's addresses, all on the namespace's loopback: the server
// listens on tcpServer (a port the kernel picks), and connection i comes
// from 127.1.0.1 + i mod tcpClients, so that one source address comes back
// only every 65,534 connections (65 s at 1,000 a second).
var tcpServer = netip.MustParseAddr("127.0.0.1")

const tcpClients = 65534

// tcpClient returns the source address of connection i: 127.1.0.1 to
// 127.1.255.254.
func tcpClient(i int) netip.Addr {
	n := 1 + i%tcpClients
	return netip.AddrFrom4([4]byte{127, 1, byte(n >> 8), byte(n)})
}

// The exchange of every connection: the client sends tcpPing, the server
// answers tcpPong and closes first, the client reads the answer and the end
// of the stream and closes too.
var tcpPing, tcpPong = []byte("ping"), []byte("pong")

const (
	// tcpWorkers is how many connections are under way at most. Each
	// worker is a goroutine locked to a thread inside the namespace that
	// connects and does the whole exchange; on loopback that takes well
	// under a millisecond, so a few keep up with thousands a second, and
	// more keep one connection that waits for a retransmitted SYN (1 s)
	// from stalling the churn.
	tcpWorkers = 32
	// tcpDeadline bounds one connection, from connect to close: a
	// connection that takes longer fails, and its worker moves on.
	tcpDeadline = 10 * time.Second
)

// TCPChurn makes o.Rate real TCP connections a second inside the namespace
// whose file is path, over its loopback interface, until ctx ends (the
// normal end, which is no error). It first loads TrackRules (Track) so that
// the kernel tracks them, and sets the conntrack TIME_WAIT timeout when
// o.TimeWait asks.
//
// Each connection goes from a source address of its own in 127.1.0.0/16 to
// a server on 127.0.0.1 and through a whole TCP life, so that conntrack
// sees every state change (and, with a listener, sends an UPDATE for each):
// handshake (SYN_SENT, SYN_RECV, ESTABLISHED), a few bytes each way, then
// the server closes first (FIN_WAIT, CLOSE_WAIT, LAST_ACK) and the entry
// ends in TIME_WAIT until its timeout, or until o.Reap deletes it. Nothing
// leaves the namespace.
//
// The server closing first is what lets it run for hours: the socket that
// closes first stays in TIME_WAIT for 60 s and holds its 4-tuple, so on the
// server's side those sockets are bounded (Rate × 60, 60,000 at 1,000 a
// second; past the namespace's net.ipv4.tcp_max_tw_buckets the kernel
// closes them at once instead) and hold no port, while the clients close
// second and keep nothing. Each client binds its
// address before connecting with IP_BIND_ADDRESS_NO_PORT, so the kernel
// picks the port at connect time for the whole 4-tuple: with 65,534
// addresses the ephemeral ports never run out, and a 4-tuple comes back
// long after its entry has left the table.
//
// The work is paced against the clock from the start, handed to
// tcpWorkers workers every churnTick; a churn that falls behind catches up
// as fast as the workers can. The sockets are created on threads that have
// joined the namespace; the server's are accepted from a listener there.
// TCPChurn returns an error when it cannot set up, or when a whole second
// went by in which connections failed and none completed.
func TCPChurn(ctx context.Context, path string, o TCPChurnOptions) (TCPChurnResult, error) {
	if o.Rate <= 0 {
		return TCPChurnResult{}, fmt.Errorf("tcp churn: rate %d is not positive", o.Rate)
	}
	if o.TimeWait < 0 {
		return TCPChurnResult{}, fmt.Errorf("tcp churn: TIME_WAIT timeout %d is negative", o.TimeWait)
	}
	if o.Reap < 0 {
		return TCPChurnResult{}, fmt.Errorf("tcp churn: reap delay %v is negative", o.Reap)
	}
	if err := Track(path); err != nil {
		return TCPChurnResult{}, fmt.Errorf("tcp churn: %w", err)
	}
	if o.TimeWait > 0 {
		if err := SetSysctl(path, "net/netfilter/nf_conntrack_tcp_timeout_time_wait", strconv.Itoa(o.TimeWait)); err != nil {
			return TCPChurnResult{}, fmt.Errorf("tcp churn: %w", err)
		}
	}
	var ln net.Listener
	err := Run(path, func() error {
		var err error
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(tcpServer, 0).String())
		return err
	})
	if err != nil {
		return TCPChurnResult{}, fmt.Errorf("tcp churn: listen in %s: %w", path, err)
	}
	server, _ := netip.ParseAddrPort(ln.Addr().String())
	var rp *reaper
	if o.Reap > 0 {
		if rp, err = newReaper(path, server, o.Reap); err != nil {
			ln.Close()
			return TCPChurnResult{}, fmt.Errorf("tcp churn: %w", err)
		}
		defer rp.Close()
	}

	var servers sync.WaitGroup
	servers.Add(1)
	go func() {
		defer servers.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				// Closed at the end; any other error ends the
				// server too, and the clients' failures say so.
				return
			}
			servers.Add(1)
			go func() {
				defer servers.Done()
				serveTCP(c)
			}()
		}
	}()

	var (
		completed, failed atomic.Int64
		lastMu            sync.Mutex
		lastErr           string
	)
	jobs := make(chan int, tcpWorkers*4)
	workerErr := make(chan error, tcpWorkers)
	var workers sync.WaitGroup
	for range tcpWorkers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			err := Run(path, func() error {
				for i := range jobs {
					client, err := clientTCP(tcpClient(i), server)
					if err != nil {
						failed.Add(1)
						lastMu.Lock()
						lastErr = err.Error()
						lastMu.Unlock()
						continue
					}
					completed.Add(1)
					if rp != nil {
						rp.add(client)
					}
				}
				return nil
			})
			if err != nil {
				workerErr <- fmt.Errorf("tcp churn: worker in %s: %w", path, err)
			}
		}()
	}

	r := TCPChurnResult{Server: server}
	start := time.Now()
	snapshot := func(now time.Time) TCPChurnResult {
		p := r
		p.Completed, p.Failed = int(completed.Load()), int(failed.Load())
		lastMu.Lock()
		p.LastError = lastErr
		lastMu.Unlock()
		if rp != nil {
			p.Reaped, p.Expired = rp.reaped, rp.expired
		}
		p.Elapsed = now.Sub(start)
		return p
	}
	finish := func(err error) (TCPChurnResult, error) {
		close(jobs)
		workers.Wait()
		ln.Close()
		servers.Wait()
		return snapshot(time.Now()), err
	}

	tick := time.NewTicker(churnTick)
	defer tick.Stop()
	lastCheck := snapshot(start)
	for {
		select {
		case <-ctx.Done():
			return finish(nil)
		case err := <-workerErr:
			// A worker that could not join the namespace: the rest
			// would run short of it, and a second could fail the same.
			return finish(err)
		case <-tick.C:
		}
		now := time.Now()
		if rp != nil {
			if err := rp.reap(now); err != nil {
				return finish(fmt.Errorf("tcp churn: %w", err))
			}
		}
		due := int(float64(o.Rate)*now.Sub(start).Seconds()) - r.Started
	send:
		for ; due > 0; due-- {
			select {
			case jobs <- r.Started:
				r.Started++
			default:
				// Every worker is busy and the queue full: the rest
				// waits for the next tick.
				break send
			}
		}
		if now.Sub(start.Add(lastCheck.Elapsed)) < time.Second {
			continue
		}
		p := snapshot(now)
		if p.Failed > lastCheck.Failed && p.Completed == lastCheck.Completed {
			res, _ := finish(nil)
			return res, fmt.Errorf("tcp churn: no connection completed in %.1f s, %d failed; the last: %s",
				p.Elapsed.Seconds()-lastCheck.Elapsed.Seconds(), p.Failed-lastCheck.Failed, p.LastError)
		}
		lastCheck = p
		if o.Progress != nil {
			o.Progress(p)
		}
	}
}

// clientTCP makes one connection from src to server: it binds src before
// connecting (the port chosen at connect, IP_BIND_ADDRESS_NO_PORT), sends
// tcpPing, reads tcpPong and the end of the stream (the server closes
// first), then closes, and returns the client's address and port. It must
// run on a thread inside the namespace: that is where the socket is created.
func clientTCP(src netip.Addr, server netip.AddrPort) (netip.AddrPort, error) {
	d := net.Dialer{
		LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)),
		Timeout:   tcpDeadline,
		Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
			})
			return errors.Join(err, serr)
		},
	}
	c, err := d.Dial("tcp4", server.String())
	if err != nil {
		return netip.AddrPort{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(tcpDeadline))
	if _, err := c.Write(tcpPing); err != nil {
		return netip.AddrPort{}, fmt.Errorf("write to %s: %w", server, err)
	}
	buf := make([]byte, len(tcpPong)+1)
	if _, err := io.ReadFull(c, buf[:len(tcpPong)]); err != nil {
		return netip.AddrPort{}, fmt.Errorf("read from %s: %w", server, err)
	}
	if string(buf[:len(tcpPong)]) != string(tcpPong) {
		return netip.AddrPort{}, fmt.Errorf("%s answered %q, not %q", server, buf[:len(tcpPong)], tcpPong)
	}
	if n, err := c.Read(buf); n != 0 || err != io.EOF {
		return netip.AddrPort{}, fmt.Errorf("%s did not close after its answer (read %d bytes, %v)", server, n, err)
	}
	return c.LocalAddr().(*net.TCPAddr).AddrPort(), nil
}

// reaper deletes the churn's entries a fixed delay after their connections
// closed (TCPChurnOptions.Reap), over a ctnetlink socket of its own in the
// namespace. Workers add to it from their goroutines; reap runs on
// TCPChurn's.
type reaper struct {
	b      *batcher
	server netip.AddrPort
	delay  time.Duration

	// mu guards queue, which holds the closed connections not yet reaped,
	// about in the order they closed: the workers add them as they finish,
	// so a few may be out of order by the length of an exchange, and wait
	// a tick longer.
	mu    sync.Mutex
	queue []closed
	// reaped and expired count what reap did; only reap and TCPChurn's
	// reports touch them, all on TCPChurn's goroutine.
	reaped, expired int
}

// closed is a connection that has closed: the client's end, and when.
type closed struct {
	client netip.AddrPort
	at     time.Time
}

// newReaper opens the reaper's socket in the namespace whose file is path.
func newReaper(path string, server netip.AddrPort, delay time.Duration) (*reaper, error) {
	b, err := newBatcher(path)
	if err != nil {
		return nil, err
	}
	return &reaper{b: b, server: server, delay: delay}, nil
}

// Close closes the reaper's socket; entries it had not reaped stay until
// they expire.
func (r *reaper) Close() error { return r.b.Close() }

// add queues the entry of a connection from client that has just closed.
func (r *reaper) add(client netip.AddrPort) {
	r.mu.Lock()
	r.queue = append(r.queue, closed{client, time.Now()})
	r.mu.Unlock()
}

// reap deletes, in batches of at most batchSize, the entries of the
// connections that closed at least the delay before now. An entry already
// gone (ENOENT: it expired and was collected) is counted, not an error.
func (r *reaper) reap(now time.Time) error {
	r.mu.Lock()
	n := 0
	for n < len(r.queue) && now.Sub(r.queue[n].at) >= r.delay {
		n++
	}
	due := slices.Clone(r.queue[:n])
	r.queue = slices.Delete(r.queue, 0, n)
	r.mu.Unlock()

	flows := make([]conntrack.Flow, 0, batchSize)
	errs := make([]int32, batchSize)
	for len(due) > 0 {
		k := min(len(due), batchSize)
		flows = flows[:0]
		for _, c := range due[:k] {
			flows = append(flows, conntrack.NewFlow(unix.IPPROTO_TCP, 0, c.client.Addr(), r.server.Addr(),
				c.client.Port(), r.server.Port(), 0, 0))
		}
		if err := r.b.remove(flows, errs); err != nil {
			return fmt.Errorf("reap: %w", err)
		}
		for j, e := range errs[:k] {
			switch unix.Errno(-e) {
			case 0:
				r.reaped++
			case unix.ENOENT:
				r.expired++
			default:
				return fmt.Errorf("reap the entry of %s: %w", due[j].client, unix.Errno(-e))
			}
		}
		due = due[k:]
	}
	return nil
}

// serveTCP answers one connection: it reads tcpPing, sends tcpPong and
// closes, first. Its failures are not counted: the client's exchange fails
// with them, and says how.
func serveTCP(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(tcpDeadline))
	buf := make([]byte, len(tcpPing))
	if _, err := io.ReadFull(c, buf); err != nil {
		return
	}
	c.Write(tcpPong)
}

// SetSysctl writes value to the sysctl name (a path under /proc/sys, such as
// net/netfilter/nf_conntrack_tcp_timeout_time_wait) of the namespace whose
// file is path: /proc/sys/net is opened on a thread inside the namespace,
// and shows that namespace's settings. Only per-namespace settings can be
// changed this way; a global one (nf_conntrack_max) is read-only outside the
// init namespace, and the write fails.
func SetSysctl(path, name, value string) error {
	err := Run(path, func() error {
		return os.WriteFile("/proc/sys/"+name, []byte(value), 0)
	})
	if err != nil {
		return fmt.Errorf("set %s=%s in %s: %w", strings.ReplaceAll(name, "/", "."), value, path, err)
	}
	return nil
}

// TimeWaitSockets returns how many TCP sockets of the namespace whose file
// is path are in TIME_WAIT (the tw figure of /proc/net/sockstat, read
// inside the namespace: /proc/thread-self, since /proc/self/net shows the
// main thread's namespace), for reports.
func TimeWaitSockets(path string) (int, error) {
	var n int
	err := Run(path, func() error {
		b, err := os.ReadFile("/proc/thread-self/net/sockstat")
		if err != nil {
			return err
		}
		for line := range strings.Lines(string(b)) {
			f := strings.Fields(line)
			if len(f) == 0 || f[0] != "TCP:" {
				continue
			}
			for i := 1; i+1 < len(f); i++ {
				if f[i] == "tw" {
					n, err = strconv.Atoi(f[i+1])
					return err
				}
			}
		}
		return errors.New("sockstat has no TCP tw figure")
	})
	if err != nil {
		return 0, fmt.Errorf("TIME_WAIT sockets in %s: %w", path, err)
	}
	return n, nil
}
