#!/usr/bin/env bash
# The third-party browser WHIP/WHEP clients of tests/browser/test_npm_whip_whep.py: installs
# tests/browser/npm at the exact versions of its package-lock.json (npm ci, no install
# scripts) and bundles them with esbuild for the test pages into tests/browser/npm/dist/.
# Both are git-ignored; run again, it does nothing unless package*.json or src/ changed.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here/tests/browser/npm"

if ! command -v npm >/dev/null 2>&1; then
  echo "npm-clients: npm is missing (make test-setup installs Debian's npm)" >&2
  exit 1
fi

# Trust what the system trusts (networks that re-sign TLS for the registries), not only
# node's own list.
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi

stamp=node_modules/.aiogst-installed
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
  echo "npm-clients: installing tests/browser/npm (npm ci)"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi

outputs=(dist/whip-web-client.js dist/webrtc-player.js)
stale=0
for out in "${outputs[@]}"; do
  [ -f "$out" ] || { stale=1; break; }
  for input in "$stamp" src/*.js; do
    [ "$input" -nt "$out" ] && stale=1
  done
done
if [ "$stale" -eq 1 ]; then
  echo "npm-clients: bundling the clients into tests/browser/npm/dist"
  rm -rf dist
  node node_modules/esbuild/bin/esbuild src/whip-web-client.js src/webrtc-player.js \
    --bundle --format=iife --platform=browser --target=chrome109 --outdir=dist \
    --log-level=warning
fi
