# StreamSpace make targets. `make help` lists them.

SHELL := /usr/bin/env bash -o pipefail
.DEFAULT_GOAL := help

KUBE_VERSION ?= v1.37.2
# Kubernetes binaries are built from the Go module proxy (there is no other
# way to get them here) into a versioned cache outside the checkout, so every
# clone on this machine, CI's included, reuses them.
CACHE_DIR    ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/streamspace
KUBE_BIN     ?= $(CACHE_DIR)/kube-$(KUBE_VERSION)
export KUBEBUILDER_ASSETS := $(KUBE_BIN)

CONTROLLER_GEN := go tool controller-gen
# Real-node packages take turns (one kube-proxy per machine): a package may
# wait for another's cluster to go down, hence more than go test's 10 min.
GO_TEST_FLAGS  ?= -timeout 30m
# The web UI: a Vite + React app, embedded into the portal with -tags ui.
WEB            := portal/web
WEB_DEPS       := $(WEB)/node_modules/.package-lock.json

##@ Development

.PHONY: help
help: ## Show the targets and what they do
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

.PHONY: generate
generate: generate-ui-types ## Generate deepcopy code, CRDs, RBAC and webhook manifests from the API types and markers, and the web UI's API types
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=deploy/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=streamspace-agent paths=./agent/... output:rbac:artifacts:config=deploy/rbac
	$(CONTROLLER_GEN) rbac:roleName=streamspace-portal paths=./portal output:rbac:artifacts:config=deploy/portal/rbac
	$(CONTROLLER_GEN) webhook paths=./agent/... output:webhook:artifacts:config=deploy/webhook
	@$(MAKE) --no-print-directory generate-chart

