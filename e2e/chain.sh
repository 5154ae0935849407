#!/usr/bin/env bash
# A real subtensor chain on loopback for the tests: chopsticks running subtensor's own runtime
# (spec 218, from the shared chain spec raonet-spec218.json), building a block per transaction.
# Every `up` starts from genesis: no state carries over from an earlier run.
#
#   e2e/chain.sh up               # (re)start; waits until it answers, then makes //Alice sudo
#                                 # and funds //Alice, //Bob, //Charlie; prints timings to stderr
#   eval "$(e2e/chain.sh env)"    # SUBTENSOR_WS and SUBTENSOR_HTTP
#   e2e/chain.sh status           # liveness, port, best block; exit 1 if it is not running
#   e2e/chain.sh down             # stop it; keeps $STATE/logs for post-mortems
#   e2e/chain.sh state-dir        # where state and logs live
#
# chopsticks comes from E2E_CHOPSTICKS when set, else from e2e/tools/chopsticks.sh (cached).
# See shared/chain/README.md for what chopsticks serves and what it does not.
#
# Environment:
#   E2E_CHAIN_STATE_DIR     state directory (default: e2e/.chain-state); wiped by `up`
#   E2E_CHAIN_TIMEOUT       seconds to wait for the chain to answer (default 180; ~40 s is usual)
#   SUBNET_OPERATOR_SHARED  the shared data directory holding chain/raonet-spec218.json
#                           (default: <repo>/../shared)
#   E2E_CHOPSTICKS          the chopsticks binary (default: from e2e/tools/chopsticks.sh)
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${E2E_CHAIN_STATE_DIR:-$here/.chain-state}
SHARED=${SUBNET_OPERATOR_SHARED:-$here/../../shared}
SPEC=$SHARED/chain/raonet-spec218.json
TIMEOUT=${E2E_CHAIN_TIMEOUT:-180}
MARKER=.subnet-operator-e2e-chain-state
# //Alice becomes Sudo.Key; each of these gets FUND rao free balance (1,000,000 TAO).
SUDO=5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY
FUNDED=(5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY 5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty
  5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y)
FUND=1000000000000000

