#!/usr/bin/env bash
# Whole-process benchmark of gostate beside conntrack -L and iptstate, on the
# same private network namespace of N synthetic entries, in one run; the
# grouped one-shot (-1 --group-by src) beside the flow view (-1 -b d).
#
#   N=200000 RUNS=5 LIVE_SECONDS=60 scripts/bench.sh
#
# The namespace is deleted on every exit path. The global nf_conntrack_max is
# only raised when RAISE_MAX=1 (make bench-1m), and then restored on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
export PATH=$PATH:/usr/sbin:/sbin

N=${N:-200000}
RUNS=${RUNS:-5}
LIVE_SECONDS=${LIVE_SECONDS:-60}
COLS_WIDTH=${COLS_WIDTH:-160}
GOSTATE=$PWD/bin/gostate
CTFILL=$PWD/bin/ctfill
NS=gostate-bench-$$
MAXFILE=/proc/sys/net/netfilter/nf_conntrack_max
OLD_MAX=$(cat $MAXFILE)
TMUX_SOCK=gostate-bench-$$
WORK=$(mktemp -d)

trap 'end_run bench' EXIT
trap 'exit 130' INT TERM HUP

needs bench conntrack iptstate tmux /usr/bin/time
[ -x "$GOSTATE" ] && [ -x "$CTFILL" ] || { echo "bench: run make build first" >&2; exit 2; }

make_room bench "$N" "$MAXFILE" "$OLD_MAX"

ip netns add "$NS"
ip -n "$NS" link set lo up
echo "== filling namespace $NS with $N entries" >&2
"$CTFILL" -n "$NS" -N "$N" -timeout 7200 >&2

inns=(ip netns exec "$NS")

# measure NAME CMD...: one run; appends "wall user sys maxrss_kib" to $WORK/NAME.
measure() {
	local name=$1; shift
	/usr/bin/time -o "$WORK/t" -f "%e %U %S %M" "$@" > /dev/null 2>"$WORK/err" || {
		echo "bench: $name failed:" >&2; cat "$WORK/err" >&2; exit 1; }
	cat "$WORK/t" >> "$WORK/$name"
}

echo "== $RUNS runs each, alternating" >&2
for _ in $(seq "$RUNS"); do
	measure conntrack "${inns[@]}" conntrack -L
	measure gostate-text "${inns[@]}" "$GOSTATE" -1 -b d
	measure gostate-json "${inns[@]}" "$GOSTATE" -1 -b d --json
	measure gostate-group "${inns[@]}" "$GOSTATE" -1 --group-by src
	measure iptstate "${inns[@]}" env COLS=$COLS_WIDTH iptstate -1 -b d
done

col() { awk -v c="$2" '{print $c}' "$WORK/$1" | median; }
cpu() { awk '{print $2+$3}' "$WORK/$1" | median; }

echo
echo "One-shot, $N entries, median of $RUNS runs (machine: $(nproc) cores, $(uname -r))"
printf '%-14s %8s %8s %10s\n' reader wall_s cpu_s peak_MiB
for r in conntrack gostate-text gostate-json gostate-group iptstate; do
	printf '%-14s %8s %8s %10.1f\n' "$r" "$(col $r 1)" "$(cpu $r)" "$(echo "$(col $r 4) / 1024" | bc -l)"
done
ratio() { echo "scale=2; $1 / $2" | bc -l; }
ct=$(col conntrack 1); gt=$(col gostate-text 1); gj=$(col gostate-json 1); gg=$(col gostate-group 1); ip=$(col iptstate 1)
echo "ratios: gostate-text/conntrack wall $(ratio "$gt" "$ct") (target <= 1.0);" \
	"gostate-json/conntrack wall $(ratio "$gj" "$ct") (target <= 1.5);" \
	"gostate-group/gostate-text wall $(ratio "$gg" "$gt") (--group-by src beside -b d);" \
	"iptstate/gostate-text wall $(ratio "$ip" "$gt") (target >= 5)"

[ "$LIVE_SECONDS" -gt 0 ] || exit 0

pane() { tmux -L "$TMUX_SOCK" capture-pane -p; }

