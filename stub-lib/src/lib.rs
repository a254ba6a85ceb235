//! `palanquin-stub`: a stub DNS resolver for which a dead upstream costs
//! milliseconds, once.
//!
//! glibc asks the first `nameserver`, waits `timeout` (5 s), then asks the
//! next, on every lookup. This crate keeps a health estimate per upstream,
//! asks the best one first, hedges to the next one after an adaptive delay,
//! stops asking upstreams that keep failing, and probes those in the
//! background until they answer again.
//!
//! ```text
//!             ┌──────────── Resolver (resolver.rs: query / lookup / lookup_ip)
//!             │                      │ search list, ndots (search.rs)
//!             ▼                      ▼
//!   config.rs + resolv_conf.rs   engine.rs ── rank ──▶ scoring.rs (pure: RTT, failures, up/down)
//!                                    │ ──── plan ──▶ hedge.rs   (pure: who, when, give up)
//!                                    │ ── account ─▶ ledger.rs  (pure: one failure per lookup,
//!                                    │               a reply is alive, what a timeout is)
//!                                    ▼
//!                              transport.rs (UDP per-query socket, TCP on TC / use-vc)
//!                                    │ bytes checked by palanquin-wire (never decoded here)
//!                                    ▼
//!                                 dns.rs (the only hickory adapter: Request → wire
//!                                 question; bytes → Message for API callers only)
//!   tasks.rs: background probes of down upstreams and exploration of worse ones
//!   blocking.rs: the same API for non-async programs
//! ```
//!
//! ```no_run
//! # async fn demo() -> Result<(), palanquin_stub::Error> {
//! use palanquin_stub::{Resolver, ResolverConfig};
//! let resolver = Resolver::new(ResolverConfig::new(vec![
//!     "127.0.0.1:53".parse().unwrap(),
//!     "[::1]:53".parse().unwrap(),
//! ]))?;
//! let ips = resolver.lookup_ip("www.example.com").await?;
//! println!("{:?} via {}", ips.addrs, ips.answers[0].upstream);
//! # Ok(()) }
//! ```

mod blocking;
mod config;
pub mod dns;
mod engine;
mod error;
pub mod hedge;
pub mod ledger;
pub mod metrics;
pub mod resolv_conf;
mod resolver;
pub mod scoring;
pub mod search;
mod tasks;
mod transport;

pub use blocking::BlockingResolver;
pub use config::{Mode, ResolverConfig, Transport};
pub use engine::{Answer, Reply};
pub use error::{ConfigError, Error, Failure, NameError};
pub use resolver::{LookupIp, Resolver, UpstreamStatus};
