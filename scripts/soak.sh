#!/usr/bin/env bash
# Soak test of gostate's live screen: a private network namespace of N
# synthetic entries, CHURN of them replaced every second (ctfill --churn:
# CHURN new and CHURN gone a second at a steady table size), and bin/gostate
# left alone on it in a tmux pane for MINUTES.
#
#   N=100000 CHURN=2000 MINUTES=10 [SAMPLE=10] [WARMUP=30] scripts/soak.sh
#   TRAFFIC=tcp N=200000 CHURN=1000 [TW_TIMEOUT=30] [REAP=10] MINUTES=10 scripts/soak.sh
#
# TRAFFIC=tcp churns with real TCP instead (ctfill --tcp-churn CHURN): the N
# synthetic entries stay, and CHURN loopback connections a second inside the
# namespace each go through the handshake and both FINs into TIME_WAIT, so
# that gostate gets the kernel's own NEW, UPDATE and DESTROY events. The
# namespace's conntrack TIME_WAIT timeout (a per-namespace sysctl) is set to
# TW_TIMEOUT seconds (default 30), and each connection's entry is deleted
# REAP seconds after it closed (default 10; ctfill -reap), so that CHURN
# entries leave a second, steadily, and the table holds about N + CHURN x
# REAP. REAP=0 leaves them to expire: they then leave when the kernel's
# garbage collector or gostate's whole reads pass over them, in bursts up to
# a minute apart, and the table holds up to N + CHURN x (TW_TIMEOUT + 60).
#
# Every SAMPLE seconds it reads gostate's VmRSS and thread count from
# /proc/PID/status, its CPU (utime + stime) from /proc/PID/stat, the header's
# "new N/s  gone N/s" and "events lost N×" (the times its event listener
# overran, 0 when the header shows none) as the pane shows them, and the
# namespace's table size.
# Goroutines are not visible from outside the process, and gostate has no
# debug hook to count them; the thread count stands in for them (a goroutine
# leak that blocks in system calls shows as threads, one that does not shows
# as memory). Sampling starts WARMUP seconds after the header first shows the
# rates, i.e. after two whole-table reads.
#
# It prints the start and end samples, the peak RSS (VmHWM) since gostate
# started, a table per minute (RSS and threads at the end of the minute, CPU
# over the minute, the mean of the header's rates, the table size) and, for
# RSS, threads and CPU per minute, whether they stayed flat: the largest
# minute within 10 % of the smallest.
#
# Exit status: 0 when all three stayed flat, 1 when one did not or gostate
# died, 2 when the soak could not be set up.
#
# The namespace is deleted on every exit path. The global nf_conntrack_max is
# only read; when N is above 90 % of it the soak refuses, unless RAISE_MAX=1,
# which raises it for the run and restores it on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
export PATH=$PATH:/usr/sbin:/sbin

N=${N:-100000}
CHURN=${CHURN:-2000}
TRAFFIC=${TRAFFIC:-synthetic}
TW_TIMEOUT=${TW_TIMEOUT:-30}
REAP=${REAP:-10}
MINUTES=${MINUTES:-10}
SAMPLE=${SAMPLE:-10}
WARMUP=${WARMUP:-30}
COLS_WIDTH=${COLS_WIDTH:-160}
GOSTATE=$PWD/bin/gostate
CTFILL=$PWD/bin/ctfill
NS=gostate-soak-$$
TMUX_SOCK=gostate-soak-$$
MAXFILE=/proc/sys/net/netfilter/nf_conntrack_max
WORK=$(mktemp -d)
CHURN_PID=
OLD_MAX=

trap 'end_run soak' EXIT
trap 'exit 130' INT TERM HUP

die() { echo "soak: $*" >&2; exit 2; }
case $TRAFFIC in synthetic | tcp) ;; *) die "TRAFFIC=$TRAFFIC: want synthetic or tcp" ;; esac
whole_numbers soak N CHURN MINUTES SAMPLE WARMUP COLS_WIDTH TW_TIMEOUT REAP
[ "$N" -ge 1 ] && [ "$CHURN" -ge 1 ] && [ "$MINUTES" -ge 1 ] || die "N, CHURN and MINUTES must be at least 1"
[ "$SAMPLE" -ge 1 ] && [ $((60 % SAMPLE)) -eq 0 ] || die "SAMPLE=$SAMPLE must divide a minute (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60)"
needs soak tmux bc ip
[ -x "$GOSTATE" ] && [ -x "$CTFILL" ] || die "run make build first"
[ -r $MAXFILE ] || die "no $MAXFILE: modprobe nf_conntrack"

# The churn keeps N entries, and within a step up to 256 more; the TCP
# churn adds its own, CHURN a second until reaped (and a second's slack),
# or without REAP for their TIME_WAIT and up to a minute more until the
# garbage collector passes.
PEAK=$((N + 256))
if [ "$TRAFFIC" = tcp ]; then
	if [ "$REAP" -gt 0 ]; then PEAK=$((N + CHURN * (REAP + 1))); else PEAK=$((N + CHURN * (TW_TIMEOUT + 60))); fi
