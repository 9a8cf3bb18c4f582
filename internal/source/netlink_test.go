package source

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/nstest"
	"golang.org/x/sys/unix"
)

// The tests in this file need root and create private network namespaces
// (nstest skips them, saying why, otherwise). Every entry they insert, read
// or delete lives in such a namespace.

// nlInsert inserts one entry with conntrack -I inside ns.
func nlInsert(t *testing.T, ns *nstest.NS, args ...string) {
	t.Helper()
	ns.Exec(t, append([]string{"conntrack", "-I"}, args...)...)
}

// nlInsertFew inserts the entries the tests below look for: IPv4 and IPv6
// TCP, UDP in a zone, ICMP, ICMPv6, with a mark.
func nlInsertFew(t *testing.T, ns *nstest.NS) {
	nlInsert(t, ns, "-p", "tcp", "-s", "192.0.2.1", "-d", "198.51.100.2", "--sport", "40000", "--dport", "80",
		"--state", "ESTABLISHED", "-t", "300", "-u", "SEEN_REPLY,ASSURED", "-m", "7")
	nlInsert(t, ns, "-p", "tcp", "-s", "2001:db8::1", "-d", "2001:db8::2", "--sport", "50000", "--dport", "22",
		"--state", "SYN_SENT", "-t", "120")
	nlInsert(t, ns, "-p", "udp", "-s", "192.0.2.3", "-d", "203.0.113.4", "--sport", "5353", "--dport", "53", "-t", "30", "-w", "5")
	nlInsert(t, ns, "-p", "icmp", "-s", "192.0.2.1", "-d", "198.51.100.2", "--icmp-type", "8", "--icmp-code", "0",
		"--icmp-id", "1234", "-t", "30")
	nlInsert(t, ns, "-p", "icmpv6", "-s", "2001:db8::1", "-d", "2001:db8::2", "--icmpv6-type", "128",
		"--icmpv6-code", "0", "--icmpv6-id", "77", "-t", "30")
}

// nlCount returns the number of entries in ns's table, as conntrack -C
// counts them.
func nlCount(t *testing.T, ns *nstest.NS) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(ns.Exec(t, "conntrack", "-C")))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// nlFind returns the row with the given protocol and original source port
// (ICMP id), or fails the test.
func nlFind(t *testing.T, tab *flow.Table, proto uint8, sport uint16) *flow.Flow {
	t.Helper()
	for i := range tab.Flows {
		if f := &tab.Flows[i]; f.Proto == proto && f.Orig.SrcPort == sport {
			return f
		}
	}
	t.Fatalf("no %s flow with source port %d among %d rows", flow.ProtoName(proto), sport, len(tab.Flows))
	return nil
}

