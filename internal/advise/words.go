package advise

import (
	"strconv"
	"strings"
	"time"

	"github.com/gostate/gostate/internal/flow"
)

// percentText writes part as a percentage of whole with one decimal: 90.0%.
func percentText(part, whole float64) string {
	return strconv.FormatFloat(100*part/whole, 'f', 1, 64) + "%"
}

// seconds writes d in seconds with one decimal: 1.0 s.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
}

// grownText writes the growth of the drop counters that grew: "drop +3,
// early_drop +1".
func grownText(g *flow.CPUStats) string {
	var parts []string
	for _, c := range []struct {
		name string
		n    uint64
	}{{"drop", g.Drop}, {"insert_failed", g.InsertFailed}, {"early_drop", g.EarlyDrop}} {
		if c.n > 0 {
			parts = append(parts, c.name+" +"+strconv.FormatUint(c.n, 10))
		}
	}
	return strings.Join(parts, ", ")
}
