package source

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/gostate/gostate/internal/flow"
	"golang.org/x/sys/unix"
)

// maxFile is where each fixture tree keeps its max.
var maxFile = map[string]string{
	"../../testdata/proc-6.18":   "sys/net/netfilter/nf_conntrack_max",
	"../../testdata/proc-legacy": "sys/net/ipv4/ip_conntrack_max",
}

func TestReadHealth(t *testing.T) {
	for _, tc := range []struct {
		root string
		want flow.Stats
	}{
		{"../../testdata/proc-6.18", flow.Stats{
			Entries: 28, Max: 262144, Buckets: 262144, BytesPerEntry: 256, HaveCPU: true, MemTotal: 8039204 << 10,
			CPU: flow.CPUStats{Insert: 24, Has: flow.AllCounters},
		}},
		// No slabinfo, legacy paths, no thread-self.
		{"../../testdata/proc-legacy", flow.Stats{
			Entries: 7, Max: 32760, BytesPerEntry: EstimatedBytesPerEntry, BytesPerEntryEstimated: true, HaveCPU: true,
			CPU: flow.CPUStats{Found: 0x540, Invalid: 4, Ignore: 0x32, Insert: 0x15, InsertFailed: 1, Drop: 3, EarlyDrop: 1,
				Has: legacyCounters},
		}},
	} {
		// A fixture's max is writable as far as the files are the
		// tester's; what matters here is that it was checked.
		tc.want.MaxWritable = flow.TriNo
		if unix.Access(filepath.Join(tc.root, maxFile[tc.root]), unix.W_OK) == nil {
			tc.want.MaxWritable = flow.TriYes
		}
		got, err := ReadHealth(tc.root)
		if err != nil || got != tc.want {
			t.Errorf("%s:\n got  %+v, %v\n want %+v", tc.root, got, err, tc.want)
		}
	}
}

// TestReadHealthPartial checks that only the count is essential.
func TestReadHealthPartial(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "sys/net/netfilter/nf_conntrack_count"), "5\n")
	got, err := ReadHealth(root)
	want := flow.Stats{Entries: 5, BytesPerEntry: EstimatedBytesPerEntry, BytesPerEntryEstimated: true}
	if err != nil || got != want {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}

	if _, err := ReadHealth(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("without a count: got %v, want ErrNotExist", err)
	}
	writeFile(t, filepath.Join(root, "sys/net/netfilter/nf_conntrack_count"), "many\n")
	if _, err := ReadHealth(root); !errors.Is(err, ErrMalformed) {
		t.Errorf("with a bad count: got %v, want ErrMalformed", err)
	}
}

func TestReadTimeouts(t *testing.T) {
	got, err := ReadTimeouts("../../testdata/proc-6.18")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"generic": 600, "gre": 30, "gre_stream": 180, "icmp": 30, "icmpv6": 30,
		"sctp_closed": 10, "sctp_cookie_echoed": 3, "sctp_cookie_wait": 3, "sctp_established": 210,
		"sctp_heartbeat_sent": 30, "sctp_shutdown_ack_sent": 3, "sctp_shutdown_recd": 3, "sctp_shutdown_sent": 3,
		"tcp_close": 10, "tcp_close_wait": 60, "tcp_established": 432000, "tcp_fin_wait": 120, "tcp_last_ack": 30,
		"tcp_max_retrans": 300, "tcp_syn_recv": 60, "tcp_syn_sent": 120, "tcp_time_wait": 120,
		"tcp_unacknowledged": 300, "udp": 30, "udp_stream": 120,
	}
	checkTimeouts(t, got, want)

	got, err = ReadTimeouts("../../testdata/proc-legacy")
	if err != nil {
		t.Fatal(err)
	}
	checkTimeouts(t, got, map[string]int{"generic": 600, "icmp": 30, "tcp_established": 432000,
		"tcp_syn_sent": 120, "udp": 30, "udp_stream": 180})

	if got, err := ReadTimeouts(t.TempDir()); len(got) != 0 || err != nil {
		t.Errorf("empty tree: got %v, %v; want nothing", got, err)
	}
}

func checkTimeouts(t *testing.T, got []flow.Timeout, want map[string]int) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d timeouts, want %d: %v", len(got), len(want), got)
	}
	for i, to := range got {
		if secs, ok := want[to.Name]; !ok || secs != to.Seconds {
			t.Errorf("got %s=%d, want %d (known: %v)", to.Name, to.Seconds, secs, ok)
		}
		if i > 0 && got[i-1].Name >= to.Name {
			t.Errorf("not sorted: %s before %s", got[i-1].Name, to.Name)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestInitialNetNS decides, from stat results made up for each case, whether
// the caller's network namespace is the initial one.
func TestInitialNetNS(t *testing.T) {
	const nsfs = 4
	ns := func(ino uint64) *unix.Stat_t { return &unix.Stat_t{Dev: nsfs, Ino: ino} }
	const private, other = 0xF0000010, 0xF0000020
	const oldInit = 4026531992 // the initial namespace on a kernel that numbers it like any other
	for _, c := range []struct {
		name  string
		files map[string]*unix.Stat_t // nil: the stat fails
		want  flow.Tristate
	}{
		{"the fixed inode", map[string]*unix.Stat_t{"thread-self/ns/net": ns(netNSInitIno)}, flow.TriYes},
		{"the fixed inode, no thread-self", map[string]*unix.Stat_t{"self/ns/net": ns(netNSInitIno)}, flow.TriYes},
		{"kthreadd's", map[string]*unix.Stat_t{"thread-self/ns/net": ns(oldInit), "self/ns/pid": ns(pidNSInitIno),
			"2/ns/net": ns(oldInit), "1/ns/net": ns(other)}, flow.TriYes},
		{"not kthreadd's", map[string]*unix.Stat_t{"thread-self/ns/net": ns(private), "self/ns/pid": ns(pidNSInitIno),
			"2/ns/net": ns(oldInit), "1/ns/net": ns(private)}, flow.TriNo},
		{"init's, kthreadd's refused", map[string]*unix.Stat_t{"thread-self/ns/net": ns(oldInit), "self/ns/pid": ns(pidNSInitIno),
			"1/ns/net": ns(oldInit)}, flow.TriYes},
		{"not init's, kthreadd's refused", map[string]*unix.Stat_t{"thread-self/ns/net": ns(private), "self/ns/pid": ns(pidNSInitIno),
			"1/ns/net": ns(oldInit)}, flow.TriNo},
		{"same inode, another device", map[string]*unix.Stat_t{"thread-self/ns/net": {Dev: nsfs + 1, Ino: oldInit}, "self/ns/pid": ns(pidNSInitIno),
			"2/ns/net": ns(oldInit)}, flow.TriNo},
		{"both refused", map[string]*unix.Stat_t{"thread-self/ns/net": ns(private), "self/ns/pid": ns(pidNSInitIno)}, flow.TriUnknown},
		{"in a container's PID namespace", map[string]*unix.Stat_t{"thread-self/ns/net": ns(private), "self/ns/pid": ns(other),
			"2/ns/net": ns(private), "1/ns/net": ns(private)}, flow.TriUnknown},
		{"no namespace files", map[string]*unix.Stat_t{}, flow.TriUnknown},
	} {
		stat := func(path string, st *unix.Stat_t) error {
			rel, err := filepath.Rel("/proc", path)
			if err != nil {
				return err
			}
			if f := c.files[rel]; f != nil {
				*st = *f
				return nil
			}
			return unix.EACCES
		}
		if got := initialNetNS("/proc", stat); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}
