#!/usr/bin/env bash
# A fleet on one machine, measured: one etcd (ETCD_MEMBERS=3 for three) and INSTANCES
# eightfold release instances on loopback, each with the same CHECKS HTTP health checks
# against one local HTTP server (one resource_path per check, so each check is its own
# target and the server counts the probes each gets).
#
#   tools/fleet-bench.sh [CHECKS]               (default 1000; about 5 minutes at 1,000)
#   INTERVAL=900 tools/fleet-bench.sh 100000    (long interval: every probe is a connection
#                                                from 127.0.0.1 to one port, and above about
#                                                450 a second the ephemeral ports run out)
#   BIN=path/to/eightfold tools/fleet-bench.sh  (skip the build)
#
# It reports, in order:
#   (a) the fill: seconds from the instances' start until etcd holds a report from each of
#       a check's observers for every check (first probes are spread over one
#       request_interval, so this is at least INTERVAL), and until every instance is
#       connected with its cache at etcd's revision; then the cold start of one instance
#       into the full fleet (killed and started again): seconds until its cache holds every
#       report, which is what an instance pays at every start;
#   (b) CPU of the threads `fleet`, `fleet-watch` and `prober`, and of the whole process,
#       per instance, during the fill and over a WINDOW-second steady window after it; the
#       resident memory of each instance beside one standalone instance (the same checks,
#       no [cluster]) after the same window;
#   (c) probes per target per request_interval, counted at the target: with sharding
#       (observers_per_check = K of INSTANCES) and with `observers = "all"`;
#   (d) seconds from a target going down to the last instance answering without its record,
#       and from it coming back to the last instance answering with it again (ROUNDS rounds,
#       each at a random phase of the check's interval, every instance queried every 20 ms);
#   (e) the write-to-watch lag (eightfold_cluster_watch_lag_seconds, sampled from one
#       instance after another during the fill and the steady window);
#   (f) etcd stopped for PAUSE_ETCD seconds (past lease_ttl: every lease and report goes):
#       seconds from its return until every report is written again.
#
# Everything listens on 127.0.0.1 on free ports and is stopped on exit; every wait is
# bounded. The figures are CPU seconds from /proc (utime + stime, CLK_TCK ticks), resident
# memory in MB (10^6 bytes).
set -euo pipefail
cd "$(dirname "$0")/.."

CHECKS=${1:-1000}
INSTANCES=${INSTANCES:-4}           # K of INSTANCES probe each check; K < INSTANCES shows sharding
K=${K:-3}
INTERVAL=${INTERVAL:-30}            # request_interval of the CHECKS checks, seconds
WINDOW=${WINDOW:-60}                # steady window, seconds
ROUNDS=${ROUNDS:-5}                 # target-down rounds
DOWN_INTERVAL=${DOWN_INTERVAL:-5}   # request_interval of the check taken down
DOWN_THRESHOLD=${DOWN_THRESHOLD:-2} # its failure_threshold
ETCD_MEMBERS=${ETCD_MEMBERS:-1}
ALL=${ALL:-1}                       # 0 skips the `observers = "all"` run
PAUSE_ETCD=${PAUSE_ETCD:-15}        # (f): seconds etcd is stopped (SIGSTOP); 0 skips it
CLUSTER_EXTRA=${CLUSTER_EXTRA:-}    # more [cluster] lines, e.g. "self_check_interval = 3600"
FILL_LIMIT=${FILL_LIMIT:-$((INTERVAL * 2 + 300))}
bin=${BIN:-target/release/eightfold}
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
fi
command -v etcd >/dev/null || { echo "etcd is needed (apt-get install etcd-server)" >&2; exit 1; }
((INSTANCES >= 1 && INSTANCES <= 26 && K >= 1 && CHECKS >= 1)) || { echo "bad INSTANCES, K or CHECKS" >&2; exit 2; }

