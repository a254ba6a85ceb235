//! The errors a lookup can end with.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::dns::{ProtoError, ResponseCode};

/// Why a resolver configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No upstream at all.
    #[error("no upstream servers")]
    NoUpstreams,
    /// A zero per-attempt timeout.
    #[error("timeout must be positive")]
    ZeroTimeout,
    /// `explore_ratio` outside 0..=1.
    #[error("explore_ratio must be within 0..=1")]
    ExploreRatio,
    /// A search domain that is no domain name.
    #[error("search domain {domain:?}: {source}")]
    SearchDomain {
        /// The domain as written.
        domain: String,
        /// Why it is not a name.
        #[source]
        source: ProtoError,
    },
    /// A resolv.conf that cannot be read.
    #[error("{}: {source}", path.display())]
    ResolvConf {
        /// The file.
        path: PathBuf,
        /// The read error.
        #[source]
        source: std::io::Error,
    },
}

/// Why a name given to a lookup cannot be asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The empty string.
    #[error("empty name")]
    Empty,
    /// No candidate is left: a single label with `no-tld-query` and no
    /// search list (or every candidate failed before any was asked).
    #[error("no candidate name (single label with no-tld-query and no search list)")]
    NoCandidate,
    /// Not a domain name (a label too long, an empty label, ...).
    #[error("{0}")]
    Invalid(#[source] ProtoError),
}

/// Why a lookup produced no usable answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot be used (no upstreams, bad name, ...).
    #[error("invalid resolver configuration: {0}")]
    Config(#[from] ConfigError),
    /// The name given to a lookup is not a valid domain name.
    #[error("invalid domain name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        #[source]
        reason: NameError,
    },
    /// A query could not be encoded (for instance a name too long once a search
    /// domain is appended).
    #[error("cannot encode the query: {0}")]
    Encode(#[source] crate::dns::ProtoError),
    /// An answer passed the wire checks but its records do not decode (the
    /// typed records of [`crate::Answer`]; the daemon never decodes).
    #[error("the answer from {upstream} does not decode: {source}")]
    Undecodable {
        /// The upstream that answered.
        upstream: SocketAddr,
        /// hickory's complaint.
        #[source]
        source: crate::dns::DecodeError,
    },
    /// Every upstream said no: an error RCODE (REFUSED, SERVFAIL, NOTIMP,
    /// FORMERR) or ICMP port unreachable. The lookup ends as soon as the last
    /// one does, without retransmitting.
    #[error("{}", rejected_text(failures))]
    Rejected {
        /// Each upstream's answer, in the order they were asked.
        failures: Vec<Failure>,
    },
    /// Some upstream stayed silent or failed until the deadline.
    #[error("no upstream answered within {deadline_ms} ms ({attempts} queries sent; last failure: {last})")]
    Exhausted {
        /// Queries sent in total, over all upstreams and rounds.
        attempts: u32,
        /// The overall deadline (timeout × attempts) in milliseconds.
        deadline_ms: u64,
        /// The last failure seen, for the log line.
        last: Failure,
    },
    /// The name does not exist (NXDOMAIN) under any candidate of the search list.
    #[error("{name}: no such domain")]
    NxDomain {
        /// The last candidate name asked.
        name: String,
    },
    /// The name exists but has no records of the requested type.
    #[error("{name}: no {rtype} records")]
    NoData {
        /// The candidate name that exists.
        name: String,
        /// The type that was asked for.
        rtype: String,
    },
    /// Setting up the resolver's own runtime failed (blocking wrapper only).
    #[error("cannot start the resolver runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

impl Error {
    /// What happened, without naming the upstreams: what a server may tell
    /// its clients (an Extended DNS Error's text) without showing its
    /// internal addresses. The `Display` text names them, for logs.
    pub fn summary(&self) -> String {
        match self {
            Error::Rejected { failures } => {
                let text = rejected_text(failures);
                text.split(" (").next().unwrap_or(&text).to_owned()
            }
            Error::Exhausted { deadline_ms, .. } => format!("no upstream answered within {deadline_ms} ms"),
            other => other.to_string(),
        }
    }

    /// The response code every upstream gave, when they all gave the same
    /// one (a [`Error::Rejected`] lookup): what a caller passes on.
    pub fn rcode(&self) -> Option<ResponseCode> {
        let Error::Rejected { failures } = self else {
            return None;
        };
        let mut rcodes = failures.iter().map(|f| match f {
            Failure::Rcode { rcode, .. } => Some(*rcode),
            _ => None,
        });
        let first = rcodes.next()??;
        rcodes.all(|r| r == Some(first)).then_some(first)
    }
}

/// "every upstream refused (a, b)", "nothing listens at any upstream (a)",
/// or a mix: "every upstream said no (a answered SERVFAIL; b unreachable)".
fn rejected_text(failures: &[Failure]) -> String {
    let addrs = || {
        failures
            .iter()
            .filter_map(Failure::upstream)
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let all_rcode = |r: ResponseCode| {
        !failures.is_empty()
            && failures
                .iter()
                .all(|f| matches!(f, Failure::Rcode { rcode, .. } if *rcode == r))
    };
    let all = |p: fn(&Failure) -> bool| !failures.is_empty() && failures.iter().all(p);
    if all_rcode(ResponseCode::Refused) {
        format!("every upstream refused ({})", addrs())
    } else if all_rcode(ResponseCode::ServFail) {
        format!("every upstream answered SERVFAIL ({})", addrs())
    } else if all(|f| matches!(f, Failure::Unreachable { .. })) {
        format!("nothing listens at any upstream: port unreachable ({})", addrs())
    } else {
        let each: Vec<String> = failures.iter().map(ToString::to_string).collect();
        format!("every upstream said no ({})", each.join("; "))
    }
}

/// One upstream's failure to answer a query, as the engine classifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// Nothing came back before the upstream was given up on.
    Timeout {
        /// The upstream that stayed silent.
        upstream: SocketAddr,
    },
    /// ICMP port unreachable (ECONNREFUSED) or a refused TCP connection.
    Unreachable {
        /// The upstream that is not listening.
        upstream: SocketAddr,
    },
    /// The upstream answered SERVFAIL, REFUSED, NOTIMP or FORMERR.
    Rcode {
        /// The upstream that answered.
        upstream: SocketAddr,
        /// The response code it gave.
        rcode: ResponseCode,
    },
    /// A truncated UDP answer, and the TCP exchange that followed failed
    /// (TCP/53 filtered, say): the upstream is alive, but gave no full answer.
    Truncated {
        /// The upstream that answered.
        upstream: SocketAddr,
        /// What went wrong over TCP.
        detail: String,
    },
    /// Any other socket error, or a TCP answer that did not match.
    Transport {
        /// The upstream the error concerns.
        upstream: SocketAddr,
        /// The error, as text (I/O errors are not `Clone`).
        detail: String,
    },
    /// The lookup was never sent (no upstream at all).
    NotSent,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Timeout { upstream } => write!(f, "{upstream} timed out"),
            Failure::Unreachable { upstream } => write!(f, "{upstream} unreachable (port closed)"),
            Failure::Rcode { upstream, rcode } => write!(f, "{upstream} answered {rcode}"),
            Failure::Truncated { upstream, detail } => {
                write!(
                    f,
                    "{upstream} answered truncated over UDP, and over TCP: {detail}"
                )
            }
            Failure::Transport { upstream, detail } => write!(f, "{upstream}: {detail}"),
            Failure::NotSent => f.write_str("no query sent"),
        }
    }
}

