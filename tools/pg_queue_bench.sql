-- A bare PostgreSQL queue: enqueue one job, claim one with SKIP LOCKED,
-- complete it (delete). The floor riskflow's queue is compared with
-- (docs/benchmarks.md). Run by tools/bench_server.sh through pgbench.
BEGIN;
INSERT INTO bare_jobs (payload, run_at) VALUES ('{"customer": "C-1", "amount": 100}', now());
COMMIT;
BEGIN;
WITH j AS (
  SELECT id FROM bare_jobs WHERE run_at <= now() ORDER BY run_at LIMIT 1 FOR UPDATE SKIP LOCKED
)
UPDATE bare_jobs SET leased_until = now() + interval '30 seconds' FROM j WHERE bare_jobs.id = j.id RETURNING bare_jobs.id \gset
COMMIT;
DELETE FROM bare_jobs WHERE id = :id;
