package ui

import (
	"net/netip"
	"testing"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/group"
)

// hosts returns n TCP flows, the i-th from src(i) to dst port dport(i), in
// state state(i).
func hosts(n int, src func(int) string, dport func(int) uint16, state func(int) uint8) []flow.Flow {
	out := make([]flow.Flow, n)
	for i := range out {
		out[i] = mkFlow(flow.ProtoTCP, src(i), "203.0.113.1", uint16(10000+i), dport(i))
		out[i].State = state(i)
	}
	return out
}

// spread is the i-th of 250 sources, none of them dominant.
func spread(i int) string { return netip.AddrFrom4([4]byte{198, 51, 100, byte(i%250 + 1)}).String() }

func TestTopSource(t *testing.T) {
	est := func(int) uint8 { return flow.TCPEstablished }
	for _, c := range []struct {
		name  string
		flows []flow.Flow
		want  string
	}{
		{"one source fills it",
			hosts(100, func(i int) string {
				if i < 41 {
					return "192.0.2.66"
				}
				return spread(i)
			}, func(int) uint16 { return 443 }, func(i int) uint8 {
				if i == 0 {
					return flow.TCPEstablished
				}
				return flow.TCPSynRecv
			}),
			"top source 192.0.2.66: 41% of entries (SYN_RECV 98%)"},
		{"IPv6 sources by /64",
			hosts(100, func(i int) string {
				if i < 30 {
					return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 15: byte(i + 1)}).String()
				}
				return spread(i)
			}, func(int) uint16 { return 80 }, est),
			"top source 2001:db8:1:2::/64: 30% of entries (ESTABLISHED 100%)"},
		{"no dominant source, a dominant port",
			hosts(200, spread, func(i int) uint16 {
				if i%100 < 37 {
					return 443
				}
				return uint16(20000 + i)
			}, est),
			"no dominant source; top destination port tcp/443: 37%"},
		{"no dominant source nor port",
			hosts(200, spread, func(i int) uint16 { return uint16(20000 + i) }, func(i int) uint8 {
				if i%5 == 0 {
					return flow.TCPTimeWait
				}
				return flow.TCPEstablished
			}),
			"no dominant source; top state ESTABLISHED: 80%"},
		{"empty", nil, ""},
	} {
		tab := &flow.Table{Flows: c.flows}
		idx := make([]int32, len(c.flows))
		for i := range idx {
			idx[i] = int32(i)
		}
		var g group.Grouping
		if got := TopSource(tab, idx, &g); got != c.want {
			t.Errorf("%s: TopSource = %q\nwant %q", c.name, got, c.want)
		}
	}
}

// The shares are of the rows given, the table's whole: a view's filter
// must not raise them.
func TestTopSourceCountsTheRowsGiven(t *testing.T) {
	flows := hosts(10, func(i int) string {
		if i < 3 {
			return "192.0.2.66"
		}
		return spread(i)
	}, func(int) uint16 { return 443 }, func(int) uint8 { return flow.TCPSynRecv })
	var g group.Grouping
	if got, want := TopSource(&flow.Table{Flows: flows}, []int32{0, 1, 2, 3}, &g), "top source 192.0.2.66: 75% of entries (SYN_RECV 100%)"; got != want {
		t.Errorf("TopSource over 4 rows = %q, want %q", got, want)
	}
}

func TestPercentOf(t *testing.T) {
	for _, c := range []struct {
		n, total int
		want     string
	}{
		{41, 100, "41%"}, {1, 3, "33%"}, {2, 3, "67%"}, {999, 1000, "99%"}, {1000, 1000, "100%"},
		{1, 1000, "1%"}, {0, 10, "0%"}, {5, 1000, "1%"}, {6, 1000, "1%"},
	} {
		if got := percentOf(c.n, c.total); got != c.want {
			t.Errorf("percentOf(%d, %d) = %q, want %q", c.n, c.total, got, c.want)
		}
	}
}
