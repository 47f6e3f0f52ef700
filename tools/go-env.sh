# Sourced by the scripts that build a tool from the Go module proxy (tools/monitoring,
# tools/tracing): one module cache and one build cache for all of them, under .local/go, so
# that what two tools share is downloaded and compiled once, `make clean` removes it, and
# nothing lands in $HOME.

# go_ready GO_MOD: true when the machine's Go is at least the version GO_MOD asks for; then
# the Go environment is exported (local toolchain only: nothing else is downloaded behind our
# back, go.sum is checked, the module cache stays removable).
go_ready() {
  local wanted have cache
  wanted="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$1")"
  have="$(go env GOVERSION 2>/dev/null | sed 's/^go//')" || have=""
  GO_WANTED="${wanted}" GO_FOUND="${have:-none}"
  if [[ -z "${have}" || "$(printf '%s\n%s\n' "${wanted}" "${have}" | sort -V | head -n1)" != "${wanted}" ]]; then
    return 1
  fi
  cache="${RETOUR_LOCAL:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.local}/go"
  export GOTOOLCHAIN=local GOFLAGS="-modcacherw -mod=readonly -buildvcs=false" \
    GOMODCACHE="${cache}/mod" GOPATH="${cache}" GOCACHE="${cache}/cache"
}
