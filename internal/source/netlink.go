package source

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gostate/gostate/internal/flow"
	"golang.org/x/sys/unix"
)

// NetlinkReader reads the table live from the kernel over ctnetlink. It
// implements Reader, with Refresh by one lookup per row, and Deleter. All of
// its methods are safe for concurrent use.
//
// It holds two sockets, so that a delete, a lookup or the health from the
// screen never waits behind a dump of a large table in flight.
type NetlinkReader struct {
	ns *netNS // nil: the caller's namespace

	dumpMu sync.Mutex
	dump   *nlConn
	free   chan []byte // the dump's receive buffers not in use (dumpRing of them)
	// onDatagram, when set, is called for each datagram a dump receives
	// (n counts them from 1 within the dump), and an error it returns is
	// taken as that receive's error. Only tests set it, to count dumps
	// and to make one fail mid-way; it is nil in production. Guarded by
	// dumpMu.
	onDatagram func(n int) error

	queryMu sync.Mutex
	query   *nlConn
	scratch flow.Flow // decode target of Refresh, guarded by queryMu

	// healthMu guards what the health reads keep from one to the next;
	// it is taken before queryMu.
	healthMu sync.Mutex
	// nlCPU and procCPU sum the per-CPU counters read over netlink and,
	// when netlink fails, from /proc.
	nlCPU, procCPU cpuTotals
	// via says which figures of the last health read came over netlink,
	// the rest having come from /proc; both give the same numbers, and
	// tests read it to tell them apart.
	via healthVia

	timeouts []flow.Timeout
	// eventBuffer is Options.EventBuffer: the first receive buffer of
	// the listeners, 0 for eventBuffers.first.
	eventBuffer int
}

// healthVia is a set of the health figures read over netlink.
type healthVia uint8

// The health figures that netlink gives.
const (
	// viaNetlinkGlobal: the entries and the limit (IPCTNL_MSG_CT_GET_STATS).
	viaNetlinkGlobal healthVia = 1 << iota
	// viaNetlinkCPU: the per-CPU statistics (IPCTNL_MSG_CT_GET_STATS_CPU).
	viaNetlinkCPU
)

// newNetlinkReader opens ctnetlink sockets in the namespace ns (nil: the
// caller's) and checks with a statistics request that the kernel answers;
// errors read "netlink: operation not permitted" and the like. Once it
// returns without error the reader owns ns (Close closes it).
func newNetlinkReader(ns *netNS) (*NetlinkReader, error) {
	query, err := dialNetfilter(ns.fd())
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	// The cheapest ctnetlink request tells before any dump whether the
	// kernel lets us read.
	if _, _, err := globalStats(query); err != nil {
		query.close()
		return nil, fmt.Errorf("netlink: %w", err)
	}
	dump, err := dialNetfilter(ns.fd())
	if err != nil {
		query.close()
		return nil, fmt.Errorf("netlink: %w", err)
	}
	r := &NetlinkReader{ns: ns, dump: dump, query: query, free: make(chan []byte, dumpRing)}
	r.free <- dump.buf
	for range dumpRing - 1 {
		r.free <- make([]byte, recvBufferSize)
	}
	// Timeouts are sysctls that rarely change: read once. Without them the
	// help screen has less to show, which is no reason to fail.
	_ = ns.run(func() error {
		r.timeouts, _ = ReadTimeouts("/proc")
		return nil
	})
	return r, nil
}

// await reads until the answer to request seq arrives and returns the error
// it carries, if any. Messages of earlier, abandoned requests are dropped.
func (c *nlConn) await(seq uint32) error {
	for {
		d, err := c.recv()
		if err != nil {
			return err
		}
		for m, rest, ok := nextMsg(d); ok; m, rest, ok = nextMsg(rest) {
			if m.seq != seq {
				continue
			}
			if m.typ == nlmsgError {
				return errnoOf(m.data)
			}
			return nil
		}
	}
}

