#!/usr/bin/env bash
# Install telegram-test-api (npm; a third-party in-memory fake of the Telegram Bot API, text
# methods only), which the unipost-telegram integration tests start on 127.0.0.1.
#
# Usage: scripts/ci/install-telegram-test-api.sh [DIR]
#        (default: $UNIPOST_TELEGRAM_TEST_API_DIR, else <repo>/.cache/telegram-test-api)
# Idempotent: exit 0 when DIR is ready (already or now), 3 when npm is not available.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
DIR="${1:-${UNIPOST_TELEGRAM_TEST_API_DIR:-$REPO/.cache/telegram-test-api}}"
VERSION="4.2.1"
if ! command -v npm >/dev/null 2>&1; then
  echo "install-telegram-test-api: npm is not available" >&2
  exit 3
fi
mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9
if [ -f "$DIR/installed" ] && [ "$(cat "$DIR/installed")" = "$VERSION" ] && [ -d "$DIR/node_modules/telegram-test-api" ]; then
  echo "install-telegram-test-api: ready in $DIR"
  exit 0
fi
start=$(date +%s)
rm -f "$DIR/installed"
echo '{"private":true}' > "$DIR/package.json"
(cd "$DIR" && npm install --no-audit --no-fund --loglevel=error "telegram-test-api@$VERSION")
echo "$VERSION" > "$DIR/installed"
echo "install-telegram-test-api: installed in $DIR in $(( $(date +%s) - start )) s"
