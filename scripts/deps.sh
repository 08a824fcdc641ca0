#!/usr/bin/env bash
# Installs what herald needs to build, run and test, from Debian's packages
# and the npm registry. Idempotent and quiet when everything is present.
#   scripts/deps.sh          build + run dependencies
#   scripts/deps.sh test     also the test tools (npm packages, Chromium)
#   scripts/deps.sh bench    also the benchmark tools and peers
set -euo pipefail
cd "$(dirname "$0")/.."

want=(build-essential cmake pkg-config libuv1-dev node-llhttp libjansson-dev libsqlite3-dev
      libssl-dev libcurl4-openssl-dev)
case "${1:-}" in
  test) want+=(curl chromium) ;;
  bench) want+=(curl wrk nginx libnginx-mod-nchan) ;;
esac
# Node.js may come from elsewhere than Debian (this machine kind ships Node 20
# with npm 11); ask Debian for it only when the commands are missing.
if [ -n "${1:-}" ]; then
  command -v node >/dev/null 2>&1 || want+=(nodejs)
  command -v npm >/dev/null 2>&1 || want+=(npm)
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${1:-}" = test ] || [ "${1:-}" = bench ]; then
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "deps: npm ci" >&2
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
  fi
fi
