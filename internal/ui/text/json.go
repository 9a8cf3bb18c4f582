package text

import (
	"bufio"
	"strconv"
	"unicode/utf8"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/ui"
)

// WriteJSON writes one JSON object per flow of idx, one per line (JSON Lines),
// in that order. Field names are part of gostate's interface (issue 3):
//
//	family proto protonum src dst sport dport state ttl assured unreplied
//	snat dnat mark zone id start reply{src dst sport dport}
//	icmp{type code id} gre{srckey dstkey}
//	orig_bytes orig_packets reply_bytes reply_packets
//
// sport and dport appear when the protocol has ports, state when it has
// states, ttl unless the flow is offloaded (then "offload" is true), id, start
// (Unix seconds) and the counters only when the source supplied them. Counters
// are exact 64-bit integers.
//
// A large view is formatted on every core; the output is the same either way.
// WriteJSON stops at the first write error (a closed pipe) and returns it.
func WriteJSON(w *bufio.Writer, t *flow.Table, idx []int32) error {
	return writeJSONPlan(w, t, idx, planFor(len(idx), jsonBlockRows))
}

// jsonRowBytes is about the longest object of a flow with counters over IPv6,
// so that a block's buffer rarely grows.
const jsonRowBytes = 512

func writeJSONPlan(w *bufio.Writer, t *flow.Table, idx []int32, p plan) error {
	p.rowBytes = jsonRowBytes
	err := writeBlocks(w, idx, p, func() blockFormatter {
		return func(b []byte, idx []int32) []byte {
			for _, i := range idx {
				b = appendFlowJSON(b, &t.Flows[i])
				b = append(b, '\n')
			}
			return b
		}
	})
	if err != nil {
		return err
	}
	return w.Flush()
}

func appendFlowJSON(b []byte, f *flow.Flow) []byte {
	b = append(b, `{"family":"`...)
	b = append(b, f.Family.String()...)
	b = append(b, `","proto":"`...)
	b = append(b, f.ProtoName()...)
	b = append(b, `","protonum":`...)
	b = strconv.AppendUint(b, uint64(f.Proto), 10)
	b = appendTupleJSON(b, f, &f.Orig)
	if f.Present&flow.HasState != 0 {
		b = append(b, `,"state":"`...)
		b = append(b, f.StateName()...)
		b = append(b, '"')
	}
	if f.Present&flow.HasTimeout != 0 {
		b = appendUintField(b, "ttl", uint64(f.Timeout))
	}
	if f.Status&(flow.StatusOffload|flow.StatusHWOffload) != 0 {
		b = append(b, `,"offload":true`...)
	}
	b = appendBoolField(b, "assured", f.Assured())
	b = appendBoolField(b, "unreplied", f.Unreplied())
	b = appendBoolField(b, "snat", f.Status.Has(flow.StatusSrcNAT))
	b = appendBoolField(b, "dnat", f.Status.Has(flow.StatusDstNAT))
	b = appendUintField(b, "mark", uint64(f.Mark))
	b = appendUintField(b, "zone", uint64(f.Zone))
	if f.Present&flow.HasID != 0 {
		b = appendUintField(b, "id", uint64(f.ID))
	}
	if f.Present&flow.HasStart != 0 {
		b = appendUintField(b, "start", uint64(f.Start))
	}
	b = append(b, `,"reply":{`...)
	b = appendTupleJSON(b, f, &f.Reply)
	b = append(b, '}')
	switch {
	case f.IsICMP():
		b = append(b, `,"icmp":{"type":`...)
		b = strconv.AppendUint(b, uint64(f.Orig.ICMPType), 10)
		b = appendUintField(b, "code", uint64(f.Orig.ICMPCode))
		b = appendUintField(b, "id", uint64(f.Orig.SrcPort))
		b = append(b, '}')
	case f.Proto == flow.ProtoGRE:
		b = append(b, `,"gre":{"srckey":`...)
		b = strconv.AppendUint(b, uint64(f.Orig.SrcPort), 10)
		b = appendUintField(b, "dstkey", uint64(f.Orig.DstPort))
		b = append(b, '}')
	}
	if f.Present&flow.HasCounters != 0 {
		b = appendUintField(b, "orig_bytes", f.OrigBytes)
		b = appendUintField(b, "orig_packets", f.OrigPackets)
		b = appendUintField(b, "reply_bytes", f.ReplyBytes)
		b = appendUintField(b, "reply_packets", f.ReplyPackets)
	}
	return append(b, '}')
}

