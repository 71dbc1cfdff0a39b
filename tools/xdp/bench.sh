#!/usr/bin/env bash
# CPU per DNS reply below and above the socket layer, on one machine: two network namespaces
# made for the run, joined by a veth pair (tools/xdp/pair.sh; one queue a side; veth has no
# zero-copy AF_XDP, so copy mode: this understates what a real NIC gains). dnsperf runs in one
# namespace pinned to CLIENT_CORE, each server in the other pinned to SERVER_CORE, at a fixed
# RATE of queries/s or, with RATE=0, as fast as dnsperf can. What is measured is system-wide:
# the busy time of every core from /proc/stat (user, nice, system, irq, softirq, steal) over
# the run, per reply dnsperf received, because XDP and veth work runs in softirq on whichever
# core the kernel schedules it. Servers, interleaved over ROUNDS rounds, in the table's order:
#
#   echo           tools/udp-echo: recvmmsg/sendmmsg, no DNS work (the kernel's socket floor, 1.00x)
#   eightfold      eightfold's UDP workers (sockets), one worker
#   knot           Knot DNS (Debian's knotd), sockets: tools/peers/knot.conf.in, one UDP worker
#   knot+xdp       the same Knot with an `xdp:` section (its AF_XDP workers answer). Debian's Knot
#                  3.2.6 cannot load its own XDP program on this kernel, so it loads
#                  tools/xdp/knot-compat.bpf.o instead, handed to it by tools/xdp/knot-preload.c
#                  (LD_PRELOAD; Knot itself unchanged): see docs/xdp-notes.md
#   xdp-echo       tools/xdp-echo: one AF_XDP socket, each datagram turned around, no DNS work
#   xdp-tx         no user space: tools/xdp/turnaround.bpf.o, attached with `ip`, turns each
#                  query around in the kernel (XDP_TX), dnsperf and the veth alone. veth delivers
#                  XDP_TX frames only to a peer with an XDP program of its own, so the same object
#                  is attached at dnsperf's end too, where nothing comes for port 53 and it
#                  passes every reply
#   eightfold+xdp  eightfold with `xdp = [<its veth>]` (its AF_XDP workers answer)
#   baseline+xdp   the same with the eightfold binary at $BASELINE (another build, say the
#                  previous commit's), for a before and after in one run
#
# The table's two runs (each 5 rounds of 10 s; the lead's figures come from a quiet machine):
#
#   tools/xdp/bench.sh               (fixed: every server offered 150,000 queries/s)
#   RATE=0 tools/xdp/bench.sh        (flat out: as fast as dnsperf can ask)
#
#   SERVERS="echo xdp-tx" ROUNDS=1 DURATION=3 tools/xdp/bench.sh     (a quick look at two)
#
# Before each measured run the server answers WARMUP seconds (3 unless set) of the same load,
# not counted: what a server sets up or sizes while it starts (eightfold's fill ring stock
# settles within two seconds) is not in the figure. The table's last column, when Knot's XDP
# mode ran, is each row's CPU per reply over Knot's XDP mode's in the same round.
#
# With PERF=DIR, the last round of each server also runs `perf record -a -g` (Debian's
# linux-perf) over the middle of its run, and DIR gets each server's profile (NAME.data) and
# its summary (NAME.txt: the share of all samples per thread, per DSO, and the top symbols),
# to say where the CPU goes:
#
#   SERVERS="knot+xdp xdp-echo eightfold+xdp" PERF=/tmp/xdp-perf tools/xdp/bench.sh
#
# Each run also says what went through XDP on the server's veth (ethtool's redirect and
# XDP_TX counters), so an XDP row that quietly fell back to sockets shows. Root only; needs
# ip (iproute2 with libbpf, for xdp-tx), dnsperf, taskset and python3, knotd for the Knot rows
# and a C compiler (cc) for knot+xdp's preload; ethtool for the counters. The zone and the
# query mix are tools/peers' (tools/peers/common.sh; the multivalue name 16 members, 8 per
# answer, 8 A records for Knot). A tool, not a test: nothing passes or fails on a figure. The
# namespaces are removed on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SERVERS=${SERVERS:-"echo eightfold knot knot+xdp xdp-echo xdp-tx eightfold+xdp"}
RATE=${RATE:-150000}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
BASELINE=${BASELINE:-}
PERF=${PERF:-}
SERVER_CORE=${SERVER_CORE:-1}
CLIENT_CORE=${CLIENT_CORE:-0}
# turnaround.bpf.o answers port 53: `ip` cannot set the port it is built with.
PORT=53
TURNAROUND=$ROOT/tools/xdp/turnaround.bpf.o
KNOT_COMPAT=$ROOT/tools/xdp/knot-compat.bpf.o

