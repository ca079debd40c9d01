#!/usr/bin/env bash
# Shows that every commit the gateway counts as recorded ends in fdatasync: of the
# event segment it appended to, then of sled's data file (sled's own flush only
# issues sync_file_range, which a power cut defeats). The link to central is
# plaintext here: the script looks at the gateway's disk, not at the link.
#
#   bash tests/scripts/strace-fdatasync.sh [PAYLOADS]
#
# Needs strace and mosquitto_pub (Debian: strace, mosquitto-clients). Runs central and
# one gateway on ports the OS picks, publishes PAYLOADS reads one at a time (each its
# own commit), then compares the gateway's commit count with the syscalls it made.
set -euo pipefail
cd "$(dirname "$0")/../.."
payloads=${1:-40}
cargo build -q -p waymark-tests --bin waymark-node
node=target/debug/waymark-node
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT

"$node" sync run --insecure-plaintext --data-dir "$dir/central" --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
  --ops-listen 127.0.0.1:0 > "$dir/central.out" 2> "$dir/central.log" &
until grep -q ready "$dir/central.out" 2>/dev/null; do sleep 0.1; done
grpc=$(grep -o 'grpc=[^ ]*' "$dir/central.out" | cut -d= -f2)

cat > "$dir/gw.toml" <<TOML
site_id = "dc-strace"
data_dir = "$dir/gw"
[mqtt]
listen = "127.0.0.1:0"
allow_anonymous = true
[central]
endpoint = "http://$grpc"
insecure_plaintext = true
[ops]
listen = "127.0.0.1:0"
[[devices]]
id = "pack-1"
business_step = "packing"
[reconcile]
quiet_ms = 200
lateness_ms = 50
[[reconcile.read_points]]
id = "pack-station-1"
device = "pack-1"
business_step = "packing"
unmatched = "record"
TOML
strace -f -y -qq -e trace=fdatasync,sync_file_range -o "$dir/trace" \
  "$node" gateway run --config "$dir/gw.toml" > "$dir/gw.out" 2> "$dir/gw.log" &
until grep -q ready "$dir/gw.out" 2>/dev/null; do sleep 0.1; done
mqtt=$(grep -o 'mqtt=[^ ]*' "$dir/gw.out" | cut -d= -f2)
ops=$(grep -o 'ops=[^ ]*' "$dir/gw.out" | cut -d= -f2)

for i in $(seq 1 "$payloads"); do
  mosquitto_pub -h "${mqtt%:*}" -p "${mqtt##*:}" -q 1 -t waymark/dc-strace/pack-1/reads \
    -m "{\"id\":\"urn:epc:id:sgtin:0614141.812345.$i\"}"
  sleep 0.05
done
sleep 3   # the last stays close and their events commit

metrics=$(curl -s "http://$ops/metrics")
commits=$(echo "$metrics" | awk '/^waymark_store_commit_seconds_count/ {print $2}')
events=$(echo "$metrics" | awk '/^waymark_events_recorded_total/ {print $2}')
fdatasync=$(grep -c 'fdatasync(' "$dir/trace" || true)
segment_syncs=$(grep 'fdatasync(' "$dir/trace" | grep -c '\.seg' || true)
sfr=$(grep -c 'sync_file_range(' "$dir/trace" || true)
echo "payloads published:            $payloads"
echo "events recorded:               $events"
echo "commits counted by the gateway: $commits"
echo "fdatasync calls:               $fdatasync (of event segments: $segment_syncs)"
echo "sync_file_range calls (sled):  $sfr"
if [ "$fdatasync" -ge "$commits" ] && [ "$commits" -gt 0 ]; then
  echo "OK: every commit was followed by an fdatasync"
else
  echo "FAIL: fewer fdatasync calls than commits"; exit 1
fi
