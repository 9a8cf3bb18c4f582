package ui

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/group"
)

func TestAppendPercent(t *testing.T) {
	for _, c := range []struct {
		n, whole int
		want     string
	}{{1, 8, "12.5%"}, {2, 17, "11.8%"}, {9999, 10000, "99.9%"}, {5, 5, "100.0%"}, {0, 3, "0.0%"}, {1, 0, "-"}} {
		if got := string(AppendPercent(nil, c.n, c.whole)); got != c.want {
			t.Errorf("AppendPercent(%d, %d) = %q, want %q", c.n, c.whole, got, c.want)
		}
	}
}

func TestGroupCells(t *testing.T) {
	if got := WantedGroupColumns(false, 0); !slices.Equal(got, []GroupColumn{GroupKey, GroupEntries, GroupShare, GroupBar, GroupStates}) {
		t.Errorf("without counters or max: %v", got)
	}
	if got := WantedGroupColumns(true, 65536); len(got) != int(NumGroupColumns) {
		t.Errorf("with counters and max: %v, want every column", got)
	}
	var rows []flow.Flow
	for i, st := range []uint8{flow.TCPEstablished, flow.TCPEstablished, flow.TCPSynRecv, flow.TCPTimeWait, flow.TCPClose} {
		f := flow.Flow{Family: flow.FamilyIPv4, Proto: flow.ProtoTCP, Present: flow.HasState, State: st}
		f.Orig.Src = flow.AddrFrom(netip.MustParseAddr("192.0.2.1"))
		f.Orig.SrcPort = uint16(1000 + i)
		if i == 0 {
			f.Present |= flow.HasCounters
			f.OrigBytes, f.OrigPackets = 1536, 1200
		}
		rows = append(rows, f)
	}
	sp, _ := group.Parse("src")
	var g group.Grouping
	g.Build(rows, []int32{0, 1, 2, 3, 4}, sp)
	c := GroupCells{Rows: 10, Max: 1000}
	for col, want := range map[GroupColumn]string{
		GroupKey: "192.0.2.1", GroupEntries: "5", GroupShare: "50.0%", GroupOfMax: "0.5%",
		GroupBar: "[█████░░░░░]", GroupStates: "ESTABLISHED 2  CLOSE 1  SYN_RECV 1  +1 more",
		GroupBytes: "1.5KiB", GroupPackets: "1.2K",
	} {
		if got := string(c.Append(nil, col, &g.Groups[0], g.Label(0))); got != want {
			t.Errorf("column %d: %q, want %q", col, got, want)
		}
	}
}
