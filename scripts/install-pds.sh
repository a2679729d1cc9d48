#!/usr/bin/env bash
# Pre-install the Bluesky PDS used by the unipost-bluesky integration tests (CI calls this
# before pytest). Usage: scripts/install-pds.sh [DIR]   (default <repo>/.cache/pds)
# Exit 0: ready; 3: npm is not available (the tests then skip); other: the install failed.
exec bash "$(cd "$(dirname "$0")/.." && pwd)/plugins/unipost-bluesky/tests/pds/install.sh" "$@"