func nlOpen(t *testing.T, netns string) *NetlinkReader {
	t.Helper()
	r, err := openNetlinkReader(netns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestNetlinkRead(t *testing.T) {
	ns := nstest.New(t)
	nlInsertFew(t, ns)
	r := nlOpen(t, ns.Name())
	var tab flow.Table
	if err := r.Read(&tab); err != nil {
		t.Fatal(err)
	}
	if len(tab.Flows) != 5 || tab.Stats.Entries != 5 || tab.Skipped != 0 {
		t.Fatalf("got %d rows, %d entries, %d skipped; want 5, 5, 0", len(tab.Flows), tab.Stats.Entries, tab.Skipped)
	}
	if tab.Source != "netlink" || tab.ReadAt.IsZero() || tab.Frozen || len(tab.Timeouts) == 0 || tab.Stats.Max == 0 {
		t.Errorf("table: source %q, read at %v, frozen %v, %d timeouts, max %d",
			tab.Source, tab.ReadAt, tab.Frozen, len(tab.Timeouts), tab.Stats.Max)
	}

	tcp := nlFind(t, &tab, flow.ProtoTCP, 40000)
	if tcp.Family != flow.FamilyIPv4 || tcp.StateName() != "ESTABLISHED" || tcp.Mark != 7 || !tcp.Assured() ||
		tcp.Timeout < 290 || tcp.Timeout > 300 || tcp.Orig.Dst != flow.AddrFrom(netip.MustParseAddr("198.51.100.2")) ||
		tcp.Reply.SrcPort != 80 || tcp.Present&flow.HasID == 0 {
		t.Errorf("ipv4 tcp: %+v", *tcp)
	}
	tcp6 := nlFind(t, &tab, flow.ProtoTCP, 50000)
	if tcp6.Family != flow.FamilyIPv6 || tcp6.StateName() != "SYN_SENT" || !tcp6.Unreplied() ||
		tcp6.Orig.Src != flow.AddrFrom(netip.MustParseAddr("2001:db8::1")) {
		t.Errorf("ipv6 tcp: %+v", *tcp6)
	}
	if udp := nlFind(t, &tab, flow.ProtoUDP, 5353); udp.Zone != 5 || udp.Present&flow.HasState != 0 {
		t.Errorf("udp: %+v", *udp)
	}
	if icmp := nlFind(t, &tab, flow.ProtoICMP, 1234); icmp.Orig.ICMPType != 8 || icmp.Reply.ICMPType != 0 {
		t.Errorf("icmp: %+v", *icmp)
	}
	if icmp6 := nlFind(t, &tab, flow.ProtoICMPv6, 77); icmp6.Orig.ICMPType != 128 || icmp6.Family != flow.FamilyIPv6 {
		t.Errorf("icmpv6: %+v", *icmp6)
	}

	// A second read reuses the rows' storage.
	before := &tab.Flows[0]
	if err := r.Read(&tab); err != nil {
		t.Fatal(err)
	}
	if len(tab.Flows) != 5 || &tab.Flows[0] != before {
		t.Errorf("second read: %d rows, storage reused: %v", len(tab.Flows), &tab.Flows[0] == before)
	}
}

// TestNetlinkNetNSForms opens the same namespace by name, by its file under
// /var/run/netns, and as /proc/PID/ns/net of a process inside it.
func TestNetlinkNetNSForms(t *testing.T) {
	ns := nstest.New(t)
	nlInsertFew(t, ns)
	sleeper := ns.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	// `ip netns exec` enters the namespace and then executes sleep in the
	// same process.
	procPath := fmt.Sprintf("/proc/%d/ns/net", sleeper.Process.Pid)
	waitNetNS(t, procPath, ns.Path())

	for _, spec := range []string{ns.Name(), ns.Path(), procPath} {
		r := nlOpen(t, spec)
		var tab flow.Table
		if err := r.Read(&tab); err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if len(tab.Flows) != 5 || tab.Stats.Entries != 5 {
			t.Errorf("%s: %d rows, %d entries; want 5 of the namespace's", spec, len(tab.Flows), tab.Stats.Entries)
		}
	}
}

// waitNetNS waits until the namespace file path refers to the same namespace
// as want (a process started with `ip netns exec` gets there after a moment).
func waitNetNS(t *testing.T, path, want string) {
	t.Helper()
	for range 200 {
		a, errA := exec.Command("stat", "-L", "-c", "%i", path).Output()
		b, errB := exec.Command("stat", "-L", "-c", "%i", want).Output()
		if errA == nil && errB == nil && string(a) == string(b) {
			return
		}
		exec.Command("sleep", "0.01").Run()
	}
	t.Fatalf("%s never entered %s", path, want)
}

func TestNetNSErrors(t *testing.T) {
	for spec, want := range map[string]string{
		"gostate-no-such-ns": "netns gostate-no-such-ns: no such namespace under /var/run/netns",
		"/nonexistent/ns":    "netns /nonexistent/ns: no such file",
		"/etc/hostname":      "netns /etc/hostname: /etc/hostname is not a network namespace",
		"/proc/self/ns/uts":  "netns /proc/self/ns/uts: /proc/self/ns/uts is not a network namespace",
	} {
		_, err := openNetlinkReader(spec)
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want %q", spec, err, want)
		}
		_, err = Open(Options{NetNS: spec})
		if !errors.Is(err, ErrUnavailable) || err.Error() != want {
			t.Errorf("Open %s: got %v, want %q wrapping ErrUnavailable", spec, err, want)
		}
	}
}

func TestNetlinkDelete(t *testing.T) {
	ns := nstest.New(t)
	nlInsertFew(t, ns)
	r := nlOpen(t, ns.Path())
	var tab flow.Table
	if err := r.Read(&tab); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		proto uint8
		sport uint16
	}{{flow.ProtoTCP, 40000}, {flow.ProtoTCP, 50000}, {flow.ProtoUDP, 5353}, {flow.ProtoICMPv6, 77}} {
		f := *nlFind(t, &tab, want.proto, want.sport)
		n := nlCount(t, ns)
		if err := r.Delete(&f); err != nil {
			t.Fatalf("%s %s %d: %v", f.Family, f.ProtoName(), f.Orig.SrcPort, err)
		}
		if got := nlCount(t, ns); got != n-1 {
			t.Errorf("%s %s: count %d after delete, want %d", f.Family, f.ProtoName(), got, n-1)
		}
		if err := r.Delete(&f); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s %s: second delete gave %v, want ErrNotFound", f.Family, f.ProtoName(), err)
		}
	}
}

