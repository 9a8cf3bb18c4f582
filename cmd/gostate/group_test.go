package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ti-mo/conntrack"

	"github.com/gostate/gostate/internal/nstest"
)

// groupRecord is one line of gostate --json --group-by.
type groupRecord struct {
	Group   string         `json:"group"`
	Key     string         `json:"key"`
	Entries int            `json:"entries"`
	Share   float64        `json:"share"`
	OfMax   *float64       `json:"of_max"`
	States  map[string]int `json:"states"`
}

// The flood TestKernelGroupBy inserts: SYN_RECV entries from one address to
// one port, as a SYN flood leaves them.
const (
	floodSrc   = "203.0.113.66"
	floodDst   = "198.51.100.1"
	floodCount = 5000
	tcpSynRecv = 2 // the kernel's number for SYN_RECV
)

// TestKernelGroupBy is "who fills the table" on a real table: 3,000
// ordinary flows and a flood of 5,000 SYN_RECV ones from one address to
// tcp/443. Every key's groups are checked against counts made here from
// the rows of gostate --json, the flood's groups by name.
func TestKernelGroupBy(t *testing.T) {
	ns := nstest.New(t)
	ns.Fill(t, 3000)
	c := ns.Conn(t)
	start := time.Now()
	for i := range floodCount {
		f := conntrack.NewFlow(6, conntrack.StatusConfirmed|conntrack.StatusSeenReply,
			netip.MustParseAddr(floodSrc), netip.MustParseAddr(floodDst), uint16(20000+i), 443, 600, 0)
		f.ProtoInfo.TCP = &conntrack.ProtoInfoTCP{State: tcpSynRecv}
		if err := c.Create(f); err != nil {
			t.Fatalf("insert flood entry %d: %v", i, err)
		}
	}
	t.Logf("flood inserted in %v", time.Since(start))
	// The table holds nothing that expires within the test: the fill's
	// TTLs are 30 to 60 minutes, the flood's 10.
	rows := parseRecords(t, runOK(t, "--netns", ns.Name(), "--json"))
	if len(rows) != 3000+floodCount {
		t.Fatalf("%d rows, want %d", len(rows), 3000+floodCount)
	}
	var stats struct{ Max int }
	if err := json.Unmarshal(runOK(t, "--netns", ns.Name(), "--json", "--stats"), &stats); err != nil || stats.Max <= 0 {
		t.Fatalf("--stats: max %d, %v", stats.Max, err)
	}

	floodTop := map[string]string{
		"src": floodSrc, "dst": floodDst, "src/24": "203.0.113.0/24", "state": "SYN_RECV",
		"proto": "tcp", "dport": "tcp/443", "nat": "no nat", "mark": "mark 0", "zone": "zone 0",
		"src,dport": floodSrc + " tcp/443",
	}
	var (
		bySrc   []groupRecord
		srcLine string // the first line of --group-by src
	)
	for _, spec := range []string{"src", "dst", "src/24", "dport", "sport", "proto", "state", "nat", "mark", "zone", "src,dport"} {
		want := map[string]int{}
		for i := range rows {
			want[groupKey(&rows[i], spec)]++
		}
		out := runOK(t, "--netns", ns.Name(), "--json", "--group-by", spec)
		groups := parseGroups(t, out)
		if spec == "src" {
			bySrc, srcLine = groups, strings.SplitN(string(out), "\n", 2)[0]
		}
		if len(groups) != len(want) {
			t.Errorf("%s: %d groups, want %d", spec, len(groups), len(want))
		}
		sum := 0
		for i, g := range groups {
			sum += g.Entries
			if g.Group != spec || g.Entries != want[g.Key] {
				t.Errorf("%s: group %q (of %q) has %d entries, want %d", spec, g.Key, g.Group, g.Entries, want[g.Key])
			}
			if i > 0 && g.Entries > groups[i-1].Entries {
				t.Errorf("%s: group %q (%d) after a smaller one (%d)", spec, g.Key, g.Entries, groups[i-1].Entries)
			}
			if share := 100 * float64(g.Entries) / float64(len(rows)); math.Abs(g.Share-share) > 0.0051 {
				t.Errorf("%s: %q has share %.2f, want %.2f", spec, g.Key, g.Share, share)
			}
			if g.OfMax == nil || math.Abs(*g.OfMax-100*float64(g.Entries)/float64(stats.Max)) > 0.0051 {
				t.Errorf("%s: %q has of_max %v, want %.2f", spec, g.Key, g.OfMax, 100*float64(g.Entries)/float64(stats.Max))
			}
			states := 0
			for _, n := range g.States {
				states += n
			}
			if states != g.Entries {
				t.Errorf("%s: %q: states add up to %d of %d entries", spec, g.Key, states, g.Entries)
			}
		}
		if sum != len(rows) {
			t.Errorf("%s: groups add up to %d, the table holds %d", spec, sum, len(rows))
		}
		if top, ok := floodTop[spec]; ok && (len(groups) == 0 || groups[0].Key != top) {
			t.Errorf("%s: top group %+v, want %q", spec, groups[:min(len(groups), 1)], top)
		}
	}
	if g := bySrc[0]; g.Entries != floodCount || len(g.States) != 1 || g.States["SYN_RECV"] != floodCount {
		t.Errorf("top source %+v, want %d entries all SYN_RECV", g, floodCount)
	}

	// The filters apply first: the flood alone, one group of 5,000, all
	// of the rows shown.
	text := string(runOK(t, "--netns", ns.Name(), "-1", "--state", "syn_recv", "--group-by", "src"))
	row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(floodSrc) + ` +5,000 +100\.0% +[0-9.]+% +\[#{10}\] +SYN_RECV 5,000$`)
	if !row.MatchString(text) || !strings.Contains(text, "\n1 group, 5,000 flows shown\n") {
		t.Errorf("--state syn_recv --group-by src:\n%s", text)
	}

	// --top 3: three rows under the title, then the count of them all.
	lines := strings.Split(strings.TrimSuffix(string(runOK(t, "--netns", ns.Name(), "-1", "--group-by", "dst", "--top", "3")), "\n"), "\n")
	title := 0
	for title < len(lines) && !strings.HasPrefix(lines[title], "dst ") {
		title++
	}
	if len(lines) != title+5 || !strings.HasPrefix(lines[title+1], floodDst+" ") ||
		!regexp.MustCompile(`^[0-9,]+ groups, 8,000 flows shown \(top 3 of [0-9,]+ groups\)$`).MatchString(lines[len(lines)-1]) {
		t.Errorf("--top 3:\n%s", strings.Join(lines, "\n"))
	}

	// The JSON fields, in their order; the counters only with -C.
	if !regexp.MustCompile(`^\{"group":"src","key":"203\.0\.113\.66","entries":5000,"share":62\.50,"of_max":[0-9]+\.[0-9]{2},"states":\{"SYN_RECV":5000\}\}$`).MatchString(srcLine) {
		t.Errorf("--json --group-by src: %s", srcLine)
	}
	out := runOK(t, "--netns", ns.Name(), "--json", "--group-by", "src", "--top", "1", "-C")
	if bytes.Count(out, []byte("\n")) != 1 || !bytes.HasSuffix(out, []byte(`,"bytes":0,"packets":0}`+"\n")) {
		t.Errorf("--json --group-by src --top 1 -C: %s", out)
	}
}

