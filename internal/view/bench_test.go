package view

import (
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/gostate/gostate/internal/filter"
	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/sortby"
)

// benchFlows builds n rows shaped like a busy firewall's table (see
// sortby's benchmark).
func benchFlows(n int) []flow.Flow {
	r := rand.New(rand.NewPCG(42, 42))
	flows := make([]flow.Flow, n)
	states := []uint8{flow.TCPEstablished, flow.TCPEstablished, flow.TCPTimeWait, flow.TCPSynSent}
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
		if r.IntN(10) < 8 {
			f.Proto, f.State = flow.ProtoTCP, states[r.IntN(len(states))]
			f.Present |= flow.HasState
		} else {
			f.Proto = flow.ProtoUDP
		}
		f.Timeout = uint32(r.IntN(432000))
		f.Orig.SrcPort = uint16(32768 + r.IntN(28000))
		f.Orig.DstPort = []uint16{443, 80, 53, 22}[r.IntN(4)]
		f.Reply = f.Orig.Mirror()
		f.OrigBytes, f.ReplyBytes = uint64(r.IntN(1e6)), uint64(r.IntN(1e8))
	}
	return flows
}

// BenchmarkBuild200k is one refresh of a 200,000-row table: filter, totals
// and sort.
func BenchmarkBuild200k(b *testing.B) {
	tab := &flow.Table{Flows: benchFlows(200_000)}
	src, _ := filter.ParsePrefixes("198.51.0.0/20")
	for _, bc := range []struct {
		name string
		o    Options
	}{
		{"src", Options{}},
		{"dst", Options{Sort: sortby.Dst}},
		{"bytes", Options{Sort: sortby.Bytes}},
		{"nodns-dst", Options{Filter: filter.Filter{NoDNS: true}, Sort: sortby.Dst}},
		{"srcnet-ttl", Options{Filter: filter.Filter{Src: src}, Sort: sortby.TTL}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var v View
			Build(tab, &bc.o, &v) // grow the view: measure refreshes
			start := cpuTime()
			for b.Loop() {
				Build(tab, &bc.o, &v)
			}
			b.ReportMetric(float64(cpuTime()-start)/1e6/float64(b.N), "cpu-ms/op")
		})
	}
}

// cpuTime returns the CPU time the process has used, in nanoseconds: on a
// shared machine it varies less than the wall time.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