// TestNetlinkDeleteChecksID: a row whose ID is not the entry's (the entry was
// replaced by a newer one with the same original tuple) deletes nothing. The
// test changes the row's ID rather than replacing the entry, because the
// kernel's ID hashes only the entry's address and original tuple: a new entry
// that reuses the old one's memory can get the same ID.
func TestNetlinkDeleteChecksID(t *testing.T) {
	ns := nstest.New(t)
	nlInsertFew(t, ns)
	r := nlOpen(t, ns.Name())
	var tab flow.Table
	if err := r.Read(&tab); err != nil {
		t.Fatal(err)
	}
	f := *nlFind(t, &tab, flow.ProtoTCP, 40000)
	f.ID ^= 1
	if err := r.Delete(&f); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete with another ID: got %v, want ErrNotFound", err)
	}
	if n := nlCount(t, ns); n != 5 {
		t.Errorf("count %d after refusing the delete, want 5", n)
	}
}

func TestNetlinkRefresh(t *testing.T) {
	ns := nstest.New(t)
	nlInsertFew(t, ns)
	r := nlOpen(t, ns.Name())
	var tab flow.Table
	if err := r.Read(&tab); err != nil {
		t.Fatal(err)
	}
	rows := []flow.Flow{
		*nlFind(t, &tab, flow.ProtoTCP, 40000),
		*nlFind(t, &tab, flow.ProtoTCP, 50000),
		*nlFind(t, &tab, flow.ProtoUDP, 5353),
		*nlFind(t, &tab, flow.ProtoICMP, 1234),
		*nlFind(t, &tab, flow.ProtoICMPv6, 77),
	}
	if err := r.Refresh(nil, nil); err != nil {
		t.Fatalf("Refresh(nil, nil): %v, want nil: the netlink source can look rows up", err)
	}
	ns.Exec(t, "conntrack", "-U", "-p", "tcp", "-s", "192.0.2.1", "--sport", "40000", "-t", "5000", "-m", "9")
	ns.Exec(t, "conntrack", "-D", "-p", "udp", "-s", "192.0.2.3")
	vanished := rows[2]
	// Stale values Refresh must overwrite.
	res := []Lookup{LookupGone, LookupUnknown, LookupFound, LookupGone, LookupUnknown}
	if err := r.Refresh(rows, res); err != nil {
		t.Fatal(err)
	}
	if want := []Lookup{LookupFound, LookupFound, LookupGone, LookupFound, LookupFound}; !slices.Equal(res, want) {
		t.Errorf("results: got %v, want %v", res, want)
	}
	if rows[0].Timeout < 4990 || rows[0].Mark != 9 {
		t.Errorf("updated tcp row: timeout %d mark %d, want ~5000 and 9", rows[0].Timeout, rows[0].Mark)
	}
	if rows[2] != vanished {
		t.Errorf("the vanished row changed: %+v", rows[2])
	}
	if err := r.Refresh(rows, res[:2]); err == nil {
		t.Error("Refresh with room for too few results gave no error")
	}
}

