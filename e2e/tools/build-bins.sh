#!/usr/bin/env bash
# Builds the local control plane's binaries from the Go module proxy and caches them outside the
# repository, keyed by versions and Go version, so later runs (and CI on the same machine) reuse them.
#
#   e2e/tools/build-bins.sh        # prints the bin directory on its last line
#
# Cold build on 2 cores: see README ("Development"). Nothing is downloaded as a prebuilt binary.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=e2e/tools/versions.env
source "$here/versions.env"
gov=$(go env GOVERSION)
key="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_helm-${HELM_VERSION}_kubeconform-${KUBECONFORM_VERSION}_${gov}"
cache=${SUBNET_OPERATOR_CACHE:-$HOME/.cache/subnet-operator}
bin="$cache/bin/$key"
mkdir -p "$bin"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false

log() { printf '[build-bins %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
have() { [ -x "$bin/$1" ]; }

# Builds in a scratch copy of a wrapper module so the repository stays clean.
wrapper() {
  local name=$1 work
  work=$(mktemp -d)
  cp "$here/$name/go.mod" "$work/"
  [ -f "$here/$name/go.sum" ] && cp "$here/$name/go.sum" "$work/"
  (cd "$work" && go mod tidy >&2)
  echo "$work"
}

start=$(date +%s)
if ! have etcd; then
  log "building etcd $ETCD_VERSION"
  w=$(wrapper etcd)
  (cd "$w" && go build -trimpath -ldflags "-s -w" -o "$bin/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$bin/etcd.tmp" "$bin/etcd"; rm -rf "$w"
fi

if ! have kwok; then
  log "building kwok $KWOK_VERSION"
  GOBIN="$bin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
fi

if ! have helm; then
  log "building helm $HELM_VERSION"
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  hl="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  hl="$hl -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor"
  GOBIN="$bin" go install -trimpath -ldflags "$hl" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi

if ! have kubeconform; then
  log "building kubeconform $KUBECONFORM_VERSION"
  GOBIN="$bin" go install -trimpath -ldflags "-s -w" "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
fi

# promtool has a cache key of its own, so adding or bumping it never rebuilds Kubernetes; it is
# linked into $bin so that one directory on PATH holds every tool.
promtool_bin="$cache/bin/promtool-${PROMTOOL_VERSION}_${gov}"
if [ ! -x "$promtool_bin/promtool" ]; then
  log "building promtool $PROMTOOL_VERSION"
  minor=$(echo "$PROMTOOL_VERSION" | cut -d. -f2)
  patch=$(echo "$PROMTOOL_VERSION" | cut -d. -f3)
  modv="v0.$((300 + minor)).$patch"
  grep -q "github.com/prometheus/prometheus $modv\b" "$here/promtool/go.mod" ||
    { log "ERROR: e2e/tools/promtool/go.mod does not require prometheus $modv ($PROMTOOL_VERSION)"; exit 1; }
  w=$(wrapper promtool)
  mkdir -p "$promtool_bin"
  pl="-s -w -X github.com/prometheus/common/version.Version=${PROMTOOL_VERSION#v}"
  (cd "$w" && go build -trimpath -ldflags "$pl" -o "$promtool_bin/promtool.tmp" github.com/prometheus/prometheus/cmd/promtool)
  mv "$promtool_bin/promtool.tmp" "$promtool_bin/promtool"; rm -rf "$w"
fi
[ "$(readlink "$bin/promtool" 2>/dev/null)" = "$promtool_bin/promtool" ] || ln -sfn "$promtool_bin/promtool" "$bin/promtool"

k8s_missing=0
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do have "$b" || k8s_missing=1; done
if [ "$k8s_missing" = 1 ]; then
  log "building kubernetes $K8S_VERSION (the long one)"
  w=$(wrapper k8s)
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  mkdir -p "$w/out"
  (cd "$w" && go build -trimpath -ldflags "$ld" -o "$w/out/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
  mv "$w"/out/* "$bin/"; rm -rf "$w"
fi
log "binaries ready in $bin ($(( $(date +%s) - start ))s)"
echo "$bin"
