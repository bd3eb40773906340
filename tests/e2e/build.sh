#!/usr/bin/env bash
# Build the end-to-end test's real control plane into .cache/bin, once per version:
#  - kube-apiserver from k8s.io/kubernetes (Go module proxy); the staging modules
#    (k8s.io/api, apimachinery, apiserver, client-go, ... externaljwt) are replaced by their
#    published v0.Y.Z, the list generated from the release's own go.mod;
#  - etcd from go.etcd.io/etcd/server/v3 (the 3.5 release kube-apiserver itself requires).
# Uses the machine's Go (GOTOOLCHAIN=auto fetches the toolchain the release asks for).
set -euo pipefail
K8S_VERSION="${K8S_VERSION:-v1.33.5}"
ETCD_VERSION="${ETCD_VERSION:-v3.5.21}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="$root/.cache/bin"
mkdir -p "$bin"
command -v go >/dev/null || { echo "tests/e2e/build.sh: Go is needed to build kube-apiserver and etcd" >&2; exit 1; }
export GOFLAGS=-mod=mod GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" CGO_ENABLED=0

build_apiserver() {
  local out="$bin/kube-apiserver" work="$root/.cache/e2e-build/apiserver"
  [[ -x "$out" && -e "$out.$K8S_VERSION" ]] && return 0
  mkdir -p "$work" && cp "$here/apiserver/main.go" "$work/" && cd "$work"
  local start staging gomod
  start=$(date +%s)
  staging="v0${K8S_VERSION#v1}"
  gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  {
    echo "module ddcompat.io/e2e/apiserver"; echo
    echo "go $(awk '/^go /{print $2; exit}' "$gomod")"; echo
    echo "require k8s.io/kubernetes $K8S_VERSION"; echo
    echo "replace ("
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 '"$staging"'#p' "$gomod"
    echo ")"
  } > go.mod
  go mod tidy >/dev/null 2>&1
  go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${staging#v0.}" -o "$out.part" .
  mv "$out.part" "$out" && touch "$out.$K8S_VERSION"
  echo "kube-apiserver $K8S_VERSION built in $(( $(date +%s) - start ))s" >&2
}

build_etcd() {
  local out="$bin/etcd" work="$root/.cache/e2e-build/etcd"
  [[ -x "$out" && -e "$out.$ETCD_VERSION" ]] && return 0
  mkdir -p "$work" && cp "$here/etcd/main.go" "$work/" && cd "$work"
  local start
  start=$(date +%s)
  printf 'module ddcompat.io/e2e/etcd\n\ngo 1.23\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" > go.mod
  go mod tidy >/dev/null 2>&1
  go build -trimpath -ldflags "-s -w" -o "$out.part" .
  mv "$out.part" "$out" && touch "$out.$ETCD_VERSION"
  echo "etcd $ETCD_VERSION built in $(( $(date +%s) - start ))s" >&2
}

build_apiserver
build_etcd
