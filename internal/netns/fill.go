package netns

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gostate/gostate/internal/flow"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

// FillOptions says what Fill inserts.
type FillOptions struct {
	// Proto is "tcp", "udp" or "mix" (also ""): the protocols of the entries.
	Proto string
	// Timeout is the longest TTL in seconds; entries get TTLs spread between
	// Timeout/2 and Timeout so that ordering by TTL has something to sort.
	// Zero means 3600.
	Timeout uint32
	// Workers is how many sockets insert in parallel; zero means 2, which
	// doubles the rate of one on two cores.
	Workers int
}

// FillResult says what Fill did.
type FillResult struct {
	// Created counts the entries inserted.
	Created int
	// Existing counts entries that were already there (an earlier fill of
	// the same namespace inserts the same tuples).
	Existing int
	// Full is true when the kernel refused an entry because the table was
	// full (ENOMEM: nf_conntrack_max reached); the fill stopped there.
	Full bool
	// Elapsed is how long the fill took.
	Elapsed time.Duration
}

// Rate returns the entries inserted or found per second.
func (r FillResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Created+r.Existing) / r.Elapsed.Seconds()
}

// maxFill is how many distinct tuples fillFlow can make: 254 source hosts ×
// 254 destination hosts × 60,000 source ports.
const maxFill = 254 * 254 * 60000

// Fill inserts n distinct TCP and UDP entries between documentation
// addresses (IPv4 and one in eight IPv6; mostly ESTABLISHED, some TIME_WAIT
// and CLOSE_WAIT; one in sixteen with mark 1) into the table of the namespace
// whose file is path, in batches over o.Workers sockets of its own. It stops
// early, with Full set and no error, when the table is full. Every entry is
// assured and replied, so a full table refuses new ones rather than evicting
// earlier ones to make room, as the kernel does for unassured entries.
func Fill(path string, n int, o FillOptions) (FillResult, error) {
	if n < 0 || n > maxFill {
		return FillResult{}, fmt.Errorf("fill: count %d outside 0..%d", n, maxFill)
	}
	switch o.Proto {
	case "":
		o.Proto = "mix"
	case "tcp", "udp", "mix":
	default:
		return FillResult{}, fmt.Errorf("fill: protocol %q is not tcp, udp or mix", o.Proto)
	}
	if o.Timeout == 0 {
		o.Timeout = 3600
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}

	conns := make([]*batcher, o.Workers)
	for w := range conns {
		c, err := newBatcher(path)
		if err != nil {
			for _, c := range conns[:w] {
				c.Close()
			}
			return FillResult{}, err
		}
		conns[w] = c
	}

	var (
		created, existing atomic.Int64
		full, stop        atomic.Bool
		errOnce           sync.Once
		firstErr          error
		wg                sync.WaitGroup
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err })
		stop.Store(true)
	}
	start := time.Now()
	for w, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			flows := make([]conntrack.Flow, 0, batchSize)
			errs := make([]int32, batchSize)
			// Worker w sends batches w, w+W, w+2W, ...
			for lo := w * batchSize; lo < n && !stop.Load(); lo += len(conns) * batchSize {
				flows = flows[:0]
				for i := lo; i < min(lo+batchSize, n); i++ {
					flows = append(flows, fillFlow(i, o.Proto, o.Timeout))
				}
				if err := c.insert(flows, errs); err != nil {
					fail(fmt.Errorf("fill: %w", err))
					return
				}
				for k, e := range errs[:len(flows)] {
					switch unix.Errno(-e) {
					case 0:
						created.Add(1)
					case unix.EEXIST:
						existing.Add(1)
					case unix.ENOMEM:
						full.Store(true)
						stop.Store(true)
					default:
						fail(fmt.Errorf("fill: insert entry %d: %w", lo+k, unix.Errno(-e)))
					}
				}
			}
		}()
	}
	wg.Wait()
	r := FillResult{
		Created:  int(created.Load()),
		Existing: int(existing.Load()),
		Full:     full.Load(),
		Elapsed:  time.Since(start),
	}
	return r, firstErr
}

// assured is the status of every fill entry: confirmed (the kernel refuses a
// non-zero status without it, EBUSY), replied and assured.
const assured = conntrack.StatusConfirmed | conntrack.StatusSeenReply | conntrack.StatusAssured

// wellKnown are the destination ports fill entries use, so that a filled
// table looks like a firewall's rather than a port scan's.
var wellKnown = [...]uint16{443, 80, 53, 22, 25, 123, 993, 3306, 5432, 8080, 8443, 6443}

// fillFlow returns the i-th fill entry. Different i give different original
// tuples: i is scrambled by multiplying with a prime modulo maxFill (a
// bijection, since the prime shares no factor with maxFill) and the result is
// split into source host, destination host and source port. Everything else
// (family, address block, destination port, state, TTL, mark) is derived from
// those three, so it cannot make two tuples collide, and scrambling spreads
// even a small fill over many hosts.
func fillFlow(i int, proto string, timeout uint32) conntrack.Flow {
	p := uint64(i) * 1000003 % maxFill
	sport := uint16(1024 + p%60000)
	q := p / 60000
	srcHost, dstHost := byte(1+q%254), byte(1+q/254)

	var src, dst netip.Addr
	if (q+p)%8 == 7 {
		src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 15: srcHost})
		dst = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 2, 15: dstHost})
	} else {
		srcNet := [3]byte{192, 0, 2}
		if dstHost%2 == 1 {
			srcNet = [3]byte{198, 51, 100}
		}
		src = netip.AddrFrom4([4]byte{srcNet[0], srcNet[1], srcNet[2], srcHost})
		dst = netip.AddrFrom4([4]byte{203, 0, 113, dstHost})
	}
	dport := wellKnown[(uint64(srcHost)*7+uint64(dstHost))%uint64(len(wellKnown))]

	l4 := uint8(6)
	if proto == "udp" || (proto == "mix" && i%2 == 1) {
		l4 = 17
	}
	var mark uint32
	if p%16 == 0 {
		mark = 1
	}
	f := conntrack.NewFlow(l4, assured, src, dst, sport, dport, timeout-uint32(p%uint64(timeout/2+1)), mark)
	if l4 == 6 {
		state := flow.TCPEstablished
		switch p % 8 {
		case 6:
			state = flow.TCPTimeWait
		case 7:
			state = flow.TCPCloseWait
		}
		f.ProtoInfo.TCP = &conntrack.ProtoInfoTCP{State: state}
	}
	return f
}