log() { printf '[chain %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Seconds since the given $EPOCHREALTIME value, one decimal.
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# free_ports N: N distinct free TCP ports on 127.0.0.1.
# shellcheck source=e2e/tools/ports.sh
. "$here/tools/ports.sh"

# --- JSON-RPC over HTTP ----------------------------------------------------------------------

# rpc <method> [params JSON]: prints the result (strings raw, anything else as JSON); fails on a
# transport error or a JSON-RPC error object.
rpc() {
  local body out
  body=$(printf '{"jsonrpc":"2.0","id":1,"method":"%s","params":%s}' "$1" "${2:-[]}")
  out=$(curl -sS --max-time 60 -H 'Content-Type: application/json' --data-binary "$body" \
    "http://127.0.0.1:$PORT") || return 1
  python3 -c '
import json, sys
r = json.loads(sys.argv[1])
if r.get("error") is not None or "result" not in r:
    sys.exit("JSON-RPC error from %s: %s" % (sys.argv[2], json.dumps(r.get("error", r))))
v = r["result"]
print(v if isinstance(v, str) else json.dumps(v))
' "$out" "$1"
}

# Best block number (decimal).
best_block() {
  rpc chain_getHeader | python3 -c 'import json, sys; print(int(json.load(sys.stdin)["number"], 16))'
}

# Makes $SUDO the Sudo.Key and gives every $FUNDED account $FUND free balance (dev_setStorage),
# then reads both back with state_getStorage. One python process for all of it (python's start-up
# is most of the cost). Storage keys: twox128(pallet) ++ twox128(item) [++ blake2_128(pk) ++ pk],
# the twox128 prefixes being constants; AccountInfo is SCALE: 4 x u32 counters, then free: u64
# (subtensor's balance type).
fund_accounts() {
  local out
  out=$(python3 - "http://127.0.0.1:$PORT" "$SUDO" "$FUND" "${FUNDED[@]}" <<'PY'
import hashlib, json, re, sys, urllib.request
url, sudo, amount, accounts = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]

def rpc(method, params):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        resp = json.load(r)
    if resp.get("error") is not None or "result" not in resp:
        sys.exit("%s: JSON-RPC error %s" % (method, json.dumps(resp.get("error", resp))))
    return resp["result"]

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
def pubkey(ss58):
    n = 0
    for c in ss58:
        n = n * 58 + ALPHABET.index(c)
    raw = n.to_bytes(35, "big")  # prefix 42 (1 byte), 32-byte key, 2-byte checksum
    check = hashlib.blake2b(b"SS58PRE" + raw[:33], digest_size=64).digest()[:2]
    if raw[0] != 42 or raw[33:] != check:
        sys.exit("bad ss58 address " + ss58)
    return raw[1:33]

SUDO_KEY = "0x5c0d1176a568c1f92944340dbfed9e9c530ebca703c85910e7164cb7d1c9e47b"
SYSTEM_ACCOUNT = "0x26aa394eea5630e07c48ae0c9558cef7b99d880ec681799c0cf30e8886371da9"
keys = {a: pubkey(a) for a in [sudo] + accounts}

head0 = int(rpc("chain_getHeader", [])["number"], 16)
# Like a localnet (pow-faucet builds): no network-registration rate limit (1 block, not 0:
# chopsticks drops a 0 and the runtime's default, 7200 blocks, applies again), the lock cost back
# to its minimum a block after each subnet (it doubles per subnet otherwise), and room for many
# subnets (spec 218 allows 12, then prunes one — another test's — to make room).
change = {"Sudo": {"Key": sudo},
          "SubtensorModule": {"NetworkRateLimit": 1, "NetworkLockReductionInterval": 1,
                              "SubnetLimit": 1024},
          "System": {"Account": [[[a], {"providers": 1, "data": {"free": amount}}] for a in accounts]}}
h = rpc("dev_setStorage", [change])
if not (isinstance(h, str) and re.fullmatch(r"0x[0-9a-f]{64}", h)):
    sys.exit("dev_setStorage returned %r, not a block hash" % (h,))

got = rpc("state_getStorage", [SUDO_KEY])
if got != "0x" + keys[sudo].hex():
    sys.exit("Sudo.Key is %r after dev_setStorage, expected 0x%s" % (got, keys[sudo].hex()))
for a in accounts:
    pk = keys[a]
    v = rpc("state_getStorage", [SYSTEM_ACCOUNT + hashlib.blake2b(pk, digest_size=16).hexdigest() + pk.hex()])
    b = bytes.fromhex(v[2:]) if isinstance(v, str) and v.startswith("0x") else b""
    free = int.from_bytes(b[16:24], "little") if len(b) >= 24 else 0
    if free < int(amount):
        sys.exit("System.Account(%s): free balance %d < %s (raw %r)" % (a, free, amount, v))
head1 = int(rpc("chain_getHeader", [])["number"], 16)
print("block %d -> %d" % (head0, head1))
PY
  ) || die "setting Sudo.Key and balances failed"
  log "Sudo.Key = //Alice; ${#FUNDED[@]} accounts hold $FUND rao ($out)"
}

# --- process bookkeeping ---------------------------------------------------------------------

recorded_pid() { if [ -s "$STATE/pid" ]; then cat "$STATE/pid"; fi; }
recorded_port() { if [ -s "$STATE/port" ]; then cat "$STATE/port"; fi; }

# True if the recorded chopsticks is alive AND is still the process we started (its command line
# names chopsticks and our port: guards against pid reuse).
is_ours() {
  local pid port cmd
  pid=$(recorded_pid)
  port=$(recorded_port)
  [ -n "$pid" ] && [ -n "$port" ] && kill -0 "$pid" 2>/dev/null || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  case $cmd in *chopsticks*"--port=$port "*) return 0 ;; *) return 1 ;; esac
}

stop_chain() {
  local pid i
  pid=$(recorded_pid)
  if is_ours; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      is_ours || break
      sleep 0.1
    done
    if is_ours; then
      log "chopsticks (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    # It was re-parented to init when `up` exited; wait until it is reaped.
    for ((i = 0; i < 50; i++)); do
      [ -e "/proc/$pid" ] || break
      sleep 0.1
    done
  fi
  rm -f "$STATE/pid"
}

# Removes everything but the logs.
clean_state() {
  [ -d "$STATE" ] || return 0
  find "$STATE" -mindepth 1 -maxdepth 1 ! -name logs ! -name "$MARKER" -exec rm -rf {} +
}