// appendTupleJSON appends the src, dst and (for protocols with ports) sport
// and dport fields of t. The first field has no leading comma when b ends an
// opening brace.
func appendTupleJSON(b []byte, f *flow.Flow, t *flow.Tuple) []byte {
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	b = append(b, `"src":"`...)
	b = ui.AppendAddr(b, f.Family, t.Src)
	b = append(b, `","dst":"`...)
	b = ui.AppendAddr(b, f.Family, t.Dst)
	b = append(b, '"')
	if f.HasPorts() {
		b = appendUintField(b, "sport", uint64(t.SrcPort))
		b = appendUintField(b, "dport", uint64(t.DstPort))
	}
	return b
}

func appendUintField(b []byte, name string, v uint64) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return ui.AppendUint(b, v)
}

func appendBoolField(b []byte, name string, v bool) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return strconv.AppendBool(b, v)
}

func appendStringField(b []byte, name, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendJSONString(b, v)
}

// appendJSONString appends s as a JSON string. Control characters are
// escaped, and invalid UTF-8 (a file name, a kernel string) becomes U+FFFD so
// that the output is always valid JSON.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// WriteStatsJSON writes the table's health as one JSON object (--json
// --stats):
//
//	entries max fill bytes_per_entry bytes_per_entry_estimated memory_bytes
//	source frozen skipped warnings timeouts{name: seconds}
//	found invalid ignore insert insert_failed drop early_drop error
//	search_restart clash_resolve chaintoolong
//
// fill is entries as a percentage of max. max and fill are left out when the limit is unknown (a saved dump), the
// per-CPU statistics (summed over CPUs) when they could not be read, and
// clash_resolve and chaintoolong on kernels without them.
func WriteStatsJSON(w *bufio.Writer, t *flow.Table) error {
	s := &t.Stats
	b := make([]byte, 0, 1024)
	b = append(b, `{"entries":`...)
	b = strconv.AppendInt(b, int64(s.Entries), 10)
	if s.Max > 0 {
		b = appendUintField(b, "max", uint64(s.Max))
		b = append(b, `,"fill":`...)
		b = strconv.AppendFloat(b, s.FillPercent(), 'f', 2, 64)
	}
	b = appendUintField(b, "bytes_per_entry", uint64(s.BytesPerEntry))
	b = appendBoolField(b, "bytes_per_entry_estimated", s.BytesPerEntryEstimated)
	b = appendUintField(b, "memory_bytes", s.MemoryBytes())
	b = appendStringField(b, "source", t.Source)
	b = appendBoolField(b, "frozen", t.Frozen)
	b = appendUintField(b, "skipped", uint64(t.Skipped))
	b = append(b, `,"warnings":[`...)
	for i, warn := range t.Warnings {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, warn)
	}
	b = append(b, `],"timeouts":{`...)
	for i, to := range t.Timeouts {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, to.Name)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(to.Seconds), 10)
	}
	b = append(b, '}')
	if s.HaveCPU {
		c := &s.CPU
		b = appendUintField(b, "found", c.Found)
		b = appendUintField(b, "invalid", c.Invalid)
		b = appendUintField(b, "ignore", c.Ignore)
		b = appendUintField(b, "insert", c.Insert)
		b = appendUintField(b, "insert_failed", c.InsertFailed)
		b = appendUintField(b, "drop", c.Drop)
		b = appendUintField(b, "early_drop", c.EarlyDrop)
		b = appendUintField(b, "error", c.Error)
		b = appendUintField(b, "search_restart", c.SearchRestart)
		if c.HasClashResolve {
			b = appendUintField(b, "clash_resolve", c.ClashResolve)
		}
		if c.HasChainTooLong {
			b = appendUintField(b, "chaintoolong", c.ChainTooLong)
		}
	}
	b = append(b, '}', '\n')
	if _, err := w.Write(b); err != nil {
		return err
	}
	return w.Flush()
}
