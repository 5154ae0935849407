#!/usr/bin/env bash
# A real Kubernetes control plane on loopback for the e2e tests: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and kwok (fake nodes, incl. GPU nodes), no Docker.
#
#   e2e/cluster.sh up        # (re)start; prints timings to stderr
#   eval "$(e2e/cluster.sh env)"   # KUBECONFIG and PATH (kubectl, helm, ... of the same build)
#   e2e/cluster.sh status    # process liveness + nodes; exit 1 if something is down
#   e2e/cluster.sh down      # stop everything; keeps $STATE/logs for post-mortems
#   e2e/cluster.sh state-dir # where state and logs live
#
# Binaries come from e2e/tools/build-bins.sh (cached). Nodes: e2e/kwok/nodes.yaml; fake kubelet
# behaviour: e2e/kwok/stages.yaml; storage: e2e/kwok/storage.yaml plus static PVs generated here.
#
# Environment:
#   E2E_STATE_DIR   state directory (default: e2e/.state); wiped by `up`
#   E2E_PV_COUNT    number of static PVs (default 40), E2E_PV_SIZE their size (default 200Gi)
#   E2E_TIMEOUT     seconds to wait for each readiness phase (default 120)
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${E2E_STATE_DIR:-$here/.state}
PV_COUNT=${E2E_PV_COUNT:-40}
PV_SIZE=${E2E_PV_SIZE:-200Gi}
TIMEOUT=${E2E_TIMEOUT:-120}
MARKER=.subnet-operator-e2e-state
# Stop order for `down`: clients first, storage last.
# `subnet-operator` and `subnet-operator-simchain` are what `make demo` starts (recorded in the
# same pids file).
COMPONENTS=(subnet-operator subnet-operator-simchain kwok kube-scheduler kube-controller-manager kube-apiserver etcd)

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Seconds since the given $EPOCHREALTIME value, one decimal.
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# free_ports N: N distinct free TCP ports on 127.0.0.1.
# shellcheck source=e2e/tools/ports.sh
. "$here/tools/ports.sh"

bindir() {
  if [ -s "$STATE/bindir" ]; then cat "$STATE/bindir"; else "$here/tools/build-bins.sh" | tail -n1; fi
}

kc() { "$BIN/kubectl" --kubeconfig="$STATE/kubeconfig" --request-timeout=30s "$@"; }

# --- process bookkeeping ---------------------------------------------------------------------

# pid of a recorded component, or nothing
pid_of() {
  if [ -f "$STATE/pids" ]; then awk -v n="$1" '$1 == n { print $2 }' "$STATE/pids" | tail -n1; fi
}

# true if pid is alive AND is still the binary we started (guards against pid reuse)
is_ours() {
  local name=$1 pid=$2 exe
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  case $exe in */"$name" | */"$name (deleted)") return 0 ;; *) return 1 ;; esac
}

start_proc() {
  local name=$1
  shift
  # setsid: own session, so the caller's terminal/process group signals do not reach it; in a
  # non-interactive shell the child is no group leader, so setsid execs in place and $! is the
  # component's own pid.
  setsid "$BIN/$name" "$@" >"$STATE/logs/$name.log" 2>&1 </dev/null &
  echo "$name $!" >>"$STATE/pids"
}

