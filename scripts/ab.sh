#!/usr/bin/env bash
# A/B comparison of two gostate builds on the same private network namespace
# of N synthetic entries, in one run, alternating old and new so that a
# machine that gets slower or faster during the run affects both alike:
#
#   OLD=a688ab3 [NEW=HEAD] N=200000 PAIRS=5 LIVE_SECONDS=30 scripts/ab.sh
#
# OLD and NEW are git revisions (built here from a clean export) or paths to
# built binaries. For each pair it measures, for both builds in turn (the
# order swaps every pair): the one-shot wall time of `gostate -1 -b d`
# (median of ONESHOT runs), the live screen's CPU over LIVE_SECONDS and its
# peak RSS in a tmux pane, and the key-press latency (b to the new order's
# name on screen, median of KEYS presses). It prints every pair, then for
# each figure the median of the pairwise new/old ratios and their range.
#
# The namespace is deleted on every exit path; RAISE_MAX=1 raises the global
# nf_conntrack_max for N above 90 % of it, and restores it on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
export PATH=$PATH:/usr/sbin:/sbin:/usr/local/go/bin

OLD=${OLD:?set OLD to a git revision or a gostate binary}
NEW=${NEW:-HEAD}
N=${N:-200000}
PAIRS=${PAIRS:-5}
ONESHOT=${ONESHOT:-3}
LIVE_SECONDS=${LIVE_SECONDS:-30}
KEYS=${KEYS:-9}
COLS_WIDTH=${COLS_WIDTH:-160}
NS=gostate-ab-$$
TMUX_SOCK=gostate-ab-$$
MAXFILE=/proc/sys/net/netfilter/nf_conntrack_max
OLD_MAX=$(cat $MAXFILE)
WORK=$(mktemp -d)

trap 'end_run ab' EXIT
trap 'exit 130' INT TERM HUP

needs ab tmux /usr/bin/time bc

# binary REV NAME: a path to a gostate binary for a revision or a path.
binary() {
	if [ -x "$1" ] && [ -f "$1" ]; then
		echo "$1"
		return
	fi
	local dir=$WORK/src-$2
	mkdir -p "$dir"
	git archive "$1" | tar -x -C "$dir"
	(cd "$dir" && go build -o "$WORK/gostate-$2" ./cmd/gostate) >&2
	echo "$WORK/gostate-$2"
}
echo "== building $OLD and $NEW" >&2
BIN_OLD=$(binary "$OLD" old)
BIN_NEW=$(binary "$NEW" new)
go build -o "$WORK/ctfill" ./cmd/ctfill

make_room ab "$N" "$MAXFILE" "$OLD_MAX"
ip netns add "$NS"
ip -n "$NS" link set lo up
echo "== filling namespace $NS with $N entries" >&2
"$WORK/ctfill" -n "$NS" -N "$N" -timeout 7200 >&2


# oneshot BIN: median wall seconds of ONESHOT runs of -1 -b d.
oneshot() {
	local i
	for i in $(seq "$ONESHOT"); do
		/usr/bin/time -o "$WORK/t" -f "%e" ip netns exec "$NS" "$1" -1 -b d > /dev/null
		cat "$WORK/t"
	done | median
}

pane() { tmux -L "$TMUX_SOCK" capture-pane -p; }

# live BIN: "cores peak_MiB key_ms" of the screen left alone for
# LIVE_SECONDS, then KEYS presses of b 1.3 s apart.
live() {
	tmux -L "$TMUX_SOCK" kill-server 2>/dev/null || true
	tmux -L "$TMUX_SOCK" new-session -d -x "$COLS_WIDTH" -y 50 "ip netns exec $NS $1"
	local pid hz ticks0 ticks1 i before start end
	for i in $(seq 300); do
		pane | grep -q 'Sort [a-z]*[▲▼]' && break
		sleep 0.1
	done
	pane | grep -q 'Sort [a-z]*[▲▼]' || { echo "ab: $1 showed no screen:" >&2; pane >&2; exit 1; }
	sleep 5
	pid=$(tmux -L "$TMUX_SOCK" display -p '#{pane_pid}')
	hz=$(getconf CLK_TCK)
	ticks0=$(awk '{print $14+$15}' "/proc/$pid/stat")
	sleep "$LIVE_SECONDS"
	ticks1=$(awk '{print $14+$15}' "/proc/$pid/stat")
	local lat=()
	for i in $(seq "$KEYS"); do
		before=$(pane | grep -o 'Sort [a-z]*[▲▼]')
		start=$(date +%s%N)
		tmux -L "$TMUX_SOCK" send-keys b
		while [ "$(pane | grep -o 'Sort [a-z]*[▲▼]')" = "$before" ]; do :; done
		end=$(date +%s%N)
		lat+=($(((end - start) / 1000000)))
		sleep 1.3
	done
	local rss
	rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
	tmux -L "$TMUX_SOCK" kill-server 2>/dev/null || true
	printf '%.3f %.1f %s\n' "$(echo "($ticks1 - $ticks0) / $hz / $LIVE_SECONDS" | bc -l)" \
		"$(echo "$rss / 1024" | bc -l)" "$(printf '%s\n' "${lat[@]}" | median)"
}

# run BIN NAME: appends "oneshot cores peak key" to $WORK/NAME.
run() {
	echo "$(oneshot "$1") $(live "$1")" >> "$WORK/$2"
}

echo "== $PAIRS pairs, alternating" >&2
for p in $(seq "$PAIRS"); do
	if [ $((p % 2)) -eq 1 ]; then
		run "$BIN_OLD" old; run "$BIN_NEW" new
	else
		run "$BIN_NEW" new; run "$BIN_OLD" old
	fi
	echo "pair $p: old $(tail -1 "$WORK/old")  new $(tail -1 "$WORK/new")" >&2
done

echo
echo "A/B, $N entries, $PAIRS pairs (machine: $(nproc) cores, $(uname -r)); old=$OLD new=$NEW"
printf '%-4s %28s %28s\n' pair "old: wall_s cores MiB key_ms" "new: wall_s cores MiB key_ms"
paste -d' ' "$WORK/old" "$WORK/new" | awk '{printf "%-4d %7s %6s %6s %6s      %7s %6s %6s %6s\n", NR, $1, $2, $3, $4, $5, $6, $7, $8}'
echo
printf '%-16s %8s %16s\n' figure "new/old" "range of pairs"
names=(one-shot_wall live_cores live_peak_RSS key_press)
for c in 1 2 3 4; do
	paste -d' ' "$WORK/old" "$WORK/new" | awk -v c="$c" '{o=$c; n=$(c+4); if (o > 0) print n/o}' > "$WORK/ratios"
	printf '%-16s %8.3f %7.3f-%-8.3f\n' "${names[$((c - 1))]}" "$(median < "$WORK/ratios")" \
		"$(sort -n "$WORK/ratios" | head -1)" "$(sort -n "$WORK/ratios" | tail -1)"
done