// Read dumps the whole table, IPv4 and IPv6 in one request, decoding message
// by message into t.Flows, whose storage it reuses. Messages it cannot decode
// are counted in t.Skipped. A dump the kernel marks as interrupted (the
// table changed under it, NLM_F_DUMP_INTR) gets a warning in t.Warnings.
// Health figures that cannot be read are a warning, and the count falls
// back to the rows read.
// A reader opened on a namespace by name or path fails with ErrNetNSGone
// once that name or path no longer opens it.
func (r *NetlinkReader) Read(t *flow.Table) error { return r.read(t, 0, nil) }

// ReadBatches is Read handing the rows to each in batches of at most batch;
// t.Flows' storage holds one batch. See Reader.
func (r *NetlinkReader) ReadBatches(t *flow.Table, batch int, each func(rows []flow.Flow) bool) error {
	err := r.read(t, max(batch, 1), each)
	t.Flows = t.Flows[:0]
	return err
}

// read is Read, handing the rows to each in batches of batch rows when each
// is set, and stopping with ErrStopped when each returns false.
func (r *NetlinkReader) read(t *flow.Table, batch int, each func([]flow.Flow) bool) error {
	r.dumpMu.Lock()
	defer r.dumpMu.Unlock()
	if err := r.ns.check(); err != nil {
		return err
	}
	// Health first: its count sizes the rows for the dump in one
	// allocation, instead of growing them by doubling, which copies them
	// at every step and leaves the old arrays behind as garbage.
	if err := r.readSummary(t); err != nil {
		t.Warnings = append(t.Warnings, "table health: "+err.Error())
	}
	// A table that shrank a lot gives its memory back too, and so does a
	// batch's storage that once held a whole table.
	want := t.Stats.Entries + t.Stats.Entries/16 + 64
	if each != nil {
		want = batch
	}
	if cap(t.Flows) < want || cap(t.Flows) > 4*want {
		t.Flows = make([]flow.Flow, 0, want)
	}
	d := dumpInto{t: t, batch: batch, each: each}
	intr, err := r.dumpTable(&d)
	if err != nil {
		return fmt.Errorf("netlink dump: %w", err)
	}
	if d.flush(); d.stopped {
		return ErrStopped
	}
	t.ReadAt = time.Now()
	if intr {
		t.Warnings = append(t.Warnings, "netlink: the table changed during the dump; some entries may be missing or shown twice")
	}
	if t.Stats.Entries == 0 {
		t.Stats.Entries = d.rows
	}
	return nil
}

// dumpInto is where a dump's rows go: t.Flows, handed to each whenever it
// holds batch rows when each is set (see ReadBatches).
type dumpInto struct {
	t     *flow.Table
	batch int // rows per call of each; at least 1 when each is set
	each  func([]flow.Flow) bool
	rows  int // decoded so far
	// stopped is set when each asked to stop: nothing more is decoded.
	stopped bool
}

// next returns the row to decode into, at the end of t.Flows.
func (d *dumpInto) next() *flow.Flow {
	t := d.t
	n := len(t.Flows)
	if d.each != nil && n >= d.batch {
		d.flush()
		n = 0
	}
	if n == cap(t.Flows) {
		t.Flows = slices.Grow(t.Flows, 1)
	}
	t.Flows = t.Flows[:n+1]
	d.rows++
	return &t.Flows[n]
}

// unread takes back the row next returned, which could not be decoded.
func (d *dumpInto) unread() {
	d.t.Flows = d.t.Flows[:len(d.t.Flows)-1]
	d.rows--
}

// flush hands the rows decoded so far to each, if set.
func (d *dumpInto) flush() {
	if d.each != nil && len(d.t.Flows) > 0 && !d.stopped {
		d.stopped = !d.each(d.t.Flows)
		d.t.Flows = d.t.Flows[:0]
	}
}