fi
OLD_MAX=$(cat $MAXFILE)
make_room soak "$PEAK" $MAXFILE "$OLD_MAX"

# Entries must outlive their turn: an entry stays N/CHURN seconds before the
# churn deletes it, and the fill's wait for the setup too. TTLs are between
# TTL/2 and TTL, so nothing expires during the soak and every entry that goes
# is one the churn deleted.
# With TRAFFIC=tcp no synthetic entry is deleted: they must outlive the
# whole soak and its margin instead.
SOAK_SECONDS=$((MINUTES * 60))
TTL=$(((N / CHURN + 600) * 2))
[ "$TRAFFIC" = synthetic ] || TTL=$(((SOAK_SECONDS + WARMUP + 1500) * 2))
[ "$TTL" -ge 7200 ] || TTL=7200

ip netns add "$NS"
ip -n "$NS" link set lo up
echo "== filling namespace $NS with $N entries" >&2
"$CTFILL" -n "$NS" -N "$N" -timeout "$TTL" >&2

# The churn outlives the soak by a margin (it is stopped at the end, and by
# end_run on any other exit), so that a killed script leaves no churn behind
# for long.
if [ "$TRAFFIC" = synthetic ]; then
	echo "== churning $CHURN new and $CHURN gone a second" >&2
	"$CTFILL" -n "$NS" -N "$N" --churn "$CHURN" -timeout "$TTL" \
		-duration "$((SOAK_SECONDS + WARMUP + 900))s" 2> "$WORK/churn.log" &
else
	echo "== churning with $CHURN real TCP connections a second (conntrack TIME_WAIT ${TW_TIMEOUT}s in $NS, reaped after ${REAP}s)" >&2
	"$CTFILL" -n "$NS" --tcp-churn "$CHURN" -tw-timeout "$TW_TIMEOUT" -reap "$REAP" \
		-duration "$((SOAK_SECONDS + WARMUP + 900))s" 2> "$WORK/churn.log" &
fi
CHURN_PID=$!
for _ in $(seq 600); do
	grep -q '^ctfill: churning' "$WORK/churn.log" && break
	kill -0 "$CHURN_PID" 2>/dev/null || { cat "$WORK/churn.log" >&2; die "the churn did not start"; }
	sleep 0.1
done
grep -q '^ctfill: churning' "$WORK/churn.log" || { cat "$WORK/churn.log" >&2; die "the churn did not start within 60 s"; }

pane() { tmux -L "$TMUX_SOCK" capture-pane -p; }
# rates: the header's "NEW GONE" per second, or "- -" before it shows them.
rates() {
	pane | grep -oE 'new [0-9.]+/s +gone [0-9.]+/s' | head -1 |
		awk '{sub("/s", "", $2); sub("/s", "", $4); print $2, $4; found = 1} END {if (!found) print "- -"}'
}

echo "== gostate in a ${COLS_WIDTH}x50 tmux pane" >&2
tmux -L "$TMUX_SOCK" new-session -d -x "$COLS_WIDTH" -y 50 "ip netns exec $NS $GOSTATE"
PID=$(tmux -L "$TMUX_SOCK" display -p '#{pane_pid}')
# ip netns exec execs gostate, so the pane's process is gostate itself.
for _ in $(seq 50); do
	[ "$(cat "/proc/$PID/comm" 2>/dev/null)" = gostate ] && break
	sleep 0.1
done
[ "$(cat "/proc/$PID/comm" 2>/dev/null)" = gostate ] || { pane >&2; die "the pane's process $PID is not gostate"; }
for _ in $(seq 1200); do
	[ "$(rates)" != "- -" ] && break
	kill -0 "$PID" 2>/dev/null || die "gostate exited before showing the rates"
	sleep 0.1
done
[ "$(rates)" != "- -" ] || { pane >&2; die "the header showed no new/gone rates within 120 s"; }
echo "== the header shows the rates; sampling after ${WARMUP}s, every ${SAMPLE}s for $MINUTES min" >&2
sleep "$WARMUP"

HZ=$(getconf CLK_TCK)
# lost: the header's "events lost N×", 0 when it shows none.
lost() { pane | grep -oE 'events lost [0-9]+' | head -1 | awk '{print $3; found = 1} END {if (!found) print 0}'; }
# sample: "seconds rss_kib threads ticks new gone table lost" of now.
sample() {
	local now rss threads ticks table
	[ -r "/proc/$PID/status" ] || return 1
	now=$(date +%s.%N)
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$PID/status")
	threads=$(awk '/^Threads:/ {print $2}' "/proc/$PID/status")
	# Fields after "pid (comm) ": utime and stime are the 12th and 13th.
	ticks=$(sed 's/^.*) //' "/proc/$PID/stat" | awk '{print $12 + $13}')
	table=$(ip netns exec "$NS" cat /proc/sys/net/netfilter/nf_conntrack_count)
	[ -n "$rss" ] && [ -n "$threads" ] && [ -n "$ticks" ] || return 1
	echo "$now $rss $threads $ticks $(rates) $table $(lost)"
}

