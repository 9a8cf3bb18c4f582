package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/spf13/pflag"

	"github.com/gostate/gostate/internal/flow"
	"github.com/gostate/gostate/internal/source"
	"github.com/gostate/gostate/internal/ui/text"
)

var update = flag.Bool("update", false, "rewrite the expected output in testdata/script/*.txtar")

// TestMain lets testscript run this test binary as the gostate command, in a
// process of its own, so the transcripts exercise the real main: flags, exit
// statuses, standard output and error. It also puts "gostate" on PATH for the
// Go tests below.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"gostate": main})
}

// TestScripts runs the CLI transcripts in testdata/script. Each is
// self-contained: its dumps and expected outputs are files in the archive.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
		Setup: func(env *testscript.Env) error {
			// The transcripts describe a pipe with no terminal and no width:
			// nothing from the developer's shell may leak in.
			for _, name := range []string{"COLUMNS", "COLS", "LINES", "NO_COLOR"} {
				env.Setenv(name, "")
			}
			env.Setenv("TERM", "xterm")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits": cmdExits,
		},
	})
}

// cmdExits is the transcripts' "exits N prog args...": it runs prog like exec
// does (stdout and stderr stay available to the next commands) and checks
// that its exit status is N.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits STATUS program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: bad status %q", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			ts.Fatalf("exits: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit status %d, want %d", got, want)
	}
}

// gostateCmd returns a command running the gostate that TestMain put on PATH.
func gostateCmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	bin, err := exec.LookPath("gostate")
	if err != nil {
		t.Fatalf("gostate is not on PATH (TestMain sets it up): %v", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "COLUMNS=", "COLS=", "LINES=", "NO_COLOR=")
	return cmd
}

// execContext gives cmd a context that kills it when done.
func execContext(ctx context.Context, cmd *exec.Cmd) *exec.Cmd {
	c := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	c.Env = cmd.Env
	return c
}

// writeDump writes n distinct TCP flows in /proc/net/nf_conntrack format.
func writeDump(t *testing.T, n int) string {
	t.Helper()
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "ipv4     2 tcp      6 %d ESTABLISHED src=192.0.2.%d dst=198.51.100.%d sport=%d dport=443 src=198.51.100.%d dst=192.0.2.%d sport=443 dport=%d [ASSURED] mark=0 zone=0 use=2\n",
			1000+i, i%250+1, i/250%250+1, 10000+i, i/250%250+1, i%250+1, 10000+i)
	}
	path := filepath.Join(t.TempDir(), "dump.txt")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestClosedPipe is `gostate -1 | head -3`: once the reader has gone, gostate
