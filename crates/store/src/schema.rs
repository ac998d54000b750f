//! Migrations: numbered SQL scripts, applied once, in order, in one
//! transaction each. The SQL is the common subset of SQLite and PostgreSQL
//! (TEXT ids, BIGINT times in milliseconds, JSON as TEXT).

use sqlx::AssertSqlSafe;

use crate::{Backend, Result, Store};

const MIGRATIONS: &[(i64, &str)] = &[(
    1,
    "CREATE TABLE decisions (
        id TEXT PRIMARY KEY,
        flow TEXT NOT NULL,
        release TEXT NOT NULL,
        mode TEXT NOT NULL,
        status TEXT NOT NULL,
        outcome TEXT,
        key TEXT,
        idempotency_key TEXT,
        request TEXT NOT NULL,
        outputs TEXT,
        trace TEXT,
        error TEXT,
        attempts BIGINT NOT NULL DEFAULT 0,
        created_ms BIGINT NOT NULL,
        decided_ms BIGINT,
        duration_us BIGINT,
        decided_by TEXT
    );
    CREATE INDEX decisions_flow ON decisions (flow, id);
    -- Partial indexes: synchronous decisions (most rows) have no idempotency key.
    CREATE UNIQUE INDEX decisions_idempotency ON decisions (idempotency_key) WHERE idempotency_key IS NOT NULL;
    CREATE INDEX decisions_key ON decisions (key, id) WHERE key IS NOT NULL;
    CREATE INDEX decisions_outcome ON decisions (outcome, id);
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY REFERENCES decisions (id),
        flow TEXT NOT NULL,
        state TEXT NOT NULL,
        request TEXT NOT NULL,
        run_at_ms BIGINT NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0,
        lease_owner TEXT,
        lease_until_ms BIGINT,
        last_error TEXT,
        created_ms BIGINT NOT NULL
    );
    CREATE INDEX jobs_runnable ON jobs (state, run_at_ms);
    CREATE INDEX jobs_lease ON jobs (lease_owner);
    CREATE TABLE outbox (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        decision_id TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_ms BIGINT NOT NULL
    );
    CREATE INDEX outbox_decision ON outbox (decision_id);
    CREATE TABLE webhooks (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        secret TEXT NOT NULL,
        events TEXT NOT NULL,
        created_ms BIGINT NOT NULL
    );
    CREATE TABLE deliveries (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES outbox (id),
        target TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0,
        next_at_ms BIGINT NOT NULL,
        lease_owner TEXT,
        lease_until_ms BIGINT,
        last_error TEXT,
        delivered_ms BIGINT,
        created_ms BIGINT NOT NULL,
        UNIQUE (event_id, target)
    );
    CREATE INDEX deliveries_due ON deliveries (state, next_at_ms);",
)];

pub(crate) async fn migrate(store: &Store) -> Result<()> {
    let mut tx = store.write.begin().await?;
    if store.backend == Backend::Postgres {
        // Two nodes starting together must not both migrate.
        sqlx::query("SELECT pg_advisory_xact_lock(7215046)")
            .execute(&mut *tx)
            .await?;
    }
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS riskflow_migrations (version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM riskflow_migrations")
        .fetch_all(&mut *tx)
        .await?;
    for (version, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        sqlx::raw_sql(AssertSqlSafe(*sql)).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO riskflow_migrations (version, applied_ms) VALUES ($1, $2)")
            .bind(*version)
            .bind(crate::now_ms())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
