#!/usr/bin/env bash
# Runs tools/xdp-echo on one end of a veth pair joining two network namespaces made for this run,
# and checks from the other end that
#   - UDP datagrams to the echo's port come back turned around, over IPv4 and IPv6 (nothing in
#     the server's namespace listens on that UDP port, so only the AF_XDP socket can answer);
#   - ping works both ways round the stack (ARP, neighbour discovery and ICMP are passed);
#   - TCP to the same port number reaches a listener of the stack, and so does UDP to another port;
#   - killing the echo (SIGKILL, no clean-up of its own) leaves no XDP program attached.
# Root only (namespaces, BPF, AF_XDP); needs ip (iproute2), ping (iputils-ping) and python3,
# and uses dig (dnsutils) and ethtool when they are there. The namespaces, and with them the veth pair, are removed
# on exit, whatever happens. Addresses are documentation prefixes, inside the namespaces only
# (tools/xdp/pair.sh makes the pair and removes it).
#
# Usage: tools/xdp/echo-test.sh [--generic]   (builds target/release/xdp-echo first)
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=("$@")
cargo build --release -p xdp-echo --quiet
echo_bin=$PWD/target/release/xdp-echo

# shellcheck source=tools/xdp/pair.sh
source tools/xdp/pair.sh
port=5353
work=$(mktemp -d)
cleanup() {
  set +e
  # Every process left in the namespaces: the echo and the stack's listeners.
  pair_down
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Two queues a side, so that the echo binds a socket to each.
pair_up e 2

# The stack's listeners, which the BPF program must leave alone: TCP on the echo's port number,
# UDP on the next port.
ip netns exec "$SERVER_NS" python3 - "$port" <<'PY' &
import socket, sys, threading
port = int(sys.argv[1])
tcp = socket.create_server(("::", port), family=socket.AF_INET6, dualstack_ipv6=True)
udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
udp.bind(("::", port + 1))
def answer_udp():
    while True:
        data, peer = udp.recvfrom(2048)
        udp.sendto(b"stack:" + data, peer)
threading.Thread(target=answer_udp, daemon=True).start()
while True:
    conn, _ = tcp.accept()
    conn.sendall(b"stack tcp")
    conn.close()
PY

# `ip netns exec` execs the echo, so $! is the echo's own pid.
ip netns exec "$SERVER_NS" "$echo_bin" "$SERVER_IF" "$port" "${mode[@]}" >"$work/echo.log" 2>&1 &
echo_pid=$!
for _ in $(seq 50); do
  grep -q listening "$work/echo.log" && break
  kill -0 "$echo_pid" 2>/dev/null || { cat "$work/echo.log"; exit 1; }
  sleep 0.1
done
cat "$work/echo.log"
# "xdp" in the flags for native mode, "xdpgeneric" for generic; then the program's line.
in_server ip link show "$SERVER_IF" | grep -oE ' xdp(generic)? |prog/xdp id [0-9]+ name [a-z_]+' | tr -s '\n ' ' ' || {
  echo "no XDP program attached"
  exit 1
}
echo

passed=0
failed=0
check() { # name, command...
  local name=$1
  shift
  if out=$("$@" 2>&1); then
    echo "ok   $name: $out"
    passed=$((passed + 1))
  else
    echo "FAIL $name: $out"
    failed=$((failed + 1))
  fi
}

udp_client() { # address, port, count: send datagrams of varied lengths one at a time, expect each back with QR set
  in_client python3 - "$@" <<'PY'
import os, socket, sys
address, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
family = socket.AF_INET6 if ":" in address else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
s.settimeout(0.5)
back = missed = 0
for i in range(count):
    if missed == 5 and back == 0:
        break  # nothing comes back: say so now rather than after `count` time-outs
    query = i.to_bytes(2, "big") + b"\x01\x20\x00\x01\x00\x00\x00\x00\x00\x00" + os.urandom(i % 61)
    s.sendto(query, (address, port))
    try:
        reply, peer = s.recvfrom(2048)
    except socket.timeout:
        missed += 1
        continue
    if reply == query[:2] + bytes([query[2] | 0x80]) + query[3:] and peer[1] == port:
        back += 1
print(f"{back} of {count} datagrams came back turned around")
sys.exit(0 if back == count else 1)
PY
}

check "UDP over IPv4 through the XSK" udp_client "$SERVER_IP4" "$port" 200
check "UDP over IPv6 through the XSK" udp_client "$SERVER_IP6" "$port" 200
if command -v dig >/dev/null; then
  check "dig gets its query back" sh -c "ip netns exec $CLIENT_NS dig +tries=1 +time=2 @$SERVER_IP4 -p $port example.com A | grep -o 'flags: qr[a-z ]*'"
fi
ping_summary() { # address: two pings, and the line that counts the replies
  local out
  out=$(in_client ping -c 2 -W 2 -q "$1") || { echo "$out"; return 1; }
  grep received <<<"$out"
}
check "ping (ARP, ICMP)" ping_summary "$SERVER_IP4"
check "ping6 (neighbour discovery, ICMPv6)" ping_summary "$SERVER_IP6"
check "TCP to the same port reaches the stack" in_client python3 -c "
import socket
print(socket.create_connection(('$SERVER_IP4', $port), timeout=2).recv(100).decode())"
check "UDP to another port reaches the stack" in_client python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(b'hello', ('$SERVER_IP4', $((port + 1))))
print(s.recvfrom(100)[0].decode())"
if command -v ethtool >/dev/null; then
  echo "veth counters of $SERVER_IF (XDP redirects are the XSK's):"
  in_server ethtool -S "$SERVER_IF" | grep -E 'xdp_(redirect|packets|drops|tx)' | grep -v ': 0$' ||
    echo "     none (veth counts native XDP only)"
fi

kill -KILL "$echo_pid"
wait "$echo_pid" 2>/dev/null || true
sleep 0.2
check "SIGKILL leaves no XDP program attached" sh -c "! ip -n $SERVER_NS link show $SERVER_IF | grep -q 'prog/xdp' && echo detached"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
