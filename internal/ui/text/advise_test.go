package text

import (
	"bufio"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gostate/gostate/internal/advise"
	"github.com/gostate/gostate/internal/flow"
)

// fullInput is a namespace's table 91.6 % full, watched for a second
// without a drop, with a few rows.
func fullInput() *advise.Input {
	est := flow.Flow{Proto: flow.ProtoTCP, State: flow.TCPEstablished, Present: flow.HasState | flow.HasTimeout,
		Status: flow.StatusSeenReply | flow.StatusAssured, Timeout: 3600}
	tw := est
	tw.State, tw.Timeout = flow.TCPTimeWait, 100
	return &advise.Input{
		Stats: flow.Stats{
			Entries: 240000, Max: 262144, Buckets: 262144, BytesPerEntry: 256, HaveCPU: true,
			MaxWritable: flow.TriNo, InitialNetNS: flow.TriNo, MemTotal: 16 << 30,
			CPU: flow.CPUStats{Drop: 7, Has: flow.AllCounters},
		},
		Peak:     240000,
		Grown:    &flow.CPUStats{Has: flow.AllCounters},
		Watched:  time.Second,
		RowsRead: true,
		Rows:     append(slices.Repeat([]flow.Flow{est}, 3), tw),
		Timeouts: []flow.Timeout{{Name: "tcp_established", Seconds: 432000}, {Name: "tcp_time_wait", Seconds: 120}},
	}
}

