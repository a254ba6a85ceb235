//! Health-checked pools, the pure part: a member's health from its check
//! results (rise and fall), and which members one answer hands out (the
//! policy, `max`, what to answer when all are down), and the checks
//! themselves (`probe.rs`, the crate's only sockets and processes), and
//! the answers for a pool's name (`live.rs`). The daemon schedules the
//! checks and sets each member's standing.
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
//!  live: a pool in service: its members' standing (atomics the daemon
//!        sets) and the reply to a query for its name (zones.rs calls it)
//! ```

pub mod dns;
pub mod health;
pub mod http;
pub mod live;
pub mod policy;
pub mod probe;
pub mod schedule;
pub mod tls;
