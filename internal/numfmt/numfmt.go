// Package numfmt writes counts as every gostate view shows them: in decimal
// with thousands separators (262,144). It is a leaf, so that the sources,
// the advisor and the views, which may not import one another, write numbers
// by one rule.
package numfmt

import "strconv"

// AppendCount appends n in decimal with thousands separators: 262,144.
func AppendCount(b []byte, n uint64) []byte {
	start := len(b)
	b = strconv.AppendUint(b, n, 10)
	// Commas are inserted from the right, moving the digits after each.
	for i := len(b) - start - 3; i > 0; i -= 3 {
		at := start + i
		b = append(b, 0)
		copy(b[at+1:], b[at:])
		b[at] = ','
	}
	return b
}

// Count returns n with thousands separators; a negative n is written as 0,
// since no count gostate shows is below it.
func Count(n int) string { return string(AppendCount(nil, uint64(max(n, 0)))) }