# keylatency: median and worst milliseconds from pressing b (next ordering) to
# the new order's name on gostate's screen, over KEYS presses 1.3 s apart (so
# some land while a whole-table read is in flight). Each poll of the pane
# costs a few ms of tmux, which the figures include.
KEYS=${KEYS:-15}
keylatency() {
	local i before start end lat=()
	for i in $(seq "$KEYS"); do
		before=$(pane | grep -o 'Sort [a-z]*[▲▼]')
		start=$(date +%s%N)
		tmux -L "$TMUX_SOCK" send-keys b
		while [ "$(pane | grep -o 'Sort [a-z]*[▲▼]')" = "$before" ]; do :; done
		end=$(date +%s%N)
		lat+=($(((end - start) / 1000000)))
		sleep 1.3
	done
	printf '%s\n' "${lat[@]}" | sort -n | awk '{v[NR]=$1} END {printf "%d / %d", v[int((NR+1)/2)], v[NR]}'
}

# untilpane RE: waits until the pane shows RE, for at most 30 s.
untilpane() {
	local deadline=$(($(date +%s) + 30))
	until pane | grep -q "$1"; do
		[ "$(date +%s)" -lt "$deadline" ] || return 1
	done
}

# appearlatency: median and worst milliseconds from a new flow's insert
# (conntrack -I, from 127.0.0.2, which sorts before every filled entry) to
# its row on gostate's screen, back in the source order at its top, over 3
# flows 1.3 s apart. The screen follows the kernel's events: the row comes
# with the next settle of the table, within an interval (1 s).
appearlatency() {
	local i start end lat=()
	tmux -L "$TMUX_SOCK" send-keys o a
	untilpane 'Sort src' || { echo "no source order"; return; }
	for i in 1 2 3; do
		start=$(date +%s%N)
		ip netns exec "$NS" conntrack -I -p udp -s 127.0.0.2 -d 127.0.0.3 --sport $((4000 + i)) --dport 53 -t 120 2>/dev/null
		untilpane "127\.0\.0\.2:$((4000 + i)) " || { echo "not within 30 s"; return; }
		end=$(date +%s%N)
		lat+=($(((end - start) / 1000000)))
		sleep 1.3
	done
	printf '%s\n' "${lat[@]}" | sort -n | awk '{v[NR]=$1} END {printf "%d / %d", v[int((NR+1)/2)], v[NR]}'
}

# live NAME CMD...: CPU over LIVE_SECONDS of a screen left alone in a tmux
# pane of COLS_WIDTHx50 (sampled from /proc/PID/stat), its peak RSS, and for
# gostate the key latency and a new flow's latency measured after.
live() {
	local name=$1; shift
	tmux -L "$TMUX_SOCK" kill-server 2>/dev/null || true
	tmux -L "$TMUX_SOCK" new-session -d -x "$COLS_WIDTH" -y 50 "ip netns exec $NS $*"
	sleep 5
	local pid ticks0 ticks1 hz keys=- appear=-
	pid=$(tmux -L "$TMUX_SOCK" display -p '#{pane_pid}')
	hz=$(getconf CLK_TCK)
	ticks0=$(awk '{print $14+$15}' "/proc/$pid/stat")
	sleep "$LIVE_SECONDS"
	ticks1=$(awk '{print $14+$15}' "/proc/$pid/stat")
	if [ "$name" = gostate ]; then
		keys=$(keylatency)
		appear=$(appearlatency)
	fi
	local rss
	rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
	printf '%-14s %8.3f %10.1f %16s %18s\n' "$name" "$(echo "($ticks1 - $ticks0) / $hz / $LIVE_SECONDS" | bc -l)" "$(echo "$rss / 1024" | bc -l)" "$keys" "$appear"
	tmux -L "$TMUX_SOCK" kill-server 2>/dev/null || true
}
echo
echo "Live screen, $N entries, ${LIVE_SECONDS}s at a 1 s interval, ${COLS_WIDTH}x50"
printf '%-14s %8s %10s %16s %18s\n' screen cores peak_MiB "key_ms med/max" "new_flow_ms med/max"
live gostate "$GOSTATE"
live iptstate iptstate
