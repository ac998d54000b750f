#!/usr/bin/env bash
# Server benchmarks recorded in docs/benchmarks.md ("Server"). Run by hand:
#   tools/bench_server.sh [sync|async|pg|all]
# Builds the release binary and the open-loop load generator (benches/load),
# runs riskflow on loopback against the example project, and prints one line
# per measurement. PostgreSQL runs are against a private cluster started here
# with default durability (fsync on, synchronous_commit on), port 55433.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
dur=${DUR:-10}
target=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p riskflow-cli
(cd benches/load && cargo build --release -q)
rf="$target/release/riskflow"
load=benches/load/target/release/riskflow-load
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -f "$work/pg/data/postmaster.pid" ]; then
    su postgres -c "$pgbin/pg_ctl -D $work/pg/data -m fast -w stop" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
req=examples/lending/requests

serve() { # serve PORT DB [args…]
  local port=$1 db=$2; shift 2
  RISKFLOW_LOG=warn "$rf" serve examples/lending --stub --quiet --database "$db" \
    --listen "127.0.0.1:$port" "$@" >"$work/serve-$port.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return; sleep 0.1; done
  echo "server on $port did not start"; cat "$work/serve-$port.log"; exit 1
}
stop() { kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'; }
run() { # run LABEL URL BODY RATE
  printf '%-58s ' "$1"
  "$load" "$2" --body "$3" --rate "$4" --connections 32 --duration "$dur" | tr '\n' ' '
  echo
}

sync_bench() {
  echo "== sync decisions (SQLite, every decision logged before the answer)"
  serve 8101 "sqlite://$work/sync.db"
  run "loan_extension logged, closed loop" http://127.0.0.1:8101/v1/flows/loan_extension/decisions $req/loan_extension.json 0
  run "loan_extension logged, 5000/s offered" http://127.0.0.1:8101/v1/flows/loan_extension/decisions $req/loan_extension.json 5000
  run "loan_extension logged, 10000/s offered" http://127.0.0.1:8101/v1/flows/loan_extension/decisions $req/loan_extension.json 10000
  run "credit_new logged, closed loop" http://127.0.0.1:8101/v1/flows/credit_new/decisions $req/credit_new.json 0
  run "credit_new logged, 2000/s offered" http://127.0.0.1:8101/v1/flows/credit_new/decisions $req/credit_new.json 2000
  stop
  serve 8102 "sqlite://$work/sync-normal.db?synchronous=normal"
  run "loan_extension logged (synchronous=normal), closed loop" http://127.0.0.1:8102/v1/flows/loan_extension/decisions $req/loan_extension.json 0
  stop
  serve 8103 "sqlite://$work/nolog.db" --no-log
  run "loan_extension NOT logged, closed loop" http://127.0.0.1:8103/v1/flows/loan_extension/decisions $req/loan_extension.json 0
  run "loan_extension NOT logged, 10000/s offered" http://127.0.0.1:8103/v1/flows/loan_extension/decisions $req/loan_extension.json 10000
  run "credit_new NOT logged, closed loop" http://127.0.0.1:8103/v1/flows/credit_new/decisions $req/credit_new.json 0
  stop
}

count() { # count DB SQL
  if [[ $1 == sqlite* ]]; then
    python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])" "${1#sqlite://}" "$2"
  else
    psql "$1" -qAtc "$2"
  fi
}

async_bench() { # async_bench LABEL DB FLOW
  local label=$1 db=$2 flow=$3
  echo "== async $flow on $label"
  serve 8111 "$db" --no-workers
  run "accept $flow (durable 202), closed loop, no workers" "http://127.0.0.1:8111/v1/flows/$flow/applications" "$req/$flow.json" 0
  stop
  local n; n=$(count "$db" "SELECT COUNT(*) FROM jobs")
  local t0; t0=$(date +%s.%N)
  serve 8112 "$db" --concurrency 64
  while [ "$(count "$db" "SELECT COUNT(*) FROM jobs")" != "0" ]; do sleep 0.2; done
  local t1; t1=$(date +%s.%N)
  stop
  python3 -c "import sys; n=int(sys.argv[1]); t=float(sys.argv[3])-float(sys.argv[2]); print(f'decide a backlog of {n} {sys.argv[4]} jobs: {t:.1f} s = {n/t:.0f} decided/s (decision + log + outbox event per job, one node)')" "$n" "$t0" "$t1" "$flow"
}

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
start_pg() {
  install -d -o postgres -g postgres "$work/pg"
  su postgres -c "$pgbin/initdb -D $work/pg/data -U postgres --auth=trust -E UTF8 >/dev/null"
  su postgres -c "$pgbin/pg_ctl -D $work/pg/data -o '-c listen_addresses=127.0.0.1 -p 55433 -k $work/pg -c max_connections=200' -l $work/pg/log -w start" >/dev/null
}

pg_bench() {
  start_pg
  local url=postgresql://postgres@127.0.0.1:55433/postgres
  psql "$url" -qc "CREATE DATABASE rf_accept" -c "CREATE DATABASE rf_e2e" -c "CREATE DATABASE bare"
  async_bench PostgreSQL "postgresql://postgres@127.0.0.1:55433/rf_accept" credit_new
  echo "== end to end on PostgreSQL: accept + decide loan_extension concurrently (one node), vs a bare SKIP LOCKED queue"
  local db=postgresql://postgres@127.0.0.1:55433/rf_e2e
  serve 8113 "$db" --concurrency 64
  local t0; t0=$(date +%s.%N)
  run "accept loan_extension with workers on" http://127.0.0.1:8113/v1/flows/loan_extension/applications $req/loan_extension.json 0
  while [ "$(count "$db" "SELECT COUNT(*) FROM jobs")" != "0" ]; do sleep 0.2; done
  local t1; t1=$(date +%s.%N)
  stop
  local n; n=$(count "$db" "SELECT COUNT(*) FROM decisions WHERE status = 'completed'")
  python3 -c "import sys; n=int(sys.argv[1]); t=float(sys.argv[3])-float(sys.argv[2]); print(f'riskflow: {n} applications accepted and decided in {t:.1f} s = {n/t:.0f} jobs/s')" "$n" "$t0" "$t1"
  psql postgresql://postgres@127.0.0.1:55433/bare -qc "CREATE TABLE bare_jobs (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL, run_at TIMESTAMPTZ NOT NULL, leased_until TIMESTAMPTZ)" -c "CREATE INDEX ON bare_jobs (run_at)"
  echo "bare queue (pgbench, 32 clients, enqueue + claim SKIP LOCKED + complete per transaction set):"
  pgbench -n -c 32 -j 2 -T "$dur" -f tools/pg_queue_bench.sql postgresql://postgres@127.0.0.1:55433/bare 2>&1 | grep -E "tps|latency average"
}

case $what in
  sync) sync_bench ;;
  async) async_bench SQLite "sqlite://$work/async.db" credit_new ;;
  pg) pg_bench ;;
  all) sync_bench; async_bench SQLite "sqlite://$work/async.db" credit_new; pg_bench ;;
esac
echo "machine: $(nproc) vCPU, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
