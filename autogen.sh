#!/bin/sh
# Regenerate the build system. automake does not install its TAP driver by itself.
set -e
cd "$(dirname "$0")"
autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
tap=$(ls /usr/share/automake-*/tap-driver.sh 2>/dev/null | head -n 1)
[ -n "$tap" ] || { echo "autogen.sh: tap-driver.sh not found (apt-get install automake)" >&2; exit 1; }
cp "$tap" build-aux/tap-driver.sh
