package source

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/nstest"
	"golang.org/x/sys/unix"
)

func TestOpenFile(t *testing.T) {
	r, err := Open(Options{File: "../../testdata/conntrack-L.txt", Kind: KindNetlink, NetNS: "ignored-with-a-file"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var tab flow.Table
	if err := r.Read(&tab); err != nil {
		t.Fatal(err)
	}
	if len(tab.Flows) == 0 || !tab.Frozen {
		t.Errorf("saved dump: %d rows, frozen %v", len(tab.Flows), tab.Frozen)
	}
}

func TestOpenUnknownKind(t *testing.T) {
	if _, err := Open(Options{Kind: "ebpf"}); err == nil || err.Error() != `unknown source "ebpf" (want auto, netlink or proc)` {
		t.Errorf("got %v", err)
	}
}

// TestOpenKinds opens each kind of live source in a private namespace: the
// netlink reader can delete, the /proc reader runs its reads inside the
// namespace, and neither reports a fallback.
func TestOpenKinds(t *testing.T) {
	ns := nstest.New(t)
	nlInsertFew(t, ns)
	for _, c := range []struct {
		kind      Kind
		source    string
		canDelete bool
	}{
		{KindAuto, "netlink", true},
		{KindNetlink, "netlink", true},
		{KindProc, "/proc/net/nf_conntrack", false},
	} {
		r, err := Open(Options{Kind: c.kind, NetNS: ns.Name()})
		if err != nil {
			t.Fatalf("%s: %v", c.kind, err)
		}
		var tab flow.Table
		err = r.Read(&tab)
		r.Close()
		if err != nil {
			t.Fatalf("%s: %v", c.kind, err)
		}
		_, canDelete := r.(Deleter)
		if len(tab.Flows) != 5 || tab.Stats.Entries != 5 || tab.Source != c.source || len(tab.Warnings) != 0 || canDelete != c.canDelete {
			t.Errorf("%s: %d rows, %d entries, source %q, warnings %q, deleter %v", c.kind,
				len(tab.Flows), tab.Stats.Entries, tab.Source, tab.Warnings, canDelete)
		}
		// The netlink source looks rows up; /proc cannot.
		if err := r.Refresh(nil, nil); (err == nil) != c.canDelete || err != nil && !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: Refresh(nil, nil) gave %v", c.kind, err)
		}
	}
}

// TestUnavailableHint checks the hint that ends the message of a table that
// cannot be read against each cause, with errors built as the sources build
// them.
func TestUnavailableHint(t *testing.T) {
	netlinkErr := func(err error) error { return fmt.Errorf("netlink: %w", err) }
	procErr := func(err error) error {
		return fmt.Errorf("%w: /proc/net/nf_conntrack: %w (legacy /proc/net/ip_conntrack: %v)", ErrUnavailable, err, unix.ENOENT)
	}
	setns := func(err error) error { return &setnsError{err: err} }
	inNS := func(err error) error { return fmt.Errorf("netns blue: %w", err) }
	const legacy = " (legacy /proc/net/ip_conntrack: no such file or directory)"
	for _, c := range []struct {
		name          string
		netlink, proc error
		want          string
		wantIs        error
	}{
		{"netlink refused", netlinkErr(unix.EPERM), nil,
			"netlink: operation not permitted (netlink needs CAP_NET_ADMIN: run as root or with CAP_NET_ADMIN)", unix.EPERM},
		{"netlink and /proc refused", netlinkErr(unix.EPERM), procErr(unix.EACCES),
			"netlink: operation not permitted; /proc/net/nf_conntrack: permission denied" + legacy +
				" (run as root: netlink needs CAP_NET_ADMIN, and /proc/net/nf_conntrack is readable by root only)", unix.EPERM},
		{"/proc refused", nil, procErr(unix.EACCES),
			"/proc/net/nf_conntrack: permission denied" + legacy + " (/proc/net/nf_conntrack is readable by root only: run as root)", unix.EACCES},
		{"no ctnetlink module", netlinkErr(unix.EOPNOTSUPP), nil,
			"netlink: operation not supported (load the module: modprobe nf_conntrack_netlink)", unix.EOPNOTSUPP},
		{"no nfnetlink", netlinkErr(unix.EPROTONOSUPPORT), nil,
			"netlink: protocol not supported (load the module: modprobe nf_conntrack_netlink)", unix.EPROTONOSUPPORT},
		{"netlink ENOENT", netlinkErr(unix.ENOENT), nil,
			"netlink: no such file or directory (load the module: modprobe nf_conntrack_netlink)", unix.ENOENT},
		{"no /proc file", nil, procErr(unix.ENOENT),
			"/proc/net/nf_conntrack: no such file or directory" + legacy + " (load the module: modprobe nf_conntrack)", unix.ENOENT},
		{"no modules", netlinkErr(unix.EOPNOTSUPP), procErr(unix.ENOENT),
			"netlink: operation not supported; /proc/net/nf_conntrack: no such file or directory" + legacy +
				" (load the modules: modprobe nf_conntrack_netlink (which loads nf_conntrack too))", unix.EOPNOTSUPP},
		{"netlink refused, no /proc file", netlinkErr(unix.EPERM), procErr(unix.ENOENT),
			"netlink: operation not permitted; /proc/net/nf_conntrack: no such file or directory" + legacy +
				" (netlink needs CAP_NET_ADMIN: run as root or with CAP_NET_ADMIN; load the module: modprobe nf_conntrack)", unix.EPERM},
		{"another namespace refused", netlinkErr(setns(unix.EPERM)), inNS(setns(unix.EPERM)),
			"netlink: entering the namespace: operation not permitted; netns blue: entering the namespace: operation not permitted" +
				" (reading another network namespace needs CAP_SYS_ADMIN as well as CAP_NET_ADMIN: run as root)", unix.EPERM},
		{"another namespace, netlink refused after entering", netlinkErr(unix.EPERM), nil,
			"netlink: operation not permitted (netlink needs CAP_NET_ADMIN: run as root or with CAP_NET_ADMIN)", unix.EPERM},
		{"unknown cause", netlinkErr(errors.New("no answer from the kernel in 30s")), nil,
			"netlink: no answer from the kernel in 30s", nil},
	} {
		err := unavailable(c.netlink, c.proc)
		if want := "cannot read the conntrack table: " + c.want; err.Error() != want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, err, want)
		}
		if !errors.Is(err, ErrUnavailable) || c.wantIs != nil && !errors.Is(err, c.wantIs) {
			t.Errorf("%s: %v matches ErrUnavailable %v, %v %v", c.name, err,
				errors.Is(err, ErrUnavailable), c.wantIs, errors.Is(err, c.wantIs))
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: more than one line: %q", c.name, err)
		}
	}
}

