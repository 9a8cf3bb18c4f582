package netns

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"syscall"
	"testing"

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
