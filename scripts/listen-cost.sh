#!/usr/bin/env bash
# What listening to conntrack events costs: a private network namespace of N
# synthetic entries with CHURN real loopback TCP connections a second in it
# (ctfill --tcp-churn: each goes through the handshake and both FINs into
# TIME_WAIT, an UPDATE event at every state change), and PAIRS pairs of
# PHASE-second phases, one with gostate's live screen running on the
# namespace in a tmux pane (ip netns exec NS bin/gostate), one without.
#
#   N=200000 CHURN=1000 PHASE=60 PAIRS=3 [TW_TIMEOUT=30] [REAP=10]
#       [SETTLE=15] [WARMUP=30] scripts/listen-cost.sh
#
# The namespace's conntrack TIME_WAIT timeout (a per-namespace sysctl) is
# set to TW_TIMEOUT seconds and each connection's entry is deleted REAP
# seconds after it closed (ctfill -reap), so that CHURN entries leave a
# second, steadily, in both kinds of phase, and the table holds about
# N + CHURN x REAP. REAP=0 leaves them to expire; see below for why that
# makes the phases unlike.
#
# Each phase measures, from its first second to its last:
#   - the machine's CPU from /proc/stat, in cores: user (with nice), system,
#     softirq, busy (user, nice, system, irq and softirq) and steal (time
#     the hypervisor gave to others: a run with much of it is noisy);
#   - the churn generator's CPU (utime + stime of ctfill, /proc/PID/stat);
#   - gostate's user and system CPU, when it runs.
# It prints a row per phase, the median of each column with gostate and
# without, and the medians' differences (with minus without). The rest
# column is busy minus softirq, the churn and gostate: everything else on
# the machine (other processes, kernel threads); a run is worth reading when
# it is small and alike in both modes, and the script says NOISY when not. The pairs
# alternate their order (with first, then without first, ...) so that a
# drift of the machine over the run does not fall on one side.
#
# The cost of listening on the packet path is the rest of the kernel's extra
# work once gostate's own is taken out:
#
#   packet path = (system + softirq)_with - (system + softirq)_without
#                 - gostate's system time
#
# (medians), i.e. building and queueing the event messages and whatever else
# the flows' packets cost more while a listener is subscribed. The churn
# generator's difference is the same cost seen from the process whose
# system calls send the packets (on loopback their softirq work mostly runs
# in its context): it is part of the machine's figures, shown beside them,
# not added to them.
#
# The kernel fact behind it: with net.netfilter.nf_conntrack_events=2 (the
# default) the event extension is only allocated for flows created while a
# listener is subscribed, so without gostate the kernel builds no event
# message at all, and when gostate starts only the flows created from then
# on announce anything. So each phase starts SETTLE seconds after the switch
# (after gostate's first two whole reads, or after it has exited): with
# SETTLE above REAP, the flows that still have an entry are the phase's.
#
# With REAP=0 expired entries leave only when something passes over them:
# the kernel's garbage collector, up to a minute apart on a machine of
# long-lived entries, or a dump, and gostate's whole reads are dumps. The
# phases with gostate would then have their entries collected by gostate
# (in its system time) and those without by the collector, in bursts; give
# SETTLE above TW_TIMEOUT and PHASE of some minutes then. The table size is
# shown per phase.
#
# Exit status: 0 when every phase was measured, 1 when gostate died during
# one, 2 when the run could not be set up. The namespace, the tmux server
# and the churn are removed on every exit path. The global nf_conntrack_max
# is only read; when the table may come within 10 % of it the run refuses,
# unless RAISE_MAX=1, which raises it for the run and restores it on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/sbin:/sbin
. scripts/lib.sh

N=${N:-200000}
CHURN=${CHURN:-1000}
PHASE=${PHASE:-60}
PAIRS=${PAIRS:-3}
TW_TIMEOUT=${TW_TIMEOUT:-30}
REAP=${REAP:-10}
SETTLE=${SETTLE:-15}
WARMUP=${WARMUP:-30}
COLS_WIDTH=${COLS_WIDTH:-160}
GOSTATE=$PWD/bin/gostate
CTFILL=$PWD/bin/ctfill
NS=gostate-cost-$$
TMUX_SOCK=gostate-cost-$$
MAXFILE=/proc/sys/net/netfilter/nf_conntrack_max
WORK=$(mktemp -d)
CHURN_PID=
OLD_MAX=

