package main

import (
	"os"
	"strconv"

	"github.com/gdamore/tcell/v2"
	"golang.org/x/term"
)

// terminal is what gostate found out about its standard output.
type terminal struct {
	// isTTY is true when standard output is a terminal.
	isTTY bool
	// known is true when TERM names a terminal the screen can drive: set, not
	// "dumb", and found in the terminfo database.
	known bool
	// colors is true when the terminal can show colours (TERM is not dumb).
	colors bool
	// width is the number of columns a line may take: COLUMNS (or iptstate's
	// COLS) when set, else the terminal's width, else 0 (no limit).
	width int
	// height is the number of lines the terminal shows: LINES when set,
	// else the terminal's height; 0 when standard output is not a
	// terminal, whatever LINES says.
	height int
}

// interactive reports whether the live screen can run.
func (t terminal) interactive() bool { return t.isTTY && t.known }

func probeTerminal(out *os.File) terminal {
	var t terminal
	fd := int(out.Fd())
	t.isTTY = term.IsTerminal(fd)
	name := os.Getenv("TERM")
	t.colors = name != "" && name != "dumb"
	if t.isTTY && t.colors {
		// The lookup can run infocmp for names outside tcell's built-in
		// database, so only ask when a screen is possible at all.
		_, err := tcell.LookupTerminfo(name)
		t.known = err == nil
	}
	t.width = envWidth()
	if t.isTTY {
		t.height = envNumber("LINES")
		if cols, rows, err := term.GetSize(fd); err == nil {
			if t.width == 0 && cols > 0 {
				t.width = cols
			}
			if t.height == 0 && rows > 0 {
				t.height = rows
			}
		}
	}
	return t
}

// envWidth reads COLUMNS, or COLS as iptstate does; unset or not a positive
// number means no width.
func envWidth() int {
	if n := envNumber("COLUMNS"); n > 0 {
		return n
	}
	return envNumber("COLS")
}

// envNumber reads a positive number from the environment variable name; 0
// when unset or anything else.
func envNumber(name string) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return 0
}
