#!/usr/bin/env bash
# Installs the Debian packages the tests and benchmarks use, when they are
# missing: conntrack and iptstate (reference tools the tests compare against),
# nftables (rules that make a test namespace track its loopback traffic),
# iproute2 (ip netns), tmux (the end-to-end test of the live screen), gcc
# (cgo, which `go test -race` in make test needs), and time and bc for
# scripts/bench.sh.
set -euo pipefail
need=()
for pair in conntrack:conntrack iptstate:iptstate nft:nftables ip:iproute2 tmux:tmux gcc:gcc /usr/bin/time:time bc:bc; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair##*:}")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
	echo "deps: missing ${need[*]}; install them (Debian: apt-get install ${need[*]}) or the tests that need them skip" >&2
	exit 0
fi
echo "deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
