package main

import (
	"context"
	"net/netip"
	"time"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/resolve"
	"github.com/gostate/gostate/internal/ui"
)

// Limits of -l in one-shot mode: lookups run in parallel, and the whole
// batch gets a deadline so that a dead resolver delays the view by seconds,
// not minutes. Addresses still unanswered then are shown as addresses.
const (
	lookupWorkers  = 16
	lookupDeadline = 3 * time.Second
	lookupMax      = 65536
)

// lookupNames resolves the addresses the view shows, asking server ("" for
// the system's resolver), and returns a Namer for the text writer, and a
// function that releases the resolver.
func lookupNames(t *flow.Table, idx []int32, server string) (ui.Namer, func()) {
	r := resolve.New(server, lookupWorkers, time.Minute, lookupMax)
	addrs := make([]netip.Addr, 0, 2*len(idx))
	for _, i := range idx {
		f := &t.Flows[i]
		addrs = append(addrs, f.Orig.Src.Netip(f.Family), f.Orig.Dst.Netip(f.Family))
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupDeadline)
	defer cancel()
	r.ResolveAll(ctx, addrs)
	names := func(fam flow.Family, a flow.Addr) (string, bool) {
		return r.Name(a.Netip(fam))
	}
	return names, r.Close
}
