package source

import (
	"bufio"
	"io"
	"time"

	"github.com/gostate/gostate/internal/flow"
)

// parseAll parses a whole dump from r with no batching and no limits.
func parseAll(r io.Reader, now time.Time, flows []flow.Flow) ([]flow.Flow, int, error) {
	return parseConntrack(bufio.NewReaderSize(r, maxLineLen), now, flows, 0, nil, nil)
}
