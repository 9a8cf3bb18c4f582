package source

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gostate/gostate/internal/flow"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// fixtureNow is the time the golden files assume the fixtures were read at,
// so that delta-time= gives a fixed Start.
var fixtureNow = time.Date(2026, 11, 25, 12, 10, 0, 0, time.UTC)

// describe spells out every field of a flow, one flow per line, for golden
// files a reviewer can check against the input line by eye.
func describe(flows []flow.Flow) string {
	var b strings.Builder
	for i := range flows {
		f := &flows[i]
		fmt.Fprintf(&b, "%s proto=%d", f.Family, f.Proto)
		if f.Present&flow.HasState != 0 {
			fmt.Fprintf(&b, " state=%s", f.StateName())
		}
		if f.Present&flow.HasTimeout != 0 {
			fmt.Fprintf(&b, " timeout=%d", f.Timeout)
		}
		fmt.Fprintf(&b, " orig=[%s] reply=[%s]", describeTuple(f, f.Orig), describeTuple(f, f.Reply))
		fmt.Fprintf(&b, " status=%s mark=%d zone=%d", describeStatus(f.Status), f.Mark, f.Zone)
		if f.Present&flow.HasCounters != 0 {
			fmt.Fprintf(&b, " counters=%d/%d,%d/%d", f.OrigPackets, f.OrigBytes, f.ReplyPackets, f.ReplyBytes)
		}
		if f.Present&flow.HasID != 0 {
			fmt.Fprintf(&b, " id=%d", f.ID)
		}
		if f.Present&flow.HasStart != 0 {
			fmt.Fprintf(&b, " start=%s", time.Unix(int64(f.Start), 0).UTC().Format(time.TimeOnly))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func describeTuple(f *flow.Flow, t flow.Tuple) string {
	s := fmt.Sprintf("%s>%s", t.Src.Netip(f.Family), t.Dst.Netip(f.Family))
	switch {
	case f.IsICMP():
		s += fmt.Sprintf(" type=%d code=%d id=%d", t.ICMPType, t.ICMPCode, t.SrcPort)
	case t.SrcPort != 0 || t.DstPort != 0:
		s += fmt.Sprintf(" %d>%d", t.SrcPort, t.DstPort)
	}
	if t.DstPort == 0 && t.SrcPort == 0 && (t.ICMPType != 0 || t.ICMPCode != 0) && !f.IsICMP() {
		s += " stray-icmp-fields"
	}
	return s
}

func describeStatus(s flow.Status) string {
	var names []string
	for _, b := range []struct {
		bit  flow.Status
		name string
	}{
		{flow.StatusSeenReply, "seen_reply"}, {flow.StatusAssured, "assured"},
		{flow.StatusSrcNAT, "snat"}, {flow.StatusDstNAT, "dnat"},
		{flow.StatusOffload, "offload"}, {flow.StatusHWOffload, "hw_offload"},
	} {
		if s.Has(b.bit) {
			names = append(names, b.name)
			s &^= b.bit
		}
	}
	if s != 0 {
		names = append(names, fmt.Sprintf("0x%x", uint32(s)))
	}
	if len(names) == 0 {
		return "-"
	}
	return strings.Join(names, ",")
}

// The fixtures were captured on Linux 6.18 with conntrack-tools 1.4.7 from one
// private namespace with accounting and timestamps on (*-acct.txt) and one
// with both off; each set was captured in the same second. ip_conntrack.txt
// is written from the legacy format; odd.txt holds hand-made lines for what
// the capture could not produce (offload flags, secctx, compressed and
// IPv4-mapped IPv6, CRLF, unknown fields) and lines that must be skipped.
var fixtures = []struct {
	file    string
	skipped int
}{
	{"proc-nf_conntrack.txt", 0},
	{"proc-nf_conntrack-acct.txt", 0},
	{"conntrack-L.txt", 0},
	{"conntrack-L-acct.txt", 0},
	{"conntrack-L-extended.txt", 0},
	{"conntrack-L-extended-acct.txt", 0},
	{"conntrack-L-id.txt", 0},
	{"conntrack-L-id-acct.txt", 0},
	{"conntrack-L-extended-id.txt", 0},
	{"conntrack-L-extended-id-acct.txt", 0},
	{"ip_conntrack.txt", 0},
	{"odd.txt", 7}, // its comment lines are in no format
}

func TestParseConntrackGolden(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.file, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", fx.file))
			if err != nil {
				t.Fatal(err)
			}
			flows, skipped, err := ParseConntrack(bytes.NewReader(in), fixtureNow, nil)
			if err != nil {
				t.Fatal(err)
			}
			if skipped != fx.skipped {
				t.Errorf("skipped %d lines, want %d", skipped, fx.skipped)
			}
			got := describe(flows)
			golden := filepath.Join("testdata", "golden", strings.TrimSuffix(fx.file, ".txt")+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("parsed flows differ from %s (run go test -update and review the diff):\n%s", golden, lineDiff(string(want), got))
			}
		})
	}
}

// lineDiff lists the lines of want and got that differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %s\n  got  %s\n", i+1, wl, gl)
		}
	}
	return b.String()
}
