package live

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/gostate/gostate/internal/flow"
)

// row makes a TCP flow from 192.0.2.x:port to 198.51.100.1:443, with a
// timeout, identified by (n, port).
func row(n uint16, port uint16, timeout uint32) flow.Flow {
	f := flow.Flow{Family: flow.FamilyIPv4, Proto: flow.ProtoTCP, Timeout: timeout, Present: flow.HasTimeout}
	f.Orig.Src = flow.AddrFromSlice([]byte{192, 0, 2, byte(n)})
	f.Orig.Dst = flow.AddrFromSlice([]byte{198, 51, 100, 1})
	f.Orig.SrcPort, f.Orig.DstPort = port, 443
	f.Reply = f.Orig.Mirror()
	return f
}

func key(f flow.Flow) flow.Key { return f.Key() }

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func read(t *Table, at time.Time, rows ...flow.Flow) (born, gone int) {
	t.Begin(len(rows))
	// Two batches, as a reader delivers them.
	t.Merge(rows[:len(rows)/2], at)
	t.Merge(rows[len(rows)/2:], at)
	return t.End(&flow.Table{ReadAt: at, Source: "test"})
}

func TestMergeUpdatesAppendsAndRemoves(t *testing.T) {
	var tab Table
	if born, gone := read(&tab, t0, row(1, 1000, 100), row(2, 1000, 100), row(3, 1000, 100)); born != 3 || gone != 0 {
		t.Fatalf("first read: born %d gone %d, want 3 0", born, gone)
	}
	// Row 2 is gone, row 1 changed state, row 4 is new.
	r1 := row(1, 1000, 90)
	r1.State = 3
	born, gone := read(&tab, t0.Add(10*time.Second), row(3, 1000, 90), r1, row(4, 1000, 60))
	if born != 1 || gone != 1 {
		t.Fatalf("second read: born %d gone %d, want 1 1", born, gone)
	}
	if len(tab.Flows) != 3 {
		t.Fatalf("%d rows, want 3", len(tab.Flows))
	}
	for _, want := range []flow.Flow{r1, row(3, 1000, 90), row(4, 1000, 60)} {
		i := tab.Find(want.Key())
		if i < 0 {
			t.Fatalf("row %v missing", want.Orig)
		}
		got := tab.Flows[i]
		if got.State != want.State {
			t.Errorf("row %v: state %d, want %d", want.Orig.Src, got.State, want.State)
		}
		// Timeouts count from the first read: 10 s later, 90 s left is 100 s
		// after the epoch.
		if ttl := got.TTL(tab.Epoch, t0.Add(10*time.Second)); ttl != want.Timeout {
			t.Errorf("row %v: TTL %d, want %d", want.Orig.Src, ttl, want.Timeout)
		}
	}
	if tab.Find(key(row(2, 1000, 0))) >= 0 {
		t.Error("row 2 is still found after it left the table")
	}
	if !tab.ReadAt.Equal(t0.Add(10*time.Second)) || tab.Source != "test" {
		t.Errorf("ReadAt %v Source %q: the read's figures were not taken", tab.ReadAt, tab.Source)
	}
}

func TestRowsKeepTheirIndicesDuringARead(t *testing.T) {
	var tab Table
	read(&tab, t0, row(1, 1, 10), row(2, 1, 10))
	before := tab.Find(key(row(2, 1, 0)))
	tab.Begin(3)
	tab.Merge([]flow.Flow{row(9, 1, 10), row(2, 1, 5)}, t0)
	if got := tab.Find(key(row(2, 1, 0))); got != before {
		t.Fatalf("row 2 moved from %d to %d before the read ended", before, got)
	}
	if tab.Flows[before].Timeout != 5 {
		t.Fatalf("row 2 not updated in place: timeout %d", tab.Flows[before].Timeout)
	}
	if len(tab.Flows) != 3 || !tab.Reading() {
		t.Fatalf("%d rows, reading %v; want 3 rows mid-read", len(tab.Flows), tab.Reading())
	}
}

