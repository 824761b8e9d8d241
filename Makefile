# One command for every gate. `make test` is what CI runs (.ci/run).
CARGO ?= cargo

.PHONY: tools test lint fmt bench bench-proofs bench-soak devnet contracts contracts-check

## Install the pinned anvil and solc (npm) into .tools/ (idempotent).
tools:
	@scripts/tools.sh

## Every test: the artifacts match the Solidity sources, then unit, doc and end-to-end tests on
## real anvil nodes.
test: contracts-check
	$(CARGO) test --workspace --locked

## Recompile the Solidity contracts with the pinned solc into crates/contracts/artifacts/.
contracts: tools
	node scripts/compile-contracts.js

## Fail if the committed artifacts differ from what the sources compile to.
contracts-check: tools
	node scripts/compile-contracts.js --check

## Formatting and clippy, warnings denied.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

## Benchmarks (release builds): print tables and write reports/*.json.
bench: tools
	$(CARGO) run --release --locked -p example-bench-exex -- --blocks 200 --txs 1000
	$(CARGO) run --release --locked -p example-bench-contracts
	$(CARGO) run --release --locked -p example-bench-gateway
	$(CARGO) run --release --locked -p example-bench-settlement -- --blocks 200 --batches 6
	$(CARGO) run --release --locked -p example-bench-migration
	$(CARGO) run --release --locked -p example-bench-interop
	$(CARGO) run --release --locked -p example-bench-bridge -- --rounds 20

## The soak benchmark (about 15 minutes): the devnet's pipeline for 10,000 blocks per chain, the
## process's RSS and the datadirs' size sampled (retention 120 s).
bench-soak: tools
	$(CARGO) run --release --locked -p example-bench-soak -- --blocks 10000 --txs 20 --retention-s 120

## The halo2 benchmark (about 40 minutes: aggregations at k = 21, a tree's top at k = 22): keygen, proving, memory, proof size, verify gas.
bench-proofs: tools
	$(CARGO) run --release --locked -p example-bench-proofs

## The main job: L1, the Gateway and two chains on anvil, every chain settling through its
## settlement ExEx, traffic and a live status view (Ctrl-C stops everything).
devnet: tools
	$(CARGO) run --release --locked -p gateway-node -- devnet
