//! Zone replication, the pure parts: what a primary sends (AXFR, IXFR from
//! a journal of differences, NOTIFY), what a secondary reads and applies,
//! its SOA timers, the saved copy of a transferred zone, and TSIG. The
//! daemon (src/replication/) owns the sockets, the clock and the tasks.
//!
//! ```text
//!  primary:   reload ─▶ Journal::record(old, new) ─▶ NOTIFY (message.rs) to `notify`
//!             AXFR/IXFR request ─tsig.rs check─▶ outgoing.rs: messages, signed in sequence
//!  secondary: Refresh (timers.rs) ─▶ SOA query ─▶ newer? ─▶ transfer_request (IXFR from ours)
//!             ─▶ incoming.rs: Incoming::feed per message ─▶ Received
//!             ─▶ Full: records / Incremental: apply(current, diffs) ─▶ build (the zone checks)
//!             ─▶ text.rs: saved file ─▶ swapped in
//! ```
//!
//! TSIG is `domain::tsig` (NLnet Labs): it signs requests, single answers
//! and answer streams (every message chained to the one before, RFC 8945
//! §5.3.1), and checks the signed time against the fudge. hickory-proto's
//! TSigner has no helper for the later messages of a stream, and its IXFR
//! request builder asserts things of the SOA that normal zones break.

pub mod incoming;
pub mod journal;
pub mod message;
pub mod outgoing;
pub mod text;
pub mod timers;
pub mod tsig;

/// A request as received, its TSIG taken out.
pub type ReceivedRequest = domain::base::message::Message<Vec<u8>>;
/// Signs the answers to a signed request, each chained to the one before.
pub type Signer = domain::tsig::ServerSequence<domain::tsig::Key>;
/// Checks the answers to a signed request, each chained to the one before.
pub type Verifier = domain::tsig::ClientSequence<domain::tsig::Key>;

#[cfg(test)]
mod tests;