func TestAbortRemovesNothing(t *testing.T) {
	var tab Table
	read(&tab, t0, row(1, 1, 10), row(2, 1, 10), row(3, 1, 10))
	tab.Begin(3)
	tab.Merge([]flow.Flow{row(1, 1, 7)}, t0)
	tab.Abort()
	if len(tab.Flows) != 3 || tab.Reading() {
		t.Fatalf("%d rows after a failed read, want all 3 kept", len(tab.Flows))
	}
	if born, gone := read(&tab, t0, row(1, 1, 10), row(2, 1, 10)); born != 0 || gone != 1 {
		t.Fatalf("read after an abort: born %d gone %d, want 0 1", born, gone)
	}
}

func TestDuplicateInOneReadCountsOnce(t *testing.T) {
	// A dump the kernel marks interrupted may deliver an entry twice.
	var tab Table
	if born, _ := read(&tab, t0, row(1, 1, 10), row(1, 1, 8), row(2, 1, 10), row(2, 1, 10)); born != 2 {
		t.Fatalf("born %d, want 2", born)
	}
	if len(tab.Flows) != 2 {
		t.Fatalf("%d rows, want 2", len(tab.Flows))
	}
}

func TestIdentityIncludesZoneAndProtocol(t *testing.T) {
	var tab Table
	a := row(1, 1, 10)
	b := a
	b.Zone = 7
	c := a
	c.Proto = flow.ProtoUDP
	if born, _ := read(&tab, t0, a, b, c); born != 3 || len(tab.Flows) != 3 {
		t.Fatalf("born %d, rows %d: flows differing only in zone or protocol were merged", born, len(tab.Flows))
	}
}

func TestFrozenTimeoutsDoNotShift(t *testing.T) {
	var tab Table
	tab.Begin(1)
	tab.Merge([]flow.Flow{row(1, 1, 50)}, t0)
	tab.End(&flow.Table{Frozen: true})
	tab.Begin(1)
	tab.Merge([]flow.Flow{row(1, 1, 50)}, t0.Add(time.Hour))
	tab.End(&flow.Table{Frozen: true})
	if got := tab.Flows[0].Timeout; got != 50 {
		t.Fatalf("timeout %d, want the saved 50", got)
	}
}

func TestManyRowsAndShrink(t *testing.T) {
	const n = 10000
	rows := make([]flow.Flow, n)
	for i := range rows {
		rows[i] = row(uint16(i%200), uint16(i), 30)
	}
	var tab Table
	if born, _ := read(&tab, t0, rows...); born != n {
		t.Fatalf("born %d, want %d", born, n)
	}
	// Every second row leaves; all others are found at their new indices.
	half := make([]flow.Flow, 0, n/2)
	for i := 0; i < n; i += 2 {
		half = append(half, rows[i])
	}
	if born, gone := read(&tab, t0, half...); born != 0 || gone != n/2 {
		t.Fatalf("born %d gone %d, want 0 %d", born, gone, n/2)
	}
	for i, f := range rows {
		if got := tab.Find(f.Key()) >= 0; got != (i%2 == 0) {
			t.Fatalf("row %d found %v", i, got)
		}
	}
	if born, gone := read(&tab, t0, rows[:10]...); born != 5 || gone != n/2-5 {
		t.Fatalf("born %d gone %d", born, gone)
	}
	if cap(tab.Flows) > 4*(10+64) {
		t.Fatalf("cap %d after shrinking to 10 rows: memory kept", cap(tab.Flows))
	}
	for _, f := range rows[:10] {
		if tab.Find(f.Key()) < 0 {
			t.Fatalf("row %v lost in shrinking", f.Orig.SrcPort)
		}
	}
}

func TestSteadyReadsDoNotAllocate(t *testing.T) {
	rows := benchRows(10000)
	var tab Table
	read(&tab, t0, rows...)
	allocs := testing.AllocsPerRun(5, func() { read(&tab, t0, rows...) })
	if allocs > 0 {
		t.Fatalf("%v allocations per read of an unchanged table, want 0", allocs)
	}
}