// ReadSummary reads the table's health, as Read does before its dump, and
// the timeouts read at open. The entries, the limit and the per-CPU
// statistics come over ctnetlink, in the reader's namespace, from /proc
// only when netlink fails (with a warning); the buckets, the size of an
// entry and whether the limit can be set only /proc shows, and they are
// unknown where it is hidden. It takes the query socket, not the dump
// socket, so it does not wait for a dump in flight. Like Read, it fails
// with ErrNetNSGone once the namespace opened by name or path is no longer
// what that name or path opens.
func (r *NetlinkReader) ReadSummary(t *flow.Table) error {
	if err := r.ns.check(); err != nil {
		return err
	}
	return r.readSummary(t)
}

// readSummary is ReadSummary without the namespace's check. Its error says
// why the count could be read neither over netlink nor from /proc; t.Stats
// then holds what else could be read.
func (r *NetlinkReader) readSummary(t *flow.Table) error {
	t.Flows = t.Flows[:0]
	t.Skipped = 0
	t.Warnings = t.Warnings[:0]
	t.Source = "netlink"
	t.Frozen = false
	t.Timeouts = r.timeouts
	t.ReadAt = time.Now()

	r.healthMu.Lock()
	defer r.healthMu.Unlock()
	var st flow.Stats
	var via healthVia
	r.queryMu.Lock()
	entries, max, gerr := globalStats(r.query)
	cpu, ended, cerr := cpuStats(r.query, &r.nlCPU)
	if !ended {
		if err := r.redialQuery(); err != nil {
			cerr = errors.Join(cerr, fmt.Errorf("new query socket: %w", err))
		}
	}
	r.queryMu.Unlock()
	if gerr == nil {
		st.Entries, st.Max = entries, max
		via |= viaNetlinkGlobal
	}
	if cerr == nil {
		st.CPU, st.HaveCPU = cpu, true
		via |= viaNetlinkCPU
	}
	r.via = via

	var perr error
	err := r.ns.run(func() error {
		if gerr != nil {
			perr = readCountMax("/proc", &st)
		}
		if cerr != nil {
			readCPU("/proc", &st, &r.procCPU)
		}
		readProcOnly("/proc", &st)
		return nil
	})
	t.Stats = st
	switch {
	case err != nil && gerr != nil:
		return fmt.Errorf("netlink: %w; %w", gerr, err)
	case perr != nil:
		return fmt.Errorf("netlink: %w; %w", gerr, perr)
	case gerr != nil:
		t.Warnings = append(t.Warnings, "table health over netlink: "+gerr.Error()+"; count and max read from /proc")
	}
	if cerr != nil {
		msg := "per-CPU statistics over netlink: " + cerr.Error()
		if st.HaveCPU {
			msg += "; read from /proc"
		}
		t.Warnings = append(t.Warnings, msg)
	}
	return nil
}

// redialQuery replaces the query socket with a new one. The caller holds
// queryMu.
func (r *NetlinkReader) redialQuery() error {
	c, err := dialNetfilter(r.ns.fd())
	if err != nil {
		return err
	}
	r.query.close()
	r.query = c
	return nil
}

// dumpRing is how many receive buffers a dump cycles through, so that the
// kernel fills the next datagram while the last is decoded.
const dumpRing = 4

// datagram is one receive of a dump, handed from receiveDump to the decoder.
type datagram struct {
	b   []byte
	err error
}

