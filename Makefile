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

.PHONY: test-hostile
test-hostile: install ## fuzzing and 1,000 hostile clients against a gateway process
	$(NPM) run test:hostile

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

.PHONY: clean
clean: ## remove build output
	rm -rf dist coverage test-artifacts

.PHONY: help
help: ## this list
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'
