#!/usr/bin/env bash
# Tests a built Debian package the way a user meets it, without installing it on this
# machine: what it ships (dpkg-deb -c) and declares (control fields, conffiles, maintainer
# scripts), then, unpacked with dpkg -x into a temporary folder, the packaged binary run on
# the packaged config (--version, check, serve on a free loopback port asked with dig and
# `eightfold status`, a clean stop on SIGTERM), the packaged manual pages read with man, the
# completion scripts parsed by their shells, and the packaged unit pointing at the packaged
# binary. Needs dpkg, dig (dnsutils) and man (man-db); zsh and fish when installed.
#
#   tools/package-test.sh target/debian/eightfold_0.1.0-1_amd64.deb
set -euo pipefail

deb=${1:?usage: tools/package-test.sh PACKAGE.deb}
[ -f "$deb" ] || { echo "package-test: no such file: $deb" >&2; exit 2; }
root=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
  rm -rf "$root"
}
trap cleanup EXIT
fail() {
  echo "package-test: FAILED: $*" >&2
  exit 1
}
checks=0
pass() {
  checks=$((checks + 1))
  echo "ok: $*"
}

# What the package ships, at the paths Debian's tools look in.
listing=$(dpkg-deb -c "$deb")
for path in \
  usr/bin/eightfold \
  usr/lib/systemd/system/eightfold.service \
  etc/eightfold/eightfold.toml \
  etc/eightfold/example.com.zone \
  usr/share/man/man8/eightfold.8.gz \
  usr/share/man/man5/eightfold.toml.5.gz \
  usr/share/bash-completion/completions/eightfold \
  usr/share/zsh/vendor-completions/_eightfold \
  usr/share/fish/vendor_completions.d/eightfold.fish \
  usr/share/doc/eightfold/copyright \
  usr/share/doc/eightfold/configuration.md \
  usr/share/doc/eightfold/operations.md \
  usr/share/doc/eightfold/contrib/grafana/eightfold.json \
  usr/share/doc/eightfold/contrib/prometheus/eightfold-alerts.yml \
  usr/share/doc/eightfold/contrib/systemd/eightfold-xdp.conf; do
  grep -q " \./$path\$" <<<"$listing" || fail "$path is not in the package:
$listing"
done
pass "the package ships the binary, unit, config, manual pages, completions, docs, dashboard, alerts and the AF_XDP drop-in"

