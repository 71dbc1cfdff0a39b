#!/usr/bin/env bash
# Side-by-side benchmark: eightfold against gdnsd, Knot and NSD, and a kernel echo floor,
# driven by dnsperf, on one Debian machine. Run it as root (it installs what it lacks):
#
#   tools/bench-peers.sh                 # about 8 minutes; DURATION=20 or ROUNDS=5 for more
#   SERVERS="echo eightfold" MODES=udp BIG_NAMES=0 tools/bench-peers.sh    # one comparison
#   TIMING=1 RATE=60000 SERVERS=eightfold MODES=udp BIG_NAMES=0 tools/bench-peers.sh
#                                        # also time each answer inside the worker (see below)
#   RAW=/tmp/a.txt tools/bench-peers.sh  # keep each run's figures, then pool several runs:
#   tools/bench-peers.sh report /tmp/a.txt /tmp/b.txt
#
# Each server serves the same zone on 127.0.0.1 with one worker, pinned to SERVER_CORE;
# dnsperf is pinned to CLIENT_CORE. The name under test has 16 A records for eightfold
# (multivalue, health-checked, all healthy, 8 per answer), 8 A records for Knot and NSD, and
# gdnsd's multifo over 8 addresses with live TCP health checks. The query mix is 60% that
# name, then a static A, an AAAA, an NXDOMAIN and a NODATA.
#
# On a 2-core machine dnsperf saturates its own core before a good server saturates the
# other, so queries per second mostly measure dnsperf. What compares the servers is the CPU
# time each spends per answered query (user and system, from /proc), reported with its
# ratio to the echo floor (recvmmsg/sendmmsg and nothing else) and to gdnsd.
#
# Flat out, a server that keeps up with dnsperf often finds its socket empty and sleeps, and
# each sleep and wake-up is system time charged to it; a slower server always finds packets
# waiting and pays less per packet. RATE=N offers every server the same N queries/s (below
# what each can answer), so all of them see the same arrival pattern.
#
# TIMING=1 builds eightfold with `--features answer-timing`: each worker times every answer
# and the script reports the mean for the first datagram of each received batch (the one that
# meets the caches as the wake-up left them) and for the later ones, next to criterion's warm
# figure for the same code. That build does a little more work per query, so its CPU figures
# are not the ones to compare.
#
# eightfold answers repeated questions from each worker's answer cache ([server] answer_cache);
# SERVERS="... eightfold-nocache ..." adds a run of the same server with the cache off.
#
# SERVERS="... eightfold+cluster ..." adds a run of the same server as a member of a fleet
# (`[cluster]`, against one etcd on 127.0.0.1, started once and run on the client's core like
# the health checks' listeners): what a fleet costs the UDP path.
#
#   SERVERS="echo eightfold eightfold+cluster" MODES=udp BIG_NAMES=0 ROUNDS=5 tools/bench-peers.sh
#
# DNSSEC: SERVERS="... eightfold+dnssec ..." runs the same eightfold setup with the zone signed
# ([zone.dnssec], one ECDSA P-256 key made by `eightfold keygen` in the work directory) and
# dnsperf setting the DO bit on every query (-D, which also adds EDNS); eightfold+signed is the
# signed zone asked without DO (what a signed zone costs plain queries); knot+dnssec is Knot
# signing the same zone itself at load (ECDSA P-256, one combined key, NSEC), asked with DO.
# Before each of these runs a `dig +dnssec` must show an RRSIG over the multivalue name's A
# records (Knot is waited for until it has signed), or the script stops; the mean response size
# dnsperf saw is logged with each run. The report adds the ratios between them:
#
#   SERVERS="echo eightfold eightfold+dnssec eightfold+signed knot knot+dnssec" MODES=udp BIG_NAMES=0 tools/bench-peers.sh
#
# A last part loads a generated zone of 1,000,000 names into eightfold and Knot, ROUNDS
# times each, unpinned, and reports the median time until the last name is answered and
# the resident memory 3 s later. MANY_ZONES=50000 does the same for that many small zones,
# one file each:
#
#   SERVERS=" " MODES=" " BIG_NAMES=0 MANY_ZONES=50000 ROUNDS=3 tools/bench-peers.sh
#
# The zone and the peers' configuration templates are in tools/peers/; the tables are
# computed by tools/bench_stats.py (`python3 tools/bench_stats.py --self-test` checks it).
set -euo pipefail

