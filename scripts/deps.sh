#!/usr/bin/env bash
# Installs the Debian packages the tests and benchmarks use, when they are
# missing: conntrack and iptstate (reference tools the tests compare against),
# nftables (rules that make a test namespace track its loopback traffic),
# iproute2 (ip netns), tmux (the end-to-end test of the live screen), gcc
# (cgo, which `go test -race` in make test needs), time and bc for
# scripts/bench.sh, and prometheus (a real server scraping gostate --listen,
# and promtool, which checks the scrape and the alert rules).
set -euo pipefail
need=()
for pair in conntrack:conntrack iptstate:iptstate nft:nftables ip:iproute2 tmux:tmux gcc:gcc /usr/bin/time:time bc:bc; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair##*:}")
done
prom=
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || prom=prometheus
[ ${#need[@]} -eq 0 ] && [ -z "$prom" ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
	echo "deps: missing ${need[*]} $prom; install them (Debian: apt-get install ${need[*]} $prom) or the tests that need them skip" >&2
	exit 0
fi
echo "deps: installing ${need[*]} $prom" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
[ ${#need[@]} -eq 0 ] || apt-get install -y -qq "${need[@]}" >/dev/null
if [ -n "$prom" ]; then
	# Debian's package starts its own server (port 9090) on install and
	# recommends node_exporter: the tests start the servers they need in
	# their namespaces, so neither is wanted. A policy-rc.d that refuses
	# (101) keeps the service from starting, where none is in place.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
	fi
	apt-get install -y -qq --no-install-recommends prometheus >/dev/null
	if [ -d /run/systemd/system ]; then
		systemctl disable --now prometheus >/dev/null 2>&1 || true
	fi
fi
