//! The public resolver: `query` for one exact question, `lookup` with the
//! search list, `lookup_ip` for A and AAAA in parallel.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::AbortOnDropHandle;

use crate::config::ResolverConfig;
use crate::dns::{self, Name, Record, RecordType, Request, ResponseCode};
use crate::engine::{Answer, Inner, Reply};
use crate::error::{Error, NameError};
use crate::scoring::State;
use crate::{search, tasks};

/// A stub resolver. Cheap to clone; clones share upstream health. Dropping
/// the last clone stops its background task.
#[derive(Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
    _background: Arc<(DropGuard, AbortOnDropHandle<()>)>,
}

/// What is known about one upstream right now.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamStatus {
    /// Its address.
    pub addr: SocketAddr,
    /// Up or down.
    pub state: State,
    /// Smoothed RTT, once a reply was measured (an answer or a REFUSED):
    /// `None` while the estimate is a guess (the initial RTT, or only
    /// silences that were given up on).
    pub srtt: Option<Duration>,
    /// Failures since its last answer.
    pub consecutive_failures: u32,
    /// Queries sent to it (lookups, hedges, probes, explorations).
    pub sent: u64,
    /// Exchanges it answered.
    pub answered: u64,
    /// Exchanges it failed (silent, refused, bad rcode).
    pub failed: u64,
    /// Datagrams from it that were ignored as not matching (RFC 5452).
    pub mismatched: u64,
}

/// The addresses of a host name.
#[derive(Debug, Clone)]
pub struct LookupIp {
    /// The candidate name that had addresses.
    pub name: Name,
    /// IPv6 and IPv4 addresses, AAAA first when both were asked (RFC 6724
    /// ordering is left to the caller).
    pub addrs: Vec<IpAddr>,
    /// The answers they came from (one or two).
    pub answers: Vec<Answer>,
}

impl Resolver {
    /// Starts a resolver; must be called inside a tokio runtime (it spawns
    /// its background task).
    pub fn new(config: ResolverConfig) -> Result<Self, Error> {
        config.validate()?;
        let (tx, rx) = mpsc::channel(tasks::QUEUE);
        let inner = Arc::new(Inner::new(config, tx));
        let cancel = CancellationToken::new();
        let task = tokio::spawn(tasks::run(Arc::clone(&inner), rx, cancel.clone()));
        Ok(Resolver {
            inner,
            _background: Arc::new((cancel.drop_guard(), AbortOnDropHandle::new(task))),
        })
    }

    /// A resolver over the system's /etc/resolv.conf (and RES_OPTIONS, LOCALDOMAIN).
    pub fn from_system() -> Result<Self, Error> {
        Self::new(ResolverConfig::system()?)
    }

    /// The configuration in use.
    pub fn config(&self) -> &ResolverConfig {
        &self.inner.config
    }

    /// Asks exactly `req` (no search list). An answer is NOERROR or NXDOMAIN
    /// from some upstream; SERVFAIL, REFUSED and NOTIMP move on to the next
    /// upstream and end as [`Error::Rejected`] when every upstream said no,
    /// or [`Error::Exhausted`] when some stayed silent.
    pub async fn exchange(&self, req: &Request) -> Result<Answer, Error> {
        self.inner.resolve(req).await?.decode()
    }

    /// [`Resolver::exchange`] without decoding the records: the checked
    /// bytes, for a caller that caches or forwards them (the daemon).
    pub async fn exchange_wire(&self, req: &Request) -> Result<Reply, Error> {
        self.inner.resolve(req).await
    }

    /// Asks for `name` (absolute, or taken as absolute) and `rtype`.
    pub async fn query(&self, name: &Name, rtype: RecordType) -> Result<Answer, Error> {
        let mut name = name.clone();
        name.set_fqdn(true);
        self.exchange(&Request::new(name, rtype)).await
    }