# pair_up, pair_down, in_server, in_client and the addresses.
# shellcheck source=tools/xdp/pair.sh
source "$ROOT/tools/xdp/pair.sh"
# fill and write_zones.
# shellcheck source=tools/peers/common.sh
source "$ROOT/tools/peers/common.sh"

WORK=$(mktemp -d /tmp/eightfold-xdp-bench.XXXXXX)
RESULTS=$WORK/results

say() { printf '%s\n' "$*" >&2; }

cleanup() {
  set +e
  pair_down
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

asked() { [[ " $SERVERS " == *" $1 "* ]]; }

needs=(ip dnsperf taskset python3)
if asked knot || asked knot+xdp; then needs+=(knotd); fi
if asked knot+xdp; then needs+=(cc); fi
if [ -n "$PERF" ]; then
  needs+=(perf)
  mkdir -p "$PERF"
fi
for tool in "${needs[@]}"; do
  command -v "$tool" >/dev/null || { say "$tool is missing"; exit 1; }
done
[ "$(id -u)" = 0 ] || { say "run as root (namespaces, BPF, AF_XDP)"; exit 1; }
for s in $SERVERS; do
  case $s in
    echo|eightfold|knot|knot+xdp|xdp-echo|xdp-tx|eightfold+xdp) ;;
    baseline+xdp)
      [ -x "$BASELINE" ] || { say "baseline+xdp runs the eightfold binary at BASELINE, which is not set to one"; exit 1; }
      ;;
    *)
      say "unknown server $s (echo eightfold knot knot+xdp xdp-echo xdp-tx eightfold+xdp baseline+xdp)"
      exit 1
      ;;
  esac
done

say "building eightfold, udp-echo and xdp-echo (release)"
(cd "$ROOT" && cargo build --release --quiet -p eightfold -p udp-echo -p xdp-echo)
if asked knot+xdp; then
  cc -shared -fPIC -O2 -Wall -Werror -o "$WORK/knot-preload.so" "$ROOT/tools/xdp/knot-preload.c" -ldl
fi

pair_up b 1
# Neighbours resolved before the first query, so no run pays for ARP.
in_client ping -c 1 -W 2 "$SERVER_IP4" >/dev/null

write_zones "$WORK"
config() { # $1: extra [server] lines
  printf '[server]\nlisten = ["%s:%d"]\nworkers = 1\nminimal_responses = true\n%s\n' "$SERVER_IP4" "$PORT" "$1"
  printf '[[zone]]\norigin = "example.com."\nfile = "%s/eightfold.zone"\n' "$WORK"
  for i in $(seq 1 16); do
    printf '[[record]]\nname = "mv.example.com."\ntype = "A"\nttl = 60\nrouting = "multivalue"\nset_id = "m%d"\nvalues = ["127.0.1.%d"]\n' "$i" "$i"
  done
}
config "" >"$WORK/eightfold.toml"
config "xdp = [\"$SERVER_IF\"]" >"$WORK/eightfold-xdp.toml"
for knot in knot knot-xdp; do
  mkdir -p "$WORK/$knot"
  fill knot.conf.in "$WORK/$knot/knot.conf" ADDRESS="$SERVER_IP4" PORT="$PORT" DIR="$WORK/$knot" ZONEFILE="$WORK/plain.zone"
