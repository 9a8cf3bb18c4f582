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
                          Addresses sort numerically, IPv4 before IPv6. Flows
                          without the sorted field (ports, a state, a timeout,
                          counters) come last in both directions. Ties break
                          on the rest of the tuple: the same order every time.
  -r, --reverse           reverse the order
  -1, --single            print one view and exit
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
                          1,000; exact numbers in --json)
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
  -j, --json              print JSON Lines: one object per flow, in order
      --stats             print the table's health as one JSON object
      --source KIND       auto (netlink, falling back to /proc/net/nf_conntrack,
                          then /proc/net/ip_conntrack), netlink or proc
  -n, --netns NAME|PATH   read another network namespace's table: a name under
                          /var/run/netns or a path such as /proc/PID/ns/net
      --file PATH         read a saved dump instead of the kernel: the text of
                          /proc/net/nf_conntrack or of conntrack -L (- is
                          stdin), refused when 16 MiB pass without an entry or
                          past 16,777,216 entries (/dev/zero, an endless pipe)
      --read-only         live screen: never delete entries (x is refused)
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
insert_failed and early_drop counts since boot), the source read and the
sort; the column header; then one row per flow:
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
only when that cannot make room do Packets, Bytes, Mark, Zone, NAT, Proto,
TTL and State give way, in that order (those that fit again come back), and
last the addresses are cut further.

JSON output (-j): one object per line with family, proto, protonum, src, dst,
sport, dport, state, ttl, assured, unreplied, snat, dnat, mark, zone, id,
start, reply{src,dst,sport,dport}, icmp{type,code,id}, gre{srckey,dstkey},
orig_bytes, orig_packets, reply_bytes, reply_packets (fields a flow does not
have are left out). state is the protocol state alone (TCP, SCTP, DCCP); the
phase the State column shows is in unreplied, assured and offload (replied:
neither unreplied nor assured). --stats prints entries, max, fill (percent),
bytes_per_entry, bytes_per_entry_estimated, memory_bytes, source, skipped,
warnings, timeouts and the per-CPU statistics summed (found, invalid, ignore,
insert, insert_failed, drop, early_drop, error, search_restart, and
clash_resolve, chaintoolong where the kernel has them).

Live screen keys (h or ? shows them there, with the current settings):
{{keys}}
Exit status: 0 success; 1 usage error; 2 the table cannot be read (or the
output cannot be written).
`