// must stop without a word on standard error, and not go on formatting, with
// exit status 0: a reader that goes away is not a failure.
func TestClosedPipe(t *testing.T) {
	dump := writeDump(t, 10000)
	for _, args := range [][]string{{"-1"}, {"--json"}} {
		cmd := gostateCmd(t, append(args, "--file", dump)...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(out)
		for range 3 {
			if _, err := r.ReadString('\n'); err != nil {
				t.Fatalf("%v: reading the first lines: %v", args, err)
			}
		}
		out.Close()
		err = cmd.Wait()
		if stderr.Len() > 0 {
			t.Errorf("%v: stderr after the pipe closed: %q", args, stderr.String())
		}
		// Not killed by SIGPIPE (status 141 in a shell, which fails a
		// pipeline under pipefail), nor any other failure.
		if err != nil {
			t.Errorf("%v: %v after the pipe closed, want exit status 0", args, err)
		}
	}
}

// TestJSONCounters parses the JSON Lines with encoding/json and checks that
// 64-bit counters come out exact (a float64 would round them).
func TestJSONCounters(t *testing.T) {
	dump := filepath.Join(t.TempDir(), "dump.txt")
	line := "ipv4     2 udp      17 150 src=192.0.2.16 dst=203.0.113.123 sport=123 dport=123 packets=18446744073709551615 bytes=18446744073709551614 src=203.0.113.123 dst=192.0.2.16 sport=123 dport=123 packets=1 bytes=9007199254740993 [ASSURED] mark=4294967295 zone=3 use=2\n"
	if err := os.WriteFile(dump, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := gostateCmd(t, "--json", "--file", dump).Output()
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	var rec map[string]any
	if err := dec.Decode(&rec); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	want := map[string]string{
		"orig_packets":  "18446744073709551615",
		"orig_bytes":    "18446744073709551614",
		"reply_packets": "1",
		"reply_bytes":   "9007199254740993",
		"mark":          "4294967295",
		"zone":          "3",
		"sport":         "123",
		"ttl":           "150",
	}
	for k, v := range want {
		if got := fmt.Sprint(rec[k]); got != v {
			t.Errorf("%s = %s, want %s", k, got, v)
		}
	}
	if rec["family"] != "ipv4" || rec["proto"] != "udp" || rec["src"] != "192.0.2.16" || rec["assured"] != true || rec["unreplied"] != false {
		t.Errorf("unexpected record %v", rec)
	}
	if dec.More() {
		t.Error("more than one object for one flow")
	}
}

// TestHelpListsEveryFlag keeps --help in step with the flags defineFlags
// declares.
func TestHelpListsEveryFlag(t *testing.T) {
	fs, _ := defineFlags(&config{})
	fs.VisitAll(func(f *pflag.Flag) {
		want := "      --" + f.Name
		if f.Shorthand != "" {
			want = "  -" + f.Shorthand + ", --" + f.Name
		}
		if !strings.Contains(helpText(), want) {
			t.Errorf("--help does not list %q", strings.TrimSpace(want))
		}
	})
}

// TestHelpStatesDumpLimits keeps the --file line of --help in step with the
// limits the saved-dump reader applies.
func TestHelpStatesDumpLimits(t *testing.T) {
	help := strings.Join(strings.Fields(helpText()), " ")
	for _, want := range []string{
		fmt.Sprintf("refused when %d MiB pass without an entry", source.MaxDumpGap>>20),
		"past " + thousands(source.MaxDumpEntries) + " entries",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("--help does not say %q", want)
		}
	}
}

// thousands spells n with commas between groups of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// TestHelpCountersPerNamespace: the kernel keeps the drop counters per
// network namespace, and the limit is set on the host: --help must not say
// "since boot" of a namespace's counters, and says where the limit is set.
func TestHelpCountersPerNamespace(t *testing.T) {
	help := strings.Join(strings.Fields(helpText()), " ")
	if strings.Contains(help, "since boot") {
		t.Error(`--help says the counters count "since boot"`)
	}
	for _, want := range []string{
		"kept per network namespace: on the host since nf_conntrack was loaded, in another namespace since it was created",
		"inside a network namespace it is raised on the host",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("--help does not say %q", want)
		}
	}
}

