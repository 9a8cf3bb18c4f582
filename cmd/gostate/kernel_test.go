package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ti-mo/conntrack"

	"github.com/gostate/gostate/internal/nstest"
)

// record is one line of gostate --json, as this test reads it.
type record struct {
	Family    string  `json:"family"`
	Proto     string  `json:"proto"`
	ProtoNum  int     `json:"protonum"`
	Src       string  `json:"src"`
	Dst       string  `json:"dst"`
	Sport     *uint16 `json:"sport"`
	Dport     *uint16 `json:"dport"`
	State     *string `json:"state"`
	TTL       *uint32 `json:"ttl"`
	Zone      uint16  `json:"zone"`
	Mark      uint32  `json:"mark"`
	SNAT      bool    `json:"snat"`
	DNAT      bool    `json:"dnat"`
	Assured   bool    `json:"assured"`
	Unreplied bool    `json:"unreplied"`
	Offload   bool    `json:"offload"`
	ICMP      *struct {
		Type, Code uint8
		ID         uint16
	} `json:"icmp"`
	GRE *struct {
		SrcKey uint16 `json:"srckey"`
		DstKey uint16 `json:"dstkey"`
	} `json:"gre"`
	OrigBytes    *uint64 `json:"orig_bytes"`
	ReplyBytes   *uint64 `json:"reply_bytes"`
	OrigPackets  *uint64 `json:"orig_packets"`
	ReplyPackets *uint64 `json:"reply_packets"`
}

// TestKernelOrderings reads a private namespace's table with the built
// binary for every -b key, both directions, and checks the order against
// comparisons written here from sortby's documented rules, not with sortby.
func TestKernelOrderings(t *testing.T) {
	ns := nstest.New(t)
	// Accounting is a per-namespace switch: with it, the kernel counts the
	// real loopback traffic below, so the bytes and packets orderings have
	// something to order.
	ns.Exec(t, "sysctl", "-q", "-w", "net.netfilter.nf_conntrack_acct=1")
	ns.InsertSynthetic(t)
	ns.Fill(t, 3000)
	ns.LoopbackTraffic(t)
	ns.NATFlow(t)
	// checkCount compares a row count with conntrack -C (the kernel's
	// count, read by another program than the one under test) taken before
	// and after the run: on a slow machine an entry of the real traffic
	// (UDP, 30 s) may expire in between, and nothing adds entries.
	checkCount := func(what string, run func() int) {
		t.Helper()
		before := conntrackCount(t, ns)
		n := run()
		after := conntrackCount(t, ns)
		if n > before || n < after {
			t.Errorf("%s: %d rows, the kernel counts %d before and %d after", what, n, before, after)
		}
	}

	checkCount("--json --stats entries", func() int {
		stats := runOK(t, "--netns", ns.Name(), "--json", "--stats")
		var st struct{ Entries int }
		if err := json.Unmarshal(stats, &st); err != nil {
			t.Fatalf("--json --stats: %v\n%s", err, stats)
		}
		return st.Entries
	})

	for _, key := range []string{"a", "S", "d", "D", "p", "s", "t", "b", "P"} {
		for _, reverse := range []bool{false, true} {
			args := []string{"--netns", ns.Name(), "--json", "-b", key}
			if reverse {
				args = append(args, "-r")
			}
			var recs []record
			checkCount(strings.Join(args, " "), func() int {
				recs = parseRecords(t, runOK(t, args...))
				return len(recs)
			})
			for i := 1; i < len(recs); i++ {
				if c := compareRecords(&recs[i-1], &recs[i], key, reverse); c > 0 {
					t.Errorf("%v: row %d should come after row %d:\n%+v\n%+v", args, i-1, i, recs[i-1], recs[i])
					break
				}
			}
		}
	}

	// The kernel's NAT'd flow says so.
	nat, counted := 0, 0
	for _, r := range parseRecords(t, runOK(t, "--netns", ns.Name(), "--json")) {
		if r.SNAT || r.DNAT {
			nat++
		}
		if r.OrigBytes != nil && *r.OrigBytes > 0 {
			counted++
		}
	}
	if nat == 0 {
		t.Error("no flow marked snat or dnat, though the namespace NATs one")
	}
	if counted == 0 {
		t.Error("no flow with counters, though accounting is on and traffic flowed")
	}

	// The text view shows the same rows: one line per entry.
	checkCount("-1 -b d --no-header lines", func() int {
		text := runOK(t, "--netns", ns.Name(), "-1", "-b", "d", "--no-header")
		return bytes.Count(text, []byte("\n"))
	})
}

