#!/usr/bin/env bash
# Builds the offline registration form into intake's package:
#   services/intake/src/retour_intake/static/form/  (not committed; served at /form/)
# Idempotent and quick when nothing changed: `npm ci` runs only when package-lock.json
# changed since the last install, and `vite build` only when an input of the bundle changed
# (or the output is missing).
set -euo pipefail

web="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${web}/../services/intake/src/retour_intake/static/form"
cd "${web}"

digest() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

lock_digest="$(digest package-lock.json)"
installed="node_modules/.retour-installed"
if [[ ! -f "${installed}" || "$(cat "${installed}")" != "${lock_digest}" ]]; then
    npm ci --no-audit --no-fund --loglevel=error
    echo "${lock_digest}" > "${installed}"
fi

inputs="$(digest package-lock.json package.json vite.config.js index.html $(find src -type f | sort))"
stamp="${out}/.build-inputs"
if [[ -f "${stamp}" && -f "${out}/index.html" && -f "${out}/sw.js" && "$(cat "${stamp}")" == "${inputs}" ]]; then
    echo "offline form: up to date (${out})"
    exit 0
fi
npx --no-install vite build --logLevel warn
echo "${inputs}" > "${stamp}"
echo "offline form: built into ${out} ($(du -sh "${out}" | cut -f1))"
