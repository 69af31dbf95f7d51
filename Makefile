# ecommerce-service: the two commands a newcomer needs are `make run` and `make test`.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Local runs never reach for real AWS credentials or the instance-metadata address.
export AWS_ACCESS_KEY_ID ?= test
export AWS_SECRET_ACCESS_KEY ?= test
export AWS_REGION ?= us-east-1
export AWS_EC2_METADATA_DISABLED := true

.PHONY: help run run-dynamodb test lint unit openapi python-tools clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

run: ## Serve the API on http://localhost:8080 on the embedded engine (data in ./data)
	cargo run --bin ecommerce-service

run-dynamodb: python-tools ## Serve the API against DynamoDB in the local emulator (moto)
	scripts/with-moto.sh env STORE=dynamodb CREATE_TABLE=true PORT=$${PORT:-8080} cargo run --bin ecommerce-service

test: lint ## Formatting, lints, and every test against both engines
	scripts/with-moto.sh cargo test --all-targets

lint: ## cargo fmt --check and clippy with warnings as errors
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

openapi: ## Regenerate the committed openapi/openapi.json from the code
	cargo run --quiet --bin ecommerce-service -- openapi > openapi/openapi.json

python-tools: ## Create the project's Python venv (moto)
	scripts/python-tools.sh

clean: ## Remove build output and local data
	cargo clean
	rm -rf data
