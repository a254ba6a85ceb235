//! The recursive-facing service: ACL, cache, coalescing, forwarding through
//! `palanquin-stub`, serve-stale.
//!
//! ```text
//!  query ─▶ try_answer (no await): REFUSED: ACL, class/AXFR, RD clear (unless allow_no_rd);
//!              │  ANY: RFC 8482 minimal answer
//!              │  fresh hit: the worker's Front, else the shared Cache (fills the Front) ─▶ answer
//!              │ None
//!              ▼
//!           resolve: cache again ── stale? ─┐   (failed < 5 s ago, nothing stale: SERVFAIL, RFC 9520)
//!              │ join Inflight(key)          │ wait for the leader at most the
//!              ├─ leader: Service.leads ──▶ stub (split DNS: longest zone) ─▶ scrub ─▶ cache ─▶ complete
//!              └─ follower: wait             │ client timer (1.8 s), else stale
//!              ▼                             ▼
//!           fresh answer │ stale answer (TTL 30) │ SERVFAIL + Extended DNS Error (why)
//! ```
//!
//! Tasks: a leader's upstream exchange runs in a task of its own, so that the
//! client that started it may go away without cancelling what the others
//! wait for. That task belongs to its [`Service`] (`leads`, a `JoinSet`) and
//! holds only the generation's `Core`, never the `Service`: when a reload
//! has swapped a generation out and the last client holding it is done, the
//! `Service` drops, its unfinished leads are aborted (their waiters, if any,
//! are released by the `Release` guard), and with them the core and the
//! generation's stub resolvers.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics::Counter;
use palanquin_stub::{Resolver, ResolverConfig, UpstreamStatus};
use tokio::task::JoinSet;

use crate::acl::Acl;
use crate::cache::{Cache, Entry, Key, Lookup, Policy};
use crate::failures::Failures;
use crate::front::Front;
use crate::inflight::{Failed, Inflight, Role};
use crate::{dns, metrics as m};
use palanquin_wire::{self as wire, ede, rcode, Query};

/// Where names under a zone are forwarded.
#[derive(Debug, Clone)]
pub struct ForwardZone {
    /// The zone, lower-cased wire form.
    pub zone: Vec<u8>,
    /// Its upstreams and stub settings.
    pub upstreams: ResolverConfig,
}

/// Everything a [`Service`] is built from (one config generation).
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Upstreams for names outside every forward zone.
    pub upstreams: ResolverConfig,
    /// Split DNS.
    pub forward: Vec<ForwardZone>,
    /// Who may recurse.
    pub acl: Acl,
    /// Who may ask with RD clear and get what the cache holds (cache
    /// snooping); everyone else's RD-clear queries are REFUSED.
    pub allow_no_rd: Acl,
    /// TTL and serve-stale policy.
    pub policy: Policy,
    /// How long a client waits for a refresh before a stale answer (RFC 8767 §5: 1.8 s).
    pub client_timer: Duration,
}

/// Why a service cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An upstream set is unusable.
    #[error("upstreams {context}: {source}")]
    Upstreams {
        /// Which set ("default" or the zone).
        context: String,
        /// The stub's complaint.
        #[source]
        source: palanquin_stub::Error,
    },
}

/// Metric handles registered once, so the hot path only adds to atomics.
struct Counters {
    hits: Counter,
    misses: Counter,
    coalesced: Counter,
    refused: Counter,
    no_rd_refused: Counter,
    stale_failed: Counter,
    stale_timer: Counter,
    stale_recheck: Counter,
    servfail: Counter,
    failure_cached: Counter,
    scrubbed: [Counter; 3],
}

impl Counters {
    fn new() -> Self {
        Counters {
            hits: metrics::counter!(m::CACHE_HITS),
            misses: metrics::counter!(m::CACHE_MISSES),
            coalesced: metrics::counter!(m::COALESCED),
            refused: metrics::counter!(m::ACL_REFUSED),
            no_rd_refused: metrics::counter!(m::NO_RD_REFUSED),
            stale_failed: metrics::counter!(m::CACHE_STALE, "reason" => "upstream_failed"),
            stale_timer: metrics::counter!(m::CACHE_STALE, "reason" => "client_timer"),
            stale_recheck: metrics::counter!(m::CACHE_STALE, "reason" => "recheck_timer"),
            servfail: metrics::counter!(m::SERVFAIL),
            failure_cached: metrics::counter!(m::FAILURE_CACHED),
            scrubbed: m::SCRUB_SECTIONS.map(|section| metrics::counter!(m::SCRUBBED, "section" => section)),
        }
    }
}