done
printf 'xdp:\n    listen: %s@%s\n    udp: on\n' "$SERVER_IF" "$PORT" >>"$WORK/knot-xdp/knot.conf"

# The XDP program a server's row must have on the server's veth while it is measured.
program() { # $1 server
  case $1 in
    xdp-echo|eightfold+xdp|baseline+xdp) echo udp_redirect ;;
    knot+xdp) echo knot_compat ;;
    xdp-tx) echo turnaround ;;
  esac
}

# Starts server $1 in the server namespace on SERVER_CORE; waits until it answers.
start() {
  local cmd=() expected
  SERVER_PID=
  case $1 in
    echo) cmd=("$ROOT/target/release/udp-echo" "$SERVER_IP4:$PORT") ;;
    eightfold) cmd=("$ROOT/target/release/eightfold" serve --config "$WORK/eightfold.toml") ;;
    knot) cmd=(knotd -c "$WORK/knot/knot.conf") ;;
    knot+xdp)
      cmd=(env LD_PRELOAD="$WORK/knot-preload.so" KNOT_XDP_OBJECT="$KNOT_COMPAT" knotd -c "$WORK/knot-xdp/knot.conf") ;;
    xdp-echo) cmd=("$ROOT/target/release/xdp-echo" "$SERVER_IF" "$PORT") ;;
    xdp-tx)
      # dnsperf's end first, so that no reply is turned around before it can be delivered.
      ip -n "$CLIENT_NS" link set dev "$CLIENT_IF" xdpdrv obj "$TURNAROUND" sec xdp
      ip -n "$SERVER_NS" link set dev "$SERVER_IF" xdpdrv obj "$TURNAROUND" sec xdp
      ;;
    eightfold+xdp) cmd=("$ROOT/target/release/eightfold" serve --config "$WORK/eightfold-xdp.toml") ;;
    baseline+xdp) cmd=("$BASELINE" serve --config "$WORK/eightfold-xdp.toml") ;;
  esac
  if ((${#cmd[@]})); then
    # `ip netns exec`, taskset and env exec what follows, so $! is the server's own pid (not
    # so through in_server, a function: a background call of it is a subshell).
    ip netns exec "$SERVER_NS" taskset -c "$SERVER_CORE" "${cmd[@]}" >"$WORK/$1.log" 2>&1 &
    SERVER_PID=$!
  fi
  for _ in $(seq 1 100); do
    # One pass over the mix, every query answered.
    if in_client dnsperf -s "$SERVER_IP4" -p "$PORT" -d "$WORK/queries.txt" -n 1 -t 1 2>/dev/null |
      grep -q 'Queries lost: *0 '; then
      break
    fi
    if [ -n "$SERVER_PID" ] && ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
    sleep 0.1
  done
  expected=$(program "$1")
  if [ -n "$expected" ] && ! ip -n "$SERVER_NS" link show "$SERVER_IF" | grep -q "prog/xdp id [0-9]* name $expected "; then
    say "$1: $expected is not attached to $SERVER_IF:"
    ip -n "$SERVER_NS" link show "$SERVER_IF" >&2
    cat "$WORK/$1.log" >&2 2>/dev/null || true
    exit 1
  fi
  if ! in_client dnsperf -s "$SERVER_IP4" -p "$PORT" -d "$WORK/queries.txt" -n 1 -t 1 2>/dev/null |
    grep -q 'Queries lost: *0 '; then
    say "$1 did not answer:"
    cat "$WORK/$1.log" >&2 2>/dev/null || true
    exit 1
  fi
  # Knot pins each worker thread to a CPU of its own choosing (thread i to CPU i modulo the
  # cores); every thread goes back to SERVER_CORE.
  if [[ $1 == knot* ]]; then taskset -apc "$SERVER_CORE" "$SERVER_PID" >/dev/null; fi
}

stop() { # $1 server
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  # knotd and ip attach by netlink, not through a BPF link: their programs stay after them.
  case $1 in
    knot+xdp) ip -n "$SERVER_NS" link set dev "$SERVER_IF" xdp off ;;
    xdp-tx)
      ip -n "$SERVER_NS" link set dev "$SERVER_IF" xdp off
      ip -n "$CLIENT_NS" link set dev "$CLIENT_IF" xdp off
      ;;
  esac
  # eightfold's and xdp-echo's program goes with the process (a BPF link); wait until it has.
  for _ in $(seq 1 50); do
    ip -n "$SERVER_NS" link show "$SERVER_IF" | grep -q 'prog/xdp' || return 0
    sleep 0.1
  done
  say "$1: an XDP program is still attached to $SERVER_IF after it stopped:"
  ip -n "$SERVER_NS" link show "$SERVER_IF" >&2
  exit 1
}

