#!/usr/bin/env bash
# Debian's Chromium, for the site channel's browser tests (screenshots, no horizontal scroll at
# phone width). Idempotent: does nothing when /usr/bin/chromium is there.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# Other processes may hold the dpkg lock for a while; wait for it rather than fail.
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
command -v chromium
