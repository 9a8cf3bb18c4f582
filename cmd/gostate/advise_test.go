package main

import (
	"encoding/json"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ti-mo/conntrack"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/nstest"
)

// adviceOutput is gostate --advise --json as these tests read it: pointers
// for what may be left out.
type adviceOutput struct {
	Entries      int   `json:"entries"`
	Max          *int  `json:"max"`
	Peak         int   `json:"peak"`
	ChangeNeeded *bool `json:"change_needed"`
	SuggestedMax int   `json:"suggested_max"`
	Sysctl       []string
	States       []struct {
		Proto, State string
		Entries      int
		Share        float64
		Timeout      *int
	} `json:"states"`
	Idle    *int     `json:"established_idle_over_1h"`
	Unknown []string `json:"unknown"`
}

// TestKernelAdvise inserts, in a private namespace, 900 TCP ESTABLISHED
// flows with an hour left (idle for 119 of the 120 hours of the kernel's
// default established timeout), 100 with 431,990 s left (just active) and
// 50 in TIME_WAIT, and reads --advise: 900 idle over an hour, TIME_WAIT
// 4.8 % of the table with its 120 s timeout, and no change needed on a
// limit far above 1,050.
func TestKernelAdvise(t *testing.T) {
	ns := nstest.New(t)
	limit := globalMax(t)
	if limit < 4*1050 {
		t.Skipf("nf_conntrack_max is %d: the test wants a limit far above its 1,050 entries (it never changes the global limit)", limit)
	}
	const assured = conntrack.StatusConfirmed | conntrack.StatusSeenReply | conntrack.StatusAssured
	c := ns.Conn(t)
	insert := func(n int, state uint8, ttl uint32, dst string) {
		t.Helper()
		for i := range n {
			f := conntrack.NewFlow(6, assured, netip.MustParseAddr("192.0.2."+strconv.Itoa(1+i%250)), netip.MustParseAddr(dst),
				uint16(10000+i), 443, ttl, 0)
			f.ProtoInfo.TCP = &conntrack.ProtoInfoTCP{State: state}
			if err := c.Create(f); err != nil {
				t.Fatalf("insert %d: %v", i, err)
			}
		}
	}
	insert(900, flow.TCPEstablished, 3600, "198.51.100.1")
	insert(100, flow.TCPEstablished, 431990, "198.51.100.2")
	insert(50, flow.TCPTimeWait, 100, "203.0.113.1")

	var out adviceOutput
	raw := runOK(t, "--netns", ns.Name(), "--advise", "--json")
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("--advise --json: %v\n%s", err, raw)
	}
	switch {
	case out.Entries != 1050 || out.Peak != 1050 || out.Max == nil || *out.Max != limit:
		t.Errorf("entries %d, peak %d, max %v; want 1050, 1050, %d\n%s", out.Entries, out.Peak, out.Max, limit, raw)
	case out.ChangeNeeded == nil || *out.ChangeNeeded || len(out.Sysctl) != 0 || out.SuggestedMax != limit:
		t.Errorf("want no change needed, no command, the limit kept\n%s", raw)
	case out.Idle == nil || *out.Idle != 900:
		t.Errorf("established_idle_over_1h %v, want 900\n%s", out.Idle, raw)
	case len(out.Unknown) != 0:
		t.Errorf("unknown %q, want everything known as root", out.Unknown)
	}
	var tw, est bool
	for _, s := range out.States {
		switch {
		case s.Proto == "tcp" && s.State == "TIME_WAIT":
			tw = s.Entries == 50 && math.Abs(s.Share-4.76) < 0.005 && s.Timeout != nil && *s.Timeout == 120
		case s.Proto == "tcp" && s.State == "ESTABLISHED":
			est = s.Entries == 1000 && s.Timeout != nil && *s.Timeout == 432000
		}
	}
	if !tw || !est || len(out.States) != 2 {
		t.Errorf("states: want tcp ESTABLISHED 1000 (432000 s) and TIME_WAIT 50, 4.76 %% (120 s)\n%s", raw)
	}

	// The text says the same.
	text := string(runOK(t, "--netns", ns.Name(), "--advise"))
	if !strings.Contains(text, "\nVerdict: no change needed\n") || !strings.Contains(text, "\nTCP ESTABLISHED idle over 1 h: 900 ") {
		t.Errorf("--advise: want no change needed and 900 idle flows:\n%s", text)
	}
	const row = "tcp TIME_WAIT 50 4.8% 120 s nf_conntrack_tcp_timeout_time_wait"
	found := false
	for _, l := range strings.Split(text, "\n") {
		found = found || strings.Join(strings.Fields(l), " ") == row
	}
	if !found {
		t.Errorf("--advise lacks the row %q:\n%s", row, text)
	}
}

// globalMax reads nf_conntrack_max, which every namespace shares.
func globalMax(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_max")
	if err != nil {
		t.Skipf("nf_conntrack_max: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("nf_conntrack_max: %v", err)
	}
	return n
}

// TestKernelAdviseUnprivileged runs --advise as nobody inside a namespace:
// the rows are refused, the health is not, and the report is of the health
// alone, saying what it could not read, with exit status 0.
func TestKernelAdviseUnprivileged(t *testing.T) {
	setpriv := needSetpriv(t)
	ns := nstest.New(t)
	ns.Fill(t, 40)
	bin := buildWorldRunnable(t)
	nobody := func(args ...string) *exec.Cmd {
		return ns.Command(append([]string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", bin}, args...)...)
	}
	const warning = "gostate: rows need CAP_NET_ADMIN or root: showing the table's health only\n"
	status, out, stderr := runAll(t, nobody("--advise", "--json"))
	if status != exitOK || stderr != warning {
		t.Fatalf("--advise --json as nobody: exit status %d, stderr:\n%s\nwant %d and %q", status, stderr, exitOK, warning)
	}
	var a adviceOutput
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatalf("--advise --json as nobody: %v\n%s", err, out)
	}
	rows := slices.ContainsFunc(a.Unknown, func(s string) bool { return strings.Contains(s, "rows could not be read") })
	if a.Entries != 40 || a.ChangeNeeded == nil || *a.ChangeNeeded || a.States != nil || a.Idle != nil || !rows {
		t.Errorf("--advise --json as nobody: %s\nwant 40 entries, no change needed, no states nor idle count, and why", out)
	}

	status, out, stderr = runAll(t, nobody("--advise"))
	if status != exitOK || stderr != warning || !strings.Contains(out, "\nVerdict: no change needed\n") ||
		!strings.Contains(out, "the rows could not be read (they need CAP_NET_ADMIN or root)") || strings.Contains(out, "Where the entries are") {
		t.Errorf("--advise as nobody: exit status %d, stderr %q, stdout:\n%s", status, stderr, out)
	}
}
