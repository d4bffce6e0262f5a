#!/usr/bin/env bash
# Install the system packages the test suite needs (real engines, browsers, IRC clients).
# Each file in scripts/test-deps.d/ names its Debian packages in a DEB_PACKAGES line
# (e.g. `DEB_PACKAGES="redis-server"`), and may define a `check` function that
# succeeds when the packages are already there. apt-get update runs once, only if
# something is missing. Needs root (CI and these machines run as root) or sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for f in scripts/test-deps.d/*.sh; do
  [ -e "$f" ] || continue
  DEB_PACKAGES=""
  unset -f check 2>/dev/null || true
  # shellcheck disable=SC1090
  source "$f"
  for pkg in $DEB_PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$pkg")
    fi
  done
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
echo "== installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
