#!/usr/bin/env bash
# Install nostr-relay (PyPI, a Python Nostr relay that checks every event's id and BIP-340
# signature), which the unipost-nostr integration tests start on 127.0.0.1, into its own venv.
#
# Usage: scripts/ci/install-nostr-relay.sh [DIR]   (default: $UNIPOST_NOSTR_RELAY_DIR, else <repo>/.cache/nostr-relay)
# Idempotent: exit 0 when DIR/venv is ready (already or now). pip only, no other downloads.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
DIR="${1:-${UNIPOST_NOSTR_RELAY_DIR:-$REPO/.cache/nostr-relay}}"
VERSION="1.14"
PY="${PY:-python3}"
mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9
if [ -f "$DIR/installed" ] && [ "$(cat "$DIR/installed")" = "$VERSION" ] && [ -x "$DIR/venv/bin/nostr-relay" ]; then
  echo "install-nostr-relay: ready in $DIR"
  exit 0
fi
start=$(date +%s)
rm -f "$DIR/installed"
rm -rf "$DIR/venv"
"$PY" -m venv "$DIR/venv"
"$DIR/venv/bin/pip" install -q --disable-pip-version-check "nostr-relay==$VERSION"
echo "$VERSION" > "$DIR/installed"
echo "install-nostr-relay: installed in $DIR in $(( $(date +%s) - start )) s"
