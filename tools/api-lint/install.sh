#!/usr/bin/env bash
# Installs Spectral (the OpenAPI linter tests/test_api_lint.py runs) into tools/api-lint/,
# from the npm registry, pinned by package-lock.json. Quick when nothing changed: `npm ci`
# runs only when the lock changed since the last install.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "${here}"
lock_digest="$(sha256sum package-lock.json | cut -d' ' -f1)"
installed="node_modules/.retour-installed"
if [[ -f "${installed}" && "$(cat "${installed}")" == "${lock_digest}" ]]; then
    exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "${lock_digest}" > "${installed}"
echo "api lint: Spectral $(node_modules/.bin/spectral --version) installed"