/// One configuration generation of the resolver side. The cache is shared
/// across generations, so it survives a reload. Dropping it aborts the
/// upstream exchanges it still leads (see the module docs).
pub struct Service {
    core: Arc<Core>,
    acl: Acl,
    allow_no_rd: Acl,
    client_timer: Duration,
    /// The leaders' upstream exchanges; finished ones are reaped as new
    /// ones start.
    leads: Mutex<JoinSet<()>>,
}

/// What a leader's task needs: the generation's upstreams, the cache, the
/// questions in flight.
struct Core {
    cache: Arc<Cache>,
    policy: Policy,
    default: Resolver,
    forward: Vec<(Vec<u8>, Resolver)>,
    inflight: Inflight,
    /// Questions that just failed (RFC 9520); shared by the generation only.
    failures: Failures,
    counters: Counters,
}

/// Completes a question in flight with no answer unless the leader did.
struct Release<'a> {
    inflight: &'a Inflight,
    key: &'a Key,
    done: bool,
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.inflight.complete(self.key, &Err(abandoned()));
        }
    }
}

/// The leader went away without an outcome (a panic, the runtime stopping).
fn abandoned() -> Failed {
    Failed {
        ede: ede::OTHER,
        text: "the resolution was abandoned".into(),
    }
}

/// The Extended DNS Error for a lookup the stub gave up on.
fn failed(e: &palanquin_stub::Error) -> Failed {
    let unreachable = matches!(e, palanquin_stub::Error::Rejected { failures }
        if failures.iter().all(|f| matches!(f, palanquin_stub::Failure::Unreachable { .. })));
    let code = match e {
        _ if unreachable => ede::NETWORK_ERROR,
        palanquin_stub::Error::Rejected { .. } | palanquin_stub::Error::Exhausted { .. } => {
            ede::NO_REACHABLE_AUTHORITY
        }
        _ => ede::OTHER,
    };
    Failed {
        ede: code,
        text: e.summary().into(),
    }
}

const QTYPE_AXFR: u16 = 252;
const QTYPE_IXFR: u16 = 251;
const QCLASS_IN: u16 = 1;

impl Service {
    /// Builds the service; must run inside a tokio runtime (stub resolvers
    /// start their background tasks).
    pub fn new(cfg: ServiceConfig, cache: Arc<Cache>) -> Result<Self, Error> {
        Self::with_previous(cfg, cache, None)
    }

    /// Builds the next generation after `previous` (a reload): an upstream
    /// set whose stub settings did not change keeps its resolver, and so
    /// what it learned about its upstreams' health.
    pub fn with_previous(
        cfg: ServiceConfig,
        cache: Arc<Cache>,
        previous: Option<&Service>,
    ) -> Result<Self, Error> {
        let reuse = |wanted: &ResolverConfig| {
            previous.and_then(|p| {
                std::iter::once(&p.core.default)
                    .chain(p.core.forward.iter().map(|(_, r)| r))
                    .find(|r| r.config() == wanted)
                    .cloned()
            })
        };
        let build = |stub: ResolverConfig, context: String| match reuse(&stub) {
            Some(r) => Ok(r),
            None => Resolver::new(stub).map_err(|source| Error::Upstreams { context, source }),
        };
        let default = build(cfg.upstreams, "default".into())?;
        let mut forward = Vec::with_capacity(cfg.forward.len());
        for f in cfg.forward {
            let context = wire::name_to_string(&f.zone);
            forward.push((f.zone, build(f.upstreams, context)?));
        }
        // Longest zone first: the most specific forward wins.
        forward.sort_by_key(|(zone, _)| std::cmp::Reverse(zone.len()));
        Ok(Service {
            core: Arc::new(Core {
                cache,
                policy: cfg.policy,
                default,
                forward,
                inflight: Inflight::default(),
                failures: Failures::default(),
                counters: Counters::new(),
            }),
            acl: cfg.acl,
            allow_no_rd: cfg.allow_no_rd,
            client_timer: cfg.client_timer,
            leads: Mutex::new(JoinSet::new()),
        })
    }

    /// Whether `client` may recurse (the `allow` ACL).
    pub fn may_recurse(&self, client: IpAddr) -> bool {
        self.acl.allows(client)
    }

    /// The shared cache.
    pub fn cache(&self) -> &Arc<Cache> {
        &self.core.cache
    }