func TestWriteAdvice(t *testing.T) {
	var b strings.Builder
	w := bufio.NewWriter(&b)
	if err := WriteAdvice(w, advise.Advise(fullInput()), "netlink\x1b[2J", 0); err != nil {
		t.Fatal(err)
	}
	// The source's escape is made safe (termsafe).
	const want = `The table now (source netlink?[2J)
  entries          240,000 of 262,144 (91.6% full)
  peak             240,000 (the larger count of two reads 1.0 s apart)
  buckets          262,144
  bytes per entry  256 (slabinfo object; extensions not counted)
  memory in use    59MiB (entries x bytes per entry)
  RAM              16GiB
  counters so far  drop 7  insert_failed 0  early_drop 0  chaintoolong 0
  while watched    drop +0  insert_failed +0  early_drop +0 in 1.0 s

Verdict: change needed
  - the peak seen (240,000) is 91.6% of the limit (262,144): 50% or more leaves less than twice the peak
  - no drop, insert_failed or early_drop while watched (1.0 s)
  - the counters' totals decide nothing: counted since nf_conntrack was loaded (in another namespace, since it was created), they may date from long ago

Set nf_conntrack_max to 960,000 (4 x the peak of 240,000, rounded up to two significant figures; 3 to 5 times the peak is the usual advice).
Set nf_conntrack_buckets to 960,000 (one per entry, the kernel's default ratio). Changing the buckets of a loaded module rehashes the whole table, which stalls the lookups of every packet while it runs: do it at a quiet time, or set hashsize (below) and reboot.
A full table at 960,000 takes 242MiB (960,000 x 256 B, and 960,000 buckets x 8 B), 1.48% of RAM (at most 5% is suggested).

Now (gostate changes nothing itself):
  nf_conntrack_max and nf_conntrack_buckets are global and read-only in this namespace: the limit is set on the host (the initial network namespace).
  sysctl -w net.netfilter.nf_conntrack_max=960000
  sysctl -w net.netfilter.nf_conntrack_buckets=960000

After a reboot too, in these files:
  /etc/sysctl.d/90-conntrack.conf
      # The conntrack table's limit (gostate --advise).
      net.netfilter.nf_conntrack_max = 960000
  /etc/modules-load.d/conntrack.conf
      # Loaded at boot, so that /etc/sysctl.d/90-conntrack.conf finds nf_conntrack_max.
      nf_conntrack
  /etc/modprobe.d/conntrack.conf
      # The conntrack hash table's buckets, one per entry of the limit.
      options nf_conntrack hashsize=960000

Where the entries are (4 rows read)
  Proto  State        Entries  Share   Timeout  Sysctl
  tcp    ESTABLISHED        3  75.0%  432000 s  nf_conntrack_tcp_timeout_established
  tcp    TIME_WAIT          1  25.0%     120 s  nf_conntrack_tcp_timeout_time_wait

TCP ESTABLISHED idle over 1 h: 3 (no packet for more than 3,600 s of nf_conntrack_tcp_timeout_established = 432000 s; the kernel's default is 432000 s). Shortening it lets idle flows go sooner; a connection silent for longer than it loses its entry.
`
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestWriteAdviceJSON: the figures under the names the README gives, and
// what is unknown left out, never 0.
func TestWriteAdviceJSON(t *testing.T) {
	decode := func(in *advise.Input) map[string]any {
		t.Helper()
		var b strings.Builder
		w := bufio.NewWriter(&b)
		if err := WriteAdviceJSON(w, advise.Advise(in), "netlink"); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(b.String()), &m); err != nil || strings.Count(b.String(), "\n") != 1 {
			t.Fatalf("not one JSON object on a line: %v\n%s", err, b.String())
		}
		return m
	}
	m := decode(fullInput())
	for k, want := range map[string]any{
		"entries": 240000.0, "max": 262144.0, "buckets": 262144.0, "bytes_per_entry": 256.0,
		"memory_bytes": 240000.0 * 256, "peak": 240000.0, "change_needed": true,
		"suggested_max": 960000.0, "suggested_buckets": 960000.0,
		"memory_bytes_at_suggested_max": 960000.0 * 264, "established_idle_over_1h": 3.0,
	} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	if s, _ := m["sysctl"].([]any); len(s) != 2 || s[0] != "sysctl -w net.netfilter.nf_conntrack_max=960000" {
		t.Errorf("sysctl = %v", m["sysctl"])
	}
	if p, _ := m["persist"].([]any); len(p) != 3 || p[0].(map[string]any)["path"] != advise.SysctlFile {
		t.Errorf("persist = %v", m["persist"])
	}
	want := map[string]any{"proto": "tcp", "state": "TIME_WAIT", "entries": 1.0, "share": 25.0, "timeout": 120.0,
		"timeout_sysctl": "nf_conntrack_tcp_timeout_time_wait"}
	if s, _ := m["states"].([]any); len(s) != 2 || !mapsEqual(s[1].(map[string]any), want) {
		t.Errorf("states = %v", m["states"])
	}

	// A saved dump: no limit, buckets, size of an entry, RAM, counters or
	// timeouts.
	in := &advise.Input{Stats: flow.Stats{Entries: 4}, Peak: 4, RowsRead: true, Rows: fullInput().Rows}
	m = decode(in)
	for _, k := range []string{"max", "fill", "buckets", "bytes_per_entry", "memory_bytes", "change_needed", "counters",
		"grown_while_watched", "mem_total", "memory_bytes_at_suggested_max", "established_idle_over_1h", "max_writable"} {
		if v, ok := m[k]; ok {
			t.Errorf("saved dump: %s = %v, want it left out", k, v)
		}
	}
	if s, _ := m["states"].([]any); len(s) != 2 || s[0].(map[string]any)["timeout"] != nil {
		t.Errorf("saved dump: states = %v, want them without timeouts", m["states"])
	}
}

func mapsEqual(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestWriteAdviceJSONNoRows: rows read but none gives an empty list of
// states; rows refused leaves states out.
func TestWriteAdviceJSONNoRows(t *testing.T) {
	for _, c := range []struct {
		read bool
		want string
	}{{true, `"rows":0,"states":[]`}, {false, `"sysctl"`}} {
		in := fullInput()
		in.Rows, in.RowsRead = nil, c.read
		var b strings.Builder
		w := bufio.NewWriter(&b)
		if err := WriteAdviceJSON(w, advise.Advise(in), "netlink"); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), c.want) || !c.read && strings.Contains(b.String(), `"states"`) {
			t.Errorf("rows read %v: %s\nwant %s", c.read, b.String(), c.want)
		}
	}
}
