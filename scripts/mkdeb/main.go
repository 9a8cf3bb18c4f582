// Command mkdeb builds gostate's Debian package with nfpm: the binary, a man
// page and a bash completion made from its --help, the exporter's systemd
// unit and the alert rules. `make deb` runs it; it lives in a module of its
// own so that nfpm's dependencies stay out of gostate's.
//
// Usage: mkdeb -bin bin/gostate -root . -out bin [-version V], or
// mkdeb -print-version -root . for the version of HEAD.
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
)

func main() {
	bin := flag.String("bin", "bin/gostate", "the gostate binary to package")
	root := flag.String("root", ".", "the repository: README.md, deploy/, git")
	out := flag.String("out", "bin", "directory for the .deb")
	version := flag.String("version", "", "package version (default: the tag at HEAD, else 0.0~gitYYYYMMDD.SHORTSHA)")
	arch := flag.String("arch", runtime.GOARCH, "Debian architecture")
	printVersion := flag.Bool("print-version", false, "print the version the package would have, and exit")
	flag.Parse()
	if *printVersion {
		v, err := gitVersion(*root)
		if err != nil {
			fmt.Fprintf(os.Stderr, "mkdeb: %v\n", err)
			os.Exit(1)
		}
		fmt.Println(v)
		return
	}
	path, err := build(*bin, *root, *out, *version, *arch)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkdeb: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(path)
}

// build writes the package and returns its path.
func build(bin, root, out, version, arch string) (string, error) {
	if version == "" {
		var err error
		if version, err = gitVersion(root); err != nil {
			return "", err
		}
	}
	help, err := exec.Command(bin, "--help").Output()
	if err != nil {
		return "", fmt.Errorf("%s --help: %v", bin, err)
	}
	tmp, err := os.MkdirTemp("", "mkdeb")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	when, err := commitTime(root)
	if err != nil {
		return "", err
	}
	man := filepath.Join(tmp, "gostate.1.gz")
	if err := writeGzip(man, manPage(string(help), version, when)); err != nil {
		return "", err
	}
	comp := filepath.Join(tmp, "gostate.bash")
	zsh := filepath.Join(tmp, "_gostate")
	fish := filepath.Join(tmp, "gostate.fish")
	for path, text := range map[string]string{comp: bashCompletion(string(help)),
		zsh: zshCompletion(string(help)), fish: fishCompletion(string(help))} {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return "", err
		}
	}
	maintainer, err := git(root, "log", "-1", "--format=%an <%ae>")
	if err != nil {
		return "", err
	}

	info := &nfpm.Info{
		Name:          "gostate",
		Arch:          arch,
		Platform:      "linux",
		Version:       version,
		VersionSchema: "none",
		Section:       "net",
		Priority:      "optional",
		Maintainer:    maintainer,
		Description:   "top-like monitor of the Linux conntrack table\nA live screen of the netfilter connection-tracking table in the tradition\nof iptstate, one-shot text and JSON views, a Prometheus exporter\n(--listen) and a monitoring plugin (--check).",
		MTime:         when,
		Overridables: nfpm.Overridables{
			Contents: files.Contents{
				{Source: bin, Destination: "/usr/bin/gostate", FileInfo: &files.ContentFileInfo{Mode: 0o755}},
				{Source: man, Destination: "/usr/share/man/man1/gostate.1.gz"},
				{Source: comp, Destination: "/usr/share/bash-completion/completions/gostate"},
				{Source: zsh, Destination: "/usr/share/zsh/vendor-completions/_gostate"},
				{Source: fish, Destination: "/usr/share/fish/vendor_completions.d/gostate.fish"},
				{Source: filepath.Join(root, "deploy/systemd/gostate-exporter.service"), Destination: "/lib/systemd/system/gostate-exporter.service"},
				{Source: filepath.Join(root, "deploy/prometheus/gostate-alerts.yml"), Destination: "/usr/share/doc/gostate/examples/gostate-alerts.yml"},
				{Source: filepath.Join(root, "README.md"), Destination: "/usr/share/doc/gostate/README.md"},
			},
		},
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", err
	}
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return "", err
	}
	path := filepath.Join(out, pkg.ConventionalFileName(info))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := pkg.Package(info, f); err != nil {
		f.Close()
		os.Remove(path)
		return "", err
	}
	return path, f.Close()
}

// git runs git in dir and returns its output's first line.
func git(dir string, args ...string) (string, error) {
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v", strings.Join(args, " "), err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return line, nil
}

// commitTime is HEAD's commit time: the files' times and the man page's
// date, so that a package built twice from one commit is the same.
func commitTime(root string) (time.Time, error) {
	s, err := git(root, "log", "-1", "--format=%cI")
	if err != nil {
		return time.Time{}, err
	}
	return time.Parse(time.RFC3339, s)
}

