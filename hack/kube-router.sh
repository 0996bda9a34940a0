#!/usr/bin/env bash
# Builds kube-router (github.com/cloudnativelabs/kube-router/v2) from the Go
# module proxy into a versioned cache folder outside the checkout, like
# hack/helm-binary.sh: release downloads cannot be reached here, and every
# clone on this machine (CI included) reuses the one build.
#
# LOCAL LAB ONLY. The local cluster (local/cluster) runs its network-policy
# controller alone (--run-firewall) so that the NetworkPolicies in
# policies/network/ and deploy/portal/ are enforced on the real local node.
# The module proxy serves kube-router only at v2.1.0, for which security
# problems are reported; nothing in deploy/ or chart/ uses it, and a real
# cluster brings its own enforcer (its CNI).
#
# usage: hack/kube-router.sh <dest-dir>    (the binary lands in <dest-dir>/kube-router)
#
# Idempotent: nothing is built when <dest-dir>/kube-router exists. Cold
# (its dependencies' versions absent from the Go build cache): 33 min wall,
# 6.6 min CPU, measured on 2 cores shared with other builds (load about 25).
set -euo pipefail

KUBE_ROUTER_VERSION=${KUBE_ROUTER_VERSION:-v2.1.0}

dest=$1
if [ -x "$dest/kube-router" ]; then exit 0; fi
mkdir -p "$dest"

printf '==> Building kube-router %s for the local lab (a few minutes on 2 cores when the Go build cache is cold)\n' "$KUBE_ROUTER_VERSION" >&2
# `go install module@version` builds with kube-router's own go.mod and
# go.sum (it has no replace directives), not this repository's versions.
# CGO off: a static binary that needs none of the build machine's libraries.
tmp=$(mktemp -d "$dest/.bin.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
CGO_ENABLED=0 GOBIN="$tmp" GOFLAGS=-buildvcs=false go install -trimpath \
  -ldflags "-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION" \
  "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION"
mv "$tmp/kube-router" "$dest/kube-router"