    /// Resolves `name` through the search list and `ndots`: the first
    /// candidate with records of `rtype` wins. When none has any, the result is
    /// the first NODATA answer, else the last NXDOMAIN.
    pub async fn lookup(&self, name: &str, rtype: RecordType) -> Result<Answer, Error> {
        let cfg = &self.inner.config;
        let candidates =
            search::candidates(name, &cfg.search, cfg.ndots, cfg.no_tld_query).map_err(|reason| {
                Error::InvalidName {
                    name: name.to_owned(),
                    reason,
                }
            })?;
        let mut nodata: Option<Answer> = None;
        let mut last: Option<Result<Answer, Error>> = None;
        for candidate in candidates {
            match self.exchange(&Request::new(candidate, rtype)).await {
                Ok(answer) if has_type(&answer, rtype) => return Ok(answer),
                Ok(answer) if answer.rcode() == ResponseCode::NoError => {
                    nodata.get_or_insert(answer);
                }
                other => last = Some(other),
            }
        }
        match (nodata, last) {
            (Some(answer), _) => Ok(answer),
            (None, Some(result)) => result,
            (None, None) => Err(Error::InvalidName {
                name: name.to_owned(),
                reason: NameError::NoCandidate,
            }),
        }
    }

    /// The IPv4 and IPv6 addresses of `host`: A and AAAA asked in parallel
    /// (one after the other with `single-request`, A only with `no-aaaa`),
    /// through the search list. An IP literal is returned as is.
    pub async fn lookup_ip(&self, host: &str) -> Result<LookupIp, Error> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(LookupIp {
                name: Name::root(),
                addrs: vec![ip],
                answers: Vec::new(),
            });
        }
        let cfg = &self.inner.config;
        let candidates =
            search::candidates(host, &cfg.search, cfg.ndots, cfg.no_tld_query).map_err(|reason| {
                Error::InvalidName {
                    name: host.to_owned(),
                    reason,
                }
            })?;
        let mut last_err = None;
        let mut saw_name = None;
        for candidate in candidates {
            let a = Request::new(candidate.clone(), RecordType::A);
            let aaaa = Request::new(candidate.clone(), RecordType::AAAA);
            let results = if cfg.no_aaaa {
                vec![self.exchange(&a).await]
            } else if cfg.single_request {
                vec![self.exchange(&aaaa).await, self.exchange(&a).await]
            } else {
                let (r6, r4) = tokio::join!(self.exchange(&aaaa), self.exchange(&a));
                vec![r6, r4]
            };
            let mut addrs = Vec::new();
            let mut answers = Vec::new();
            for result in results {
                match result {
                    Ok(answer) => {
                        if answer.rcode() == ResponseCode::NoError {
                            saw_name = Some(candidate.clone());
                        }
                        addrs.extend(answer.message.answers.iter().filter_map(dns::record_ip));
                        answers.push(answer);
                    }
                    Err(e) => last_err = Some(e),
                }
            }
            if !addrs.is_empty() {
                return Ok(LookupIp {
                    name: candidate,
                    addrs,
                    answers,
                });
            }
        }
        match (saw_name, last_err) {
            (Some(name), _) => Err(Error::NoData {
                name: name.to_string(),
                rtype: "A/AAAA".into(),
            }),
            (None, Some(e)) => Err(e),
            (None, None) => Err(Error::NxDomain {
                name: host.to_owned(),
            }),
        }
    }

    /// A snapshot of every upstream's health, in configuration order.
    pub fn upstreams(&self) -> Vec<UpstreamStatus> {
        self.inner
            .upstreams
            .iter()
            .map(|u| {
                let h = u.health().clone();
                let (sent, answered, failed) = h.counts();
                UpstreamStatus {
                    addr: u.addr,
                    state: h.state(),
                    srtt: h.measured_srtt(),
                    consecutive_failures: h.failures(),
                    sent,
                    answered,
                    failed,
                    mismatched: u.mismatched.load(std::sync::atomic::Ordering::Relaxed),
                }
            })
            .collect()
    }
}

fn has_type(answer: &Answer, rtype: RecordType) -> bool {
    answer
        .message
        .answers
        .iter()
        .any(|r: &Record| r.record_type() == rtype)
}