DURATION=${DURATION:-10}
SERVER_CORE=${SERVER_CORE:-1}
CLIENT_CORE=${CLIENT_CORE:-0}
BIG_NAMES=${BIG_NAMES:-1000000}     # 0 skips the zone-load comparison
MANY_ZONES=${MANY_ZONES:-0}         # N > 0 adds a load comparison of N small zones
SERVERS=${SERVERS:-"echo eightfold eightfold+checks gdnsd knot nsd"}
MODES=${MODES:-"udp tcp"}
ROUNDS=${ROUNDS:-3}                 # rounds are interleaved; the median is reported
CHECKS_MANY=${CHECKS_MANY:-1000}
RATE=${RATE:-0}                     # queries/s dnsperf offers (-Q); 0 = as fast as it can
TIMING=${TIMING:-0}                 # 1: build eightfold with answer timing and report it
DNSSEC_KEY=                         # eightfold's signing key (its stem), made by main when needed
RAW=${RAW:-}                        # a file: each run's line (name, transport, answered, lost,
                                    # qps, user and system ticks, sleeps, CPU ns) is copied there
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# fill, write_zones and PEERS (the templates' directory).
# shellcheck source=tools/peers/common.sh
source "$ROOT/tools/peers/common.sh"
STATS="$ROOT/tools/bench_stats.py"
WORK=$(mktemp -d /tmp/eightfold-bench.XXXXXX)
HZ=$(getconf CLK_TCK)
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill -- -"$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '%s\n' "$*" >&2; }

