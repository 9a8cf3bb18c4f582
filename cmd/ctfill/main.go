// Command ctfill fills the conntrack table of a network namespace with
// synthetic entries, fast, so that gostate (make demo) and its benchmarks
// (make bench) have a busy table to read without touching the host's, and
// keeps it churning for soak tests (make soak).
//
//	ctfill -n NETNS [--create] [-N COUNT] [-proto tcp|udp|mix] [-timeout S]
//	ctfill -n NETNS [-N COUNT] --churn RATE [-duration D] [-proto P] [-timeout S]
//	ctfill -n NETNS [-N COUNT] --tcp-churn RATE [-tw-timeout S] [-reap S] [-duration D]
//
// -n names the namespace: a name under /var/run/netns or a path such as
// /proc/PID/ns/net. ctfill never fills the namespace it runs in, nor the
// init namespace, even when -n names them. With --create it first creates the
// namespace (a fresh name when -n is not given) and prints its name alone on
// standard output, for scripts; everything else goes to standard error.
//
// The entries are distinct TCP and UDP flows between documentation addresses
// (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32), assured,
// with TTLs between S/2 and S seconds. When the table is full (the global
// nf_conntrack_max, which ctfill never changes) it stops and says so.
//
// With --churn it fills COUNT entries as above (finding those an earlier
// fill with the same -N and -proto inserted already there), then every second
// creates RATE new entries and deletes RATE of the oldest it has, keeping the
// table at COUNT entries, until -duration D has passed (0: no end) or it is
// interrupted (SIGINT, SIGTERM, SIGHUP). It reports every 10 seconds, and at
// the end, the rates it achieved and the table's size.
//
// With --tcp-churn it makes RATE real TCP connections a second inside the
// namespace, over its loopback interface (127.0.0.0/8; nothing leaves the
// namespace), after filling -N synthetic entries as above when -N is given
// (none otherwise), until -duration D has passed or it is interrupted. Each
// connection goes from an address of its own in 127.1.0.0/16 to a server on
// 127.0.0.1: handshake, a few bytes each way, the server closes first, then
// the client; the kernel's entry goes from SYN_SENT through ESTABLISHED,
// FIN_WAIT and LAST_ACK to TIME_WAIT, and each change is an UPDATE event for
// a listener such as gostate. It loads an nft rule into the namespace that
// makes the kernel track its traffic (table inet gostate_track; loading it
// again replaces it) and leaves it there. -tw-timeout S sets the namespace's
// conntrack TIME_WAIT timeout (net.netfilter.nf_conntrack_tcp_timeout_time_wait,
// a per-namespace sysctl: the host's is not touched) and leaves it set, so
// that after a warm-up of S seconds about RATE entries leave the table a
// second as RATE arrive: the table then holds about RATE × S of the churn's
// entries (120 s by default, the kernel's). But an expired entry leaves only
// when something passes over it: the kernel's garbage collector, which on a
// machine of long-lived entries (such as -N's) passes up to a minute apart,
// or a dump of the table (gostate's whole reads). So they leave in bursts,
// unless -reap S (below the TIME_WAIT timeout) deletes each connection's
// entry S seconds after it closed, over ctnetlink: a DESTROY event as for an
// expiry, RATE a second, steadily. It reports every 10 seconds, and at
// the end, the connections a second it achieved, how many failed, the
// table's size and the namespace's TCP sockets in TIME_WAIT (the server's,
// Rate × 60 s at most).
//
// Exit status: 0 when the entries are in (or the table filled up), or the
// churn ran until its end or an interrupt; 1 for a usage error; 2 when the
// namespace cannot be created, filled or churned, the table is too full to
// churn, or the TCP churn could not set up or went a whole second with
// every connection failing.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"github.com/gostate/gostate/internal/numfmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gostate/gostate/internal/netns"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ctfill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ctfill -n NETNS [--create] [-N COUNT] [-proto tcp|udp|mix] [-timeout S]")
		fmt.Fprintln(stderr, "       ctfill -n NETNS [-N COUNT] --churn RATE [-duration D] [-proto P] [-timeout S]")
		fmt.Fprintln(stderr, "       ctfill -n NETNS [-N COUNT] --tcp-churn RATE [-tw-timeout S] [-reap S] [-duration D]")
		fs.PrintDefaults()
	}
	nsFlag := fs.String("n", "", "namespace to fill: a name under /var/run/netns or a path")
	create := fs.Bool("create", false, "create the namespace first (a fresh name without -n) and print its name")
	count := fs.Int("N", 10000, "number of entries to insert")
	proto := fs.String("proto", "mix", "protocols of the entries: tcp, udp or mix")
	timeout := fs.Uint("timeout", 3600, "longest TTL in seconds (entries get between S/2 and S)")
	churn := fs.Int("churn", 0, "after filling, create and delete this many entries a second, keeping -N entries")
	tcpChurn := fs.Int("tcp-churn", 0, "make this many real loopback TCP connections a second in the namespace (after filling -N, when given)")
	twTimeout := fs.Int("tw-timeout", 0, "with --tcp-churn: set the namespace's conntrack TIME_WAIT timeout to S seconds (per namespace; 0: leave it)")
	reap := fs.Int("reap", 0, "with --tcp-churn: delete each connection's entry S seconds after it closed, for steady DESTROYs (0: leave them to expire)")
	duration := fs.Duration("duration", 0, "with --churn or --tcp-churn: how long to churn (0: until interrupted)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 1
	}
	countGiven := false
	fs.Visit(func(f *flag.Flag) { countGiven = countGiven || f.Name == "N" })
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "ctfill: "+format+" (see ctfill -h)\n", a...)
		return 1
	}
	switch {
	case fs.NArg() > 0:
		return usage("unexpected argument %q", fs.Arg(0))
	case *nsFlag == "" && !*create:
		return usage("name a namespace with -n NAME, or make one with --create: ctfill never fills this machine's own table")
	case *create && strings.ContainsRune(*nsFlag, '/'):
		return usage("--create needs a name, not the path %s", *nsFlag)
	case *count < 0:
		return usage("-N %d: the count cannot be negative", *count)
	case *proto != "tcp" && *proto != "udp" && *proto != "mix":
		return usage("-proto %q: want tcp, udp or mix", *proto)
	case *timeout < 1 || *timeout > 1<<31:
		return usage("-timeout %d: want 1 to %d seconds", *timeout, 1<<31)
	case *churn < 0:
		return usage("--churn %d: the rate cannot be negative", *churn)
	case *duration < 0:
		return usage("-duration %v: cannot be negative", *duration)
	case *tcpChurn < 0:
		return usage("--tcp-churn %d: the rate cannot be negative", *tcpChurn)
	case *churn > 0 && *tcpChurn > 0:
		return usage("--churn and --tcp-churn: give one of them")
	case *twTimeout < 0:
		return usage("-tw-timeout %d: cannot be negative", *twTimeout)
	case *tcpChurn == 0 && *twTimeout != 0:
		return usage("-tw-timeout is for the connections of --tcp-churn; give --tcp-churn RATE too")
	case *reap < 0:
		return usage("-reap %d: cannot be negative", *reap)
	case *tcpChurn == 0 && *reap != 0:
		return usage("-reap deletes the entries of --tcp-churn; give --tcp-churn RATE too")
	case *churn == 0 && *tcpChurn == 0 && *duration != 0:
		return usage("-duration is how long --churn runs; give --churn RATE too")
	case *churn > 0 && *count < 1:
		return usage("--churn keeps the table at -N entries: want -N of at least 1")
	}

	name := *nsFlag
	if *create {
		if name == "" {
			name = "gostate-demo-" + randomSuffix()
		}
		if err := netns.Usable(); err != nil {
			fmt.Fprintf(stderr, "ctfill: cannot create a namespace: %v\n", err)
			return 2
		}
		if err := netns.Create(name); err != nil {
			fmt.Fprintf(stderr, "ctfill: %v\n", err)
			return 2
		}
		fmt.Fprintln(stdout, name)
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "ctfill: %v\n", err)
		if *create {
			if err := netns.Remove(name); err != nil {
				fmt.Fprintf(stderr, "ctfill: %v\n", err)
			} else {
				fmt.Fprintf(stderr, "ctfill: removed the namespace %s it had created\n", name)
			}
		}
		return 2
	}

	path := netns.Path(name)
	if err := notOwnNamespace(path); err != nil {
		return fail(err)
	}
	if *tcpChurn > 0 {
		// The synthetic entries only when asked for: -N's default is
		// the plain fill's.
		if countGiven && *count > 0 {
			r, err := netns.Fill(path, *count, netns.FillOptions{Proto: *proto, Timeout: uint32(*timeout)})
			if err != nil {
				return fail(err)
			}
			reportFill(r, name, *count, stderr)
			if r.Full {
				return fail(errors.New("not churning a full table: its connections would fail"))
			}
		}
		if err := runTCPChurn(name, path, *duration, netns.TCPChurnOptions{Rate: *tcpChurn, TimeWait: *twTimeout, Reap: time.Duration(*reap) * time.Second}, stderr); err != nil {
			return fail(err)
		}
		return 0
	}
	r, err := netns.Fill(path, *count, netns.FillOptions{Proto: *proto, Timeout: uint32(*timeout)})
	if err != nil {
		return fail(err)
	}
	reportFill(r, name, *count, stderr)
	if r.Full && *churn > 0 {
		return fail(errors.New("not churning a full table: its creates would fail"))
	}
	if *churn == 0 {
		return 0
	}
	if err := runChurn(name, path, *count, *churn, *duration, netns.ChurnOptions{Proto: *proto, Timeout: uint32(*timeout)}, stderr); err != nil {
		return fail(err)
	}
	return 0
}

