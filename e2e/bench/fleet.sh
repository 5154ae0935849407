#!/usr/bin/env bash
# Benchmark (prints figures; never a pass/fail timing test): how long the operator takes to
# converge an N-replica Miner (default 1000) on the local control plane, against
# `kubectl apply --server-side` of the very objects the operator made, and how many writes it
# makes once nothing changes.
#
#   e2e/cluster.sh up && e2e/bench/fleet.sh [N]
#
# Converged = every replica's pod Ready (KWOK marks pods Running/Ready), for both paths. The
# operator is the debug build of this tree unless OPERATOR_BIN is set (a release build is
# faster: cargo build --release -p subnet-operator --bin subnet-operator).
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-1000}
eval "$(e2e/cluster.sh env)"
export KUBECONFIG="$SUBNET_OPERATOR_E2E_KUBECONFIG"
bin=${OPERATOR_BIN:-target/debug/subnet-operator}
[ -x "$bin" ] || cargo build -q -p subnet-operator --bin subnet-operator
work=$(mktemp -d)
a=bench-op-$$
b=bench-ssa-$$
op_pid=
cleanup() {
  if [ -n "$op_pid" ]; then kill "$op_pid" 2>/dev/null || true; fi
  kubectl delete namespace "$a" "$b" --wait=false >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }
ready_pods() {
  kubectl -n "$1" get pods -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True || true
}
wait_ready() {
  while [ "$(ready_pods "$1")" -lt "$n" ]; do sleep 1; done
}

kubectl apply --server-side -f crds/ >/dev/null
kubectl wait --for=condition=Established crd/miners.subnet-operator.io --timeout=60s >/dev/null
kubectl create namespace "$a" >/dev/null
kubectl create namespace "$b" >/dev/null
kubectl -n "$a" apply -f - >/dev/null <<YAML
apiVersion: subnet-operator.io/v1alpha1
kind: Subnet
metadata: {name: sn}
spec: {network: finney, netuid: 18}
YAML
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
CHAIN_BACKEND=none WATCH_NAMESPACE="$a" LEASE_NAMESPACE="$a" POD_NAME=bench METRICS_ADDR="127.0.0.1:$port" \
  RUST_LOG=warn "$bin" >"$work/operator.log" 2>&1 &
op_pid=$!
until curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do sleep 0.2; done

echo "operator: a Miner with $n replicas (no chain: objects and pods only)"
t0=$(now)
kubectl -n "$a" apply -f - >/dev/null <<YAML
apiVersion: subnet-operator.io/v1alpha1
kind: Miner
metadata: {name: bench}
spec:
  subnetRef: {name: sn}
  replicas: $n
  wallet: {coldkeyPub: {ss58: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY}}
  registration: {mode: Manual}
  template:
    image: bench:1
    resources: {requests: {cpu: 10m, memory: 16Mi}}
YAML
wait_ready "$a"
pods_secs=$(since "$t0")
# The operator has converged when its status says so, too.
until [ "$(kubectl -n "$a" get miner bench -o jsonpath='{.status.readyReplicas}')" = "$n" ]; do sleep 1; done
op_secs=$(since "$t0")
echo "  all $n pods Ready after ${pods_secs}s; the Miner's status says $n/$n ready after ${op_secs}s"

writes() { curl -fsS "http://127.0.0.1:$port/metrics" | awk '/^subnet_operator_kube_writes_total/ {s+=$2} END {print s+0}'; }
curl -fsS "http://127.0.0.1:$port/metrics" | grep '^subnet_operator_kube_writes_total' >"$work/w0"
w0=$(writes)
sleep 30
w1=$(writes)
curl -fsS "http://127.0.0.1:$port/metrics" | grep '^subnet_operator_kube_writes_total' >"$work/w1"
echo "  writes in the next 30 s, with nothing changing: $(( ${w1%.*} - ${w0%.*} ))"
diff "$work/w0" "$work/w1" | sed -n 's/^> /    now: /p' || true

echo "kubectl apply --server-side of the same objects (StatefulSets, Services, Secrets)"
kubectl -n "$a" get statefulsets,services,secrets -l app.kubernetes.io/managed-by=subnet-operator -o json >"$work/objects.json"
python3 - "$work/objects.json" "$b" >"$work/ssa.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
for o in doc["items"]:
    m = o["metadata"]
    for k in ("uid", "resourceVersion", "creationTimestamp", "managedFields", "ownerReferences", "generation"):
        m.pop(k, None)
    m["namespace"] = sys.argv[2]
    o.pop("status", None)
    if o["kind"] == "Service":
        for k in ("clusterIP", "clusterIPs"):
            o["spec"].pop(k, None)
        # Node ports are allocated anew, as they were for the operator's Services.
        for p in o["spec"].get("ports", []):
            p.pop("nodePort", None)
print(json.dumps(doc))
PY
count=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$work/ssa.json")
t1=$(now)
kubectl apply --server-side --field-manager=bench -f "$work/ssa.json" >/dev/null
wait_ready "$b"
ssa_secs=$(since "$t1")
echo "  $count objects applied, all $n pods Ready after ${ssa_secs}s"
python3 -c "import sys; print(f'ratio operator (pods Ready) / kubectl apply --server-side: {float(sys.argv[1]) / float(sys.argv[2]):.2f} (goal: at most 1.5)')" "$pods_secs" "$ssa_secs"
