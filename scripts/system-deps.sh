#!/usr/bin/env bash
# Install the Debian packages callvault needs, only those that are missing.
# Usage: scripts/system-deps.sh run|test
set -euo pipefail
want=(ffmpeg espeak-ng)
if [ "${1:-run}" = test ]; then
  want+=(sox sip-tester chromium wrk kamailio systemd)  # wrk: bench/hooks.py; kamailio: tests/multinode; systemd: systemd-analyze (tests/ops)
  [ -x /usr/lib/postgresql/15/bin/initdb ] || want+=(postgresql-15)
fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "system-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
