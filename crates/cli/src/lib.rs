//! The `riskflow` command-line tool: `check`, `decide`, `test`, `eval`,
//! `serve`, `stub`.
//! Each command is a thin layer over the engine; errors become exit codes:
//! 0 success, 1 a failed evaluation or failing tests, 2 bad input (project,
//! expression or request).

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use riskflow_engine::testing::{CaseOutcome, load_tests, run_tests};
use riskflow_engine::{DecideError, DecideOptions, Diagnostic, Project, http::HttpFetcher};
use riskflow_expr::{Env, Program, Type, Value, json};

mod serve;

#[derive(Parser)]
#[command(
    name = "riskflow",
    version,
    about = "Risk decisions: flows of variables, models, rules and decision tables"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a project: every error at once, as file:line:col.
    Check { dir: PathBuf },
    /// Run one decision and print it as JSON.
    Decide {
        dir: PathBuf,
        flow: String,
        /// Request JSON file, or - for standard input.
        #[arg(long)]
        input: String,
        /// Include the trace (variables, data-source calls, models, rules, tables, timings).
        #[arg(long)]
        trace: bool,
        /// Data-source answers (JSON object: variable → response), used instead of calling.
        #[arg(long)]
        answers: Option<PathBuf>,
        /// Start the bundled data-source stub and point the project's sources at it.
        #[arg(long)]
        stub: bool,
        /// Compute only these outputs (comma-separated), and only what they need.
        #[arg(long, value_delimiter = ',')]
        outputs: Vec<String>,
    },
    /// Run the project's test cases (tests/*.yaml).
    Test { dir: PathBuf },
    /// Evaluate a CEL expression.
    Eval {
        expr: String,
        /// Variables as a JSON object.
        #[arg(long)]
        vars: Option<String>,
    },
    /// Serve decisions over HTTP: sync decisions, queued applications, the decision log, events.
    Serve(serve::ServeArgs),
    /// Serve the stand-in data sources (credit bureau, device risk) used by the example project.
    Stub {
        #[arg(long, default_value = "127.0.0.1:18090")]
        listen: std::net::SocketAddr,
    },
}

/// Parses arguments and runs; returns the process exit code.
pub fn main_with_args<I: IntoIterator<Item = OsString>>(args: I) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    }
}

fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Check { dir } => Ok(check(&dir)),
        Command::Decide {
            dir,
            flow,
            input,
            trace,
            answers,
            stub,
            outputs,
        } => decide(
            &dir,
            &flow,
            &input,
            trace,
            answers.as_deref(),
            stub,
            &outputs,
        ),
        Command::Test { dir } => Ok(test(&dir)),
        Command::Eval { expr, vars } => Ok(eval(&expr, vars.as_deref())),
        Command::Serve(args) => serve::serve(args),
        Command::Stub { listen } => {
            let rt = runtime()?;
            rt.block_on(async {
                let addr = riskflow_stub::spawn(listen).await?;
                println!("data-source stub listening on http://{addr} (POST /bureau/report, POST /device/risk); Ctrl-C to stop");
                tokio::signal::ctrl_c().await?;
                anyhow::Ok(())
            })?;
            Ok(0)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn print_diags(diags: &[Diagnostic]) {
    for d in diags {
        eprintln!("{d}");
    }
}

fn load(dir: &Path, vars: &HashMap<String, String>) -> Result<Project, i32> {
    riskflow_engine::load_with(dir, vars).map_err(|diags| {
        print_diags(&diags);
        eprintln!("{} error(s) in {}", diags.len(), dir.display());
        2
    })
}

fn check(dir: &Path) -> i32 {
    let project = match load(dir, &HashMap::new()) {
        Ok(p) => p,
        Err(code) => return code,
    };
    for w in &project.warnings {
        eprintln!("warning: {w}");
    }
    if let Err(diags) = load_tests(&project) {
        print_diags(&diags);
        return 2;
    }
    for (name, f) in &project.flows {
        let s = f.summary();
        println!(
            "{name}: {} inputs, {} variables ({} data sources), {} models, {} rules, {} tables, {} outputs",
            s.inputs, s.variables, s.sources, s.models, s.rules, s.tables, s.outputs
        );
    }
    println!(
        "ok: {} flow(s), {} warning(s)",
        project.flows.len(),
        project.warnings.len()
    );
    0
}

fn read_json(arg: &str) -> Result<serde_json::Value, i32> {
    let text = if arg == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| {
            eprintln!("error: reading standard input: {e}");
            2
        })?;
        s
    } else {
        std::fs::read_to_string(arg).map_err(|e| {
            eprintln!("error: reading {arg}: {e}");
            2
        })?
    };
    serde_json::from_str(&text).map_err(|e| {
        eprintln!(
            "error: {arg}:{}:{}: malformed JSON: {e}",
            e.line(),
            e.column()
        );
        2
    })
}

