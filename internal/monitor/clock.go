package monitor

import "time"

// Clock is the monitor's source of time. Tests substitute a manual clock, so
// that reads and countdowns happen exactly when they say.
type Clock interface {
	Now() time.Time
	// After behaves as time.After.
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the real time.
var SystemClock Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