// groupKey is the label gostate gives a row's group by spec, worked out
// here from the row's JSON: addresses as the JSON spells them, networks
// as netip does, ports after their protocol.
func groupKey(r *record, spec string) string {
	port := func(p *uint16) string {
		if p == nil {
			return r.Proto
		}
		return r.Proto + "/" + strconv.Itoa(int(*p))
	}
	switch spec {
	case "src":
		return r.Src
	case "dst":
		return r.Dst
	case "src/24":
		bits := 24
		if r.Family == "ipv6" {
			bits = 64
		}
		return netip.PrefixFrom(netip.MustParseAddr(r.Src), bits).Masked().String()
	case "sport":
		return port(r.Sport)
	case "dport":
		return port(r.Dport)
	case "proto":
		return r.Proto
	case "state":
		return displayState(r)
	case "nat":
		if r.SNAT || r.DNAT {
			return "nat'd" // the table holds none: any would miss its group
		}
		return "no nat"
	case "mark":
		return "mark " + strconv.FormatUint(uint64(r.Mark), 10)
	case "zone":
		return "zone " + strconv.Itoa(int(r.Zone))
	case "src,dport":
		return r.Src + " " + port(r.Dport)
	}
	panic("unknown spec " + spec)
}

func parseGroups(t *testing.T, out []byte) []groupRecord {
	t.Helper()
	var groups []groupRecord
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var g groupRecord
		if err := json.Unmarshal(sc.Bytes(), &g); err != nil {
			t.Fatalf("not a JSON line: %v: %s", err, sc.Text())
		}
		groups = append(groups, g)
	}
	return groups
}