func benchRows(n int) []flow.Flow {
	rows := make([]flow.Flow, n)
	for i := range rows {
		f := &rows[i]
		*f = flow.Flow{Family: flow.FamilyIPv4, Proto: flow.ProtoTCP, Timeout: 300, Present: flow.HasTimeout}
		f.Orig.Src = flow.AddrFromSlice([]byte{192, 0, 2, byte(i)})
		f.Orig.Dst = flow.AddrFromSlice([]byte{198, 51, 100, byte(i >> 16)})
		binary.BigEndian.PutUint16(f.Orig.Dst[12:], uint16(i>>8))
		f.Orig.SrcPort, f.Orig.DstPort = uint16(i), 443
	}
	return rows
}

// BenchmarkRead200k merges a read of 200,000 rows, in batches of 4,096, into
// a table that holds them already (the live screen's steady state): in the
// order of the previous read, as the kernel dumps its hash, and shuffled.
func BenchmarkRead200k(b *testing.B) {
	b.Run("same-order", func(b *testing.B) { benchRead(b, false) })
	b.Run("shuffled", func(b *testing.B) { benchRead(b, true) })
}

func benchRead(b *testing.B, shuffle bool) {
	rows := benchRows(200000)
	var tab Table
	read(&tab, t0, rows...)
	if shuffle {
		rand.New(rand.NewPCG(1, 2)).Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		tab.Begin(len(rows))
		for s := 0; s < len(rows); s += 4096 {
			tab.Merge(rows[s:min(s+4096, len(rows))], t0)
		}
		tab.End(&flow.Table{})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
}

// Random reads, against a model: after each read the table holds exactly the
// flows that read delivered (the last copy of each), found by Find, and born
// and gone are the differences from the read before. Reads come in random
// batch sizes, with repeats, in shuffled or previous order, and a read now
// and then fails half way.
func TestRandomReadsAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	pool := benchRows(3000)
	var tab Table
	model := map[flow.Key]flow.Flow{}
	for round := range 300 {
		// A read: a random subset of the pool, some rows twice, in random order.
		n := rng.IntN(len(pool) + 1)
		if round%50 == 49 {
			n = 0 // an empty table now and then
		}
		read := make([]flow.Flow, 0, n+n/10)
		for _, i := range rng.Perm(len(pool))[:n] {
			f := pool[i]
			f.Timeout = uint32(rng.IntN(1000))
			read = append(read, f)
			if rng.IntN(20) == 0 {
				f.Timeout++
				read = append(read, f)
			}
		}
		tab.Begin(n)
		if rng.IntN(10) == 0 {
			// It fails half way: what it delivered is updated, nothing removed.
			half := read[:len(read)/2]
			tab.Merge(half, t0)
			tab.Abort()
			for _, f := range half {
				model[f.Key()] = f
			}
			checkModel(t, round, &tab, model)
			continue
		}
		next := map[flow.Key]flow.Flow{}
		for s := 0; s < len(read); {
			e := min(len(read), s+1+rng.IntN(500))
			tab.Merge(read[s:e], t0)
			s = e
		}
		for _, f := range read {
			next[f.Key()] = f
		}
		born, gone := tab.End(&flow.Table{})
		wantBorn, wantGone := 0, 0
		for k := range next {
			if _, ok := model[k]; !ok {
				wantBorn++
			}
		}
		for k := range model {
			if _, ok := next[k]; !ok {
				wantGone++
			}
		}
		if born != wantBorn || gone != wantGone {
			t.Fatalf("round %d: born %d gone %d, want %d %d", round, born, gone, wantBorn, wantGone)
		}
		model = next
		checkModel(t, round, &tab, model)
	}
}

func checkModel(t *testing.T, round int, tab *Table, model map[flow.Key]flow.Flow) {
	t.Helper()
	if len(tab.Flows) != len(model) {
		t.Fatalf("round %d: %d rows, want %d", round, len(tab.Flows), len(model))
	}
	for k, want := range model {
		i := tab.Find(k)
		if i < 0 {
			t.Fatalf("round %d: %v missing", round, k.Orig)
		}
		if tab.Flows[i] != want {
			t.Fatalf("round %d: row %v is %+v, want %+v", round, k.Orig, tab.Flows[i], want)
		}
	}
}

