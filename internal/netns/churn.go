package netns

import (
	"context"
	"fmt"
	"time"

	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

// ChurnOptions says what Churn replaces, and how fast.
type ChurnOptions struct {
	// Rate is how many entries are created, and how many deleted, per
	// second. It must be positive.
	Rate int
	// Window is how many entries the churn keeps: it starts from fill
	// entries 0 to Window-1 (what Fill(path, Window, ...) inserted) and each
	// time it creates entry i it deletes entry i-Window, the oldest it has.
	// It must be positive.
	Window int
	// Total, when positive, ends the churn once it has replaced that many
	// entries; zero means until ctx ends.
	Total int
	// Proto and Timeout are as in FillOptions, and must match the fill's:
	// entry i is the same tuple for Fill and Churn only with the same Proto.
	Proto   string
	Timeout uint32
	// Progress, when not nil, is called about once a second, between
	// batches, on Churn's goroutine, with what the churn has done so far.
	Progress func(ChurnResult)
}

// ChurnResult says what Churn did.
type ChurnResult struct {
	// Created and Deleted count the entries the kernel created and deleted.
	Created, Deleted int
	// Existing counts creates refused because the entry was already there
	// (an earlier churn of the namespace went past it); Missing counts
	// deletes of entries already gone (they had expired, or were never
	// filled).
	Existing, Missing int
	// Full is true when the kernel refused an entry because the table was
	// full (ENOMEM: nf_conntrack_max reached); the churn stopped there.
	Full bool
	// Next is the index of the next fill entry the churn would create; the
	// table's churned entries are Next-Window to Next-1.
	Next int
	// Elapsed is how long the churn ran.
	Elapsed time.Duration
}

// NewRate returns the entries created per second.
func (r ChurnResult) NewRate() float64 { return perSecond(r.Created, r.Elapsed) }

// GoneRate returns the entries deleted per second.
func (r ChurnResult) GoneRate() float64 { return perSecond(r.Deleted, r.Elapsed) }

func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// churnTick is how often Churn catches up with its schedule. At 2,000
// entries a second that is 100 creates and 100 deletes per tick: the table
// never strays more than one batch from its size.
const churnTick = 50 * time.Millisecond

// Churn replaces entries of the table of the namespace whose file is path at
// o.Rate a second, keeping its size: it creates fill entries o.Window,
// o.Window+1, ... (the same documentation-address tuples Fill makes) and for
// each deletes the one o.Window before it, the oldest it has. It runs until
// ctx ends (the normal end, which is no error) or o.Total entries have been
// replaced, and stops early, with Full set, when the table is full.
//
// The work is paced against the clock from the start: every tick, the
// entries due by then are replaced in steps of at most batchSize, each step a
// batch of creates and then a batch of as many deletes, so that between
// steps the table holds exactly the entries it started with (plus or minus
// what the kernel refused) and within one at most batchSize more. A churn
// that falls behind (the machine is busy) catches up as fast as the kernel
// answers; Created/Elapsed says what rate it achieved.
func Churn(ctx context.Context, path string, o ChurnOptions) (ChurnResult, error) {
	switch {
	case o.Rate <= 0:
		return ChurnResult{}, fmt.Errorf("churn: rate %d is not positive", o.Rate)
	case o.Window <= 0 || o.Window > maxFill/2:
		return ChurnResult{}, fmt.Errorf("churn: window %d outside 1..%d", o.Window, maxFill/2)
	case o.Total < 0:
		return ChurnResult{}, fmt.Errorf("churn: total %d is negative", o.Total)
	}
	switch o.Proto {
	case "":
		o.Proto = "mix"
	case "tcp", "udp", "mix":
	default:
		return ChurnResult{}, fmt.Errorf("churn: protocol %q is not tcp, udp or mix", o.Proto)
	}
	if o.Timeout == 0 {
		o.Timeout = 3600
	}
	c, err := newBatcher(path)
	if err != nil {
		return ChurnResult{}, err
	}
	defer c.Close()

	r := ChurnResult{Next: o.Window}
	creates := make([]conntrack.Flow, 0, batchSize)
	deletes := make([]conntrack.Flow, 0, batchSize)
	errs := make([]int32, batchSize)
	// Fill entry indices are taken modulo maxFill, so that a churn that ran
	// for weeks would wrap around to tuples its deletes have long freed.
	entry := func(i int) conntrack.Flow { return fillFlow(i%maxFill, o.Proto, o.Timeout) }

	// step replaces k entries: creates Next..Next+k-1, then deletes the
	// ones Window before them.
	step := func(k int) error {
		creates, deletes = creates[:0], deletes[:0]
		for i := r.Next; i < r.Next+k; i++ {
			creates = append(creates, entry(i))
			deletes = append(deletes, entry(i-o.Window))
		}
		if err := c.insert(creates, errs); err != nil {
			return fmt.Errorf("churn: %w", err)
		}
		for j, e := range errs[:k] {
			switch unix.Errno(-e) {
			case 0:
				r.Created++
			case unix.EEXIST:
				r.Existing++
			case unix.ENOMEM:
				r.Full = true
			default:
				return fmt.Errorf("churn: insert entry %d: %w", r.Next+j, unix.Errno(-e))
			}
		}
		if err := c.remove(deletes, errs); err != nil {
			return fmt.Errorf("churn: %w", err)
		}
		for j, e := range errs[:k] {
			switch unix.Errno(-e) {
			case 0:
				r.Deleted++
			case unix.ENOENT:
				r.Missing++
			default:
				return fmt.Errorf("churn: delete entry %d: %w", r.Next+j-o.Window, unix.Errno(-e))
			}
		}
		r.Next += k
		return nil
	}

	start := time.Now()
	tick := time.NewTicker(churnTick)
	defer tick.Stop()
	lastReport := start
	for {
		select {
		case <-ctx.Done():
			r.Elapsed = time.Since(start)
			return r, nil
		case <-tick.C:
		}
		now := time.Now()
		due := int(float64(o.Rate)*now.Sub(start).Seconds()) - (r.Next - o.Window)
		if o.Total > 0 {
			due = min(due, o.Total-(r.Next-o.Window))
		}
		// Between steps, not within one: a step's deletes always follow its
		// creates, so the table keeps its size whenever the churn ends.
		for due > 0 && ctx.Err() == nil {
			k := min(due, batchSize)
			if err := step(k); err != nil {
				r.Elapsed = time.Since(start)
				return r, err
			}
			due -= k
			if r.Full {
				r.Elapsed = time.Since(start)
				return r, nil
			}
		}
		if o.Total > 0 && r.Next-o.Window >= o.Total {
			r.Elapsed = time.Since(start)
			return r, nil
		}
		if o.Progress != nil && now.Sub(lastReport) >= time.Second {
			lastReport = now
			p := r
			p.Elapsed = now.Sub(start)
			o.Progress(p)
		}
	}
}