fn decide(
    dir: &Path,
    flow: &str,
    input: &str,
    trace: bool,
    answers: Option<&Path>,
    stub: bool,
    outputs: &[String],
) -> Result<i32> {
    let rt = runtime()?;
    let mut vars = HashMap::new();
    if stub {
        let addr = rt
            .block_on(riskflow_stub::spawn(([127, 0, 0, 1], 0).into()))
            .context("starting the data-source stub")?;
        vars.insert("RISKFLOW_SOURCES".to_string(), format!("http://{addr}"));
    }
    let project = match load(dir, &vars) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let Some(f) = project.flows.get(flow) else {
        let known: Vec<&str> = project.flows.keys().map(String::as_str).collect();
        eprintln!(
            "error: unknown flow {flow:?} (the project has: {})",
            known.join(", ")
        );
        return Ok(2);
    };
    let request = match read_json(input) {
        Ok(j) => j,
        Err(code) => return Ok(code),
    };
    let mut fetcher = HttpFetcher::new(project.sources.clone());
    if let Some(path) = answers {
        let a = match read_json(&path.to_string_lossy()) {
            Ok(serde_json::Value::Object(o)) => o,
            Ok(_) => {
                eprintln!(
                    "error: {}: answers must be a JSON object (variable → response)",
                    path.display()
                );
                return Ok(2);
            }
            Err(code) => return Ok(code),
        };
        fetcher.supplied = riskflow_engine::Answers(a.into_iter().collect());
    }
    let wanted: Vec<&str> = outputs.iter().map(String::as_str).collect();
    let plan = match f.plan((!wanted.is_empty()).then_some(&wanted[..])) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: --outputs: {e}");
            return Ok(2);
        }
    };
    let result =
        rt.block_on(f.decide_plan_async(&plan, &request, &fetcher, DecideOptions { trace }));
    match result {
        Ok(d) => {
            println!("{}", serde_json::to_string_pretty(&d)?);
            Ok(0)
        }
        Err(DecideError::InvalidInput(errors)) => {
            eprintln!("error: {input}: the request does not match flow {flow}'s inputs:");
            for e in errors {
                eprintln!("  {}: {}", e.field, e.message);
            }
            Ok(2)
        }
        Err(e) => {
            eprintln!("error: decision failed: {e}");
            Ok(1)
        }
    }
}

fn test(dir: &Path) -> i32 {
    let project = match load(dir, &HashMap::new()) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let files = match load_tests(&project) {
        Ok(f) => f,
        Err(d) => {
            print_diags(&d);
            return 2;
        }
    };
    let results = run_tests(&project, &files);
    let mut failed = 0;
    for r in &results {
        match &r.outcome {
            CaseOutcome::Pass => println!("ok    {} / {}", r.flow, r.case),
            CaseOutcome::Fail(diffs) => {
                failed += 1;
                println!("FAIL  {} / {}  ({})", r.flow, r.case, r.file.display());
                for (k, want, got) in diffs {
                    println!("      {k}:\n        - expected {want}\n        + actual   {got}");
                }
            }
            CaseOutcome::Error(e) => {
                failed += 1;
                println!("ERROR {} / {}  ({}): {e}", r.flow, r.case, r.file.display());
            }
        }
    }
    println!("{} passed, {failed} failed", results.len() - failed);
    if failed > 0 { 1 } else { 0 }
}

fn eval(expr: &str, vars: Option<&str>) -> i32 {
    let mut env = Env::new();
    let mut values = Vec::new();
    if let Some(v) = vars {
        match serde_json::from_str::<serde_json::Value>(v) {
            Ok(serde_json::Value::Object(o)) => {
                for (k, j) in o {
                    env.declare(&k, Type::Dyn);
                    values.push(json::from_json(&j));
                }
            }
            Ok(_) => {
                eprintln!("error: --vars must be a JSON object");
                return 2;
            }
            Err(e) => {
                eprintln!(
                    "error: --vars: malformed JSON at {}:{}: {e}",
                    e.line(),
                    e.column()
                );
                return 2;
            }
        }
    }
    let program = match Program::compile(expr, &env) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {}", e.render(expr));
            return 2;
        }
    };
    match program.eval(&values[..]) {
        Ok(v) => {
            println!("{}", render(&v));
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// JSON for `eval`: doubles always show a decimal point or exponent.
fn render(v: &Value) -> String {
    serde_json::to_string(&json::to_json(v)).unwrap_or_else(|_| "null".into())
}