    /// Answers without waiting when it can: a refusal, or a fresh cache hit
    /// (from the caller's `front` when it has one, and then kept there).
    /// `None` means: call [`Service::resolve`]. A query with RD clear asks
    /// for no recursion: it gets only what the cache holds, and only if the
    /// client may snoop (`allow_no_rd`); otherwise REFUSED, so nobody learns
    /// what others have been resolving.
    pub fn try_answer(
        &self,
        raw: &[u8],
        q: &Query,
        client: IpAddr,
        udp_limit: Option<usize>,
        now: Instant,
        front: Option<&mut Front>,
    ) -> Option<Vec<u8>> {
        if !self.acl.allows(client) {
            self.core.counters.refused.increment(1);
            return Some(wire::error_response(raw, Some(q), rcode::REFUSED));
        }
        if q.qclass != QCLASS_IN || q.qtype == QTYPE_AXFR || q.qtype == QTYPE_IXFR {
            return Some(wire::error_response(raw, Some(q), rcode::REFUSED));
        }
        if q.qtype == wire::QTYPE_ANY {
            return Some(wire::minimal_any(raw, q));
        }
        if !q.rd && !self.allow_no_rd.allows(client) {
            self.core.counters.no_rd_refused.increment(1);
            return Some(wire::error_response(raw, Some(q), rcode::REFUSED));
        }
        let mut front = front;
        if let Some(entry) = front.as_deref_mut().and_then(|f| f.get(q, now, &self.core.cache)) {
            self.core.counters.hits.increment(1);
            return Some(entry.render(raw, q, now, None, udp_limit));
        }
        match self.core.cache.get(&Key::of(q), now) {
            Lookup::Fresh(entry) => {
                self.core.counters.hits.increment(1);
                let reply = entry.render(raw, q, now, None, udp_limit);
                if let Some(front) = front {
                    front.put(q, entry, now);
                }
                Some(reply)
            }
            // RD clear, from a client that may snoop: only what is cached.
            _ if !q.rd => {
                self.core.counters.no_rd_refused.increment(1);
                Some(wire::error_response(raw, Some(q), rcode::REFUSED))
            }
            _ => None,
        }
    }

    /// Resolves through the upstreams (coalesced), falling back to stale data.
    pub async fn resolve(&self, raw: &[u8], q: &Query, udp_limit: Option<usize>) -> Vec<u8> {
        let key = Key::of(q);
        let stale = match self.core.cache.get(&key, Instant::now()) {
            Lookup::Fresh(entry) => {
                self.core.counters.hits.increment(1);
                return entry.render(raw, q, Instant::now(), None, udp_limit);
            }
            Lookup::Stale(entry) if entry.refresh_deferred(Instant::now()) => {
                // RFC 8767 failure-recheck timer: the last refresh failed.
                self.core.counters.stale_recheck.increment(1);
                let ttl = Some(self.core.policy.stale_answer_ttl);
                return entry.render(raw, q, Instant::now(), ttl, udp_limit);
            }
            Lookup::Stale(entry) => Some(entry),
            Lookup::Miss => None,
        };
        if stale.is_none() {
            if let Some(why) = self.core.failures.get(&key, Instant::now()) {
                // RFC 9520: it failed a moment ago; do not ask again yet.
                self.core.counters.servfail.increment(1);
                self.core.counters.failure_cached.increment(1);
                let text = format!("cached: {}", why.text);
                return wire::error_response_ede(
                    raw,
                    Some(q),
                    rcode::SERVFAIL,
                    Some((ede::CACHED_ERROR, &text)),
                );
            }
        }
        self.core.counters.misses.increment(1);
        let rx = match self.core.inflight.join(&key) {
            Role::Leader(rx) => {
                let request = match dns::request(q) {
                    Ok(request) => request,
                    Err(e) => {
                        tracing::debug!(error = %e, "question not forwarded");
                        let failed = Failed {
                            ede: ede::OTHER,
                            text: "the question cannot be forwarded".into(),
                        };
                        self.core.inflight.complete(&key, &Err(failed));
                        return wire::error_response(raw, Some(q), rcode::FORMERR);
                    }
                };
                self.spawn_lead(key.clone(), request);
                rx
            }
            Role::Follower(rx) => {
                self.core.counters.coalesced.increment(1);
                rx
            }
        };
        let outcome = match &stale {
            Some(_) => match tokio::time::timeout(self.client_timer, rx).await {
                Ok(result) => result.unwrap_or_else(|_| Err(abandoned())),
                Err(_) => {
                    self.core.counters.stale_timer.increment(1);
                    Err(abandoned())
                }
            },
            None => rx.await.unwrap_or_else(|_| Err(abandoned())),
        };
        let now = Instant::now();
        match (outcome, stale) {
            (Ok(entry), _) => entry.render(raw, q, now, None, udp_limit),
            (Err(_), Some(stale)) => {
                self.core.counters.stale_failed.increment(1);
                stale.render(raw, q, now, Some(self.core.policy.stale_answer_ttl), udp_limit)
            }
            (Err(why), None) => {
                self.core.counters.servfail.increment(1);
                wire::error_response_ede(raw, Some(q), rcode::SERVFAIL, Some((why.ede, &why.text)))
            }
        }
    }

