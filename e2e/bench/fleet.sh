#!/usr/bin/env bash
# Benchmark (prints figures; never a pass/fail timing test): what a fleet costs its user on the
# local control plane. FLEETS Miners of N replicas each (default one of 1000) are applied and
# timed until every pod is Ready and until every Miner's status says so, against the floor:
# `kubectl apply --server-side` of the very objects the operator made, in a fresh namespace, in
# the same run. Then 60 s with nothing changing. Printed, as a table:
# - pods Ready and status Ready, in seconds and as ratios to the floor;
# - for reference, one plain StatefulSet of all the replicas (what users run today without an
#   operator; it mounts no per-replica key);
# - the operator's peak RSS (VmHWM), its CPU seconds while converging and in the 60 s at rest;
# - its Kubernetes API requests by verb (its own `subnet_operator_kube_requests_total`) while
#   converging and at rest, and its writes at rest.
#
#   e2e/cluster.sh up && e2e/bench/fleet.sh [N] [FLEETS]
#
# The operator is the release build of this tree (built here) unless OPERATOR_BIN is set. It
# runs without a chain (CHAIN_BACKEND=none): objects and pods only. KWOK marks pods Ready.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-1000}
fleets=${2:-1}
total=$(( n * fleets ))
eval "$(e2e/cluster.sh env)"
export KUBECONFIG="$SUBNET_OPERATOR_E2E_KUBECONFIG"
if [ -z "${OPERATOR_BIN:-}" ]; then
  cargo build -q --release -p subnet-operator --bin subnet-operator
fi
bin=${OPERATOR_BIN:-target/release/subnet-operator}
work=$(mktemp -d)
a=bench-op-$$
b=bench-ssa-$$
c=bench-sts-$$
op_pid=
cleanup() {
  if [ -n "$op_pid" ]; then kill "$op_pid" 2>/dev/null || true; fi
  kubectl delete namespace "$a" "$b" "$c" --wait=false >/dev/null 2>&1 || true
  kubectl delete nodes -l "bench=$$" --wait=false >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }
ready_pods() {
  kubectl -n "$1" get pods -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True || true
}
wait_ready() {
  while [ "$(ready_pods "$1")" -lt "$total" ]; do sleep 2; done
}
# The sum of the operator's readyReplicas over its Miners.
status_ready() {
  kubectl -n "$a" get miners -o jsonpath='{range .items[*]}{.status.readyReplicas}{"\n"}{end}' | awk '{s+=$1} END {print s+0}'
}
# CPU seconds (user + system) and peak RSS (MiB) of the operator process.
cpu() { python3 -c "import os,sys; f=open(f'/proc/{sys.argv[1]}/stat').read().rsplit(')',1)[1].split(); print((int(f[11])+int(f[12]))/os.sysconf('SC_CLK_TCK'))" "$op_pid"; }
hwm() { awk '/^VmHWM/ {printf "%.0f", $2/1024}' "/proc/$op_pid/status"; }
rss() { awk '/^VmRSS/ {printf "%.0f", $2/1024}' "/proc/$op_pid/status"; }
scrape() { curl -fsS "http://127.0.0.1:$port/metrics"; }
# `verb=count` pairs of the operator's API requests so far.
requests() { scrape | sed -n 's/^subnet_operator_kube_requests_total{verb="\([a-z]*\)"} \([0-9.e+]*\)$/\1 \2/p' | sort; }
# What `requests` output $1 grew by to $2, as `verb n, …`.
grown() { python3 - "$1" "$2" <<'PY'
import sys
def read(path):
    d = {}
    for line in open(path):
        v, n = line.split()
        d[v] = float(n)
    return d
a, b = read(sys.argv[1]), read(sys.argv[2])
print(", ".join(f"{v} {int(b[v] - a.get(v, 0))}" for v in sorted(b) if b[v] - a.get(v, 0) > 0) or "none")
PY
}
writes() { scrape | awk '/^subnet_operator_kube_writes_total/ {s+=$2} END {print s+0}'; }

kubectl apply --server-side -f crds/ >/dev/null
kubectl wait --for=condition=Established crd/miners.subnet-operator.io --timeout=60s >/dev/null
# Room for the three runs' pods at once (the e2e nodes hold 2,000): KWOK nodes of this run, of
# 5,000 pods each, removed at the end.
for k in $(seq 1 $(( (3 * total + 4999) / 5000 ))); do
  cat <<YAML
