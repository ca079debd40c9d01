#!/usr/bin/env bash
# CI check of the Debian packages, run by .ci/run after the test suite (which has
# built the debug binaries): build both packages from target/debug, install them,
# run each installed binary, check the units, upgrade in place, then show that
# `dpkg -r` keeps the data directory and `dpkg -P` deletes it.
#
# Needs root and dpkg; works without a running systemd (CI runs in a container).
# Leaves nothing installed: a second run on the same machine starts clean.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test-packages.sh: needs root (dpkg -i)" >&2; exit 1; }

out="$(mktemp -d /tmp/waymark-packages.XXXXXX)"
made_tls=()
cleanup() {
  dpkg --purge waymark-gateway waymark-sync >/dev/null 2>&1 || true
  rm -f "${made_tls[@]}"
  rmdir /etc/waymark 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT
# A run that died half-way leaves its packages behind: start from none.
dpkg --purge waymark-gateway waymark-sync >/dev/null 2>&1 || true

step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
dpkg_state() { dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | tr -d ' ' || true; }

step "build the packages from the debug binaries"
deploy/package.sh --profile debug --out "$out"
debs=("$out"/waymark-gateway_*.deb "$out"/waymark-sync_*.deb)
for deb in "${debs[@]}"; do dpkg-deb --info "$deb" | sed -n '/Package:/,$p'; dpkg-deb --contents "$deb"; done

step "install"
DEBIAN_FRONTEND=noninteractive dpkg --force-confold -i "${debs[@]}"

# The gateway's example config names its MQTT TLS certificate and key, and
# check-config reads them: give it a throwaway pair, as site IT would a real one.
for f in /etc/waymark/mqtt-tls.pem /etc/waymark/mqtt-tls.key; do [ -e "$f" ] || made_tls+=("$f"); done
if [ ${#made_tls[@]} -eq 2 ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=localhost -keyout /etc/waymark/mqtt-tls.key -out /etc/waymark/mqtt-tls.pem 2>/dev/null
  chgrp waymark-gateway /etc/waymark/mqtt-tls.key
  chmod 0640 /etc/waymark/mqtt-tls.key
fi

for pkg in waymark-gateway waymark-sync; do
  conf="/etc/waymark/${pkg#waymark-}.toml" data="/var/lib/$pkg"
  step "$pkg: installed"
  [ "$(dpkg_state "$pkg")" = ii ] || fail "$pkg is not installed: $(dpkg_state "$pkg")"
  "/usr/bin/$pkg" --version
  "/usr/bin/$pkg" --version | grep -qx "$pkg $(dpkg-query -W -f='${Version}' "$pkg")" \
    || fail "$pkg --version does not match the package version"
  "/usr/bin/$pkg" --help >/dev/null
  dpkg-query -W -f='${Conffiles}\n' "$pkg" | grep -q "$conf" || fail "$conf is not a conffile"
  id "$pkg"
  stat -c '%n %U:%G %a' "$conf" "$data"
  [ "$(stat -c '%U:%G %a' "$conf")" = "root:$pkg 640" ] || fail "$conf owner or mode"
  [ "$(stat -c '%U:%G %a' "$data")" = "$pkg:$pkg 750" ] || fail "$data owner or mode"
  # As the service user, as systemd runs it.
  runuser -u "$pkg" -- "/usr/bin/$pkg" check-config "$conf"

  step "$pkg: unit"
  unit="/lib/systemd/system/$pkg.service"
  if command -v systemd-analyze >/dev/null 2>&1; then
    systemd-analyze verify "$unit"
    echo "systemd-analyze verify $unit: ok"
  else
    # The lint when systemd-analyze is not there: the directives this package relies on.
    for key in Type=notify User=$pkg NoNewPrivileges=yes CapabilityBoundingSet= ProtectSystem=strict \
      "ReadWritePaths=$data" PrivateTmp=yes ProtectHome=yes RestrictAddressFamilies= \
      SystemCallFilter=@system-service MemoryMax= TimeoutStopSec=; do
      grep -q "^$key" "$unit" || fail "$unit lacks $key"
    done
    echo "systemd-analyze not found: $unit linted for its required directives"
  fi
done
id -nG waymark-gateway | grep -qw dialout || fail "waymark-gateway is not in dialout"
# Not the package's files: gone before the purge, so that it can remove /etc/waymark.
rm -f "${made_tls[@]}"
made_tls=()

step "waymark-sync runs as its user on the installed config (ports moved to loopback)"
log="$out/sync.log"
WAYMARK_GRPC_LISTEN=127.0.0.1:0 WAYMARK_HTTP_LISTEN=127.0.0.1:0 WAYMARK_OPS_LISTEN=127.0.0.1:0 \
  setpriv --reuid=waymark-sync --regid=waymark-sync --init-groups -- \
  /usr/bin/waymark-sync run --config /etc/waymark/sync.toml >"$log" 2>&1 &
sync_pid=$!
for _ in $(seq 1 300); do grep -q ' ready ' "$log" && break; kill -0 "$sync_pid" 2>/dev/null || break; sleep 0.1; done
grep ' ready ' "$log" || { cat "$log"; fail "waymark-sync did not report ready"; }
kill -TERM "$sync_pid"
wait "$sync_pid" || { cat "$log"; fail "waymark-sync did not stop cleanly"; }
ls -l /var/lib/waymark-sync

step "upgrade in place: the edited config and the data stay"
echo "# edited by the administrator" >> /etc/waymark/gateway.toml
echo "kept" > /var/lib/waymark-gateway/upgrade-marker
DEBIAN_FRONTEND=noninteractive dpkg --force-confold -i "${debs[@]}"
tail -1 /etc/waymark/gateway.toml | grep -q 'edited by the administrator' || fail "upgrade replaced the edited config"
[ -f /var/lib/waymark-gateway/upgrade-marker ] || fail "upgrade lost the data"
[ -f /var/lib/waymark-sync/admin.token ] || fail "upgrade lost central's data"
echo "config edit and data kept"

step "dpkg -r: binaries gone, config and data kept"
dpkg -r waymark-gateway waymark-sync
for pkg in waymark-gateway waymark-sync; do
  [ "$(dpkg_state "$pkg")" = rc ] || fail "$pkg after dpkg -r: $(dpkg_state "$pkg")"
  [ ! -e "/usr/bin/$pkg" ] || fail "/usr/bin/$pkg still there"
  [ -d "/var/lib/$pkg" ] || fail "dpkg -r removed /var/lib/$pkg"
  [ -f "/etc/waymark/${pkg#waymark-}.toml" ] || fail "dpkg -r removed the config"
  echo "$pkg: $(dpkg_state "$pkg"); data kept: $(find "/var/lib/$pkg" -mindepth 1 -maxdepth 1 -printf '%f ')"
done

step "dpkg -P: data and config gone"
dpkg -P waymark-gateway waymark-sync
for pkg in waymark-gateway waymark-sync; do
  [ -z "$(dpkg_state "$pkg")" ] || [ "$(dpkg_state "$pkg")" = un ] || fail "$pkg after dpkg -P: $(dpkg_state "$pkg")"
  [ ! -e "/var/lib/$pkg" ] || fail "dpkg -P left /var/lib/$pkg"
  [ ! -e "/etc/waymark/${pkg#waymark-}.toml" ] || fail "dpkg -P left the config"
  ! ls /etc/systemd/system/*/"$pkg.service" /etc/systemd/system/"$pkg.service" 2>/dev/null \
    || fail "dpkg -P left $pkg.service enabled or masked"
  ! find /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked \
    -name "*$pkg*" 2>/dev/null | grep . || fail "dpkg -P left deb-systemd-helper state for $pkg"
  echo "$pkg: purged, /var/lib/$pkg gone"
done
echo
echo "packages: 2 passed, 0 failed"
