package source

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestParseMemTotal(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     uint64
	}{
		{"first line", "MemTotal:       24683584 kB\nMemFree:         1000 kB\n", 24683584 * 1024},
		{"later line", "MemFree: 1 kB\nMemTotal: 1024 kB\n", 1 << 20},
		{"no newline", "MemTotal: 2 kB", 2048},
	} {
		got, err := ParseMemTotal(strings.NewReader(c.in))
		if err != nil || got != c.want {
			t.Errorf("%s: %d, %v; want %d", c.name, got, err, c.want)
		}
	}
	for _, in := range []string{
		"", "MemFree: 1 kB\n", "MemTotal: 0 kB\n", "MemTotal: 12 MB\n", "MemTotal: 12\n",
		"MemTotal: -3 kB\n", "MemTotal: x kB\n", "MemTotal: 18446744073709551615 kB\n",
	} {
		if got, err := ParseMemTotal(strings.NewReader(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %d, %v; want an error wrapping ErrMalformed", in, got, err)
		}
	}
}

// FuzzParseMemTotal checks that any input gives a positive number of bytes,
// a whole number of KiB, or an error wrapping ErrMalformed (or the scanner's
// for an over-long line), never a panic. Seeds: testdata/fuzz/FuzzParseMemTotal.
func FuzzParseMemTotal(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		n, err := ParseMemTotal(bytes.NewReader(in))
		switch {
		case err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, bufio.ErrTooLong):
			t.Fatalf("unexpected error %v", err)
		case err == nil && (n == 0 || n%1024 != 0):
			t.Fatalf("%d bytes", n)
		}
	})
}
