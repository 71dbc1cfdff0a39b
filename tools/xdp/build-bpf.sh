#!/usr/bin/env bash
# Builds the XDP program, tools/xdp/udp-redirect.bpf.o, from udp-redirect.bpf.c with Debian's
# clang (apt-get install clang llvm), or with --check builds it into a temporary file and fails
# when that differs from the committed object. The object keeps its BTF (aya reads the map
# definition from it) and loses its DWARF, which would name the build directory; with the same
# clang the bytes are the same on every machine.
#
# Usage: tools/xdp/build-bpf.sh [--check]
set -euo pipefail
cd "$(dirname "$0")"
clang=${CLANG:-clang}
strip=${LLVM_STRIP:-llvm-strip}
source=udp-redirect.bpf.c
object=udp-redirect.bpf.o

build() {
  "$clang" -O2 -g -target bpf -Wall -Werror -fdebug-prefix-map="$PWD"=. -c "$source" -o "$1"
  "$strip" -g "$1"
}

case "${1:-}" in
  "")
    build "$object"
    echo "built tools/xdp/$object with $("$clang" --version | head -n 1)"
    ;;
  --check)
    fresh=$(mktemp)
    trap 'rm -f "$fresh"' EXIT
    build "$fresh"
    if ! cmp -s "$fresh" "$object"; then
      echo "tools/xdp/$object differs from what $("$clang" --version | head -n 1) builds from $source:" >&2
      echo "run tools/xdp/build-bpf.sh and commit the object" >&2
      exit 1
    fi
    echo "tools/xdp/$object matches its source"
    ;;
  *)
    echo "usage: tools/xdp/build-bpf.sh [--check]" >&2
    exit 2
    ;;
esac
