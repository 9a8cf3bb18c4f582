package monitor

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The time between reads: -R on the command line and R on the screen, one
// rule for both.
const (
	// DefaultInterval is iptstate's refresh rate.
	DefaultInterval = time.Second
	// MinInterval keeps a typo from turning a session into a busy loop of
	// whole-table reads.
	MinInterval = 100 * time.Millisecond
	// MaxInterval is a day: longer is a frozen screen.
	MaxInterval = 24 * time.Hour
)

// ParseInterval reads an interval in seconds, fractions allowed ("0.5",
// "30"), from MinInterval to MaxInterval. Its errors say what is wanted and
// do not repeat the value.
func ParseInterval(s string) (time.Duration, error) {
	secs, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(secs) || math.IsInf(secs, 0) {
		return 0, errors.New("not a number of seconds")
	}
	if secs < MinInterval.Seconds() {
		return 0, fmt.Errorf("must be at least %g seconds", MinInterval.Seconds())
	}
	if secs > MaxInterval.Seconds() {
		return 0, fmt.Errorf("must be at most a day (%g seconds)", MaxInterval.Seconds())
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// clampInterval holds d between MinInterval and MaxInterval; 0 or less is
// DefaultInterval.
func clampInterval(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultInterval
	}
	return min(max(d, MinInterval), MaxInterval)
}
