//! `palanquin-resolver`: the recursive-facing side of the daemon. A cache
//! (positive, negative, serve-stale) in front of `palanquin-stub`, with
//! coalescing, split-DNS forwarding and a recursion ACL. Messages are read
//! and written through `palanquin-wire`, the workspace's one wire layer.
//!
//! ```text
//!   acl.rs    who may recurse
//!   cache.rs  pure: entries, TTL countdown, clamps, LRU bound, stale window
//!   front.rs  per-thread, lock-free slots in front of the cache (fresh hits only)
//!   inflight.rs  one upstream query per identical question in flight
//!   failures.rs  pure: a question that just failed is SERVFAIL at once for 5 s (RFC 9520)
//!   service.rs   the path: ACL → front → cache → coalesce → stub (forward zones) → answer
//!   dns.rs    the adapter from wire questions to stub requests
//! ```

pub mod acl;
pub mod cache;
mod dns;
pub mod failures;
pub mod front;
pub mod inflight;
pub mod metrics;
pub mod service;

pub use acl::{Acl, AclError};
pub use cache::{Cache, Policy};
pub use front::Front;
pub use service::{ForwardZone, Service, ServiceConfig};
