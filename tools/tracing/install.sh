#!/usr/bin/env bash
# Jaeger, the local stack's trace store and UI (deploy/local/jaeger.sh), built into
# .local/tracing/bin/jaeger from the Go module proxy: the `jaeger` command of
# github.com/jaegertracing/jaeger at the version go.mod pins (its `tool` line), every module
# checked against go.sum. Jaeger v2 is an OpenTelemetry Collector distribution; its release
# binaries are not reachable from these machines, its module is.
# Rebuilt only when go.mod or go.sum change; the first build takes several minutes on the
# project's 2-core machine (module and build caches under .local/go, tools/go-env.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../.." && pwd)"
out="${RETOUR_LOCAL:-${root}/.local}/tracing"

log() { printf '[retour] %s\n' "$*" >&2; }
die() { printf '[retour] error: %s\n' "$*" >&2; exit 1; }

source "${here}/../go-env.sh"

bin="${out}/bin/jaeger"
digest="$(cat "${here}/go.mod" "${here}/go.sum" | sha256sum | cut -d' ' -f1)"
if [[ -x "${bin}" && "$(cat "${bin}.sources" 2>/dev/null)" == "${digest}" ]]; then
  exit 0
fi
go_ready "${here}/go.mod" \
  || die "Jaeger is built with Go ${GO_WANTED} or newer (found: ${GO_FOUND}): install it (go.dev), or run the stack without traces (RETOUR_TRACING=off)"
version="$(sed -n 's/^\t*github.com\/jaegertracing\/jaeger \(v[^ ]*\).*/\1/p' "${here}/go.mod")"
log "tracing: building Jaeger (module ${version}, $(go version | cut -d' ' -f3)); several minutes, once"
started=${SECONDS}
mkdir -p "${out}/bin"
(cd "${here}" && go build -trimpath -o "${bin}.new" github.com/jaegertracing/jaeger/cmd/jaeger)
mv "${bin}.new" "${bin}"
echo "${digest}" >"${bin}.sources"
log "tracing: Jaeger built in $((SECONDS - started)) s"
