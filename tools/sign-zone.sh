#!/usr/bin/env bash
# Time and peak memory of `eightfold sign` on a zone of N static names (one A record each,
# plus the apex), with one combined key:
#
#   tools/sign-zone.sh 10000 1000000        ALGORITHM=15 tools/sign-zone.sh 10000
#
# Prints, per size: the names, the wall time, the CPU time, the peak resident memory (from
# /usr/bin/time) and the bytes of the signed zone. It builds eightfold (release) first. A
# tool, not a test: nothing here passes or fails on a time.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ALGORITHM=${ALGORITHM:-13}
WORK=$(mktemp -d /tmp/eightfold-sign.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

[ "$#" -gt 0 ] || set -- 10000
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
BIN="$ROOT/target/release/eightfold"
KEY=$("$BIN" keygen --dir "$WORK" --ksk --algorithm "$ALGORITHM" example.com.)

printf 'names\twall_s\tcpu_s\tpeak_rss_mib\tsigned_bytes\tcores\n'
for names in "$@"; do
  {
    # shellcheck disable=SC2016 # a literal $TTL
    printf '$TTL 3600\n@ IN SOA ns1 hostmaster 1 7200 900 1209600 300\n@ IN NS ns1\n'
    awk -v n="$names" 'BEGIN { for (i = 1; i <= n; i++) printf "h%d IN A 192.0.%d.%d\n", i, (i / 256) % 256, i % 256 }'
  } >"$WORK/example.com.zone"
  printf '[[zone]]\norigin = "example.com."\nfile = "example.com.zone"\n' >"$WORK/sign.toml"
  /usr/bin/time -f '%e %U %S %M' -o "$WORK/time" \
    "$BIN" sign --config "$WORK/sign.toml" --zone example.com. --key "$WORK/$KEY" >"$WORK/signed.zone" 2>"$WORK/log"
  read -r wall user system rss_kib <"$WORK/time"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$names" "$wall" "$(awk -v u="$user" -v s="$system" 'BEGIN { print u + s }')" \
    "$((rss_kib / 1024))" "$(stat -c %s "$WORK/signed.zone")" "$(nproc)"
done