install_missing() {
  local missing=()
  command -v dnsperf >/dev/null || missing+=(dnsperf)
  command -v knotd >/dev/null || missing+=(knot)
  command -v nsd >/dev/null || missing+=(nsd)
  command -v gdnsd >/dev/null || missing+=(gdnsd)
  command -v dig >/dev/null || missing+=(dnsutils)
  command -v taskset >/dev/null || missing+=(util-linux)
  command -v python3 >/dev/null || missing+=(python3)
  if [[ " $SERVERS " == *" eightfold+cluster "* ]]; then command -v etcd >/dev/null || missing+=(etcd-server); fi
  if ((${#missing[@]})); then
    say "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

build() {
  if [ "$TIMING" = 1 ]; then
    say "building eightfold with --features answer-timing and the echo floor (release)"
    (cd "$ROOT" && cargo build --release --quiet --features answer-timing)
  else
    say "building eightfold and the echo floor (release)"
    (cd "$ROOT" && cargo build --release --quiet)
  fi
  # The echo floor is a workspace member outside the default members: built by name, into
  # the workspace's target directory.
  (cd "$ROOT" && cargo build --release --quiet -p udp-echo)
}

# TCP listeners that health checks probe: 127.0.1.1-16 and 127.0.2.0/22 (for CHECKS_MANY).
# They stand in for remote endpoints, so they run on the client's core, not the server's.
start_listeners() {
  taskset -c "$CLIENT_CORE" python3 - "$CHECKS_MANY" <<'EOF' &
import selectors, socket, sys
many = int(sys.argv[1])
addrs = [f"127.0.1.{i}" for i in range(1, 17)] + [f"127.0.{2 + i // 250}.{1 + i % 250}" for i in range(many)]
sel = selectors.DefaultSelector()
for a in addrs:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a, 8053)); s.listen(512); s.setblocking(False); sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        try:
            c, _ = key.fileobj.accept(); c.close()
        except OSError:
            pass
EOF
  PIDS+=($!)
}

# One etcd on loopback for eightfold+cluster (data in $WORK), on the client's core.
ETCD_PORT=15380
start_etcd() {
  local url="http://127.0.0.1:$ETCD_PORT" peer="http://127.0.0.1:$((ETCD_PORT + 1))"
  taskset -c "$CLIENT_CORE" etcd --name bench --data-dir "$WORK/etcd" \
    --listen-client-urls "$url" --advertise-client-urls "$url" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" --initial-cluster "bench=$peer" \
    --logger zap --log-level warn >"$WORK/etcd.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    if curl -sf --max-time 1 "$url/health" 2>/dev/null | grep -q '"true"'; then return; fi
    sleep 0.1
  done
  say "etcd did not start:"
  cat "$WORK/etcd.log" >&2
  exit 1
}

# eightfold's [cluster] table: a fleet of one, named after the port (a fresh set of keys).
cluster_table() { # $1 port
  printf '[cluster]\nendpoints = ["http://127.0.0.1:%s"]\nname = "bench-%s"\ninstance = "bench"\n' "$ETCD_PORT" "$1"
}

eightfold_config() { # $1 port, $2 extra checks, $3 more [server] lines, $4 more tables, $5 the zone's tables
  local file="$WORK/eightfold-$1.toml"
  {
    printf '[server]\nlisten = ["127.0.0.1:%s"]\nworkers = 1\nminimal_responses = true\n%s' "$1" "${3:-}"
    printf '[[zone]]\norigin = "example.com."\nfile = "%s"\n' "$WORK/eightfold.zone"
    if [ -n "${5:-}" ]; then printf '%s\n' "$5"; fi
    for i in $(seq 1 16); do
      printf '[[health_check]]\nid = "mv%s"\ntype = "TCP"\nip = "127.0.1.%s"\nport = 8053\nrequest_interval = 10\n' "$i" "$i"
      printf '[[record]]\nname = "mv"\ntype = "A"\nttl = 60\nrouting = "multivalue"\nset_id = "mv%s"\nvalues = ["127.0.1.%s"]\nhealth_check = "mv%s"\n' "$i" "$i" "$i"
    done
    for i in $(seq 0 $(($2 - 1))); do
      printf '[[health_check]]\nid = "extra%s"\ntype = "TCP"\nip = "127.0.%s.%s"\nport = 8053\nrequest_interval = 10\n' "$i" $((2 + i / 250)) $((1 + i % 250))
    done
    printf '%s' "${4:-}"
  } >"$file"
  echo "$file"
}

start_server() { # $1 name, $2 port; prints the pid (a process group leader)
  local name=$1 port=$2 dir="$WORK/$1"
  mkdir -p "$dir"
  case $name in
    echo) setsid taskset -c "$SERVER_CORE" "$ROOT/target/release/udp-echo" "127.0.0.1:$port" >"$dir/log" 2>&1 & ;;
    eightfold) setsid taskset -c "$SERVER_CORE" "$ROOT/target/release/eightfold" serve --config "$(eightfold_config "$port" 0)" >"$dir/log" 2>&1 & ;;
    eightfold-nocache) setsid taskset -c "$SERVER_CORE" "$ROOT/target/release/eightfold" serve --config "$(eightfold_config "$port" 0 $'answer_cache = 0\n')" >"$dir/log" 2>&1 & ;;
    eightfold+cluster) setsid taskset -c "$SERVER_CORE" "$ROOT/target/release/eightfold" serve --config "$(eightfold_config "$port" 0 "" "$(cluster_table "$port")")" >"$dir/log" 2>&1 & ;;
    eightfold+checks) setsid taskset -c "$SERVER_CORE" "$ROOT/target/release/eightfold" serve --config "$(eightfold_config "$port" "$CHECKS_MANY")" >"$dir/log" 2>&1 & ;;
    eightfold+dnssec|eightfold+signed)
      setsid taskset -c "$SERVER_CORE" "$ROOT/target/release/eightfold" serve \
        --config "$(eightfold_config "$port" 0 "" "" "$(printf '[zone.dnssec]\nkeys = ["%s"]\n' "$DNSSEC_KEY")")" >"$dir/log" 2>&1 & ;;
    gdnsd)
      mkdir -p "$dir/zones"
      cp "$WORK/gdnsd.zone" "$dir/zones/example.com"
      fill gdnsd.config.in "$dir/config" PORT="$port" DIR="$dir"
      setsid taskset -c "$SERVER_CORE" gdnsd -c "$dir" start >"$dir/log" 2>&1 & ;;
    knot)
      fill knot.conf.in "$dir/knot.conf" ADDRESS=127.0.0.1 PORT="$port" DIR="$dir" ZONEFILE="$WORK/plain.zone"
      setsid taskset -c "$SERVER_CORE" knotd -c "$dir/knot.conf" >"$dir/log" 2>&1 & ;;
    knot+dnssec)
      fill knot-dnssec.conf.in "$dir/knot.conf" ADDRESS=127.0.0.1 PORT="$port" DIR="$dir" ZONEFILE="$WORK/plain.zone"
      setsid taskset -c "$SERVER_CORE" knotd -c "$dir/knot.conf" >"$dir/log" 2>&1 & ;;
    nsd)
      fill nsd.conf.in "$dir/nsd.conf" PORT="$port" DIR="$dir" ZONESDIR="$WORK"
      setsid taskset -c "$SERVER_CORE" nsd -d -c "$dir/nsd.conf" >"$dir/stdout" 2>&1 & ;;
  esac
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 100); do
    if dig +short +time=1 +tries=1 -p "$port" @127.0.0.1 static.example.com A 2>/dev/null | grep -q 192.0.2.7; then
      echo "$pid"
      return
    fi
    if [ "$name" = echo ] && grep -q listening "$dir/log" 2>/dev/null; then
      echo "$pid"
      return
    fi
    sleep 0.2
  done
  say "$name did not start:"
  cat "$dir"/log* >&2 || true
  exit 1
}

