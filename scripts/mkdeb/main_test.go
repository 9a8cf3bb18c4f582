package main

import (
	"strings"
	"testing"
	"time"
)

func TestDebVersion(t *testing.T) {
	when := time.Date(2026, 12, 1, 23, 30, 0, 0, time.FixedZone("", -3600))
	if got, want := debVersion(when, "cd248fa"), "0.0~git20261202.cd248fa"; got != want {
		t.Errorf("debVersion = %q, want %q (the date in UTC)", got, want)
	}
}

const help = `gostate - a top-like monitor

  -b, --sort KEY          sort by KEY
  -1, --single            print one view
      --host ADDR[/PREFIX]
      --stats             print the health
.dangerous line \n with a backslash
                          -x, --not-a-flag inside a description
`

func TestManPage(t *testing.T) {
	page := string(manPage(help, "0.0~git20261201.abc", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)))
	for _, want := range []string{
		`.TH GOSTATE 1 "2026-12-01" "gostate 0.0~git20261201.abc"`,
		"\n.nf\n",
		`\&.dangerous line \en with a backslash`,
		"\n.fi\n",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the man page lacks %q:\n%s", want, page)
		}
	}
}

func TestBashCompletion(t *testing.T) {
	c := bashCompletion(help)
	if !strings.Contains(c, `compgen -W "--host --single --sort --stats -1 -b"`) {
		t.Errorf("completion words:\n%s", c)
	}
	if strings.Contains(c, "not-a-flag") {
		t.Error("a flag named inside a description is completed")
	}
}

func TestZshAndFishCompletion(t *testing.T) {
	if z := zshCompletion(help); !strings.HasPrefix(z, "#compdef gostate") || !strings.Contains(z, "compadd -- --host --single --sort --stats -1 -b") {
		t.Errorf("zsh completion:\n%s", z)
	}
	f := fishCompletion(help)
	if !strings.Contains(f, "complete -c gostate -s b -l sort\n") || !strings.Contains(f, "complete -c gostate -l host\n") {
		t.Errorf("fish completion:\n%s", f)
	}
	if strings.Contains(f, "not-a-flag") {
		t.Error("a flag named inside a description is completed")
	}
}
