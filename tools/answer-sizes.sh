#!/usr/bin/env bash
# Answer sizes, eightfold against Knot: both serve tools/peers/answer-sizes.zone on free
# loopback ports, kdig asks each the same questions over UDP with EDNS, and the script
# prints the bytes of each answer and its record counts (answer/authority/additional).
#
#   tools/answer-sizes.sh                  eightfold with minimal_responses = true (Knot puts
#                                          no NS set in the authority section of an answer)
#   MINIMAL=false tools/answer-sizes.sh    eightfold as configured by default
#   EDNS=0 tools/answer-sizes.sh           the same questions without EDNS
#   DNSSEC=1 tools/answer-sizes.sh         both sign the zone (one ECDSA P-256 key, NSEC) and
#                                          kdig asks with DO; adds a multivalue name (eightfold:
#                                          16 members, 8 per answer; Knot: 8 A records), a
#                                          referral to a signed child (a DS in the zone) and
#                                          the apex DNSKEY
#
# It builds eightfold (release) and, run as root on Debian, installs knot and knot-dnsutils
# when they are missing. A tool, not a test: nothing here passes or fails on a size.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# fill (the peers' configuration templates).
# shellcheck source=tools/peers/common.sh
source "$ROOT/tools/peers/common.sh"
ZONE="$ROOT/tools/peers/answer-sizes.zone"
MINIMAL=${MINIMAL:-true}
EDNS=${EDNS:-1}
DNSSEC=${DNSSEC:-0}
WORK=$(mktemp -d /tmp/eightfold-sizes.XXXXXX)
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill -- -"$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '%s\n' "$*" >&2; }

# Every question: a label for the table, the name, the type.
QUESTIONS=(
  "apex NS|example.com|NS"
  "apex MX, addresses in additional|example.com|MX"
  "apex MX, question in capitals|EXAMPLE.COM|MX"
  "referral, glue in additional|www.sub.example.com|A"
  "referral to another zone's servers|www.hosted.example.com|A"
  "CNAME to a name in the zone|www.example.com|A"
  "CNAME to another zone|outside.example.com|A"
  "two CNAMEs, then the address|chain.example.com|A"
  "DNAME, then a CNAME in the zone|www.legacy.example.com|A"
  "MX to another zone's servers|hosted-mx.example.com|MX"
  "MX below the apex|mx.deep.example.com|MX"
  "wildcard MX|a.wild.example.com|MX"
  "apex SOA|example.com|SOA"
  "NXDOMAIN, SOA in authority|nothing.example.com|A"
  "NODATA, SOA in authority|web.example.com|TXT"
)
if [ "$DNSSEC" = 1 ]; then
  QUESTIONS+=(
    "multivalue, 8 addresses|mv.example.com|A"
    "referral to a signed child (DS)|www.secure.example.com|A"
    "apex DNSKEY|example.com|DNSKEY"
  )
fi

