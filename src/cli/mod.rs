//! One module per subcommand; `out.rs` is their stdout.

pub(crate) mod check_config;
mod out;
pub(crate) mod pool;
pub(crate) mod query;
pub(crate) mod serve;
mod stats;
pub(crate) mod status;