trap 'end_run listen-cost' EXIT
trap 'exit 130' INT TERM HUP

die() { echo "listen-cost: $*" >&2; exit 2; }
whole_numbers listen-cost N CHURN PHASE PAIRS TW_TIMEOUT REAP SETTLE WARMUP COLS_WIDTH
[ "$N" -ge 1 ] && [ "$CHURN" -ge 1 ] && [ "$PHASE" -ge 1 ] && [ "$PAIRS" -ge 1 ] ||
	die "N, CHURN, PHASE and PAIRS must be at least 1"
needs listen-cost tmux ip
[ -x "$GOSTATE" ] && [ -x "$CTFILL" ] || die "run make build first"
[ -r $MAXFILE ] || die "no $MAXFILE: modprobe nf_conntrack"

# The churn's entries stay CHURN a second until reaped (and a second's
# slack), or without REAP for their TIME_WAIT and up to a minute more until
# the garbage collector passes.
PEAK=$((N + CHURN * (REAP + 1)))
[ "$REAP" -gt 0 ] || PEAK=$((N + CHURN * (TW_TIMEOUT + 60)))
OLD_MAX=$(cat $MAXFILE)
make_room listen-cost "$PEAK" $MAXFILE "$OLD_MAX"

# The synthetic entries are never deleted: they outlive the run and its
# margin (TTLs are between TTL/2 and TTL).
RUN_SECONDS=$((WARMUP + PAIRS * 2 * (PHASE + SETTLE + 120)))
TTL=$(((RUN_SECONDS + 900) * 2))

ip netns add "$NS"
ip -n "$NS" link set lo up
echo "== filling namespace $NS with $N entries" >&2
"$CTFILL" -n "$NS" -N "$N" -timeout "$TTL" >&2
echo "== churning with $CHURN real TCP connections a second (conntrack TIME_WAIT ${TW_TIMEOUT}s in $NS, reaped after ${REAP}s)" >&2
"$CTFILL" -n "$NS" --tcp-churn "$CHURN" -tw-timeout "$TW_TIMEOUT" -reap "$REAP" \
	-duration "$((RUN_SECONDS + 900))s" 2> "$WORK/churn.log" &
CHURN_PID=$!
for _ in $(seq 600); do
	grep -q '^ctfill: churning' "$WORK/churn.log" && break
	kill -0 "$CHURN_PID" 2>/dev/null || { cat "$WORK/churn.log" >&2; die "the churn did not start"; }
	sleep 0.1
done
grep -q '^ctfill: churning' "$WORK/churn.log" || { cat "$WORK/churn.log" >&2; die "the churn did not start within 60 s"; }
echo "== warming up for ${WARMUP}s (the churn's entries reach their steady number)" >&2
sleep "$WARMUP"
kill -0 "$CHURN_PID" 2>/dev/null || { cat "$WORK/churn.log" >&2; die "the churn ended during the warm-up"; }

HZ=$(getconf CLK_TCK)
pane() { tmux -L "$TMUX_SOCK" capture-pane -p; }
table() { ip netns exec "$NS" cat /proc/sys/net/netfilter/nf_conntrack_count; }
# cpu: "user system softirq busy steal" of /proc/stat's first line, in
# ticks; busy is user, nice, system, irq and softirq: steal is time the
# hypervisor gave elsewhere, not work of this machine.
cpu() { awk '/^cpu / {print $2 + $3, $4, $8, $2 + $3 + $4 + $7 + $8, $9; exit}' /proc/stat; }
# ticks PID: "utime stime" of a process, or "0 0" when PID is empty.
ticks() {
	if [ -z "$1" ]; then echo 0 0; return; fi
	sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12, $13}'
}

