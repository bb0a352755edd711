#!/bin/sh
# Installs the reference BitTorrent peers used by the interop suite
# (go test -tags interop ./interop/): Debian's python3-libtorrent and aria2,
# and for issue 10's client tests opentracker, Transmission 3.00
# (transmission-cli, transmission-daemon) and qbittorrent-nox 4.5.2; for
# issue 12's status-page test, chromium (run headless by chromedp).
# Idempotent: does nothing but print versions when all are present.
# Installing needs root and apt-get; anything else fails loudly.
set -eu

PY=/usr/bin/python3 # libtorrent's bindings load only under the system python

have_lt() { [ -x "$PY" ] && "$PY" -c 'import libtorrent' >/dev/null 2>&1; }
have_aria2() { command -v aria2c >/dev/null 2>&1; }
have_rtorrent() { command -v rtorrent >/dev/null 2>&1; }
have() { command -v "$1" >/dev/null 2>&1; }

missing=""
have_lt || missing="$missing python3-libtorrent"
have_aria2 || missing="$missing aria2"
have_rtorrent || missing="$missing rtorrent"
have opentracker || missing="$missing opentracker"
have transmission-remote || missing="$missing transmission-cli"
have transmission-daemon || missing="$missing transmission-daemon"
have qbittorrent-nox || missing="$missing qbittorrent-nox"
have chromium || missing="$missing chromium"

if [ -n "$missing" ]; then
	echo "install-peers: missing:$missing" >&2
	if [ "$(id -u)" != 0 ]; then
		echo "install-peers: FATAL: must run as root to apt-get install$missing" >&2
		exit 1
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "install-peers: FATAL: apt-get not found; install$missing by hand" >&2
		exit 1
	fi
	apt-get update
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
fi

if ! have_lt; then
	echo "install-peers: FATAL: $PY still cannot import libtorrent" >&2
	"$PY" -c 'import libtorrent' || true
	exit 1
fi
if ! have_aria2; then
	echo "install-peers: FATAL: aria2c still not on PATH" >&2
	exit 1
fi
for b in opentracker transmission-remote transmission-daemon qbittorrent-nox chromium; do
	if ! have "$b"; then
		echo "install-peers: FATAL: $b still not on PATH" >&2
		exit 1
	fi
done
echo "libtorrent $("$PY" -c 'import libtorrent as lt; print(lt.__version__)') ($PY)"
aria2c --version | head -n 1
if ! have_rtorrent; then
	echo "install-peers: FATAL: rtorrent still not on PATH" >&2
	exit 1
fi
rtorrent -h | head -n 1
echo "opentracker $(dpkg-query -W -f '${Version}' opentracker 2>/dev/null || echo '(version unknown)')"
transmission-daemon --version 2>&1 | head -n 1
transmission-remote --version 2>&1 | head -n 1
qbittorrent-nox --version 2>&1 | head -n 1
echo "$(chromium --version 2>/dev/null)"
