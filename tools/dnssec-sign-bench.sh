#!/usr/bin/env bash
# DNSSEC signing, eightfold against Knot DNS on the same zones in the same run, one ECDSA
# P-256 (algorithm 13) key signing everything (a CSK), NSEC:
#
#   tools/dnssec-sign-bench.sh                      (1,000,000 static names; 100 and 10,000 sets)
#   STATIC_NAMES=100000 SETS="100" tools/dnssec-sign-bench.sh    (SETS="" or STATIC_NAMES=0: skip a part)
#   QUICK=1 tools/dnssec-sign-bench.sh              (10,000 names, 10 sets: a smoke run)
#   BIN=path/to/eightfold SERVE_TIMEOUT=900 tools/dnssec-sign-bench.sh
#
# (a) A static zone of STATIC_NAMES names, one A record each (plus the apex's SOA and NS and
#     the name server's A). eightfold: `eightfold sign` with `/usr/bin/time` around it, from
#     reading the config and zone file to the signed zone written out as text. Knot: knotd
#     started in the foreground with `dnssec-signing: on` and `zonefile-sync: 0`, so it
#     parses the zone file, signs it at load and writes the signed zone back as text; timed
#     from starting knotd until its log says "zone file updated" (the same work: read, sign,
#     write), with a second row at "DNSSEC, successfully signed" (signed in memory, not yet
#     written). Knot makes its own key at load (one P-256 key, about a millisecond); eightfold's
#     is made before the clock starts. A third row, "eightfold serve", is the server signing
#     the same zone file at start-up (`[zone.dnssec]`), timed until a DO query for the last
#     name answers with an RRSIG.
# (b) Zones of each of SETS multivalue sets of 16 members (names m1..mN, one A address per
#     member, distinct within a set). eightfold: from starting `eightfold serve --config F`,
#     the zone's `[zone.dnssec]` key given, until a DO query (`dig +dnssec`, every 50 ms) for
#     the last set's name answers with an RRSIG; a row before it, "unsigned", times the same
#     config without the key until that name answers at all (what loading costs before any
#     signing). Knot: the same data as a plain zone (each name with 16 A records) signed at
#     load, timed the same way.
#
# NOTE the work differs in (b): Knot signs each name's 16-record A set once; eightfold signs
# every 8-member subset of each set ahead of time (C(16,8) = 12,870 signatures a set) so that
# answering signs nothing, while the zone's exact stores stay within `exact_signatures`
# (2,000,000 by default: 155 sets), and 256 balanced subsets of each set past it (sampled
# mode). The ratio is what it is: it prices that choice.
#
# Each server's CPU time (user + system, all threads) and memory are read at the moment it is
# done: from /proc/PID/stat and /proc/PID/status (VmRSS: resident then; VmHWM: the peak) for
# the servers, from `/usr/bin/time` for `eightfold sign` (its peak; it has exited). Both use
# every core: eightfold signs on one thread per core, Knot is given `signing-threads` and
# `adjust-threads` of the core count. Knot keeps its defaults otherwise (RRSIG lifetime 14
# days, as `eightfold sign`'s --validity; CDS and CDNSKEY published, as eightfold does).
#
# eightfold serve is given SERVE_TIMEOUT seconds to answer with an RRSIG (default 600, or more
# for large SETS: 100 us of CPU per subset signature, divided over the cores); when it exits
# or runs out of time first, its row says so, its log's end is printed and the script exits 1
# after the other measurements. Everything listens on 127.0.0.1 on free ports and is stopped
# on exit; the temporary folder is removed. A tool, not a test: nothing passes or fails on a
# time.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ "${QUICK:-0}" = 1 ]; then
  STATIC_NAMES=${STATIC_NAMES:-10000}
  SETS=${SETS-10}
else
  STATIC_NAMES=${STATIC_NAMES:-1000000}
  SETS=${SETS-100 10000}
fi
SERVE_TIMEOUT=${SERVE_TIMEOUT:-}
CORES=$(nproc)
SUBSETS=12870 # C(16, 8)
ORIGIN=example.com.

missing=()
for tool in knotd dig python3 awk; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
[ -x /usr/bin/time ] || missing+=(/usr/bin/time)
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing: ${missing[*]} (Debian: knot, dnsutils, python3, time)" >&2
  exit 1
fi

if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
  BIN="$ROOT/target/release/eightfold"
fi

