#!/usr/bin/env bash
# Instructions per answer on the in-process answer path, counted by callgrind (steady where
# this shared host's clock is not). Each case runs examples/answer_loop.rs twice, at N and 2N
# answers; (instructions(2N) - instructions(N)) / N cancels start-up and set-up.
#
#   tools/instruction-counts.sh                 every case, N = 100000
#   N=20000 tools/instruction-counts.sh static  one case
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
n=${N:-100000}
cargo build --release --quiet --example answer_loop
bin=target/release/examples/answer_loop
if [ $# -eq 0 ]; then
  mapfile -t cases < <("$bin" 2>&1 | sed -n 's/^  //p')
else
  cases=("$@")
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() { # case answers -> total instructions
  valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$bin" "$1" "$2" >/dev/null 2>"$out/log"
  sed -n 's/^summary: //p' "$out/cg"
}
printf '%-22s %12s\n' case instructions
for case in "${cases[@]}"; do
  one=$(count "$case" "$n")
  two=$(count "$case" $((2 * n)))
  printf '%-22s %12s\n' "$case" "$(( (two - one + n / 2) / n ))"
done
