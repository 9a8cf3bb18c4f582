package source

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestParseSlabinfo(t *testing.T) {
	f, err := os.Open("../../testdata/proc-6.18/slabinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if size, err := ParseSlabinfo(f); size != 256 || err != nil {
		t.Errorf("got %d, %v; want 256", size, err)
	}
}

func TestParseSlabinfoNames(t *testing.T) {
	const header = "slabinfo - version: 2.1\n# name <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables\n"
	for _, tc := range []struct {
		in   string
		size int
		err  error
	}{
		{"nf_conntrack_expect 0 0 216 18 1 : tunables 0 0 0\nnf_conntrack_ffffffff81a2b6c0 12 12 312 13 1 : tunables\n", 312, nil},
		{"ip_conntrack 5 40 208 19 1 : tunables\n", 208, nil},
		{"nf_conntrack_expect 0 0 216 18 1 : tunables\nkmalloc-256 1 1 256 16 1\n", 0, ErrNoSlab},
		{"", 0, ErrNoSlab},
		{"nf_conntrack 1 1 big 16 1\n", 0, ErrMalformed},
		{"nf_conntrack 1 1 0 16 1\n", 0, ErrMalformed},
		{"nf_conntrack 1\n", 0, ErrNoSlab},
	} {
		size, err := ParseSlabinfo(strings.NewReader(header + tc.in))
		if size != tc.size || !errors.Is(err, tc.err) {
			t.Errorf("%q: got %d, %v; want %d, %v", tc.in, size, err, tc.size, tc.err)
		}
	}
}

// FuzzParseSlabinfo checks that any input gives a positive size or an error,
// never a panic. Seeds: testdata/fuzz/FuzzParseSlabinfo.
func FuzzParseSlabinfo(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		size, err := ParseSlabinfo(bytes.NewReader(in))
		if (err == nil) != (size > 0) {
			t.Fatalf("size %d with error %v", size, err)
		}
	})
}
