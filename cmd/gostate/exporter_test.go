package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ti-mo/conntrack"

	"github.com/gostate/gostate/internal/netns"
	"github.com/gostate/gostate/internal/nstest"
)

// nsClient returns an HTTP client whose connections are opened inside ns:
// the servers the test starts there listen on its loopback.
func nsClient(ns *nstest.NS) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := netns.Run(ns.Path(), func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial}}
}

// startInNS starts argv inside ns, its output in the test's log on failure;
// when the test ends it is sent SIGTERM and must exit with status 0 within
// ten seconds (then it is killed).
func startInNS(t *testing.T, ns *nstest.NS, argv ...string) {
	t.Helper()
	cmd := ns.Command(argv...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", argv[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s after SIGTERM: %v\n%s", filepath.Base(argv[0]), err, out.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("%s did not exit within 10 s of SIGTERM\n%s", filepath.Base(argv[0]), out.String())
		}
	})
}

// promResult is one series of a Prometheus instant query.
type promResult struct {
	Metric map[string]string
	Value  float64
}

// promQuery asks the Prometheus server at base for query's value now.
func promQuery(t *testing.T, c *http.Client, base, query string) []promResult {
	t.Helper()
	resp, err := c.Get(base + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		t.Fatalf("query %s: %v", query, err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Status != "success" {
		t.Fatalf("query %s: %s, %v", query, body.Status, err)
	}
	var out []promResult
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("query %s: value %v", query, r.Value[1])
		}
		out = append(out, promResult{r.Metric, v})
	}
	return out
}

// TestKernelPrometheus fills a private namespace with 3,300 entries of known
// states from ten sources (source k has 60·k entries), runs gostate
// --listen there with a real Prometheus server scraping it every second,
// and compares what Prometheus stored with the table: the entries with
// the kernel's count, the flows per protocol and state, and the three top
// sources. A scrape of /metrics passes promtool check metrics.
func TestKernelPrometheus(t *testing.T) {
	ns := nstest.New(t)
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus not installed (scripts/deps.sh installs it)")
	}
	c := ns.Conn(t)
	want := make(map[string]float64) // "protocol state" → entries
	n := 0
	for k := 1; k <= 10; k++ {
		src := netip.AddrFrom4([4]byte{198, 51, 100, byte(k)})
		for j := range 60 * k {
			dst := netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + j%200)})
			sport := uint16(10000 + j)
			var f conntrack.Flow
			switch n % 3 {
			case 0:
				f = conntrack.NewFlow(6, conntrack.StatusConfirmed|conntrack.StatusSeenReply|conntrack.StatusAssured, src, dst, sport, 443, 3600, 0)
				f.ProtoInfo.TCP = &conntrack.ProtoInfoTCP{State: 3}
				want["tcp ESTABLISHED"]++
			case 1:
				f = conntrack.NewFlow(6, conntrack.StatusConfirmed|conntrack.StatusSeenReply|conntrack.StatusAssured, src, dst, sport, 80, 3600, 0)
				f.ProtoInfo.TCP = &conntrack.ProtoInfoTCP{State: 7}
				want["tcp TIME_WAIT"]++
			default:
				f = conntrack.NewFlow(17, conntrack.StatusConfirmed, src, dst, sport, 53, 3600, 0)
				want["udp UNREPLIED"]++
			}
			if err := c.Create(f); err != nil {
				t.Fatalf("insert %v: %v", f.TupleOrig, err)
			}
			n++
		}
	}

	dir := t.TempDir()
	const exporterAddr, promAddr = "127.0.0.1:9464", "127.0.0.1:9090"
	bin, err := exec.LookPath("gostate")
	if err != nil {
		t.Fatalf("gostate is not on PATH (TestMain sets it up): %v", err)
	}
	startInNS(t, ns, bin, "--listen", exporterAddr, "-R", "1", "--top-sources", "3")
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: gostate\n    static_configs:\n      - targets: ['%s']\n", exporterAddr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	startInNS(t, ns, prom, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+promAddr, "--log.level=warn")

	hc := nsClient(ns)
	base := "http://" + promAddr
	deadline := time.Now().Add(60 * time.Second)
	var entries []promResult
	for {
		if resp, err := hc.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if entries = promQuery(t, hc, base, "gostate_conntrack_entries"); len(entries) == 1 {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("Prometheus has no gostate_conntrack_entries after 60 s")
		}
		time.Sleep(200 * time.Millisecond)
	}

	if count := ns.Count(t); entries[0].Value != float64(count) || count != n {
		t.Errorf("gostate_conntrack_entries %v, the kernel counts %d, %d inserted", entries[0].Value, count, n)
	}
	got := make(map[string]float64)
	for _, r := range promQuery(t, hc, base, "gostate_conntrack_flows") {
		if r.Metric["family"] != "ipv4" {
			t.Errorf("flows of family %q", r.Metric["family"])
		}
		got[r.Metric["protocol"]+" "+r.Metric["state"]] = r.Value
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("flows per state: got %v, want %v", got, want)
	}
	top := make(map[string]float64)
	for _, r := range promQuery(t, hc, base, "gostate_conntrack_top_source_entries") {
		top[r.Metric["source"]] = r.Value
	}
	wantTop := map[string]float64{"198.51.100.10": 600, "198.51.100.9": 540, "198.51.100.8": 480}
	if fmt.Sprint(top) != fmt.Sprint(wantTop) {
		t.Errorf("top sources: got %v, want %v", top, wantTop)
	}
	for query, want := range map[string]float64{
		"gostate_conntrack_distinct_sources":       10,
		"gostate_conntrack_largest_source_entries": 600,
		"gostate_conntrack_flows_unreplied":        want["udp UNREPLIED"],
		"gostate_read_errors_total":                0,
		`up{job="gostate"}`:                        1,
	} {
		if r := promQuery(t, hc, base, query); len(r) != 1 || r[0].Value != want {
			t.Errorf("%s: %v, want %v", query, r, want)
		}
	}
	if r := promQuery(t, hc, base, `scrape_duration_seconds{job="gostate"}`); len(r) == 1 {
		t.Logf("scrape of %d entries: %.1f ms", n, 1000*r[0].Value)
	}

	resp, err := hc.Get("http://" + exporterAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scrape, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	promtoolCheckMetrics(t, scrape)
}

