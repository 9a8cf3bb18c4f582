package numfmt

import "testing"

func TestCount(t *testing.T) {
	for n, want := range map[int]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 262144: "262,144",
		1000000: "1,000,000", -5: "0"} {
		if got := Count(n); got != want {
			t.Errorf("Count(%d) = %q, want %q", n, got, want)
		}
	}
	if got := string(AppendCount([]byte("n="), 18446744073709551615)); got != "n=18,446,744,073,709,551,615" {
		t.Errorf("AppendCount(max) = %q", got)
	}
}
