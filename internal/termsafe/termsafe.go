// Package termsafe makes text from outside gostate (host names, file names,
// kernel strings, error messages) safe to print on a terminal. It sits below
// every package that prints such text, so that each string is cleaned once,
// where it enters gostate, and the same way everywhere.
package termsafe

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sanitize replaces every character a terminal could act on with '?':
// control characters (C0 and C1, including the ESC and CSI that start escape
// sequences), DEL, and bytes that are not valid UTF-8. Text that needs no
// change is returned as it is, without allocating.
func Sanitize(s string) string {
	i := strings.IndexFunc(s, unsafeRune)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for _, r := range s[i:] {
		if unsafeRune(r) {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// unsafeRune reports whether r must not reach a terminal. Ranging over a
// string yields utf8.RuneError for each invalid byte.
func unsafeRune(r rune) bool {
	return r == utf8.RuneError || r == 0x7f || unicode.IsControl(r)
}

// OneLine makes a message (an error, a warning) one safe line: surrounding
// space trimmed, inner line breaks turned into "; ", then sanitised.
func OneLine(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return Sanitize(strings.ReplaceAll(s, "\n", "; "))
}
