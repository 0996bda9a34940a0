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
GO_TEST_FLAGS  ?=

##@ Development

.PHONY: help
help: ## Show the targets and what they do
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

.PHONY: generate
generate: ## Generate deepcopy code, CRDs, RBAC and webhook manifests from the API types and markers
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=deploy/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=streamspace-agent paths=./agent/... output:rbac:artifacts:config=deploy/rbac
	$(CONTROLLER_GEN) webhook paths=./agent/... output:webhook:artifacts:config=deploy/webhook

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

.PHONY: cluster-binaries
cluster-binaries: ## Also build kube-controller-manager, kube-scheduler, kubelet, kubectl and kwok for a local cluster
	@hack/kube-binaries.sh $(KUBE_BIN) etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl kwok

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: system-deps
system-deps: ## Install the Debian packages the tests use when missing: git, postgresql, tigervnc-standalone-server, websockify
	@missing=""; command -v git >/dev/null || missing="$$missing git"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v Xvnc >/dev/null || missing="$$missing tigervnc-standalone-server"; \
	command -v websockify >/dev/null || missing="$$missing websockify"; \
	if [ -n "$$missing" ]; then echo "==> Installing$$missing"; $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi

.PHONY: test
test: system-deps test-ground ## Run every test: unit, generated files, controllers, webhook and Git sync against a real kube-apiserver + etcd and real Git servers
	go vet ./...
	go test $(GO_TEST_FLAGS) ./...

.PHONY: bench-controller
bench-controller: test-ground ## Create 1,000 Sessions against a real API server; print reconcile latency p50/p99, total time and the agent's peak RSS
	go build -o bin/streamspace-agent ./cmd/streamspace-agent
	go run ./test/bench/controller -agent bin/streamspace-agent -sessions $(or $(SESSIONS),1000)

.PHONY: bench-gitsync
bench-gitsync: test-ground ## Sync a generated catalog of 1,000 templates: full sync, no-op resync, one change, edit-to-drift times
	go run ./test/bench/gitsync -templates $(or $(TEMPLATES),1000)

.PHONY: bench-portal
bench-portal: system-deps test-ground ## Stream proxy vs direct and nginx (throughput, round trip) and GET /api/v1/sessions over 1,000 sessions; installs nginx if missing
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "==> Installing nginx"; $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nginx; }
	go run ./test/bench/portal -sessions $(or $(SESSIONS),1000)

##@ Run

.PHONY: run
run: system-deps test-ground ## Run a local control plane (kube-apiserver + etcd) with the StreamSpace CRDs and the agent
	go run ./cmd/streamspace local up

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
build: ## Build the binaries into bin/
	go build -o bin/ ./cmd/...

.PHONY: clean
clean: ## Remove build outputs (not the Kubernetes binary cache)
	rm -rf bin/
