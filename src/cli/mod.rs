//! One module per subcommand.

pub(crate) mod check_config;
pub(crate) mod query;
pub(crate) mod serve;
mod stats;
pub(crate) mod status;