# Busy jiffies of all cores.
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# Frames the server's veth redirected (to an AF_XDP socket) and sent back (XDP_TX), all queues.
xdp_counters() {
  if ! command -v ethtool >/dev/null; then
    echo "0 0"
    return
  fi
  in_server ethtool -S "$SERVER_IF" |
    awk '/rx_queue_[0-9]+_xdp_redirect:/ { r += $2 } /rx_queue_[0-9]+_xdp_tx:/ { t += $2 } END { print r + 0, t + 0 }'
}

# Context switches so far of every thread of process $1 (0 with no process: xdp-tx): how
# often the server slept and was woken, which at a fixed rate says how many replies it sends
# per wakeup.
switches() {
  if [ -z "$1" ]; then
    echo 0
    return
  fi
  cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ { n += $2 } END { print n + 0 }'
}

measure() { # $1 server, $2 round
  local before after out completed redirected0 sent0 redirected1 sent1 args=(-s "$SERVER_IP4" -p "$PORT" -d "$WORK/queries.txt" -c 1 -T 1)
  if [ "$RATE" -gt 0 ]; then args+=(-Q "$RATE"); fi
  if [ "$WARMUP" -gt 0 ]; then
    in_client taskset -c "$CLIENT_CORE" dnsperf "${args[@]}" -l "$WARMUP" >/dev/null 2>&1 || true
  fi
  args+=(-l "$DURATION")
  read -r redirected0 sent0 <<<"$(xdp_counters)"
  local profile=
  if [ -n "$PERF" ] && [ "$2" = "$ROUNDS" ]; then
    profile=$PERF/${1//+/-}.data
    # Started before the busy count and ended inside the run: its own start-up is not in the
    # figure, its sampling is (in every server's last round alike).
    perf record -a -g -q -o "$profile" -- sleep "$((DURATION > 4 ? DURATION - 2 : DURATION))" >/dev/null 2>&1 &
  fi
  local switches0 switches1
  switches0=$(switches "$SERVER_PID")
  before=$(busy)
  out=$(in_client taskset -c "$CLIENT_CORE" dnsperf "${args[@]}" 2>&1)
  after=$(busy)
  switches1=$(switches "$SERVER_PID")
  if [ -n "$profile" ]; then
    wait $! || true
    {
      echo "# $1: perf record -a -g, $RATE queries/s offered (0: flat out)"
      echo "## by thread"
      perf report -i "$profile" --no-children --sort comm -g none --percent-limit 1 --stdio 2>/dev/null | grep -v '^#' | sed '/^$/d'
      echo "## by thread and DSO"
      perf report -i "$profile" --no-children --sort comm,dso -g none --percent-limit 1 --stdio 2>/dev/null | grep -v '^#' | sed '/^$/d'
      echo "## top symbols"
      perf report -i "$profile" --no-children --sort comm,sym -g none --percent-limit 0.7 --stdio 2>/dev/null | grep -v '^#' | sed '/^$/d'
    } >"${profile%.data}.txt"
  fi
  read -r redirected1 sent1 <<<"$(xdp_counters)"
  completed=$(sed -n 's/.*Queries completed: *\([0-9]*\).*/\1/p' <<<"$out")
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "${completed:-0}" "$((after - before))" >>"$RESULTS"
  say "  $1: ${completed:-0} replies, $((after - before)) busy jiffies, $((switches1 - switches0)) context switches; XDP on $SERVER_IF: $((redirected1 - redirected0)) redirected, $((sent1 - sent0)) sent back (XDP_TX)"
}

hz=$(getconf CLK_TCK)
for round in $(seq 1 "$ROUNDS"); do
  for s in $SERVERS; do
    say "round $round: $s"
    start "$s"
    measure "$s" "$round"
    stop "$s"
  done
done

knot_version=$(knotd --version 2>/dev/null | sed -n 's/.*version \([0-9.]*\).*/\1/p') || true
say "machine: $(nproc) cores, $(awk '/model name/ {sub(/.*: /, ""); print; exit}' /proc/cpuinfo), kernel $(uname -r)"
python3 - "$RESULTS" "$hz" "$RATE" "$DURATION" "$SERVERS" "${knot_version:-?}" <<'PY'
import statistics, sys
path, hz, rate, duration, servers, knot = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5].split(), sys.argv[6]
labels = {
    "echo": "kernel UDP echo (tools/udp-echo)",
    "eightfold": "eightfold, sockets",
    "knot": f"Knot {knot}, sockets",
    "knot+xdp": f"Knot {knot}, XDP (tools/xdp/knot-compat.bpf.o)",
    "xdp-echo": "AF_XDP echo (tools/xdp-echo)",
    "xdp-tx": "XDP_TX turnaround in the kernel (no user space: dnsperf and the veth alone)",
    "eightfold+xdp": "eightfold, AF_XDP (`xdp = [...]`)",
    "baseline+xdp": "eightfold, AF_XDP, the BASELINE build",
}
runs = {}
for line in open(path):
    server, rnd, completed, jiffies = line.split()
    if int(completed) > 0:
        runs.setdefault(server, {})[int(rnd)] = (int(completed), int(jiffies) / hz)