STEPS=$((SOAK_SECONDS / SAMPLE))
START=$(date +%s)
for i in $(seq 0 "$STEPS"); do
	# Against the clock from the start, so that slow samples do not drift.
	wait_s=$((START + i * SAMPLE - $(date +%s)))
	[ "$wait_s" -le 0 ] || sleep "$wait_s"
	if ! kill -0 "$PID" 2>/dev/null || ! s=$(sample 2>/dev/null); then
		echo "soak: gostate (pid $PID) died after $((i * SAMPLE)) s; the pane shows:" >&2
		pane >&2
		exit 1
	fi
	echo "$s" >> "$WORK/samples"
	if [ $((i * SAMPLE % 60)) -eq 0 ]; then
		echo "$s" | awk -v t=$((i * SAMPLE)) '{printf "soak: %4d s  RSS %.1f MiB  threads %d  new %s/s  gone %s/s  table %d\n", t, $2 / 1024, $3, $5, $6, $7}' >&2
	fi
done

PEAK_KIB=$(awk '/^VmHWM:/ {print $2}' "/proc/$PID/status")
kill -INT "$CHURN_PID" 2>/dev/null || true
wait "$CHURN_PID" 2>/dev/null || true
CHURN_PID=

echo
if [ "$TRAFFIC" = synthetic ]; then
	WHAT="$N entries, $CHURN new + $CHURN gone a second"
else
	WHAT="$N synthetic entries + $CHURN real TCP connections a second (conntrack TIME_WAIT ${TW_TIMEOUT}s, reaped after ${REAP}s)"
fi
echo "Soak, $WHAT, $MINUTES min (sampled every ${SAMPLE}s after a ${WARMUP}s warm-up; machine: $(nproc) cores, $(uname -r))"
echo "churn: $(grep '^ctfill: churned' "$WORK/churn.log" | sed 's/^ctfill: //')"
awk -v hz="$HZ" '
	NR == 1 {t0 = $1; c0 = $4}
	{last = $0; t = $1; c = $4}
	function show(name, line, rel,    f) {
		split(line, f, " ")
		printf "%-6s t=%4d s  RSS %6.1f MiB  threads %3d  CPU used %8.2f s  header new %s/s gone %s/s  table %d  events lost %d×\n",
			name, int(rel + 0.5), f[2] / 1024, f[3], f[4] / hz, f[5], f[6], f[7], f[8]
	}
	NR == 1 {first = $0}
	END {
		show("start", first, 0)
		show("end", last, t - t0)
		printf "CPU over the soak: %.3f core (%.2f s in %.0f s)\n", (c - c0) / hz / (t - t0), (c - c0) / hz, t - t0
		printf "peak RSS since the start (VmHWM, warm-up included): %.1f MiB\n", peak / 1024
	}' peak="$PEAK_KIB" "$WORK/samples"
echo "goroutines: not visible from outside the process (gostate has no debug hook); threads stand in for them"
echo

# Per minute: samples k*m .. k*(m+1) with k samples a minute.
awk -v hz="$HZ" -v k=$((60 / SAMPLE)) '
	{t[NR - 1] = $1; rss[NR - 1] = $2; thr[NR - 1] = $3; tick[NR - 1] = $4; nw[NR - 1] = $5; gn[NR - 1] = $6; tab[NR - 1] = $7; n = NR}
	function spread(name, unit, fmt, a, m,    i, lo, hi, pct) {
		lo = hi = a[1]
		for (i = 2; i <= m; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
		pct = lo > 0 ? (hi - lo) / lo * 100 : (hi > 0 ? 1e9 : 0)
		printf "%-20s min " fmt " max " fmt "%s, spread %5.1f %%: %s\n", name, lo, hi, unit, pct, pct <= 10 ? "flat" : "NOT flat"
		return pct <= 10
	}
	END {
		printf "%-6s %9s %8s %10s %9s %9s %9s\n", "minute", "RSS_MiB", "threads", "CPU_cores", "new/s", "gone/s", "table"
		m = 0
		for (s = 0; s + k < n; s += k) {
			e = s + k; m++
			sn = sg = cnt = 0
			for (i = s + 1; i <= e; i++) if (nw[i] != "-") { sn += nw[i]; sg += gn[i]; cnt++ }
			mr[m] = rss[e] / 1024; mt[m] = thr[e]; mc[m] = (tick[e] - tick[s]) / hz / (t[e] - t[s])
			printf "%-6d %9.1f %8d %10.3f %9s %9s %9d\n", m, mr[m], mt[m], mc[m],
				cnt ? sprintf("%.0f", sn / cnt) : "-", cnt ? sprintf("%.0f", sg / cnt) : "-", tab[e]
		}
		print ""
		ok = spread("RSS per minute", " MiB", "%.1f", mr, m)
		ok = spread("threads per minute", "", "%d", mt, m) && ok
		ok = spread("CPU per minute", " core", "%.3f", mc, m) && ok
		print ok ? "verdict: RSS, threads and CPU per minute stayed flat within 10 %" : "verdict: NOT flat within 10 % (see above)"
		exit ok ? 0 : 1
	}' "$WORK/samples"
