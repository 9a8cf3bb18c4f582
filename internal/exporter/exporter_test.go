package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/group"
	"github.com/gostate/gostate/internal/source"
)

// fakeReader is a source.Reader of a fixed table: Read copies rows and
// stats, or fails with err.
type fakeReader struct {
	rows  []flow.Flow
	stats flow.Stats
	err   error
	// healthOnly makes Read fail with source.ErrHealthOnly while
	// ReadSummary succeeds, as an unprivileged reader does.
	healthOnly bool
	reads      int
	summaries  int
}

func (r *fakeReader) Read(t *flow.Table) error {
	r.reads++
	if r.healthOnly {
		return fmt.Errorf("rows: %w", source.ErrHealthOnly)
	}
	if r.err != nil {
		return r.err
	}
	t.Flows = append(t.Flows[:0], r.rows...)
	t.Stats = r.stats
	t.ReadAt = time.Unix(1_800_000_000, 0)
	return nil
}

func (r *fakeReader) ReadBatches(*flow.Table, int, func([]flow.Flow) bool) error {
	return source.ErrUnsupported
}

func (r *fakeReader) ReadSummary(t *flow.Table) error {
	r.summaries++
	t.Flows = t.Flows[:0]
	t.Stats = r.stats
	t.ReadAt = time.Unix(1_800_000_000, 0)
	return nil
}

func (r *fakeReader) Refresh([]flow.Flow, []source.Lookup) error { return source.ErrUnsupported }

func (r *fakeReader) Listen(source.EventKind) (source.Listener, error) {
	return nil, source.ErrUnsupported
}

func (r *fakeReader) Close() error { return nil }

// row returns a flow from src with protocol proto, status and (for TCP) a
// state.
func row(src string, proto uint8, status flow.Status, state uint8) flow.Flow {
	a := netip.MustParseAddr(src)
	fam := flow.FamilyIPv4
	if a.Is6() {
		fam = flow.FamilyIPv6
	}
	f := flow.Flow{Family: fam, Proto: proto, Status: status | flow.StatusConfirmed}
	f.Orig.Src = flow.AddrFrom(a)
	f.Orig.Dst = flow.AddrFrom(netip.MustParseAddr("203.0.113.9"))
	if a.Is6() {
		f.Orig.Dst = flow.AddrFrom(netip.MustParseAddr("2001:db8::9"))
	}
	if proto == flow.ProtoTCP {
		f.Present |= flow.HasState
		f.State = state
	}
	return f
}

const (
	replied = flow.StatusSeenReply
	assured = flow.StatusSeenReply | flow.StatusAssured
)

// fixture is a table of seven rows from four sources, with a limit, buckets,
// a size of an entry and some counters (ignore and chaintoolong not
// reported).
func fixture() *fakeReader {
	return &fakeReader{
		rows: []flow.Flow{
			row("192.0.2.1", flow.ProtoTCP, assured, flow.TCPEstablished),
			row("192.0.2.1", flow.ProtoTCP, assured, flow.TCPEstablished),
			row("192.0.2.1", flow.ProtoTCP, replied|flow.StatusSrcNAT, flow.TCPTimeWait),
			row("192.0.2.2", flow.ProtoUDP, 0, 0),
			row("192.0.2.2", flow.ProtoUDP, assured|flow.StatusDstNAT, 0),
			row("198.51.100.7", flow.ProtoICMP, replied, 0),
			row("2001:db8::1", flow.ProtoTCP, 0, flow.TCPSynSent),
		},
		stats: flow.Stats{
			Entries: 7, Max: 262144, Buckets: 65536, BytesPerEntry: 320, HaveCPU: true,
			CPU: flow.CPUStats{
				Found: 10, Insert: 5_000_000_000, Drop: 3, EarlyDrop: 2, InsertFailed: 1,
				Has: flow.AllCounters &^ (flow.CounterIgnore | flow.CounterChainTooLong),
			},
		},
	}
}

// newTest returns an exporter of the targets after one read of each.
func newTest(t *testing.T, opts Options, targets ...*Target) *Exporter {
	t.Helper()
	e, err := New(opts, targets)
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		e.read(tg)
	}
	return e
}

