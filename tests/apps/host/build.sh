#!/usr/bin/env bash
# Build the test host's browser bundle: the official MCP Apps host bridge
# (@modelcontextprotocol/ext-apps AppBridge + PostMessageTransport) and host.js, bundled
# with esbuild into dist/host.bundle.js. Neither the bundle nor node_modules is committed.
#
# Cached: the bundle is rebuilt only when the hash of its inputs (host.js, this script,
# which pins the versions) differs from the one stored beside it. Safe to run from several
# pytest processes at once (flock). Exit status is non-zero when npm, node or the build fails.
set -euo pipefail
cd "$(dirname "$0")"

# Pinned; checked with `npm view <pkg> version` (bump on purpose, never by accident).
EXT_APPS="@modelcontextprotocol/ext-apps@2.0.4"   # engines: node >= 20
ESBUILD="esbuild@0.28.2"                         # engines: node >= 18

export npm_config_loglevel=error npm_config_fund=false npm_config_audit=false \
  npm_config_update_notifier=false npm_config_progress=false npm_config_prefer_offline=true

mkdir -p dist
exec 9>dist/.lock
flock 9

inputs=$(cat host.js build.sh | sha256sum | cut -d' ' -f1)
if [ -f dist/host.bundle.js ] && [ "$(cat dist/.inputs.sha256 2>/dev/null)" = "$inputs" ]; then
  echo "host bundle up to date: $PWD/dist/host.bundle.js"
  exit 0
fi

for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 || { echo "FAIL: $tool is not on PATH" >&2; exit 127; }
done

rm -f dist/.inputs.sha256
npm install --no-save --no-package-lock --prefix . "$EXT_APPS" "$ESBUILD" >&2
node_modules/.bin/esbuild host.js --bundle --format=iife --platform=browser --target=es2022 \
  --log-level=warning --outfile=dist/host.bundle.js
echo "$inputs" >dist/.inputs.sha256
echo "host bundle built: $PWD/dist/host.bundle.js"
