# shellcheck shell=bash
# The test bed of tools/xdp/bench.sh and tools/xdp/echo-test.sh, sourced by both (not run on
# its own): two network namespaces made for the run, joined by a veth pair, with documentation
# addresses inside them only.
#
#   pair_up TAG QUEUES   makes the namespaces xdpTAG-PID-s (the server's) and xdpTAG-PID-c (the
#                        client's), joined by veth xTAGPIDs and xTAGPIDc with QUEUES receive
#                        and transmit queues a side, loopback up in both; the server end has
#                        SERVER_IP4/24 and SERVER_IP6/64, the client end CLIENT_IP4 and CLIENT_IP6
#                        (no duplicate address detection, so they work at once)
#   pair_down            kills every process left in the namespaces and deletes them (the pair
#                        goes with them); harmless when they are not there
#   in_server CMD...     runs CMD in the server's namespace; in_client in the client's
#                        (a background call is a subshell: for a server whose pid is wanted,
#                        `ip netns exec "$SERVER_NS" CMD... &` directly)
#
# pair_up sets SERVER_NS, CLIENT_NS, SERVER_IF and CLIENT_IF. Root only; needs ip (iproute2).
SERVER_IP4=198.51.100.1
CLIENT_IP4=198.51.100.2
SERVER_IP6=2001:db8::1
CLIENT_IP6=2001:db8::2
SERVER_NS=
CLIENT_NS=
SERVER_IF=
CLIENT_IF=

pair_up() { # $1 tag (a letter or two), $2 queues a side
  SERVER_NS=xdp$1-$$-s
  CLIENT_NS=xdp$1-$$-c
  SERVER_IF=x$1$$s
  CLIENT_IF=x$1$$c
  ip netns add "$SERVER_NS"
  ip netns add "$CLIENT_NS"
  ip link add "$SERVER_IF" numrxqueues "$2" numtxqueues "$2" netns "$SERVER_NS" type veth \
    peer name "$CLIENT_IF" numrxqueues "$2" numtxqueues "$2" netns "$CLIENT_NS"
  local side ns dev ip4 ip6
  for side in "$SERVER_NS $SERVER_IF $SERVER_IP4 $SERVER_IP6" "$CLIENT_NS $CLIENT_IF $CLIENT_IP4 $CLIENT_IP6"; do
    read -r ns dev ip4 ip6 <<<"$side"
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$ip4/24" dev "$dev"
    ip -n "$ns" addr add "$ip6/64" dev "$dev" nodad
    ip -n "$ns" link set "$dev" up
  done
}

pair_down() {
  local ns
  for ns in "$SERVER_NS" "$CLIENT_NS"; do
    [ -n "$ns" ] || continue
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
  done
  { wait; } 2>/dev/null
  for ns in "$SERVER_NS" "$CLIENT_NS"; do
    [ -n "$ns" ] || continue
    ip netns del "$ns" 2>/dev/null || true
  done
}

in_server() { ip netns exec "$SERVER_NS" "$@"; }
in_client() { ip netns exec "$CLIENT_NS" "$@"; }
