#!/usr/bin/env bash
# From zero to registered miners on a machine WITH Docker (not run by this repository's own CI,
# whose machines have no Docker engine): a kind cluster, the operator image built from this tree
# and loaded into it, the Helm chart installed, the localnet samples applied (a Subnet running
# the official subtensor localnet image, a 3-replica Miner and a Validator), a wait until all are
# registered, and what the operator reports.
#
#   e2e/kind/run.sh            # up, install, apply, wait, show
#   e2e/kind/run.sh down       # delete the kind cluster
#
# Needs: docker, kind, kubectl, helm on PATH. Knobs: KIND_CLUSTER (default subnet-operator),
# IMAGE (default subnet-operator:dev), NAMESPACE (default localnet), WAIT_SECONDS (default 900).
set -euo pipefail
cd "$(dirname "$0")/../.."

cluster=${KIND_CLUSTER:-subnet-operator}
image=${IMAGE:-subnet-operator:dev}
ns=${NAMESPACE:-localnet}
wait_seconds=${WAIT_SECONDS:-900}
log() { printf '\n== %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null || { echo "kind/run.sh: $1 is required" >&2; exit 2; }; }

if [ "${1:-}" = down ]; then
  need kind
  kind delete cluster --name "$cluster"
  exit 0
fi

for tool in docker kind kubectl helm; do need "$tool"; done
docker info >/dev/null 2>&1 || { echo "kind/run.sh: the Docker engine is not reachable" >&2; exit 2; }

log "kind cluster $cluster"
if ! kind get clusters | grep -qx "$cluster"; then
  kind create cluster --name "$cluster" --wait 120s
fi
kubectl config use-context "kind-$cluster" >/dev/null

log "building the operator image $image"
docker build -t "$image" .
kind load docker-image "$image" --name "$cluster"

log "installing the chart"
repo=${image%:*}
tag=${image##*:}
helm upgrade --install subnet-operator charts/subnet-operator \
  --namespace subnet-operator-system --create-namespace \
  --set image.repository="$repo" --set image.tag="$tag" --set image.pullPolicy=Never \
  --wait --timeout 5m

log "applying the localnet samples in namespace $ns"
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$ns" apply -f manifests/samples/localnet/

log "waiting until the subnet is scaffolded and every replica is registered (up to ${wait_seconds}s)"
deadline=$(( $(date +%s) + wait_seconds ))
while :; do
  scaffolded=$(kubectl -n "$ns" get subnet dev -o jsonpath='{.status.conditions[?(@.type=="Scaffolded")].status}' 2>/dev/null || true)
  miners=$(kubectl -n "$ns" get miner dev-miners -o jsonpath='{.status.registeredReplicas}' 2>/dev/null || true)
  validators=$(kubectl -n "$ns" get validator dev-validator -o jsonpath='{.status.registeredReplicas}' 2>/dev/null || true)
  if [ "$scaffolded" = True ] && [ "${miners:-0}" = 3 ] && [ "${validators:-0}" = 1 ]; then
    break
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "kind/run.sh: not registered in time; the Subnet says:" >&2
    kubectl -n "$ns" get subnet dev -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}' >&2
    exit 1
  fi
  sleep 5
done

kubectl -n "$ns" get subnets,miners,validators -o wide
log "done; tear down with: e2e/kind/run.sh down"