stop_all() {
  [ -f "$STATE/pids" ] || return 0
  local name pid alive=() signalled=() i e
  for name in "${COMPONENTS[@]}"; do
    pid=$(pid_of "$name")
    if is_ours "$name" "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      alive+=("$name:$pid")
      signalled+=("$name:$pid")
    fi
  done
  for ((i = 0; i < 50 && ${#alive[@]} > 0; i++)); do
    local still=()
    for e in "${alive[@]}"; do is_ours "${e%%:*}" "${e#*:}" && still+=("$e"); done
    alive=("${still[@]+"${still[@]}"}")
    [ ${#alive[@]} -gt 0 ] && sleep 0.1
  done
  for e in "${alive[@]+"${alive[@]}"}"; do
    log "${e%%:*} (pid ${e#*:}) ignored SIGTERM; sending SIGKILL"
    kill -KILL "${e#*:}" 2>/dev/null || true
  done
  # The components were re-parented to init when `up` exited; give it a moment to reap them so
  # that no <defunct> entries linger for callers that check with pgrep right after `down`.
  for ((i = 0; i < 50; i++)); do
    local left=0
    for e in "${signalled[@]+"${signalled[@]}"}"; do [ -e "/proc/${e#*:}" ] && left=1; done
    [ $left = 0 ] && break
    sleep 0.1
  done
  rm -f "$STATE/pids"
}

# Removes everything but the logs.
clean_state() {
  if [ -s "$STATE/etcd-data-dir" ]; then
    local d
    d=$(cat "$STATE/etcd-data-dir")
    case $d in /dev/shm/subnet-e2e-etcd.* | "$STATE"/*) rm -rf "$d" ;; esac
  fi
  [ -d "$STATE" ] || return 0
  find "$STATE" -mindepth 1 -maxdepth 1 ! -name logs ! -name "$MARKER" -exec rm -rf {} +
}

# Refuses to wipe a non-empty directory that was not created by this script.
check_state_dir() {
  case $STATE in "" | / | "$HOME" | "$HOME"/) die "refusing to use '$STATE' as state dir" ;; esac
  if [ -d "$STATE" ] && [ ! -e "$STATE/$MARKER" ] && [ -n "$(ls -A "$STATE")" ]; then
    die "$STATE is not empty and was not created by cluster.sh; set E2E_STATE_DIR elsewhere"
  fi
}

# --- waiting ---------------------------------------------------------------------------------

# wait_for <what> <component whose death aborts the wait> <cmd...>
wait_for() {
  local what=$1 comp=$2 deadline
  shift 2
  deadline=$((SECONDS + TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if [ -n "$comp" ] && ! is_ours "$comp" "$(pid_of "$comp")"; then
      die "$comp exited while waiting for $what; see $STATE/logs/$comp.log"
    fi
    [ $SECONDS -lt "$deadline" ] || die "timed out after ${TIMEOUT}s waiting for $what"
    sleep 0.2
  done
}

etcd_healthy() { curl -fsS "http://127.0.0.1:$P_ETCD/health" | grep -q '"health":"true"'; }
apiserver_ready() {
  curl -fsS --cacert "$STATE/pki/ca.crt" --cert "$STATE/pki/admin.crt" --key "$STATE/pki/admin.key" \
    "https://127.0.0.1:$P_API/readyz"
}
healthz() { curl -fsSk "https://127.0.0.1:$1/healthz"; }
kwok_healthy() { curl -fsSk "https://127.0.0.1:$P_KWOK/healthz" || curl -fsS "http://127.0.0.1:$P_KWOK/healthz"; }

# Every node Ready=True and none still carrying the node.kubernetes.io/not-ready taint (removed
# by the controller manager's node-lifecycle controller once the node reports Ready).
nodes_ready() {
  local want have
  want=$(grep -c '^kind: Node$' "$here/kwok/nodes.yaml")
  have=$(kc get nodes -o jsonpath='{range .items[*]}{.metadata.name}{" "}{range .status.conditions[?(@.type=="Ready")]}{.status}{end}{" "}{.spec.taints[*].key}{"\n"}{end}' |
    awk '$2 == "True" && !/node.kubernetes.io\/not-ready/' | wc -l)
  [ "$have" -eq "$want" ]
}

# --- setup steps -----------------------------------------------------------------------------

gen_pki() {
  local d=$STATE/pki
  mkdir -p "$d"
  (
    cd "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -keyout ca.key -out ca.crt \
      -subj "/CN=subnet-operator-e2e-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
    local sans="DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
    sans="$sans,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:::1,IP:10.96.0.1"
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" "subjectAltName=$sans" >server.ext
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=clientAuth" >client.ext
    # apiserver (and kwok) serving cert
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver"
    openssl x509 -req -sha256 -days 3650 -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -extfile server.ext -out apiserver.crt
    # admin client cert, used by kubectl, the tests and the control-plane components
    openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr -subj "/O=system:masters/CN=kube-admin"
    openssl x509 -req -sha256 -days 3650 -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -extfile client.ext -out admin.crt
    # front-proxy client cert: lets the controller manager and scheduler (and aggregated APIs)
    # read a complete extension-apiserver-authentication ConfigMap
    openssl req -newkey rsa:2048 -nodes -keyout front-proxy.key -out front-proxy.csr -subj "/CN=front-proxy-client"
    openssl x509 -req -sha256 -days 3650 -in front-proxy.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -extfile client.ext -out front-proxy.crt
    # service-account token signing keypair
    openssl genrsa -out sa.key 2048
    openssl rsa -in sa.key -pubout -out sa.pub
  ) >"$STATE/logs/pki.log" 2>&1 || die "certificate generation failed; see $STATE/logs/pki.log"
}

write_kubeconfig() {
  b64() { base64 -w0 <"$1"; }
  cat >"$STATE/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: subnet-e2e
  cluster:
    server: https://127.0.0.1:$P_API
    certificate-authority-data: $(b64 "$STATE/pki/ca.crt")
users:
- name: kube-admin
  user:
    client-certificate-data: $(b64 "$STATE/pki/admin.crt")
    client-key-data: $(b64 "$STATE/pki/admin.key")
contexts:
- name: subnet-e2e
  context:
    cluster: subnet-e2e
    user: kube-admin
    namespace: default
current-context: subnet-e2e
EOF
  chmod 600 "$STATE/kubeconfig"
}

write_pvs() {
  local i n f=$STATE/pvs.yaml
  : >"$f"
  for ((i = 0; i < PV_COUNT; i++)); do
    n=$(printf '%02d' "$i")
    cat >>"$f" <<EOF
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: pv-$n
  labels: {type: kwok}
spec:
  storageClassName: local-static
  capacity: {storage: $PV_SIZE}
  accessModes: [ReadWriteOnce, ReadOnlyMany, ReadWriteMany]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: /tmp/kwok-pv/$n}
EOF
  done
}

# EXIT trap of `up`: on failure show the components' last log lines, stop them, keep the logs.
on_up_exit() {
  local rc=$? c
  [ "$rc" -ne 0 ] || return 0
  log "up failed; last log lines:"
  for c in "${COMPONENTS[@]}"; do
    [ -f "$STATE/logs/$c.log" ] && tail -n 5 "$STATE/logs/$c.log" | sed "s/^/  $c: /" >&2
  done
  stop_all
  clean_state
  exit "$rc"
}

# --- subcommands -----------------------------------------------------------------------------

cmd_up() {
  local t0 t
  t0=$EPOCHREALTIME
  check_state_dir
  if [ -s "$STATE/pids" ]; then
    log "a cluster is already running in $STATE; stopping it first"
    stop_all
  fi
  clean_state

  BIN=$("$here/tools/build-bins.sh" | tail -n1)
  [ -x "$BIN/kube-apiserver" ] || die "build-bins.sh did not produce binaries"
  rm -rf "$STATE"
  mkdir -p "$STATE/logs"
  touch "$STATE/$MARKER"
  echo "$BIN" >"$STATE/bindir"

  read -r P_ETCD P_PEER P_API P_KCM P_SCHED P_KWOK < <(free_ports 6)
  printf 'ETCD=%s\nETCD_PEER=%s\nAPISERVER=%s\nKCM=%s\nSCHEDULER=%s\nKWOK=%s\n' \
    "$P_ETCD" "$P_PEER" "$P_API" "$P_KCM" "$P_SCHED" "$P_KWOK" >"$STATE/ports"

  # If anything below fails: stop what was started, keep the logs.
  trap on_up_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  local data
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    data=$(mktemp -d /dev/shm/subnet-e2e-etcd.XXXXXX)
  else
    data=$STATE/etcd-data
    mkdir -p "$data"
  fi
  echo "$data" >"$STATE/etcd-data-dir"

  t=$EPOCHREALTIME
  start_proc etcd --name=e2e --data-dir="$data/member" \
    --listen-client-urls="http://127.0.0.1:$P_ETCD" --advertise-client-urls="http://127.0.0.1:$P_ETCD" \
    --listen-peer-urls="http://127.0.0.1:$P_PEER" --initial-advertise-peer-urls="http://127.0.0.1:$P_PEER" \
    --initial-cluster="e2e=http://127.0.0.1:$P_PEER" --initial-cluster-state=new \
    --unsafe-no-fsync --auto-compaction-retention=1 --quota-backend-bytes=2147483648 --log-level=warn

  # Certificates are generated while etcd starts (etcd itself is plain http on loopback).
  gen_pki
  write_kubeconfig
  log "pki + kubeconfig in $(since "$t") s"
  wait_for "etcd /health" etcd etcd_healthy
  log "etcd ready in $(since "$t") s"

  t=$EPOCHREALTIME
  local pki=$STATE/pki
  start_proc kube-apiserver \
    --etcd-servers="http://127.0.0.1:$P_ETCD" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$P_API" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --requestheader-client-ca-file="$pki/ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$pki/front-proxy.crt" --proxy-client-key-file="$pki/front-proxy.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --authorization-mode=Node,RBAC \
    --service-cluster-ip-range=10.96.0.0/16 \
    --endpoint-reconciler-type=none \
    --allow-privileged=true \
    --profiling=false
  write_pvs
  wait_for "kube-apiserver /readyz" kube-apiserver apiserver_ready
  log "kube-apiserver ready in $(since "$t") s"

  t=$EPOCHREALTIME
  local kcfg=$STATE/kubeconfig
  local common=(--kubeconfig="$kcfg" --authentication-kubeconfig="$kcfg" --authorization-kubeconfig="$kcfg"
    --bind-address=127.0.0.1 --leader-elect=false
    "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics")
  start_proc kube-controller-manager "${common[@]}" --secure-port="$P_KCM" \
    --root-ca-file="$pki/ca.crt" --service-account-private-key-file="$pki/sa.key" \
    --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key"
  start_proc kube-scheduler "${common[@]}" --secure-port="$P_SCHED"
  start_proc kwok --kubeconfig="$kcfg" --config="$here/kwok/stages.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --cidr=10.244.0.0/16 --node-ip=127.0.0.1 \
    --node-port="$P_KWOK" --server-address="127.0.0.1:$P_KWOK" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key"
  kc create -f "$here/kwok/nodes.yaml" -f "$here/kwok/storage.yaml" -f "$STATE/pvs.yaml" \
    >"$STATE/logs/create.log" 2>&1 || die "creating nodes/storage failed: $(cat "$STATE/logs/create.log")"
  wait_for "kube-controller-manager /healthz" kube-controller-manager healthz "$P_KCM"
  wait_for "kube-scheduler /healthz" kube-scheduler healthz "$P_SCHED"
  wait_for "kwok /healthz" kwok kwok_healthy
  log "controller-manager, scheduler, kwok healthy in $(since "$t") s"

  t=$EPOCHREALTIME
  wait_for "all nodes Ready and untainted" kwok nodes_ready
  log "nodes Ready in $(since "$t") s"
  t=$EPOCHREALTIME
  wait_for "ServiceAccount default/default" kube-controller-manager kc -n default get serviceaccount default
  log "default ServiceAccount in $(since "$t") s"

  trap - EXIT INT TERM
  log "control plane ready in $(since "$t0") s (state: $STATE)"
  log "use it with: eval \"\$($here/cluster.sh env)\""
}

cmd_down() {
  check_state_dir
  stop_all
  clean_state
  log "stopped (logs kept in $STATE/logs)"
}

cmd_env() {
  local b
  b=$(bindir)
  printf 'export KUBECONFIG=%q\n' "$STATE/kubeconfig"
  # The cluster tests only ever use this variable, never KUBECONFIG.
  printf 'export SUBNET_OPERATOR_E2E_KUBECONFIG=%q\n' "$STATE/kubeconfig"
  # shellcheck disable=SC2016 # $PATH is expanded by the caller's eval
  printf 'export PATH=%q:"$PATH"\n' "$b"
}

cmd_status() {
  local name pid rc=0
  if [ ! -s "$STATE/pids" ]; then
    echo "not running (no $STATE/pids)"
    return 1
  fi
  for name in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do
    pid=$(pid_of "$name")
    if is_ours "$name" "$pid"; then
      printf '%-24s running (pid %s)\n' "$name" "$pid"
    else
      printf '%-24s DOWN%s\n' "$name" "${pid:+ (was pid $pid)}"
      rc=1
    fi
  done
  [ -f "$STATE/ports" ] && tr '\n' ' ' <"$STATE/ports" && echo
  BIN=$(bindir)
  if is_ours kube-apiserver "$(pid_of kube-apiserver)"; then
    kc get nodes -o wide || rc=1
  fi
  return $rc
}

case ${1:-} in
up) cmd_up ;;
down) cmd_down ;;
env) cmd_env ;;
status) cmd_status ;;
state-dir) echo "$STATE" ;;
*)
  echo "usage: $0 up|down|env|status|state-dir" >&2
  exit 2
  ;;
esac