work=$(mktemp -d /tmp/eightfold-fleet.XXXXXX)
hz=$(getconf CLK_TCK)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
say() { printf '%s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
names=(a b c d e f g h i j k l m n o p q r s t u v w x y z)

# Free loopback ports, all bound at once so none repeats.
free_ports() { # $1 how many
  python3 - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}
read -r -a ports <<<"$(free_ports $((2 + ETCD_MEMBERS * 2 + (INSTANCES + 1) * 2)))"
target_port=${ports[0]} standalone_target_port=${ports[1]}

# The target: answers 200 to every path, 503 to paths marked down, and counts requests per
# path of the CHECKS checks (/cN). GET /__down/PATH, /__up/PATH, /__reset and /__counts ("requests distinct") steer it.
cat >"$work/target.py" <<'EOF'
import asyncio, resource, sys
counts, down = {}, set()
async def handle(reader, writer):
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        path = head.split(b" ", 2)[1].decode()
        body = b""
        if path.startswith("/__down/"):
            down.add(path[7:])
        elif path.startswith("/__up/"):
            down.discard(path[5:])
        elif path == "/__reset":
            counts.clear()
        elif path == "/__counts":
            body = f"{sum(counts.values())} {len(counts)}\n".encode()
        elif path.startswith("/c"):
            counts[path] = counts.get(path, 0) + 1
        status = b"503 Service Unavailable" if path in down else b"200 OK"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: " + str(len(body)).encode()
                     + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
    except Exception:
        pass
    writer.close()
async def main():
    # A loaded machine queues connections: more than the default 1,024 descriptors, and an
    # accept that fails is tried again, not logged.
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: None)
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]), backlog=4096)
    async with server:
        await server.serve_forever()
asyncio.run(main())
EOF
steer() { curl -sf --max-time 5 "http://127.0.0.1:$target_port/__$1"; }

python3 "$work/target.py" "$target_port" &
PIDS+=($!)
python3 "$work/target.py" "$standalone_target_port" &
PIDS+=($!)

# ---- etcd ----
endpoints=() initial=()
for m in $(seq 0 $((ETCD_MEMBERS - 1))); do
  endpoints+=("http://127.0.0.1:${ports[$((2 + m * 2))]}")
  initial+=("e$m=http://127.0.0.1:${ports[$((3 + m * 2))]}")
done
etcd_url=${endpoints[0]}
for m in $(seq 0 $((ETCD_MEMBERS - 1))); do
  peer=${initial[$m]#*=}
  etcd --name "e$m" --data-dir "$work/etcd$m" \
    --listen-client-urls "${endpoints[$m]}" --advertise-client-urls "${endpoints[$m]}" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
    --initial-cluster "$(IFS=,; echo "${initial[*]}")" --initial-cluster-state new \
    --initial-cluster-token "fleet-bench-${ports[2]}" --logger zap --log-level warn \
    >"$work/etcd$m.log" 2>&1 &
  PIDS+=($!)
done
for _ in $(seq 1 300); do
  curl -sf --max-time 1 "$etcd_url/health" | grep -q '"true"' && break
  sleep 0.1
done
curl -sf --max-time 1 "$etcd_url/health" | grep -q '"true"' || { say "etcd did not start"; cat "$work"/etcd*.log >&2; exit 1; }

b64() { printf '%s' "$1" | base64 -w0; }
# Keys under a prefix, and etcd's revision: "count revision".
etcd_count() { # $1 prefix, ending in /
  local end="${1%/}0"
  curl -sf --max-time 10 -X POST "$etcd_url/v3/kv/range" \
    -d "{\"key\":\"$(b64 "$1")\",\"range_end\":\"$(b64 "$end")\",\"count_only\":true}" |
    python3 -c 'import json, sys; r = json.load(sys.stdin); print(r.get("count", 0), r["header"]["revision"])' ||
    echo "0 0" # etcd too busy to answer in 10 s: counted as nothing yet
}

# ---- configs ----
cat >"$work/fleet.zone" <<'EOF'
$TTL 300
@ SOA ns1 hostmaster 1 7200 900 1209600 60
@ NS ns1
ns1 A 192.0.2.53
EOF
# The checks every instance shares: "down" (taken down in (d)) and "up" behind the name mv,
# then CHECKS checks with a path each.
checks_file() { # $1 target port, $2 extra line for the CHECKS checks, $3 output
  {
    printf '[[zone]]\norigin = "fleet.test."\nfile = "%s"\n' "$work/fleet.zone"
    for c in down up; do
      printf '[[health_check]]\nid = "%s"\ntype = "HTTP"\nip = "127.0.0.1"\nport = %s\nresource_path = "/%s"\n' "$c" "$1" "$c"
      printf 'request_interval = %s\nfailure_threshold = %s\n' "$DOWN_INTERVAL" "$DOWN_THRESHOLD"
    done
    printf '[[record]]\nname = "mv"\ntype = "A"\nttl = 60\nrouting = "multivalue"\nset_id = "down"\nvalues = ["192.0.2.1"]\nhealth_check = "down"\n'
    printf '[[record]]\nname = "mv"\ntype = "A"\nttl = 60\nrouting = "multivalue"\nset_id = "up"\nvalues = ["192.0.2.2"]\nhealth_check = "up"\n'
    awk -v n="$CHECKS" -v port="$1" -v interval="$INTERVAL" -v extra="$2" 'BEGIN {
      for (i = 0; i < n; i++) {
        printf "[[health_check]]\nid = \"c%d\"\ntype = \"HTTP\"\nip = \"127.0.0.1\"\nport = %s\nresource_path = \"/c%d\"\nrequest_interval = %s\n%s", i, port, i, interval, extra
      }
    }'
  } >"$3"
}
instance_config() { # $1 index, $2 fleet name ("" = standalone), $3 checks file
  local dir="$work/i$1"
  mkdir -p "$dir"
  {
    printf '[server]\nlisten = ["127.0.0.1:%s"]\nworkers = 1\ncontrol = "127.0.0.1:%s"\nstate_file = "%s/state"\n' \
      "$(dns_port "$1")" "$(control_port "$1")" "$dir"
    if [ -n "$2" ]; then
      printf '[cluster]\nendpoints = [%s]\nname = "%s"\ninstance = "%s"\nobservers_per_check = %s\n' \
        "$(printf '"%s",' "${endpoints[@]}" | sed 's/,$//')" "$2" "${names[$1]}" "$K"
      if [ -n "$CLUSTER_EXTRA" ]; then printf '%s\n' "$CLUSTER_EXTRA"; fi
    fi
    cat "$3"
  } >"$dir/config.toml"
  echo "$dir/config.toml"
}
base=$((2 + ETCD_MEMBERS * 2))
dns_port() { echo "${ports[$((base + $1 * 2))]}"; }
control_port() { echo "${ports[$((base + $1 * 2 + 1))]}"; }
standalone=$INSTANCES

