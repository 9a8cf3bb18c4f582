package sortby

import (
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/gostate/gostate/internal/flow"
)

// benchTable builds n rows shaped like a busy firewall's table: mostly TCP
// in a few states, some UDP and ICMP, a fifth IPv6, a few thousand clients
// talking to a few hundred servers, counters on.
func benchTable(n int) []flow.Flow {
	r := rand.New(rand.NewPCG(42, 42))
	flows := make([]flow.Flow, n)
	states := []uint8{flow.TCPEstablished, flow.TCPEstablished, flow.TCPEstablished, flow.TCPTimeWait, flow.TCPSynSent, flow.TCPCloseWait}
	for i := range flows {
		f := &flows[i]
		client, server := r.IntN(4000), r.IntN(300)
		if r.IntN(5) == 0 {
			f.Family = flow.FamilyIPv6
			f.Orig.Src = flow.Addr{0x20, 0x01, 0x0d, 0xb8, 1, 14: byte(client >> 8), 15: byte(client)}
			f.Orig.Dst = flow.Addr{0x20, 0x01, 0x0d, 0xb8, 2, 14: byte(server >> 8), 15: byte(server)}
		} else {
			f.Family = flow.FamilyIPv4
			f.Orig.Src = flow.AddrFromSlice([]byte{198, 51, byte(client >> 8), byte(client)})
			f.Orig.Dst = flow.AddrFromSlice([]byte{203, 0, 113, byte(server)})
		}
		f.Present = flow.HasTimeout | flow.HasCounters
		switch p := r.IntN(100); {
		case p < 80:
			f.Proto, f.State = flow.ProtoTCP, states[r.IntN(len(states))]
			f.Present |= flow.HasState
			f.Timeout = uint32(r.IntN(432000))
		case p < 97:
			f.Proto, f.Timeout = flow.ProtoUDP, uint32(r.IntN(180))
		default:
			f.Proto, f.Timeout = flow.ProtoICMP, uint32(r.IntN(30))
			f.Orig.ICMPType = 8
		}
		if f.Proto != flow.ProtoICMP {
			f.Orig.SrcPort = uint16(32768 + r.IntN(28000))
			f.Orig.DstPort = []uint16{443, 80, 53, 22, 8080}[r.IntN(5)]
		} else {
			f.Orig.SrcPort = uint16(r.IntN(65536))
		}
		f.Reply = f.Orig.Mirror()
		f.OrigPackets = uint64(r.ExpFloat64() * 50)
		f.ReplyPackets = uint64(r.ExpFloat64() * 80)
		f.OrigBytes = f.OrigPackets * 80
		f.ReplyBytes = f.ReplyPackets * 1200
	}
	return flows
}

func BenchmarkSort200k(b *testing.B) {
	flows := benchTable(200_000)
	idx := make([]int32, len(flows))
	for _, k := range Keys() {
		b.Run(k.Name(), func(b *testing.B) {
			var s Sorter
			s.Sort(flows, idx, k, false) // grow the scratch buffer: measure refreshes
			start := cpuTime()
			for b.Loop() {
				// Table order, as each refresh delivers the rows.
				for i := range idx {
					idx[i] = int32(i)
				}
				s.Sort(flows, idx, k, false)
			}
			b.ReportMetric(float64(cpuTime()-start)/1e6/float64(b.N), "cpu-ms/op")
		})
	}
}

// cpuTime returns the CPU time the process has used, in nanoseconds: on a
// shared machine it varies less than the wall time, and it shows what
// sorting on two cores costs in all.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkTop1M is what a screen's new order costs with Top on 1,000,000
// rows (the first 60 in place), beside a whole Sort of them.
func BenchmarkTop1M(b *testing.B) {
	flows := benchTable(1_000_000)
	idx := make([]int32, len(flows))
	for _, k := range []Key{Src, Dst, State, Bytes} {
		for _, top := range []bool{true, false} {
			name := k.Name() + "/sort"
			if top {
				name = k.Name() + "/top60"
			}
			b.Run(name, func(b *testing.B) {
				var s Sorter
				s.Sort(flows, idx, k, false)
				for b.Loop() {
					for i := range idx {
						idx[i] = int32(i)
					}
					if top {
						s.Top(flows, idx, k, false, 60)
					} else {
						s.Sort(flows, idx, k, false)
					}
				}
			})
		}
	}
}
