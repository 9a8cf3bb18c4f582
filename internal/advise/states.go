package advise

import (
	"cmp"
	"slices"
	"strings"

	"github.com/gostate/gostate/internal/flow"
)

// IdleSeconds is how long a TCP ESTABLISHED flow must have been silent to
// count as idle (Report.IdleOver1h): an hour, far past any keepalive
// interval a live connection uses, and far short of the kernel's default
// established timeout of 432,000 s (5 days) that keeps it in the table.
const IdleSeconds = 3600

// EstablishedTimeoutName is the flow.Timeout name of
// nf_conntrack_tcp_timeout_established.
const EstablishedTimeoutName = "tcp_established"

// State is the entries of one protocol in one displayed state.
type State struct {
	// Proto is the protocol's name (flow.ProtoName), State the state the
	// State column shows (flow.DisplayState: TCP's and SCTP's ESTABLISHED
	// stay apart, being different protocols).
	Proto, State string
	Entries      int
	// Share is Entries as a percentage of the rows read.
	Share float64
	// Timeout is the timeout, in seconds, that the kernel gives a flow in
	// this state on each packet, and TimeoutSysctl the sysctl that sets it
	// (nf_conntrack_tcp_timeout_time_wait); Timeout is -1 when unknown (the
	// timeouts could not be read, or no sysctl sets it, as for an
	// offloaded flow), TimeoutSysctl "" when there is none.
	Timeout       int
	TimeoutSysctl string
}

// states fills in States, Rows and the idle ESTABLISHED flows from the
// rows.
func (r *Report) states(in *Input) {
	type key struct {
		proto uint8
		state string
	}
	idx := map[key]int{}
	timeouts := map[string]int{}
	for _, t := range in.Timeouts {
		timeouts[t.Name] = t.Seconds
	}
	est, haveEst := timeouts[EstablishedTimeoutName]
	if haveEst {
		r.EstablishedTimeout = est
		r.IdleKnown = true
	}
	r.States = []State{}
	for i := range in.Rows {
		f := &in.Rows[i]
		k := key{f.Proto, f.DisplayState()}
		j, ok := idx[k]
		if !ok {
			j = len(r.States)
			idx[k] = j
			name := timeoutName(f)
			st := State{Proto: f.ProtoName(), State: k.state, Timeout: -1}
			if name != "" {
				st.TimeoutSysctl = SysctlName(name)
				if secs, ok := timeouts[name]; ok {
					st.Timeout = secs
				}
			}
			r.States = append(r.States, st)
		}
		r.States[j].Entries++
		if haveEst && f.Proto == flow.ProtoTCP && f.Present&(flow.HasState|flow.HasTimeout) == flow.HasState|flow.HasTimeout &&
			f.State == flow.TCPEstablished && est-max(int(f.Timeout)-in.Elapsed, 0) > IdleSeconds {
			r.IdleOver1h++
		}
	}
	r.Rows = len(in.Rows)
	for i := range r.States {
		r.States[i].Share = 100 * float64(r.States[i].Entries) / float64(r.Rows)
	}
	slices.SortFunc(r.States, func(a, b State) int {
		return cmp.Or(cmp.Compare(b.Entries, a.Entries), cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.State, b.State))
	})
}

// timeoutName returns the flow.Timeout name of the timeout the kernel gives
// f's protocol in f's state, "" when no sysctl sets one. TCP, SCTP and DCCP
// have one per state, named after it (tcp_time_wait, sctp_cookie_wait,
// dccp_timewait); UDP and GRE one before the flow is a stream and one after
// (udp_stream: once assured; gre_stream: once replied to); ICMP and ICMPv6
// one each, every other protocol the generic one. The name depends on the
// protocol and the displayed state alone, so that every row of a State has
// the same: an offloaded TCP flow shows its protocol state, whose timeout
// it gets back when it leaves the flowtable, while a flow shown as OFFLOAD
// is timed by its flowtable and has none.
func timeoutName(f *flow.Flow) string {
	p := f.ProtoName()
	if _, ok := flow.StateProtoIndex(f.Proto); ok && f.Present&flow.HasState != 0 {
		if f.State == 0 {
			return "" // NONE: the state of no tracked flow
		}
		return p + "_" + strings.ToLower(f.StateName())
	}
	ph := f.Phase()
	if ph == flow.PhaseOffload {
		return ""
	}
	switch f.Proto {
	case flow.ProtoUDP, flow.ProtoUDPLite:
		// UDP-Lite is timed by UDP's sysctls.
		if ph == flow.PhaseAssured {
			return "udp_stream"
		}
		return "udp"
	case flow.ProtoGRE:
		if ph == flow.PhaseUnreplied {
			return "gre"
		}
		return "gre_stream"
	case flow.ProtoICMP, flow.ProtoICMPv6:
		return p
	}
	return "generic"
}

// SysctlName returns the sysctl of the timeout named name as flow.Timeout
// names it: tcp_established → nf_conntrack_tcp_timeout_established, udp →
// nf_conntrack_udp_timeout.
func SysctlName(name string) string {
	proto, rest, ok := strings.Cut(name, "_")
	if !ok {
		return "nf_conntrack_" + name + "_timeout"
	}
	return "nf_conntrack_" + proto + "_timeout_" + rest
}
