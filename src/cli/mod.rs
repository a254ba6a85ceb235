//! One module per subcommand.

pub(crate) mod query;
mod stats;
