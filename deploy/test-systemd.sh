#!/usr/bin/env bash
# Both packages under a real systemd, which CI does not have: boots this machine's
# own root as a throwaway container (systemd-nspawn over an overlay whose upper
# layer is a tmpfs, so nothing it does reaches the host), then installs the
# packages there and checks that the units start (Type=notify: READY=1 with the
# ready line as status), run inside their sandbox, stop, restart on an upgrade,
# stop on `dpkg -r` and lose their enablement and data on `dpkg -P`.
#
#   deploy/test-systemd.sh [--profile debug|release]     # default debug
#
# Needs root, systemd installed (not running), systemd-nspawn (Debian package
# systemd-container) and overlayfs. Not run by CI; a minute or less.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test-systemd.sh: needs root" >&2; exit 1; }
command -v systemd-nspawn >/dev/null || { echo "test-systemd.sh: needs systemd-nspawn (apt-get install systemd-container)" >&2; exit 1; }
profile=debug
[ "${1:-}" = --profile ] && profile="${2:?--profile needs debug or release}"

work="$(mktemp -d /tmp/waymark-systemd.XXXXXX)"
cleanup() {
  umount "$work/root" 2>/dev/null || true
  umount "$work/layers" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/share" "$work/layers" "$work/root"
deploy/package.sh --profile "$profile" --out "$work/share" >/dev/null
mount -t tmpfs -o size=2g tmpfs "$work/layers"
mkdir -p "$work/layers/upper" "$work/layers/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$work/layers/upper,workdir=$work/layers/work" "$work/root"

# What runs inside, as a oneshot unit of a target that pulls in nothing else.
cat > "$work/share/checks.sh" <<'INSIDE'
#!/bin/bash
exec > /share/result.log 2>&1
ok() { echo "PASS: $*"; }
bad() { echo "FAIL: $*"; }
check() { local what="$1"; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
stopped() { ! systemctl is-active --quiet "$1"; }
gone() { [ ! -e "$1" ] && [ ! -e "$2" ]; }
# This image forbids service starts from maintainer scripts (a container
# policy); a real box has none.
rm -f /usr/sbin/policy-rc.d
dpkg -i /share/waymark-gateway_*.deb /share/waymark-sync_*.deb >/dev/null
check "not enabled on a fresh install" [ "$(systemctl is-enabled waymark-sync waymark-gateway | sort -u)" = disabled ]
sed -i 's/^grpc_listen = .*/grpc_listen = "127.0.0.1:7443"/; s/^http_listen = .*/http_listen = "127.0.0.1:8080"/' /etc/waymark/sync.toml
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
  -keyout /etc/waymark/mqtt-tls.key -out /etc/waymark/mqtt-tls.pem 2>/dev/null
chgrp waymark-gateway /etc/waymark/mqtt-tls.key && chmod 0640 /etc/waymark/mqtt-tls.key
sed -i 's|^endpoint = .*|endpoint = "http://127.0.0.1:7443"\ninsecure_plaintext = true|' /etc/waymark/gateway.toml
for unit in waymark-sync waymark-gateway; do
  check "$unit starts" systemctl start "$unit"
  check "$unit is active" systemctl is-active --quiet "$unit"
  status="$(systemctl show -p StatusText --value "$unit")"
  echo "$unit status: $status"
  check "$unit told systemd its ready line" grep -q "^$unit ready " <<<"$status"
  systemd-analyze security --no-pager "$unit.service" | tail -1
done
check "central answers /readyz" curl -fsS -o /dev/null http://127.0.0.1:9465/readyz
check "central wrote its data as its user" [ "$(stat -c %U /var/lib/waymark-sync/pki/ca.key)" = waymark-sync ]
check "gateway status answers" waymark-gateway status
before="$(systemctl show -p MainPID --value waymark-sync waymark-gateway | xargs)"
dpkg -i /share/waymark-gateway_*.deb /share/waymark-sync_*.deb >/dev/null
after="$(systemctl show -p MainPID --value waymark-sync waymark-gateway | xargs)"
echo "main PIDs before the upgrade: $before; after: $after"
check "an upgrade restarts the running services" [ "$before" != "$after" ]
check "both active after the upgrade" systemctl is-active --quiet waymark-sync waymark-gateway
check "both stop cleanly" systemctl stop waymark-sync waymark-gateway
journalctl --no-pager -u waymark-gateway -u waymark-sync | grep -E 'ready|shutting down|stopped|Deactivated' | tail -8
systemctl enable --quiet --now waymark-sync
rm -f /etc/waymark/mqtt-tls.key /etc/waymark/mqtt-tls.pem
dpkg -r waymark-gateway waymark-sync >/dev/null
check "dpkg -r stops the service" stopped waymark-sync
check "dpkg -r keeps the data" [ -d /var/lib/waymark-sync/pki ]
dpkg -P waymark-gateway waymark-sync >/dev/null
check "dpkg -P deletes the data" gone /var/lib/waymark-sync /var/lib/waymark-gateway
check "dpkg -P removes the enablement" [ -z "$(find /etc/systemd/system -name 'waymark-sync*')" ]
check "dpkg -P removes /etc/waymark" [ ! -e /etc/waymark ]
echo DONE
systemctl poweroff
INSIDE
chmod 0755 "$work/share/checks.sh"
cat > "$work/share/waymark-checks.service" <<'UNIT'
[Unit]
Description=Waymark package checks
After=basic.target
[Service]
Type=oneshot
ExecStart=/share/checks.sh
UNIT
cat > "$work/share/waymark-checks.target" <<'UNIT'
[Unit]
Description=Waymark package checks
Requires=basic.target waymark-checks.service
After=basic.target
UNIT

timeout 300 systemd-nspawn --quiet --register=no --keep-unit --link-journal=no \
  --uuid="$(tr -d - < /proc/sys/kernel/random/uuid)" --private-network \
  --directory="$work/root" --bind="$work/share:/share" \
  --bind-ro="$work/share/waymark-checks.service:/etc/systemd/system/waymark-checks.service" \
  --bind-ro="$work/share/waymark-checks.target:/etc/systemd/system/waymark-checks.target" \
  --boot -- systemd.unit=waymark-checks.target > "$work/console.log" 2>&1 || true
[ -f "$work/share/result.log" ] || { tail -30 "$work/console.log"; echo "test-systemd.sh: the container did not run the checks" >&2; exit 1; }
cat "$work/share/result.log"
grep -q '^DONE$' "$work/share/result.log" || { echo "test-systemd.sh: the checks did not finish" >&2; exit 1; }
! grep -q '^FAIL' "$work/share/result.log"
