#!/usr/bin/env bash
# Builds the helm CLI (helm.sh/helm/v4) from the Go module proxy into a
# versioned cache folder outside the checkout, like hack/kube-binaries.sh
# does for the Kubernetes binaries: release downloads cannot be reached here,
# and every clone on this machine (CI included) reuses the one build.
#
# usage: hack/helm-binary.sh <dest-dir>    (the binary lands in <dest-dir>/helm)
#
# Idempotent: nothing is built when <dest-dir>/helm exists. Cold (empty Go
# build cache for its dependencies): 24 min wall, 6.6 min CPU, measured on 2
# cores shared with other builds (load about 20).
set -euo pipefail

HELM_VERSION=${HELM_VERSION:-v4.3.2}

dest=$1
if [ -x "$dest/helm" ]; then exit 0; fi
mkdir -p "$dest"
work="$dest/.src"
rm -rf "$work"; mkdir -p "$work"

printf '==> Building helm %s (a few minutes on 2 cores when the Go build cache is cold)\n' "$HELM_VERSION" >&2
(
  cd "$work"
  # A wrapper module pins helm's own go.mod requirements (go get takes them
  # from helm's module) instead of this repository's k8s.io versions.
  printf 'module streamspace.local/helm\n\ngo 1.25\n' > go.mod
  printf '//go:build tools\n\npackage tools\n\nimport _ "helm.sh/helm/v4/cmd/helm"\n' > tools.go
  GOFLAGS=-mod=mod go get "helm.sh/helm/v4@$HELM_VERSION" >/dev/null
  go mod tidy -e >/dev/null
  # helm prints this version in `helm version`; without it, it says v4-dev.
  go build -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
    -o "$dest/helm.tmp" helm.sh/helm/v4/cmd/helm
)
mv "$dest/helm.tmp" "$dest/helm"
rm -rf "$work"
