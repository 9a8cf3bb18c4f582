package source

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/netns"
	"github.com/gostate/gostate/internal/nstest"
)

// TestProcReaderNetNS reads /proc/net/nf_conntrack of a private namespace
// from a thread that joined it, as --netns does, and checks it against
// `conntrack -L -o extended,id` run in the same namespace: the live kernel's
// two text formats must parse to the same flows. It needs root and skips,
// saying why, without.
func TestProcReaderNetNS(t *testing.T) {
	ns := nstest.New(t)
	// Per-namespace switches, so that counters and delta-time= appear.
	ns.Exec(t, "sysctl", "-q", "-w", "net.netfilter.nf_conntrack_acct=1", "net.netfilter.nf_conntrack_timestamp=1")
	inserted := len(ns.InsertSynthetic(t))
	ns.Exec(t, "conntrack", "-I", "-p", "tcp", "-s", "192.0.2.50", "-d", "203.0.113.80", "--sport", "41000", "--dport", "80",
		"--state", "ESTABLISHED", "-t", "3000", "-u", "SEEN_REPLY,ASSURED", "--dst-nat", "198.51.100.80")
	inserted++

	var tab flow.Table
	ns.Do(t, func() error {
		p, err := NewProcReader("/proc")
		if err != nil {
			return err
		}
		defer p.Close()
		return p.Read(&tab)
	})
	if len(tab.Flows) != inserted || tab.Stats.Entries != inserted || tab.Skipped != 0 {
		t.Fatalf("read %d rows (%d skipped), count %d; inserted %d", len(tab.Flows), tab.Skipped, tab.Stats.Entries, inserted)
	}
	if tab.Stats.Max <= 0 || !tab.Stats.HaveCPU || tab.Stats.BytesPerEntry <= 0 || len(tab.Timeouts) == 0 || len(tab.Warnings) != 0 {
		t.Errorf("health %+v, %d timeouts, warnings %q", tab.Stats, len(tab.Timeouts), tab.Warnings)
	}

	cmd := ns.Command("conntrack", "-L", "-o", "extended,id")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("conntrack -L: %v", err)
	}
	listed, skipped, err := parseAll(strings.NewReader(string(out)), time.Now(), nil)
	if err != nil || skipped != 0 || len(listed) != inserted {
		t.Fatalf("conntrack -L: %d rows, %d skipped, %v; want %d", len(listed), skipped, err, inserted)
	}
	byKey := make(map[flow.Key]flow.Flow)
	for _, f := range listed {
		if f.Present&flow.HasID == 0 {
			t.Errorf("conntrack -L -o id row without id: %+v", f)
		}
		byKey[f.Key()] = f
	}
	var nat, states, marks int
	for _, f := range tab.Flows {
		l, ok := byKey[f.Key()]
		if !ok {
			t.Errorf("/proc row missing from conntrack -L: %+v", f)
			continue
		}
		if !sameFlow(f, l) {
			t.Errorf("/proc and conntrack -L differ:\n proc %+v\n -L   %+v", f, l)
		}
		if f.Present&(flow.HasCounters|flow.HasStart) != flow.HasCounters|flow.HasStart {
			t.Errorf("no counters or start with acct and timestamp on: %+v", f)
		}
		if f.NATed() {
			nat++
		}
		if f.Present&flow.HasState != 0 {
			states++
		}
		if f.Mark != 0 {
			marks++
		}
	}
	if nat != 1 || states < 10 || marks == 0 {
		t.Errorf("%d NAT rows, %d with a state, %d with a mark; want 1, ≥10 (every TCP state), ≥1", nat, states, marks)
	}
}

// BenchmarkProcReaderNetNS reads a private namespace of GOSTATE_BENCH_N
// entries (default 10,000) through ProcReader, beside reading the same file
// without parsing it (the kernel's own cost, as `cat` pays it), and reports
// the cost per entry. Needs root; skips otherwise.
func BenchmarkProcReaderNetNS(b *testing.B) {
	n := 10000
	if s := os.Getenv("GOSTATE_BENCH_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatalf("GOSTATE_BENCH_N=%q: %v", s, err)
		}
	}
	ns := nstest.New(b)
	res, err := netns.Fill(ns.Path(), n, netns.FillOptions{})
	if err != nil || res.Created+res.Existing != n {
		b.Fatalf("fill %d: %+v, %v", n, res, err)
	}
	perEntry := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/entry")
	}
	b.Run("kernel-only", func(b *testing.B) {
		ns.Do(b, func() error {
			buf := make([]byte, 64<<10)
			for b.Loop() {
				f, err := openNet("/proc", "nf_conntrack")
				if err != nil {
					return err
				}
				for {
					if _, err := f.Read(buf); err != nil {
						break
					}
				}
				f.Close()
			}
			return nil
		})
		perEntry(b)
	})
	b.Run("ProcReader", func(b *testing.B) {
		ns.Do(b, func() error {
			p, err := NewProcReader("/proc")
			if err != nil {
				return err
			}
			var tab flow.Table
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Read(&tab); err != nil {
					return err
				}
				if len(tab.Flows) != n {
					return fmt.Errorf("read %d rows of %d", len(tab.Flows), n)
				}
			}
			return nil
		})
		perEntry(b)
	})
}

// TestMaxWritableInNamespace reads a private namespace with each kind of
// source: there the kernel shows the global nf_conntrack_max read-only, even
// to root, and the namespace is not the initial one; Stats must say both,
// found by checking (nothing is written).
func TestMaxWritableInNamespace(t *testing.T) {
	ns := nstest.New(t)
	// As root, kthreadd's namespace, the initial one, can be compared with
	// the reader's; where even root may not open it, nothing says.
	wantInitial := flow.TriNo
	if _, err := os.Stat("/proc/2/ns/net"); err != nil {
		t.Logf("the initial namespace cannot be compared: %v", err)
		wantInitial = flow.TriUnknown
	}
	for _, kind := range []Kind{KindNetlink, KindProc} {
		r, err := Open(Options{Kind: kind, NetNS: ns.Name()})
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		defer r.Close()
		var summary, whole flow.Table
		if err := r.ReadSummary(&summary); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if err := r.Read(&whole); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		for call, st := range map[string]flow.Stats{"ReadSummary": summary.Stats, "Read": whole.Stats} {
			if st.Max <= 0 || st.MaxWritable != flow.TriNo || st.InitialNetNS != wantInitial {
				t.Errorf("%s %s: max %d, writable %v, initial namespace %v; want a max, no, %v",
					kind, call, st.Max, st.MaxWritable, st.InitialNetNS, wantInitial)
			}
		}
	}
}
