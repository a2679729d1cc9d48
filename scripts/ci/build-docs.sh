#!/usr/bin/env bash
# Build the documentation site (MkDocs + Material, API reference from the docstrings by
# mkdocstrings) in strict mode: a broken link, a page missing from the nav or a docstring
# mkdocstrings cannot read fails the build. Usage: scripts/ci/build-docs.sh [SITE_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
export NO_MKDOCS_2_WARNING=1  # Material's notice about its successor, not a problem in our docs
python -m uv run --quiet --all-packages --group docs mkdocs build --strict --site-dir "${1:-.cache/docs-site}"
