#!/usr/bin/env bash
# Fuzz the running API against its own OpenAPI document with schemathesis
# (PyPI): positive and negative cases for every operation, all checks —
# no 5xx, responses match the documented schemas and status codes.
#   scripts/schemathesis.sh [MAX_EXAMPLES]
# Builds riskflow (release), starts it on a temp SQLite with the stub data
# sources, installs schemathesis into a venv under target/, runs, stops.
# The result is recorded in docs/benchmarks.md ("API fuzzing").
set -euo pipefail
cd "$(dirname "$0")/.."
max=${1:-100}
target=${CARGO_TARGET_DIR:-target}
venv="$target/schemathesis-venv"
[ -x "$venv/bin/schemathesis" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q schemathesis; }
cargo build --release -q -p riskflow-cli
work=$(mktemp -d)
port=${PORT:-18181}
"$target/release/riskflow" serve examples/lending --stub --quiet \
  --database "sqlite://$work/riskflow.db" --listen "127.0.0.1:$port" 2>"$work/server.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
venv=$(cd "$venv" && pwd)
# schemathesis keeps a cache in the working directory: run it in the temp dir.
(cd "$work" && "$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
  --checks all --max-examples "$max" --workers 2 --request-timeout 10 \
  --suppress-health-check all --report junit --report-dir "$work/report" "${@:2}")
echo "server log (errors only):"; grep -E "ERROR|panicked" "$work/server.log" || echo "  none"
