#!/usr/bin/env bash
# Installs one of the test tools that come from the npm registry into its own folder, pinned by
# its package-lock.json: tools/api-lint (Spectral, tests/test_api_lint.py) and tools/a11y
# (axe-core, the dashboard's accessibility test). Run by `make setup`; quick when nothing
# changed: `npm ci` runs only when the lock changed since the last install.
# Usage: npm-ci.sh <folder>
set -euo pipefail

cd "$1"
lock_digest="$(sha256sum package-lock.json | cut -d' ' -f1)"
installed="node_modules/.retour-installed"
if [[ -f "${installed}" && "$(cat "${installed}")" == "${lock_digest}" ]]; then
    exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "${lock_digest}" > "${installed}"
echo "[retour] $(basename "$1"): $(node -p 'Object.entries(require("./package.json").devDependencies).map(([n, v]) => `${n} ${v}`).join(", ")') installed" >&2