# Of every process in the group: user and system ticks (/proc/PID/stat, in CLK_TCK units,
# split by where the scheduler tick found the thread), CPU time in nanoseconds (the sum of
# each thread's /proc/PID/task/TID/schedstat, exact: a tick is 10 ms, and a run of a few
# seconds of CPU read to the tick at both ends is off by up to 0.5%), and the number of
# times its threads went to sleep (voluntary context switches: one per wake-up of an idle
# worker).
cpu_ticks() { # $1 pgid -> "user system sleeps nanoseconds"
  local user=0 sys=0 sleeps=0 ns=0 pid stat rest n t
  for pid in $(ps -o pid= -g "$1" 2>/dev/null); do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    rest=${stat##*) }
    # shellcheck disable=SC2086 # split into stat's fields on purpose
    set -- $rest
    user=$((user + ${12})) sys=$((sys + ${13}))
    n=$(awk '/^voluntary_ctxt_switches/ {n += $2} END {print n + 0}' /proc/"$pid"/task/*/status 2>/dev/null) || n=0
    sleeps=$((sleeps + n))
    t=$(awk '{n += $1} END {printf "%.0f", n}' /proc/"$pid"/task/*/schedstat 2>/dev/null) || t=0
    ns=$((ns + ${t:-0}))
  done
  echo "$user $sys $sleeps $ns"
}

# Knot pins its UDP worker i to CPU i itself, whatever taskset said, which on two cores puts
# it on dnsperf's core (where a reply wakes nobody on another core, so it costs less). Every
# thread that left SERVER_CORE is put back, and said so.
keep_on_core() { # $1 pgid, $2 name
  local pid task allowed
  for pid in $(ps -o pid= -g "$1" 2>/dev/null); do
    for task in /proc/"$pid"/task/*; do
      allowed=$(awk '/^Cpus_allowed_list/ {print $2}' "$task/status" 2>/dev/null) || continue
      if [ -n "$allowed" ] && [ "$allowed" != "$SERVER_CORE" ]; then
        say "$2: thread ${task##*/} had moved itself to CPU $allowed; pinned back to $SERVER_CORE"
        taskset -pc "$SERVER_CORE" "${task##*/}" >/dev/null
      fi
    done
  done
}

