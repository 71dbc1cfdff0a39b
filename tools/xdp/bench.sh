#!/usr/bin/env bash
# CPU per DNS reply below and above the socket layer, on one machine: two network namespaces
# made for the run, joined by a veth pair (one queue a side; veth has no zero-copy AF_XDP, so
# copy mode: this understates what a real NIC gains). dnsperf runs in one namespace pinned to
# CLIENT_CORE, each server in the other pinned to SERVER_CORE, at a fixed RATE of queries/s
# (RATE=0: as fast as dnsperf can). What is measured is system-wide: the busy time of every
# core from /proc/stat (user, nice, system, irq, softirq, steal) over the run, per reply
# dnsperf received, because XDP and veth work runs in softirq on whichever core the kernel
# schedules it. Servers, interleaved over ROUNDS rounds:
#
#   echo          tools/udp-echo: recvmmsg/sendmmsg, no DNS work (the kernel's socket floor)
#   eightfold     eightfold's UDP workers (sockets), one worker
#   xdp-echo      tools/xdp-echo: one AF_XDP socket, each datagram turned around, no DNS work
#   eightfold+xdp eightfold with `xdp = [<its veth>]` (its AF_XDP workers answer)
#
#   tools/xdp/bench.sh                                  (all four, RATE=150000, 5 rounds of 10 s)
#   SERVERS="echo xdp-echo" RATE=0 ROUNDS=3 tools/xdp/bench.sh
#
# Root only; needs ip, dnsperf, taskset and python3 (the table). The zone is tools/peers'
# (the multivalue name 16 members, 8 per answer; the mix as tools/bench-peers.sh's). A tool,
# not a test: nothing passes or fails on a figure. The namespaces are removed on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SERVERS=${SERVERS:-"echo eightfold xdp-echo eightfold+xdp"}
RATE=${RATE:-150000}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
SERVER_CORE=${SERVER_CORE:-1}
CLIENT_CORE=${CLIENT_CORE:-0}
PORT=53

run=$$
server=xdpb-$run-s
client=xdpb-$run-c
server_if=xb${run}s
client_if=xb${run}c
WORK=$(mktemp -d /tmp/eightfold-xdp-bench.XXXXXX)
RESULTS=$WORK/results

say() { printf '%s\n' "$*" >&2; }

cleanup() {
  set +e
  for ns in "$server" "$client"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
  done
  { wait; } 2>/dev/null
  ip netns del "$server" 2>/dev/null
  ip netns del "$client" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

for tool in ip dnsperf taskset python3; do
  command -v "$tool" >/dev/null || { say "$tool is missing"; exit 1; }
done
[ "$(id -u)" = 0 ] || { say "run as root (namespaces, BPF, AF_XDP)"; exit 1; }

say "building eightfold, udp-echo and xdp-echo (release)"
(cd "$ROOT" && cargo build --release --quiet -p eightfold -p udp-echo -p xdp-echo)

ip netns add "$server"
ip netns add "$client"
ip link add "$server_if" numrxqueues 1 numtxqueues 1 netns "$server" type veth \
  peer name "$client_if" numrxqueues 1 numtxqueues 1 netns "$client"
for side in "$server:$server_if:1" "$client:$client_if:2"; do
  IFS=: read -r ns dev host <<<"$side"
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "198.51.100.$host/24" dev "$dev"
  ip -n "$ns" link set "$dev" up
done
# Neighbours resolved before the first query, so no run pays for ARP.
ip netns exec "$client" ping -c 1 -W 2 198.51.100.1 >/dev/null

# The zone and the query mix of tools/bench-peers.sh.
cp "$ROOT/tools/peers/example.com.zone" "$WORK/example.com.zone"
for i in $(seq 1 10); do
  case $i in
    1|2|3|4|5|6) echo "mv.example.com A" ;;
    7) echo "static.example.com A" ;;
    8) echo "static.example.com AAAA" ;;
    9) echo "nothing.example.com A" ;;
    10) echo "static.example.com MX" ;;
  esac
done >"$WORK/queries.txt"
config() { # $1: extra [server] lines
  printf '[server]\nlisten = ["198.51.100.1:%d"]\nworkers = 1\nminimal_responses = true\n%s\n' "$PORT" "$1"
  printf '[[zone]]\norigin = "example.com."\nfile = "%s/example.com.zone"\n' "$WORK"
  for i in $(seq 1 16); do
    printf '[[record]]\nname = "mv.example.com."\ntype = "A"\nttl = 60\nrouting = "multivalue"\nset_id = "m%d"\nvalues = ["127.0.1.%d"]\n' "$i" "$i"
  done
}
config "" >"$WORK/eightfold.toml"
config "xdp = [\"$server_if\"]" >"$WORK/eightfold-xdp.toml"