    /// Asks the upstreams for `q` afresh: no cache, no stale answer, no
    /// coalescing with clients' questions, no failure remembered. What the
    /// VRRP self-check counts as "this node resolves": Ok names the upstream
    /// that answered (NOERROR or NXDOMAIN); Err says why none did.
    pub async fn probe(&self, q: &Query) -> Result<std::net::SocketAddr, String> {
        let request = dns::request(q).map_err(|e| e.to_string())?;
        self.core
            .resolver_for(&q.qname)
            .exchange_wire(&request)
            .await
            .map(|reply| reply.upstream)
            .map_err(|e| e.to_string())
    }

    /// Starts the leader's exchange for `key` in a task of [`Service::leads`],
    /// reaping the ones that have finished. The task ends by the stub's
    /// deadline, or when this generation is dropped.
    fn spawn_lead(&self, key: Key, request: palanquin_stub::dns::Request) {
        let core = Arc::clone(&self.core);
        let mut leads = self.leads.lock().unwrap_or_else(|p| p.into_inner());
        while leads.try_join_next().is_some() {}
        leads.spawn(core.lead(key, request));
    }

    /// Upstream health per upstream set: `("default", ...)` then each zone.
    pub fn upstream_status(&self) -> Vec<(String, Vec<UpstreamStatus>)> {
        let core = &self.core;
        let mut out = vec![("default".to_owned(), core.default.upstreams())];
        out.extend(
            core.forward
                .iter()
                .map(|(zone, r)| (wire::name_to_string(zone), r.upstreams())),
        );
        out
    }

    /// Questions in flight upstream right now.
    pub fn inflight(&self) -> usize {
        self.core.inflight.len()
    }

    /// Leaders' exchanges still running (for tests and status).
    pub fn leads(&self) -> usize {
        let mut leads = self.leads.lock().unwrap_or_else(|p| p.into_inner());
        while leads.try_join_next().is_some() {}
        leads.len()
    }
}

impl Core {
    /// The leader's upstream exchange; its outcome goes to the cache and to
    /// every waiter. Runs in its own task, so a client going away cannot
    /// cancel a refresh others wait for.
    async fn lead(self: Arc<Self>, key: Key, request: palanquin_stub::dns::Request) {
        // Whatever happens to this task (a panic, the runtime shutting down),
        // the waiters are released and the key leaves the in-flight map.
        let mut release = Release {
            inflight: &self.inflight,
            key: &key,
            done: false,
        };
        let resolver = self.resolver_for(&key.qname);
        let outcome = match resolver.exchange_wire(&request).await {
            Ok(answer) => {
                self.failures.forget(&key);
                self.keep(&key, &answer)
            }
            Err(e) => {
                tracing::debug!(name = %wire::name_to_string(&key.qname), error = %e, "upstreams failed");
                let now = Instant::now();
                let why = failed(&e);
                match self.cache.get(&key, now) {
                    Lookup::Stale(stale) => {
                        let deferred = stale.failed_refresh(now + self.policy.failure_recheck);
                        self.cache.insert_shared(key.clone(), Arc::new(deferred));
                    }
                    _ => self.failures.put(key.clone(), why.clone(), now),
                }
                Err(why)
            }
        };
        self.inflight.complete(&key, &outcome);
        release.done = true;
    }

