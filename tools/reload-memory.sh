#!/usr/bin/env bash
# Memory of a start and a reload with a large zone: generates a zone of NAMES names (one A
# record each, every tenth name also an AAAA and a TXT, every hundredth three A records),
# starts the release binary on it (loopback, a free port), and reads the kernel's figures for
# the process: the resident set once it answers (steady), the high-water mark of the start,
# then the high-water mark of a reload (SIGHUP) and the resident set after it.
#
#   tools/reload-memory.sh [NAMES]          (default 300000)
#   BIN=path/to/eightfold tools/reload-memory.sh
#
# The figures are in MB (10^6 bytes); "ratio" is the reload's peak over the steady resident set.
set -euo pipefail
cd "$(dirname "$0")/.."

names=${1:-300000}
bin=${BIN:-target/release/eightfold}
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
fi
work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

awk -v n="$names" 'BEGIN {
  print "$TTL 300"
  print "@ SOA ns1 hostmaster 1 7200 900 1209600 60"
  print "@ NS ns1"
  print "@ NS ns2"
  print "ns1 A 192.0.2.53"
  print "ns2 A 192.0.2.54"
  for (i = 0; i < n; i++) {
    a = int(i / 65536) % 256; b = int(i / 256) % 256; c = i % 256
    printf "h%d A 10.%d.%d.%d\n", i, a, b, c
    if (i % 10 == 0) {
      printf "h%d AAAA 2001:db8::%x:%x\n", i, int(i / 65536), i % 65536
      printf "h%d TXT \"record number %d\"\n", i, i
    }
    if (i % 100 == 0) {
      printf "h%d A 10.%d.%d.%d\n", i, (a + 1) % 256, b, c
      printf "h%d A 10.%d.%d.%d\n", i, (a + 2) % 256, b, c
    }
  }
}' >"$work/big.zone"

cat >"$work/big.toml" <<EOF
[server]
listen = ["127.0.0.1:0"]
workers = 1
[[zone]]
origin = "big.test."
file = "big.zone"
EOF

"$bin" serve --config "$work/big.toml" >"$work/log" 2>&1 &
pid=$!

# The port the kernel chose, from the log line naming it.
port=
for _ in $(seq 1 600); do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/log" | head -n 1)
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "no listening line in the log" >&2; cat "$work/log" >&2; exit 1; }
answers() { dig +short +time=1 +tries=1 -p "$port" @127.0.0.1 h1.big.test A 2>/dev/null | grep -q .; }
for _ in $(seq 1 600); do answers && break; sleep 0.1; done
answers || { echo "the server does not answer" >&2; exit 1; }

kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.0f", k * 1024 / 1e6 }'; }
sleep 1
steady=$(kb VmRSS)
start_peak=$(kb VmHWM)

# Reset the high-water mark so it measures the reload alone (writing 5 to clear_refs).
echo 5 >"/proc/$pid/clear_refs"
reloads=$(grep -c 'configuration reloaded' "$work/log" || true)
kill -HUP "$pid"
for _ in $(seq 1 1200); do
  now=$(grep -c 'configuration reloaded' "$work/log" || true)
  [ "$now" -gt "$reloads" ] && break
  sleep 0.1
done
[ "$now" -gt "$reloads" ] || { echo "the reload did not finish" >&2; cat "$work/log" >&2; exit 1; }
# The replaced data is freed once every worker has moved on: one query per worker does it.
answers
sleep 1
reload_peak=$(kb VmHWM)
after=$(kb VmRSS)

records=$(grep -vc '^\$' "$work/big.zone")
printf 'names %d  records %d  zone file %s MB\n' "$names" "$records" "$(mb "$(($(stat -c %s "$work/big.zone") / 1024))")"
printf 'steady %s MB  start peak %s MB  reload peak %s MB  after reload %s MB  ratio %s\n' \
  "$(mb "$steady")" "$(mb "$start_peak")" "$(mb "$reload_peak")" "$(mb "$after")" \
  "$(awk -v p="$reload_peak" -v s="$steady" 'BEGIN { printf "%.2f", p / s }')"
