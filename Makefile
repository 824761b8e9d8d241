# One command for every gate. `make test` is what CI runs (.ci/run).
CARGO ?= cargo

.PHONY: tools test lint fmt bench devnet

## Install the pinned anvil and solc (npm) into .tools/ (idempotent).
tools:
	@scripts/tools.sh

## Every test: unit, doc and end-to-end on real anvil nodes.
test: tools
	$(CARGO) test --workspace --locked

## Formatting and clippy, warnings denied.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

## Benchmarks (release builds): print tables and write reports/*.json.
bench: tools
	$(CARGO) run --release --locked -p example-bench-exex -- --blocks 200 --txs 1000

## The main job: for now anvil with traffic, followed through the ExEx host (Ctrl-C stops it).
devnet: tools
	$(CARGO) run --release --locked -p example-follow-anvil