func TestCollect(t *testing.T) {
	top, err := group.Parse("src/24")
	if err != nil {
		t.Fatal(err)
	}
	e := newTest(t, Options{Interval: time.Second, TopSources: 2, TopSourcesBy: top, NodeCompat: true},
		&Target{Reader: fixture()})
	want := `
# HELP gostate_conntrack_entries Entries in the conntrack table.
# TYPE gostate_conntrack_entries gauge
gostate_conntrack_entries 7
# HELP gostate_conntrack_entries_limit The table's limit, nf_conntrack_max.
# TYPE gostate_conntrack_entries_limit gauge
gostate_conntrack_entries_limit 262144
# HELP gostate_conntrack_buckets Buckets of the kernel's conntrack hash table, nf_conntrack_buckets.
# TYPE gostate_conntrack_buckets gauge
gostate_conntrack_buckets 65536
# HELP gostate_conntrack_memory_bytes Kernel memory of the entries: entries times bytes per entry.
# TYPE gostate_conntrack_memory_bytes gauge
gostate_conntrack_memory_bytes 2240
# HELP gostate_conntrack_flows Entries by address family, protocol and state (the protocol's state, or for protocols without one UNREPLIED, REPLIED, ASSURED or OFFLOAD).
# TYPE gostate_conntrack_flows gauge
gostate_conntrack_flows{family="ipv4",protocol="icmp",state="REPLIED"} 1
gostate_conntrack_flows{family="ipv4",protocol="tcp",state="ESTABLISHED"} 2
gostate_conntrack_flows{family="ipv4",protocol="tcp",state="TIME_WAIT"} 1
gostate_conntrack_flows{family="ipv4",protocol="udp",state="ASSURED"} 1
gostate_conntrack_flows{family="ipv4",protocol="udp",state="UNREPLIED"} 1
gostate_conntrack_flows{family="ipv6",protocol="tcp",state="SYN_SENT"} 1
# HELP gostate_conntrack_flows_unreplied Entries that have seen no reply.
# TYPE gostate_conntrack_flows_unreplied gauge
gostate_conntrack_flows_unreplied 2
# HELP gostate_conntrack_flows_assured Entries the kernel marked assured.
# TYPE gostate_conntrack_flows_assured gauge
gostate_conntrack_flows_assured 3
# HELP gostate_conntrack_flows_snat Entries with source NAT.
# TYPE gostate_conntrack_flows_snat gauge
gostate_conntrack_flows_snat 1
# HELP gostate_conntrack_flows_dnat Entries with destination NAT.
# TYPE gostate_conntrack_flows_dnat gauge
gostate_conntrack_flows_dnat 1
# HELP gostate_conntrack_distinct_sources Distinct original source addresses.
# TYPE gostate_conntrack_distinct_sources gauge
gostate_conntrack_distinct_sources 4
# HELP gostate_conntrack_largest_source_entries Entries of the source address with most.
# TYPE gostate_conntrack_largest_source_entries gauge
gostate_conntrack_largest_source_entries 3
# HELP gostate_conntrack_top_source_entries Entries of the biggest groups by the --top-sources-by key; series come and go as groups do.
# TYPE gostate_conntrack_top_source_entries gauge
gostate_conntrack_top_source_entries{source="192.0.2.0/24"} 5
gostate_conntrack_top_source_entries{source="198.51.100.0/24"} 1
# HELP gostate_conntrack_stat_insert_total Entries inserted into the table, summed over the CPUs.
# TYPE gostate_conntrack_stat_insert_total counter
gostate_conntrack_stat_insert_total 5e+09
# HELP gostate_conntrack_stat_drop_total Packets dropped because a new entry could not be made (a full table), summed over the CPUs.
# TYPE gostate_conntrack_stat_drop_total counter
gostate_conntrack_stat_drop_total 3
# HELP node_nf_conntrack_entries Number of currently allocated flow entries for connection tracking.
# TYPE node_nf_conntrack_entries gauge
node_nf_conntrack_entries 7
# HELP node_nf_conntrack_stat_early_drop Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.
# TYPE node_nf_conntrack_stat_early_drop gauge
node_nf_conntrack_stat_early_drop 2
# HELP gostate_read_errors_total Reads of the table that failed.
# TYPE gostate_read_errors_total counter
gostate_read_errors_total 0
# HELP gostate_last_read_timestamp_seconds When the last successful read of the table ended, in seconds since the epoch.
# TYPE gostate_last_read_timestamp_seconds gauge
gostate_last_read_timestamp_seconds 1.8e+09
`
	names := []string{
		"gostate_conntrack_entries", "gostate_conntrack_entries_limit", "gostate_conntrack_buckets",
		"gostate_conntrack_memory_bytes", "gostate_conntrack_flows", "gostate_conntrack_flows_unreplied",
		"gostate_conntrack_flows_assured", "gostate_conntrack_flows_snat", "gostate_conntrack_flows_dnat",
		"gostate_conntrack_distinct_sources", "gostate_conntrack_largest_source_entries",
		"gostate_conntrack_top_source_entries", "gostate_conntrack_stat_insert_total",
		"gostate_conntrack_stat_drop_total", "node_nf_conntrack_entries", "node_nf_conntrack_stat_early_drop",
		"gostate_read_errors_total", "gostate_last_read_timestamp_seconds",
	}
	if err := testutil.CollectAndCompare(e.Collector(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	problems, err := testutil.CollectAndLint(e.Collector())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// metricNames returns the names of the metrics the exporter collects.
func metricNames(t *testing.T, e *Exporter) map[string]bool {
	t.Helper()
	problems, err := testutil.CollectAndLint(e.Collector())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	rec := httptest.NewRecorder()
	e.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	names := make(map[string]bool)
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "gostate_") || strings.HasPrefix(line, "node_") {
			name, _, _ := strings.Cut(line, " ")
			name, _, _ = strings.Cut(name, "{")
			names[name] = true
		}
	}
	return names
}

// TestCountersReported: a counter the kernel does not report is absent,
// not 0, and node_exporter's names come only with NodeCompat, without
// clash_resolve (node_exporter has none).
func TestCountersReported(t *testing.T) {
	names := metricNames(t, newTest(t, Options{Interval: time.Second}, &Target{Reader: fixture()}))
	for _, absent := range []string{"gostate_conntrack_stat_ignore_total", "gostate_conntrack_stat_chaintoolong_total", "node_nf_conntrack_entries", "gostate_conntrack_top_source_entries"} {
		if names[absent] {
			t.Errorf("%s exported", absent)
		}
	}
	for _, present := range []string{"gostate_conntrack_stat_clash_resolve_total", "gostate_conntrack_stat_search_restart_total", "gostate_conntrack_bytes_per_entry", "gostate_read_duration_seconds"} {
		if !names[present] {
			t.Errorf("%s missing", present)
		}
	}
	names = metricNames(t, newTest(t, Options{Interval: time.Second, NodeCompat: true}, &Target{Reader: fixture()}))
	if names["node_nf_conntrack_stat_clash_resolve"] || !names["node_nf_conntrack_stat_search_restart"] || !names["node_nf_conntrack_entries_limit"] {
		t.Errorf("node_exporter's metrics: %v", names)
	}
}

// TestHealthOnly: without the rows, the health is exported and nothing
// counted from rows is.
func TestHealthOnly(t *testing.T) {
	r := fixture()
	r.healthOnly = true
	var logged []string
	e := newTest(t, Options{Interval: time.Second, Log: func(m string) { logged = append(logged, m) }}, &Target{Reader: r})
	e.read(e.targets[0])
	names := metricNames(t, e)
	if !names["gostate_conntrack_entries"] || names["gostate_conntrack_flows"] || names["gostate_conntrack_distinct_sources"] {
		t.Errorf("health only: %v", names)
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "health only") {
		t.Errorf("logged %q, want one line on the health only", logged)
	}
}

// TestReadErrors: a failed read counts, keeps the last good figures, and
// is logged once until reads succeed again.
func TestReadErrors(t *testing.T) {
	r := fixture()
	var logged []string
	e := newTest(t, Options{Interval: time.Second, Log: func(m string) { logged = append(logged, m) }}, &Target{Reader: r})
	r.err = errors.New("boom")
	e.read(e.targets[0])
	e.read(e.targets[0])
	if got := value(t, e, "gostate_read_errors_total"); got != 2 {
		t.Errorf("read errors %v, want 2", got)
	}
	if got := value(t, e, "gostate_conntrack_entries"); got != 7 {
		t.Errorf("entries %v after failures, want the last good 7", got)
	}
	r.err = nil
	e.read(e.targets[0])
	if len(logged) != 2 || !strings.Contains(logged[0], "boom") || logged[1] != "reading again" {
		t.Errorf("logged %q", logged)
	}
}

// TestNetNSGone: a namespace gone leaves the export, the others stay,
// each series labelled with its namespace.
func TestNetNSGone(t *testing.T) {
	blue, red := fixture(), fixture()
	var logged []string
	e := newTest(t, Options{Interval: time.Second, NetNSLabel: true, Log: func(m string) { logged = append(logged, m) }},
		&Target{Name: "blue", Reader: blue}, &Target{Name: "red", Reader: red})
	if n := testutil.CollectAndCount(e.Collector(), "gostate_conntrack_entries"); n != 2 {
		t.Fatalf("%d entries series, want one per namespace", n)
	}
	blue.err = fmt.Errorf("netns blue was deleted (ip netns del): showing its last state: %w", source.ErrNetNSGone)
	if e.read(e.targets[0]) {
		t.Error("read of a namespace gone did not end its loop")
	}
	want := `
# HELP gostate_conntrack_entries Entries in the conntrack table.
# TYPE gostate_conntrack_entries gauge
gostate_conntrack_entries{netns="red"} 7
`
	if err := testutil.CollectAndCompare(e.Collector(), strings.NewReader(want), "gostate_conntrack_entries"); err != nil {
		t.Error(err)
	}
	if len(logged) != 1 || logged[0] != "netns blue was deleted (ip netns del): no longer exported" {
		t.Errorf("logged %q", logged)
	}
	if _, err := New(Options{NetNSLabel: true}, []*Target{{Name: "a", Reader: blue}, {Name: "a", Reader: red}}); err == nil {
		t.Error("a namespace twice accepted")
	}
}

// value returns the value of the one series named name the exporter
// collects.
func value(t *testing.T, e *Exporter, name string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.Metric) != 1 {
			continue
		}
		m := mf.Metric[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no single series %s", name)
	return 0
}

// TestHandler: / links /metrics, other paths are 404, and no read waits
// for a scrape nor a scrape for a read (the Summary is published whole).
func TestHandler(t *testing.T) {
	r := fixture()
	e := newTest(t, Options{Interval: time.Second}, &Target{Reader: r})
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/"); code != 200 || !strings.Contains(body, `href="/metrics"`) {
		t.Errorf("/: %d %q", code, body)
	}
	for _, p := range []string{"/metrics/x", "/favicon.ico", "/index.html"} {
		if code, _ := get(p); code != 404 {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
	code, body := get("/metrics")
	if code != 200 || !strings.Contains(body, "gostate_conntrack_entries 7") || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
	if reads := r.reads; reads != 1 {
		t.Errorf("%d reads after a scrape, want the one before it", reads)
	}
	promtoolCheck(t, body)
}

// promtoolCheck runs promtool check metrics on a scrape, when promtool is
// installed (scripts/deps.sh installs it in CI).
func promtoolCheck(t *testing.T, scrape string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not installed: the scrape is not checked with promtool check metrics")
		return
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestParseListen(t *testing.T) {
	for in, want := range map[string]string{
		"9999":            "127.0.0.1:9999",
		":9999":           ":9999",
		"0.0.0.0:9999":    "0.0.0.0:9999",
		"[::1]:9999":      "[::1]:9999",
		"localhost:9999":  "localhost:9999",
		"192.0.2.1:0":     "192.0.2.1:0",
		"127.0.0.1:65535": "127.0.0.1:65535",
	} {
		if got, err := ParseListen(in); err != nil || got != want {
			t.Errorf("ParseListen(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "65536", "-1", "example.com:80", "127.0.0.1", ":http", "[fe80::1%eth0]:80", "1.2.3.4:99999"} {
		if got, err := ParseListen(in); err == nil {
			t.Errorf("ParseListen(%q) = %q, want an error", in, got)
		}
	}
}

// Between whole reads (RowsEvery) the loop reads the health alone: the
// entries move, the flows by state stay those of the last whole read.
func TestHealthBetweenWholeReads(t *testing.T) {
	r := fixture()
	e, err := New(Options{Interval: 100 * time.Millisecond, RowsEvery: time.Hour}, []*Target{{Reader: r}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 450*time.Millisecond)
	defer cancel()
	e.Run(ctx)
	if r.reads != 1 || r.summaries < 2 {
		t.Errorf("%d whole reads and %d health reads in 0.45 s, want 1 and some", r.reads, r.summaries)
	}
	flows := testutil.CollectAndCount(e.Collector(), "gostate_conntrack_flows")
	r.stats.Entries = 9
	r.rows = r.rows[:1]
	e.readHealth(e.targets[0])
	if got := value(t, e, "gostate_conntrack_entries"); got != 9 {
		t.Errorf("entries %v, want the health read's 9", got)
	}
	if got := testutil.CollectAndCount(e.Collector(), "gostate_conntrack_flows"); got != flows {
		t.Errorf("%d flows series after a health read, want the whole read's %d", got, flows)
	}
}
