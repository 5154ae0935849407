#!/usr/bin/env bash
# The main job (`make demo`) on a machine without Docker: a local control plane with KWOK GPU
# nodes, the CRDs, the operator (built from this tree) and the samples, then what the operator
# reports. It shows only what this version really does.
#
#   make demo                 # leaves the cluster and operator running to explore
#   e2e/cluster.sh down       # stops everything
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '\n== %s\n' "$*" >&2; }

# With a Docker engine and kind: the real path (kind, the operator image, the Helm chart, the
# official subtensor localnet image). DEMO_LOCAL=1 forces the local path below.
if [ -z "${DEMO_LOCAL:-}" ] && command -v kind >/dev/null && docker info >/dev/null 2>&1; then
  log "Docker and kind found: running e2e/kind/run.sh (set DEMO_LOCAL=1 for the local control plane)"
  exec e2e/kind/run.sh
fi
# The localnet's chain: subtensor's real runtime (spec 218 under chopsticks, from npm) when it can
# be installed, else the SIMULATED chain (the in-memory model).
if chopsticks=$(e2e/tools/chopsticks.sh 2>/dev/null | tail -n1) && [ -x "$chopsticks" ]; then
  export E2E_CHOPSTICKS=$chopsticks
  real=1
  log "no Docker engine (or no kind): the local control plane, with subtensor's REAL runtime (spec 218 under chopsticks) standing in for the localnet"
else
  real=
  log "no Docker engine (or no kind), no chopsticks: the local control plane, with a SIMULATED chain standing in for the localnet"
fi

log "building the operator"
cargo build -p subnet-operator --bins

log "starting the local control plane (first run builds Kubernetes from source; see README)"
e2e/cluster.sh up
eval "$(e2e/cluster.sh env)"
state=$(e2e/cluster.sh state-dir)

log "installing the CRDs"
kubectl apply --server-side -f crds/
kubectl wait --for=condition=Established crd/subnets.subnet-operator.io crd/miners.subnet-operator.io crd/validators.subnet-operator.io --timeout=60s

if [ -n "$real" ]; then
  log "starting subtensor's real runtime (spec 218 wasm under chopsticks; e2e/chain.sh)"
  e2e/chain.sh up
  eval "$(e2e/chain.sh env)"
  # A localnet builds a block every 250 ms; chopsticks builds them on demand: one a second,
  # until the chain stops.
  # shellcheck disable=SC2016 # $0 expands in the inner shell
  setsid bash -c 'while curl -fsS -o /dev/null -H "content-type: application/json" \
      -d "{\"id\":1,\"jsonrpc\":\"2.0\",\"method\":\"dev_newBlock\",\"params\":[{\"count\":1}]}" "$0"; do
      sleep 1; done' "$SUBTENSOR_HTTP" >/dev/null 2>&1 &
  # Each Subnet names its chain. The localnet Subnet is pointed at chopsticks below (its own
  # Service is not reachable from outside the cluster); FINNEY_ENDPOINTS points the finney samples
  # at chopsticks too, which is not Finney: they report WrongNetwork, and nothing is sent there.
  log "starting the operator (real chains, the default; FINNEY_ENDPOINTS=chopsticks; log: $state/operator.log)"
  KUBECONFIG="$SUBNET_OPERATOR_E2E_KUBECONFIG" POD_NAMESPACE=default \
    FINNEY_ENDPOINTS="$SUBTENSOR_WS" \
    setsid target/debug/subnet-operator --metrics-addr 127.0.0.1:18080 >"$state/operator.log" 2>&1 &
else
  log "starting a SIMULATED chain (in-memory model of subtensor's rules; log: $state/simchain.log)"
  setsid target/debug/subnet-operator-simchain --genesis e2e/demo-genesis.yaml --listen 127.0.0.1:19955 \
    --block-ms 1000 >"$state/simchain.log" 2>&1 &
  echo "subnet-operator-simchain $!" >>"$state/pids"
  log "starting the operator against it (log: $state/operator.log)"
  KUBECONFIG="$SUBNET_OPERATOR_E2E_KUBECONFIG" POD_NAMESPACE=default CHAIN_BACKEND=sim \
    SIM_CHAIN_URL=http://127.0.0.1:19955 \
    setsid target/debug/subnet-operator --metrics-addr 127.0.0.1:18080 >"$state/operator.log" 2>&1 &
fi
echo "subnet-operator $!" >>"$state/pids"

log "applying manifests/samples"
kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f -
kubectl -n demo apply -f manifests/samples/