    /// Scrubs an upstream answer, caches it when it may be, and returns
    /// what to answer with.
    fn keep(&self, key: &Key, answer: &palanquin_stub::Reply) -> crate::inflight::Outcome {
        let now = Instant::now();
        let name = || wire::name_to_string(&key.qname);
        let unusable = |text: &str| Failed {
            ede: ede::OTHER,
            text: text.into(),
        };
        let scrubbed = wire::scrub(&answer.wire, &key.qname, key.qtype).map_err(|e| {
            tracing::debug!(name = %name(), error = %e, "malformed answer");
            unusable("the upstream's answer is malformed")
        })?;
        for (counter, &n) in self.counters.scrubbed.iter().zip(&scrubbed.dropped) {
            counter.increment(n as u64);
        }
        if scrubbed.dropped != [0; 3] {
            tracing::debug!(name = %name(), upstream = %answer.upstream, dropped = ?scrubbed.dropped, "dropped records unrelated to the question");
        }
        match Entry::from_response(&scrubbed.wire, now, &self.policy) {
            Ok(entry) => {
                let entry = Arc::new(entry);
                self.cache.insert_shared(key.clone(), Arc::clone(&entry));
                Ok(entry)
            }
            Err(why) => {
                tracing::debug!(name = %name(), ?why, "answer not cached");
                Entry::passthrough(&scrubbed.wire, now)
                    .map(Arc::new)
                    .map_err(|_| unusable("the upstream's answer cannot be passed on"))
            }
        }
    }

    fn resolver_for(&self, qname: &[u8]) -> &Resolver {
        self.forward
            .iter()
            .find(|(zone, _)| wire::is_below_or_at(qname, zone))
            .map_or(&self.default, |(_, r)| r)
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use palanquin_wire::parse_query;

    /// `www.example.test. A` from a client, RD as given.
    fn query(rd: bool) -> Vec<u8> {
        let mut q =
            b"\x42\x42\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x04test\x00\x00\x01\x00\x01"
                .to_vec();
        q[2] = u8::from(rd);
        q
    }

    const ANSWER: &[u8] = b"\x42\x42\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x03www\x07example\x04test\x00\
\x00\x01\x00\x01\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04\xc0\x00\x02\x01";

    /// A front filled by one hit answers later hits, but never a client the
    /// ACL refuses nor an RD-clear query from a client that may not snoop.
    #[tokio::test]
    async fn a_filled_front_still_applies_the_acl_and_the_rd_rule() {
        let now = Instant::now();
        let cache = Arc::new(Cache::new(100));
        let (raw, raw_no_rd) = (query(true), query(false));
        let (q, q_no_rd) = (parse_query(&raw).expect("q"), parse_query(&raw_no_rd).expect("q"));
        cache.insert(
            Key::of(&q),
            Entry::from_response(ANSWER, now, &Policy::default()).expect("cacheable"),
        );
        let net = |p: &str| Acl::parse_prefix(p).expect("prefix");
        let service = Service::new(
            ServiceConfig {
                upstreams: ResolverConfig::new(vec![SocketAddr::from(([127, 0, 0, 1], 9))]),
                forward: Vec::new(),
                acl: Acl::new(vec![net("127.0.0.0/8")]),
                allow_no_rd: Acl::new(vec![net("127.0.0.1/32")]),
                policy: Policy::default(),
                client_timer: Duration::from_millis(1800),
            },
            cache,
        )
        .expect("service");
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let rcode_of = |reply: Option<Vec<u8>>| reply.expect("answered at once")[3] & 0x0f;
        let mut front = Front::new(16);
        let first = service.try_answer(&raw, &q, ip("127.0.0.2"), None, now, Some(&mut front));
        assert_eq!(rcode_of(first), rcode::NOERROR);
        assert!(
            front.get(&q, now, service.cache()).is_some(),
            "the hit filled the front"
        );
        let mut ask = |raw: &[u8], q: &Query, client: &str| {
            rcode_of(service.try_answer(raw, q, ip(client), None, now, Some(&mut front)))
        };
        assert_eq!(ask(&raw, &q, "127.0.0.3"), rcode::NOERROR);
        assert_eq!(ask(&raw, &q, "192.0.2.1"), rcode::REFUSED, "outside the ACL");
        assert_eq!(
            ask(&raw_no_rd, &q_no_rd, "127.0.0.2"),
            rcode::REFUSED,
            "RD clear, no snooping"
        );
        assert_eq!(
            ask(&raw_no_rd, &q_no_rd, "127.0.0.1"),
            rcode::NOERROR,
            "RD clear, may snoop"
        );
    }

    /// A service whose one upstream is `upstream`, for everyone on loopback.
    fn service_on(upstream: SocketAddr) -> Service {
        let net = |p: &str| Acl::parse_prefix(p).expect("prefix");
        Service::new(
            ServiceConfig {
                upstreams: ResolverConfig::new(vec![upstream]),
                forward: Vec::new(),
                acl: Acl::new(vec![net("127.0.0.0/8")]),
                allow_no_rd: Acl::new(Vec::new()),
                policy: Policy::default(),
                client_timer: Duration::from_millis(1800),
            },
            Arc::new(Cache::new(100)),
        )
        .expect("service")
    }

    /// The answer to `query` (whatever its id and OPT record): its
    /// question and one A record, 192.0.2.1.
    fn answer_to(query: &[u8]) -> Vec<u8> {
        let q = parse_query(query).expect("the stub's query");
        let mut out = vec![query[0], query[1], 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        out.extend_from_slice(&q.qname);
        out.extend_from_slice(&[0, 1, 0, 1]);
        out.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4, 192, 0, 2, 1]);
        out
    }

