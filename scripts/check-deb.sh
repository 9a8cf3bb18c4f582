#!/usr/bin/env bash
# Builds the Debian package (make deb) and checks it: the files it must
# hold, and, as root where dpkg is, that it installs, runs, shows its man
# page and removes cleanly. CI runs it after the tests (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin
rm -f bin/gostate_*.deb
make deb
deb=$(ls bin/gostate_*.deb)
echo "check-deb: $deb"
contents=$(dpkg-deb -c "$deb")
for path in ./usr/bin/gostate ./usr/share/man/man1/gostate.1.gz \
	./usr/share/bash-completion/completions/gostate ./usr/share/zsh/vendor-completions/_gostate \
	./usr/share/fish/vendor_completions.d/gostate.fish \
	./lib/systemd/system/gostate-exporter.service ./usr/share/doc/gostate/; do
	grep -q " $path" <<<"$contents" || { echo "check-deb: $deb lacks $path" >&2; exit 1; }
done
dpkg-deb -f "$deb" Package Version Architecture
if [ "$(id -u)" -ne 0 ] || ! command -v dpkg >/dev/null; then
	echo "check-deb: not root: the package was not installed" >&2
	exit 0
fi
if dpkg -s gostate >/dev/null 2>&1; then
	echo "check-deb: a gostate package is installed already: not touching it" >&2
	exit 0
fi
dpkg -i "$deb" >/dev/null
trap 'dpkg -r gostate >/dev/null 2>&1 || true' EXIT
/usr/bin/gostate --version
if command -v man >/dev/null; then
	out=$(MANWIDTH=80 man -l /usr/share/man/man1/gostate.1.gz 2>&1 >/dev/null)
	[ -z "$out" ] || { echo "check-deb: man warns: $out" >&2; exit 1; }
fi
dpkg -r gostate >/dev/null
trap - EXIT
! [ -e /usr/bin/gostate ] || { echo "check-deb: /usr/bin/gostate left after dpkg -r" >&2; exit 1; }
echo "check-deb: installed, ran and removed"
