#!/usr/bin/env bash
# Pre-install the Bluesky PDS used by the unipost-bluesky integration tests.
# Usage: scripts/ci/install-pds.sh [DIR]   (default <repo>/.cache/pds)
exec bash "$(cd "$(dirname "$0")/../.." && pwd)/plugins/unipost-bluesky/tests/pds/install.sh" "$@"
