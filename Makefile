# subnet-operator: one entry point for people and CI.
#   make demo      the main job: a local control plane, the CRDs, the operator, the samples
#   make test      everything CI runs: unit tests + tests against a real local control plane
#   make lint      rustfmt --check, clippy -D warnings, shell script checks
#   make generate  regenerate crds/, the chart's CRD templates and manifests/install.yaml

SHELL := /bin/bash
CARGO ?= cargo

.PHONY: all demo test unit e2e lint fmt generate build bins bench bench-rpc cluster-up cluster-down clean

all: build

build:
	$(CARGO) build --workspace --all-targets

## Builds (or reuses from ~/.cache/subnet-operator) the control plane binaries.
bins:
	e2e/tools/build-bins.sh >/dev/null

## Unit tests only (no cluster).
unit:
	$(CARGO) test -p subnet-operator

## Everything: unit tests, then the cluster tests against a local control plane that is started
## here and always torn down.
test:
	e2e/run-tests.sh

## Benchmark: a 1,000-replica Miner, then 10 Miners of 500, against kubectl apply --server-side
## of the same objects (needs `e2e/cluster.sh up`); `make bench N=200 FLEETS=1` for one run.
bench:
ifdef N
	e2e/bench/fleet.sh $(N) $(or $(FLEETS),1)
else
	e2e/bench/fleet.sh 1000 1
	e2e/bench/fleet.sh 500 10
endif

## Benchmark: RPC requests per block per subnet at 10 registered replicas and at 1,000 (Manual),
## counted at the endpoint (needs `e2e/cluster.sh up` and `e2e/chain.sh up`, for the tooling).
bench-rpc:
	for run in "10 0" "1000 1"; do set -- $$run; \
	  out=$$(E2E_REQUIRED=1 E2E_RPC_REPLICAS=$$1 E2E_RPC_MANUAL=$$2 $(CARGO) test -p e2e --test chain_reads -- --nocapture 2>&1); rc=$$?; \
	  echo "$$out" | grep -E 'RPC requests per block|idle chain|test result|panicked|Error'; [ $$rc = 0 ] || exit $$rc; \
	done

## The main job: see README "Quick start".
demo:
	e2e/demo.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
# One file per `bash -n`: given several, bash checks the first and takes the rest as arguments.
	for f in e2e/*.sh e2e/tools/*.sh e2e/kind/*.sh e2e/bench/*.sh charts/*.sh .ci/run; do bash -n "$$f" || exit 1; done
	if command -v shellcheck >/dev/null; then shellcheck -x e2e/*.sh e2e/tools/*.sh e2e/kind/*.sh e2e/bench/*.sh charts/*.sh .ci/run; else echo "shellcheck not installed: skipped (CI installs it)"; fi
	e2e/tools/hadolint.sh

fmt:
	$(CARGO) fmt --all

generate:
	$(CARGO) run -q -p subnet-operator --bin crdgen -- crds
	charts/generate.sh

cluster-up:
	e2e/cluster.sh up

cluster-down:
	e2e/cluster.sh down

clean:
	e2e/cluster.sh down || true
	$(CARGO) clean