install_missing() {
  local missing=()
  command -v knotd >/dev/null || missing+=(knot)
  command -v kdig >/dev/null || missing+=(knot-dnsutils)
  command -v python3 >/dev/null || missing+=(python3)
  if ((${#missing[@]})); then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
      say "missing: ${missing[*]} (run as root on Debian to install them)"
      exit 1
    fi
    say "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts `$@` in its own process group, logging to $1's log, and waits until it answers on $2.
start() { # $1 name, $2 port, then the command
  local name=$1 port=$2
  shift 2
  setsid "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    if kdig +short +timeout=1 +retry=0 -p "$port" @127.0.0.1 example.com SOA 2>/dev/null | grep -q hostmaster; then
      return
    fi
    sleep 0.1
  done
  say "$name did not start:"
  cat "$WORK/$name.log" >&2
  exit 1
}

# "bytes answer/authority/additional" of the answer $1 gives to question $2 $3.
measure() { # $1 port, $2 name, $3 type
  local edns=() out bytes counts
  if [ "$EDNS" = 1 ]; then edns=(+edns); fi
  if [ "$DNSSEC" = 1 ]; then edns+=(+dnssec); fi
  out=$(kdig +norecurse +timeout=2 +retry=1 "${edns[@]}" -p "$1" @127.0.0.1 "$2" "$3")
  bytes=$(sed -n 's/^;; Received \([0-9]*\) B$/\1/p' <<<"$out")
  counts=$(sed -n 's/.*ANSWER: \([0-9]*\); AUTHORITY: \([0-9]*\); ADDITIONAL: \([0-9]*\).*/\1\/\2\/\3/p' <<<"$out")
  echo "${bytes:-?} ${counts:-?}"
}

install_missing
say "building eightfold (release)"
(cd "$ROOT" && cargo build --release --quiet)

ZONE_SERVED="$ZONE"
signed=""
if [ "$DNSSEC" = 1 ]; then
  # The same zone for both, with a signed child's DS; Knot's has the multivalue name's 8
  # records in it, eightfold's come from 16 [[record]] members.
  ZONE_SERVED="$WORK/example.com.zone"
  {
    cat "$ZONE"
    printf 'secure NS ns1.secure\nns1.secure A 192.0.2.110\n'
    printf 'secure DS 12345 13 2 3AA5AB37EFCE57F737FC1627013FEE07BDF241BD10F3B1964AB55C78E79A304B\n'
  } >"$ZONE_SERVED"
  cp "$ZONE_SERVED" "$WORK/knot.zone"
  for i in $(seq 1 8); do printf 'mv A 198.51.100.%d\n' "$i"; done >>"$WORK/knot.zone"
  key=$("$ROOT/target/release/eightfold" keygen --dir "$WORK" --ksk example.com.)
  signed=$(printf '[zone.dnssec]\nkeys = ["%s"]\n' "$key")
  for i in $(seq 1 16); do
    printf '[[record]]\nname = "mv.example.com."\ntype = "A"\nrouting = "multivalue"\nset_id = "m%d"\nvalues = ["198.51.100.%d"]\n' "$i" "$i"
  done >"$WORK/records.toml"
fi

eightfold_port=$(free_port)
cat >"$WORK/eightfold.toml" <<EOF
[server]
listen = ["127.0.0.1:$eightfold_port"]
workers = 1
minimal_responses = $MINIMAL
[[zone]]
origin = "example.com."
file = "$ZONE_SERVED"
$signed
EOF
if [ "$DNSSEC" = 1 ]; then cat "$WORK/records.toml" >>"$WORK/eightfold.toml"; fi
start eightfold "$eightfold_port" "$ROOT/target/release/eightfold" serve --config "$WORK/eightfold.toml"

knot_port=$(free_port)
mkdir -p "$WORK/knot"
knot_zone="$ZONE"
if [ "$DNSSEC" = 1 ]; then knot_zone="$WORK/knot.zone"; fi
fill knot.conf.in "$WORK/knot.conf" ADDRESS=127.0.0.1 PORT="$knot_port" DIR="$WORK/knot" ZONEFILE="$knot_zone"
if [ "$DNSSEC" = 1 ]; then
  # A policy like eightfold's key: ECDSA P-256, one combined key, NSEC; signed at load.
  sed -i 's/^zone:$/policy:\n  - id: sizes\n    algorithm: ecdsap256sha256\n    single-type-signing: on\n    nsec3: off\nzone:/' "$WORK/knot.conf"
  printf '    dnssec-signing: on\n    dnssec-policy: sizes\n' >>"$WORK/knot.conf"
fi
start knot "$knot_port" knotd -c "$WORK/knot.conf"
if [ "$DNSSEC" = 1 ]; then
  # Both answer with signatures before anything is measured.
  for port in "$eightfold_port" "$knot_port"; do
    for _ in $(seq 1 100); do
      if kdig +dnssec +timeout=1 +retry=0 -p "$port" @127.0.0.1 example.com SOA 2>/dev/null | grep -q RRSIG; then
        break
      fi
      sleep 0.1
    done
    if ! kdig +dnssec +timeout=1 +retry=0 -p "$port" @127.0.0.1 example.com SOA 2>/dev/null | grep -q RRSIG; then
      say "the server on port $port does not sign its answers"
      exit 1
    fi
  done
fi

printf '%-38s %-26s %-5s %16s %16s\n' question name type "eightfold" "Knot"
for question in "${QUESTIONS[@]}"; do
  IFS='|' read -r label name type <<<"$question"
  read -r ours our_counts <<<"$(measure "$eightfold_port" "$name" "$type")"
  read -r theirs their_counts <<<"$(measure "$knot_port" "$name" "$type")"
  printf '%-38s %-26s %-5s %5s B %-8s %5s B %-8s\n' "$label" "$name" "$type" "$ours" "$our_counts" "$theirs" "$their_counts"
done