GPID=
start_gostate() {
	tmux -L "$TMUX_SOCK" new-session -d -x "$COLS_WIDTH" -y 50 "ip netns exec $NS $GOSTATE"
	GPID=$(tmux -L "$TMUX_SOCK" display -p '#{pane_pid}')
	# ip netns exec execs gostate, so the pane's process is gostate itself.
	for _ in $(seq 50); do
		[ "$(cat "/proc/$GPID/comm" 2>/dev/null)" = gostate ] && break
		sleep 0.1
	done
	[ "$(cat "/proc/$GPID/comm" 2>/dev/null)" = gostate ] || { pane >&2; die "the pane's process $GPID is not gostate"; }
	# The header shows the rates after two whole-table reads.
	for _ in $(seq 1200); do
		pane | grep -E 'new [0-9.]+/s +gone [0-9.]+/s' >/dev/null && return 0
		kill -0 "$GPID" 2>/dev/null || die "gostate exited before showing the rates"
		sleep 0.1
	done
	pane >&2
	die "the header showed no new/gone rates within 120 s"
}
stop_gostate() {
	tmux -L "$TMUX_SOCK" kill-server 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$GPID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$GPID" 2>/dev/null; then die "gostate (pid $GPID) did not exit"; fi
	GPID=
}

# phase PAIR MODE: SETTLE seconds after the switch, PHASE seconds measured;
# appends "pair mode seconds user system softirq busy steal churn g_user
# g_sys table lost" (CPU in ticks) to the samples.
phase() {
	local pair=$1 mode=$2 t0 t1 c0 c1 ch0 ch1 g0 g1 shot lost=-
	if [ "$mode" = with ]; then start_gostate; else [ -z "$GPID" ] || stop_gostate; fi
	sleep "$SETTLE"
	t0=$(date +%s.%N) c0=$(cpu) ch0=$(ticks "$CHURN_PID") g0=$(ticks "$GPID")
	sleep "$PHASE"
	t1=$(date +%s.%N) c1=$(cpu) ch1=$(ticks "$CHURN_PID") g1=$(ticks "$GPID")
	kill -0 "$CHURN_PID" 2>/dev/null || { cat "$WORK/churn.log" >&2; die "the churn ended during a phase"; }
	if [ "$mode" = with ]; then
		if ! kill -0 "$GPID" 2>/dev/null; then
			echo "listen-cost: gostate (pid $GPID) died during pair $pair; the pane shows:" >&2
			pane >&2
			exit 1
		fi
		# The times its event listener overran, from the header.
		shot=$(pane)
		lost=$(echo "$shot" | awk 'match($0, /events lost [0-9]+/) {split(substr($0, RSTART, RLENGTH), w, " "); print w[3]; found = 1; exit} END {if (!found) print 0}')
		case $shot in *"  events"*) ;; *) echo "listen-cost: gostate's header does not say it follows events (pair $pair)" >&2 ;; esac
		stop_gostate
	fi
	echo "$pair $mode $t0 $t1 $c0 $c1 $ch0 $ch1 $g0 $g1 $(table) $lost" |
		awk '{printf "%s %s %.3f %d %d %d %d %d %d %d %d %s %s\n", $1, $2, $4 - $3,
			$10 - $5, $11 - $6, $12 - $7, $13 - $8, $14 - $9, ($17 + $18) - ($15 + $16), $21 - $19, $22 - $20, $23, $24}' >> "$WORK/phases"
	awk -v hz="$HZ" 'END {printf "listen-cost: pair %d %-7s busy %.3f core (churn %.3f, gostate %.3f); table %d\n",
		$1, $2, $7 / hz / $3, $9 / hz / $3, ($10 + $11) / hz / $3, $12}' "$WORK/phases" >&2
}

echo "== $PAIRS pairs of ${PHASE}s phases, each ${SETTLE}s after its switch" >&2
for p in $(seq "$PAIRS"); do
	if [ $((p % 2)) -eq 1 ]; then phase "$p" with; phase "$p" without; else phase "$p" without; phase "$p" with; fi
done

kill -INT "$CHURN_PID" 2>/dev/null || true
wait "$CHURN_PID" 2>/dev/null || true
CHURN_PID=

