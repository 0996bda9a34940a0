#!/usr/bin/env bash
# Builds Kubernetes control-plane binaries from the Go module proxy into a
# versioned cache folder outside the checkout, so every clone on this machine
# (CI included) reuses them. There is no other way to get them here:
# setup-envtest and release downloads cannot reach the internet.
#
# usage: hack/kube-binaries.sh <dest-dir> <binary>...
#   binaries: kube-apiserver etcd kube-controller-manager kube-scheduler kubelet kube-proxy kubectl kwok
#
# Idempotent: a binary that already exists in <dest-dir> is not rebuilt.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}

dest=$1; shift
mkdir -p "$dest"
work="$dest/.src"
mkdir -p "$work"

staging_version="v0.${KUBE_VERSION#v1.}"   # v1.37.2 -> v0.37.2
minor=$(echo "$KUBE_VERSION" | cut -d. -f2)
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${KUBE_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor} -X k8s.io/client-go/pkg/version.gitVersion=${KUBE_VERSION} -X k8s.io/component-base/version.gitTreeState=clean"

log() { printf '==> %s\n' "$*" >&2; }

# kube_module prepares a wrapper module that depends on k8s.io/kubernetes. The
# kubernetes module replaces its staging repos with local folders; a dependent
# module must point them at the published staging versions instead.
kube_module() {
  local mod="$work/kubernetes"
  if [ -f "$mod/.ready-$KUBE_VERSION" ]; then echo "$mod"; return; fi
  log "Preparing k8s.io/kubernetes $KUBE_VERSION wrapper module"
  rm -rf "$mod"; mkdir -p "$mod"
  (
    cd "$mod"
    cat > go.mod <<MOD
module streamspace.local/kube-binaries

go 1.25
MOD
    gomod=$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    {
      echo "require k8s.io/kubernetes ${KUBE_VERSION}"
      grep -E '^\s*k8s.io/[^ ]+ => \./staging/src/' "$gomod" | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
    } >> go.mod
    cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "k8s.io/kubernetes/cmd/kubelet/app"
	_ "k8s.io/kubernetes/cmd/kube-proxy/app"
	_ "k8s.io/kubectl/pkg/cmd"
)
GO
    go mod tidy -e >/dev/null
  )
  touch "$mod/.ready-$KUBE_VERSION"
  echo "$mod"
}

build_kube() {
  local name=$1 pkg=$2 mod
  mod=$(kube_module)
  log "Building $name $KUBE_VERSION (several minutes on 2 cores when the Go build cache is cold)"
  # -mod=mod: a wrapper prepared before kube-proxy was listed lacks the
  # requirements only kube-proxy needs (knftables); kubernetes' own go.mod
  # pins them, so this records those versions, nothing newer.
  (cd "$mod" && GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$dest/$name.tmp" "$pkg")
  mv "$dest/$name.tmp" "$dest/$name"
}

build_wrapped() {
  local name=$1 module=$2 version=$3 pkg=$4
  local mod="$work/$name"
  log "Building $name $version"
  rm -rf "$mod"; mkdir -p "$mod"
  (
    cd "$mod"
    printf 'module streamspace.local/%s\n\ngo 1.25\n' "$name" > go.mod
    printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" > tools.go
    GOFLAGS=-mod=mod go get "$module@$version" >/dev/null 2>&1
    go mod tidy -e >/dev/null 2>&1 || true
    go build -trimpath -ldflags "-s -w" -o "$dest/$name.tmp" "$pkg"
  )
  mv "$dest/$name.tmp" "$dest/$name"
}

for bin in "$@"; do
  if [ -x "$dest/$bin" ]; then continue; fi
  case "$bin" in
    kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy)
      build_kube "$bin" "k8s.io/kubernetes/cmd/$bin" ;;
    kubectl)
      build_kube kubectl k8s.io/kubernetes/cmd/kubectl ;;
    etcd)
      build_wrapped etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3 ;;
    kwok)
      build_wrapped kwok sigs.k8s.io/kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok ;;
    *) echo "unknown binary: $bin" >&2; exit 2 ;;
  esac
done
