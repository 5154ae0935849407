#!/usr/bin/env bash
# Runs every test: the unit tests, then the cluster tests against a real local control plane
# (etcd, kube-apiserver, controller-manager, scheduler, KWOK GPU nodes) and the chain tests
# against a real subtensor runtime (chopsticks, e2e/chain.sh), both started here and always torn
# down. This is `make test`, and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
log() { printf '[run-tests %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

log "building the control plane binaries (cached under ~/.cache/subnet-operator)"
e2e/tools/build-bins.sh >/dev/null
log "preparing the bittensor SDK venv (cached under ~/.cache/subnet-operator)"
SUBNET_OPERATOR_PYTHON=$(e2e/tools/python-venv.sh | tail -n1)
export SUBNET_OPERATOR_PYTHON
log "installing chopsticks, the real subtensor runtime's host (cached under ~/.cache/subnet-operator)"
E2E_CHOPSTICKS=$(e2e/tools/chopsticks.sh | tail -n1)
# e2e/chain.sh and tests that start a chain of their own (e2e::Chopsticks) use this binary.
export E2E_CHOPSTICKS
log "building the workspace and its tests"
cargo test --workspace --no-run

# Both are always stopped, whichever failed (each `down` is a no-op when it is not running).
teardown() {
  e2e/chain.sh down || log "e2e/chain.sh down failed"
  e2e/cluster.sh down || log "e2e/cluster.sh down failed"
}
log "starting the local control plane"
trap teardown EXIT
e2e/cluster.sh up
eval "$(e2e/cluster.sh env)"
log "starting the shared chain (chopsticks, subtensor spec 218)"
e2e/chain.sh up
eval "$(e2e/chain.sh env)"
export E2E_REQUIRED=1
log "unit and cluster tests"
# Cluster tests mostly wait on the control plane: more threads than cores is fine.
rm -rf target/e2e-logs
RUST_TEST_THREADS=${RUST_TEST_THREADS:-6} cargo test --workspace
log "secret scan over the run's operator logs and events"
cargo test -p e2e --test log_scan -- --ignored
log "all tests passed in $(( $(date +%s) - t0 ))s"
