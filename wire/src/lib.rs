//! `palanquin-wire`: the workspace's one DNS wire layer. The stub, the
//! resolver and the authoritative side read and write messages through it;
//! hickory types appear only at API edges that need them (the stub's
//! `Message` for library callers).
//!
//! ```text
//!   stub Question ──build_query──▶ bytes ─▶ upstream ─▶ bytes ──check_answer──▶ rcode | Mismatch
//!   client bytes ──parse_query──▶ Query (header bits, lower-cased QNAME, QTYPE, EDNS)
//!   upstream bytes ──layout──▶ Layout (every record's offsets and TTL) ──▶ cache / scrub
//!   error_response / push_opt ──▶ bytes (ID, flags, question echoed, OPT, EDE)
//! ```
//!
//! Why hand-written: the query path reads a header, one question and the
//! OPT record, and a cached answer is the upstream's bytes with TTLs and the
//! ID patched. Decoding every message into owned records (hickory's
//! `Message::from_vec`) allocates a `Name` and an `RData` per record only
//! for them to be thrown away. Every function here is bounds-checked and
//! never panics on any input (fuzzed against hickory on the same bytes).

mod exchange;
mod message;
mod name;
mod scrub;
mod subnet;

pub use exchange::{build_query, check_answer, check_header, is_truncated, set_id, Mismatch, Question};
pub use message::*;
pub use name::{
    from_text as name_from_text, is_below_or_at, name_at_eq, read_name, same_name, NameTextError, MAX_NAME,
};
pub use scrub::{scrub, Scrubbed};
pub use subnet::{client_subnet, ClientSubnet, OPTION_ECS};