// Lookup answers that cannot be used leave their rows unknown and unchanged:
// an entry that cannot be decoded is no evidence that the row is current.
func TestLookupAnswers(t *testing.T) {
	type msg = struct {
		typ, flags uint16
		data       []byte
	}
	captured := nlCaptured(t)
	const ctNew = unix.NFNL_SUBSYS_CTNETLINK << 8
	errno := func(e unix.Errno) []byte { return binary.NativeEndian.AppendUint32(nil, uint32(-int32(e))) }
	const first = 100
	var d []byte
	for i, m := range []msg{
		{ctNew, 0, captured[0]},  // an entry
		{ctNew, 0, []byte{2, 0}}, // an entry that cannot be decoded
		{unix.NLMSG_ERROR, 0, errno(unix.ENOENT)},
		{unix.NLMSG_ERROR, 0, errno(unix.EPERM)},
		{ctNew | ctMsgGet, 0, captured[1]},    // the kernel answers a lookup as IPCTNL_MSG_CT_GET
		{unix.NLMSG_DONE, 0, make([]byte, 4)}, // not an answer to a lookup
	} {
		d = append(d, nlDatagram(first+uint32(i), m)...)
	}
	d = append(d, nlDatagram(first-1, msg{ctNew, 0, captured[2]})...) // of an earlier request
	before := make([]flow.Flow, 6)
	for i := range before {
		before[i] = nlGolden[3]
		before[i].Mark = uint32(i) + 1000
	}
	rows := slices.Clone(before)
	res := []Lookup{LookupGone, LookupFound, LookupFound, LookupFound, LookupGone, LookupFound}
	var scratch flow.Flow
	n, err := lookupAnswers(d, first, rows, res, &scratch)
	if n != 6 || !errors.Is(err, unix.EPERM) {
		t.Errorf("%d answers, error %v; want 6 and EPERM", n, err)
	}
	if want := []Lookup{LookupFound, LookupUnknown, LookupGone, LookupUnknown, LookupFound, LookupUnknown}; !slices.Equal(res, want) {
		t.Errorf("results %v, want %v", res, want)
	}
	for i, want := range []flow.Flow{nlGolden[0], before[1], before[2], before[3], nlGolden[1], before[5]} {
		if rows[i] != want {
			t.Errorf("row %d (%v):\n got %+v\nwant %+v", i, res[i], rows[i], want)
		}
	}
}

// A dump that fails mid-way leaves the kernel busy with it on the dump
// socket; the next read must give the whole table all the same.
func TestNetlinkReadAfterFailedDump(t *testing.T) {
	const n = 3000
	ns := nstest.New(t)
	ns.Fill(t, n)
	r := nlOpen(t, ns.Name())
	datagrams := 0
	r.onDatagram = func(int) error { datagrams++; return nil }
	var tab flow.Table
	if err := r.Read(&tab); err != nil || len(tab.Flows) != n {
		t.Fatalf("first read: %d rows, %v; want %d", len(tab.Flows), err, n)
	}
	errInjected := errors.New("injected receive error")
	for _, c := range []struct {
		name    string
		at      int // the datagram whose receive fails
		batches bool
	}{
		{"Read, first datagram", 1, false},
		{"Read, third datagram", 3, false},
		{"ReadBatches, second datagram", 2, true},
	} {
		if c.at >= datagrams {
			t.Fatalf("%s: a whole dump takes %d datagrams; the failure would not be mid-way", c.name, datagrams)
		}
		r.onDatagram = func(i int) error {
			if i == c.at {
				return errInjected
			}
			return nil
		}
		var err error
		if c.batches {
			err = r.ReadBatches(&tab, 100, func([]flow.Flow) bool { return true })
		} else {
			err = r.Read(&tab)
		}
		if !errors.Is(err, errInjected) {
			t.Fatalf("%s: the failing read gave %v, want the injected error", c.name, err)
		}
		r.onDatagram = nil
		if err := r.Read(&tab); err != nil || len(tab.Flows) != n {
			t.Fatalf("%s: the read after a failed dump gave %d rows, %v; want %d", c.name, len(tab.Flows), err, n)
		}
	}
}

