# shellcheck shell=bash
# What the benchmark scripts share about the peers' set-up, sourced by tools/bench-peers.sh,
# tools/answer-sizes.sh and tools/xdp/bench.sh (not run on its own):
#
#   fill TEMPLATE OUT NAME=VALUE...   writes tools/peers/TEMPLATE to OUT with each @NAME@ replaced
#   write_zones DIR                   writes the zones every server serves and the query mix
#
# PEERS is this directory.
PEERS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Writes $PEERS/$1 to $2 with each @NAME@ replaced by the VALUE given as NAME=VALUE, taken
# literally (escaped for sed). A value may not hold a newline or an @ (which could make a
# placeholder); a placeholder left in the output is an error. In a $(...) errexit is off,
# hence the explicit exits.
fill() { # $1 template, $2 output, then NAME=VALUE...
  local template=$1 out=$2 pair name value script=()
  shift 2
  for pair in "$@"; do
    name=${pair%%=*} value=${pair#*=}
    if [[ ! $name =~ ^[A-Z]+$ || $value == *$'\n'* || $value == *@* ]]; then
      printf 'fill %s: bad placeholder or value: %s\n' "$template" "$pair" >&2
      exit 1
    fi
    value=$(printf '%s' "$value" | sed 's/[\\|&]/\\&/g')
    script+=(-e "s|@$name@|$value|g")
  done
  sed "${script[@]}" "$PEERS/$template" >"$out" || {
    printf 'fill %s: could not write %s from %s\n' "$template" "$out" "$PEERS/$template" >&2
    exit 1
  }
  if grep -q '@[A-Z][A-Z]*@' "$out"; then
    printf 'fill %s: no value given for %s\n' "$template" "$(grep -o '@[A-Z][A-Z]*@' "$out" | head -1)" >&2
    exit 1
  fi
}

# In $1: the zone every server serves, $PEERS/example.com.zone, with the name under test
# added: plain.zone with 8 A records (Knot, NSD), gdnsd.zone with gdnsd's multifo, and
# eightfold.zone without it (eightfold's 16 records are in its config); and queries.txt, the
# mix dnsperf sends: 60% that name, then a static A, an AAAA, an NXDOMAIN and a NODATA.
write_zones() { # $1 directory
  local common="$PEERS/example.com.zone" i
  {
    cat "$common"
    for i in $(seq 1 8); do echo "mv 60 A 127.0.1.$i"; done
  } >"$1/plain.zone"
  cat "$common" >"$1/eightfold.zone"
  {
    cat "$common"
    echo "mv 60 DYNA multifo!mv"
  } >"$1/gdnsd.zone"
  for i in $(seq 1 10); do
    case $i in
      1|2|3|4|5|6) echo "mv.example.com A" ;;
      7) echo "static.example.com A" ;;
      8) echo "static.example.com AAAA" ;;
      9) echo "nothing.example.com A" ;;
      10) echo "static.example.com MX" ;;
    esac
  done >"$1/queries.txt"
}