// dumpTable sends the dump request and decodes the answer into t.Flows.
//
// The kernel builds each datagram of a dump inside a receive call, on the
// receiving thread, and that is most of a dump's cost. So one goroutine does
// nothing but receive, into buffers from r.free, and the caller's goroutine
// decodes what it hands over and returns the buffers: decoding runs on
// another core, overlapping the kernel's work instead of adding to it. What
// this buys: at 200,000 entries, 0.08 s of decoding per dump leaves the
// receiving thread.
//
// A dump that does not end cleanly, with the kernel's last message of it
// received and no error, leaves the socket busy: the kernel goes on with the
// abandoned dump at the socket's next receive and refuses a new one (EBUSY)
// until it is over. Whatever ended it early (a receive or decode error, a
// timeout, a stop the caller asked for), the socket is then replaced, so
// that the next dump starts afresh.
func (r *NetlinkReader) dumpTable(into *dumpInto) (intr bool, err error) {
	ended := false
	defer func() {
		if ended && err == nil {
			return
		}
		if rerr := r.redialDump(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("new dump socket: %w", rerr))
		}
	}()
	c := r.dump
	seq := c.startRequest(ctMsgGet, nlmFRequest|nlmFDump, unix.AF_UNSPEC)
	finishRequest(c.req, 0)
	if err := c.send(c.req); err != nil {
		return false, err
	}
	full := make(chan datagram, dumpRing)
	stop := make(chan struct{})
	go receiveDump(c, seq, r.free, full, stop, r.onDatagram)
	// The loop ends when receiveDump does, after the dump's last datagram,
	// an error, or a stop, so the next dump never races with this one.
	for d := range full {
		switch {
		case d.err != nil:
			err = d.err
			continue
		case into.stopped:
			ended = endsDump(d.b, seq)
		default:
			done, derr := decodeDatagram(d.b, seq, into, &intr)
			if derr != nil {
				err = derr
			}
			if ended = done; into.stopped {
				close(stop)
			}
		}
		r.free <- d.b[:cap(d.b)]
	}
	return intr, err
}

// redialDump replaces the dump socket with a new one.
func (r *NetlinkReader) redialDump() error {
	c, err := dialNetfilter(r.ns.fd())
	if err != nil {
		return err
	}
	r.dump.close()
	r.dump = c
	return nil
}

// receiveDump receives the answer to dump request seq on c into buffers taken
// from free and hands each datagram to full, until the datagram that ends the
// dump, a receive error (handed over as the last datagram), or until stop is
// closed; then it closes full. The kernel builds each datagram inside the
// receive, so a stop takes effect within one datagram's work. hook, when set
// (see NetlinkReader.onDatagram), is called after each receive.
func receiveDump(c *nlConn, seq uint32, free chan []byte, full chan<- datagram, stop <-chan struct{}, hook func(n int) error) {
	defer close(full)
	for n := 1; ; n++ {
		var b []byte
		select {
		case <-stop:
			return
		case b = <-free:
		}
		d, err := c.recvInto(b)
		if err == nil && hook != nil {
			err = hook(n)
		}
		if err != nil {
			free <- b
			full <- datagram{err: err}
			return
		}
		end := endsDump(d, seq)
		full <- datagram{b: d}
		if end {
			return
		}
	}
}

// endsDump reports whether datagram d holds the message that ends the answer
// to dump request seq: NLMSG_DONE, or NLMSG_ERROR when the kernel refused or
// aborted it. decodeDatagram stops at the same message.
func endsDump(d []byte, seq uint32) bool {
	for m, rest, ok := nextMsg(d); ok; m, rest, ok = nextMsg(rest) {
		if m.seq == seq && (m.typ == nlmsgDone || m.typ == nlmsgError) {
			return true
		}
	}
	return false
}

// decodeDatagram decodes the entries in one datagram of the answer to dump
// request seq into rows from into, counting what it cannot decode in t.Skipped and
// setting *intr when the kernel flags the dump as interrupted. done is true
// at the dump's end; err is the error the kernel ended it with.
func decodeDatagram(d []byte, seq uint32, into *dumpInto, intr *bool) (done bool, err error) {
	t := into.t
	for m, rest, ok := nextMsg(d); ok && !into.stopped; m, rest, ok = nextMsg(rest) {
		if m.seq != seq {
			continue // left over from a dump abandoned after an error
		}
		if m.flags&nlmFDumpIntr != 0 {
			*intr = true
		}
		switch {
		case m.typ == nlmsgDone || m.typ == nlmsgError:
			return true, errnoOf(m.data)
		case m.typ != unix.NFNL_SUBSYS_CTNETLINK<<8|ctMsgNew && m.typ != unix.NFNL_SUBSYS_CTNETLINK<<8|ctMsgGet:
			t.Skipped++
			continue
		}
		if decodeFlow(m.data, into.next()) != nil {
			into.unread()
			t.Skipped++
		}
	}
	return false, nil
}