// TestOpenFallback runs this test binary inside a namespace as root without
// capabilities (netlink refuses it; root still owns /proc/net/nf_conntrack)
// and as nobody (nothing is readable), and checks what Open says.
func TestOpenFallback(t *testing.T) {
	if childMode := getenvChild(); childMode != "" {
		nlOpenChild(childMode)
		return
	}
	ns := nstest.New(t)
	nlInsertFew(t, ns)
	bin := nlExecutableCopy(t)
	run := func(mode string, setpriv ...string) string {
		argv := append([]string{"setpriv"}, setpriv...)
		argv = append(argv, "env", "GOSTATE_OPEN_CHILD="+mode, bin, "-test.run=^TestOpenFallback$")
		out, err := ns.Command(argv...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", mode, err, out)
		}
		return string(out)
	}
	noCaps := []string{"--bounding-set=-all", "--inh-caps=-all"}
	nobody := []string{"--reuid=65534", "--regid=65534", "--clear-groups"}
	// A user who is not root but holds CAP_NET_ADMIN (as a binary with the
	// file capability, or the exporter's systemd unit, runs): the rows over
	// netlink.
	nobodyNetAdmin := append(slices.Clone(nobody), "--inh-caps=+net_admin", "--ambient-caps=+net_admin")

	for _, c := range []struct {
		mode    string
		setpriv []string
		want    string
	}{
		{"auto", noCaps, "rows=5 warnings=[netlink: operation not permitted; reading /proc/net/nf_conntrack]"},
		{"netlink", noCaps, "err=cannot read the conntrack table: netlink: operation not permitted (netlink needs CAP_NET_ADMIN: run as root or with CAP_NET_ADMIN) unavailable=true"},
		{"proc", noCaps, "rows=5 warnings=[]"},
		{"netlink", nobodyNetAdmin, "rows=5 warnings=[]"},
		{"auto", nobodyNetAdmin, "rows=5 warnings=[]"},
		{"auto", nobody, "err=cannot read the conntrack table: netlink: operation not permitted; /proc/net/nf_conntrack: permission denied (legacy /proc/net/ip_conntrack: no such file or directory) (run as root: netlink needs CAP_NET_ADMIN, and /proc/net/nf_conntrack is readable by root only) unavailable=true"},
		// With HealthFallback the health stands in: world-readable, but
		// the rows are refused as above.
		{"health auto", nobody, "entries=5 max=true source=/proc (health only) warnings=[rows need CAP_NET_ADMIN or root: showing the table's health only] " +
			"read=cannot read the conntrack table: netlink: operation not permitted; /proc/net/nf_conntrack: permission denied (legacy /proc/net/ip_conntrack: no such file or directory) (run as root: netlink needs CAP_NET_ADMIN, and /proc/net/nf_conntrack is readable by root only) " +
			"healthonly=true unavailable=true eperm=true"},
		{"health netlink", noCaps, "entries=5 max=true source=/proc (health only) warnings=[rows need CAP_NET_ADMIN or root: showing the table's health only] " +
			"read=cannot read the conntrack table: netlink: operation not permitted (netlink needs CAP_NET_ADMIN: run as root or with CAP_NET_ADMIN) " +
			"healthonly=true unavailable=true eperm=true"},
		{"health proc", nobody, "entries=5 max=true source=/proc (health only) warnings=[rows need root: showing the table's health only] " +
			"read=cannot read the conntrack table: /proc/net/nf_conntrack: permission denied (legacy /proc/net/ip_conntrack: no such file or directory) (/proc/net/nf_conntrack is readable by root only: run as root) " +
			"healthonly=true unavailable=true eperm=false"},
		// Where the rows can be read, HealthFallback changes nothing.
		{"health auto", noCaps, "rows=5 warnings=[netlink: operation not permitted; reading /proc/net/nf_conntrack]"},
	} {
		if got := run(c.mode, c.setpriv...); !strings.Contains(got, "RESULT "+c.want+"\n") {
			t.Errorf("%s %v:\n got %s\nwant RESULT %s", c.mode, c.setpriv, got, c.want)
		}
	}
}

// getenvChild returns the mode TestOpenFallback runs this binary in, or "".
func getenvChild() string { return os.Getenv("GOSTATE_OPEN_CHILD") }

// nlOpenChild opens the source named by mode ("health KIND" asks for
// Options.HealthFallback) in the process's own namespace, reads once and
// prints one RESULT line for the parent to check.
func nlOpenChild(mode string) {
	kind, health := strings.CutPrefix(mode, "health ")
	r, err := Open(Options{Kind: Kind(kind), HealthFallback: health})
	if err == nil && health {
		var sum, tab flow.Table
		if serr := r.ReadSummary(&sum); serr != nil {
			fmt.Printf("RESULT summary=%v\n", serr)
			return
		}
		if rerr := r.Read(&tab); rerr != nil {
			fmt.Printf("RESULT entries=%d max=%v source=%s warnings=%v read=%v healthonly=%v unavailable=%v eperm=%v\n",
				sum.Stats.Entries, sum.Stats.Max > 0, sum.Source, sum.Warnings, rerr,
				errors.Is(rerr, ErrHealthOnly), errors.Is(rerr, ErrUnavailable), errors.Is(rerr, unix.EPERM))
			return
		}
	}
	if err == nil {
		var tab flow.Table
		if err = r.Read(&tab); err == nil {
			fmt.Printf("RESULT rows=%d warnings=%v\n", len(tab.Flows), tab.Warnings)
			r.Close()
			return
		}
	}
	fmt.Printf("RESULT err=%v unavailable=%v\n", err, errors.Is(err, ErrUnavailable))
}

