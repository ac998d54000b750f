//! A throwaway PostgreSQL for tests: `RISKFLOW_TEST_DATABASE_URL` when set,
//! else a private cluster started from the system's initdb/pg_ctl in a temp
//! dir (stopped by a watchdog when the test process exits). Each caller gets
//! a fresh database. Without PostgreSQL the tests say they were skipped —
//! except under `CI=true`, where a missing server fails the run.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use sqlx::Connection;

static SERVER: OnceLock<Option<String>> = OnceLock::new();

fn pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .collect();
    dirs.sort();
    dirs.into_iter().rev().find(|d| d.join("initdb").exists())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root (initdb refuses root).
fn run(bin: &std::path::Path, args: &[&str]) -> bool {
    let status = if is_root() {
        let line = std::iter::once(bin.display().to_string())
            .chain(args.iter().map(|a| format!("'{a}'")))
            .collect::<Vec<_>>()
            .join(" ");
        Command::new("su")
            .args(["postgres", "-s", "/bin/sh", "-c", &line])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
    } else {
        Command::new(bin)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
    };
    status.map(|s| s.success()).unwrap_or(false)
}

fn start_cluster() -> Option<String> {
    if let Ok(url) = std::env::var("RISKFLOW_TEST_DATABASE_URL") {
        return Some(url);
    }
    let bin = pg_bin()?;
    let dir = std::env::temp_dir().join(format!("riskflow-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).ok()?;
    if is_root() {
        Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .ok()?;
    }
    let data = dir.join("data");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
        l.local_addr().ok()?.port()
    };
    let d = data.display().to_string();
    if !run(
        &bin.join("initdb"),
        &[
            "-D",
            &d,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "-N",
        ],
    ) {
        panic!("initdb failed in {}", dir.display());
    }
    let opts = format!(
        "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c max_connections=200",
        dir.display()
    );
    let log = dir.join("log").display().to_string();
    if !run(
        &bin.join("pg_ctl"),
        &["-D", &d, "-o", &opts, "-l", &log, "-w", "start"],
    ) {
        panic!("pg_ctl start failed; see {log}");
    }
    // Stop the cluster when this test process exits.
    let stop = format!(
        "while [ -d /proc/{pid} ]; do sleep 1; done; {pg_ctl} -D {d} -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        pg_ctl = bin.join("pg_ctl").display(),
        dir = dir.display()
    );
    let _ = if is_root() {
        Command::new("setsid")
            .args(["su", "postgres", "-s", "/bin/sh", "-c", &stop])
            .spawn()
    } else {
        Command::new("setsid").args(["sh", "-c", &stop]).spawn()
    };
    Some(format!("postgres://postgres@127.0.0.1:{port}/postgres"))
}

/// A URL to a fresh, empty database, or `None` (skipped) when PostgreSQL is
/// not installed and we are not under CI.
pub async fn fresh_database(test: &str) -> Option<String> {
    let server = SERVER.get_or_init(start_cluster).clone();
    let Some(server) = server else {
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!(
                "CI=true but PostgreSQL is missing: install postgresql or set RISKFLOW_TEST_DATABASE_URL"
            );
        }
        eprintln!(
            "SKIPPED {test}: PostgreSQL not installed (set RISKFLOW_TEST_DATABASE_URL or install postgresql)"
        );
        return None;
    };
    let name = format!(
        "t_{}_{}",
        test.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        fastrand::u32(..)
    );
    let mut conn = sqlx::PgConnection::connect(&server)
        .await
        .expect("connect to PostgreSQL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let base = server.rsplit_once('/').map(|(b, _)| b).unwrap_or(&server);
    Some(format!("{base}/{name}"))
}
