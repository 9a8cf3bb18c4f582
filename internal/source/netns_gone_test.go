package source

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"testing"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/netns"
)

// ownNetNS creates a private namespace that the test itself may delete and
// create again (nstest.New's would fail its cleanup then); whatever exists
// under the name when the test ends is deleted.
func ownNetNS(t *testing.T) string {
	t.Helper()
	if err := netns.Usable(); err != nil {
		t.Skipf("netns: %v", err)
	}
	var b [4]byte
	rand.Read(b[:])
	name := "gostate-test-" + hex.EncodeToString(b[:])
	if err := netns.Create(name); err != nil {
		if errors.Is(err, os.ErrPermission) {
			t.Skipf("netns: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := os.Stat(netns.Path(name)); err == nil {
			if err := netns.Remove(name); err != nil {
				t.Error(err)
			}
		}
	})
	return name
}

// readAll reads r the three ways a Reader reads and returns their errors.
func readAll(r Reader) (summary, whole, batches error) {
	var t flow.Table
	summary = r.ReadSummary(&t)
	whole = r.Read(&t)
	batches = r.ReadBatches(&t, 64, func([]flow.Flow) bool { return true })
	return summary, whole, batches
}

// checkGone checks that every read of r fails with ErrNetNSGone and the
// one-line message want.
func checkGone(t *testing.T, what string, r Reader, want string) {
	t.Helper()
	summary, whole, batches := readAll(r)
	for i, err := range []error{summary, whole, batches} {
		call := [...]string{"ReadSummary", "Read", "ReadBatches"}[i]
		if !errors.Is(err, ErrNetNSGone) || err.Error() != want {
			t.Errorf("%s: %s gave %v; want %q wrapping ErrNetNSGone", what, call, err, want)
		}
	}
}

// checkReads checks that every read of r succeeds.
func checkReads(t *testing.T, what string, r Reader) {
	t.Helper()
	summary, whole, batches := readAll(r)
	if err := errors.Join(summary, whole, batches); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// After `ip netns del`, the namespace lives on in the reader's own sockets
// and file: reads of a reader opened by name, or by its /var/run/netns path,
// must say that it was deleted instead of going on showing it.
func TestNetNSDeleted(t *testing.T) {
	for _, kind := range []Kind{KindNetlink, KindProc} {
		for _, byPath := range []bool{false, true} {
			name := ownNetNS(t)
			spec := name
			if byPath {
				spec = netns.Path(name)
			}
			what := fmt.Sprintf("%s %s", kind, spec)
			r, err := Open(Options{Kind: kind, NetNS: spec})
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			defer r.Close()
			checkReads(t, what+" before the delete", r)
			if err := netns.Remove(name); err != nil {
				t.Fatal(err)
			}
			checkGone(t, what, r, "netns "+spec+" was deleted (ip netns del): showing its last state")
		}
	}
}

// A namespace deleted and created again under the same name is another
// namespace (another inode): the reader must not mistake it for its own.
func TestNetNSRecreated(t *testing.T) {
	for _, kind := range []Kind{KindNetlink, KindProc} {
		name := ownNetNS(t)
		r, err := Open(Options{Kind: kind, NetNS: name})
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		defer r.Close()
		checkReads(t, string(kind)+" before the delete", r)
		if err := netns.Remove(name); err != nil {
			t.Fatal(err)
		}
		if err := netns.Create(name); err != nil {
			t.Fatal(err)
		}
		checkGone(t, string(kind), r, "netns "+name+" now names another namespace (deleted and added again): showing the old one's last state")
	}
}

// A namespace given as /proc/PID/ns/net is gone for gostate when its process
// ends, even though the namespace itself lives on (here: it has a name too).
func TestNetNSProcessEnded(t *testing.T) {
	name := ownNetNS(t)
	path := netns.Path(name)
	for _, kind := range []Kind{KindNetlink, KindProc} {
		// `ip netns exec` enters the namespace and then executes sleep in
		// the same process.
		sleeper := exec.Command(netns.Tool("ip"), "netns", "exec", name, "sleep", "60")
		if err := sleeper.Start(); err != nil {
			t.Fatal(err)
		}
		procPath := fmt.Sprintf("/proc/%d/ns/net", sleeper.Process.Pid)
		waitNetNS(t, procPath, path)
		r, err := Open(Options{Kind: kind, NetNS: procPath})
		if err != nil {
			sleeper.Process.Kill()
			sleeper.Wait()
			t.Fatalf("%s: %v", kind, err)
		}
		defer r.Close()
		checkReads(t, string(kind)+" while the process runs", r)
		sleeper.Process.Kill()
		sleeper.Wait()
		if _, err := os.Stat(procPath); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s still opens after its process ended: %v", procPath, err)
		}
		checkGone(t, string(kind), r, "netns "+procPath+" is gone (its process ended): showing its last state")
	}
}

func TestGoneMessage(t *testing.T) {
	for _, c := range []struct {
		spec, path string
		err        error
		want       string
	}{
		{"blue", "/var/run/netns/blue", fs.ErrNotExist, "netns blue was deleted (ip netns del): showing its last state"},
		{"/run/netns/blue", "/run/netns/blue", fs.ErrNotExist, "netns /run/netns/blue was deleted (ip netns del): showing its last state"},
		{"blue", "/var/run/netns/blue", nil, "netns blue now names another namespace (deleted and added again): showing the old one's last state"},
		{"/proc/42/ns/net", "/proc/42/ns/net", fs.ErrNotExist, "netns /proc/42/ns/net is gone (its process ended): showing its last state"},
		{"/proc/42/ns/net", "/proc/42/ns/net", nil, "netns /proc/42/ns/net now names another namespace: showing the last state of the one opened"},
		{"/srv/ns/a", "/srv/ns/a", fs.ErrNotExist, "netns /srv/ns/a was removed: showing its last state"},
		{"/proc/42/ns/net", "/proc/42/ns/net", fs.ErrPermission, "netns /proc/42/ns/net can no longer be opened (permission denied): showing its last state"},
	} {
		if got := goneMessage(c.spec, c.path, c.err); got != c.want {
			t.Errorf("goneMessage(%q, %q, %v):\n got %q\nwant %q", c.spec, c.path, c.err, got, c.want)
		}
	}
}
