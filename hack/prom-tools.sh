#!/usr/bin/env bash
# Builds the Prometheus tools the tests use (promtool to unit-test the alert
# rules; prometheus and alertmanager to prove rules, delivery and dashboard
# queries end to end) from the Go module proxy, each ONCE into its own
# versioned cache folder outside the checkout, so every clone on this machine
# (CI included) reuses it. There is no other way to get them here: release
# downloads cannot reach the internet.
#
# usage: hack/prom-tools.sh <cache-dir> <tool>...
#   tools: promtool prometheus alertmanager
#   each lands in <cache-dir>/tools-<tool>-<version>/<tool>
#
# Idempotent: a tool that already exists is not rebuilt. The servers are built
# without their web UI assets (not needed: the tests use the HTTP API), and
# Prometheus without the cloud service discoveries (remove_all_sd: the AWS,
# Azure, GCE… SDKs are most of its build time); static, file and Kubernetes
# discovery stay.
# Measured on 2 cores shared with other builds (load ~20), at nice 19: promtool
# ~45 min cold (most of it the cloud SDKs, since dropped by remove_all_sd),
# then prometheus 13 min and alertmanager 4 min on the warm Go build cache.
set -euo pipefail

PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-v0.316.0}
ALERTMANAGER_VERSION=${ALERTMANAGER_VERSION:-v0.35.0}
PROMETHEUS_TAGS=remove_all_sd,enable_kubernetes_sd

cache=$1; shift

log() { printf '==> %s\n' "$*" >&2; }

# build <name> <module> <version> <package> [tags]: a throwaway module that
# requires <module>@<version> and builds <package> from it, so the tool gets
# exactly the dependency versions its own go.mod chose, never the project's.
build() {
  local name=$1 module=$2 version=$3 pkg=$4 tags=${5:-}
  local dest="$cache/tools-$name-$version"
  if [ -x "$dest/$name" ]; then return; fi
  local mod="$dest/.src"
  log "Building $name $version from $module (minutes when the Go build cache is cold)"
  local start=$SECONDS
  rm -rf "$mod"; mkdir -p "$mod"
  (
    cd "$mod"
    printf 'module streamspace.local/tools-%s\n\ngo 1.25\n' "$name" > go.mod
    printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" > tools.go
    GOFLAGS=-mod=mod go get "$module@$version"
    if [ "$name" = alertmanager ]; then without_web_ui "$module"; fi
    go mod tidy -e >/dev/null 2>&1 || true
    go build -trimpath -tags "$tags" -ldflags "-s -w" -o "$dest/$name.tmp" "$pkg"
  )
  mv "$dest/$name.tmp" "$dest/$name"
  rm -rf "$mod"
  log "Built $dest/$name in $((SECONDS - start))s"
}

# without_web_ui replaces <module> by a copy whose ui/app/dist (the web UI,
# built by npm in Alertmanager's release process and absent from the Go
# module) holds one placeholder page, so `go:embed app/dist` compiles. The
# API the tests and Prometheus use is unchanged.
without_web_ui() {
  local module=$1 dir
  dir=$(go list -m -f '{{.Dir}}' "$module")
  cp -r "$dir" ./upstream
  chmod -R u+w ./upstream
  for ui in elm mantine; do
    mkdir -p "./upstream/ui/app/dist/$ui"
    echo '<!doctype html><title>Alertmanager</title><p>Built without its web UI: use the API.' > "./upstream/ui/app/dist/$ui/index.html"
  done
  go mod edit -replace "$module=./upstream"
}

for tool in "$@"; do
  case "$tool" in
    promtool)     build promtool github.com/prometheus/prometheus "$PROMETHEUS_VERSION" github.com/prometheus/prometheus/cmd/promtool "$PROMETHEUS_TAGS" ;;
    prometheus)   build prometheus github.com/prometheus/prometheus "$PROMETHEUS_VERSION" github.com/prometheus/prometheus/cmd/prometheus "$PROMETHEUS_TAGS" ;;
    alertmanager) build alertmanager github.com/prometheus/alertmanager "$ALERTMANAGER_VERSION" github.com/prometheus/alertmanager/cmd/alertmanager ;;
    *) echo "unknown tool: $tool (want promtool, prometheus or alertmanager)" >&2; exit 2 ;;
  esac
done