# The servers that serve a signed zone, and those of them that dnsperf asks with DO.
signed() { [[ $1 == *+dnssec || $1 == *+signed ]]; }
asked_with_do() { [[ $1 == *+dnssec ]]; }

# A signed server's answer to a DO query for the multivalue name must hold its 8 A records and
# an RRSIG over them, and the NXDOMAIN an NSEC, before it is measured: a broken setup must not
# be measured as a signed one. Waits up to 30 s (Knot signs after it starts answering); on
# failure stops the server and the script, showing the answer and the server's log.
check_signed() { # $1 name, $2 port, $3 pid
  local answer denial
  for _ in $(seq 1 150); do
    answer=$(dig +dnssec +norec +time=1 +tries=1 -p "$2" @127.0.0.1 mv.example.com A 2>/dev/null) || true
    denial=$(dig +dnssec +norec +time=1 +tries=1 -p "$2" @127.0.0.1 nothing.example.com A 2>/dev/null) || true
    if [ "$(grep -cE '^mv\.example\.com\.\s+[0-9]+\s+IN\s+A\s' <<<"$answer")" = 8 ] &&
      grep -qE '^mv\.example\.com\.\s+[0-9]+\s+IN\s+RRSIG\s+A\s+13\s' <<<"$answer" &&
      grep -qE '\sIN\s+NSEC\s' <<<"$denial"; then
      say "$1: signed (a DO query for mv.example.com A gets 8 A records and their RRSIG, the NXDOMAIN an NSEC)"
      return
    fi
    sleep 0.2
  done
  say "$1: no signed answer after 30 s; the last answers:"
  printf '%s\n%s\n' "$answer" "$denial" >&2
  cat "$WORK/$1"/log >&2 || true
  kill -- -"$3" 2>/dev/null || true
  exit 1
}

run_one() { # $1 name, $2 port, $3 mode (udp|tcp)
  local name=$1 port=$2 mode=$3 pid out
  pid=$(start_server "$name" "$port")
  if signed "$name"; then check_signed "$name" "$port" "$pid"; fi
  sleep 1
  keep_on_core "$pid" "$name"
  read -r u0 s0 w0 n0 <<<"$(cpu_ticks "$pid")"
  local args=(-s 127.0.0.1 -p "$port" -d "$WORK/queries.txt" -l "$DURATION" -m "$mode")
  if [ "$mode" = udp ]; then args+=(-c 8 -q 512); else args+=(-c 16 -q 256); fi
  if [ "$RATE" -gt 0 ]; then args+=(-Q "$RATE"); fi
  if asked_with_do "$name"; then args+=(-D); fi
  out=$(taskset -c "$CLIENT_CORE" dnsperf "${args[@]}" 2>&1)
  read -r u1 s1 w1 n1 <<<"$(cpu_ticks "$pid")"
  kill -- -"$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ "$TIMING" = 1 ] && [[ $name == eightfold* ]]; then
    # "answer timing: first_count=N first_ns=X later_count=M later_ns=Y clock_ns=C"
    sed -n 's/.*answer timing: //p' "$WORK/$name/log" | sed "s/^/$name $mode /" >>"$WORK/timing"
  fi
  local completed lost qps
  completed=$(awk '/Queries completed:/ {print $3}' <<<"$out")
  lost=$(awk '/Queries lost:/ {print $3}' <<<"$out")
  qps=$(awk '/Queries per second:/ {print $4}' <<<"$out")
  # "Average packet size: request 32, response 174": signed DO answers are the larger.
  say "  $name over $mode: mean response $(awk '/Average packet size:/ {print $7}' <<<"$out") bytes, mean query $(awk '/Average packet size:/ {print $5}' <<<"$out" | tr -d ,) bytes"
  echo "$name $mode ${completed:-0} ${lost:-0} ${qps:-0} $((u1 - u0)) $((s1 - s0)) $((w1 - w0)) $((n1 - n0))"
}

