//! The `riskflow` binary: parse the command line, run, exit with its code.

// The server allocates per request (JSON, traces, log rows); under load
// glibc's malloc showed up as ~12 % of CPU in perf, mimalloc cuts that
// (docs/benchmarks.md, "Server").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(riskflow_cli::main_with_args(std::env::args_os()));
}