log "applying manifests/samples/localnet (a localnet Subnet, 3 miners, a validator) in namespace localnet"
kubectl create namespace localnet --dry-run=client -o yaml | kubectl apply -f -
if [ -n "$real" ]; then
  # The samples as they are, but the Subnet reaches its localnet at chopsticks.
  sed "s|^  network: local\$|  network: local\n  endpoints: [\"$SUBTENSOR_WS\"]|" \
    manifests/samples/localnet/00-subnet.yaml | kubectl -n localnet apply -f -
  kubectl -n localnet apply -f manifests/samples/localnet/01-coldkey.yaml \
    -f manifests/samples/localnet/02-miner.yaml -f manifests/samples/localnet/03-validator.yaml
else
  kubectl -n localnet apply -f manifests/samples/localnet/
fi

log "waiting for the operator to report"
for _ in $(seq 1 60); do
  n=$(kubectl -n demo get miners,validators -o jsonpath='{range .items[*]}{.status.readyReplicas}{"\n"}{end}' | grep -c '[1-9]' || true)
  ready=$(kubectl -n demo get subnet sn18 -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')
  # On the real runtime sn18 is a finney Subnet whose endpoint is chopsticks: WrongNetwork.
  [ "$n" -ge 2 ] && { [ "$ready" = True ] || [ -n "$real" ]; } && break
  sleep 1
done

for _ in $(seq 1 240); do
  m=$(kubectl -n localnet get miner dev-miners -o jsonpath='{.status.registeredReplicas}')
  v=$(kubectl -n localnet get validator dev-validator -o jsonpath='{.status.registeredReplicas}')
  [ "${m:-0}" = 3 ] && [ "${v:-0}" = 1 ] && break
  sleep 1
done

kubectl -n demo get subnets,miners,validators -o wide
log "the localnet: scaffolded by the operator, miners and validator registered by it"
kubectl -n localnet get subnets,miners,validators -o wide
kubectl -n localnet get subnet dev -o jsonpath='{range .status.scaffold[*]}{.name}: {.state} at block {.block} {.message}{"\n"}{end}'

log "the subnet as read from the chain ($([ -n "$real" ] && echo "real runtime behind FINNEY_ENDPOINTS, but not Finney: WrongNetwork, nothing read or sent" || echo simulated))"
kubectl -n demo get subnet sn18 -o jsonpath='price {.status.registrationPriceTao} TAO, uids {.status.uids}, block {.status.finalizedBlock}, endpoint: {.status.endpoint}{"\n"}'
log "conditions"
kubectl -n demo get subnets,miners,validators \
  -o custom-columns='KIND:.kind,NAME:.metadata.name,READY:.status.conditions[?(@.type=="Ready")].status,REASON:.status.conditions[?(@.type=="Ready")].reason,MESSAGE:.status.conditions[?(@.type=="Ready")].message'
log "pods, one per replica, on the GPU nodes"
kubectl -n demo get pods -o wide
log "hotkeys (public addresses only)"
kubectl -n demo get miners,validators -o jsonpath='{range .items[*]}{.metadata.name}{": "}{range .status.replicaStatuses[*]}{.index}={.hotkey} {end}{"\n"}{end}'
log "nodes (KWOK, with GPU capacity)"
kubectl get nodes -L nvidia.com/gpu.product -o custom-columns='NAME:.metadata.name,GPU:.status.allocatable.nvidia\.com/gpu,MIG:.status.allocatable.nvidia\.com/mig-3g\.20gb,PRODUCT:.metadata.labels.nvidia\.com/gpu\.product'
cat <<MSG

What you see is what this version does: it validates Subnets, Miners and Validators at
admission, creates one hotkey Secret per replica, runs each replica as a GPU-scheduled pod on the
KWOK nodes with its axon exposed, reads the subnet (price, UIDs, blocks) from
$([ -n "$real" ] && echo "subtensor's real runtime (no real network is involved: sn18 says finney, its endpoint answers with another genesis, so it is WrongNetwork)" || echo "a SIMULATED chain (the in-memory model; no real network is involved)"), and serves metrics at
http://127.0.0.1:18080/metrics. The samples register manually (registration.mode: Manual), so
they wait for you; see README "Registration and the chain" for operator-paid registration.
In namespace localnet the operator scaffolded a subnet (owner key, register_network, start_call,
hyperparameters, funding) and registered 3 miners and a validator, and staked it (on the real
spec-218 runtime a stake into a new subnet buys no alpha, so STAKE shows 0 there); the
localnet StatefulSet runs the real image's spec, but under KWOK no container runs. The chain:
$([ -n "$real" ] && echo "subtensor's real runtime (the spec-218 wasm of Feb 2025) under chopsticks, through the operator's
subxt client; steps that runtime lacks are marked Skipped with the reason. Stop it with
e2e/chain.sh down." || echo "the simulation (chopsticks could not be installed).")

Explore:  eval "\$(e2e/cluster.sh env)"; kubectl -n demo describe miner h100-fleet
Stop:     e2e/cluster.sh down; e2e/chain.sh down
MSG
