//! Health-checked pools, the pure part: a member's health from its check
//! results (rise and fall), and which members one answer hands out (the
//! policy, `max`, what to answer when all are down), and the checks
//! themselves (`probe.rs`, the crate's only sockets and processes). The
//! daemon schedules the checks and keeps the state.
//!
//! ```text
//!  check results ─▶ Health::observe (rise/fall; the first result decides) ─▶ Up | Down
//!  members + their Usable (up / down / drained) ─▶ choose(policy, max, all_down, turn, client)
//!     round-robin: rotated by the turn      random: shuffled     weighted: by weight
//!     hashed: rendezvous hashing on the client (only a dead member's clients move)
//!  schedule: the first round at once, then each member at its own phase, ±10% jitter
//!  http: an HTTP check's answer judged as it arrives, its head and body bounded
//!  dns: a dns check's query, and the verdict on its answer
//!  probe: the checks run (tcp, http, https, dns, exec), each ending within its timeout
//!  tls: an https check's trust: the system's roots, a CA file, or none
//! ```
//!
//! Work in progress for the pools issue: the configuration reads and
//! checks `[[zone.pool]]` but refuses a valid pool by name, as nothing
//! runs the checks or answers the names yet.

pub mod dns;
pub mod health;
pub mod http;
pub mod policy;
pub mod probe;
pub mod schedule;
pub mod tls;
