//! The `vexil` command. Glue: parse arguments, run, map the outcome to an exit status.

use std::process::ExitCode;

fn main() -> ExitCode {
    vexil_publisher::cli::main(std::env::args_os().collect())
}
