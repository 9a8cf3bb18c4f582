package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/pflag"

	"github.com/gostate/gostate/internal/check"
	"github.com/gostate/gostate/internal/filter"
	"github.com/gostate/gostate/internal/group"
	"github.com/gostate/gostate/internal/monitor"
	"github.com/gostate/gostate/internal/sortby"
	"github.com/gostate/gostate/internal/source"
	"github.com/gostate/gostate/internal/termsafe"
	"github.com/gostate/gostate/internal/view"
)

// config is everything the command line chose.
type config struct {
	view   view.Options
	source source.Options
	rate   time.Duration

	single, json, stats, advise bool
	noHeader                    bool
	counters, totals, noColor   bool
	// rates shows each flow's bytes per second (--rates, -b rate): the
	// one-shot view reads the table twice, the interval apart.
	rates            bool
	lookup, readOnly bool
	help, version    bool
	// nameServer is the DNS server for -l as IP:port, "" for the system's.
	nameServer string
	// events are the kinds -E prints; none means no event stream.
	events source.EventKind
	// listen is --listen's address, "" without an exporter; the rest of
	// the exporter's flags are in export.
	listen string
	export exportFlags
	// checking is --check; check holds its settings.
	checking bool
	check    checkFlags
	// groupBy is --group-by's key: the zero Spec means rows, not groups.
	groupBy group.Spec
	// byKey is true when -b was given with --group-by: groups are then in
	// the order of their keys rather than biggest first.
	byKey bool
	// top is --top: how many groups to show; 0 means the default (what
	// fits the terminal in text, all in JSON).
	top int
}

// usageError is a mistake on the command line: reported in one line with a
// pointer to --help, exit status 1.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef formats a usage error. Values the user gave go in quoted (%q), and
// every quoted string of the message, the reason a parser gives included, is
// shown as shownValue shows it.
func usagef(format string, args ...any) error {
	return &usageError{msg: shownQuoted(fmt.Sprintf(format, args...))}
}

// maxShown is how many characters of a value a usage message shows: more
// than any address, port, list of protocols or flag name needs, and few
// enough that a mistaken 100 KB value does not fill the terminal.
const maxShown = 64

// shownValue is the one rule for showing what the user typed in a usage
// message: made safe for a terminal (termsafe.Sanitize) and, when longer
// than maxShown characters, cut there and ended with "…".
func shownValue(s string) string {
	s = termsafe.Sanitize(s)
	if utf8.RuneCountInString(s) <= maxShown {
		return s
	}
	cut := 0
	for range maxShown {
		_, n := utf8.DecodeRuneInString(s[cut:])
		cut += n
	}
	return s[:cut] + "…"
}

// shownQuoted returns msg with each double-quoted Go string in it (what %q
// writes) shown by shownValue, and quoted again.
func shownQuoted(msg string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(msg, '"')
		if i < 0 {
			b.WriteString(msg)
			return b.String()
		}
		b.WriteString(msg[:i])
		msg = msg[i:]
		q, err := strconv.QuotedPrefix(msg)
		if err != nil {
			b.WriteByte('"')
			msg = msg[1:]
			continue
		}
		v, _ := strconv.Unquote(q)
		b.WriteString(strconv.Quote(shownValue(v)))
		msg = msg[len(q):]
	}
}