func conntrackCount(t *testing.T, ns *nstest.NS) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(ns.Exec(t, "conntrack", "-C")))
	if err != nil {
		t.Fatalf("conntrack -C: %v", err)
	}
	return n
}

func runOK(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := execContext(ctx, gostateCmd(t, args...))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gostate %s: %v; stderr: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func parseRecords(t *testing.T, out []byte) []record {
	t.Helper()
	var recs []record
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("not a JSON line: %v: %s", err, sc.Text())
		}
		recs = append(recs, r)
	}
	return recs
}

// compareRecords orders two rows as gostate -b key [-r] must: the primary
// key (reversed with -r), rows lacking it last in both directions, then the
// rest of the tuple in the default order.
func compareRecords(a, b *record, key string, reverse bool) int {
	if c := comparePrimary(a, b, key, reverse); c != 0 {
		return c
	}
	return cmp.Or(
		compareAddr(a.Family, a.Src, b.Family, b.Src),
		cmp.Compare(rawSport(a), rawSport(b)),
		compareAddr(a.Family, a.Dst, b.Family, b.Dst),
		cmp.Compare(rawDport(a), rawDport(b)),
		compareProto(a, b),
		cmp.Compare(a.Zone, b.Zone),
		cmp.Compare(icmpType(a), icmpType(b)),
		cmp.Compare(icmpCode(a), icmpCode(b)),
	)
}

func comparePrimary(a, b *record, key string, reverse bool) int {
	// missingLast puts rows without the field last, whatever the direction;
	// both missing compare equal here.
	missingLast := func(am, bm bool, c func() int) int {
		switch {
		case am && bm:
			return 0
		case am:
			return 1
		case bm:
			return -1
		}
		if reverse {
			return -c()
		}
		return c()
	}
	switch key {
	case "a":
		return missingLast(false, false, func() int { return compareAddr(a.Family, a.Src, b.Family, b.Src) })
	case "d":
		return missingLast(false, false, func() int { return compareAddr(a.Family, a.Dst, b.Family, b.Dst) })
	case "S":
		return missingLast(a.Sport == nil, b.Sport == nil, func() int { return cmp.Compare(*a.Sport, *b.Sport) })
	case "D":
		return missingLast(a.Dport == nil, b.Dport == nil, func() int { return cmp.Compare(*a.Dport, *b.Dport) })
	case "p":
		return missingLast(false, false, func() int { return compareProto(a, b) })
	case "s":
		if a.ICMP != nil && b.ICMP != nil {
			// ICMP rows, whose State column starts with the type, group by
			// protocol and then phase, in the direction chosen.
			c := cmp.Or(compareProto(a, b), cmp.Compare(phase(a), phase(b)))
			if reverse {
				return -c
			}
			return c
		}
		return missingLast(a.ICMP != nil, b.ICMP != nil, func() int {
			return cmp.Or(strings.Compare(displayState(a), displayState(b)), cmp.Compare(a.ProtoNum, b.ProtoNum))
		})
	case "t":
		return missingLast(a.TTL == nil, b.TTL == nil, func() int { return cmp.Compare(*a.TTL, *b.TTL) })
	case "b", "P":
		am, bm := a.OrigBytes == nil, b.OrigBytes == nil
		return missingLast(am, bm, func() int {
			// Biggest first.
			if key == "b" {
				return cmp.Compare(*b.OrigBytes+*b.ReplyBytes, *a.OrigBytes+*a.ReplyBytes)
			}
			return cmp.Compare(*b.OrigPackets+*b.ReplyPackets, *a.OrigPackets+*a.ReplyPackets)
		})
	}
	panic("unknown key " + key)
}

// phase numbers the phases the JSON's status fields give, in the order a
// flow goes through them: unreplied, replied, assured, offloaded.
func phase(r *record) int {
	switch {
	case r.Offload:
		return 3
	case r.Assured:
		return 2
	case !r.Unreplied:
		return 1
	}
	return 0
}

