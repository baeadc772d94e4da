#!/usr/bin/env bash
# The Debian package as an operator gets it: built with CPack from the
# build tree under test, installed into a scratch root with dpkg (no
# container: --root with an empty dpkg database), then
#   - its files and conffiles are where Debian puts them, Depends computed;
#   - the installed unit's ExecStartPre (gateway --check) passes on the
#     packaged /etc/gateway/gateway.yaml;
#   - systemd-analyze verify passes on the installed unit (--root);
#   - the installed binary serves a copy of the packaged configuration on
#     loopback ports.
#
#   tests/package_test.sh BUILD_DIR     (tests/CMakeLists.txt runs it)
# Exit 77 (skipped) if a tool is missing: scripts/setup.sh test installs them.
set -euo pipefail

BUILD="$(cd "$1" && pwd)"
for tool in cpack dpkg dpkg-deb dpkg-shlibdeps systemd-analyze curl; do
  command -v "$tool" >/dev/null || { echo "SKIPPED: $tool not found (scripts/setup.sh test installs it)"; exit 77; }
done

WORK="$(mktemp -d "$BUILD/package-test.XXXXXX")"
GW_PID=""
cleanup() {
  if [[ -n "$GW_PID" ]]; then kill -TERM "$GW_PID" 2>/dev/null || true; wait "$GW_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

# Polls `cmd` every 50 ms for up to 10 s.
eventually() {
  for _ in $(seq 200); do "$@" && return 0; sleep 0.05; done
  "$@"
}

step "build the package from $BUILD"
cpack --config "$BUILD/CPackConfig.cmake" -B "$WORK/pkg" >"$WORK/cpack.log" 2>&1 || { cat "$WORK/cpack.log"; fail "cpack"; }
DEB="$(ls "$WORK"/pkg/gateway_*.deb)"
dpkg-deb --info "$DEB"

step "contents, conffiles and Depends"
dpkg-deb --contents "$DEB" | awk '{print $NF}' >"$WORK/contents"
for f in ./usr/sbin/gateway ./usr/bin/gateway-lab ./lib/systemd/system/gateway.service ./etc/gateway/gateway.yaml \
         ./etc/logrotate.d/gateway ./usr/share/man/man8/gateway.8.gz ./usr/share/doc/gateway/gateway.yaml.example; do
  grep -qxF "$f" "$WORK/contents" || fail "$f is not in the package"
done
dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles >"$WORK/conffiles"
diff -u <(printf '/etc/gateway/gateway.yaml\n/etc/logrotate.d/gateway\n') "$WORK/conffiles" || fail "conffiles"
depends="$(dpkg-deb --field "$DEB" Depends)"
echo "Depends: $depends"
[[ "$depends" == *libc6* && "$depends" == *libyaml-cpp* ]] || fail "Depends was not computed from the binary"

step "install into a scratch root"
ROOT="$WORK/root"
mkdir -p "$ROOT/var/lib/dpkg/info" "$ROOT/var/lib/dpkg/updates" "$ROOT/var/lib/dpkg/triggers"
touch "$ROOT/var/lib/dpkg/status" "$ROOT/var/lib/dpkg/available"
# The libraries it depends on are the host's, not in this empty database.
dpkg --root="$ROOT" --force-not-root --force-depends --force-script-chrootless --log=/dev/null \
  --install "$DEB" >"$WORK/dpkg.log" 2>&1 || { cat "$WORK/dpkg.log"; fail "dpkg --install"; }
dpkg --root="$ROOT" --status gateway | tee "$WORK/status"
grep -q '^Status: install ok installed' "$WORK/status" || fail "not installed"
grep -qE '^ /etc/gateway/gateway.yaml [0-9a-f]{32}$' "$WORK/status" || fail "gateway.yaml is no conffile in the database"
grep -qE '^ /etc/logrotate.d/gateway [0-9a-f]{32}$' "$WORK/status" || fail "the logrotate file is no conffile"
GW="$ROOT/usr/sbin/gateway"
[[ -x "$GW" ]] || fail "no $GW"
"$GW" --version

step "the unit's ExecStartPre on the packaged configuration"
UNIT="$ROOT/lib/systemd/system/gateway.service"
pre="$(sed -n 's/^ExecStartPre=//p' "$UNIT")"
[[ "$pre" == "/usr/sbin/gateway --check -c /etc/gateway/gateway.yaml" ]] || fail "ExecStartPre is '$pre'"
pre="${pre//\/usr\/sbin\//$ROOT/usr/sbin/}"
pre="${pre//\/etc\//$ROOT/etc/}"
echo "+ $pre"
$pre || fail "gateway --check on the packaged configuration"

step "systemd-analyze verify on the installed unit"
# --root resolves everything inside the scratch root: the unit's ExecStart=
# and ExecStartPre= binary (the package's /usr/sbin/gateway), ExecReload's
# /bin/kill and the units it depends on (network-online.target,
# sysinit.target, ...). The last two come from the host, as a Debian system
# has them; the package's unit in /lib/systemd/system wins over them.
mkdir -p "$ROOT/usr/lib/systemd" "$ROOT/bin"
cp -a "$(readlink -f /lib/systemd/system)" "$ROOT/usr/lib/systemd/system"
rm -f "$ROOT/usr/lib/systemd/system/gateway.service"
cp "$(readlink -f /bin/kill)" "$ROOT/bin/kill"
verify_ok=1
SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --root="$ROOT" --man=no \
  /lib/systemd/system/gateway.service >"$WORK/verify.log" 2>&1 || verify_ok=0
cat "$WORK/verify.log"
((verify_ok)) || fail "systemd-analyze verify"
[[ ! -s "$WORK/verify.log" ]] || fail "systemd-analyze verify printed warnings"

step "the installed binary serves the packaged configuration on loopback"
CONF="$WORK/run/gateway.yaml"
mkdir -p "$WORK/run/cache"
sed -e 's|"0.0.0.0:80"|"127.0.0.1:0"|' -e 's|"127.0.0.1:8081"|"127.0.0.1:0"|' \
    -e "s|/var/cache/gateway|$WORK/run/cache|" "$ROOT/etc/gateway/gateway.yaml" >"$CONF"
"$GW" -c "$CONF" >"$WORK/run/access.log" 2>"$WORK/run/error.log" &
GW_PID=$!
port_of() { sed -n "s/.*\] $1 on 127\.0\.0\.1:\([0-9]*\).*/\1/p" "$WORK/run/error.log" | head -n 1; }
has_ports() { [[ -n "$(port_of listening)" && -n "$(port_of 'admin listening')" ]]; }
eventually has_ports || { cat "$WORK/run/error.log"; fail "the gateway did not report its ports"; }
PORT="$(port_of listening)"
ADMIN="$(port_of 'admin listening')"
status="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN/status")"
[[ "$status" == 200 ]] || fail "admin /status answered $status"
# No application behind it: the gateway's own 502.
status="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/")"
[[ "$status" == 502 ]] || fail "/ answered $status"
logged() { grep -q '"request":"GET / HTTP/1.1",.*"status":502' "$WORK/run/access.log"; }
eventually logged || { cat "$WORK/run/access.log"; fail "no JSON access log line"; }
kill -TERM "$GW_PID"
wait "$GW_PID" || fail "the gateway exited $? after SIGTERM"
GW_PID=""
echo "PASS"
