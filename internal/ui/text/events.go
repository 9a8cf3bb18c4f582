package text

import (
	"bufio"
	"time"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/ui"
)

// EventTimeLayout is the timestamp of each event line, text and JSON alike:
// RFC 3339 in local time with milliseconds and the zone's offset
// (2026-11-25T13:14:15.123+01:00). Admins grep it by date and minute as
// they grep logs (`grep T13:14`), lines sort by it as text within one zone,
// and log pipelines read it as it is; conntrack -E -o timestamp's Unix
// seconds ([1795608855.123456]) need converting at every look.
const EventTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// EventWriter writes changes of the table as gostate -E shows them, one line
// per event, as text or as JSON Lines. It formats into a buffer of its own,
// allocating nothing per event once the buffer has grown to a line.
//
// A text line is the event's kind in capitals and brackets as conntrack -E
// prints it, the timestamp, then the flow's cells as the one-shot table
// shows them (package ui's columns), each at its own width:
//
//	[KIND]  TIMESTAMP  SOURCE  DESTINATION  PROTO  STATE  TTL  [BYTES  PACKETS]  [NAT]
//
// Fields are separated by two spaces and hold at most single spaces (ICMP's
// "8/0 4242", NAT's "snat ADDR:PORT"), so awk -F'  ' splits them exactly; an
// empty field is "-" (the state of UDP, the TTL of an expired flow), so
// fields keep their places. Bytes and Packets come only when the event
// carries counters: DESTROY events of flows the kernel counted
// (nf_conntrack_acct=1 when they were created). NAT comes last, when the
// flow is NAT'd.
//
// A JSON line is the object --json writes for the flow, with two fields
// first: "event" (new, update or destroy) and "timestamp" (EventTimeLayout).
type EventWriter struct {
	w     *bufio.Writer
	json  bool
	cells ui.Cells
	line  []byte
}

// NewEventWriter returns a writer of events to w: JSON Lines when json is
// set, else text lines.
func NewEventWriter(w *bufio.Writer, json bool) *EventWriter {
	return &EventWriter{w: w, json: json, line: make([]byte, 0, jsonRowBytes)}
}

// eventColumns are the cells of every text line, in order.
var eventColumns = [...]ui.Column{ui.ColSource, ui.ColDestination, ui.ColProto, ui.ColState, ui.ColTTL}

// Write writes the line of one event: kind is its name ("new", "update",
// "destroy"), at when it was received, f the flow as the event gave it. The
// line stays in w's buffer until w is flushed; the error is w's.
func (e *EventWriter) Write(kind string, at time.Time, f *flow.Flow) error {
	b := e.line[:0]
	if e.json {
		b = append(b, `{"event":"`...)
		b = append(b, kind...)
		b = append(b, `","timestamp":"`...)
		b = at.AppendFormat(b, EventTimeLayout)
		b = append(b, '"')
		b = append(appendFlowFields(b, f), '}', '\n')
	} else {
		b = append(b, '[')
		for i := range len(kind) {
			c := kind[i]
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			b = append(b, c)
		}
		b = append(b, "]  "...)
		b = at.AppendFormat(b, EventTimeLayout)
		for _, col := range eventColumns {
			b = e.appendCell(b, col, f)
		}
		if f.Present&flow.HasCounters != 0 {
			b = e.appendCell(b, ui.ColBytes, f)
			b = e.appendCell(b, ui.ColPackets, f)
		}
		if f.NATed() {
			b = e.appendCell(b, ui.ColNAT, f)
		}
		b = append(b, '\n')
	}
	e.line = b
	_, err := e.w.Write(b)
	return err
}

// appendCell appends two spaces and the cell of col, "-" when it is empty.
func (e *EventWriter) appendCell(b []byte, col ui.Column, f *flow.Flow) []byte {
	b = append(b, "  "...)
	n := len(b)
	if b = e.cells.Append(b, col, f); len(b) == n {
		b = append(b, '-')
	}
	return b
}
