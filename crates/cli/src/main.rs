//! The `riskflow` binary: parse the command line, run, exit with its code.

fn main() {
    std::process::exit(riskflow_cli::main_with_args(std::env::args_os()));
}