// gitVersion is the package version of HEAD: its tag without the leading v
// when it has one, else debVersion of its date and hash.
func gitVersion(root string) (string, error) {
	if tag, err := git(root, "describe", "--tags", "--exact-match"); err == nil {
		return strings.TrimPrefix(tag, "v"), nil
	}
	when, err := commitTime(root)
	if err != nil {
		return "", err
	}
	sha, err := git(root, "rev-parse", "--short", "HEAD")
	if err != nil {
		return "", err
	}
	return debVersion(when, sha), nil
}

// debVersion is the version of an untagged commit: 0.0~gitYYYYMMDD.SHORTSHA.
// dpkg wants a version that starts with a digit, and ~ sorts before
// anything, so that a first release 0.1 (or even 0.0) sorts after every
// snapshot; the date makes snapshots sort in time, the hash names the commit.
func debVersion(when time.Time, sha string) string {
	return "0.0~git" + when.UTC().Format("20060102") + "." + sha
}

// manPage is a man page of gostate(1) whose text is --help's, kept as it is
// laid out (.nf), with roff's special characters escaped.
func manPage(help, version string, when time.Time) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, ".TH GOSTATE 1 %q %q \"User Commands\"\n", when.UTC().Format("2006-01-02"), "gostate "+version)
	b.WriteString(".SH NAME\ngostate \\- a top-like monitor of the Linux netfilter connection-tracking table\n")
	b.WriteString(".SH SYNOPSIS\n.B gostate\n[\\fIflags\\fR]\n.SH DESCRIPTION\n.nf\n")
	for _, line := range strings.Split(strings.TrimRight(help, "\n"), "\n") {
		line = strings.ReplaceAll(line, `\`, `\e`)
		if strings.HasPrefix(line, ".") || strings.HasPrefix(line, "'") {
			line = `\&` + line
		}
		b.WriteString(line + "\n")
	}
	b.WriteString(".fi\n.SH SEE ALSO\n.BR conntrack (8),\n.BR iptstate (8)\n")
	return b.Bytes()
}

// flagPattern finds the flags in --help: "  -b, --sort KEY", "      --stats".
var flagPattern = regexp.MustCompile(`(?m)^(?:  (-[0-9A-Za-z]), |      )(--[a-z][a-z0-9-]*)`)

// flagWords returns every flag --help lists, short and long, sorted.
func flagWords(help string) []string {
	var words []string
	for _, m := range flagPattern.FindAllStringSubmatch(help, -1) {
		if m[1] != "" {
			words = append(words, m[1])
		}
		words = append(words, m[2])
	}
	slices.Sort(words)
	return slices.Compact(words)
}

// bashCompletion completes gostate's flags as --help lists them, and files
// or namespaces after the flags that take them.
func bashCompletion(help string) string {
	words := flagWords(help)
	return `# bash completion for gostate, made from gostate --help by scripts/mkdeb
_gostate() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	case $prev in
	--file|--check-state)
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return
		;;
	-n|--netns)
		mapfile -t COMPREPLY < <(compgen -W "$(ls /var/run/netns 2>/dev/null)" -- "$cur")
		return
		;;
	esac
	mapfile -t COMPREPLY < <(compgen -W "` + strings.Join(words, " ") + `" -- "$cur")
}
complete -F _gostate gostate
`
}

// zshCompletion is bashCompletion for zsh.
func zshCompletion(help string) string {
	return `#compdef gostate
# zsh completion for gostate, made from gostate --help by scripts/mkdeb
case $words[CURRENT-1] in
--file|--check-state) _files; return ;;
-n|--netns) compadd -- ${(f)"$(ls /var/run/netns 2>/dev/null)"}; return ;;
esac
compadd -- ` + strings.Join(flagWords(help), " ") + `
`
}

// fishCompletion is bashCompletion for fish: one line a flag, its short and
// long names together.
func fishCompletion(help string) string {
	var b strings.Builder
	b.WriteString("# fish completion for gostate, made from gostate --help by scripts/mkdeb\n")
	for _, m := range flagPattern.FindAllStringSubmatch(help, -1) {
		long := strings.TrimPrefix(m[2], "--")
		line := "complete -c gostate"
		if m[1] != "" {
			line += " -s " + strings.TrimPrefix(m[1], "-")
		}
		line += " -l " + long
		switch long {
		case "file", "check-state":
			line += " -r -F"
		case "netns":
			line += ` -x -a "(ls /var/run/netns 2>/dev/null)"`
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// writeGzip writes b to path, compressed, with no name or time in the
// header so that the same page gives the same bytes.
func writeGzip(path string, b []byte) error {
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