# Starts server $1 in the server namespace on SERVER_CORE; waits until it answers.
start() {
  local cmd
  case $1 in
    echo) cmd=("$ROOT/target/release/udp-echo" "198.51.100.1:$PORT") ;;
    eightfold) cmd=("$ROOT/target/release/eightfold" serve --config "$WORK/eightfold.toml") ;;
    xdp-echo) cmd=("$ROOT/target/release/xdp-echo" "$server_if" "$PORT") ;;
    eightfold+xdp) cmd=("$ROOT/target/release/eightfold" serve --config "$WORK/eightfold-xdp.toml") ;;
    *) say "unknown server $1"; exit 1 ;;
  esac
  ip netns exec "$server" taskset -c "$SERVER_CORE" "${cmd[@]}" >"$WORK/$1.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    # One pass over the mix, every query answered.
    if ip netns exec "$client" dnsperf -s 198.51.100.1 -p "$PORT" -d "$WORK/queries.txt" -n 1 -t 1 2>/dev/null |
      grep -q 'Queries lost: *0 '; then
      return
    fi
    sleep 0.1
  done
  say "$1 did not answer:"
  cat "$WORK/$1.log" >&2
  exit 1
}

stop() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  # The XDP program goes with the process (a BPF link); wait until it has.
  for _ in $(seq 1 50); do
    ip -n "$server" link show "$server_if" | grep -q 'prog/xdp' || return 0
    sleep 0.1
  done
}

# Busy and total jiffies of all cores.
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

measure() { # $1 server, $2 round
  local before after out completed args=(-s 198.51.100.1 -p "$PORT" -d "$WORK/queries.txt" -l "$DURATION" -c 1 -T 1)
  if [ "$RATE" -gt 0 ]; then args+=(-Q "$RATE"); fi
  before=$(busy)
  out=$(ip netns exec "$client" taskset -c "$CLIENT_CORE" dnsperf "${args[@]}" 2>&1)
  after=$(busy)
  completed=$(sed -n 's/.*Queries completed: *\([0-9]*\).*/\1/p' <<<"$out")
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$completed" "$((after - before))" >>"$RESULTS"
  say "  $1: $completed replies, $((after - before)) busy jiffies"
}

hz=$(getconf CLK_TCK)
for round in $(seq 1 "$ROUNDS"); do
  for s in $SERVERS; do
    say "round $round: $s"
    start "$s"
    measure "$s" "$round"
    stop
  done
done

say "machine: $(nproc) cores, $(awk '/model name/ {sub(/.*: /, ""); print; exit}' /proc/cpuinfo), kernel $(uname -r)"
python3 - "$RESULTS" "$hz" "$RATE" "$DURATION" "$SERVERS" <<'PY'
import statistics, sys
path, hz, rate, duration, servers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5].split()
runs = {}
for line in open(path):
    server, rnd, completed, jiffies = line.split()
    if int(completed) > 0:
        runs.setdefault(server, {})[int(rnd)] = (int(completed), int(jiffies) / hz)
def per_reply(server, rnd):
    completed, busy = runs[server][rnd]
    return busy / completed * 1e6
offered = f"{rate:,} queries/s" if rate else "as fast as dnsperf can"
print(f"System-wide CPU per reply (all cores' busy time / replies), {len(next(iter(runs.values())))} interleaved {duration}s rounds, offered {offered}")
print("| server | replies/s | CPU per reply (us), median | range | vs echo, round by round |")
print("|---|---|---|---|---|")
for server in servers:
    if server not in runs:
        print(f"| {server} | - | - | - | - |")
        continue
    rounds = sorted(runs[server])
    values = [per_reply(server, r) for r in rounds]
    qps = statistics.median(runs[server][r][0] for r in rounds) / float(duration)
    ratio = "-"
    if "echo" in runs:
        ratios = [per_reply(server, r) / per_reply("echo", r) for r in rounds if r in runs["echo"]]
        if ratios:
            ratio = f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
    print(f"| {server} | {qps:,.0f} | {statistics.median(values):.2f} | {min(values):.2f}-{max(values):.2f} | {ratio} |")
PY
