package netns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
)

// newNS creates a private namespace for one test, deleted when it ends, or
// skips the test when the machine cannot make one.
func newNS(t *testing.T) string {
	t.Helper()
	if err := Usable(); err != nil {
		t.Skip(err)
	}
	// Random, since other checkouts' tests may run on the same machine.
	var b [4]byte
	rand.Read(b[:])
	name := "gostate-test-" + hex.EncodeToString(b[:])
	if err := Create(name); err != nil {
		if errors.Is(err, os.ErrPermission) {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Remove(name); err != nil {
			t.Error(err)
		}
	})
	return Path(name)
}

// Run really runs in the namespace: the thread's network namespace is the
// file's, and the caller's thread stays where it was.
func TestRunJoinsTheNamespace(t *testing.T) {
	path := newNS(t)
	want := inode(t, path)
	err := Run(path, func() error {
		if got := inode(t, "/proc/thread-self/ns/net"); got != want {
			t.Errorf("thread's namespace inode %d, want %d", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := inode(t, "/proc/thread-self/ns/net"); got == want {
		t.Error("the caller's thread moved into the namespace")
	}
	if err := Run("/nonexistent", func() error { return nil }); err == nil {
		t.Error("Run in a missing namespace file succeeded")
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestPath(t *testing.T) {
	for in, want := range map[string]string{
		"demo":             "/var/run/netns/demo",
		"/proc/1/ns/net":   "/proc/1/ns/net",
		"./relative/netns": "./relative/netns",
	} {
		if got := Path(in); got != want {
			t.Errorf("Path(%q) = %q, want %q", in, got, want)
		}
	}
}

// key identifies an entry the way the kernel does: original tuple and zone.
type key struct {
	proto    uint8
	src, dst netip.Addr
	sport    uint16
	dport    uint16
}

func keyOf(f conntrack.Flow) key {
	o := f.TupleOrig
	return key{o.Proto.Protocol, o.IP.SourceAddress, o.IP.DestinationAddress,
		o.Proto.SourcePort, o.Proto.DestinationPort}
}

// dump reads the namespace's table over a ctnetlink socket of its own.
func dump(t *testing.T, path string) map[key]conntrack.Flow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := conntrack.Dial(&netlink.Config{NetNS: int(f.Fd())})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	flows, err := c.Dump(nil)
	if err != nil {
		t.Fatalf("dump %s: %v", path, err)
	}
	m := make(map[key]conntrack.Flow, len(flows))
	for _, f := range flows {
		m[keyOf(f)] = f
	}
	return m
}

func TestFill(t *testing.T) {
	path := newNS(t)
	const n = 5000
	r, err := Fill(path, n, FillOptions{})
	if err != nil || r.Created != n || r.Existing != 0 || r.Full {
		t.Fatalf("fill %d: %+v, %v", n, r, err)
	}
	// The hand-made netlink requests say what fillFlow says.
	got := dump(t, path)
	if len(got) != n {
		t.Errorf("the table holds %d entries after filling %d", len(got), n)
	}
	for i := range n {
		w := fillFlow(i, "mix", 3600)
		g, ok := got[keyOf(w)]
		switch {
		case !ok:
			t.Fatalf("entry %d (%v) missing", i, w.TupleOrig)
		case g.TupleReply.IP != w.TupleReply.IP || g.TupleReply.Proto.SourcePort != w.TupleReply.Proto.SourcePort:
			t.Fatalf("entry %d: reply tuple %v, want %v", i, g.TupleReply, w.TupleReply)
		case g.Mark != w.Mark || g.Status != w.Status || g.Timeout > w.Timeout || g.Timeout+5 < w.Timeout:
			t.Fatalf("entry %d: mark %d status %v timeout %d, want %d %v %d",
				i, g.Mark, g.Status, g.Timeout, w.Mark, w.Status, w.Timeout)
		case (w.ProtoInfo.TCP == nil) != (g.ProtoInfo.TCP == nil),
			w.ProtoInfo.TCP != nil && g.ProtoInfo.TCP.State != w.ProtoInfo.TCP.State:
			t.Fatalf("entry %d: TCP info %+v, want %+v", i, g.ProtoInfo.TCP, w.ProtoInfo.TCP)
		}
	}
	// A second fill of the same namespace finds its entries there.
	r, err = Fill(path, 100, FillOptions{Proto: "mix"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Created != 0 || r.Existing != 100 || r.Full {
		t.Errorf("refill: %+v, want 100 existing", r)
	}
}

func TestFillFlowsAreDistinct(t *testing.T) {
	const n = 200000
	seen := make(map[key]int, n)
	protos := map[uint8]int{}
	for i := range n {
		f := fillFlow(i, "mix", 3600)
		k := keyOf(f)
		if j, dup := seen[k]; dup {
			t.Fatalf("entries %d and %d share the tuple %v", j, i, f.TupleOrig)
		}
		seen[k] = i
		protos[k.proto]++
		if f.Timeout < 1800 || f.Timeout > 3600 {
			t.Fatalf("entry %d: timeout %d outside 1800..3600", i, f.Timeout)
		}
		for _, a := range []netip.Addr{k.src, k.dst} {
			if !documentation(a) {
				t.Fatalf("entry %d uses %v, outside the documentation ranges", i, a)
			}
		}
	}
	if protos[6] != n/2 || protos[17] != n/2 {
		t.Errorf("mix gave %d tcp and %d udp, want half each", protos[6], protos[17])
	}
}

func documentation(a netip.Addr) bool {
	for _, p := range []string{"192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"} {
		if netip.MustParsePrefix(p).Contains(a) {
			return true
		}
	}
	return false
}

func TestFillRejectsBadOptions(t *testing.T) {
	if _, err := Fill("/nonexistent", 1, FillOptions{Proto: "sctp"}); err == nil {
		t.Error("protocol sctp accepted")
	}
	if _, err := Fill("/nonexistent", -1, FillOptions{}); err == nil {
		t.Error("negative count accepted")
	}
	if _, err := Fill("/nonexistent", 1, FillOptions{}); err == nil {
		t.Error("missing namespace file accepted")
	}
}

// churnSizes runs Churn on path while sampling the table's size, and returns
// the result and every size seen.
func churnSizes(t *testing.T, ctx context.Context, path string, o ChurnOptions) (ChurnResult, []int) {
	t.Helper()
	type done struct {
		r   ChurnResult
		err error
	}
	finished := make(chan done, 1)
	go func() {
		r, err := Churn(ctx, path, o)
		finished <- done{r, err}
	}()
	var sizes []int
	for {
		n, err := Count(path)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, n)
		select {
		case d := <-finished:
			if d.err != nil {
				t.Fatalf("churn: %v (after %+v)", d.err, d.r)
			}
			return d.r, sizes
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Churn replaces the table's entries, oldest first, while its size stays
// within one batch of where it was; every original tuple is gone at the end
// and the table holds exactly the newest Window entries.
func TestChurnTurnsTheTableOver(t *testing.T) {
	path := newNS(t)
	const window, total = 3000, 4000
	if r, err := Fill(path, window, FillOptions{}); err != nil || r.Created != window {
		t.Fatalf("fill %d: %+v, %v", window, r, err)
	}
	before := dump(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a guard, not a timing
	defer cancel()
	var reports int
	r, sizes := churnSizes(t, ctx, path, ChurnOptions{Rate: 2000, Window: window, Total: total,
		Progress: func(p ChurnResult) {
			reports++
			if p.Created != p.Deleted || p.Next-window != p.Created {
				t.Errorf("progress report %+v: creates and deletes out of step", p)
			}
		}})
	if r.Created != total || r.Deleted != total || r.Existing != 0 || r.Missing != 0 || r.Full || r.Next != window+total {
		t.Errorf("churn: %+v, want %d created and deleted, next %d", r, total, window+total)
	}
	for _, n := range sizes {
		if n < window-batchSize || n > window+batchSize {
			t.Errorf("the table held %d entries during the churn, want %d ± %d (all sizes: %v)", n, window, batchSize, sizes)
			break
		}
	}
	after := dump(t, path)
	if len(after) != window {
		t.Errorf("the table holds %d entries after the churn, want %d", len(after), window)
	}
	for k := range before {
		if _, ok := after[k]; ok {
			t.Fatalf("entry %d %v:%d > %v:%d is still there after the whole table turned over",
				k.proto, k.src, k.sport, k.dst, k.dport)
		}
	}
	// The newest window entries: total to window+total-1.
	for i := total; i < window+total; i++ {
		w := fillFlow(i, "mix", 3600)
		if _, ok := after[keyOf(w)]; !ok {
			t.Fatalf("churned entry %d (%v) missing", i, w.TupleOrig)
		}
	}
	t.Logf("%d size samples, %d progress reports, %.0f new/s, %.0f gone/s", len(sizes), reports, r.NewRate(), r.GoneRate())
}

// However the churn is stopped, it stops between steps: the table keeps
// exactly its size.
func TestChurnStopsWithTheTableWhole(t *testing.T) {
	path := newNS(t)
	const window = 2000
	if r, err := Fill(path, window, FillOptions{Proto: "udp"}); err != nil || r.Created != window {
		t.Fatalf("fill %d: %+v, %v", window, r, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Stopped from its first progress report, about a second in.
	r, err := Churn(ctx, path, ChurnOptions{Rate: 1500, Window: window, Proto: "udp", Progress: func(ChurnResult) { cancel() }})
	if err != nil {
		t.Fatal(err)
	}
	if r.Created == 0 || r.Created != r.Deleted || r.Existing != 0 || r.Missing != 0 || r.Next != window+r.Created {
		t.Errorf("churn: %+v, want as many created as deleted, and some", r)
	}
	if n, err := Count(path); err != nil || n != window {
		t.Errorf("the table holds %d entries (%v) after the churn stopped, want %d", n, err, window)
	}
	// The table holds entries Next-window to Next-1: those the churn had
	// not reached yet and those it made; the last one it replaced is gone.
	after := dump(t, path)
	for i := r.Next - window; i < r.Next; i++ {
		if _, ok := after[keyOf(fillFlow(i, "udp", 3600))]; !ok {
			t.Fatalf("entry %d missing after churning %d", i, r.Created)
		}
	}
	if _, ok := after[keyOf(fillFlow(r.Created-1, "udp", 3600))]; ok {
		t.Errorf("entry %d, the last the churn replaced, is still there", r.Created-1)
	}
}

func TestChurnRejectsBadOptions(t *testing.T) {
	for _, o := range []ChurnOptions{
		{Rate: 0, Window: 10},
		{Rate: 10, Window: 0},
		{Rate: 10, Window: 10, Total: -1},
		{Rate: 10, Window: 10, Proto: "sctp"},
	} {
		if _, err := Churn(context.Background(), "/nonexistent", o); err == nil || strings.Contains(err.Error(), "nonexistent") {
			t.Errorf("Churn(%+v): %v, want the options refused", o, err)
		}
	}
	if _, err := Churn(context.Background(), "/nonexistent", ChurnOptions{Rate: 10, Window: 10}); err == nil {
		t.Error("missing namespace file accepted")
	}
}
