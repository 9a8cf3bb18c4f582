package resolve

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkNameHit is the cost per address of drawing names that are cached:
// what the screen pays per visible row and the one-shot view per printed row.
func BenchmarkNameHit(b *testing.B) {
	names := map[string][]string{}
	var addrs []netip.Addr
	for i := range 1024 {
		a := netip.AddrFrom4([4]byte{203, 0, 113 + byte(i/256), byte(i)})
		names[a.String()] = []string{fmt.Sprintf("h%d.example.", i)}
		addrs = append(addrs, a)
	}
	f := newFake(names)
	r := newResolver(f.lookup, 4, time.Hour, 4096, time.Minute, time.Now)
	defer r.Close()
	r.ResolveAll(context.Background(), addrs)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, ok := r.Name(addrs[i%len(addrs)]); !ok {
			b.Fatal("not cached")
		}
	}
}

// BenchmarkNameQueueFull is the cost per address of asking for names DNS has
// not answered while the queue is full: scrolling fast through a large table.
func BenchmarkNameQueueFull(b *testing.B) {
	f := newFake(nil)
	f.hold = true
	r := newResolver(f.lookup, 1, time.Hour, 1<<20, time.Minute, time.Now)
	defer r.Close()
	for i := 0; i <= queueLen; i++ {
		r.Name(netip.AddrFrom4([4]byte{198, 51, 100 + byte(i/256), byte(i)}))
	}
	<-f.entered
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Name(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
}
