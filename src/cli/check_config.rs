//! `palanquin check-config FILE`: exit 0, or non-zero with `file:line:col: key: message`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::config;

/// Arguments of `palanquin check-config`.
#[derive(Args, Debug)]
pub(crate) struct CheckArgs {
    /// The configuration file to check.
    file: PathBuf,
}

/// Validates the file as `serve` would (resolv.conf included).
#[allow(clippy::print_stdout)] // the command's own output
pub(crate) fn run(args: CheckArgs) -> ExitCode {
    match config::load(&args.file) {
        Ok(s) => {
            println!(
                "{}: ok ({} listen address{}, {})",
                args.file.display(),
                s.listen.len(),
                if s.listen.len() == 1 { "" } else { "es" },
                if s.resolver.is_some() {
                    "recursion on"
                } else {
                    "no recursion"
                }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
