#!/usr/bin/env bash
# Property-based test of central's REST API against its own OpenAPI document:
# schemathesis (PyPI) generates requests from /api/openapi.json and fails on any
# server error or any response the document does not allow.
#
#   bash tests/schemathesis.sh            # builds waymark-sync (debug) first
#   WAYMARK_SCHEMATHESIS_EXAMPLES=300 bash tests/schemathesis.sh   # more cases (default 100, ~1 min)
set -euo pipefail
cd "$(dirname "$0")/.."

examples="${WAYMARK_SCHEMATHESIS_EXAMPLES:-100}"
venv="${XDG_CACHE_HOME:-$HOME/.cache}/waymark-schemathesis"

if [ ! -x "$venv/bin/schemathesis" ]; then
  echo "installing schemathesis into $venv"
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian ships venv (ensurepip) apart from python3.
    rm -rf "$venv"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
  # The options below are schemathesis 4's.
  "$venv/bin/pip" install -q "schemathesis>=4.32,<5"
fi

cargo build -q -p waymark-sync --bin waymark-sync
bin="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/waymark-sync"

work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The run's token comes from the config file: the API cannot revoke it, so
# schemathesis's own DELETE /api/v1/tokens/{id} cannot lock the run out.
generated="$("$bin" hash-token --generate)"
token="$(sed -n 's/^token: *//p' <<<"$generated")"
hash="$(sed -n 's/^sha256: *//p' <<<"$generated")"
cat >"$work/sync.toml" <<EOF
[[api.tokens]]
name = "schemathesis"
sha256 = "$hash"
scopes = ["admin"]
EOF

# Central on SQLite in a temporary data directory, every port chosen by the OS.
"$bin" run --config "$work/sync.toml" --data-dir "$work/data" --grpc-listen 127.0.0.1:0 \
  --http-listen 127.0.0.1:0 --ops-listen 127.0.0.1:0 >"$work/stdout" 2>"$work/central.log" &
pid=$!
for _ in $(seq 1 300); do
  grep -q ' ready ' "$work/stdout" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/central.log" >&2; echo "central exited" >&2; exit 1; }
  sleep 0.1
done
ready="$(grep ' ready ' "$work/stdout")" || { echo "central did not report ready" >&2; exit 1; }
http="$(sed -n 's/.* http=\([^ ]*\).*/\1/p' <<<"$ready")"
base="http://$http"

# A few orders, so that reads find something.
post() {
  curl -sS -o /dev/null -w '%{http_code}' -X POST "$base$1" \
    -H "Authorization: Bearer $token" -H 'content-type: application/json' -d "$2"
}
for n in 1 2 3; do
  code="$(post /api/v1/orders "{\"order_number\": \"SO-$n\", \"site_id\": \"dc-a\", \"parcels\": [{\"tracking_number\": \"1Z$n\"}]}")"
  [ "$code" = 201 ] || { echo "creating order SO-$n answered $code" >&2; exit 1; }
done
code="$(post /api/v1/orders '{"order_number": "SO-4", "shipments": [{"site_id": "dc-b", "carrier": "ups", "promised_delivery": {"earliest": "2026-12-10", "latest": "2026-12-12"}, "parcels": [{"sscc": "106141412345678908", "items": [{"sku": "TENT-2", "quantity": 1}]}]}]}')"
[ "$code" = 201 ] || { echo "creating order SO-4 answered $code" >&2; exit 1; }

# Checks: no 5xx; every response's status, content type and body are ones the
# document allows. Security parameters are not fuzzed: wrong tokens would spend
# the client's failed-authentication budget and lock the run out with 429.
echo "schemathesis: $examples examples per operation against $base"
start=$SECONDS
status=0
# Run from the temp dir: schemathesis and hypothesis leave state in the cwd.
(cd "$work" && "$venv/bin/schemathesis" run "$base/api/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --max-examples "$examples" \
  --seed 14 \
  --no-color \
  --suppress-health-check all \
  --generation-with-security-parameters false \
  --generation-database none) || status=$?
echo "schemathesis: finished in $((SECONDS - start)) s"
if [ "$status" -ne 0 ]; then
  echo "central's log (last 40 lines):" >&2
  tail -n 40 "$work/central.log" >&2
fi
exit "$status"
