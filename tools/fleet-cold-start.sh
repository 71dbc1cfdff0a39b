#!/usr/bin/env bash
# The cold start of one instance into a large fleet, measured without probing it all first:
# one etcd on loopback is filled with what a settled fleet of CHECKS checks and K observers
# holds (K-1 other members under a lease this script keeps alive, and K reports per check,
# written through etcd's JSON gateway in transactions of 128), then one eightfold release
# instance with the same CHECKS checks starts and joins as the K-th member.
#
#   tools/fleet-cold-start.sh [CHECKS]      (default 100000)
#   BIN=path/to/eightfold tools/fleet-cold-start.sh 1000
#
# Its checks are TCP checks of 127.0.0.1 ports nothing listens on, at the longest
# request_interval (86400 s): first probes are spread over a day, so the run measures the
# fleet's work, not probing. It reports:
#   - seconds from the instance's start to its cache holding every report ("fleet: read the
#     fleet's keys" with the count) and to the checks being assigned over the members;
#   - CPU seconds of its threads fleet, fleet-watch, fleet-lease and prober, and of the whole
#     process, at that point and over a WINDOW-second idle window after it;
#   - its resident memory beside one standalone instance with the same checks.
# Everything listens on 127.0.0.1 on free ports and is stopped on exit; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

CHECKS=${1:-100000}
K=${K:-3}
WINDOW=${WINDOW:-30}
LIMIT=${LIMIT:-600}
bin=${BIN:-target/release/eightfold}
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
fi
command -v etcd >/dev/null || { echo "etcd is needed (apt-get install etcd-server)" >&2; exit 1; }
((CHECKS >= 1 && K >= 2)) || { echo "bad CHECKS or K" >&2; exit 2; }

