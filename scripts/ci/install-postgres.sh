#!/usr/bin/env bash
# Install the PostgreSQL server (Debian's package) for the PostgreSQL outbox tests.
# Idempotent: does nothing when initdb and pg_ctl are found. The tests create a throwaway
# cluster with initdb in a temp directory and start it with pg_ctl on a free port; the
# package's own cluster is not needed and not relied on.
set -euo pipefail
have_server() {
    command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}
if have_server; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -o DPkg::Lock::Timeout=600 -q "$@"; }
apt_get install -y --no-install-recommends postgresql >/dev/null \
    || { apt_get update >/dev/null && apt_get install -y --no-install-recommends postgresql >/dev/null; }
have_server
