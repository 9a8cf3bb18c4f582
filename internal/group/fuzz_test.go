package group

import "testing"

// FuzzParse: Parse never panics, and what it accepts String spells so that
// Parse reads the same spec again.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(sp.String())
		if err != nil || again != sp {
			t.Fatalf("Parse(%q) = %q; Parse of that = %q, %v", s, sp.String(), again.String(), err)
		}
	})
}
