#!/usr/bin/env bash
# Shared by e2e/cluster.sh and e2e/chain.sh (sourced, not run).

# N distinct free TCP ports on 127.0.0.1. Candidates come from below the kernel's ephemeral range
# (ip_local_port_range), so an outgoing connection cannot grab one in the moment between this
# check and the component's bind; each is checked with a real bind, and bind(port 0) is the
# fallback. All sockets stay open until every port is picked, so the ports are distinct.
free_ports() {
  python3 - "$1" <<'PY'
import random, socket, sys
want = int(sys.argv[1])
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    low = 32768
socks = []
def take(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        return False
    socks.append(s)
    return True
for port in random.sample(range(15000, low), min(200, max(0, low - 15000))):
    if len(socks) == want:
        break
    take(port)
while len(socks) < want:
    take(0)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}