echo
echo "Listening cost, $N synthetic entries + $CHURN real TCP connections a second (conntrack TIME_WAIT ${TW_TIMEOUT}s, reaped after ${REAP}s), $PAIRS pairs of ${PHASE}s phases ${SETTLE}s after each switch (machine: $(nproc) cores, $(uname -r), nf_conntrack_events=$(ip netns exec "$NS" cat /proc/sys/net/netfilter/nf_conntrack_events 2>/dev/null || echo '?'))"
echo "churn: $(grep '^ctfill: churned' "$WORK/churn.log" | sed 's/^ctfill: //')"
echo "CPU in cores (ticks / $HZ / seconds); busy is user, nice, system, irq and softirq; rest is busy minus softirq, churn and gostate; lost is the header's \"events lost N×\""
echo
awk -v hz="$HZ" '
	function c(x, s) { return x / hz / s }
	{
		s = $3
		printf "%4d %-7s %6.1f %7.3f %7.3f %7.3f %7.3f %7.3f %7.3f %7.3f %7.3f %7.3f %7.3f %8d %4s\n",
			$1, $2, s, c($4, s), c($5, s), c($6, s), c($7, s), c($8, s), c($9, s), c($10, s), c($11, s),
			c($10 + $11, s), c($7 - $6 - $9 - $10 - $11, s), $12, $13
	}
	BEGIN {printf "%4s %-7s %6s %7s %7s %7s %7s %7s %7s %7s %7s %7s %7s %8s %4s\n", "pair", "gostate", "secs", "user", "system", "softirq", "busy", "steal", "churn", "g_user", "g_sys", "g_cpu", "rest", "table", "lost"}
' "$WORK/phases"
echo

# Per column, the median over the phases of each mode, in cores.
# col_median MODE FIELD [FIELD2]: the median over MODE's phases of FIELD
# (plus FIELD2) in cores; FIELD "rest" is busy minus softirq, the churn and
# gostate.
col_median() {
	awk -v m="$1" -v f="$2" -v g="${3:-0}" -v hz="$HZ" '$2 == m {
		v = f == "rest" ? $7 - $6 - $9 - $10 - $11 : $f + (g ? $g : 0)
		print v / hz / $3
	}' "$WORK/phases" | median
}
names=(user system softirq busy steal churn g_user g_sys g_cpu rest)
fields=("4" "5" "6" "7" "8" "9" "10" "11" "10 11" "rest")
declare -A with without
for i in "${!names[@]}"; do
	# Unquoted: the fields are one or two numbers, one argument each.
	with[${names[$i]}]=$(col_median with ${fields[$i]})
	without[${names[$i]}]=$(col_median without ${fields[$i]})
done
sys_si_with=$(awk '$2 == "with" {print ($5 + $6) / '"$HZ"' / $3}' "$WORK/phases" | median)
sys_si_without=$(awk '$2 == "without" {print ($5 + $6) / '"$HZ"' / $3}' "$WORK/phases" | median)

printf "%-22s %7s %7s %7s %7s %7s %7s %7s %7s %7s %7s\n" "median (cores)" "${names[@]}"
printf "%-22s" "with gostate"
for n in "${names[@]}"; do printf " %7.3f" "${with[$n]}"; done
echo
printf "%-22s" "without"
for n in "${names[@]}"; do printf " %7.3f" "${without[$n]}"; done
echo
printf "%-22s" "difference"
for n in "${names[@]}"; do awk -v a="${with[$n]}" -v b="${without[$n]}" 'BEGIN {printf " %+7.3f", a - b}'; done
echo
echo
awk -v sw="$sys_si_with" -v so="$sys_si_without" -v gs="${with[g_sys]}" -v gc="${with[g_cpu]}" \
	-v cw="${with[churn]}" -v co="${without[churn]}" -v bw="${with[busy]}" -v bo="${without[busy]}" 'BEGIN {
	printf "system+softirq: %.3f with, %.3f without: %+.3f core\n", sw, so, sw - so
	printf "packet path (system+softirq difference - gostate system %.3f): %+.3f core\n", gs, sw - so - gs
	printf "churn generator: %.3f with, %.3f without: %+.3f core (part of the figures above, not added)\n", cw, co, cw - co
	printf "whole machine busy: %+.3f core, of which gostate itself %.3f\n", bw - bo, gc
}'
# Other work on the machine falls into the machine's figures, not the
# churn's or gostate's: when the rest moved between the modes by more than
# a tenth of gostate's own CPU (and 0.01 core), the machine-wide difference
# is noise of that size.
awk -v rw="${with[rest]}" -v ro="${without[rest]}" -v gc="${with[g_cpu]}" 'BEGIN {
	d = rw - ro; if (d < 0) d = -d
	if (d > 0.01 && d > gc / 10)
		printf "NOISY: the rest of the machine moved by %+.3f core between the modes; the machine-wide figures above carry that much noise (run it on a quiet machine; the churn generator'"'"'s difference is less exposed)\n", rw - ro
}'
