//! `palanquin check-config FILE` (or `--config FILE`): exit 0, or non-zero
//! with `file:line:col: key: message` (a zone file's fault:
//! `zonefile:line: message (zone ORIGIN, config:line: zone.file)`). Warnings come first, one plain
//! `file:line: warning: message` line each, on stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::config;

/// Arguments of `palanquin check-config`.
#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["file", "config"]))]
pub(crate) struct CheckArgs {
    /// The configuration file to check.
    file: Option<PathBuf>,
    /// The same, spelt as for the other commands.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Validates the file as `serve` would (resolv.conf included).
pub(crate) fn run(args: CheckArgs) -> ExitCode {
    let Some(file) = args.file.or(args.config) else {
        eprintln!("palanquin check-config: which file? (check-config FILE)");
        return ExitCode::from(2);
    };
    let checked = config::read(&file).map_err(|e| e.to_string()).and_then(|s| {
        // The zones too: each file parsed and checked as `serve` would.
        let zones = crate::zones::load_all(&s.zones).map_err(|e| e.to_string())?;
        Ok((s, zones))
    });
    match checked {
        Ok((s, zones)) => {
            for w in &s.warnings {
                eprintln!("{w}");
            }
            let records: usize = zones.iter().map(|z| z.records()).sum();
            super::out::line(format_args!(
                "{}: ok ({} listen address{}, {}, {} zone{} with {records} records{})",
                file.display(),
                s.listen.len(),
                if s.listen.len() == 1 { "" } else { "es" },
                if s.resolver.is_some() {
                    "recursion on"
                } else {
                    "no recursion"
                },
                zones.len(),
                if zones.len() == 1 { "" } else { "s" },
                match s.warnings.len() {
                    0 => String::new(),
                    1 => ", 1 warning".to_owned(),
                    n => format!(", {n} warnings"),
                }
            ));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
