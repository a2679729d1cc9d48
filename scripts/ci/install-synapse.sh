#!/usr/bin/env bash
# Install Synapse (PyPI matrix-synapse), the Matrix homeserver the unipost-matrix integration
# tests start on 127.0.0.1, into its own venv in a cache directory that is reused.
#
# Usage: scripts/ci/install-synapse.sh [DIR]   (default: $UNIPOST_SYNAPSE_DIR, else <repo>/.cache/synapse)
# Idempotent: exit 0 when DIR/venv is ready (already or now). pip only, no other downloads.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
DIR="${1:-${UNIPOST_SYNAPSE_DIR:-$REPO/.cache/synapse}}"
VERSION="1.163.2"
PY="${PY:-python3}"
mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9  # one installer at a time; a second caller waits and then finds it ready
if [ -f "$DIR/installed" ] && [ "$(cat "$DIR/installed")" = "$VERSION" ] && [ -x "$DIR/venv/bin/python" ]; then
  echo "install-synapse: ready in $DIR"
  exit 0
fi
start=$(date +%s)
rm -f "$DIR/installed"
rm -rf "$DIR/venv"
"$PY" -m venv "$DIR/venv"
"$DIR/venv/bin/pip" install -q --disable-pip-version-check "matrix-synapse==$VERSION"
"$DIR/venv/bin/python" -c 'import synapse; print("install-synapse: synapse", synapse.__version__)'
echo "$VERSION" > "$DIR/installed"
echo "install-synapse: installed in $DIR in $(( $(date +%s) - start )) s"