---
apiVersion: v1
kind: Node
metadata:
  name: bench-$$-$k
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {type: kwok, bench: "$$", kubernetes.io/hostname: bench-$$-$k, kubernetes.io/os: linux, kubernetes.io/arch: amd64}
status:
  capacity: {cpu: "1000", memory: 4Ti, pods: "5000", ephemeral-storage: 1Ti}
  allocatable: {cpu: "1000", memory: 4Ti, pods: "5000", ephemeral-storage: 1Ti}
YAML
done | kubectl create -f - >/dev/null
kubectl wait --for=condition=Ready nodes -l "bench=$$" --timeout=60s >/dev/null
kubectl create namespace "$a" >/dev/null
kubectl create namespace "$b" >/dev/null
kubectl create namespace "$c" >/dev/null
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
sleep 2

# Each replica's axon gets a NodePort Service (the default) while the operator's and the floor's
# Services fit the API server's default NodePort range (30000-32767) together; beyond that the
# axons are not exposed (`exposure: None`), in both runs alike.
exposure=NodePort
if [ $(( 2 * total )) -gt 2700 ]; then exposure=None; fi
echo "operator ($bin): $fleets Miner(s) of $n replicas, axon exposure $exposure, no chain (objects and pods only)"
requests >"$work/r0"
cpu0=$(cpu)
t0=$(now)
for i in $(seq 1 "$fleets"); do
  cat <<YAML
---
apiVersion: subnet-operator.io/v1alpha1
kind: Miner
metadata: {name: bench-$i}
spec:
  subnetRef: {name: sn}
  replicas: $n
  wallet: {coldkeyPub: {ss58: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY}}
  registration: {mode: Manual}
  axon: {exposure: $exposure}
  template:
    image: bench:1
    resources: {requests: {cpu: 10m, memory: 16Mi}}
YAML
done | kubectl -n "$a" apply -f - >/dev/null
wait_ready "$a"
pods_secs=$(since "$t0")
# The operator has converged when its status says so, too.
until [ "$(status_ready)" = "$total" ]; do sleep 1; done
status_secs=$(since "$t0")
cpu1=$(cpu)
requests >"$work/r1"
hwm_converged=$(hwm)
echo "  pods Ready after ${pods_secs}s, status ${total}/${total} ready after ${status_secs}s"

w0=$(writes)
sleep 60
w1=$(writes)
cpu2=$(cpu)
requests >"$work/r2"
rest_writes=$(python3 -c "import sys; print(int(float(sys.argv[2]) - float(sys.argv[1])))" "$w0" "$w1")

echo "floor: kubectl apply --server-side of the same objects (StatefulSets, Services, Secrets)"
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
echo "  $count objects applied, all $total pods Ready after ${ssa_secs}s"

echo "reference: one plain StatefulSet of $total replicas (no per-replica key)"
t2=$(now)
kubectl -n "$c" apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: plain}
spec:
  replicas: $total
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: plain}}
  serviceName: plain
  template:
    metadata: {labels: {app: plain}}
    spec:
      containers: [{name: miner, image: bench:1, resources: {requests: {cpu: 10m, memory: 16Mi}}}]
YAML
wait_ready "$c"
sts_secs=$(since "$t2")

ratio() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}x')" "$1" "$2"; }
secs() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$2"; }
rest_pct=$(python3 -c "import sys; print(f'{(float(sys.argv[2]) - float(sys.argv[1])) / 60 * 100:.1f}%')" "$cpu1" "$cpu2")
cat <<TABLE

| $fleets x $n replicas | value | vs. the floor |
|---|---|---|
| pods Ready | ${pods_secs} s | $(ratio "$pods_secs" "$ssa_secs") |
| status Ready | ${status_secs} s | $(ratio "$status_secs" "$ssa_secs") |
| floor: kubectl apply --server-side of $count objects | ${ssa_secs} s | 1.00x |
| reference: one plain StatefulSet of $total | ${sts_secs} s | $(ratio "$sts_secs" "$ssa_secs") |
| operator peak RSS (VmHWM) | ${hwm_converged} MiB converged, $(hwm) MiB at the end (RSS now $(rss) MiB) | |
| operator CPU while converging | $(secs "$cpu0" "$cpu1") s | |
| operator CPU in 60 s at rest | $(secs "$cpu1" "$cpu2") s (${rest_pct} of a core) | |
| API requests while converging | $(grown "$work/r0" "$work/r1") | |
| API requests in 60 s at rest | $(grown "$work/r1" "$work/r2") | |
| writes in 60 s at rest | ${rest_writes} | |
TABLE