# Its control data: one-line synopsis, the config files kept across upgrades, and the
# systemd scripts (restart a running server on upgrade, stop it on removal, never start it).
synopsis=$(dpkg-deb -f "$deb" Description | head -n 1)
[ ${#synopsis} -le 80 ] || fail "the Description's first line is longer than 80 characters: $synopsis"
[ "$(dpkg-deb -f "$deb" Package)" = eightfold ] || fail "the package is not named eightfold"
conffiles=$(dpkg-deb -I "$deb" conffiles)
for conffile in /etc/eightfold/eightfold.toml /etc/eightfold/example.com.zone; do
  grep -qx "$conffile" <<<"$conffiles" || fail "$conffile is not a conffile: $conffiles"
done
dpkg-deb -I "$deb" prerm | grep -q 'deb-systemd-invoke stop eightfold.service' ||
  fail "prerm does not stop the service on removal"
dpkg-deb -I "$deb" postinst | grep -q 'try-restart eightfold.service' ||
  fail "postinst does not restart a running service on upgrade"
if dpkg-deb -I "$deb" postinst | grep -Eq 'deb-systemd-invoke (start|restart) '; then
  fail "postinst starts the service, which must wait until its config is edited"
fi
pass "control: synopsis, conffiles $(tr '\n' ' ' <<<"$conffiles")and systemd scripts"

dpkg -x "$deb" "$root"
eightfold="$root/usr/bin/eightfold"
config="$root/etc/eightfold/eightfold.toml"

# The unit runs the packaged binary on the packaged config.
unit="$root/usr/lib/systemd/system/eightfold.service"
grep -qx 'Type=notify' "$unit" || fail "the unit is not Type=notify"
grep -qx 'ExecStart=/usr/bin/eightfold serve --config /etc/eightfold/eightfold.toml' "$unit" ||
  fail "the unit's ExecStart is not the packaged binary on the packaged config: $(grep ^Exec "$unit")"
while read -r program; do
  [ -x "$root$program" ] || [ -x "$program" ] || fail "the unit runs $program, which is neither packaged nor on this system"
done < <(sed -n 's/^Exec[A-Za-z]*=[-@!+]*\([^ ]*\).*/\1/p' "$unit")
if grep -q /usr/local "$unit"; then fail "the packaged unit names /usr/local"; fi
pass "the unit runs $(sed -n 's/^ExecStart=//p' "$unit")"

# The packaged binary: its version is the package's.
version=$("$eightfold" --version)
package_version=$(dpkg-deb -f "$deb" Version)
[[ "$version" == "eightfold ${package_version%-*} (commit "* ]] ||
  fail "--version says '$version', the package is $package_version"
pass "$version"

out=$("$eightfold" check --config "$config" 2>&1) || fail "check rejects the packaged config: $out"
[[ "$out" == *": OK ("* ]] || fail "check: $out"
pass "check: $out"

# The manual pages, as man reads them from the package.
for page in man8/eightfold.8.gz man5/eightfold.toml.5.gz; do
  text=$(MANWIDTH=100 LANG=C.UTF-8 man --warnings -l "$root/usr/share/man/$page" 2>"$root/man-warnings") ||
    fail "man cannot read $page"
  [ ! -s "$root/man-warnings" ] || fail "groff warns about $page: $(cat "$root/man-warnings")"
  case $page in
    man8/*) expected="eightfold serve" ;;
    man5/*) expected="rrl_responses_per_second" ;;
  esac
  grep -q "$expected" <<<"$text" || fail "$page does not mention $expected"
done
pass "man reads both pages without a warning"

# The completion scripts parse, and bash's completes the commands.
completions="$root/usr/share/bash-completion/completions/eightfold"
bash -n "$completions" || fail "the bash completion script does not parse"
words=$(bash --norc -c 'source "$1" && COMP_WORDS=(eightfold "") && COMP_CWORD=1 &&
  _eightfold eightfold "" eightfold && printf "%s\n" "${COMPREPLY[@]}"' _ "$completions")
for command in serve check status reload override import generate; do
  grep -qx "$command" <<<"$words" || fail "bash does not complete '$command' after 'eightfold ': $words"
done
if command -v zsh >/dev/null; then
  zsh -n "$root/usr/share/zsh/vendor-completions/_eightfold" || fail "the zsh completion script does not parse"
fi
if command -v fish >/dev/null; then
  fish -n "$root/usr/share/fish/vendor_completions.d/eightfold.fish" || fail "the fish completion script does not parse"
fi
pass "completion scripts parse; bash completes: $(tr '\n' ' ' <<<"$words")"

# Serve the packaged config on free loopback ports and ask it.
log="$root/server.log"
"$eightfold" serve --config "$config" --listen 127.0.0.1:0 --control 127.0.0.1:0 2>"$log" &
server=$!
address=
for _ in $(seq 300); do
  address=$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\).*/\1/p' "$log" | head -n 1)
  [ -n "$address" ] && break
  kill -0 "$server" 2>/dev/null || fail "the packaged server exited: $(cat "$log")"
  sleep 0.1
done
[ -n "$address" ] || fail "the packaged server did not start within 30 s: $(cat "$log")"
control=$(sed -n 's|.*control endpoint on http://\([0-9.]*:[0-9]*\).*|\1|p' "$log" | head -n 1)
answer=$(dig +time=3 +tries=1 @"${address%:*}" -p "${address##*:}" www.example.com A)
grep -q 'status: NOERROR' <<<"$answer" || fail "dig: $answer"
grep -q 'flags: qr aa' <<<"$answer" || fail "dig: the answer is not authoritative: $answer"
grep -Eq '^www\.example\.com\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+A[[:space:]]' <<<"$answer" ||
  fail "dig: no A record: $answer"
pass "dig @$address www.example.com: $(grep -c $'\tIN\tA\t' <<<"$answer") A records, authoritative"
status=$("$eightfold" status --control "$control") || fail "status: $status"
grep -q 'web-a' <<<"$status" || fail "status does not show the config's checks: $status"
pass "eightfold status --control $control lists the checks"

kill -TERM "$server"
code=
for _ in $(seq 100); do
  if ! kill -0 "$server" 2>/dev/null; then
    code=0
    wait "$server" || code=$?
    break
  fi
  sleep 0.1
done
server_pid=$server
server=
[ "$code" = 0 ] || fail "the packaged server did not stop with exit 0 within 10 s of SIGTERM (pid $server_pid, exit '${code}')"
pass "SIGTERM stops it with exit 0"

echo "package-test: $checks passed, 0 failed"
