package filter

import (
	"math/rand/v2"
	"testing"

	"github.com/gostate/gostate/internal/flow"
)

// BenchmarkMatch200k runs each filter over 200,000 rows.
func BenchmarkMatch200k(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	flows := make([]flow.Flow, 200_000)
	for i := range flows {
		f := &flows[i]
		f.Family, f.Proto = flow.FamilyIPv4, flow.ProtoTCP
		if i%5 == 0 {
			f.Family = flow.FamilyIPv6
			f.Orig.Src = flow.Addr{0x20, 0x01, 0x0d, 0xb8, 14: byte(r.IntN(256)), 15: byte(r.IntN(256))}
			f.Orig.Dst = flow.Addr{0x20, 0x01, 0x0d, 0xb8, 1, 15: byte(r.IntN(256))}
		} else {
			f.Orig.Src = flow.AddrFromSlice([]byte{192, 0, 2, byte(r.IntN(256))})
			f.Orig.Dst = flow.AddrFromSlice([]byte{198, 51, 100, byte(r.IntN(256))})
		}
		f.Orig.SrcPort, f.Orig.DstPort = uint16(32768+r.IntN(20000)), []uint16{443, 80, 53}[r.IntN(3)]
		f.State, f.Present = flow.TCPEstablished, flow.HasState
		f.Status = flow.StatusConfirmed
		if i%3 != 0 {
			f.Status |= flow.StatusSeenReply | flow.StatusAssured
		}
	}
	src, _ := ParsePrefixes("192.0.2.0/25")
	dport, _ := ParsePorts("443")
	protos, _ := ParseProtos("tcp,udp")
	states, _ := ParseStates("ESTABLISHED,TIME_WAIT")
	unreplied, _ := ParseStates("UNREPLIED")
	for _, bc := range []struct {
		name string
		f    Filter
	}{
		{"src", Filter{Src: src}},
		{"dport-inverted", Filter{DstPort: dport, Invert: true}},
		{"toggles", Filter{NoLoopback: true, NoDNS: true}},
		{"proto-state", Filter{Protos: protos, States: states}},
		{"unreplied", Filter{States: unreplied}},
		{"all", Filter{Src: src, DstPort: dport, NoLoopback: true, NoDNS: true, Protos: protos, States: states}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				n := 0
				for i := range flows {
					if bc.f.Match(&flows[i]) {
						n++
					}
				}
				if n == 0 && bc.name == "src" {
					b.Fatal("the filter matched nothing")
				}
			}
		})
	}
}