// flagError is the usage error for an error of the flag parser. Its messages
// give what was typed of a flag's name unquoted, whole: those are written
// here again, shown by shownValue.
func flagError(err error) error {
	var (
		unknown *pflag.NotExistError
		noValue *pflag.ValueRequiredError
		syntax  *pflag.InvalidSyntaxError
	)
	switch {
	case errors.As(err, &unknown):
		if group := unknown.GetSpecifiedShortnames(); group != "" {
			return usagef("unknown shorthand flag: %q in -%s", rune(unknown.GetSpecifiedName()[0]), shownValue(group))
		}
		return usagef("unknown flag: --%s", shownValue(unknown.GetSpecifiedName()))
	case errors.As(err, &noValue):
		if group := noValue.GetSpecifiedShortnames(); group != "" {
			return usagef("flag needs an argument: %q in -%s", rune(noValue.GetSpecifiedName()[0]), shownValue(group))
		}
		return usagef("flag needs an argument: --%s", shownValue(noValue.GetSpecifiedName()))
	case errors.As(err, &syntax):
		return usagef("bad flag syntax: %s", shownValue(syntax.GetSpecifiedFlag()))
	}
	// The others (an invalid value of a boolean flag) quote what was typed.
	return usagef("%s", err)
}

// rawFlags holds the flags that parseFlags still has to check and convert.
// The filters may be given more than once: each holds every value given.
type rawFlags struct {
	sort, rate, kind, nameServer, events, groupBy, listen, topBy *string
	top                                                          *int

	netns *[]string

	srcFilter, dstFilter, host, srcPort, dstPort, protos, states, marks, zones *[]string
}