// TestUsageCutsLongValues: whatever was typed wrong, 100 KB of it or with
// terminal controls, a usage message shows at most maxShown characters of
// it, cut with "…", and nothing a terminal would act on: the value of every
// flag that takes one, a boolean's value, an unknown flag, a group of
// shorthands, a bad flag syntax, an argument.
func TestUsageCutsLongValues(t *testing.T) {
	long := strings.Repeat("x", 100000)
	cases := [][]string{
		{"--" + long}, {"---" + long}, {"--reverse=" + long}, {long},
		{"-" + strings.Repeat("r", 100000) + "b"}, {"-" + strings.Repeat("r", 100000) + "Z"},
	}
	fs, _ := defineFlags(&config{})
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Value.Type() != "bool" {
			cases = append(cases, []string{"--" + f.Name + "=" + long}, []string{"--" + f.Name + "=\x1b[2J" + long})
		}
	})
	rejected := 0
	for _, args := range cases {
		_, err := parseFlags(args)
		if err == nil {
			continue // --file and --netns take any name; reading it fails later
		}
		rejected++
		msg := err.Error()
		what := fmt.Sprintf("%.20s…", strings.Join(args, " "))
		// The shorthand groups are reported from the letter at fault on:
		// short already.
		if len(msg) > 1000 || strings.Contains(msg, strings.Repeat("x", maxShown+1)) || strings.Contains(msg, "x") && !strings.Contains(msg, "x…") {
			t.Errorf("%s: message of %d bytes, want the value cut to %d characters with …: %.300s", what, len(msg), maxShown, msg)
		}
		if strings.ContainsAny(msg, "\x1b\n") {
			t.Errorf("%s: message with terminal controls: %q", what, msg)
		}
	}
	if rejected < 10 {
		t.Errorf("only %d of %d cases were usage errors", rejected, len(cases))
	}
	// Short values are shown whole, and still safe.
	if _, err := parseFlags([]string{"-b", "a\x1b[2Jb"}); err == nil || !strings.Contains(err.Error(), `invalid -b/--sort "a?[2Jb"`) {
		t.Errorf("-b with an escape: %v", err)
	}
	if got := shownValue(strings.Repeat("é", 70)); got != strings.Repeat("é", maxShown)+"…" {
		t.Errorf("shownValue cuts characters, not bytes: %q", got)
	}
}

// TestHelpListsEveryJSONField: every field name the JSON writers can produce
// is in --help's paragraph on JSON output. The flows cover every protocol
// number of both families, with every optional part and every status bit
// set, and none; the statistics have every figure.
func TestHelpListsEveryJSONField(t *testing.T) {
	var tab flow.Table
	for _, fam := range []flow.Family{flow.FamilyIPv4, flow.FamilyIPv6} {
		for proto := range 256 {
			tab.Flows = append(tab.Flows,
				flow.Flow{Family: fam, Proto: uint8(proto), Present: ^flow.Present(0), Status: ^flow.Status(0)},
				flow.Flow{Family: fam, Proto: uint8(proto)})
		}
	}
	idx := make([]int32, len(tab.Flows))
	for i := range idx {
		idx[i] = int32(i)
	}
	tab.Stats = flow.Stats{Entries: 240000, Max: 262144, BytesPerEntry: 256, HaveCPU: true,
		MaxWritable: flow.TriNo, InitialNetNS: flow.TriNo,
		CPU: flow.CPUStats{Has: flow.AllCounters}, Buckets: 262144}
	tab.Warnings = []string{"a warning"}
	tab.Timeouts = []flow.Timeout{{Name: "tcp_established", Seconds: 432000}}
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	if err := text.WriteJSON(w, &tab, idx); err != nil {
		t.Fatal(err)
	}
	if err := text.WriteStatsJSON(w, &tab); err != nil {
		t.Fatal(err)
	}

	fields := map[string]bool{}
	var collect func(v any)
	collect = func(v any) {
		if m, ok := v.(map[string]any); ok {
			for k, x := range m {
				fields[k] = true
				if k != "timeouts" { // keyed by the kernel's timeout names
					collect(x)
				}
			}
		}
	}
	dec := json.NewDecoder(&out)
	for dec.More() {
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		collect(v)
	}

	help := helpText()
	start, end := strings.Index(help, "JSON output (-j)"), strings.Index(help, "Live screen keys")
	if start < 0 || end < start {
		t.Fatal("--help has no paragraph on JSON output")
	}
	words := map[string]bool{}
	for _, w := range regexp.MustCompile(`[a-z_]+`).FindAllString(help[start:end], -1) {
		words[w] = true
	}
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		if !words[k] {
			t.Errorf("--help does not list the JSON field %q", k)
		}
	}
	if len(fields) < 50 {
		t.Errorf("only %d fields produced: %v", len(fields), slices.Sorted(maps.Keys(fields)))
	}
}
