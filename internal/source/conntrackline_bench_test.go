package source

import (
	"bytes"
	"os"
	"testing"

	"github.com/gostate/gostate/internal/flow"
)

// BenchmarkParseConntrack parses 10,000 real lines (the captured fixtures,
// repeated) into reused storage, as a refreshing reader does, and reports the
// cost per line: at 200,000 entries the whole parse is 200,000 × ns/line.
func BenchmarkParseConntrack(b *testing.B) {
	for _, file := range []string{"proc-nf_conntrack-acct.txt", "proc-nf_conntrack.txt", "conntrack-L-extended-id-acct.txt"} {
		b.Run(file, func(b *testing.B) {
			one, err := os.ReadFile("../../testdata/" + file)
			if err != nil {
				b.Fatal(err)
			}
			const lines = 10000
			perFile := bytes.Count(one, []byte{'\n'})
			in := bytes.Repeat(one, lines/perFile+1)
			in = in[:nthLineEnd(in, lines)]
			flows := make([]flow.Flow, 0, lines)
			r := bytes.NewReader(in)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(in)
				var skipped int
				flows, skipped, err = parseAll(r, fixtureNow, flows[:0])
				if err != nil || skipped != 0 || len(flows) != lines {
					b.Fatalf("%d rows, %d skipped, %v", len(flows), skipped, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/lines, "ns/line")
		})
	}
}

// nthLineEnd returns the offset just past the nth newline of b.
func nthLineEnd(b []byte, n int) int {
	off := 0
	for range n {
		off += bytes.IndexByte(b[off:], '\n') + 1
	}
	return off
}
