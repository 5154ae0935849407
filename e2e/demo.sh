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

log "building the operator"
cargo build -p subnet-operator --bins

log "starting the local control plane (first run builds Kubernetes from source; see README)"
e2e/cluster.sh up
eval "$(e2e/cluster.sh env)"
state=$(e2e/cluster.sh state-dir)

log "installing the CRDs"
kubectl apply --server-side -f crds/
kubectl wait --for=condition=Established crd/subnets.subnet-operator.io crd/miners.subnet-operator.io crd/validators.subnet-operator.io --timeout=60s

log "starting a SIMULATED chain (in-memory model of subtensor's rules; log: $state/simchain.log)"
setsid target/debug/subnet-operator-simchain --genesis e2e/demo-genesis.yaml --listen 127.0.0.1:19955 \
  --block-ms 1000 >"$state/simchain.log" 2>&1 &
echo "subnet-operator-simchain $!" >>"$state/pids"

log "starting the operator against it (log: $state/operator.log)"
KUBECONFIG="$SUBNET_OPERATOR_E2E_KUBECONFIG" POD_NAMESPACE=default CHAIN_BACKEND=sim \
  SIM_CHAIN_URL=http://127.0.0.1:19955 \
  setsid target/debug/subnet-operator --metrics-addr 127.0.0.1:18080 >"$state/operator.log" 2>&1 &
echo "subnet-operator $!" >>"$state/pids"

log "applying manifests/samples"
kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f -
kubectl -n demo apply -f manifests/samples/

log "waiting for the operator to report"
for _ in $(seq 1 60); do
  n=$(kubectl -n demo get miners,validators -o jsonpath='{range .items[*]}{.status.readyReplicas}{"\n"}{end}' | grep -c '[1-9]' || true)
  ready=$(kubectl -n demo get subnet sn18 -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')
  [ "$n" -ge 2 ] && [ "$ready" = True ] && break
  sleep 1
done

kubectl -n demo get subnets,miners,validators -o wide
log "the subnet as read from the simulated chain"
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
KWOK nodes with its axon exposed, reads the subnet (price, UIDs, blocks) from a SIMULATED chain
(the in-memory model; no real network is involved), and serves metrics at
http://127.0.0.1:18080/metrics. The samples register manually (registration.mode: Manual), so
they wait for you; see README "Registration and the chain" for operator-paid registration.
Not in this version: the client for real networks (finney, testnet, a localnet in kind).

Explore:  eval "\$(e2e/cluster.sh env)"; kubectl -n demo describe miner h100-fleet
Stop:     e2e/cluster.sh down
MSG
