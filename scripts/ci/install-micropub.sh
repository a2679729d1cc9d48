#!/usr/bin/env bash
# Install django-indieweb (a real Micropub endpoint, PyPI) into a cached virtualenv for the
# unipost-micropub integration tests. Idempotent: a no-op when the venv has the pinned version.
# Usage: scripts/ci/install-micropub.sh [DIR]
#   DIR defaults to $UNIPOST_MICROPUB_DIR, else ${XDG_CACHE_HOME:-~/.cache}/unipost/micropub: outside
#   the clone, so a fresh clone (CI) on the same machine reuses it (0.1 s instead of about a minute).
set -euo pipefail
DIR="${1:-${UNIPOST_MICROPUB_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/unipost/micropub}}"
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
