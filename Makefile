# ecommerce-service: the two commands a newcomer needs are `make run` and `make test`.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Local runs never reach for real AWS credentials or the instance-metadata address.
export AWS_ACCESS_KEY_ID ?= test
export AWS_SECRET_ACCESS_KEY ?= test
export AWS_REGION ?= us-east-1
export AWS_EC2_METADATA_DISABLED := true

VENV ?= $(or $(VENV_DIR),.venv)

.PHONY: help run run-dynamodb test lint contract-test openapi python-tools infra-check infra-synth docker-check image-smoke browser-test bench bench-compare bench-smoke bench-notifications clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

run: ## Serve the API on http://localhost:8080 on the embedded engine (data in ./data)
	cargo run --bin ecommerce-service

# moto's account is 123456789012; CREATE_TABLE=true makes the table, topic and bus.
run-dynamodb: python-tools ## Serve the API against DynamoDB, SNS and EventBridge in the local emulator (moto)
	scripts/with-moto.sh env STORE=dynamodb CREATE_TABLE=true PORT=$${PORT:-8080} \
	  ORDER_TOPIC_ARN=arn:aws:sns:$(AWS_REGION):123456789012:ecommerce-orders EVENT_BUS_NAME=ecommerce-events \
	  cargo run --bin ecommerce-service

test: lint infra-check docker-check image-smoke browser-test contract-test bench-smoke ## Formatting, lints, infra checks, and every test against both engines
	scripts/with-moto.sh cargo test --all-targets

lint: ## cargo fmt --check and clippy with warnings as errors
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

openapi: ## Regenerate the committed openapi/openapi.json from the code
	cargo run --quiet --bin ecommerce-service -- openapi > openapi/openapi.json

python-tools: ## Create the project's Python venv (moto, cfn-lint, hadolint)
	scripts/python-tools.sh

infra/node_modules: infra/package.json infra/package-lock.json
	cd infra && npm ci --no-audit --no-fund
	touch infra/node_modules

infra-check: infra/node_modules python-tools ## Type check, assertion tests, cdk-nag, stale templates, cfn-lint
	cd infra && npm run --silent typecheck
	cd infra && npm test
	cd infra && npm run --silent check-templates
	# W3005 only: the ecs-patterns and pipeline constructs emit a redundant DependsOn.
	$(VENV)/bin/cfn-lint --ignore-checks W3005 -- infra/cloudformation/*.template.json

infra-synth: infra/node_modules ## Regenerate the committed CloudFormation templates
	cd infra && npm run --silent synth

docker-check: python-tools ## hadolint on the Dockerfile, and the compose file's schema (no engine needed)
	$(VENV)/bin/hadolint Dockerfile
	docker-compose -f docker-compose.yml config -q

image-smoke: ## Build the release binary as the Dockerfile's build stage does, and run its healthcheck
	cargo build --release --locked --bin ecommerce-service
	scripts/image-smoke.sh "$${CARGO_TARGET_DIR:-target}/release/ecommerce-service"

contract-test: python-tools ## schemathesis, every check, against the served document (AUTH_MODE off and jwt)
	cargo build --bin ecommerce-service
	$(VENV)/bin/python tests/contract/run.py "$${CARGO_TARGET_DIR:-target}/debug/ecommerce-service"

tests/browser/node_modules: tests/browser/package.json tests/browser/package-lock.json
	cd tests/browser && npm ci --no-audit --no-fund
	touch tests/browser/node_modules

browser-test: tests/browser/node_modules ## Swagger UI in Debian's headless Chromium, offline (screenshot in target/browser/)
	cargo build --bin ecommerce-service
	cd tests/browser && npm test

bench: python-tools ## Throughput, latency, CPU and memory per request, start-up, durability (BENCHMARKS.md)
	cargo build --release --locked --bin ecommerce-service
	scripts/with-moto.sh $(VENV)/bin/python benches/api.py

bench-compare: ## Compare target/bench/results.json with an earlier one: make bench-compare BASE=<file>
	$(VENV)/bin/python benches/compare.py "$(BASE)"

# A few seconds of every scenario: proves the harness works (zero errors,
# nothing lost on kill -9), never judges speed.
bench-smoke: python-tools
	cargo build --release --locked --bin ecommerce-service
	BENCH_SMOKE=1 scripts/with-moto.sh $(VENV)/bin/python benches/api.py

bench-notifications: python-tools ## Notifications per second from a 10,000-message backlog (SQS path on moto, embedded feed)
	cargo build --release --locked --bin ecommerce-service
	scripts/with-moto.sh $(VENV)/bin/python benches/notifications.py

clean: ## Remove build output and local data
	cargo clean
	rm -rf data
