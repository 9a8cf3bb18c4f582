package source

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gostate/gostate/internal/flow"
)

func TestProcReader(t *testing.T) {
	for _, tc := range []struct {
		root, path string
		rows       int
		entries    int
		timeouts   int
	}{
		{"../../testdata/proc-6.18", "../../testdata/proc-6.18/net/nf_conntrack", 28, 28, 25},
		{"../../testdata/proc-legacy", "../../testdata/proc-legacy/net/ip_conntrack", 7, 7, 6},
	} {
		p, err := NewProcReader(tc.root)
		if err != nil {
			t.Fatal(err)
		}
		if p.Path() != tc.path {
			t.Errorf("Path() = %q, want %q", p.Path(), tc.path)
		}
		var tab flow.Table
		tab.Warnings = []string{"from an earlier read"}
		for range 2 { // the second read reuses the first's storage
			if err := p.Read(&tab); err != nil {
				t.Fatal(err)
			}
		}
		if len(tab.Flows) != tc.rows || tab.Stats.Entries != tc.entries || len(tab.Timeouts) != tc.timeouts ||
			tab.Source != tc.path || tab.Frozen || tab.Skipped != 0 || len(tab.Warnings) != 0 || tab.ReadAt.IsZero() {
			t.Errorf("%s: got %d rows, %d entries, %d timeouts, source %q, frozen %v, skipped %d, warnings %q",
				tc.root, len(tab.Flows), tab.Stats.Entries, len(tab.Timeouts), tab.Source, tab.Frozen, tab.Skipped, tab.Warnings)
		}
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	}
}

// TestProcReaderThreadSelf checks that per-namespace files are read through
// thread-self when it exists: under --netns only that path shows the
// namespace the reading thread entered.
func TestProcReaderThreadSelf(t *testing.T) {
	root := t.TempDir()
	const line = "ipv4 2 udp 17 30 src=192.0.2.1 dst=192.0.2.2 sport=1 dport=2 src=192.0.2.2 dst=192.0.2.1 sport=2 dport=1 mark=0 zone=0 use=2\n"
	writeFile(t, filepath.Join(root, "thread-self/net/nf_conntrack"), line)
	writeFile(t, filepath.Join(root, "net/nf_conntrack"), line+line) // the leader's namespace
	writeFile(t, filepath.Join(root, "sys/net/netfilter/nf_conntrack_count"), "1\n")
	p, err := NewProcReader(root)
	if err != nil {
		t.Fatal(err)
	}
	var tab flow.Table
	if err := p.Read(&tab); err != nil || len(tab.Flows) != 1 {
		t.Errorf("got %d rows, %v; want the 1 row under thread-self", len(tab.Flows), err)
	}
}

// The timeouts are read once, at open: they rarely change, and ReadSummary
// must stay cheap enough for every second.
func TestProcReaderTimeoutsReadAtOpen(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "net/nf_conntrack"), "")
	writeFile(t, filepath.Join(root, "sys/net/netfilter/nf_conntrack_count"), "0\n")
	udp := filepath.Join(root, "sys/net/netfilter/nf_conntrack_udp_timeout")
	writeFile(t, udp, "30\n")
	p, err := NewProcReader(root)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, udp, "45\n")
	var tab flow.Table
	if err := p.ReadSummary(&tab); err != nil {
		t.Fatal(err)
	}
	if want := []flow.Timeout{{Name: "udp", Seconds: 30}}; !slices.Equal(tab.Timeouts, want) {
		t.Errorf("timeouts %v, want %v as read at open", tab.Timeouts, want)
	}
}

func TestProcReaderHealthMissing(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "net/nf_conntrack"), "")
	p, err := NewProcReader(root)
	if err != nil {
		t.Fatal(err)
	}
	var tab flow.Table
	if err := p.Read(&tab); err != nil || len(tab.Warnings) != 1 || tab.Stats.Entries != 0 {
		t.Errorf("got %v, warnings %q, entries %d; want one warning about the count", err, tab.Warnings, tab.Stats.Entries)
	}
}

func TestNewProcReaderUnavailable(t *testing.T) {
	root := t.TempDir()
	_, err := NewProcReader(root)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want ErrUnavailable and ErrNotExist", err)
	}
	for _, want := range []string{filepath.Join(root, "net/nf_conntrack"), filepath.Join(root, "net/ip_conntrack")} {
		if err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not name %s", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "thread-self") {
		t.Errorf("%q names the thread-self path instead of the one users know", err)
	}

	if os.Geteuid() == 0 {
		return // root reads mode 0 files
	}
	writeFile(t, filepath.Join(root, "net/nf_conntrack"), "")
	if err := os.Chmod(filepath.Join(root, "net/nf_conntrack"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := NewProcReader(root); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("got %v, want ErrPermission", err)
	}
}
