#!/usr/bin/env bash
# Install redis-server (Debian's package) for the Redis shared-state and Celery tests.
# Idempotent: does nothing when redis-server is already on PATH. The tests start their own
# throwaway server on a free port; the package's service is not needed and not relied on.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -o DPkg::Lock::Timeout=600 -q "$@"; }
apt_get install -y --no-install-recommends redis-server >/dev/null \
    || { apt_get update >/dev/null && apt_get install -y --no-install-recommends redis-server >/dev/null; }
command -v redis-server >/dev/null