// A read that brings far fewer rows than its count promised (the table
// shrank during it) gives the room back, and its rows are still found by the
// next read, not added again.
func TestShrinkWithoutGoneRows(t *testing.T) {
	var tab Table
	rows := benchRows(10)
	tab.Begin(100000)
	tab.Merge(rows, t0)
	if born, gone := tab.End(&flow.Table{}); born != 10 || gone != 0 {
		t.Fatalf("born %d gone %d, want 10 0", born, gone)
	}
	if cap(tab.Flows) > 4*(10+64) {
		t.Fatalf("cap %d after a read of 10 rows: memory kept", cap(tab.Flows))
	}
	for _, f := range rows {
		if tab.Find(f.Key()) < 0 {
			t.Fatalf("row %v not found after the read that shrank the table", f.Orig.SrcPort)
		}
	}
	if born, gone := read(&tab, t0, rows...); born != 0 || gone != 0 || len(tab.Flows) != 10 {
		t.Fatalf("the same 10 rows again: born %d gone %d, %d rows; want 0 0 10", born, gone, len(tab.Flows))
	}
}

// A row looked up on its own between whole reads counts down with the rest:
// Update restates its timeout to the epoch as Merge does.
func TestUpdateRestatesToTheEpoch(t *testing.T) {
	var tab Table
	read(&tab, t0, row(1, 1, 100), row(2, 1, 100))
	i := tab.Find(key(row(2, 1, 0)))
	fresh := row(2, 1, 50)
	fresh.State = 7
	tab.Update(i, &fresh, t0.Add(30*time.Second))
	got := tab.Flows[i]
	if got.State != 7 {
		t.Fatalf("state %d, want 7: the row was not replaced", got.State)
	}
	if ttl := got.TTL(tab.Epoch, t0.Add(30*time.Second)); ttl != 50 {
		t.Errorf("TTL 30 s after the epoch: %d, want the 50 s the lookup read", ttl)
	}
	if fresh.Timeout != 50 {
		t.Errorf("Update changed its argument's timeout to %d", fresh.Timeout)
	}
}

// Events between and during reads against a model of the kernel's table:
// every change is announced (NEW, UPDATE, DESTROY); a read is the table as it
// was when it began, delivered while later events arrive. After Settle
// between reads and after each read's end the table holds exactly the
// kernel's flows, and rows keep their indices until then.
func TestEventsAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	pool := benchRows(2000)
	var tab Table
	kernel := map[flow.Key]flow.Flow{}
	event := func() {
		f := pool[rng.IntN(len(pool))]
		k := f.Key()
		if _, ok := kernel[k]; ok && rng.IntN(2) == 0 {
			delete(kernel, k)
			tab.Destroy(k)
			return
		}
		f.Timeout = uint32(rng.IntN(1000))
		kernel[k] = f
		tab.Upsert(&f, t0)
	}
	settled := func(round int, what string) {
		t.Helper()
		if len(tab.Flows) != len(kernel) {
			t.Fatalf("round %d, %s: %d rows, the kernel has %d", round, what, len(tab.Flows), len(kernel))
		}
		for k := range kernel {
			if tab.Find(k) < 0 {
				t.Fatalf("round %d, %s: flow %v missing", round, what, k.Orig)
			}
		}
	}
	for round := range 200 {
		for range rng.IntN(300) {
			event()
		}
		before := slices.Clone(tab.Flows)
		for i, f := range before {
			if tab.Find(f.Key()) != i {
				t.Fatalf("round %d: a row moved before Settle", round)
			}
		}
		tab.Settle()
		settled(round, "events and Settle")

		// A read of the table as it is now, with events during it.
		snapshot := make([]flow.Flow, 0, len(kernel))
		for _, f := range kernel {
			snapshot = append(snapshot, f)
		}
		rng.Shuffle(len(snapshot), func(i, j int) { snapshot[i], snapshot[j] = snapshot[j], snapshot[i] })
		tab.Begin(len(snapshot))
		for s := 0; s < len(snapshot); {
			e := min(len(snapshot), s+1+rng.IntN(300))
			tab.Merge(snapshot[s:e], t0)
			s = e
			for range rng.IntN(20) {
				event()
			}
		}
		if tab.Settle() != 0 {
			t.Fatalf("round %d: Settle removed rows during a read", round)
		}
		tab.End(&flow.Table{})
		settled(round, "a read with events")
	}
}