metric() { # $1 instance index, $2 metric name (first sample; nothing when unreachable)
  local text
  text=$(curl -sf --max-time 2 "http://127.0.0.1:$(control_port "$1")/metrics" 2>/dev/null) || return 0
  awk -v m="$2" '$1 == m && !seen { print $2; seen = 1 }' <<<"$text"
}
declare -A PID_OF
start_instance() { # $1 index, $2 config
  "$bin" serve --config "$2" >>"$work/i$1/log" 2>&1 &
  PID_OF[$1]=$!
  PIDS+=($!)
}
stop_instance() { # $1 index, $2 signal
  kill "-$2" "${PID_OF[$1]}" 2>/dev/null || true
  wait "${PID_OF[$1]}" 2>/dev/null || true
}
wait_control() { # $1 index
  for _ in $(seq 1 600); do
    curl -sf --max-time 1 "http://127.0.0.1:$(control_port "$1")/metrics" >/dev/null 2>&1 && return
    kill -0 "${PID_OF[$1]}" 2>/dev/null || break
    sleep 0.1
  done
  say "instance $1 did not start:"
  tail -n 30 "$work/i$1/log" >&2
  exit 1
}

# CPU ticks (utime + stime) of the process's threads named $2 ("" = the whole process).
ticks() { # $1 pid, $2 comm
  local task total=0 stat rest
  if [ -z "$2" ]; then
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    rest=${stat##*) }
    awk '{ print $12 + $13 }' <<<"$rest"
    return
  fi
  for task in /proc/"$1"/task/*; do
    [ "$(cat "$task/comm" 2>/dev/null)" = "$2" ] || continue
    stat=$(cat "$task/stat" 2>/dev/null) || continue
    rest=${stat##*) }
    total=$((total + $(awk '{ print $12 + $13 }' <<<"$rest")))
  done
  echo "$total"
}
threads=(fleet fleet-watch prober "")
# Per thread kind: ticks summed over instances 0..$1-1, as "fleet watch prober process".
fleet_ticks() { # $1 instances
  local out=() t i sum
  for t in "${threads[@]}"; do
    sum=0
    for i in $(seq 0 $(($1 - 1))); do sum=$((sum + $(ticks "${PID_OF[$i]}" "$t"))); done
    out+=("$sum")
  done
  echo "${out[*]}"
}
# "fleet X s  fleet-watch Y s ..." per instance, and % of one core over $3 seconds.
cpu_line() { # $1 before, $2 after, $3 seconds, $4 instances
  local -a b a
  read -r -a b <<<"$1"
  read -r -a a <<<"$2"
  local i line=""
  for i in 0 1 2 3; do
    line+=$(awk -v d=$((a[i] - b[i])) -v hz="$hz" -v s="$3" -v n="$4" -v name="${threads[$i]:-process}" \
      'BEGIN { printf "%s %.2f s (%.1f%%)  ", name, d / hz / n, 100 * d / hz / n / s }')
  done
  echo "$line"
}
rss_mb() { awk '/^VmRSS/ { printf "%.0f\n", $2 * 1024 / 1e6 }' "/proc/$1/status"; }

# The watch lag of one instance after another, every LAG_EVERY seconds, into $work/lag while
# $work/lag.on exists. The metrics page has a few lines per check (45 MB at 100,000 checks,
# over a second to build): scraping it is kept rare, or it is what gets measured.
LAG_EVERY=${LAG_EVERY:-$((CHECKS > 10000 ? 10 : 1))}
sample_lag() {
  local i=0
  while [ -e "$work/lag.on" ]; do
    metric "$i" eightfold_cluster_watch_lag_seconds >>"$work/lag" || true
    i=$(((i + 1) % INSTANCES))
    sleep "$LAG_EVERY"
  done
}
median_max() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "no samples"; exit } printf "median %.4f max %.4f (n=%d)", v[int((NR + 1) / 2)], v[NR], NR }'; }

total_checks=$((CHECKS + 2))
expected=$((total_checks * (K < INSTANCES ? K : INSTANCES)))
say "machine: $(nproc) cores, $(awk '/model name/ {sub(/.*: /, ""); print; exit}' /proc/cpuinfo); eightfold $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "fleet: $INSTANCES instances, observers_per_check $K, $ETCD_MEMBERS etcd member(s), $CHECKS HTTP checks every ${INTERVAL}s (+2 every ${DOWN_INTERVAL}s)${CLUSTER_EXTRA:+; [cluster] $CLUSTER_EXTRA}"

# ---- (a), (b), (e): the fill, the steady window ----
checks_file "$target_port" "" "$work/checks-sharded.toml"
t0=$(now)
for i in $(seq 0 $((INSTANCES - 1))); do
  start_instance "$i" "$(instance_config "$i" sharded "$work/checks-sharded.toml")"
done
for i in $(seq 0 $((INSTANCES - 1))); do wait_control "$i"; done
echo "started: every control endpoint up after $(since "$t0") s"
touch "$work/lag.on"
sample_lag &
PIDS+=($!)
deadline=$(($(date +%s) + FILL_LIMIT))
fill=
while [ "$(date +%s)" -lt "$deadline" ]; do
  read -r count revision <<<"$(etcd_count /eightfold/sharded/obs/)"
  if [ "$count" -ge "$expected" ]; then fill=$(since "$t0"); break; fi
  sleep 0.5
done
[ -n "$fill" ] || { say "the fill did not finish in ${FILL_LIMIT}s: $count of $expected reports"; exit 1; }
caught=
while [ "$(date +%s)" -lt "$deadline" ]; do
  behind=0
  for i in $(seq 0 $((INSTANCES - 1))); do
    [ "$(metric "$i" eightfold_cluster_connected)" = 1 ] || behind=1
    [ "$(metric "$i" eightfold_cluster_revision || echo 0)" -ge "$revision" ] || behind=1
  done
  if [ "$behind" = 0 ]; then caught=$(since "$t0"); break; fi
  sleep 1
done
fill_ticks=$(fleet_ticks "$INSTANCES")
fill_seconds=$caught
echo "(a) fill: $count reports ($total_checks checks x $K observers) in etcd after $fill s; every instance connected and at revision $revision after ${caught:-never} s"
echo "    (first probes are spread over one request_interval, ${INTERVAL}s: the fill cannot be shorter)"
assigned=$(for i in $(seq 0 $((INSTANCES - 1))); do metric "$i" eightfold_cluster_assigned_checks; done | paste -sd' ')
echo "    assigned_checks per instance: $assigned (sum should be $expected)"

steer reset >/dev/null
before=$(fleet_ticks "$INSTANCES")
sleep "$WINDOW"
after=$(fleet_ticks "$INSTANCES")
read -r probes distinct <<<"$(steer counts)"
rm -f "$work/lag.on"
echo "(b) CPU per instance, the fill (${fill_seconds}s): $(cpu_line "0 0 0 0" "$fill_ticks" "$fill_seconds" "$INSTANCES")"
echo "    CPU per instance, steady ${WINDOW}s:   $(cpu_line "$before" "$after" "$WINDOW" "$INSTANCES")"
rss=$(for i in $(seq 0 $((INSTANCES - 1))); do rss_mb "${PID_OF[$i]}"; done | paste -sd' ')
echo "    resident memory per instance (MB): $rss"
writes=$(for i in $(seq 0 $((INSTANCES - 1))); do metric "$i" eightfold_cluster_writes_total; done | paste -sd' ')
echo "    reports written per instance since start: $writes"
per_target() { # $1 requests
  awk -v p="$1" -v c="$CHECKS" -v i="$INTERVAL" -v w="$WINDOW" 'BEGIN { printf "%.2f", p / c * i / w }'
}
echo "(c) probes per target per ${INTERVAL}s, sharded ($K of $INSTANCES): $(per_target "$probes") ($probes requests to $distinct paths in ${WINDOW}s)"
echo "(e) write-to-watch lag, s: $(grep -E '^[0-9.e+-]+$' "$work/lag" | median_max)"

# ---- (f) etcd out of reach past lease_ttl ----
# Every lease expires with its reports; each instance gets a new one and writes its reports
# again. Seconds from etcd's return until it holds them all again.
if [ "$PAUSE_ETCD" -gt 0 ]; then
  etcd_pids=$(pgrep -f "etcd --name e[0-9]* --data-dir $work/" | paste -sd' ')
  # shellcheck disable=SC2086 # one pid per word
  kill -STOP $etcd_pids
  sleep "$PAUSE_ETCD"
  # shellcheck disable=SC2086
  kill -CONT $etcd_pids
  t3=$(now)
  back=
  sleep 2
  deadline=$(($(date +%s) + FILL_LIMIT))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    read -r count revision <<<"$(etcd_count /eightfold/sharded/obs/)"
    if [ "$count" -ge "$expected" ]; then back=$(since "$t3"); break; fi
    sleep 1
  done
  lost=$(grep -c 'our lease expired' "$work"/i*/log | awk -F: '{ n += $2 } END { print n + 0 }')
  echo "(f) etcd stopped ${PAUSE_ETCD}s (past lease_ttl 10 s): every report written again ${back:-never (${FILL_LIMIT}s)} s after it resumed ($count of $expected); leases lost, all instances: $lost"
fi

# ---- (a) a cold start into the full fleet ----
last=$((INSTANCES - 1))
read -r count revision <<<"$(etcd_count /eightfold/sharded/obs/)"
stop_instance "$last" KILL
t1=$(now)
start_instance "$last" "$work/i$last/config.toml"
# Its log says when the first full read finished (scraping its metrics would slow it).
cold=
for _ in $(seq 1 3000); do
  line=$(grep -h "read the fleet's keys" "$work/i$last/log" | tail -n 1)
  stamp=$(sed -n 's/^\([0-9T:.-]*Z\) .*/\1/p' <<<"$line")
  if [ -n "$stamp" ] && [ "$(date -d "$stamp" +%s.%N)" \> "$t1" ]; then
    cold=$(awk -v a="$t1" -v b="$(date -d "$stamp" +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    break
  fi
  sleep 0.1
done
echo "(a) cold start into the full fleet ($count reports): instance ${names[$last]} had read every report after ${cold:-never (300 s)} s;" \
  "its fleet thread used $(awk -v t="$(ticks "${PID_OF[$last]}" fleet)" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }') s CPU, its process $(awk -v t="$(ticks "${PID_OF[$last]}" "")" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }') s"
grep -h 'read the fleet' "$work/i$last/log" | tail -n 1 | sed 's/^/    log: /' | cut -c1-200

# ---- (d) a target goes down ----
# The killed instance's old lease expires (lease_ttl 10 s) and it reports again first.
sleep $((12 + DOWN_INTERVAL))
cat >"$work/down.py" <<'EOF'
import random, socket, struct, sys, time, urllib.request
target, rounds, interval, ports = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), [int(p) for p in sys.argv[4:]]
QNAME = b"".join(bytes([len(l)]) + l for l in b"mv.fleet.test".split(b".")) + b"\0"
def has(sock, port, qid):
    """Whether the instance on port answers mv with 192.0.2.1 (None: no answer)."""
    sock.sendto(struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + QNAME + b"\0\1\0\1", ("127.0.0.1", port))
    try:
        data = sock.recv(4096)
    except socket.timeout:
        return None
    count, at = struct.unpack(">H", data[6:8])[0], 12 + len(QNAME) + 4
    for _ in range(count):
        at += 2 if data[at] >= 0xC0 else data.index(b"\0", at) + 1 - at
        rtype, _, _, length = struct.unpack(">HHIH", data[at:at + 10])
        at += 10
        if rtype == 1 and data[at:at + length] == bytes([192, 0, 2, 1]):
            return True
        at += length
    return False
def until(want, limit):
    """Seconds until every instance answers with (want) or without the record; per instance."""
    start, seen = time.monotonic(), {}
    socks = {p: socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for p in ports}
    for s in socks.values():
        s.settimeout(0.5)
    qid = 0
    while len(seen) < len(ports) and time.monotonic() - start < limit:
        for p, s in socks.items():
            if p not in seen:
                qid = (qid + 1) & 0xFFFF
                if has(s, p, qid) == want:
                    seen[p] = time.monotonic() - start
        time.sleep(0.02)
    return seen
limit = interval * 20 + 60
for r in range(rounds):
    time.sleep(random.uniform(0, interval))
    urllib.request.urlopen(f"http://127.0.0.1:{target}/__down/down", timeout=5).read()
    gone = until(False, limit)
    urllib.request.urlopen(f"http://127.0.0.1:{target}/__up/down", timeout=5).read()
    back = until(True, limit)
    g = max(gone.values()) if len(gone) == len(ports) else float("nan")
    b = max(back.values()) if len(back) == len(ports) else float("nan")
    first = min(gone.values()) if gone else float("nan")
    print(f"{g:.2f} {b:.2f} {first:.2f}", flush=True)
EOF
dports=()
for i in $(seq 0 $((INSTANCES - 1))); do dports+=("$(dns_port "$i")"); done
python3 "$work/down.py" "$target_port" "$ROUNDS" "$DOWN_INTERVAL" "${dports[@]}" >"$work/down"
summary() { # $1 column
  awk -v c="$1" '{ print $c }' "$work/down" | sort -g | awk '{ v[NR] = $1 } END { printf "median %.1f s, max %.1f s", v[int((NR + 1) / 2)], v[NR] }'
}
echo "(d) target down -> last instance without it ($ROUNDS rounds; request_interval ${DOWN_INTERVAL}s, failure_threshold $DOWN_THRESHOLD, $K of $INSTANCES observers):"
echo "    last instance: $(summary 1); first instance: $(summary 3); back up -> last instance with it: $(summary 2)"
echo "    rounds (down-last up-last down-first): $(paste -sd';' "$work/down")"

for i in $(seq 0 $((INSTANCES - 1))); do stop_instance "$i" TERM; done

# ---- (c) with observers = "all" ----
if [ "$ALL" = 1 ]; then
  checks_file "$target_port" 'observers = "all"
' "$work/checks-all.toml"
  for i in $(seq 0 $((INSTANCES - 1))); do
    rm -f "$work/i$i/state"
    start_instance "$i" "$(instance_config "$i" all "$work/checks-all.toml")"
  done
  for i in $(seq 0 $((INSTANCES - 1))); do wait_control "$i"; done
  for _ in $(seq 1 600); do
    settled=1
    for i in $(seq 0 $((INSTANCES - 1))); do
      [ "$(metric "$i" eightfold_cluster_members)" = "$INSTANCES" ] || settled=0
    done
    [ "$settled" = 1 ] && break
    sleep 0.2
  done
  sleep 5
  steer reset >/dev/null
  sleep "$WINDOW"
  read -r probes distinct <<<"$(steer counts)"
  echo "(c) probes per target per ${INTERVAL}s, observers = \"all\" ($INSTANCES instances): $(per_target "$probes") ($probes requests to $distinct paths in ${WINDOW}s)"
  for i in $(seq 0 $((INSTANCES - 1))); do stop_instance "$i" TERM; done
fi

# ---- (b) the same checks standalone ----
checks_file "$standalone_target_port" "" "$work/checks-standalone.toml"
start_instance "$standalone" "$(instance_config "$standalone" "" "$work/checks-standalone.toml")"
wait_control "$standalone"
t2=$(now)
sleep "$WINDOW"
pid=${PID_OF[$standalone]}
echo "(b) standalone (no [cluster]) after ${WINDOW}s: resident memory $(rss_mb "$pid") MB; CPU since start: prober $(awk -v t="$(ticks "$pid" prober)" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }') s, process $(awk -v t="$(ticks "$pid" "")" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }') s over $(since "$t2") s"
