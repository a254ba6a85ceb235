//! `palanquin`: the command line. Subcommands live in `cli/`, one file each.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Palanquin: a resilient DNS resolver and server with redundancy built in.
#[derive(Parser)]
#[command(name = "palanquin", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Resolve a name through the palanquin stub resolver.
    Query(cli::query::QueryArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PALANQUIN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Query(args) => cli::query::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("palanquin: {e:#}");
            ExitCode::from(2)
        }
    }
}