impl Failure {
    /// The upstream concerned, if any.
    pub fn upstream(&self) -> Option<SocketAddr> {
        match self {
            Failure::Timeout { upstream }
            | Failure::Unreachable { upstream }
            | Failure::Rcode { upstream, .. }
            | Failure::Truncated { upstream, .. }
            | Failure::Transport { upstream, .. } => Some(*upstream),
            Failure::NotSent => None,
        }
    }

    /// Whether asking the same upstream again would only repeat it: an
    /// error RCODE, or ICMP saying nothing listens.
    pub fn is_definite(&self) -> bool {
        matches!(
            self,
            Failure::Rcode { .. } | Failure::Unreachable { .. } | Failure::Truncated { .. }
        )
    }

    /// Whether it shows the upstream alive: any DNS reply does. REFUSED is
    /// what a healthy server says for names it does not serve, SERVFAIL what
    /// it says for a name whose own servers are broken; neither may count
    /// towards marking it down (a client looping on one broken name would
    /// take every upstream down in milliseconds).
    pub fn proves_alive(&self) -> bool {
        matches!(self, Failure::Rcode { .. } | Failure::Truncated { .. })
    }

    /// A short fixed label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Timeout { .. } => "timeout",
            Failure::Unreachable { .. } => "unreachable",
            Failure::Rcode { .. } => "rcode",
            Failure::Truncated { .. } => "truncated",
            Failure::Transport { .. } => "transport",
            Failure::NotSent => "not_sent",
        }
    }
}
