#!/usr/bin/env bash
# Installs (or reuses) chopsticks, which runs subtensor's real runtime from a chain spec (see
# e2e/chain.sh), outside the repository, and prints the absolute path of its `chopsticks`
# binary on the last stdout line. Logs go to stderr.
#
#   CHOPSTICKS=$(e2e/tools/chopsticks.sh | tail -n1)
#
# The install is npm `@acala-network/chopsticks@$CHOPSTICKS_VERSION` under
# ${SUBNET_OPERATOR_CACHE:-~/.cache/subnet-operator}/chopsticks-$CHOPSTICKS_VERSION. It is made in
# a temporary directory beside it and renamed into place only once complete, so an interrupted
# install is never taken for a cached one; concurrent callers wait on a lock.
# Needs node and npm (installed with apt-get when missing and running as root). chopsticks 1.5.1
# declares node >= 22; on node 20 npm warns EBADENGINE, but it works.
set -euo pipefail
export LC_ALL=C

VERSION=1.5.1
PKG=@acala-network/chopsticks

log() { printf '[chopsticks %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

cache=${SUBNET_OPERATOR_CACHE:-$HOME/.cache/subnet-operator}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
dir=$cache/chopsticks-$VERSION
bin_rel=node_modules/.bin/chopsticks

# The version of the chopsticks package installed under $1 (empty when none).
installed_version() {
  local pj=$1/node_modules/$PKG/package.json
  [ -f "$pj" ] || return 0
  node -e 'process.stdout.write(String(require(process.argv[1]).version))' "$pj" 2>/dev/null || true
}

# True when $1 holds a finished install of $VERSION: the binary, the package at that version,
# and npm's hidden lockfile, which npm writes only once the whole tree is in place (a tree still
# being installed by hand, or one cut short, has the first two but not this).
complete() {
  [ -x "$1/$bin_rel" ] && [ -f "$1/node_modules/.package-lock.json" ] &&
    [ "$(installed_version "$1")" = "$VERSION" ]
}

ensure_node() {
  if command -v node >/dev/null && command -v npm >/dev/null; then return 0; fi
  [ "$(id -u)" = 0 ] || die "node and npm are missing; install Node.js (>= 20) and npm"
  command -v apt-get >/dev/null || die "node and npm are missing and there is no apt-get"
  log "node/npm missing: installing them with apt-get (nodejs npm)"
  apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm >&2
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then die "apt-get did not provide node and npm"; fi
}

# EXIT trap while installing: stop npm's process group (npm ignores a plain SIGTERM for a long
# while), then remove the unfinished tree.
cleanup() {
  if [ -n "${npm_pid:-}" ]; then
    kill -TERM -- "-$npm_pid" 2>/dev/null || true
    sleep 0.5
    kill -KILL -- "-$npm_pid" 2>/dev/null || true
    wait "$npm_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}

ensure_node

if ! complete "$dir"; then
  # One installer at a time; whoever waited re-checks before doing the work again.
  exec 9>"$cache/.chopsticks-$VERSION.lock"
  if ! flock -n 9; then
    log "another install of chopsticks $VERSION is running; waiting for it"
    flock 9
  fi
fi

if ! complete "$dir"; then
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 22 ] || log "note: node $(node --version) is older than chopsticks wants (22); npm warns EBADENGINE, chopsticks runs anyway"
  # Leftovers of installs that were cut short (we hold the lock, so none is in progress).
  rm -rf "$cache/.chopsticks-$VERSION.tmp."*
  tmp=$(mktemp -d "$cache/.chopsticks-$VERSION.tmp.XXXXXX")
  chmod 755 "$tmp"
  npm_pid=
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  log "installing $PKG@$VERSION into $dir (npm; about a minute, longer if sqlite3 is compiled)"
  t0=$SECONDS
  # A package.json of our own, so npm installs here and not into an enclosing project.
  printf '{"name":"subnet-operator-chopsticks","private":true}\n' >"$tmp/package.json"
  # In a process group of its own (setsid execs in place: $! is npm's pid and the group's id), so
  # that an interrupted install can stop npm and whatever it spawned (node-gyp, make, cc) before
  # the temporary tree is removed.
  (cd "$tmp" && exec setsid npm install --no-audit --no-fund --no-update-notifier --save-exact "$PKG@$VERSION") >&2 &
  npm_pid=$!
  wait "$npm_pid" || die "npm install $PKG@$VERSION failed"
  npm_pid=
  complete "$tmp" || die "npm install finished but $tmp/$bin_rel (version $VERSION) is not there"
  "$tmp/$bin_rel" --version >/dev/null 2>&1 || die "the freshly installed chopsticks does not run: $tmp/$bin_rel --version"
  if [ -e "$dir" ]; then
    # Something incomplete under the final name (an install made by hand that was cut short).
    log "replacing the incomplete install in $dir"
    mv "$dir" "$tmp.old"
    rm -rf "$tmp.old"
  fi
  mv "$tmp" "$dir"
  trap - EXIT INT TERM
  log "installed in $((SECONDS - t0)) s"
fi

echo "$dir/$bin_rel"
