#!/usr/bin/env bash
# Opens gostate on a private network namespace filled with N synthetic entries
# (make demo), so a newcomer sees a busy table without touching the host's.
#
#   N=200000 scripts/demo.sh [gostate flags...]
#
# The namespace is deleted on every exit path: quitting gostate, Ctrl-C while
# filling, an error. The global nf_conntrack_max is never changed; N is capped
# below it instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/sbin:/sbin

N=${N:-200000}
GOSTATE=$PWD/bin/gostate
CTFILL=$PWD/bin/ctfill
NS=gostate-demo-$$

[ "$(id -u)" -eq 0 ] || { echo "demo: needs root (it creates a private network namespace); try: sudo make demo" >&2; exit 2; }
[ -x "$GOSTATE" ] && [ -x "$CTFILL" ] || { echo "demo: run make build first" >&2; exit 2; }
case $N in '' | *[!0-9]*) echo "demo: N=$N is not a number of entries" >&2; exit 2 ;; esac

# The table's limit is global but counted per namespace. Staying at 85% of it
# keeps the demo clear of gostate's "table nearly full" banner (90%).
max=$(cat /proc/sys/net/netfilter/nf_conntrack_max 2>/dev/null || echo 0)
if [ "$max" -gt 0 ] && [ "$N" -gt $((max * 85 / 100)) ]; then
	echo "demo: nf_conntrack_max is $max; filling $((max * 85 / 100)) entries instead of $N (raise it with sysctl -w net.netfilter.nf_conntrack_max=... for more)" >&2
	N=$((max * 85 / 100))
fi

cleanup() { ip netns del "$NS" 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

echo "demo: filling namespace $NS with $N entries" >&2
"$CTFILL" --create -n "$NS" -N "$N" -timeout 7200 >/dev/null
"$GOSTATE" --netns "$NS" "$@"
