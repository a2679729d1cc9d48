#!/usr/bin/env bash
# Install django-indieweb (a real Micropub endpoint, PyPI) into a cached virtualenv for the
# unipost-micropub integration tests. Idempotent: a no-op when the venv has the pinned version.
# Usage: scripts/ci/install-micropub.sh [DIR]   (default $UNIPOST_MICROPUB_DIR, else <repo>/.cache/micropub)
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
DIR="${1:-${UNIPOST_MICROPUB_DIR:-$REPO/.cache/micropub}}"
VERSION="0.6.2"
STAMP="django-indieweb-$VERSION"
PY="${PYTHON:-python3}"
mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9
if [ -f "$DIR/installed" ] && [ "$(cat "$DIR/installed")" = "$STAMP" ] && [ -x "$DIR/venv/bin/python" ]; then
  echo "install-micropub: ready in $DIR"
  exit 0
fi
start=$(date +%s)
rm -f "$DIR/installed"
rm -rf "$DIR/venv"
"$PY" -m venv "$DIR/venv"
"$DIR/venv/bin/python" -m pip install -q --disable-pip-version-check "django-indieweb==$VERSION"
"$DIR/venv/bin/python" -c 'import indieweb, django'
echo "$STAMP" > "$DIR/installed"
echo "install-micropub: installed in $DIR in $(( $(date +%s) - start )) s"