// defineFlags declares every flag on a new set, binding the plain ones to cfg.
func defineFlags(cfg *config) (*pflag.FlagSet, *rawFlags) {
	fs := pflag.NewFlagSet("gostate", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	raw := &rawFlags{
		sort: fs.StringP("sort", "b", "", ""),
	}
	fs.BoolVarP(&cfg.view.Reverse, "reverse", "r", false, "")
	fs.BoolVarP(&cfg.single, "single", "1", false, "")
	raw.rate = fs.StringP("rate", "R", "1", "")
	raw.srcFilter = fs.StringArrayP("src-filter", "s", nil, "")
	raw.dstFilter = fs.StringArrayP("dst-filter", "d", nil, "")
	raw.srcPort = fs.StringArrayP("srcpt-filter", "S", nil, "")
	raw.dstPort = fs.StringArrayP("dstpt-filter", "D", nil, "")
	fs.BoolVarP(&cfg.view.Filter.Invert, "invert-filters", "i", false, "")
	fs.BoolVarP(&cfg.view.Filter.NoLoopback, "no-loopback", "f", false, "")
	fs.BoolVarP(&cfg.view.Filter.NoDNS, "no-dns", "L", false, "")
	fs.BoolVarP(&cfg.lookup, "lookup", "l", false, "")
	raw.nameServer = fs.String("nameserver", "", "")
	fs.BoolVarP(&cfg.counters, "counters", "C", false, "")
	fs.BoolVar(&cfg.rates, "rates", false, "")
	fs.BoolVarP(&cfg.totals, "totals", "t", false, "")
	fs.BoolVarP(&cfg.noColor, "no-color", "c", false, "")
	fs.BoolVarP(&cfg.json, "json", "j", false, "")
	fs.BoolVar(&cfg.stats, "stats", false, "")
	fs.BoolVar(&cfg.advise, "advise", false, "")
	fs.BoolVar(&cfg.noHeader, "no-header", false, "")
	raw.host = fs.StringArray("host", nil, "")
	raw.protos = fs.StringArray("proto", nil, "")
	raw.states = fs.StringArray("state", nil, "")
	raw.marks = fs.StringArray("mark", nil, "")
	raw.zones = fs.StringArray("zone", nil, "")
	raw.kind = fs.String("source", string(source.KindAuto), "")
	raw.netns = fs.StringArrayP("netns", "n", nil, "")
	fs.StringVar(&cfg.source.File, "file", "", "")
	fs.BoolVar(&cfg.readOnly, "read-only", false, "")
	raw.groupBy = fs.String("group-by", "", "")
	raw.top = fs.Int("top", 0, "")
	raw.events = fs.StringP("events", "E", "", "")
	fs.Lookup("events").NoOptDefVal = "all"
	raw.listen = fs.String("listen", "", "")
	fs.IntVar(&cfg.export.top, "top-sources", 0, "")
	raw.topBy = fs.String("top-sources-by", "src", "")
	fs.BoolVar(&cfg.export.nodeCompat, "node-compat", false, "")
	fs.BoolVar(&cfg.checking, "check", false, "")
	fs.Float64Var(&cfg.check.th.Warn, "warn", check.DefaultWarn, "")
	fs.Float64Var(&cfg.check.th.Crit, "crit", check.DefaultCrit, "")
	fs.StringVar(&cfg.check.state, "check-state", "", "")
	fs.BoolVarP(&cfg.help, "help", "h", false, "")
	fs.BoolVarP(&cfg.version, "version", "v", false, "")
	return fs, raw
}

// parseFlags reads the command line. Every flag has iptstate's letter where
// iptstate has one, so that its users' habits work unchanged.
func parseFlags(args []string) (*config, error) {
	cfg := &config{}
	fs, raw := defineFlags(cfg)
	if err := fs.Parse(args); err != nil {
		return nil, flagError(err)
	}
	if cfg.help || cfg.version {
		return cfg, nil
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}

	var err error
	if fs.Changed("sort") {
		if cfg.view.Sort, err = sortby.Parse(*raw.sort); err != nil {
			return nil, usagef("invalid -b/--sort %q: %v", *raw.sort, err)
		}
	}
	if cfg.rate, err = monitor.ParseInterval(*raw.rate); err != nil {
		return nil, usagef("invalid -R/--rate %q: %v", *raw.rate, err)
	}
	f := &cfg.view.Filter
	if f.Src, err = listFlag("-s/--src-filter", *raw.srcFilter, filter.ParsePrefixes); err != nil {
		return nil, err
	}
	if f.Dst, err = listFlag("-d/--dst-filter", *raw.dstFilter, filter.ParsePrefixes); err != nil {
		return nil, err
	}
	if f.Host, err = listFlag("--host", *raw.host, filter.ParsePrefixes); err != nil {
		return nil, err
	}
	if f.SrcPort, err = listFlag("-S/--srcpt-filter", *raw.srcPort, filter.ParsePorts); err != nil {
		return nil, err
	}
	if f.DstPort, err = listFlag("-D/--dstpt-filter", *raw.dstPort, filter.ParsePorts); err != nil {
		return nil, err
	}
	if f.Protos, err = listFlag("--proto", *raw.protos, filter.ParseProtos); err != nil {
		return nil, err
	}
	if f.States, err = listFlag("--state", *raw.states, filter.ParseStates); err != nil {
		return nil, err
	}
	if f.Mark, err = listFlag("--mark", *raw.marks, filter.ParseMarks); err != nil {
		return nil, err
	}
	if f.Zone, err = listFlag("--zone", *raw.zones, filter.ParseZones); err != nil {
		return nil, err
	}
	// As in iptstate: looking names up would otherwise fill the view with
	// gostate's own DNS flows.
	if cfg.lookup {
		f.NoDNS = true
	}
	if fs.Changed("nameserver") {
		if cfg.nameServer, err = parseNameServer(*raw.nameServer); err != nil {
			return nil, usagef("invalid --nameserver %q: %v", *raw.nameServer, err)
		}
	}

	switch k := source.Kind(*raw.kind); k {
	case source.KindAuto, source.KindNetlink, source.KindProc:
		cfg.source.Kind = k
	default:
		return nil, usagef("invalid --source %q: valid are auto, netlink, proc", *raw.kind)
	}
	if cfg.source.File != "" && (fs.Changed("netns") || fs.Changed("source")) {
		return nil, usagef("--file reads a saved dump: --netns and --source do not apply to it")
	}
	for _, ns := range *raw.netns {
		if ns == "" {
			return nil, usagef("invalid -n/--netns \"\": name a namespace under /var/run/netns or a path")
		}
	}
	if cfg.checking {
		if err := parseCheck(fs, cfg); err != nil {
			return nil, err
		}
	} else if err := notWithoutCheck(fs); err != nil {
		return nil, err
	}
	if fs.Changed("listen") {
		if err := parseExport(fs, raw, cfg); err != nil {
			return nil, err
		}
	} else {
		if err := notWithoutListen(fs); err != nil {
			return nil, err
		}
		if len(*raw.netns) > 1 {
			return nil, usagef("-n/--netns given %d times: only --listen watches more than one namespace", len(*raw.netns))
		}
		if len(*raw.netns) == 1 {
			cfg.source.NetNS = (*raw.netns)[0]
		}
	}
	if fs.Changed("events") {
		if err := parseEvents(fs, *raw.events, cfg); err != nil {
			return nil, err
		}
	}
	if cfg.view.Sort == sortby.Rate {
		cfg.rates = true
	}
	if cfg.rates && cfg.source.File != "" {
		return nil, usagef("--rates and -b rate need two reads of a live table: --file reads a saved one")
	}
	if cfg.advise && (cfg.stats || cfg.events != 0 || cfg.view.Filter.Active()) {
		return nil, usagef("--advise reports on the whole table: --stats, -E and the filters do not apply to it")
	}
	if err := parseGroupBy(fs, raw, cfg); err != nil {
		return nil, err
	}
	// --stats is only ever JSON; asking for it is asking for JSON.
	if cfg.stats {
		cfg.json = true
	}
	return cfg, nil
}

// parseGroupBy reads --group-by and --top. Grouping is a one-shot view of
// the rows: --stats reads none and -E has no table to group, so either with
// --group-by is a usage error, as is --top without --group-by. Any -b given
// orders the groups by their key (the default: biggest first).
func parseGroupBy(fs *pflag.FlagSet, raw *rawFlags, cfg *config) error {
	if fs.Changed("top") {
		if !fs.Changed("group-by") {
			return usagef("--top limits --group-by's groups: give --group-by KEY")
		}
		if *raw.top < 1 {
			return usagef("invalid --top %q: want a number of groups, 1 or more", strconv.Itoa(*raw.top))
		}
		cfg.top = *raw.top
	}
	if !fs.Changed("group-by") {
		return nil
	}
	var err error
	if cfg.groupBy, err = group.Parse(*raw.groupBy); err != nil {
		return usagef("invalid --group-by %q: want %s", *raw.groupBy, group.ValidKeys)
	}
	switch {
	case cfg.stats:
		return usagef("--group-by groups rows: --stats reads none")
	case fs.Changed("events"):
		return usagef("--group-by groups a table: -E prints its changes")
	}
	cfg.byKey = fs.Changed("sort")
	return nil
}

// listFlag reads a filter flag given as values, once per occurrence: each is
// a comma-separated list, and the flag keeps what any of them names (-s A
// -s B keeps flows from A or B, as -s A,B does). No occurrence gives the
// zero value, no filter; an empty one is a usage error, as is any value
// parse refuses, named in the message.
func listFlag[T any](name string, values []string, parse func(string) (T, error)) (T, error) {
	var zero T
	if len(values) == 0 {
		return zero, nil
	}
	for _, v := range values {
		if _, err := parse(v); err != nil {
			return zero, usagef("invalid %s %q: %v", name, v, err)
		}
	}
	// Every value holds an item, so the whole list parses too.
	return parse(strings.Join(values, ","))
}

// parseNameServer reads --nameserver: an IP address, port 53, or IP:port
// ([IPv6]:port). A host name is refused: finding the server that is to
// answer lookups must not itself need a lookup.
func parseNameServer(s string) (string, error) {
	if ip, err := netip.ParseAddr(s); err == nil {
		return net.JoinHostPort(ip.String(), "53"), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return "", errors.New("want an IP address or IP:port ([IPv6]:port)")
	}
	if ap.Port() == 0 {
		return "", errors.New("port 0 is not a port a server listens on")
	}
	return ap.String(), nil
}
