#!/usr/bin/env bash
# `make dist`: what retour hands to others, in dist/ (or $DIST_DIR):
#   retour_contracts-<version>-py3-none-any.whl   the event contracts for partners and other
#       consumers (docs/partners.md): typed models, the CloudEvents envelope's parsing and
#       building, the personal block's unsealing, and the JSON Schemas of every event version
#       (retour_contracts/json_schemas/) — installable with pip from this file alone;
#   retour.cdx.json   a CycloneDX 1.5 SBOM of the Python packages the services run (uv.lock,
#       without the development tools), each with its version, purl and the hashes of the
#       files the lock allows.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${DIST_DIR:-${root}/dist}"
uv="${UV:-${root}/.local/uv/bin/uv}"

mkdir -p "${out}"
cd "${root}"
"${uv}" build --quiet --package retour-contracts --wheel --out-dir "${out}"
"${uv}" export --quiet --locked --all-packages --no-dev --format cyclonedx1.5 -o "${out}/retour.cdx.json"
printf '[retour] %s\n' "dist: $(cd "${out}" && ls retour_contracts-*.whl retour.cdx.json | tr '\n' ' ')in ${out}" >&2