# Refuses to wipe a non-empty directory that was not created by this script.
check_state_dir() {
  case $STATE in "" | / | "$HOME" | "$HOME"/) die "refusing to use '$STATE' as state dir" ;; esac
  if [ -d "$STATE" ] && [ ! -e "$STATE/$MARKER" ] && [ -n "$(ls -A "$STATE")" ]; then
    die "$STATE is not empty and was not created by chain.sh; set E2E_CHAIN_STATE_DIR elsewhere"
  fi
}

# EXIT trap of `up`: on failure show the last log lines, stop chopsticks, keep the log.
on_up_exit() {
  local rc=$?
  [ "$rc" -ne 0 ] || return 0
  log "up failed; last log lines:"
  [ -f "$STATE/logs/chopsticks.log" ] && tail -n 15 "$STATE/logs/chopsticks.log" | sed 's/^/  chopsticks: /' >&2
  stop_chain
  clean_state
  exit "$rc"
}

# --- subcommands -----------------------------------------------------------------------------

cmd_up() {
  local t0 t bin deadline
  t0=$EPOCHREALTIME
  check_state_dir
  [ -f "$SPEC" ] || die "chain spec $SPEC is missing: set SUBNET_OPERATOR_SHARED to the directory \
holding chain/raonet-spec218.json (default: <repo>/../shared)"
  if [ -s "$STATE/pid" ]; then
    log "a chain is already running in $STATE; stopping it first"
    stop_chain
  fi
  clean_state

  if [ -n "${E2E_CHOPSTICKS:-}" ]; then
    bin=$E2E_CHOPSTICKS
  else
    bin=$("$here/tools/chopsticks.sh" | tail -n1)
  fi
  [ -x "$bin" ] || die "no chopsticks binary at '$bin'"
  rm -rf "$STATE"
  mkdir -p "$STATE/logs"
  touch "$STATE/$MARKER"

  PORT=$(free_ports 1)
  echo "$PORT" >"$STATE/port"
  trap on_up_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  t=$EPOCHREALTIME
  # setsid: own session, so the caller's terminal/process group signals do not reach it; in a
  # non-interactive shell the child is no group leader, so setsid execs in place and $! is
  # chopsticks' own pid (the script's `#!/usr/bin/env node` execs node in place as well).
  setsid "$bin" --genesis="$SPEC" --host=127.0.0.1 --port="$PORT" --build-block-mode=Instant \
    >"$STATE/logs/chopsticks.log" 2>&1 </dev/null &
  echo $! >"$STATE/pid"
  log "chopsticks starting on port $PORT (pid $!, log $STATE/logs/chopsticks.log)"

  deadline=$((SECONDS + TIMEOUT))
  until rpc chain_getHeader >/dev/null 2>&1; do
    is_ours || die "chopsticks exited while starting; see $STATE/logs/chopsticks.log"
    [ $SECONDS -lt "$deadline" ] || die "timed out after ${TIMEOUT}s waiting for chain_getHeader"
    sleep 0.5
  done
  log "chain answers JSON-RPC in $(since "$t") s"

  t=$EPOCHREALTIME
  fund_accounts
  log "sudo + funding in $(since "$t") s"

  trap - EXIT INT TERM
  log "chain ready in $(since "$t0") s: ws://127.0.0.1:$PORT (state: $STATE)"
  log "use it with: eval \"\$($here/chain.sh env)\""
}

cmd_down() {
  check_state_dir
  stop_chain
  clean_state
  log "stopped (logs kept in $STATE/logs)"
}

cmd_env() {
  local port
  port=$(recorded_port)
  [ -n "$port" ] || die "no chain in $STATE: run e2e/chain.sh up first"
  printf 'export SUBTENSOR_WS=%q\n' "ws://127.0.0.1:$port"
  printf 'export SUBTENSOR_HTTP=%q\n' "http://127.0.0.1:$port"
}

cmd_status() {
  local pid
  pid=$(recorded_pid)
  PORT=$(recorded_port)
  if [ -z "$pid" ]; then
    echo "not running (no $STATE/pid)"
    return 1
  fi
  if ! is_ours; then
    echo "chopsticks DOWN (was pid $pid, port $PORT)"
    return 1
  fi
  local best
  if ! best=$(best_block 2>/dev/null); then
    echo "chopsticks running (pid $pid) but not answering JSON-RPC on port $PORT"
    return 1
  fi
  echo "chopsticks running (pid $pid) on ws://127.0.0.1:$PORT, best block $best"
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
