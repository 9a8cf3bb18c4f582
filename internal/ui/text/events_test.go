package text

import (
	"bufio"
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gostate/gostate/internal/flow"
)

// eventAt is a time in a zone east of UTC, with a fraction to round down.
var eventAt = time.Date(2026, 11, 25, 13, 14, 15, 123456789, time.FixedZone("CET", 3600))

func writeEvents(t *testing.T, json bool, kinds []string, flows []flow.Flow) []string {
	t.Helper()
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	e := NewEventWriter(w, json)
	for i := range flows {
		if err := e.Write(kinds[i], eventAt, &flows[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(buf.String(), "\n")
	return lines[:len(lines)-1] // the empty string after the last newline
}

// eventFlows are a TCP flow as NEW, UPDATE and DESTROY events give it (the
// last with counters and no timeout: it expired), a UDP flow over IPv6, an
// ICMP echo, and a DNAT'd flow.
func eventFlows() (kinds []string, flows []flow.Flow) {
	tcp := mkFlow(flow.ProtoTCP, "192.0.2.10", "198.51.100.20", 40000, 443)
	tcp.State, tcp.Timeout = flow.TCPSynSent, 120
	up := tcp
	up.State, up.Timeout = flow.TCPEstablished, 432000
	gone := up
	gone.Present = gone.Present&^flow.HasTimeout | flow.HasCounters
	gone.OrigBytes, gone.ReplyBytes, gone.OrigPackets, gone.ReplyPackets = 1000, 2000, 10, 12
	udp := mkFlow(flow.ProtoUDP, "2001:db8::1", "2001:db8::2", 5353, 53)
	udp.Timeout = 30
	tab := testTable()
	icmp, nat := tab.Flows[2], tab.Flows[3]
	icmp.Timeout, nat.Timeout = 29, 100
	return []string{"new", "update", "destroy", "new", "new", "destroy"},
		[]flow.Flow{tcp, up, gone, udp, icmp, nat}
}

func TestEventText(t *testing.T) {
	kinds, flows := eventFlows()
	got := writeEvents(t, false, kinds, flows)
	want := []string{
		"[NEW]  2026-11-25T13:14:15.123+01:00  192.0.2.10:40000  198.51.100.20:443  tcp  SYN_SENT  0:02:00\n",
		"[UPDATE]  2026-11-25T13:14:15.123+01:00  192.0.2.10:40000  198.51.100.20:443  tcp  ESTABLISHED  120:00:00\n",
		"[DESTROY]  2026-11-25T13:14:15.123+01:00  192.0.2.10:40000  198.51.100.20:443  tcp  ESTABLISHED  -  2.9KiB  22\n",
		"[NEW]  2026-11-25T13:14:15.123+01:00  [2001:db8::1]:5353  [2001:db8::2]:53  udp  ASSURED  0:00:30\n",
		"[NEW]  2026-11-25T13:14:15.123+01:00  192.0.2.13  203.0.113.7  icmp  8/0 4242 ASSURED  0:00:29\n",
		"[DESTROY]  2026-11-25T13:14:15.123+01:00  192.0.2.14:45000  203.0.113.9:80  tcp  ESTABLISHED  0:01:40  dnat 198.51.100.99:8080\n",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, ""), strings.Join(want, ""))
	}
	// Every line splits on two spaces into the same fields, counters
	// and NAT after them.
	for i, line := range got {
		fields := strings.Split(strings.TrimSuffix(line, "\n"), "  ")
		if n := len(fields); n < 7 || n > 9 || fields[0] != "["+strings.ToUpper(kinds[i])+"]" {
			t.Errorf("line %d: %d fields %q", i, n, fields)
		}
	}
}

// TestEventJSON: each line is the object --json writes for the flow, with
// event and timestamp first.
func TestEventJSON(t *testing.T) {
	kinds, flows := eventFlows()
	got := writeEvents(t, true, kinds, flows)
	if len(got) != len(flows) {
		t.Fatalf("%d lines for %d events", len(got), len(flows))
	}
	tab := &flow.Table{Flows: flows}
	var plain bytes.Buffer
	w := bufio.NewWriter(&plain)
	if err := WriteJSON(w, tab, allRows(tab).Idx); err != nil {
		t.Fatal(err)
	}
	objects := strings.SplitAfter(plain.String(), "\n")
	for i, line := range got {
		prefix := `{"event":"` + kinds[i] + `","timestamp":"2026-11-25T13:14:15.123+01:00",`
		if !strings.HasPrefix(line, prefix) {
			t.Errorf("line %d does not start with %s: %s", i, prefix, line)
			continue
		}
		// What follows the two fields is exactly --json's object.
		if rest := "{" + strings.TrimPrefix(line, prefix); rest != objects[i] {
			t.Errorf("line %d: the flow's fields\n%s\ndiffer from --json's\n%s", i, rest, objects[i])
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("line %d is not JSON: %v\n%s", i, err, line)
			continue
		}
		if ts, err := time.Parse(time.RFC3339Nano, rec["timestamp"].(string)); err != nil || !ts.Equal(eventAt.Truncate(time.Millisecond)) {
			t.Errorf("line %d: timestamp %v (%v), want %v", i, rec["timestamp"], err, eventAt)
		}
	}
}

// TestEventWriterNoAllocations: once its buffer has grown, writing an event
// allocates nothing, text or JSON.
func TestEventWriterNoAllocations(t *testing.T) {
	kinds, flows := eventFlows()
	for _, asJSON := range []bool{false, true} {
		e := NewEventWriter(bufio.NewWriterSize(discard{}, 4096), asJSON)
		allocs := testing.AllocsPerRun(100, func() {
			for i := range flows {
				e.Write(kinds[i], eventAt, &flows[i])
			}
		})
		if allocs != 0 {
			t.Errorf("json %v: %.1f allocations per %d events, want 0", asJSON, allocs, len(flows))
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