// counted is row with counters: bytes and packets of the original direction.
func counted(n uint16, bytes, packets uint64) flow.Flow {
	f := row(n, 1000, 100)
	f.Present |= flow.HasCounters
	f.OrigBytes, f.OrigPackets = bytes, packets
	return f
}

// A flow's rates are its counters' change between two reads over the time
// between them; a lookup soon after a read keeps the rate, an event without
// counters keeps counters and rate, and a counter that went back gives none.
func TestRates(t *testing.T) {
	var tab Table
	read(&tab, t0, counted(1, 1000, 10), counted(2, 0, 0))
	if f := tab.Flows[tab.Find(key(counted(1, 0, 0)))]; f.Present&flow.HasRate != 0 {
		t.Fatalf("a rate after one read: %v", f.ByteRate)
	}
	read(&tab, t0.Add(2*time.Second), counted(1, 201000, 110), counted(2, 0, 0))
	rate := func(n uint16) flow.Flow { return tab.Flows[tab.Find(key(counted(n, 0, 0)))] }
	if f := rate(1); f.Present&flow.HasRate == 0 || f.ByteRate != 100000 || f.PacketRate != 50 {
		t.Errorf("flow 1: %v B/s %v packets/s (has %v), want 100000 and 50", f.ByteRate, f.PacketRate, f.Present&flow.HasRate != 0)
	}
	if f := rate(2); f.Present&flow.HasRate == 0 || f.ByteRate != 0 {
		t.Errorf("idle flow 2: %v B/s (has %v), want a rate of 0", f.ByteRate, f.Present&flow.HasRate != 0)
	}
	// A lookup 0.2 s later: too soon for a rate; the counters stay those
	// of the last sample.
	tab.Update(tab.Find(key(counted(1, 0, 0))), ptr(counted(1, 202000, 111)), t0.Add(2200*time.Millisecond))
	if f := rate(1); f.ByteRate != 100000 || f.OrigBytes != 201000 {
		t.Errorf("after a lookup 0.2 s later: %v B/s, %d bytes; want 100000 and 201000", f.ByteRate, f.OrigBytes)
	}
	// An UPDATE event carries no counters: they and the rate stay.
	ev := row(1, 1000, 100)
	ev.State = 4
	tab.Upsert(&ev, t0.Add(3*time.Second))
	if f := rate(1); f.State != 4 || f.Present&flow.HasCounters == 0 || f.ByteRate != 100000 {
		t.Errorf("after an event: state %d, counters %v, %v B/s", f.State, f.Present&flow.HasCounters != 0, f.ByteRate)
	}
	// The tuple's flow ended and another began: its counters start again.
	read(&tab, t0.Add(4*time.Second), counted(1, 10, 1), counted(2, 0, 0))
	if f := rate(1); f.Present&flow.HasRate != 0 {
		t.Errorf("counters went back, yet a rate of %v B/s", f.ByteRate)
	}
	// Rates survives the removal of other rows: the samples move with
	// their rows.
	read(&tab, t0.Add(5*time.Second), counted(2, 500, 5))
	read(&tab, t0.Add(6*time.Second), counted(2, 1500, 15))
	if f := rate(2); f.ByteRate != 1000 {
		t.Errorf("flow 2 after flow 1 left: %v B/s, want 1000", f.ByteRate)
	}
}

// The one-shot's two reads: Rates matches the flows of the second read with
// those of the first.
func TestRatesBetweenReads(t *testing.T) {
	prev := []flow.Flow{counted(1, 1000, 10), counted(2, 5000, 50)}
	cur := []flow.Flow{counted(2, 5000, 50), counted(3, 100, 1), counted(1, 3000, 30)}
	Rates(prev, cur, 2*time.Second)
	for i, want := range []float32{0, -1, 1000} {
		has := cur[i].Present&flow.HasRate != 0
		if want < 0 && has || want >= 0 && (!has || cur[i].ByteRate != want) {
			t.Errorf("row %d: %v B/s (has %v), want %v", i, cur[i].ByteRate, has, want)
		}
	}
}