work=$(mktemp -d /tmp/eightfold-cold.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

client=$(free_port)
peer=$(free_port)
etcd --name cold --data-dir "$work/etcd" \
  --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
  --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
  --initial-cluster "cold=http://127.0.0.1:$peer" >"$work/etcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$client/health" >/dev/null 2>&1 && break
  sleep 0.1
done

# The config: one zone, CHECKS TCP checks (each its own closed port, so its own target).
control=$(free_port)
{
  printf '[[zone]]\norigin = "example.com."\nsoa = "ns1 hostmaster 1 7200 900 1209600 300"\nns = ["ns1"]\n\n'
  python3 - "$CHECKS" <<'EOF'
import sys
for i in range(int(sys.argv[1])):
    print(f'[[health_check]]\nid = "c{i}"\ntype = "TCP"\nip = "127.0.0.1"\nport = {1 + i % 60000}\n'
          f'request_interval = 86400\nfailure_threshold = 3\n')
EOF
} >"$work/checks.toml"
server() { printf '[server]\nlisten = ["127.0.0.1:%s"]\ncontrol = "127.0.0.1:%s"\n\n' "$(free_port)" "$1"; }
{ server "$(free_port)"; cat "$work/checks.toml"; } >"$work/standalone.toml"
{ server "$control"; cat "$work/checks.toml"; } >"$work/fleet.toml"
printf '[cluster]\nendpoints = ["http://127.0.0.1:%s"]\nname = "cold"\ninstance = "i%s"\nobservers_per_check = %s\n' \
  "$client" "$((K - 1))" "$K" >>"$work/fleet.toml"

# Fill etcd: K-1 members under one lease, K reports per check (the instance's own included:
# it finds them as a restarted member would, and writes none). Report targets are the hash
# eightfold gives each check's target, read from the instance itself below, so they count.
"$bin" check -c "$work/fleet.toml" >/dev/null
start_fill=$(date +%s.%N)
python3 - "$client" "$CHECKS" "$K" "$work/lease" <<'EOF'
import base64, http.client, json, sys, threading, time
port, checks, k, lease_file = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
conn = http.client.HTTPConnection("127.0.0.1", port)
def call(path, body):
    conn.request("POST", path, json.dumps(body))
    return json.loads(conn.getresponse().read())
b64 = lambda s: base64.b64encode(s.encode()).decode()
lease = call("/v3/lease/grant", {"TTL": "60"})["ID"]
open(lease_file, "w").write(str(lease))
def fnv(text):
    """FNV-1a 64, as hex."""
    h = 0xcbf29ce484222325
    for b in text.encode():
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"
ops = []
def flush():
    global ops
    if ops:
        call("/v3/kv/txn", {"success": ops})
        ops = []
def put(key, value):
    ops.append({"request_put": {"key": b64(key), "value": b64(json.dumps(value)), "lease": str(lease)}})
    if len(ops) == 128:
        flush()
for m in range(k - 1):
    put(f"/eightfold/cold/members/i{m}", {"version": "bench", "listen": [], "config": None, "started": 0})
now = int(time.time())
for i in range(checks):
    # A report's target: the hash of the prober's fingerprint of the check's target
    # (src/prober/statefile.rs, fingerprint; src/cluster/fleet.rs, target_hash).
    port = 1 + i % 60000
    target = fnv(fnv(f"Tcp|Some(127.0.0.1)|{port}|/|None|None|sni false|verify false|"))
    for m in range(k):
        put(f"/eightfold/cold/obs/c{i}/i{m}", {"healthy": True, "target": target, "at": now})
flush()
EOF
fill=$(echo "$(date +%s.%N) - $start_fill" | bc)
lease=$(cat "$work/lease")
( while sleep 10; do curl -s "http://127.0.0.1:$client/v3/lease/keepalive" -d "{\"ID\":\"$lease\"}" >/dev/null; done ) &
pids+=($!)
echo "etcd filled: $((K - 1)) members, $((CHECKS * K)) reports in $fill s"

cpu_of() { # pid comm -> CPU seconds of that thread (all threads when comm is "")
  local pid=$1 comm=$2 ticks=0 t
  for t in /proc/"$pid"/task/*; do
    if [ -z "$comm" ] || [ "$(cat "$t/comm" 2>/dev/null)" = "$comm" ]; then
      ticks=$((ticks + $(awk '{print $14 + $15}' "$t/stat" 2>/dev/null || echo 0)))
    fi
  done
  echo "scale=2; $ticks / $(getconf CLK_TCK)" | bc
}
rss_of() { awk '/VmRSS/ {printf "%.0f", $2 * 1024 / 1e6}' /proc/"$1"/status; }

started=$(date +%s.%N)
"$bin" serve -c "$work/fleet.toml" >"$work/fleet.log" 2>&1 &
fleet_pid=$!
pids+=("$fleet_pid")
read_at="" assigned_at=""
for _ in $(seq $((LIMIT * 10))); do
  if [ -z "$read_at" ] && grep -q "fleet: read the fleet's keys" "$work/fleet.log"; then
    read_at=$(echo "$(date +%s.%N) - $started" | bc)
  fi
  if [ -n "$read_at" ] && grep -q "checks assigned over these members" "$work/fleet.log"; then
    assigned_at=$(echo "$(date +%s.%N) - $started" | bc)
    break
  fi
  sleep 0.1
done
[ -n "$assigned_at" ] || { echo "the instance did not join within $LIMIT s" >&2; tail -20 "$work/fleet.log" >&2; exit 1; }
grep "fleet: read the fleet's keys" "$work/fleet.log" | sed 's/^.*INFO //'
echo "cold start: cache read after $read_at s, checks assigned after $assigned_at s (from the process's start)"
last=$((CHECKS - 1))
for check in c0 "c$last"; do
  curl -s "http://127.0.0.1:$control/status?name=$check" | python3 -c '
import json, sys
check = json.load(sys.stdin)["checks"][0]
fleet = check["fleet"]
print("  %s: %d of %d reports healthy, by %s" % (check["id"], fleet["healthy_reports"], fleet["reports"], fleet["basis"]))'
done
threads() {
  printf '  fleet %s  fleet-watch %s  fleet-lease %s  prober %s  process %s\n' \
    "$(cpu_of "$fleet_pid" fleet)" "$(cpu_of "$fleet_pid" fleet-watch)" "$(cpu_of "$fleet_pid" fleet-lease)" \
    "$(cpu_of "$fleet_pid" prober)" "$(cpu_of "$fleet_pid" "")"
}
echo "CPU seconds at that point:"
threads
sleep "$WINDOW"
echo "CPU seconds after $WINDOW s more:"
threads
"$bin" serve -c "$work/standalone.toml" >"$work/standalone.log" 2>&1 &
alone=$!
pids+=("$alone")
sleep 5
echo "resident memory: fleet member $(rss_of "$fleet_pid") MB, standalone $(rss_of "$alone") MB"
