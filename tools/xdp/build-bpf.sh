#!/usr/bin/env bash
# Builds every XDP program here, tools/xdp/NAME.bpf.o from NAME.bpf.c, with Debian's clang
# (apt-get install clang llvm), or with --check builds each into a temporary file and fails
# when one differs from its committed object. The programs:
#
#   udp-redirect   the AF_XDP data path's (eightfold and tools/xdp-echo load it)
#   turnaround     bench.sh's `xdp-tx` row: each query turned around in the kernel (XDP_TX)
#   knot-compat    bench.sh's `knot+xdp` row: a stand-in for Knot 3.2.6's own program
#
# An object keeps its BTF (aya and libbpf read the map definitions from it) and loses its
# DWARF, which would name the build directory; with the same clang the bytes are the same on
# every machine.
#
# Usage: tools/xdp/build-bpf.sh [--check]
set -euo pipefail
cd "$(dirname "$0")"
clang=${CLANG:-clang}
strip=${LLVM_STRIP:-llvm-strip}

build() { # $1 source, $2 object
  "$clang" -O2 -g -target bpf -Wall -Werror -fdebug-prefix-map="$PWD"=. -c "$1" -o "$2"
  "$strip" -g "$2"
}

sources=(*.bpf.c)
case "${1:-}" in
  "")
    for source in "${sources[@]}"; do
      build "$source" "${source%.c}.o"
      echo "built tools/xdp/${source%.c}.o"
    done
    echo "with $("$clang" --version | head -n 1)"
    ;;
  --check)
    fresh=$(mktemp)
    trap 'rm -f "$fresh"' EXIT
    stale=0
    for source in "${sources[@]}"; do
      object=${source%.c}.o
      build "$source" "$fresh"
      if cmp -s "$fresh" "$object"; then
        echo "tools/xdp/$object matches its source"
      else
        echo "tools/xdp/$object differs from what $("$clang" --version | head -n 1) builds from $source" >&2
        stale=1
      fi
    done
    if [ "$stale" = 1 ]; then
      echo "run tools/xdp/build-bpf.sh and commit the objects" >&2
      exit 1
    fi
    ;;
  *)
    echo "usage: tools/xdp/build-bpf.sh [--check]" >&2
    exit 2
    ;;
esac
