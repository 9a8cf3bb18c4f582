package source

import (
	"encoding/binary"
	"fmt"

	"github.com/gostate/gostate/internal/flow"
	"golang.org/x/sys/unix"
)

// ctnetlink's statistics (linux/netfilter/nfnetlink_conntrack.h): the
// requests, and the attributes of their answers.
const (
	ctMsgGetStatsCPU = 4 // IPCTNL_MSG_CT_GET_STATS_CPU
	ctMsgGetStats    = 5 // IPCTNL_MSG_CT_GET_STATS

	ctaStatsGlobalEntries = 1 // CTA_STATS_GLOBAL_ENTRIES
	ctaStatsGlobalMax     = 2 // CTA_STATS_GLOBAL_MAX_ENTRIES
)

// statsCPUCounter maps the attributes of a per-CPU statistics message
// (enum ctattr_stats_cpu) to the counters they carry. The attributes the
// kernel no longer sends (searched 1, new 3, delete 6, delete_list 7) map
// to none; Linux 6.18 does not send ignore (5) either.
var statsCPUCounter = [...]flow.CPUCounters{
	2:  flow.CounterFound,
	4:  flow.CounterInvalid,
	5:  flow.CounterIgnore,
	8:  flow.CounterInsert,
	9:  flow.CounterInsertFailed,
	10: flow.CounterDrop,
	11: flow.CounterEarlyDrop,
	12: flow.CounterError,
	13: flow.CounterSearchRestart,
	14: flow.CounterClashResolve,
	15: flow.CounterChainTooLong,
}

// globalStats asks the kernel on c for the table's global statistics
// (IPCTNL_MSG_CT_GET_STATS, what conntrack -C asks): the entries in the
// socket's network namespace and the limit, nf_conntrack_max, which is
// global. Refusals come back as the errno: EPERM without CAP_NET_ADMIN,
// EOPNOTSUPP without the nf_conntrack_netlink module.
func globalStats(c *nlConn) (entries, max int, err error) {
	seq := c.startRequest(ctMsgGetStats, nlmFRequest, unix.AF_UNSPEC)
	finishRequest(c.req, 0)
	if err := c.send(c.req); err != nil {
		return 0, 0, err
	}
	// The answer is one message, or an error; messages of earlier,
	// abandoned requests are dropped.
	for {
		d, err := c.recv()
		if err != nil {
			return 0, 0, err
		}
		for m, rest, ok := nextMsg(d); ok; m, rest, ok = nextMsg(rest) {
			switch {
			case m.seq != seq:
				continue
			case m.typ == nlmsgError:
				if err := errnoOf(m.data); err != nil {
					return 0, 0, err
				}
				return 0, 0, fmt.Errorf("%w: an acknowledgement instead of the statistics", errBadMessage)
			case m.typ != unix.NFNL_SUBSYS_CTNETLINK<<8|ctMsgGetStats:
				return 0, 0, fmt.Errorf("%w: message type %#x instead of the statistics", errBadMessage, m.typ)
			}
			return decodeGlobalStats(m.data)
		}
	}
}

// decodeGlobalStats reads the payload of an IPCTNL_MSG_CT_GET_STATS answer:
// struct nfgenmsg, then the entries and the limit. Without the entries it
// fails; a missing limit is 0 (unknown).
func decodeGlobalStats(b []byte) (entries, max int, err error) {
	if len(b) < nfgenmsgLen {
		return 0, 0, fmt.Errorf("%w: statistics of %d bytes", errBadMessage, len(b))
	}
	haveEntries := false
	a := attrs{b: b[nfgenmsgLen:]}
	for a.next() {
		var v uint32
		switch a.typ {
		case ctaStatsGlobalEntries:
			v, err = be32(a.val)
			entries, haveEntries = int(v), true
		case ctaStatsGlobalMax:
			v, err = be32(a.val)
			max = int(v)
		}
		if err != nil {
			return 0, 0, err
		}
	}
	if a.bad || !haveEntries {
		return 0, 0, fmt.Errorf("%w: statistics without the number of entries", errBadMessage)
	}
	return entries, max, nil
}

// cpuStats dumps the per-CPU statistics on c (IPCTNL_MSG_CT_GET_STATS_CPU,
// which the kernel answers only to a dump request: a message per possible
// CPU, then NLMSG_DONE) and adds them to tot as one reading (see
// cpuTotals). ended is false when the dump may still be running in the
// kernel (a receive failed before its end): the socket then refuses the
// next dump (EBUSY) and must be replaced. A message that cannot be decoded
// fails the reading, once the rest of the dump has been read.
func cpuStats(c *nlConn, tot *cpuTotals) (s flow.CPUStats, ended bool, err error) {
	seq := c.startRequest(ctMsgGetStatsCPU, nlmFRequest|nlmFDump, unix.AF_UNSPEC)
	finishRequest(c.req, 0)
	if err := c.send(c.req); err != nil {
		return flow.CPUStats{}, true, err
	}
	tot.begin()
	var bad error
	for {
		d, err := c.recv()
		if err != nil {
			return flow.CPUStats{}, false, err
		}
		done, end, derr := decodeStatsCPU(d, seq, tot)
		if bad == nil {
			bad = derr
		}
		switch {
		case !done:
			continue
		case end != nil:
			return flow.CPUStats{}, true, end
		case bad != nil:
			return flow.CPUStats{}, true, bad
		}
		return tot.commit(), true, nil
	}
}

// decodeStatsCPU adds the per-CPU statistics messages in datagram d, of the
// answer to dump request seq, to the reading in progress in tot; messages
// of other requests are skipped. done is true at the dump's end
// (NLMSG_DONE, or NLMSG_ERROR), end is the error the kernel ended it with,
// and bad the first message that could not be decoded (the others are
// decoded all the same).
func decodeStatsCPU(d []byte, seq uint32, tot *cpuTotals) (done bool, end, bad error) {
	for m, rest, ok := nextMsg(d); ok; m, rest, ok = nextMsg(rest) {
		var err error
		switch {
		case m.seq != seq:
			continue
		case m.typ == nlmsgDone || m.typ == nlmsgError:
			return true, errnoOf(m.data), bad
		case m.typ != unix.NFNL_SUBSYS_CTNETLINK<<8|ctMsgGetStatsCPU:
			err = fmt.Errorf("%w: message type %#x in the per-CPU statistics", errBadMessage, m.typ)
		default:
			err = decodeStatsCPUMsg(m.data, tot)
		}
		if bad == nil {
			bad = err
		}
	}
	return false, nil, bad
}

// decodeStatsCPUMsg reads one CPU's statistics (struct nfgenmsg with the CPU
// number in res_id, big-endian, then a u32 attribute per counter) into a CPU
// of tot's reading. Attributes it does not know are skipped.
func decodeStatsCPUMsg(b []byte, tot *cpuTotals) error {
	if len(b) < nfgenmsgLen {
		return fmt.Errorf("%w: per-CPU statistics of %d bytes", errBadMessage, len(b))
	}
	r := tot.cpu(int(binary.BigEndian.Uint16(b[2:])))
	a := attrs{b: b[nfgenmsgLen:]}
	for a.next() {
		if int(a.typ) >= len(statsCPUCounter) || statsCPUCounter[a.typ] == 0 {
			continue
		}
		v, err := be32(a.val)
		if err != nil {
			return err
		}
		r.set(statsCPUCounter[a.typ], v)
	}
	if a.bad {
		return fmt.Errorf("%w: truncated per-CPU statistics", errBadMessage)
	}
	return nil
}
