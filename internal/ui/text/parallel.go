package text

import (
	"bufio"
	"runtime"
	"sync"
)

// plan says how a view is split across cores: how many goroutines format it,
// how many rows each formats before handing its buffer to the writer, and
// about how many bytes a row takes (to size the buffers once).
type plan struct {
	workers   int
	blockRows int
	rowBytes  int
}

// parallelRows is the smallest view worth formatting on several cores: below
// it, goroutines and channels cost more than they save (20,000 rows take about
// 10 ms on one core).
const parallelRows = 20000

// Rows per block: about half a MiB of output whether text (~80 bytes a row)
// or JSON (~400 bytes), so that the two buffers of each worker add only a
// few MiB however large the view is, and a block is still large enough that
// handing it over costs nothing next to formatting it.
const (
	textBlockRows = 6144
	jsonBlockRows = 1024
)

// planFor uses every core the process may run on when the view is large, and
// the caller's goroutine alone otherwise.
func planFor(rows, blockRows int) plan {
	p := plan{workers: 1, blockRows: blockRows}
	if rows >= parallelRows {
		p.workers = max(runtime.GOMAXPROCS(0), 1)
	}
	return p
}

// blockFormatter appends the output of the rows idx to b. Each worker has its
// own, so that it may keep scratch buffers without locking.
type blockFormatter func(b []byte, idx []int32) []byte

// writeBlocks formats idx block by block and writes the blocks to w in order:
// the output is the same whatever the plan. With several workers, block k is
// formatted by worker k % workers into one of its two buffers while the
// writer writes an earlier block, so formatting and writing overlap. After a
// failed write (a closed pipe) no new block is started and the error is
// returned.
func writeBlocks(w *bufio.Writer, idx []int32, p plan, newFormatter func() blockFormatter) error {
	size := min(p.blockRows, len(idx)) * p.rowBytes
	if p.workers <= 1 {
		format := newFormatter()
		buf := make([]byte, 0, size)
		for lo := 0; lo < len(idx); lo += p.blockRows {
			buf = format(buf[:0], idx[lo:min(lo+p.blockRows, len(idx))])
			if _, err := w.Write(buf); err != nil {
				return err
			}
		}
		return nil
	}

	blocks := (len(idx) + p.blockRows - 1) / p.blockRows
	// Each worker owns two buffers: one it fills while the writer drains the
	// other. full has room for both, so a worker never waits to hand one
	// over, only for one to come back.
	type queue struct{ full, free chan []byte }
	queues := make([]queue, p.workers)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for k := range queues {
		q := queue{full: make(chan []byte, 2), free: make(chan []byte, 2)}
		q.free <- nil
		q.free <- nil
		queues[k] = q
		format := newFormatter()
		wg.Go(func() {
			for b := k; b < blocks; b += p.workers {
				var buf []byte
				select {
				case <-stop:
					return
				case buf = <-q.free:
				}
				if buf == nil {
					buf = make([]byte, 0, size)
				}
				select {
				case <-stop:
					return
				default:
				}
				lo := b * p.blockRows
				q.full <- format(buf[:0], idx[lo:min(lo+p.blockRows, len(idx))])
			}
		})
	}
	var err error
	for b := range blocks {
		q := queues[b%p.workers]
		buf := <-q.full
		if _, err = w.Write(buf); err != nil {
			break
		}
		q.free <- buf
	}
	close(stop)
	wg.Wait()
	return err
}