WORK=$(mktemp -d /tmp/eightfold-signbench.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

RESULTS="$WORK/results"
: >"$RESULTS"
FAILED=()
KEY=$("$BIN" keygen --dir "$WORK" --ksk --algorithm 13 "$ORIGIN")
CLK_TCK=$(getconf CLK_TCK)

say() { printf '%s\n' "$*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# A result row: zone, server, wall_s, cpu_s, rss_mib, peak_rss_mib, cores.
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }
# User + system CPU seconds of a running process, all its threads (fields 14 and 15 of stat).
cpu_seconds() {
  awk -v tck="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / tck }' "/proc/$1/stat"
}
# A /proc/PID/status figure (VmRSS, VmHWM) in MiB.
status_mib() { awk -v key="$2:" '$1 == key { printf "%d", $2 / 1024 }' "/proc/$1/status"; }
# Stops a server this script started and waits for it (SIGKILL after 30 s).
stop() {
  kill "$1" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
# Whether a DO query for $2's A records on port $1 has a record of type $3 (A, RRSIG) in the
# answer section.
answers_with() {
  dig +dnssec +norec +time=1 +tries=1 +noall +answer -p "$1" @127.0.0.1 "$2" A 2>/dev/null |
    awk -v type="$3" '$4 == type { found = 1 } END { exit !found }'
}
thousands() { sed ':a; s/\B[0-9]\{3\}\>/,&/; ta' <<<"$1"; }

# The zone's apex: SOA, NS and the name server's address.
apex() {
  # shellcheck disable=SC2016 # literal $ORIGIN and $TTL
  printf '$ORIGIN %s\n$TTL 3600\n@ IN SOA ns1 hostmaster 1 7200 900 1209600 300\n@ IN NS ns1\nns1 IN A 192.0.2.1\n' "$ORIGIN"
}

# A Knot config in $1 for the zone file $2 on port $3; $4 "write" to write the signed zone
# back to its file at once (zonefile-sync: 0), anything else to keep it in memory only.
knot_config() {
  local dir=$1 zonefile=$2 port=$3 sync=-1
  [ "$4" = write ] && sync=0
  cat >"$dir/knot.conf" <<EOF
server:
    listen: 127.0.0.1@$port
    rundir: $dir
    udp-workers: 1
    tcp-workers: 1
    background-workers: $CORES
database:
    storage: $dir
log:
  - target: stderr
    any: info
policy:
  - id: bench
    algorithm: ecdsap256sha256
    single-type-signing: on
    nsec3: off
    signing-threads: $CORES
    cds-cdnskey-publish: always
zone:
  - domain: $ORIGIN
    file: $zonefile
    journal-content: none
    zonefile-sync: $sync
    adjust-threads: $CORES
    dnssec-signing: on
    dnssec-policy: bench
EOF
}

# Starts knotd on $1/knot.conf, its log in $1/log; sets KNOT_PID and START.
start_knot() {
  START=$(now)
  knotd -c "$1/knot.conf" >"$1/log" 2>&1 &
  KNOT_PID=$!
  PIDS+=("$KNOT_PID")
}

# Prints the end of a log after a failure.
log_tail() {
  say "--- the last lines of $1:"
  tail -n 20 "$1" >&2 || true
  say "---"
}

# (a) The static zone: eightfold sign, then Knot signing at load and writing out.
static_zone() {
  local names=$1 label dir="$WORK/static"
  label="$(thousands "$names") static"
  mkdir -p "$dir"
  say "writing a zone of $names static names"
  {
    apex
    awk -v n="$names" 'BEGIN { for (i = 1; i <= n; i++) printf "h%d IN A 10.%d.%d.%d\n", i, int(i / 65536) % 256, int(i / 256) % 256, i % 256 }'
  } >"$dir/plain.zone"
  printf '[[zone]]\norigin = "%s"\nfile = "plain.zone"\n' "$ORIGIN" >"$dir/sign.toml"

  say "eightfold sign: $names names"
  if /usr/bin/time -f '%e %U %S %M' -o "$dir/time" "$BIN" sign --config "$dir/sign.toml" --zone "$ORIGIN" \
    --key "$WORK/$KEY" >"$dir/signed.zone" 2>"$dir/sign.log"; then
    local wall user system rss_kib
    read -r wall user system rss_kib <"$dir/time"
    row "$label" "eightfold sign" "$wall" "$(awk -v u="$user" -v s="$system" 'BEGIN { printf "%.2f", u + s }')" \
      - "$((rss_kib / 1024))" "$CORES"
  else
    say "eightfold sign failed"
    log_tail "$dir/sign.log"
    row "$label" "eightfold sign" FAILED - - - "$CORES"
    FAILED+=("eightfold sign on $label")
  fi
  rm -f "$dir/signed.zone"

  say "eightfold serve: $names names signed at start-up"
  cp "$WORK/$KEY".key "$WORK/$KEY".private "$dir/"
  printf '[[zone]]\norigin = "%s"\nfile = "plain.zone"\n[zone.dnssec]\nkeys = ["%s"]\n' "$ORIGIN" "$KEY" \
    >"$dir/serve.toml"
  serve_until "$dir/serve.toml" "h$names.$ORIGIN" "${SERVE_TIMEOUT:-3600}" "$label" "eightfold serve" RRSIG

  say "knot: $names names, signed at load and written out"
  local kdir="$dir/knot" port signed_at=""
  mkdir -p "$kdir"
  cp "$dir/plain.zone" "$kdir/example.com.zone"
  port=$(free_port)
  knot_config "$kdir" "$kdir/example.com.zone" "$port" write
  start_knot "$kdir"
  local deadline=$(($(date +%s) + ${KNOT_TIMEOUT:-3600}))
  while :; do
    if ! kill -0 "$KNOT_PID" 2>/dev/null; then
      say "knotd exited before the zone was signed and written"
      log_tail "$kdir/log"
      row "$label" knot FAILED - - - "$CORES"
      FAILED+=("knot on $label")
      return
    fi
    if [ -z "$signed_at" ] && grep -q 'DNSSEC, successfully signed' "$kdir/log"; then
      signed_at=$(now)
      row "$label" "knot (signed, in memory)" "$(elapsed "$START" "$signed_at")" "$(cpu_seconds "$KNOT_PID")" \
        "$(status_mib "$KNOT_PID" VmRSS)" "$(status_mib "$KNOT_PID" VmHWM)" "$CORES"
    fi
    if grep -q 'zone file updated' "$kdir/log"; then
      row "$label" "knot (signed, written)" "$(elapsed "$START" "$(now)")" "$(cpu_seconds "$KNOT_PID")" \
        "$(status_mib "$KNOT_PID" VmRSS)" "$(status_mib "$KNOT_PID" VmHWM)" "$CORES"
      break
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      say "knotd did not write the signed zone within ${KNOT_TIMEOUT:-3600} s"
      log_tail "$kdir/log"
      row "$label" knot TIMEOUT - - - "$CORES"
      FAILED+=("knot on $label")
      break
    fi
    sleep 0.05
  done
  stop "$KNOT_PID"
  rm -rf "$dir"
}

# Waits until a DO query for $3 on port $2 answers with a record of type $8 (RRSIG, or A
# for an unsigned zone) from the server $1 (a PID), at most $4 seconds, then adds its row
# ($5 zone label, $6 server); 1 when it did not ($7 its log, printed then).
await_answer() {
  local pid=$1 port=$2 name=$3 limit=$4 label=$5 server=$6 log=$7 type=$8
  local deadline=$(($(date +%s) + limit))
  while :; do
    if answers_with "$port" "$name" "$type"; then
      row "$label" "$server" "$(elapsed "$START" "$(now)")" "$(cpu_seconds "$pid")" \
        "$(status_mib "$pid" VmRSS)" "$(status_mib "$pid" VmHWM)" "$CORES"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      say "$server exited before answering $name with an $type record"
      log_tail "$log"
      row "$label" "$server" EXITED - - - "$CORES"
      return 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      say "$server did not answer $name with an $type record within $limit s (SERVE_TIMEOUT)"
      log_tail "$log"
      row "$label" "$server" TIMEOUT - - - "$CORES"
      return 1
    fi
    sleep 0.05
  done
}

# Starts `eightfold serve` on the config $1 and adds its row when a DO query for $2 answers
# with a record of type $6 (at most $3 seconds; $4 the zone's label, $5 the server's); a
# failure is noted in FAILED. The server is stopped after.
serve_until() {
  local config=$1 name=$2 limit=$3 label=$4 server=$5 type=$6 port pid log
  log="${config%.toml}.log"
  port=$(free_port)
  START=$(now)
  "$BIN" serve --config "$config" --listen "127.0.0.1:$port" >"$log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  if ! await_answer "$pid" "$port" "$name" "$limit" "$label" "$server" "$log" "$type"; then
    FAILED+=("$server on $label")
  fi
  stop "$pid"
}

# (b) SETS multivalue sets of 16 members: eightfold serving them signed, Knot the same data
# as a plain zone signed at load.
multivalue_zone() {
  local sets=$1 label dir="$WORK/mv$1" last="m$1.$ORIGIN" limit
  label="$(thousands "$sets") sets x16"
  mkdir -p "$dir/knot"
  cp "$WORK/$KEY".key "$WORK/$KEY".private "$dir/"
  say "writing a zone of $sets multivalue sets of 16 members"
  # The address of member j of set i: 10.(i / 256 % 256).(i % 256).j, distinct within a set.
  apex >"$dir/example.com.zone"
  printf '[[zone]]\norigin = "%s"\nfile = "example.com.zone"\n' "$ORIGIN" >"$dir/unsigned.toml"
  {
    awk -v n="$sets" -v origin="$ORIGIN" 'BEGIN {
      for (i = 1; i <= n; i++)
        for (j = 1; j <= 16; j++)
          printf "[[record]]\nname = \"m%d.%s\"\ntype = \"A\"\nttl = 60\nrouting = \"multivalue\"\nset_id = \"r%d\"\nvalues = [\"10.%d.%d.%d\"]\n",
            i, origin, j, int(i / 256) % 256, i % 256, j
    }'
  } >"$dir/records.toml"
  cat "$dir/records.toml" >>"$dir/unsigned.toml"
  {
    printf '[[zone]]\norigin = "%s"\nfile = "example.com.zone"\n[zone.dnssec]\nkeys = ["%s"]\n' "$ORIGIN" "$KEY"
    cat "$dir/records.toml"
  } >"$dir/eightfold.toml"
  rm "$dir/records.toml"
  {
    apex
    awk -v n="$sets" 'BEGIN {
      for (i = 1; i <= n; i++)
        for (j = 1; j <= 16; j++)
          printf "m%d 60 IN A 10.%d.%d.%d\n", i, int(i / 256) % 256, i % 256, j
    }'
  } >"$dir/knot/example.com.zone"

  if [ -n "$SERVE_TIMEOUT" ]; then
    limit=$SERVE_TIMEOUT
  else
    limit=$(awk -v s="$sets" -v n="$SUBSETS" -v c="$CORES" 'BEGIN { t = s * n * 0.0001 / c; printf "%d", (t > 600 ? t : 600) }')
  fi

  local port
  # The same config without the key: what loading it costs before any signing.
  say "eightfold serve, unsigned: $sets sets"
  serve_until "$dir/unsigned.toml" "$last" "$limit" "$label" "eightfold serve, unsigned" A
  say "eightfold serve: $sets sets, up to $limit s"
  serve_until "$dir/eightfold.toml" "$last" "$limit" "$label" "eightfold serve" RRSIG

  say "knot: $sets names of 16 A records, signed at load"
  port=$(free_port)
  knot_config "$dir/knot" "$dir/knot/example.com.zone" "$port" memory
  start_knot "$dir/knot"
  if ! await_answer "$KNOT_PID" "$port" "$last" "${KNOT_TIMEOUT:-3600}" "$label" knot "$dir/knot/log" RRSIG; then
    FAILED+=("knot on $label")
  fi
  stop "$KNOT_PID"
  rm -rf "$dir"
}

