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

.PHONY: test
test: lint typecheck build ## lint + typecheck + every test
	$(NPM) test

.PHONY: bench
bench: build ## benchmarks; `make bench ARGS=ingest` runs one
	$(NPM) run bench -- $(ARGS)

.PHONY: clean
clean: ## remove build output
	rm -rf dist coverage test-artifacts

.PHONY: help
help: ## this list
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'