// displayState is what the State column shows (after ICMP's type and code):
// the protocol state, or the phase for protocols without states.
func displayState(r *record) string {
	if r.State != nil {
		return *r.State
	}
	return []string{"UNREPLIED", "REPLIED", "ASSURED", "OFFLOAD"}[phase(r)]
}

// compareAddr orders IPv4 before IPv6, then numerically.
func compareAddr(fa, a, fb, b string) int {
	return cmp.Or(strings.Compare(fa, fb), netip.MustParseAddr(a).Compare(netip.MustParseAddr(b)))
}

// compareProto orders protocols by name, then number.
func compareProto(a, b *record) int {
	return cmp.Or(strings.Compare(a.Proto, b.Proto), cmp.Compare(a.ProtoNum, b.ProtoNum))
}

// rawSport and rawDport are the tuple's 16-bit fields whatever they mean:
// ports, the ICMP id, GRE keys.
func rawSport(r *record) uint16 {
	switch {
	case r.Sport != nil:
		return *r.Sport
	case r.ICMP != nil:
		return r.ICMP.ID
	case r.GRE != nil:
		return r.GRE.SrcKey
	}
	return 0
}

func rawDport(r *record) uint16 {
	switch {
	case r.Dport != nil:
		return *r.Dport
	case r.GRE != nil:
		return r.GRE.DstKey
	}
	return 0
}

func icmpType(r *record) uint8 {
	if r.ICMP != nil {
		return r.ICMP.Type
	}
	return 0
}

func icmpCode(r *record) uint8 {
	if r.ICMP != nil {
		return r.ICMP.Code
	}
	return 0
}

// TestLookupNames runs -l on a dump of loopback flows inside a private
// namespace, so that no query can leave the machine: the names come from
// /etc/hosts, and -l hides DNS flows as iptstate's does.
func TestLookupNames(t *testing.T) {
	hosts, err := os.ReadFile("/etc/hosts")
	if err != nil || !regexp.MustCompile(`(?m)^127\.0\.0\.1\s+\S`).Match(hosts) {
		t.Skip("/etc/hosts names no 127.0.0.1")
	}
	ns := nstest.New(t)
	dump := filepath.Join(t.TempDir(), "dump.txt")
	lines := "ipv4     2 tcp      6 100 TIME_WAIT src=127.0.0.1 dst=127.0.0.1 sport=5000 dport=6000 src=127.0.0.1 dst=127.0.0.1 sport=6000 dport=5000 [ASSURED] mark=0 zone=0 use=2\n" +
		"ipv4     2 udp      17 20 src=127.0.0.1 dst=127.0.0.1 sport=5353 dport=53 src=127.0.0.1 dst=127.0.0.1 sport=53 dport=5353 mark=0 zone=0 use=2\n"
	if err := os.WriteFile(dump, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	bin, err := exec.LookPath("gostate")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := execContext(ctx, ns.Command(bin, "-1", "-l", "--no-header", "--file", dump))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gostate -l: %v", err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(got) != 1 || strings.Contains(got[0], "127.0.0.1") || !strings.Contains(got[0], ":5000") || !strings.Contains(got[0], ":6000") {
		t.Errorf("want the TCP flow alone with names instead of 127.0.0.1, got %q", out)
	}
}

// TestKernelStatsInNamespace: in a private namespace the kernel shows the
// global limit read-only, even to root, and --stats says so, and that the
// namespace is not the initial one, whether gostate enters it (--netns) or
// runs inside it.
func TestKernelStatsInNamespace(t *testing.T) {
	ns := nstest.New(t)
	// As root, kthreadd's namespace (the initial one) can be compared with
	// the reader's; where even root may not open it, nothing is said.
	wantInitial := "false"
	if _, err := os.Stat("/proc/2/ns/net"); err != nil {
		t.Logf("the initial namespace cannot be compared: %v", err)
		wantInitial = "<nil>"
	}
	bin, err := exec.LookPath("gostate")
	if err != nil {
		t.Fatal(err)
	}
	for name, cmd := range map[string]*exec.Cmd{
		"--netns": gostateCmd(t, "--netns", ns.Name(), "--stats"),
		"inside":  ns.Command(bin, "--stats"),
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var stderr bytes.Buffer
		c := execContext(ctx, cmd)
		c.Stderr = &stderr
		out, err := c.Output()
		cancel()
		if err != nil {
			t.Fatalf("%s: %v: %s", name, err, stderr.String())
		}
		var st struct {
			Max          int
			MaxWritable  *bool `json:"max_writable"`
			InitialNetNS *bool `json:"initial_netns"`
		}
		if err := json.Unmarshal(out, &st); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		show := func(b *bool) string {
			if b == nil {
				return "<nil>"
			}
			return strconv.FormatBool(*b)
		}
		if st.Max <= 0 || show(st.MaxWritable) != "false" || show(st.InitialNetNS) != wantInitial {
			t.Errorf("%s: max %d, max_writable %s, initial_netns %s; want a max, false, %s\n%s",
				name, st.Max, show(st.MaxWritable), show(st.InitialNetNS), wantInitial, out)
		}
	}
}