report() { # $@ results files (several: their rounds pooled)
  python3 "$STATS" report "$HZ" "$@"
}

# Loads what $WORK/load-eightfold/c.toml and $WORK/load-knot/knot.conf describe into each
# server, ROUNDS times, and reports the median time until $2 answers (its A matching $3) and
# the resident memory 3 s later. Not pinned: each server may use the whole machine to load.
load_rounds() { # $1 what is loaded (for the table), $2 the last name to appear, $3 its address (regex)
  local results="$WORK/load-results"
  : >"$results"
  for round in $(seq 1 "$ROUNDS"); do
    for name in eightfold knot; do
      local dir="$WORK/load-$name" port
      port=$(load_port "$name")
      if [ "$name" = eightfold ]; then
        local cmd=("$ROOT/target/release/eightfold" serve --config "$dir/c.toml")
      else
        rm -rf "$dir"/*.mdb "$dir"/timers "$dir"/journal "$dir"/catalog 2>/dev/null || true
        local cmd=(knotd -c "$dir/knot.conf")
      fi
      local start end pid
      say "round $round: loading $1 into $name"
      start=$(date +%s.%N)
      setsid "${cmd[@]}" >"$dir/log" 2>&1 &
      pid=$!
      PIDS+=("$pid")
      until dig +short +time=1 +tries=1 -p "$port" @127.0.0.1 "$2" A 2>/dev/null | grep -q "$3"; do sleep 0.02; done
      end=$(date +%s.%N)
      # Resident memory once settled (eightfold frees its build-time data after it starts answering).
      sleep 3
      local rss
      rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
      echo "$name $(echo "$end - $start" | bc) $rss" >>"$results"
      kill -- -"$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    done
  done
  python3 "$STATS" load "$results" "$1"
}

load_port() { echo $((15390 + ${#1})); }
thousands() { python3 -c "print(f'{int(\"$1\"):,}')"; }

# The configs for load_rounds: eightfold's server section and Knot's server and database
# sections, zones to follow.
load_configs() {
  local e="$WORK/load-eightfold" k="$WORK/load-knot"
  mkdir -p "$e" "$k"
  printf '[server]\nlisten = ["127.0.0.1:%s"]\nworkers = 1\n' "$(load_port eightfold)" >"$e/c.toml"
  printf 'server:\n    listen: 127.0.0.1@%s\n    rundir: %s\n    udp-workers: 1\n    tcp-workers: 1\n%sdatabase:\n    storage: %s\n' \
    "$(load_port knot)" "$k" "$1" "$k" >"$k/knot.conf"
}

# One zone of BIG_NAMES names, one A record each. (eightfold scans the zone file on a second
# thread while it builds the zone; Knot loads one zone on one worker.)
big_zone() {
  local file="$WORK/big.zone"
  python3 - "$BIG_NAMES" "$file" <<'EOF'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    f.write("$ORIGIN big.test.\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n")
    for i in range(n):
        f.write(f"h{i} A 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n")
EOF
  load_configs $'    background-workers: 1\n'
  printf '[[zone]]\norigin = "big.test."\nfile = "%s"\n' "$file" >>"$WORK/load-eightfold/c.toml"
  printf 'zone:\n  - domain: big.test.\n    file: %s\n    journal-content: none\n    zonefile-sync: -1\n' "$file" >>"$WORK/load-knot/knot.conf"
  load_rounds "$(thousands "$BIG_NAMES") names" "h$((BIG_NAMES - 1)).big.test" '^10\.'
}

# MANY_ZONES small zones (SOA, NS, the name server's A and a www A), one file each, as a
# hosting provider serves them. Knot keeps its default background workers, which load zones
# in parallel; eightfold reads the zone files one after another.
many_zones() {
  local dir="$WORK/many"
  mkdir -p "$dir"
  load_configs ''
  python3 - "$MANY_ZONES" "$dir" "$WORK/load-eightfold/c.toml" "$WORK/load-knot/knot.conf" <<'EOF'
import sys
n, dir, eightfold, knot = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
body = "$TTL 3600\n@ SOA ns1 hostmaster 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\nwww A 192.0.2.1\n"
with open(eightfold, "a") as e, open(knot, "a") as k:
    k.write(f"template:\n  - id: default\n    storage: {dir}\n    file: \"%s.zone\"\n    journal-content: none\n    zonefile-sync: -1\nzone:\n")
    for i in range(n):
        origin = f"z{i}.many.test."
        with open(f"{dir}/{origin}zone", "w") as f:
            f.write(body)
        e.write(f'[[zone]]\norigin = "{origin}"\nfile = "{dir}/{origin}zone"\n')
        k.write(f"  - domain: {origin}\n")
EOF
  load_rounds "$(thousands "$MANY_ZONES") zones" "www.z$((MANY_ZONES - 1)).many.test" '^192\.0\.2\.1$'
}

# The answer times eightfold's workers logged (TIMING=1), over every run: the first datagram of
# each received batch, which meets the caches as a wake-up left them, and the later ones.
timing_report() { # $1 lines "name mode first_count=.. first_ns=.. later_count=.. later_ns=.. clock_ns=.."
  [ -s "$1" ] || { echo "no answer timing logged"; return; }
  python3 "$STATS" timing "$1"
}

main() {
  install_missing
  build
  write_zones "$WORK"
  start_listeners
  if [[ " $SERVERS " == *" eightfold+cluster "* ]]; then start_etcd; fi
  if [[ " $SERVERS " == *" eightfold+dnssec "* || " $SERVERS " == *" eightfold+signed "* ]]; then
    DNSSEC_KEY="$WORK/$("$ROOT/target/release/eightfold" keygen --dir "$WORK" --ksk example.com.)"
  fi
  say "machine: $(nproc) cores, $(awk '/model name/ {sub(/.*: /, ""); print; exit}' /proc/cpuinfo); servers on core $SERVER_CORE, dnsperf on core $CLIENT_CORE, ${DURATION}s per run"
  local results="$WORK/results" port=15400
  : >"$results"
  for round in $(seq 1 "$ROUNDS"); do
    for mode in $MODES; do
      for name in $SERVERS; do
        port=$((port + 1))
        say "round $round: $name over $mode"
        run_one "$name" "$port" "$mode" >>"$results"
      done
    done
  done
  echo
  echo "Per-query CPU, median of $ROUNDS interleaved ${DURATION}s runs; offered rate: $([ "$RATE" -gt 0 ] && echo "$RATE queries/s" || echo "as fast as dnsperf can"); mix: 60% multivalue name, static A, AAAA, NXDOMAIN, NODATA"
  echo "(eightfold+checks: $CHECKS_MANY extra TCP health checks running every 10 s; eightfold-nocache: answer_cache = 0)"
  echo "(eightfold+dnssec and knot+dnssec: the zone signed, every query with DO (and EDNS); eightfold+signed: the signed zone, queries without DO)"
  echo "(vs echo floor and vs gdnsd: ratios of the medians; round by round: each run over the echo run of the same round, median and range;"
  echo " 90% interval: where that median falls in 90% of 2,000 bootstrap resamples of the rounds, to tell a real difference from this host's noise)"
  echo
  report "$results"
  if [ -n "$RAW" ]; then cp "$results" "$RAW"; fi
  if [ "$TIMING" = 1 ]; then
    echo
    timing_report "$WORK/timing"
  fi
  if [ "$BIG_NAMES" -gt 0 ]; then
    echo
    big_zone
  fi
  if [ "$MANY_ZONES" -gt 0 ]; then
    echo
    many_zones
  fi
}

if [ "${1:-}" = report ]; then
  # Report on runs kept with RAW=FILE, several files pooled: each run is paired with the
  # echo run of its own round, and the ratios of all rounds resampled together.
  shift
  [ $# -gt 0 ] || { say "usage: $0 report RAW_FILE..."; exit 2; }
  report "$@"
  exit
fi
main "$@"
