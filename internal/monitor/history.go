package monitor

import "time"

// Sample is the table's entry count at a time.
type Sample struct {
	At      time.Time
	Entries int
}

// historyLen is how many samples of the count a session keeps, at most one a
// second: ten minutes at the default interval.
const historyLen = 600

// record notes the entry count read at the time at: the peak since the
// session began, and the history of the count.
func (m *Monitor) record(entries int, at time.Time) {
	f := &m.frame
	if entries > f.Peak || f.PeakAt.IsZero() {
		f.Peak, f.PeakAt = entries, at
	}
	h := f.History
	if n := len(h); n > 0 && at.Sub(h[n-1].At) < time.Second {
		// Several reads within a second (a short interval, a whole read
		// beside the health's): the newest stands for that second.
		h[n-1] = Sample{At: at, Entries: max(entries, h[n-1].Entries)}
		return
	}
	if len(h) == historyLen {
		h = append(h[:0], h[1:]...)
	}
	f.History = append(h, Sample{At: at, Entries: entries})
}