// TestKernelCountersOff: with accounting off in a private namespace, the
// kernel's flows have no counters, and -C, -b b and -b P say how to turn it
// on, on stderr, without changing it; with it on they say nothing.
func TestKernelCountersOff(t *testing.T) {
	for _, acct := range []string{"0", "1"} {
		ns := nstest.New(t)
		// Per namespace, and only for flows created afterwards: set before
		// any entry exists.
		ns.Exec(t, "sysctl", "-q", "-w", "net.netfilter.nf_conntrack_acct="+acct)
		ns.InsertSynthetic(t)
		for _, args := range [][]string{{"-1", "-C"}, {"-1", "-b", "b"}, {"--json", "-b", "P"}, {"-1"}} {
			args = append([]string{"--netns", ns.Name()}, args...)
			status, stderr := runExit(t, gostateCmd(t, args...))
			want := ""
			if acct == "0" && slices.ContainsFunc(args, func(a string) bool { return a == "-C" || a == "b" || a == "P" }) {
				want = "gostate: counters are off: sysctl -w net.netfilter.nf_conntrack_acct=1 (per namespace; counts new flows only)\n"
			}
			if status != exitOK || stderr != want {
				t.Errorf("nf_conntrack_acct=%s, gostate %s: exit status %d, stderr %q; want 0, %q", acct, strings.Join(args, " "), status, stderr, want)
			}
		}
		if got := strings.TrimSpace(ns.Exec(t, "sysctl", "-n", "net.netfilter.nf_conntrack_acct")); got != acct {
			t.Errorf("nf_conntrack_acct is %s after gostate ran, was %s", got, acct)
		}
	}
}

