//! `palanquin serve --config FILE`.

use std::path::PathBuf;

use clap::Args;

use crate::config;

/// Arguments of `palanquin serve`.
#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// The configuration file (TOML).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
}

/// Loads the configuration and runs the daemon on a multi-threaded runtime
/// with one worker per CPU.
pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let settings = config::load(&args.config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("palanquin")
        .build()?;
    // Metric handles are registered when the service is built: the recorder first.
    let handle = settings.metrics.map(|_| crate::metrics::install()).transpose()?;
    if handle.is_some() {
        crate::metrics::register(settings.upstream_addrs());
    }
    let result = runtime.block_on(crate::daemon::run(settings, handle));
    // Whatever is still running after the drain is abandoned, not waited for.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    result
}