if [ "$STATIC_NAMES" -gt 0 ]; then static_zone "$STATIC_NAMES"; fi
for sets in $SETS; do multivalue_zone "$sets"; done

echo "# DNSSEC signing, ECDSA P-256, one CSK, NSEC; $("$BIN" --version), $(knotd --version | head -n 1)"
echo "# Multivalue zones: Knot signs each name's 16-record A set once; eightfold signs all"
echo "# C(16,8) = $SUBSETS 8-member subsets of each set ahead of time while its exact stores stay"
echo "# within exact_signatures (2,000,000: 155 sets), 256 of each set past it, so the ratio prices that."
echo "# wall_s: to the signed zone written out (sign, Knot 'written') or to the first signed answer"
echo "# (serve, Knot on multivalue; the unsigned row: the first answer); rss_mib: resident then;"
echo "# peak_rss_mib: the peak until then; cpu_s: user + system, all threads."
{
  printf 'zone\tserver\twall_s\tcpu_s\trss_mib\tpeak_rss_mib\tcores\n'
  cat "$RESULTS"
} | column -t -s $'\t'
awk -F '\t' '
  { wall[$1 SUBSEP $2] = $3; cpu[$1 SUBSEP $2] = $4; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
  END {
    for (k = 1; k <= n; k++) {
      z = order[k]
      e = (z SUBSEP "eightfold sign") in wall ? "eightfold sign" : "eightfold serve"
      q = (z SUBSEP "knot (signed, written)") in wall ? "knot (signed, written)" : "knot"
      if (wall[z SUBSEP e] + 0 > 0 && wall[z SUBSEP q] + 0 > 0)
        printf "# %s: %s / %s: wall %.2fx, cpu %.2fx\n", z, e, q, wall[z SUBSEP e] / wall[z SUBSEP q], (cpu[z SUBSEP q] > 0 ? cpu[z SUBSEP e] / cpu[z SUBSEP q] : 0)
    }
  }' "$RESULTS"
if [ ${#FAILED[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${FAILED[@]}" >&2
  exit 1
fi