// promtoolCheckMetrics runs promtool check metrics on a scrape; it skips,
// saying so, when promtool is not installed (scripts/deps.sh installs it).
func promtoolCheckMetrics(t *testing.T, scrape []byte) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed: the scrape is not checked")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(string(scrape))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// scrapeEntries returns gostate_conntrack_entries by netns label from the
// exporter at addr.
func scrapeEntries(t *testing.T, c *http.Client, addr string) map[string]string {
	t.Helper()
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]string)
	re := regexp.MustCompile(`(?m)^gostate_conntrack_entries\{netns="([^"]*)"\} (\S+)$`)
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		got[m[1]] = m[2]
	}
	return got
}

// TestKernelExporterNamespaces exports two namespaces at once (-n A,B) from
// a gostate listening inside the first: each namespace's entries under its
// netns label; once the second is deleted (ip netns del) it leaves the
// export, saying so, and the first stays.
func TestKernelExporterNamespaces(t *testing.T) {
	home := nstest.New(t)
	home.Fill(t, 50)
	other := "gostate-test-gone-" + strconv.Itoa(os.Getpid())
	if err := netns.Create(other); err != nil {
		t.Fatal(err)
	}
	deleted := false
	t.Cleanup(func() {
		if !deleted {
			netns.Remove(other)
		}
	})
	if r, err := netns.Fill(netns.Path(other), 20, netns.FillOptions{}); err != nil || r.Created != 20 {
		t.Fatalf("fill %s: %v, %+v", other, err, r)
	}
	bin, err := exec.LookPath("gostate")
	if err != nil {
		t.Fatalf("gostate is not on PATH (TestMain sets it up): %v", err)
	}
	const addr = "127.0.0.1:9464"
	cmd := home.Command(bin, "--listen", addr, "-R", "0.2", "-n", home.Name()+","+other)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("gostate after SIGTERM: %v\n%s", err, stderr.String())
		}
	}
	defer stop()
	hc := nsClient(home)
	wait := func(what string, ok func(map[string]string) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var got map[string]string
			if resp, err := hc.Get("http://" + addr + "/"); err == nil {
				resp.Body.Close()
				if got = scrapeEntries(t, hc, addr); ok(got) {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: entries %v after 30 s", what, got)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	wait("both namespaces", func(m map[string]string) bool {
		return len(m) == 2 && m[home.Name()] == "50" && m[other] == "20"
	})
	if err := netns.Remove(other); err != nil {
		t.Fatal(err)
	}
	deleted = true
	wait("the deleted namespace gone", func(m map[string]string) bool {
		return len(m) == 1 && m[home.Name()] == "50"
	})
	stop()
	if want := "gostate: netns " + other + " was deleted (ip netns del): no longer exported\n"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q, want the line %q", stderr.String(), want)
	}
}
