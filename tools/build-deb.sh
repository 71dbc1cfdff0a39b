#!/usr/bin/env bash
# Builds the Debian package, target/debian/eightfold_VERSION-1_ARCH.deb, and prints its path
# on the last line. Needs cargo-deb (`cargo install cargo-deb`).
#
# The files the package ships that are not in the repository are made first, under
# target/deb-assets/ (where [package.metadata.deb] in Cargo.toml looks for them), by the
# release binary itself: the manual pages and the completion scripts (`eightfold generate`);
# and the systemd unit, contrib/eightfold.service with the packaged binary's path, /usr/bin,
# in place of /usr/local/bin, where the unit expects a binary installed by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked
binary="${CARGO_TARGET_DIR:-target}/release/eightfold"
assets=target/deb-assets
rm -rf "$assets"
mkdir -p "$assets/completions" "$assets/systemd"
"$binary" generate man "$assets/man" >/dev/null
"$binary" generate completions bash >"$assets/completions/eightfold"
"$binary" generate completions zsh >"$assets/completions/_eightfold"
"$binary" generate completions fish >"$assets/completions/eightfold.fish"
sed 's|/usr/local/bin/eightfold|/usr/bin/eightfold|g' contrib/eightfold.service >"$assets/systemd/eightfold.service"
if grep -q /usr/local "$assets/systemd/eightfold.service"; then
  echo "build-deb: the packaged unit still names /usr/local" >&2
  exit 1
fi

# --no-build: the binary above is the one packaged; cargo-deb strips it, and prints the
# package's path.
cargo deb --no-build --quiet --output target/debian
