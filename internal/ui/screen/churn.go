package screen

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"time"

	"github.com/gostate/gostate/internal/flow"
)

// churn counts the flows that appeared and vanished between two reads. It
// keeps the sorted identity hashes of the previous read and reuses both
// slices, so a refresh of 200,000 rows allocates nothing here.
type churn struct {
	prev, cur  []uint64
	prevAt     time.Time
	havePrev   bool
	born, gone int
	elapsed    time.Duration
	known      bool
}

func (c *churn) update(t *flow.Table) {
	c.cur = c.cur[:0]
	for i := range t.Flows {
		c.cur = append(c.cur, keyHash(&t.Flows[i]))
	}
	slices.Sort(c.cur)
	c.known = c.havePrev && t.ReadAt.After(c.prevAt)
	if c.known {
		c.born, c.gone = diffSorted(c.prev, c.cur)
		c.elapsed = t.ReadAt.Sub(c.prevAt)
	}
	c.prev, c.cur = c.cur, c.prev
	c.prevAt, c.havePrev = t.ReadAt, true
}

// diffSorted counts the values only in b (born) and only in a (gone).
// Duplicates, possible only through a hash collision, count once each.
func diffSorted(a, b []uint64) (born, gone int) {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			i++
			j++
		case a[i] < b[j]:
			gone++
			i++
		default:
			born++
			j++
		}
	}
	return born + len(b) - j, gone + len(a) - i
}

// keyHash mixes a flow's identity (flow.Key) into 64 bits. Two flows of one
// read collide with a probability near 2^-64 per pair, which at worst
// miscounts one flow in the churn figures.
func keyHash(f *flow.Flow) uint64 {
	o := &f.Orig
	h := mix(binary.LittleEndian.Uint64(o.Src[:8]), binary.LittleEndian.Uint64(o.Src[8:]))
	h = mix(h^binary.LittleEndian.Uint64(o.Dst[:8]), binary.LittleEndian.Uint64(o.Dst[8:]))
	rest := uint64(o.SrcPort) | uint64(o.DstPort)<<16 | uint64(o.ICMPType)<<32 | uint64(o.ICMPCode)<<40 |
		uint64(f.Proto)<<48 | uint64(f.Family)<<56
	return mix(h^rest, uint64(f.Zone)+0x9e3779b97f4a7c15)
}

// mix is a 128-to-64-bit multiply-xor step (as in wyhash).
func mix(a, b uint64) uint64 {
	a ^= 0xa0761d6478bd642f
	b ^= 0xe7037ed1a0b428db
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}
