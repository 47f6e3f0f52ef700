#!/usr/bin/env bash
# What tests/test_k8s_monitoring.py checks the monitoring manifests with, installed into
# .local/monitoring/ (run by `make setup`; quick when nothing changed):
#   crds/   the CustomResourceDefinitions of ServiceMonitor and PrometheusRule, from the
#           prometheus-operator Go module at OPERATOR_VERSION (module checksum below, files
#           checked against crds.sha256): their openAPIV3Schema validates our objects;
#   bin/promql-check   built from main.go beside this file with Prometheus's own rulefmt and
#           PromQL parser (the version go.mod pins, go.sum its checksums): what
#           `promtool check rules` checks, plus the metric names each expression reads.
# Everything comes from the Go module proxy through `go` (module and build caches under
# .local/go, shared with the other Go-built tools: tools/go-env.sh). A fresh
# install takes about a minute and a half on the project's 2-core machine, then nothing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../.." && pwd)"
out="${RETOUR_LOCAL:-${root}/.local}/monitoring"

# The newest release of the operator's main module the proxy serves here; its CRDs are the
# ones our objects must fit. The h1 checksum is the Go checksum database's for that zip.
OPERATOR_MODULE=github.com/prometheus-operator/prometheus-operator
OPERATOR_VERSION=v0.85.0
OPERATOR_SUM="h1:M5xLCLEoaW2IJfnuCwFzzpL+jSVQu3KGT84Pye+fW8s="

log() { printf '[retour] %s\n' "$*" >&2; }
die() { printf '[retour] error: %s\n' "$*" >&2; exit 1; }

source "${here}/../go-env.sh"

# Without a recent enough Go, nothing else of `make setup` needs it: say so and stop here. The
# monitoring tests then fail, naming this script, rather than pass without their tools.
need_go() {
  if ! go_ready "${here}/go.mod"; then
    log "warning: Go ${GO_WANTED} or newer is needed for the monitoring checks (found: ${GO_FOUND});"
    log "warning: install it (go.dev) and run make setup again, or tests/test_k8s_monitoring.py fails"
    exit 0
  fi
}

crds="${out}/crds"
if ! (cd "${crds}" 2>/dev/null && sha256sum --quiet --check "${here}/crds.sha256" >/dev/null 2>&1); then
  need_go
  log "monitoring: fetching the CRDs of ${OPERATOR_MODULE}@${OPERATOR_VERSION}"
  info="$(go mod download -json "${OPERATOR_MODULE}@${OPERATOR_VERSION}")" \
    || die "go mod download ${OPERATOR_MODULE}@${OPERATOR_VERSION} failed: ${info:-}"
  field() { printf '%s\n' "${info}" | sed -n "s/^[[:space:]]*\"$1\": \"\\(.*\\)\",\$/\\1/p"; }
  [[ "$(field Sum)" == "${OPERATOR_SUM}" ]] \
    || die "${OPERATOR_MODULE}@${OPERATOR_VERSION}: checksum $(field Sum), expected ${OPERATOR_SUM}"
  mkdir -p "${crds}"
  while read -r _ name; do
    install -m 0644 "$(field Dir)/example/prometheus-operator-crd/${name}" "${crds}/${name}"
  done <"${here}/crds.sha256"
  (cd "${crds}" && sha256sum --quiet --check "${here}/crds.sha256") \
    || die "the CRD files differ from tools/monitoring/crds.sha256"
fi

# The binary is rebuilt when its sources change; the test compares the same digest.
bin="${out}/bin/promql-check"
digest="$(cat "${here}/go.mod" "${here}/go.sum" "${here}/main.go" | sha256sum | cut -d' ' -f1)"
if [[ -x "${bin}" && "$(cat "${bin}.sources" 2>/dev/null)" == "${digest}" ]]; then
  exit 0
fi
need_go
log "monitoring: building promql-check ($(sed -n 's/^\t*github.com\/prometheus\/prometheus /prometheus /p' "${here}/go.mod"), $(go version | cut -d' ' -f3)); a minute or two, once"
started=${SECONDS}
mkdir -p "${out}/bin"
(cd "${here}" && go build -trimpath -o "${bin}.new" .)
mv "${bin}.new" "${bin}"
echo "${digest}" >"${bin}.sources"
log "monitoring: promql-check built in $((SECONDS - started)) s"
