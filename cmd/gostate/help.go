package main

import (
	"strings"

	"github.com/gostate/gostate/internal/ui/screen"
)

// helpText is what --help prints: helpTemplate with the live screen's own
// key list. TestHelpListsEveryFlag keeps it in step with parseFlags.
func helpText() string {
	return strings.Replace(helpTemplate, "{{keys}}", screen.KeyList("  "), 1)
}

const helpTemplate = `gostate - a top-like monitor of the Linux netfilter connection-tracking table

Usage: gostate [flags]

On a terminal gostate shows a live screen that re-reads the table every -R
seconds. It prints one view and exits instead with -1 or --json, or when
standard output is not a terminal (a pipe, a file, ssh without -t), or when
TERM is unset, "dumb" or unknown.

iptstate's flags, with iptstate's letters:
  -b, --sort KEY          sort by KEY, a letter or a word (default: source):
                            a  src      source address (iptstate: no -b)
                            S  sport    source port
                            d  dst      destination address
                            D  dport    destination port
                            p  proto    protocol
                            s  state    state, as the column reads (ICMP last)
                            t  ttl      seconds left before expiry
                            b  bytes    bytes, both directions, biggest first
                            P  packets  packets, both directions, biggest first
                            T  rate     bytes per second, biggest first (the
                                        flow's throughput, not -R's refresh
                                        rate; implies --rates)
                          Addresses sort numerically, IPv4 before IPv6. Flows
                          without the sorted field (ports, a state, a timeout,
                          counters) come last in both directions. Ties break
                          on the rest of the tuple: the same order every time.
  -r, --reverse           reverse the order
  -1, --single            print one view and exit (without the privilege to
                          read the rows: the health line, then the reason on
                          standard error, exit status 2)
  -R, --rate SECONDS      live screen: re-read every SECONDS (default 1;
                          fractions allowed; 0.1 to 86400, as R on screen)
  -s, --src-filter ADDR[/PREFIX]
                          only flows from this source address or network
  -d, --dst-filter ADDR[/PREFIX]
                          only flows to this destination address or network
                          (an IPv4 filter never matches IPv6 flows, nor an
                          IPv6 one IPv4 flows: ::ffff:192.0.2.1 matches only
                          IPv6 flows that carry that IPv4-mapped address)
  -S, --srcpt-filter PORT only flows from this source port (1-65535)
  -D, --dstpt-filter PORT only flows to this destination port (1-65535)
  -i, --invert-filters    -s, -d, -S, -D and --host hide the flows they match
                          instead of keeping them
  -f, --no-loopback       hide flows with 127.0.0.0/8 or ::1 at either end
                          (in IPv6 flows ::ffff:127.0.0.0/104 too)
  -L, --no-dns            hide DNS flows (port 53 at either end)
  -l, --lookup            show host names instead of addresses (implies -L,
                          so that gostate's own lookups stay out of the view)
  -C, --counters          add Bytes and Packets columns (both directions;
                          bytes in B, KiB, MiB..., packets in K, M... of
                          1,000; exact numbers in --json). The kernel counts
                          only with net.netfilter.nf_conntrack_acct=1 (per
                          namespace, flows created since): when no flow has
                          counters, -C, -b b and -b P say so on stderr
      --rates             add the Rate column: each flow's bytes per second,
                          both directions, from its counters read twice -R
                          apart (one-shot: two reads; plain -C reads once)
  -t, --totals            add totals per protocol and per state, and how many
                          flows the filters hid (the live screen always shows
                          them in its header; t there hides the state line)
  -c, --no-color          no colours (nor when NO_COLOR is set, or when
                          standard output is not a terminal)
  -h, --help              show this help and exit
  -v, --version           print the version and exit

gostate's own flags:
      --host ADDR[/PREFIX]
                          only flows with this address or network at either
                          end of either direction: the original source and
                          destination, and the reply's, which for a NAT'd
                          flow hold the DNAT backend or the SNAT address
      --proto LIST        only these protocols: comma-separated names as
                          /etc/protocols gives them, or numbers
                          (tcp,udp,icmp,icmpv6,sctp,gre,esp,ah,vrrp,47); rows
                          name protocols so too, unknown(N) those without one
      --state LIST        only these states, as the State column shows them:
                          comma-separated, any case, - for _: protocol states
                          (established,syn_sent) and the phases every
                          protocol has, from the kernel's status bits:
                          unreplied (no reply seen), replied (a reply, not
                          assured), assured, offload; a phase selects flows
                          of every protocol (a TCP SYN_SENT flow is unreplied)
      --mark VALUE[/MASK] only flows whose connection mark matches: mark &
                          MASK == VALUE & MASK, as iptables' connmark match
                          (no MASK: every bit); decimal or 0x hexadecimal
      --zone N            only flows in conntrack zone N (0-65535)
      --no-header         print the rows only (with -t, the totals follow them)
      --group-by KEY      print groups of flows instead of flows, biggest
                          first, to see who fills the table (one view, as -1):
                          KEY is src, dst, sport, dport, proto, state, mark,
                          zone or nat (the translated address), or two joined
                          by a comma (src,dport); src/N and dst/N group by
                          network (IPv4 /N, IPv6 /64), src/N/M with IPv6 /M.
                          Filters apply first; any -b orders groups by key
                          instead, -r reverses
      --top N             --group-by: the N biggest groups (default: what fits
                          the terminal, 20 without one; with -j all)
  -j, --json              print JSON Lines: one object per flow, in order
  -E, --events[=KINDS]    print the table's changes as the kernel announces
                          them, one line each, until interrupted: KINDS is
                          new, update, destroy or all (the default),
                          comma-separated (--events=new,destroy); filters
                          apply, -j prints JSON Lines; needs the netlink
                          source
      --stats             print the table's health as one JSON object; any
                          user may (without CAP_NET_ADMIN or root, from /proc,
                          with a warning that the rows need them)
      --advise            print a sizing report and exit: is the table full
                          (the peak against nf_conntrack_max, and drop,
                          insert_failed or early_drop growing while watched
                          for one -R interval; their totals alone decide
                          nothing), the limit to set (4 x the peak,
                          rounded up, a full table within 5% of RAM) with
                          its buckets, the sysctl commands and the files that
                          keep them after a reboot (gostate changes nothing
                          itself), and where the entries are: per protocol
                          and state, their share and timeout, and TCP
                          ESTABLISHED flows idle over an hour. -j: one JSON
                          object. Without CAP_NET_ADMIN or root: the health
                          alone, saying what it could not read
      --source KIND       auto (netlink, falling back to /proc/net/nf_conntrack,
                          then /proc/net/ip_conntrack), netlink or proc
  -n, --netns NAME|PATH   read another network namespace's table: a name under
                          /var/run/netns or a path such as /proc/PID/ns/net
                          (with --listen: repeated or comma-separated, each
                          namespace's series labelled netns; entering
                          another namespace needs CAP_SYS_ADMIN as well)
      --file PATH         read a saved dump instead of the kernel: the text of
                          /proc/net/nf_conntrack or of conntrack -L (- is
                          stdin), refused when 16 MiB pass without an entry or
                          past 16,777,216 entries (/dev/zero, an endless pipe)
      --read-only         live screen: never delete entries (x is refused)
      --listen ADDR       export the table to Prometheus instead: serve
                          /metrics over HTTP on ADDR, with no screen, until
                          SIGTERM or SIGINT (status 0); PORT alone listens on
                          127.0.0.1:PORT, :PORT on every address (only when
                          written so), HOST:PORT or [IPv6]:PORT on that
                          address. The health (entries, limit, counters) is
                          read every -R seconds (5 unless given; longer when
                          a read takes longer), the whole table (flows by
                          state, sources) every minute; a scrape serves the
                          last reads; without CAP_NET_ADMIN only the health
                          is exported. Read-only
      --top-sources N     --listen: also export the N biggest sources (at
                          most 100) as gostate_conntrack_top_source_entries:
                          series that come and go as sources do
      --top-sources-by KEY
                          --listen: group the top sources by KEY, a key of
                          --group-by: src (the default), src/24, dst, dport
      --node-compat       --listen: also export node_exporter's
                          node_nf_conntrack_entries, _entries_limit and
                          _stat_* (gauges, as node_exporter types them)
      --check             judge the table's health as a monitoring plugin
                          (Nagios, Icinga): one line on standard output,
                          CONNTRACK OK - 7.6% full (20,000 / 262,144), drops 0
                          | entries=20000;209715;235929;0;262144 fill=7.6%;80;90
                          drop=0c insert_failed=0c early_drop=0c
                          and exit status 0 OK, 1 WARNING, 2 CRITICAL, 3
                          UNKNOWN (every failure, a usage error too); drops
                          are drop + insert_failed + early_drop. Needs no
                          privilege (the health is world-readable)
      --warn PCT          --check: WARNING from PCT percent of the limit (80)
      --crit PCT          --check: CRITICAL from PCT percent of the limit (90)
      --check-state FILE  --check: keep the counters in FILE, and report
                          WARNING when flows were lost since the last check
      --nameserver ADDR   ask this DNS server for -l lookups, e.g. when the
                          system's resolver is slow or down: an IP address
                          (port 53) or IP:port, [IPv6]:port for IPv6

Filters match the original tuple: the addresses and ports of the direction
the flow was opened in, before any NAT; --host the reply's addresses too.
Each of -s, -d, -S, -D, --host, --proto, --state, --mark and --zone takes a
comma-separated list and may be given more than once: a flow passes it when
it matches any of the values (-s A -s B is -s A,B), and must pass every
filter given. An empty value is a usage error, not "no filter".

Text output: a line on the table's health, the figures of the live screen's
header (entries/max, fill, kernel memory in use as entries x bytes per entry,
"~" and "estimated" when the size of an entry is estimated, the kernel's drop,
insert_failed and early_drop counts, kept per network namespace: on the host
since nf_conntrack was loaded, in another namespace since it was created),
the source read and the sort; from 90% full, a warning with the command that
raises the limit, as on the live screen (the limit is global: inside a
network namespace it is raised on the host); the column header; then one row
per flow:
  Source  Destination  Proto  State  TTL  [Mark]  [Zone]  [Bytes  Packets]  [NAT]
Endpoints are addr:port ([addr]:port for IPv6). State is the protocol state
of TCP, SCTP and DCCP, and for the other protocols the phase: UNREPLIED (no
reply seen: a DNS query never answered), REPLIED (a reply, not yet assured),
ASSURED or OFFLOAD; ICMP shows "type/code id" before it (8/0 77 UNREPLIED).
TTL is h:mm:ss. Mark (the connection mark, decimal as conntrack -L prints
it) appears when a shown flow has a non-zero mark, Zone when one is in a zone
other than 0. The NAT column appears when a shown flow is NAT'd: "snat
ADDR:PORT" is the source address the far end sees (masquerading), "dnat
ADDR:PORT" the destination the flow really goes to (port forwarding).
Width: COLUMNS (or iptstate's COLS) when set, else the terminal's width, else
each column as wide as its widest value. When the width is short, columns are
one space apart; then long addresses and NAT values are cut, marked with "~"
(an address inside its host part, keeping its port: [2001:db8:~34:5678]:443);
only when that cannot make room do Packets, Bytes, Rate, Mark, Zone, NAT,
Proto, TTL and State give way, in that order (those that fit again come back), and
last the addresses are cut further.

JSON output (-j): one object per line with family, proto, protonum, src, dst,
sport, dport, state, ttl (seconds; an offloaded flow has none, and offload
true instead), assured, unreplied, snat, dnat, mark, zone, id, start (Unix
seconds), reply{src,dst,sport,dport}, icmp{type,code,id}, gre{srckey,dstkey},
orig_bytes, orig_packets, reply_bytes, reply_packets, bytes_per_s and
packets_per_s (with --rates or -b rate; both directions) (fields a flow does
not have are left out). state is the protocol state alone (TCP, SCTP, DCCP); the
phase the State column shows is in unreplied, assured and offload (replied:
neither unreplied nor assured). --stats prints entries, max, fill (percent),
max_writable (whether the limit can be set from where the table was read:
false inside a network namespace, or without root or CAP_NET_ADMIN),
initial_netns (whether the table is the host's namespace's; both left out
when unknown, as for a saved dump), buckets, bytes_per_entry,
bytes_per_entry_estimated, bytes_per_entry_source, memory_bytes, source,
frozen (true for a saved dump), skipped, warnings (the full-table warning
first, from 90% full, then the source's), timeouts and the per-CPU
statistics summed over CPUs (found, invalid, ignore, insert, insert_failed,
drop, early_drop, error, search_restart, clash_resolve, chaintoolong; the
kernel keeps each in 32 bits per CPU, which wrap: the live screen's totals
go on growing across a wrap). What gostate could not read is left out, never
0: max and fill without a limit (a saved dump), buckets where /proc/sys is
hidden (containers), each counter the kernel did not report (over netlink,
Linux 6.18 sends no ignore; older kernels have no clash_resolve or
chaintoolong). Entries, max and the counters come over netlink, else from
/proc; buckets and the size of an entry only from /proc.
bytes_per_entry_source says which size is shown: "slabinfo object" (the
kernel's nf_conntrack object, from /proc/slabinfo, readable by root) or
"estimate" (that object's usual size, 256 B); an entry's extensions
(counters, timestamps, NAT) are allocated apart and not counted. Without
the privilege to read the rows, the health comes from the world-readable
/proc files, source "/proc (health only)".

Who fills the table? gostate -1 --group-by src counts the flows by source,
gostate -1 --state syn_recv --group-by src/24 finds a SYN flood's networks.
After the health line (and from 90% full the warning, with the top source
and its share of the whole table: IPv6 sources by /64), one row per group:
the key, Entries, Share (percent of the flows shown), "of max" (percent of
nf_conntrack_max, when known), Bytes and Packets with -C, a bar of the
share and the commonest states with their counts; then the count of groups
and flows. With -j, one object per group: group (the KEY), key, entries,
share, of_max (when the limit is known), states{name: count} and with -C
bytes and packets.

Event output (-E): one line per change, as it happens:
  [NEW]  2026-11-25T12:14:15.123Z  192.0.2.1:4000  192.0.2.9:53  udp  -  0:00:30
the kind (NEW, UPDATE, DESTROY, as conntrack -E prints them), when gostate
received it (RFC 3339 in local time with milliseconds: Z is UTC, elsewhere the
offset, +01:00), then Source, Destination, Proto, State and TTL as in the text
rows, Bytes and Packets on a DESTROY of a flow the kernel counted
(nf_conntrack_acct=1), NAT when the flow is NAT'd: fields two spaces apart
(awk -F'  '), "-" when empty. With -j: the --json object of the flow with
"event" (new, update, destroy) and "timestamp" (the same text) first. The
kernel announces flows created while someone listens
(net.netfilter.nf_conntrack_events=2, the default), none at all when it is 0
(gostate says so and exits). Events the kernel dropped because gostate fell
behind are reported on standard error ("events lost: N"), and the stream goes
on. SIGINT, SIGTERM or a closed pipe end it, with status 0.

Live screen keys (h or ? shows them there, with the current settings):
{{keys}}
Exit status: 0 success; 1 usage error; 2 the table cannot be read, -E or
--listen cannot start, or the output cannot be written (standard output
closed or full; a reader that goes away, as head does, is not an error: 0).
--check has the plugin statuses above instead.
`
