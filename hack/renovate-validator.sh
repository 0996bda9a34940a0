#!/usr/bin/env bash
# Installs Renovate (npm package "renovate", which ships the
# renovate-config-validator command) into a versioned cache folder outside
# the checkout, like hack/helm-binary.sh does for helm: every clone on this
# machine (CI included) reuses the one install.
#
# usage: hack/renovate-validator.sh <dest-dir>
#        (the validator lands in <dest-dir>/node_modules/.bin/renovate-config-validator)
#
# Idempotent: nothing is installed when the validator exists. Cold install
# (empty npm cache, 589 packages): 3.5 min wall on 2 shared cores. Renovate
# asks for node >= 24; the validator runs on the node 20 here (npm warns
# EBADENGINE). The optional re2 module is left out (install scripts off):
# Renovate then checks regexes with JavaScript's RegExp and says so.
set -euo pipefail

RENOVATE_VERSION=${RENOVATE_VERSION:-44.121.2}

dest=$1
bin="$dest/node_modules/.bin/renovate-config-validator"
if [ -x "$bin" ]; then exit 0; fi
mkdir -p "$dest"
printf '==> Installing renovate %s from the npm registry into %s\n' "$RENOVATE_VERSION" "$dest" >&2
(
  cd "$dest"
  printf '{"name":"streamspace-renovate-validator","private":true}\n' > package.json
  # No lifecycle scripts: the validator needs none, and a registry package's
  # install scripts are code this script did not review.
  npm install --no-audit --no-fund --ignore-scripts --omit=optional "renovate@$RENOVATE_VERSION" >&2
)
test -x "$bin"