func ptr(f flow.Flow) *flow.Flow { return &f }

// BenchmarkEvents200k applies churn events to a table of 200,000 flows: a
// NEW for a flow not in the table and a DESTROY for one that is, settled
// every 10,000 events, as the monitor settles once an interval (1 s) at
// 10,000 events a second. The cost of 10,000 events a second is 10,000 ×
// ns/event, the settling included.
func BenchmarkEvents200k(b *testing.B) {
	rows := benchRows(400000)
	var tab Table
	read(&tab, t0, rows[:200000]...)
	at := t0.Add(time.Second)
	b.ReportAllocs()
	b.ResetTimer()
	in, out := 200000, 0
	for i := range b.N {
		if i%2 == 0 {
			tab.Upsert(&rows[in], at)
			in = (in + 1) % len(rows)
		} else {
			tab.Destroy(rows[out].Key())
			out = (out + 1) % len(rows)
		}
		if i%10000 == 9999 {
			tab.Settle()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
}

// Settling fills the gone rows' places from the end: every row that stays
// is found where it now is, no gone row is found, and the index holds
// exactly the rows, whichever rows went (small tables, where probe runs
// wrap around the index, included).
func TestSettleKeepsTheIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 200 {
		n := 1 + r.IntN(300)
		rows := benchRows(n)
		var tab Table
		read(&tab, t0, rows...)
		gone := map[int]bool{}
		for i := range rows {
			if r.IntN(3) == 0 || round%10 == 0 {
				gone[i] = true
				tab.Destroy(rows[i].Key())
			}
		}
		if got := tab.Settle(); got != len(gone) {
			t.Fatalf("round %d: Settle removed %d, want %d", round, got, len(gone))
		}
		if len(tab.Flows) != n-len(gone) {
			t.Fatalf("round %d: %d rows, want %d", round, len(tab.Flows), n-len(gone))
		}
		for i := range rows {
			j := tab.Find(rows[i].Key())
			switch {
			case gone[i] && j >= 0:
				t.Fatalf("round %d: gone row %d found at %d", round, i, j)
			case !gone[i] && (j < 0 || !sameFlow(&tab.Flows[j], &rows[i])):
				t.Fatalf("round %d: row %d not found (%d)", round, i, j)
			}
		}
		used := 0
		for _, v := range tab.slots {
			if v != 0 {
				used++
			}
		}
		if used != len(tab.Flows) {
			t.Fatalf("round %d: %d slots used for %d rows", round, used, len(tab.Flows))
		}
	}
}

// A table that grew a little since its room was made keeps its rows where
// they are (a copy of 200,000 rows is 29 MB more at the peak); one that
// outgrew the room is moved once, with an eighth to spare.
func TestBeginMovesRowsOnlyWhenShort(t *testing.T) {
	var tab Table
	rows := make([]flow.Flow, 3200)
	for i := range rows {
		rows[i] = row(uint16(i/1000), uint16(1000+i%1000), 100)
	}
	read(&tab, t0, rows[:3000]...)
	first := &tab.Flows[0]
	read(&tab, t0.Add(time.Second), rows...) // 3,200 expected: 6.7 % more
	if &tab.Flows[0] != first {
		t.Errorf("3,200 rows in room made for 3,375 were moved")
	}
	more := append(rows, make([]flow.Flow, 400)...)
	for i := 3200; i < len(more); i++ {
		more[i] = row(uint16(10+i/1000), uint16(1000+i%1000), 100)
	}
	read(&tab, t0.Add(2*time.Second), more...)
	if &tab.Flows[0] == first || cap(tab.Flows) != 3600+3600/8 {
		t.Errorf("3,600 rows for room of 3,375: moved %v, room %d; want moved, room 4,050", &tab.Flows[0] != first, cap(tab.Flows))
	}
	if len(tab.Flows) != 3600 || len(tab.marks) != 3600 || len(tab.sampled) != 3600 {
		t.Errorf("%d rows, %d marks, %d sample times; want 3,600 each", len(tab.Flows), len(tab.marks), len(tab.sampled))
	}
}
