package ui

import (
	"strconv"
	"testing"

	"github.com/gostate/gostate/internal/advise"
	"github.com/gostate/gostate/internal/flow"
)

func TestTableWarning(t *testing.T) {
	const raise = "Raise the limit: sysctl -w net.netfilter.nf_conntrack_max="
	grew := &flow.CPUStats{InsertFailed: 1}
	for _, c := range []struct {
		name     string
		s        flow.Stats
		delta    *flow.CPUStats
		msg, fix string
	}{
		{"healthy", flow.Stats{Entries: 190112, Max: 262144}, nil, "", ""},
		{"just under the alert", flow.Stats{Entries: 899, Max: 1000}, nil, "", ""},
		{"one-shot at 91.6%", flow.Stats{Entries: 240000, Max: 262144}, nil,
			"TABLE 91.6% FULL: new connections are about to be dropped.", raise + "960000"},
		{"at the alert", flow.Stats{Entries: 60000, Max: 65536}, &flow.CPUStats{}, "TABLE 91.6% FULL: new connections are about to be dropped.", raise + "240000"},
		{"full", flow.Stats{Entries: 65536, Max: 65536}, nil, "TABLE 100.0% FULL: new connections are about to be dropped.", raise + "270000"},
		{"drops at a low fill", flow.Stats{Entries: 1000, Max: 65536}, grew, "TABLE FULL: new connections are being dropped.", raise + "270000"},
		{"drops, limit unknown", flow.Stats{Entries: 100}, &flow.CPUStats{Drop: 3}, "TABLE FULL: new connections are being dropped.", raise + "400"},
		{"early drops", flow.Stats{Entries: 60000, Max: 65536}, &flow.CPUStats{EarlyDrop: 1}, "TABLE FULL: new connections are being dropped.", raise + "270000"},
		{"other counters grew", flow.Stats{Entries: 10, Max: 65536}, &flow.CPUStats{Found: 5, Insert: 9, Invalid: 2}, "", ""},
		{"saved dump", flow.Stats{Entries: 300000}, nil, "", ""},
	} {
		msg, fix := TableWarning(&c.s, c.s.Entries, c.delta)
		if msg != c.msg || fix != c.fix {
			t.Errorf("%s: TableWarning = %q, %q\nwant %q, %q", c.name, msg, fix, c.msg, c.fix)
		}
	}
}

// TestTableWarningWhere: the instruction follows where the table was read
// and who reads it, as flow.Stats says.
func TestTableWarningWhere(t *testing.T) {
	// Four times the entries, or with drops four times the limit, which the
	// table reached: 960,000 or 1,048,576 rounded up.
	cmds := map[bool]string{
		false: ": sysctl -w net.netfilter.nf_conntrack_max=960000",
		true:  ": sysctl -w net.netfilter.nf_conntrack_max=1100000",
	}
	for _, c := range []struct {
		writable, initial flow.Tristate
		want              string
	}{
		{flow.TriYes, flow.TriYes, "Raise the limit"},
		{flow.TriYes, flow.TriUnknown, "Raise the limit"},
		{flow.TriUnknown, flow.TriUnknown, "Raise the limit"},
		{flow.TriUnknown, flow.TriNo, "Raise the limit"},
		{flow.TriYes, flow.TriNo, "Raise the limit"}, // kernels that let a namespace write it
		{flow.TriNo, flow.TriNo, "Raise the limit on the host (nf_conntrack_max is global; read-only in this namespace)"},
		{flow.TriNo, flow.TriYes, "Raise the limit as root (writing nf_conntrack_max needs root or CAP_NET_ADMIN)"},
		{flow.TriNo, flow.TriUnknown, "Raise the limit as root on the host (nf_conntrack_max is read-only here)"},
	} {
		s := flow.Stats{Entries: 240000, Max: 262144, MaxWritable: c.writable, InitialNetNS: c.initial}
		for _, delta := range []*flow.CPUStats{nil, {Drop: 1}} {
			cmd := cmds[delta != nil]
			if _, fix := TableWarning(&s, s.Entries, delta); fix != c.want+cmd {
				t.Errorf("writable %v, initial namespace %v: fix %q, want %q", c.writable, c.initial, fix, c.want+cmd)
			}
		}
	}
}

// TestTableWarningSameRule: the banner's figure is the advisor's (the
// entries as the peak), memory bound included; with no room left under the
// bound it says to shorten the timeouts instead.
func TestTableWarningSameRule(t *testing.T) {
	for _, s := range []flow.Stats{
		{Entries: 240000, Max: 262144},
		{Entries: 240000, Max: 262144, BytesPerEntry: 256, MemTotal: 8 << 30},
		{Entries: 240000, Max: 262144, BytesPerEntry: 320, MemTotal: 2 << 30},
	} {
		g := advise.Suggest(&s, s.Entries, false)
		want := "Raise the limit: sysctl -w net.netfilter.nf_conntrack_max=" + strconv.Itoa(g.Max)
		if _, fix := TableWarning(&s, s.Entries, nil); !g.Raise || fix != want {
			t.Errorf("%+v: fix %q, want %q", s, fix, want)
		}
	}
	// 5 % of 1 GiB holds 203,000 entries of 256 bytes and a bucket each.
	s := flow.Stats{Entries: 240000, Max: 262144, BytesPerEntry: 256, MemTotal: 1 << 30}
	const want = "Shorten the timeouts that hold the most entries (a full table at a higher limit would pass 5% of RAM): gostate --advise"
	if _, fix := TableWarning(&s, s.Entries, nil); fix != want {
		t.Errorf("memory bound under the limit: fix %q, want %q", fix, want)
	}
}

func TestCountersOffHint(t *testing.T) {
	const hint = "counters are off: sysctl -w net.netfilter.nf_conntrack_acct=1 (per namespace; counts new flows only)"
	without := flow.Flow{Proto: flow.ProtoTCP, Present: flow.HasTimeout | flow.HasState}
	with := without
	with.Present |= flow.HasCounters // zero counts are counters too
	for _, c := range []struct {
		name  string
		flows []flow.Flow
		want  string
	}{
		{"no rows", nil, ""},
		{"one row without", []flow.Flow{without}, hint},
		{"all without", []flow.Flow{without, without, without}, hint},
		{"all with", []flow.Flow{with, with}, ""},
		{"only the last with", []flow.Flow{without, without, with}, ""},
		{"only the first with", []flow.Flow{with, without}, ""},
	} {
		if got := CountersOffHint(&flow.Table{Flows: c.flows}); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