.PHONY: generate-chart
generate-chart: ## Copy the generated CRDs, RBAC rules and webhook, and the portal's NetworkPolicy, from deploy/ into the Helm chart (chart/crds, chart/generated), which reads them rather than retyping them
	rm -f chart/crds/*.yaml && cp deploy/crd/bases/*.yaml chart/crds/
	cp deploy/rbac/role.yaml chart/generated/agent-role.yaml
	cp deploy/portal/rbac/role.yaml chart/generated/portal-role.yaml
	cp deploy/webhook/manifests.yaml chart/generated/webhook.yaml
	cp deploy/portal/networkpolicy.yaml chart/generated/portal-networkpolicy.yaml

.PHONY: generate-ui-types
generate-ui-types: $(WEB_DEPS) ## Generate the web UI's API types (portal/web/src/api/types.ts) from portal/openapi.json with openapi-typescript
	cd $(WEB) && npm run generate:api-types

.PHONY: dashboards
dashboards: ## Generate the Grafana dashboards (chart/files/dashboards/*.json) from hack/dashboards (Grafana Foundation SDK)
	go run ./hack/dashboards -out chart/files/dashboards

.PHONY: plugins-wasm
plugins-wasm: ## Build the Go WebAssembly plugins of plugins/repository (pinned Go toolchain, reproducible) and write each module's sha256 into its plugin.yaml
	go run ./plugins/wasm/wasmbuild/build-plugins plugins/repository

.PHONY: fmt
fmt: ## Format the Go code
	gofmt -s -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet
	go vet ./...

##@ Test

.PHONY: test-ground
test-ground: ## Build kube-apiserver and etcd for envtest into the cache (a second run does nothing)
	@hack/kube-binaries.sh $(KUBE_BIN) etcd kube-apiserver

HELM_VERSION ?= v4.3.2
HELM         ?= $(CACHE_DIR)/tools-helm-$(HELM_VERSION)/helm

.PHONY: helm
helm: ## Build helm (helm.sh/helm/v4) into the cache for the chart's tests (a second run does nothing)
	@HELM_VERSION=$(HELM_VERSION) nice -n 19 hack/helm-binary.sh $(dir $(HELM))

.PHONY: prom-tools
prom-tools: ## Build promtool, prometheus and alertmanager into the cache (alert rule tests, the alerting proof, make observe; a second run does nothing)
	@nice -n 19 hack/prom-tools.sh $(CACHE_DIR) promtool prometheus alertmanager

METRICS_SERVER_VERSION ?= v0.8.0

.PHONY: cluster-binaries
cluster-binaries: ## Also build kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl, kwok, metrics-server (metrics.k8s.io on the real node) and kube-router (NetworkPolicy on the real node, local lab only) for a local cluster
	@hack/kube-binaries.sh $(KUBE_BIN) etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl kwok
	@METRICS_SERVER_VERSION=$(METRICS_SERVER_VERSION) nice -n 19 hack/metrics-server.sh $(CACHE_DIR)/tools-metrics-server-$(METRICS_SERVER_VERSION)
	@nice -n 19 hack/kube-router.sh $(CACHE_DIR)/tools-kube-router-v2.1.0

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: system-deps
system-deps: ## Install the Debian packages the tests use when missing: git, postgresql, tigervnc-standalone-server, websockify, nginx (forward auth in front of a session); as root also containerd, runc, CNI plugins, gcc and debootstrap (the local cluster's node and session images) and chromium (the web UI end to end)
	@missing=""; command -v git >/dev/null || missing="$$missing git"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v Xvnc >/dev/null || missing="$$missing tigervnc-standalone-server"; \
	command -v websockify >/dev/null || missing="$$missing websockify"; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	if [ "$$(id -u)" = 0 ]; then \
		command -v containerd >/dev/null || missing="$$missing containerd"; \
		command -v runc >/dev/null || missing="$$missing runc"; \
		[ -x /usr/lib/cni/bridge ] || missing="$$missing containernetworking-plugins"; \
		command -v gcc >/dev/null && [ -e /usr/include/stdio.h ] || missing="$$missing gcc libc6-dev"; \
		command -v debootstrap >/dev/null || missing="$$missing debootstrap"; \
		command -v ip >/dev/null || missing="$$missing iproute2"; \
		command -v nft >/dev/null || [ -x /usr/sbin/nft ] || missing="$$missing nftables"; \
		[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	fi; \
	if [ -n "$$missing" ]; then echo "==> Installing$$missing"; $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi

# Every Go test runs with the web UI built in (-tags ui): the portal's tests
# serve the real app, and the end-to-end tests drive it in Chromium.
GO_TAGS        := -tags ui

.PHONY: test
test: system-deps test-ground cluster-binaries prom-tools helm ui-test ui ## Run every test: unit, generated files, controllers, webhook and Git sync against a real kube-apiserver + etcd and real Git servers, the web UI's, and (as root) a session streaming on a real local node, used in Chromium through the web UI, and the Helm chart installed and used on it
	go vet $(GO_TAGS) ./...
	STREAMSPACE_TEST_CHART_INSTALL=1 go test $(GO_TAGS) $(GO_TEST_FLAGS) ./...

.PHONY: fuzz
fuzz: test-ground ## Run every Go fuzz target (RFB, Selkies, push receiver, write-back YAML editor, validate, API JSON bodies) for FUZZTIME each (default 60s) and print what each did; a crash fails it and leaves its input in the package's testdata/fuzz, which make test replays
	bash hack/fuzz.sh

.PHONY: soak
soak: test-ground ## The agent binary killed at random (SIGKILL, seeded: SOAK_SEED) during SOAK_CYCLES (default 1,000) launch/hibernate/wake cycles on a real API server, and the API server killed during 100 launches; prints faults, cycles, sessions checked, objects lost, orphans and mismatches (all 0). make test runs 200 cycles
	SOAK_CYCLES=$(or $(SOAK_CYCLES),1000) go test -count=1 -v -timeout 60m ./test/soak/

.PHONY: ui-test
ui-test: $(WEB_DEPS) ## Run the web UI's component tests (Vitest + Testing Library in jsdom)
	cd $(WEB) && npm test

.PHONY: e2e-ui
e2e-ui: system-deps cluster-binaries ui ## Only the web UI end to end (root): the platform on a real local node, the UI driven in Chromium (portal/web/e2e); screenshots in test-output/ui/
	go test $(GO_TAGS) -count=1 -v -run 'TestUI' ./test/e2e/

.PHONY: test-chart-install
test-chart-install: system-deps cluster-binaries helm ## The Helm chart on the real local node (root): static agent and portal images, helm install, launch, stream through the in-cluster portal, hibernate, wake, helm upgrade, helm uninstall (homes kept)
	STREAMSPACE_TEST_CHART_INSTALL=1 go test -count=1 -v -timeout 40m ./test/install/

.PHONY: bench-controller
bench-controller: test-ground ## Create 1,000 Sessions against a real API server beside a bare client-go writer of the same objects (same run): both totals and the ratio, p50/p99 per 100 sessions, agent RSS/CPU; PROFILE=dir adds the agent's CPU/block/mutex profiles
	go build -o bin/streamspace-agent ./cmd/streamspace-agent
	go run ./test/bench/controller -agent bin/streamspace-agent -sessions $(or $(SESSIONS),1000) $(if $(PROFILE),-profile $(PROFILE))

.PHONY: bench-gitsync
bench-gitsync: test-ground ## Sync a generated catalog of 1,000 templates beside a bare server-side apply of the same objects (same run): both totals and the ratio, no-op resync, one change, edit-to-drift times
	go run ./test/bench/gitsync -templates $(or $(TEMPLATES),1000)

.PHONY: bench-plugins
bench-plugins: system-deps test-ground ## Plugin events through the outbox to a webhook plugin at a local HTTPS receiver (SQLite and PostgreSQL) and to the WebAssembly Slack notifier, beside a direct-POST baseline: events/s flat out, and event-to-delivery p50/p99 at 1,000 events/s, against 1,000/s and 100 ms
	go run ./test/bench/plugins -events $(or $(EVENTS),10000)

.PHONY: bench-portal
bench-portal: system-deps test-ground ## Stream proxy vs direct and nginx (throughput, round trip) and GET /api/v1/sessions over 1,000 sessions; installs nginx if missing
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "==> Installing nginx"; $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nginx; }
	go run ./test/bench/portal -sessions $(or $(SESSIONS),1000)

.PHONY: bench-scale
bench-scale: test-ground ## 100, 1,000 and 10,000 Sessions (most hibernated) on a real API server, the agent and the portal as their own processes: per step the launch and hibernate times, agent and portal RSS, agent CPU, list latency, one launch among them all, a no-op resync's time and writes, and the growth from step to step; STEPS=100,1000 for a shorter run
	go build -o bin/streamspace-agent ./cmd/streamspace-agent
	go build -o bin/streamspace-portal ./cmd/streamspace-portal
	go run ./test/bench/scale -steps $(or $(STEPS),100,1000,10000)

.PHONY: bench-e2e
bench-e2e: system-deps cluster-binaries ## Launch and wake the light terminal ROUNDS times (default 10) on the real local node (root), request to first frame through the portal: p50/p95/max with the phases (scheduled, image ready, stream ready), the first launch after the image import apart
	STREAMSPACE_BENCH_E2E=$(or $(ROUNDS),10) go test ./test/e2e -run '^TestBench_launchAndWake$$' -count=1 -v -timeout 60m

##@ Run

.PHONY: run
run: system-deps cluster-binaries ui ## Run the whole platform on a local Kubernetes (a real node as root): session images, agent, portal with its UI; prints the URL and the admin login
	@command -v debootstrap >/dev/null || { echo "==> Installing debootstrap (session images)"; $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq debootstrap; }
	CGO_ENABLED=0 go build -trimpath -o bin/streamspace-idle ./cmd/streamspace-idle
	go run -tags ui ./cmd/streamspace local up --bins $(KUBE_BIN)

.PHONY: observe
observe: prom-tools ## Beside the local platform (make run): Prometheus on 127.0.0.1:9090 and Alertmanager on :9093 with the chart's alert rules, until Ctrl-C (alerts at /api/v1/alerts)
	hack/observe.sh $(CACHE_DIR) .state/observe

.PHONY: down
down: ## Stop the local platform's cluster: every process, pod network, mount and cgroup it made (home folders in .state/volumes stay)
	go run ./cmd/streamspace local down --bins $(KUBE_BIN)

.PHONY: cluster-up
cluster-up: cluster-binaries ## Start a real local Kubernetes in .state/cluster (etcd, API server, controller manager, scheduler; a containerd + kubelet node as root, else kwok); reuses what runs
	go run ./cmd/streamspace cluster up --bins $(KUBE_BIN)

.PHONY: cluster-down
cluster-down: ## Stop the local cluster by PID; remove its pods, network namespaces, bridge, mounts and cgroups (certificates and etcd data stay)
	go run ./cmd/streamspace cluster down

.PHONY: cluster-status
cluster-status: ## Show which local-cluster components run and are healthy, whether the node is Ready, and the kubeconfig
	go run ./cmd/streamspace cluster status

.PHONY: build
build: ui ## Build the binaries into bin/, the portal's with the web UI in it
	go build -tags ui -o bin/ ./cmd/...
	# static: it is the only file of the streamspace/idle image (local/images.BuildBinary)
	CGO_ENABLED=0 go build -trimpath -o bin/streamspace-idle ./cmd/streamspace-idle

.PHONY: ui
ui: $(WEB_DEPS) ## Build the web UI into portal/web/dist: type check, then vite build
	cd $(WEB) && npm run build

# npm ci when node_modules is missing or older than the lock file
$(WEB_DEPS): $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund
	@touch $@

.PHONY: clean
clean: ## Remove build outputs (not the Kubernetes binary cache)
	rm -rf bin/ $(WEB)/dist

##@ Session images

# Which images to build; empty: every one local/images has a recipe for.
IMAGES ?=
# e.g. IMAGES_FLAGS=--rebuild to take newer Debian (security) updates: a
# cached root file system is otherwise reused as it is.
IMAGES_FLAGS ?=

.PHONY: images
images: ## Build the session images streamspace/light, streamspace/webvnc (serves its own noVNC web client) and streamspace/firefox from Debian packages (root; no Docker, no registry) into .state/images, for `ctr -n k8s.io images import`
	@command -v debootstrap >/dev/null || { echo "==> Installing debootstrap"; $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq debootstrap; }
	go run ./cmd/streamspace images build --out .state/images $(IMAGES_FLAGS) $(IMAGES)

.PHONY: validate-image
validate-image: ## Build the image streamspace/validate (a static streamspace, entrypoint `streamspace validate`, one layer, no Docker) into .state/images/validate.tar, for a platform repository's CI
	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o bin/static/streamspace ./cmd/streamspace
	go run ./cmd/streamspace images validate-image --binary bin/static/streamspace --out .state/images

.PHONY: test-images
test-images: ## Build the session images and run each one without Kubernetes: a VNC client reads its stream through websockify, and webvnc's noVNC page loads from the session (root)
	STREAMSPACE_TEST_FIREFOX=1 go test -count=1 -v -run 'Image' ./local/images/
