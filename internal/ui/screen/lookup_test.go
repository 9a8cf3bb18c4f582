package screen

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/gdamore/tcell/v2"

	"github.com/gostate/gostate/internal/nstest"
	"github.com/gostate/gostate/internal/resolve"
)

// TestLookupNamesOnScreen runs the screen with -l against a DNS server of
// the test's own, in a process inside a private network namespace, so that
// no query can leave that namespace's loopback nor reach a real resolver. It
// checks what a person sees: names in place of the addresses DNS names,
// addresses where it names none, nothing of a hostile name on the terminal,
// and l turning the names back into numbers.
func TestLookupNamesOnScreen(t *testing.T) {
	if !nstest.Isolated(t) {
		return // the test ran in the isolated child
	}
	var (
		// The rows of sampleTable, with what DNS says about each end.
		web     = mustAddr("192.0.2.10")   // web1.example
		hostile = mustAddr("198.51.100.7") // a name with an escape sequence
		mixed   = mustAddr("198.51.100.1") // a hostile name beside a good one
		unnamed = mustAddr("192.0.2.200")  // NXDOMAIN
		v6src   = mustAddr("2001:db8::1")  // NXDOMAIN
		v6dst   = mustAddr("2001:db8::2")  // NXDOMAIN
	)
	srv := nstest.StartDNS(t, map[netip.Addr][]string{
		web:     {"web1.example."},
		hostile: {"evil\x1b[31m.example."},
		mixed:   {"evil\x1b]0;pwned\x07.example.", "good.example."},
	})
	h := startScreen(t, sampleTable(), nil, cfg{Lookup: true, NameServer: srv.Addr()}, 120, 30)

	// The screen asks while drawing and redraws when the answer arrives,
	// with no key pressed.
	h.waitForText("web1.example:40000")

	// Wait until every address on screen has its answer, then redraw, so
	// that an address still shown as a number is one DNS gave no usable
	// name for, not one whose answer is on its way.
	shown := []netip.Addr{web, hostile, mixed, unnamed, v6src, v6dst}
	var r *resolve.Resolver
	h.onUI(func() { r = h.u.resolver })
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	r.ResolveAll(ctx, shown)
	if ctx.Err() != nil {
		t.Fatal("the lookups did not end")
	}
	cancel()
	for _, a := range shown {
		if srv.Queries(a) == 0 {
			t.Errorf("%v: the test's DNS server was never asked", a)
		}
	}
	h.onUI(func() { h.u.gen++ })
	h.sync()

	h.contains("web1.example:40000")
	h.lacks("192.0.2.10")
	h.lacks("203.0.113.9")     // lookups hide DNS flows, as iptstate's do
	h.contains("good.example") // ICMP: no port
	h.lacks("198.51.100.1 ")
	// Go's DNS client drops a name that is not a host name (RFC 1123
	// letters, digits, '-', '_'), so the hostile name never reaches the
	// screen, not even with '?' for its ESC: its address stays a number.
	h.contains("198.51.100.7:443")
	h.lacks("evil")
	h.lacks("[31m")
	h.contains("192.0.2.200")
	h.contains("[2001:db8::1]:50000")
	h.contains("[2001:db8::2]:22")
	h.noControlCells()

	h.key(tcell.KeyRune, 'l', 0)
	h.contains("name lookups off")
	h.contains("192.0.2.10:40000")
	h.contains("198.51.100.1 ")
	h.lacks("web1.example")
	h.lacks("good.example")

	// On again: the names come back at once, from the cache.
	h.key(tcell.KeyRune, 'l', 0)
	h.contains("web1.example:40000")
	h.contains("good.example")
	h.lacks("192.0.2.10")
	h.noControlCells()
}

// waitForText waits until the screen shows s, drawn by the UI goroutine on
// its own.
func (h *harness) waitForText(s string) {
	h.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !strings.Contains(h.text(), s) {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %q; screen:\n%s", s, h.text())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// noControlCells fails if any cell of the screen holds a control character:
// an ESC there would reach the terminal as the start of an escape sequence.
func (h *harness) noControlCells() {
	h.t.Helper()
	var cells []tcell.SimCell
	h.onUI(func() {
		c, _, _ := h.sim.GetContents()
		for _, cell := range c {
			cells = append(cells, tcell.SimCell{Bytes: append([]byte(nil), cell.Bytes...), Runes: append([]rune(nil), cell.Runes...)})
		}
	})
	for i, c := range cells {
		for _, r := range c.Runes {
			if unicode.IsControl(r) {
				h.t.Errorf("cell %d holds control character %U; screen:\n%s", i, r, h.text())
			}
		}
		for _, b := range c.Bytes {
			if b < 0x20 || b == 0x7f {
				h.t.Errorf("cell %d holds control byte %#x; screen:\n%s", i, b, h.text())
			}
		}
	}
}