// reportFill says what a fill of count entries did, and whether the table
// filled up before the end.
func reportFill(r netns.FillResult, name string, count int, stderr io.Writer) {
	msg := fmt.Sprintf("ctfill: inserted %s entries into %s in %.2f s (%s entries/s)",
		numfmt.Count(r.Created), name, r.Elapsed.Seconds(), numfmt.Count(int(r.Rate())))
	if r.Existing > 0 {
		msg += fmt.Sprintf("; %s were already there", numfmt.Count(r.Existing))
	}
	fmt.Fprintln(stderr, msg)
	if r.Full {
		fmt.Fprintf(stderr, "ctfill: the table is full (nf_conntrack_max is %s): the kernel refused the rest after %s of %s entries; stopped\n",
			readMax(), numfmt.Count(r.Created+r.Existing), numfmt.Count(count))
	}
}

// reportEvery is how often a churn says how it is doing.
const reportEvery = 10 * time.Second

// churnContext is a churn's context: it ends after d (0: no end) or at
// SIGINT, SIGTERM or SIGHUP; until says which for the first report.
func churnContext(d time.Duration) (ctx context.Context, stop func(), until string) {
	ctx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	if d <= 0 {
		return ctx, stopSignals, "until interrupted"
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	return ctx, func() { cancel(); stopSignals() }, "for " + d.String()
}

// runChurn churns the namespace's table of count fill entries at rate a
// second until d has passed (0: no end) or a signal interrupts it, reporting
// every reportEvery and at the end. The end of d and an interrupt are the
// normal ends; an error means the churn could not go on.
func runChurn(name, path string, count, rate int, d time.Duration, o netns.ChurnOptions, stderr io.Writer) error {
	ctx, stop, until := churnContext(d)
	defer stop()
	fmt.Fprintf(stderr, "ctfill: churning %s %s: %s new and %s gone entries a second, keeping %s\n",
		name, until, numfmt.Count(rate), numfmt.Count(rate), numfmt.Count(count))

	o.Rate, o.Window = rate, count
	var last netns.ChurnResult
	o.Progress = func(p netns.ChurnResult) {
		if p.Elapsed-last.Elapsed < reportEvery {
			return
		}
		secs := (p.Elapsed - last.Elapsed).Seconds()
		fmt.Fprintf(stderr, "ctfill: churn at %.0f s: %s new/s, %s gone/s over the last %.0f s; %s\n",
			p.Elapsed.Seconds(), numfmt.Count(int(float64(p.Created-last.Created)/secs+0.5)),
			numfmt.Count(int(float64(p.Deleted-last.Deleted)/secs+0.5)), secs, tableSize(path))
		last = p
	}
	r, err := netns.Churn(ctx, path, o)
	msg := fmt.Sprintf("ctfill: churned %s for %.1f s: %s created and %s deleted (%s new/s, %s gone/s); %s",
		name, r.Elapsed.Seconds(), numfmt.Count(r.Created), numfmt.Count(r.Deleted),
		numfmt.Count(int(r.NewRate()+0.5)), numfmt.Count(int(r.GoneRate()+0.5)), tableSize(path))
	if r.Existing > 0 || r.Missing > 0 {
		msg += fmt.Sprintf("; %s to create were already there, %s to delete already gone", numfmt.Count(r.Existing), numfmt.Count(r.Missing))
	}
	fmt.Fprintln(stderr, msg)
	if err == nil && r.Full {
		err = fmt.Errorf("the table is full (nf_conntrack_max is %s): the kernel refused a new entry; stopped", readMax())
	}
	return err
}

// runTCPChurn makes o.Rate real TCP connections a second in the namespace
// until d has passed (0: no end) or a signal interrupts it, reporting every
// reportEvery and at the end, as runChurn does. Its first and last lines
// begin "ctfill: churning" and "ctfill: churned" as runChurn's do, so that
// scripts wait for and quote either churn alike.
func runTCPChurn(name, path string, d time.Duration, o netns.TCPChurnOptions, stderr io.Writer) error {
	ctx, stop, until := churnContext(d)
	defer stop()
	tw := "the namespace's conntrack TIME_WAIT timeout as it is"
	if o.TimeWait > 0 {
		tw = fmt.Sprintf("the namespace's conntrack TIME_WAIT timeout set to %d s", o.TimeWait)
	}
	if o.Reap > 0 {
		tw += fmt.Sprintf(", each entry deleted %v after its connection closed", o.Reap)
	}
	fmt.Fprintf(stderr, "ctfill: churning %s %s with real TCP: %s connections a second over its loopback, %s\n",
		name, until, numfmt.Count(o.Rate), tw)

	var last netns.TCPChurnResult
	o.Progress = func(p netns.TCPChurnResult) {
		if p.Elapsed-last.Elapsed < reportEvery {
			return
		}
		secs := (p.Elapsed - last.Elapsed).Seconds()
		reaped := ""
		if o.Reap > 0 {
			reaped = fmt.Sprintf(", %s reaped/s", numfmt.Count(int(float64(p.Reaped-last.Reaped)/secs+0.5)))
		}
		fmt.Fprintf(stderr, "ctfill: tcp churn at %.0f s: %s connections/s over the last %.0f s, %s failed%s; %s, %s\n",
			p.Elapsed.Seconds(), numfmt.Count(int(float64(p.Completed-last.Completed)/secs+0.5)), secs,
			numfmt.Count(p.Failed-last.Failed), reaped, tableSize(path), timeWaitSockets(path))
		last = p
	}
	r, err := netns.TCPChurn(ctx, path, o)
	if r.Server.IsValid() {
		msg := fmt.Sprintf("ctfill: churned %s with real TCP for %.1f s: %s connections to %s completed (%s/s), %s failed; %s, %s",
			name, r.Elapsed.Seconds(), numfmt.Count(r.Completed), r.Server, numfmt.Count(int(r.Rate()+0.5)),
			numfmt.Count(r.Failed), tableSize(path), timeWaitSockets(path))
		if o.Reap > 0 {
			msg += fmt.Sprintf("; %s entries reaped, %s found gone already", numfmt.Count(r.Reaped), numfmt.Count(r.Expired))
		}
		if r.LastError != "" {
			msg += "; the last failure: " + r.LastError
		}
		fmt.Fprintln(stderr, msg)
	}
	return err
}

// timeWaitSockets says how many TCP sockets of the namespace are in
// TIME_WAIT, for reports.
func timeWaitSockets(path string) string {
	n, err := netns.TimeWaitSockets(path)
	if err != nil {
		return "its TIME_WAIT sockets unknown"
	}
	return numfmt.Count(n) + " sockets in TIME_WAIT"
}

// tableSize says how many entries the namespace's table holds, for reports.
func tableSize(path string) string {
	n, err := netns.Count(path)
	if err != nil {
		return "the table's size is unknown"
	}
	return "the table holds " + numfmt.Count(n) + " entries"
}

// notOwnNamespace refuses the namespace ctfill runs in and the init
// namespace (the host's table), however -n names them.
//
// The namespace ctfill runs in is the calling thread's (/proc/thread-self),
// not /proc/self's, which is the main thread's: netns.Run leaves its threads
// in the namespace it joined, and when one of them is the main thread the Go
// runtime parks it there for good instead of ending it, so after a fill in
// this process /proc/self can show the filled namespace. A goroutine that has
// not joined a namespace never runs on such a thread. Kernels before 4.1 have
// no thread-self; there /proc/self is the best there is.
func notOwnNamespace(path string) error {
	target, err := nsID(path)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", path, err)
	}
	self := "/proc/thread-self/ns/net"
	if _, err := nsID(self); err != nil {
		self = "/proc/self/ns/net"
	}
	for _, own := range []string{self, "/proc/1/ns/net"} {
		if id, err := nsID(own); err == nil && id == target {
			return fmt.Errorf("refusing to fill %s: it is this machine's own network namespace (%s)", path, own)
		}
	}
	return nil
}

// nsID identifies a namespace by the device and inode of its file.
func nsID(path string) ([2]uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return [2]uint64{}, err
	}
	return [2]uint64{st.Dev, st.Ino}, nil
}

// readMax returns nf_conntrack_max as the kernel prints it, or "unknown".
func readMax() string {
	b, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_max")
	if err != nil {
		return "unknown"
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return "unknown"
	}
	return numfmt.Count(n)
}

func randomSuffix() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
