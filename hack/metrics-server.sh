#!/usr/bin/env bash
# Builds metrics-server (sigs.k8s.io/metrics-server) from the Go module proxy
# into a versioned cache folder outside the checkout, like hack/helm-binary.sh
# does for helm: release downloads and images cannot be reached here, and
# every clone on this machine (CI included) reuses the one build. The local
# cluster runs it as a host process beside the API server, so that
# metrics.k8s.io (kubectl top, the agent's real-use gauges) exists there.
#
# usage: hack/metrics-server.sh <dest-dir>   (the binary lands in <dest-dir>/metrics-server)
#
# Idempotent: nothing is built when <dest-dir>/metrics-server exists. Cold
# (its Kubernetes v0.33 dependencies not in the Go build cache): 70 min wall,
# 11 min CPU, measured at nice 19 on 2 cores shared with other builds (load
# average ~30).
set -euo pipefail

METRICS_SERVER_VERSION=${METRICS_SERVER_VERSION:-v0.8.0}

dest=$1
if [ -x "$dest/metrics-server" ]; then exit 0; fi
mkdir -p "$dest"
work="$dest/.src"
rm -rf "$work"; mkdir -p "$work"

printf '==> Building metrics-server %s (a few minutes on 2 cores when the Go build cache is cold)\n' "$METRICS_SERVER_VERSION" >&2
(
  cd "$work"
  # A wrapper module takes metrics-server's own go.mod requirements (its
  # k8s.io versions), not this repository's.
  printf 'module streamspace.local/metrics-server\n\ngo 1.25\n' > go.mod
  printf '//go:build tools\n\npackage tools\n\nimport _ "sigs.k8s.io/metrics-server/cmd/metrics-server"\n' > tools.go
  GOFLAGS=-mod=mod go get "sigs.k8s.io/metrics-server@$METRICS_SERVER_VERSION" >/dev/null
  go mod tidy -e >/dev/null
  # metrics-server prints this version in --version and its /version
  # (its own Makefile sets the same variable).
  go build -trimpath \
    -ldflags "-s -w -X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION" \
    -o "$dest/metrics-server.tmp" sigs.k8s.io/metrics-server/cmd/metrics-server
)
mv "$dest/metrics-server.tmp" "$dest/metrics-server"
rm -rf "$work"