def per_reply(server, rnd):
    completed, busy = runs[server][rnd]
    return busy / completed * 1e6
offered = f"{rate:,} queries/s" if rate else "as fast as dnsperf can"
rounds_run = len(next(iter(runs.values()))) if runs else 0
print(f"System-wide CPU per reply (all cores' busy time / replies), {rounds_run} interleaved {duration}s rounds, offered {offered}")
knot_xdp = "knot+xdp" in runs
print("| server | replies/s | CPU per reply (us), median | range | vs echo, round by round |" + (" vs Knot XDP (rounds cheaper) |" if knot_xdp else ""))
print("|---|---|---|---|---|" + ("---|" if knot_xdp else ""))
for server in servers:
    label = labels.get(server, server)
    if server not in runs:
        print(f"| {label} | - | - | - | - |" + (" - |" if knot_xdp else ""))
        continue
    rounds = sorted(runs[server])
    values = [per_reply(server, r) for r in rounds]
    qps = statistics.median(runs[server][r][0] for r in rounds) / float(duration)
    ratio = "-"
    if "echo" in runs:
        ratios = [per_reply(server, r) / per_reply("echo", r) for r in rounds if r in runs["echo"]]
        if ratios:
            ratio = f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
    versus = ""
    if knot_xdp:
        ratios = [per_reply(server, r) / per_reply("knot+xdp", r) for r in rounds if r in runs["knot+xdp"]]
        cheaper = sum(1 for x in ratios if x < 1)
        versus = f" {statistics.median(ratios):.3f}x ({cheaper} of {len(ratios)}) |" if ratios else " - |"
    print(f"| {label} | {qps:,.0f} | {statistics.median(values):.2f} | {min(values):.2f}-{max(values):.2f} | {ratio} |{versus}")
PY
