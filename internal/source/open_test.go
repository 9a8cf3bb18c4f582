package source

import (
	"errors"
	"testing"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/nstest"
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
