#!/usr/bin/env bash
# Install WordPress (Debian package) + MariaDB + PHP CLI for the unipost-wordpress integration
# tests. Idempotent: a no-op (well under a second) when they are already there.
# Usage: scripts/ci/install-wordpress.sh
# Services are never started by the packages: where no policy-rc.d exists, one that refuses
# every start is put in place for the install and removed after it (apache2 and mariadb would
# otherwise start on their default ports).
set -euo pipefail
ready() {
  [ -f /usr/share/wordpress/wp-settings.php ] && command -v mariadbd >/dev/null 2>&1 \
    && command -v mariadb-install-db >/dev/null 2>&1 && command -v php >/dev/null 2>&1 \
    && php -m 2>/dev/null | grep -qi '^mysqli$'
}
if ready; then
  echo "install-wordpress: ready"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-wordpress: apt-get is not available; install wordpress mariadb-server php-cli php-mysql" >&2
  exit 3
fi
exec 9>/tmp/unipost-install-wordpress.lock
flock 9
if ready; then
  echo "install-wordpress: ready"
  exit 0
fi
start=$(date +%s)
POLICY=/usr/sbin/policy-rc.d
ADDED_POLICY=0
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$POLICY" && chmod +x "$POLICY" && ADDED_POLICY=1
fi
cleanup() { if [ "$ADDED_POLICY" = 1 ]; then rm -f "$POLICY"; fi; }
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
install() {
  apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
    wordpress mariadb-server php-cli php-mysql >/dev/null
}
if ! install; then
  apt-get update -q -o DPkg::Lock::Timeout=300 >/dev/null
  install
fi
ready
echo "install-wordpress: installed in $(( $(date +%s) - start )) s"