// refreshBatch is how many lookups Refresh sends in one write. Each answer
// occupies ~5 KiB of the socket's receive buffer until read (the kernel
// allocates NLMSG_DEFAULT_SIZE per answer), and the default buffer of
// ~208 KiB must hold a whole batch.
const refreshBatch = 16

// Refresh looks each of rows up in the kernel by its exact original tuple
// and zone (one lookup per row, no dump) and replaces the row with what the
// kernel has now: timeout, state, counters. See Reader for what res says.
// The live screen uses it to keep the visible rows current between whole
// reads.
func (r *NetlinkReader) Refresh(rows []flow.Flow, res []Lookup) error {
	if len(res) < len(rows) {
		return fmt.Errorf("refresh: %d rows but room for %d results", len(rows), len(res))
	}
	res = res[:len(rows)]
	// Rows a failed lookup never answers stay unknown.
	clear(res)
	if len(rows) == 0 {
		return nil
	}
	r.queryMu.Lock()
	defer r.queryMu.Unlock()
	for start := 0; start < len(rows); start += refreshBatch {
		end := min(start+refreshBatch, len(rows))
		if err := r.refreshBatch(rows[start:end], res[start:end]); err != nil {
			return fmt.Errorf("netlink lookup: %w", err)
		}
	}
	return nil
}

func (r *NetlinkReader) refreshBatch(rows []flow.Flow, res []Lookup) error {
	c := r.query
	c.req = c.req[:0]
	first := c.seq + 1
	for i := range rows {
		c.seq++
		start := len(c.req)
		c.req = appendRequest(c.req, ctMsgGet, nlmFRequest, uint8(rows[i].Family), c.seq)
		c.req = appendTuple(c.req, ctaTupleOrig, &rows[i], &rows[i].Orig)
		c.req = appendBE16(c.req, ctaZone, rows[i].Zone)
		finishRequest(c.req, start)
	}
	if err := c.send(c.req); err != nil {
		return err
	}
	// Each lookup gets exactly one answer: the entry, or an error.
	var firstErr error
	for pending := len(rows); pending > 0; {
		d, err := c.recv()
		if err != nil {
			return err
		}
		n, err := lookupAnswers(d, first, rows, res, &r.scratch)
		pending -= n
		if firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// lookupAnswers reads the answers in datagram d to the lookups of rows, sent
// with sequence numbers from first on: an entry replaces its row
// (LookupFound), ENOENT says the row is gone (LookupGone), and anything else
// (an entry that cannot be decoded, a message of another type, another error)
// leaves it unknown. It returns how many answers d held and the first error
// other than ENOENT. scratch is the decoder's target, so that a row is only
// ever overwritten by a whole entry.
func lookupAnswers(d []byte, first uint32, rows []flow.Flow, res []Lookup, scratch *flow.Flow) (answers int, firstErr error) {
	for m, rest, ok := nextMsg(d); ok; m, rest, ok = nextMsg(rest) {
		i := m.seq - first
		if i >= uint32(len(rows)) {
			continue // an answer to an earlier, abandoned request
		}
		answers++
		res[i] = LookupUnknown
		switch {
		case m.typ == nlmsgError:
			switch err := errnoOf(m.data); {
			case errors.Is(err, unix.ENOENT):
				res[i] = LookupGone
			case err != nil && firstErr == nil:
				firstErr = err
			}
		case m.typ != unix.NFNL_SUBSYS_CTNETLINK<<8|ctMsgNew && m.typ != unix.NFNL_SUBSYS_CTNETLINK<<8|ctMsgGet:
			// Not an entry: unknown.
		case decodeFlow(m.data, scratch) == nil:
			rows[i] = *scratch
			res[i] = LookupFound
		}
	}
	return answers, firstErr
}

// Close closes the sockets and the namespace.
func (r *NetlinkReader) Close() error {
	r.dumpMu.Lock()
	defer r.dumpMu.Unlock()
	r.queryMu.Lock()
	defer r.queryMu.Unlock()
	return errors.Join(r.dump.close(), r.query.close(), r.ns.close())
}