// nlExecutableCopy copies the test binary where any user may run it.
func nlExecutableCopy(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "gostate-source-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "source.test")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// BenchmarkDump reads a namespace of 10,000 entries; ns/op is one whole dump
// (divide by 10,000 for an entry). The sub-benchmarks vary the size of each
// receive, which sets the size of the datagrams the kernel sends, and the
// number of receive buffers: with one, receiving and decoding take turns;
// with more, they overlap.
func BenchmarkDump(b *testing.B) {
	const n = 10000
	ns := nstest.New(b)
	ns.Fill(b, n)
	r, err := openNetlinkReader(ns.Name())
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	for _, size := range []int{4 << 10, 8 << 10, 16 << 10, recvBufferSize} {
		for _, ring := range []int{1, dumpRing} {
			b.Run(fmt.Sprintf("buf=%dK/ring=%d", size>>10, ring), func(b *testing.B) {
				r.free = make(chan []byte, ring)
				for range ring {
					r.free <- make([]byte, size)
				}
				var tab flow.Table
				b.ReportAllocs()
				for b.Loop() {
					if err := r.Read(&tab); err != nil {
						b.Fatal(err)
					}
					if len(tab.Flows) != n {
						b.Fatalf("read %d rows, want %d", len(tab.Flows), n)
					}
				}
			})
		}
	}
}

// BenchmarkRefresh looks up 50 rows by tuple, as the live screen does for the
// rows on screen.
func BenchmarkRefresh(b *testing.B) {
	ns := nstest.New(b)
	ns.Fill(b, 1000)
	r, err := openNetlinkReader(ns.Name())
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	var tab flow.Table
	if err := r.Read(&tab); err != nil {
		b.Fatal(err)
	}
	rows := slices.Clone(tab.Flows[:50])
	res := make([]Lookup, len(rows))
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Refresh(rows, res); err != nil {
			b.Fatal(err)
		}
	}
	if slices.ContainsFunc(res, func(l Lookup) bool { return l != LookupFound }) {
		b.Fatalf("a filled entry was not found: %v", res)
	}
}

// TestNetlinkConcurrent reads, refreshes, reads the health and deletes at the
// same time, as the live screen does (dumps off the UI goroutine, deletes
// and lookups on it, the health on another); run with -race it checks the
// reader's locking.
func TestNetlinkConcurrent(t *testing.T) {
	ns := nstest.New(t)
	ns.Fill(t, 2000)
	r := nlOpen(t, ns.Name())
	var first flow.Table
	if err := r.Read(&first); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		var tab flow.Table
		for range 5 {
			if err := r.Read(&tab); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	rows := slices.Clone(first.Flows[:100])
	res := make([]Lookup, len(rows))
	var sum flow.Table
	for i := range 20 {
		if err := r.Refresh(rows[i*5:i*5+5], res[i*5:i*5+5]); err != nil {
			t.Fatal(err)
		}
		// The health shares the query socket with the lookups.
		if err := r.ReadSummary(&sum); err != nil || sum.Stats.Entries < 2000-20 || !sum.Stats.HaveCPU {
			t.Fatalf("ReadSummary: %v, %d entries, per-CPU statistics %v", err, sum.Stats.Entries, sum.Stats.HaveCPU)
		}
		if err := r.Delete(&rows[i*5]); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if n := nlCount(t, ns); n != 2000-20 {
		t.Errorf("count %d after 20 deletes, want %d", n, 2000-20)
	}
}

// openNetlinkReader opens ctnetlink sockets in the network namespace netns (a
// name under /var/run/netns or a path such as /proc/PID/ns/net; empty for the
// caller's) and checks with a statistics request that the kernel answers.
// Errors read "netlink: operation not permitted" and the like.
func openNetlinkReader(netns string) (*NetlinkReader, error) {
	var ns *netNS
	if netns != "" {
		var err error
		if ns, err = openNetNS(netns); err != nil {
			return nil, err
		}
	}
	r, err := newNetlinkReader(ns)
	if err != nil {
		ns.close()
		return nil, err
	}
	return r, nil
}
