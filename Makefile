# producer-profile: `make run` to start everything locally, `make test` to test it.
# Every target installs and starts what it needs on a fresh Debian machine with Rust.

SHELL := /bin/bash
CARGO ?= cargo
BIN := target/debug/producer-profile
export TEST_DATABASE_URL ?= postgres://producer_profile:producer_profile@127.0.0.1:5432/producer_profile

.PHONY: help deps services services-down migrate run run-hint demo test docs-check proto-check bench lint build dev-config schema helm-check

help:
	@echo "make run            start Postgres + Kafka (tansu), migrate, serve gRPC on 127.0.0.1:50051"
	@echo "                    and run the webhook dispatcher alongside"
	@echo "make demo           the five-minute tour: a signed webhook receiver, a producer, its events"
	@echo "make test           start the local services and run every test"
	@echo "make lint           rustfmt check and clippy with -D warnings"
	@echo "make bench          benchmarks: our paths against reference paths, as ratios"
	@echo "make helm-check     lint the Helm chart, render it, validate the manifests offline"
	@echo "make docs-check     run the README's grpcurl commands against a fresh server"
	@echo "make proto-check    buf lint and buf breaking (each proto commit, uncommitted changes)"
	@echo "make services       install (where missing) and start Postgres and tansu"
	@echo "make services-down  stop them"
	@echo "make migrate        apply database migrations"
	@echo "make schema         regenerate src/storage/schema.rs with the diesel CLI"

deps:
	@scripts/local-services.sh deps

services:
	@scripts/local-services.sh up

services-down:
	@scripts/local-services.sh down

dev-config:
	@scripts/dev-config.sh

build: deps
	$(CARGO) build --bins --examples

migrate: services dev-config build
	$(BIN) migrate

run: migrate
	@$(MAKE) -s run-hint
	scripts/run-local.sh

# What `make run` prints (make docs-check runs these commands too).
run-hint:
	@echo
	@echo "Serving on 127.0.0.1:50051 with the webhook dispatcher (Ctrl-C stops both)."
	@echo "In another terminal (more in README.md, \"A grpcurl session\"):"
	@echo "  TOKEN=\$$($(BIN) token --account ACME --scope 'producers:read producers:write producers:pii')"
	@echo "  grpcurl -plaintext -H \"authorization: Bearer \$$TOKEN\" \\"
	@echo "    -d '{\"producer\":{\"npn\":\"1234567\",\"individual\":{\"firstName\":\"Ada\",\"lastName\":\"Lovelace\"}}}' \\"
	@echo "    127.0.0.1:50051 producerprofile.v1.ProducerProfileService/CreateProducer"
	@echo "  grpcurl -plaintext -H \"authorization: Bearer \$$TOKEN\" \\"
	@echo "    -d '{\"npn\":\"1234567\"}' 127.0.0.1:50051 producerprofile.v1.ProducerProfileService/GetProducerByNpn"
	@echo

demo: migrate
	@scripts/demo.sh

test: services
	$(CARGO) test --all-targets
	@$(MAKE) -s docs-check

# The README's grpcurl sessions, docs/ and `make run`'s hint, run as written against a
# fresh server and dispatcher with grpcurl 1.8.6; metrics scraped with prometheus_client.
docs-check: services dev-config build
	@scripts/docs-check.sh

# buf lint, and buf breaking for each commit that changed proto/ and for uncommitted changes.
proto-check:
	@scripts/proto-check.sh

# Release build; BENCH_ROUNDS=n for more rounds, BENCH=name for one benchmark.
bench: services
	$(CARGO) bench --bench ratios -- $(BENCH)

helm-check:
	@scripts/helm-check.sh

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

# Needs the diesel CLI: cargo install diesel_cli --no-default-features --features postgres
schema: services
	diesel migration run --database-url "$(TEST_DATABASE_URL)" --migration-dir migrations
	diesel print-schema --database-url "$(TEST_DATABASE_URL)" > src/storage/schema.rs