// TestNetNSOpenError: a namespace file that cannot be opened says why, and
// says "run as root" only to a process that is not root.
func TestNetNSOpenError(t *testing.T) {
	pathErr := func(path string, err error) error { return &fs.PathError{Op: "open", Path: path, Err: err} }
	for _, c := range []struct {
		spec, path string
		err        error
		root       bool
		want       string
	}{
		{"blue", "/var/run/netns/blue", unix.ENOENT, true, "netns blue: no such namespace under /var/run/netns"},
		{"/srv/ns", "/srv/ns", unix.ENOENT, true, "netns /srv/ns: no such file"},
		{"/srv/ns", "/srv/ns", unix.EACCES, true, "netns /srv/ns: permission denied"},
		{"/srv/ns", "/srv/ns", unix.EACCES, false, "netns /srv/ns: permission denied (run as root)"},
		{"blue", "/var/run/netns/blue", unix.EACCES, false, "netns blue: permission denied (run as root)"},
		{"/proc/42/ns/net", "/proc/42/ns/net", unix.EACCES, true, "netns /proc/42/ns/net: permission denied (another user's process: needs CAP_SYS_PTRACE)"},
		{"/proc/42/ns/net", "/proc/42/ns/net", unix.EACCES, false, "netns /proc/42/ns/net: permission denied (another user's process: run as root)"},
		{"/srv/ns", "/srv/ns", unix.EPERM, true, "netns /srv/ns: operation not permitted"},
		{"/srv/ns", "/srv/ns", unix.ELOOP, true, "netns /srv/ns: too many levels of symbolic links"},
	} {
		err := netnsOpenError(c.spec, c.path, pathErr(c.path, c.err), c.root)
		if err.Error() != c.want {
			t.Errorf("%s, %v, root %v:\n got %s\nwant %s", c.path, c.err, c.root, err, c.want)
		}
		if !errors.Is(err, c.err) {
			t.Errorf("%s, %v: %v does not match the cause", c.path, c.err, err)
		}
	}
}
