package termsafe

import (
	"testing"
	"unicode/utf8"
)

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"host.example":    "host.example",
		"evil\x1b[2Jname": "evil?[2Jname",
		"bell\a\u009b31m": "bell??31m",
		"del\x7f":         "del?",
		"bad\xffutf8":     "bad?utf8",
		"ünïcode.example": "ünïcode.example",
		"tab\there":       "tab?here",
		"":                "",
	} {
		if got := Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSanitizeCleanDoesNotAllocate(t *testing.T) {
	s := "a-clean-host-name.example.org"
	if n := testing.AllocsPerRun(100, func() { Sanitize(s) }); n != 0 {
		t.Errorf("Sanitize of clean text allocates %v times", n)
	}
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"open x: no such file":           "open x: no such file",
		"  first\nsecond\n":              "first; second",
		"windows\r\nline":                "windows; line",
		"read \x1b]0;title\x07 failed\n": "read ?]0;title? failed",
	} {
		if got := OneLine(in); got != want {
			t.Errorf("OneLine(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzSanitize: the result is valid UTF-8 without control characters, and
// text that was already safe comes back unchanged.
func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"", "host.example", "\x1b[31mred", "bad\xff", "ünï\u009b", "a\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Sanitize(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Sanitize(%q) = %q: invalid UTF-8", s, got)
		}
		for _, r := range got {
			if unsafeRune(r) {
				t.Fatalf("Sanitize(%q) = %q: keeps %U", s, got, r)
			}
		}
		if Sanitize(got) != got {
			t.Fatalf("Sanitize(%q) is not idempotent", s)
		}
		if utf8.RuneCountInString(got) != len([]rune(s)) {
			t.Fatalf("Sanitize(%q) = %q: a character per character expected", s, got)
		}
	})
}