// TestKernelRowsAndFilters reads a private namespace's table with gostate
// -1 as an admin would: the State column of UDP and ICMP, --state
// unreplied (a TCP SYN_SENT flow among the UDP ones), --mark, --zone, and
// --host finding a NAT'd flow by the address the kernel rewrote it to.
func TestKernelRowsAndFilters(t *testing.T) {
	ns := nstest.New(t)
	ns.InsertSynthetic(t)
	// InsertSynthetic has UDP assured and unreplied; add one that saw a
	// reply and is not assured yet.
	replied := conntrack.NewFlow(17, conntrack.StatusConfirmed|conntrack.StatusSeenReply,
		netip.MustParseAddr("192.0.2.15"), netip.MustParseAddr("203.0.113.53"), 53002, 53, 3600, 0)
	if err := ns.Conn(t).Create(replied); err != nil {
		t.Fatalf("insert a replied UDP flow: %v", err)
	}
	nat := ns.NATFlow(t)

	// rows runs gostate -1 without the header and returns its rows, each
	// split into fields, keyed by source endpoint plus destination.
	rows := func(args ...string) map[string][]string {
		t.Helper()
		out := runOK(t, append([]string{"--netns", ns.Name(), "-1", "--no-header"}, args...)...)
		m := map[string][]string{}
		for line := range strings.Lines(string(out)) {
			f := strings.Fields(line)
			if len(f) < 2 {
				t.Fatalf("%v: row %q", args, line)
			}
			m[f[0]+" "+f[1]] = f
		}
		return m
	}
	ttl := regexp.MustCompile(`^\d+:\d\d:\d\d$`)
	// state is the State column: the fields between the protocol and the TTL.
	state := func(f []string) string {
		for i := 3; i < len(f); i++ {
			if ttl.MatchString(f[i]) {
				return strings.Join(f[3:i], " ")
			}
		}
		return ""
	}
	const (
		udpAssured   = "192.0.2.11:53000 198.51.100.53:53"
		udpUnreplied = "192.0.2.12:53001 203.0.113.9:123"
		udpReplied   = "192.0.2.15:53002 203.0.113.53:53"
		udp6Lost     = "[2001:db8::11]:40101 [2001:db8::53]:53"
		ping         = "192.0.2.13 203.0.113.1"
		synSent      = "192.0.2.10:40001 198.51.100.20:443"
		tcpNone      = "192.0.2.10:40000 198.51.100.20:443"
		established  = "192.0.2.10:40003 198.51.100.20:443"
		zone7        = "192.0.2.14:40200 198.51.100.80:80"
	)

	all := rows("--proto", "udp,icmp")
	for key, want := range map[string]string{udpAssured: "ASSURED", udpUnreplied: "UNREPLIED", udpReplied: "REPLIED",
		udp6Lost: "UNREPLIED", ping: "8/0 4242 REPLIED"} {
		if f, ok := all[key]; !ok || state(f) != want {
			t.Errorf("%s: row %q, want the state %q", key, f, want)
		}
	}

	// --state unreplied tests the status bit whatever the protocol.
	lost := rows("--state", "unreplied")
	for _, key := range []string{udpUnreplied, udp6Lost, synSent, tcpNone} {
		if _, ok := lost[key]; !ok {
			t.Errorf("--state unreplied: no row %s in %v", key, lost)
		}
	}
	for _, key := range []string{udpAssured, udpReplied, ping, established} {
		if f, ok := lost[key]; ok {
			t.Errorf("--state unreplied shows %q", f)
		}
	}

	// Marks: the Mark column appears, in decimal; VALUE/MASK as iptables.
	for _, c := range []struct {
		mark string
		want []string
	}{
		{"42", []string{established}},
		{"0x2a", []string{established}},
		{"7", []string{udpAssured, zone7}},
		{"0xad/0xff", []string{"[2001:db8::10]:40100 [2001:db8::20]:22"}},
	} {
		got := rows("--mark", c.mark)
		if len(got) != len(c.want) {
			t.Errorf("--mark %s: %d rows, want %d: %v", c.mark, len(got), len(c.want), got)
		}
		for _, key := range c.want {
			if _, ok := got[key]; !ok {
				t.Errorf("--mark %s: no row %s in %v", c.mark, key, got)
			}
		}
	}
	if f := rows("--mark", "42")[established]; len(f) < 6 || f[5] != "42" {
		t.Errorf("--mark 42: row %q, want the Mark column to say 42", f)
	}

	// The same tuple is in zones 0 and 7: --zone tells them apart, and the
	// Zone column shows which.
	if got := rows("--zone", "7"); len(got) != 1 || len(got[zone7]) < 7 || got[zone7][6] != "7" {
		t.Errorf("--zone 7: %v, want the zone-7 row alone, its Zone column 7", got)
	}
	if got := rows("--zone", "0", "-s", "192.0.2.14"); len(got) != 1 || len(got[zone7]) != 5 {
		t.Errorf("--zone 0 -s 192.0.2.14: %v, want the zone-0 row alone, without Mark and Zone columns", got)
	}

	// --host finds the NAT'd flow by its reply source, the address DNAT
	// sent it to; -d, which reads the original tuple, does not.
	natKey := nat.Client.String() + " " + nat.Orig.String()
	backend := nat.Translated.Addr().String()
	if f, ok := rows("--host", backend)[natKey]; !ok || f[len(f)-1] != nat.Translated.String() {
		t.Errorf("--host %s: NAT'd row %q, want it, with dnat %s", backend, f, nat.Translated)
	}
	if f, ok := rows("-d", backend)[natKey]; ok {
		t.Errorf("-d %s shows the NAT'd row %q: -d reads the original tuple", backend, f)
	}
	if f, ok := rows("--host", backend, "-i")[natKey]; ok {
		t.Errorf("--host %s -i shows the NAT'd row %q", backend, f)
	}
}