    /// Waits (bounded) for the next datagram on `upstream`.
    async fn next_query(upstream: &tokio::net::UdpSocket) -> (Vec<u8>, SocketAddr) {
        let mut buf = vec![0; 4096];
        let (n, from) = tokio::time::timeout(Duration::from_secs(10), upstream.recv_from(&mut buf))
            .await
            .expect("the leader asks upstream")
            .expect("recv");
        buf.truncate(n);
        (buf, from)
    }

    /// The leader's exchange belongs to its generation: a client going away
    /// does not end it, dropping the `Service` does, and then nothing keeps
    /// the generation's core (its stub resolvers, its questions in flight)
    /// alive. With a detached `tokio::spawn` holding the service, the
    /// generation outlived its last client for as long as its exchange ran.
    #[tokio::test]
    async fn a_dropped_generation_aborts_its_leads_and_lets_go_of_its_core() {
        let upstream = tokio::net::UdpSocket::bind("127.0.100.1:0").await.expect("bind");
        let service = Arc::new(service_on(upstream.local_addr().expect("addr")));
        let (generation, core) = (Arc::downgrade(&service), Arc::downgrade(&service.core));
        let raw = query(true);
        let client = tokio::spawn({
            let service = Arc::clone(&service);
            async move {
                let q = parse_query(&raw).expect("q");
                service.resolve(&raw, &q, None).await
            }
        });
        let _held = next_query(&upstream).await;
        assert_eq!((service.leads(), service.inflight()), (1, 1));
        client.abort();
        assert!(client.await.expect_err("aborted").is_cancelled());
        assert_eq!(
            (service.leads(), service.inflight()),
            (1, 1),
            "the client went away; the refresh goes on"
        );
        drop(service);
        assert!(generation.upgrade().is_none(), "no task holds the generation");
        for _ in 0..1000 {
            if core.upgrade().is_none() {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(core.upgrade().is_none(), "the aborted lead let go of the core");
    }

    /// Coalescing survives the leader's client: a follower still gets the
    /// answer the lead fetches, and the finished lead is reaped.
    #[tokio::test]
    async fn a_follower_gets_the_answer_after_the_leaders_client_went_away() {
        let upstream = tokio::net::UdpSocket::bind("127.0.100.2:0").await.expect("bind");
        let service = Arc::new(service_on(upstream.local_addr().expect("addr")));
        let ask = |service: &Arc<Service>| {
            let service = Arc::clone(service);
            tokio::spawn(async move {
                let raw = query(true);
                let q = parse_query(&raw).expect("q");
                service.resolve(&raw, &q, None).await
            })
        };
        let leader = ask(&service);
        let (sent, from) = next_query(&upstream).await;
        let follower = ask(&service);
        for _ in 0..10 {
            tokio::task::yield_now().await; // the follower joins the question in flight
        }
        leader.abort();
        let _ = leader.await;
        upstream.send_to(&answer_to(&sent), from).await.expect("send");
        let reply = tokio::time::timeout(Duration::from_secs(10), follower)
            .await
            .expect("answered")
            .expect("follower");
        assert_eq!(
            (reply[3] & 0x0f, &reply[6..8]),
            (rcode::NOERROR, &[0u8, 1][..]),
            "{reply:?}"
        );
        assert_eq!(&reply[reply.len() - 4..], &[192, 0, 2, 1]);
        for _ in 0..1000 {
            if service.leads() == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!((service.leads(), service.inflight()), (0, 0));
    }
}
