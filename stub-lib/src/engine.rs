//! The hedged exchange: rank the upstreams, follow the [`HedgePlan`], take the
//! first valid answer, cancel the rest, and tell the health model what each
//! upstream did.
//!
//! ```text
//!  resolve(req) ──▶ rank(health snapshot) ──▶ HedgePlan
//!       ▲                                        │ Send(u) / Wait(t) / GiveUp
//!       │ first NOERROR/NXDOMAIN                 ▼
//!       └──── FuturesUnordered of exchanges (transport.rs) ── SERVFAIL, REFUSED,
//!                                                            NOTIMP, unreachable:
//!                                                            next upstream at once;
//!                                                            all said no: Rejected
//! ```
//!
//! This file is the I/O shell: the select loop over exchanges and timers.
//! What to do next is `hedge.rs`'s (pure), what each exchange means for
//! health is `ledger.rs`'s (pure: one failure per upstream per lookup,
//! a reply that is no answer proves the upstream alive, overdue sends are
//! silent), and the rest is here.
//!
//! A DNS reply that is no answer (REFUSED, SERVFAIL, NOTIMP, FORMERR)
//! proves an upstream alive: a server that refuses names outside its zones,
//! or fails one broken name, is healthy, so such a reply is an RTT sample, never a failure that
//! could mark it down. The lookup still moves on to the next upstream.
//!
//! Health is one small `Mutex` per upstream, held for a few field updates and
//! never across an await: every exchange writes it, so an `ArcSwap` snapshot
//! would not fit, and a task round-trip per query would cost more than it saves.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use rand::Rng;
use tokio::sync::{mpsc, Notify};

use crate::config::{Mode, ResolverConfig, Transport};
use palanquin_wire::{self as wire, Question};

use crate::dns::{self, Message, Request, ResponseCode};
use crate::error::{Error, Failure};
use crate::hedge::{HedgePlan, Step};
use crate::ledger::{Closed, Ledger};
use crate::metrics as m;
use crate::scoring::{self, Health, LogGate, Outcome, State, Transition};
use crate::transport::{self, ExchangeError, Received, Target};

/// A valid answer as the upstream sent it, checked but not decoded, and
/// how it was obtained: what the daemon caches.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The response exactly as received (ID is the stub's own; AD cleared
    /// unless `trust_ad`).
    pub wire: Vec<u8>,
    /// NOERROR or NXDOMAIN (failures are not answers).
    pub rcode: ResponseCode,
    /// The upstream that answered.
    pub upstream: SocketAddr,
    /// From the first send to the answer.
    pub latency: Duration,
    /// Queries sent for this answer, over all upstreams.
    pub attempts: u32,
    /// Whether the answer came over TCP (use-vc, or after truncation).
    pub over_tcp: bool,
}

impl Reply {
    /// Decodes the records, for a caller that wants them.
    pub fn decode(self) -> Result<Answer, Error> {
        let message = dns::decode(&self.wire).map_err(|source| Error::Undecodable {
            upstream: self.upstream,
            source,
        })?;
        Ok(Answer {
            message,
            wire: self.wire,
            upstream: self.upstream,
            latency: self.latency,
            attempts: self.attempts,
            over_tcp: self.over_tcp,
        })
    }
}

/// A valid answer, decoded, and how it was obtained.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The decoded response.
    pub message: Message,
    /// The response exactly as received (ID is the stub's own).
    pub wire: Vec<u8>,
    /// The upstream that answered.
    pub upstream: SocketAddr,
    /// From the first send to the answer.
    pub latency: Duration,
    /// Queries sent for this answer, over all upstreams.
    pub attempts: u32,
    /// Whether the answer came over TCP (use-vc, or after truncation).
    pub over_tcp: bool,
}

impl Answer {
    /// The response code (NOERROR or NXDOMAIN: failures are not answers).
    pub fn rcode(&self) -> ResponseCode {
        dns::rcode(&self.message)
    }
}

/// One configured upstream and what is known about it.
pub(crate) struct Upstream {
    pub(crate) addr: SocketAddr,
    pub(crate) label: String,
    health: Mutex<Health>,
    pub(crate) mismatched: AtomicU64,
    /// The last question it answered: re-asked by probes when it is down, so
    /// an authoritative upstream that refuses `. NS` can still come back, and
    /// a name that fails everywhere does not keep a recovered upstream down.
    probe_question: Mutex<Option<Request>>,
    /// Rate of its state-change log lines.
    log_gate: Mutex<LogGate>,
}

impl Upstream {
    pub(crate) fn health(&self) -> MutexGuard<'_, Health> {
        self.health
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn probe_question(&self) -> Option<Request> {
        self.probe_question
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn target(&self) -> Target<'_> {
        Target {
            addr: self.addr,
            label: &self.label,
            mismatched: &self.mismatched,
        }
    }
}

/// Work for the background task.
#[derive(Debug)]
pub(crate) enum Background {
    /// Re-ask `req` of upstream `upstream` and measure it to completion.
    Explore { upstream: usize, req: Request },
}

/// The resolver's shared core.
pub(crate) struct Inner {
    pub(crate) config: ResolverConfig,
    pub(crate) upstreams: Vec<Upstream>,
    rotation: AtomicUsize,
    pub(crate) background: mpsc::Sender<Background>,
    /// Wakes the background task when an upstream goes down.
    pub(crate) wake: Notify,
}

/// The sends of one lookup ([`Ledger`], pure) applied to the upstreams'
/// health. Whatever is still open when it is dropped (the caller gave up on
/// the lookup) is recorded as cancelled, so in-flight counts stay exact.
struct Flight<'a> {
    inner: &'a Inner,
    req: &'a Request,
    ledger: Ledger,
}

impl Flight<'_> {
    fn apply(&self, now: Instant, closed: impl IntoIterator<Item = Closed>) {
        for c in closed {
            if let Outcome::Answer(_) = c.outcome {
                // A question it answers: what the probes re-ask should it go down.
                *self.inner.upstreams[c.upstream]
                    .probe_question
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(self.req.clone());
            }
            self.inner.record(c.upstream, now, c.outcome, c.failure.as_ref());
        }
    }

    fn close_rest(&mut self, now: Instant, answered_by: Option<usize>) {
        let upstreams = &self.inner.upstreams;
        let closed = self.ledger.close_rest(now, answered_by, |u| upstreams[u].addr);
        self.apply(now, closed);
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let closed = self.ledger.cancel_all();
        self.apply(Instant::now(), closed);
    }
}

impl Inner {
    pub(crate) fn new(config: ResolverConfig, background: mpsc::Sender<Background>) -> Self {
        let upstreams = config
            .upstreams
            .iter()
            .map(|&addr| {
                metrics::gauge!(m::UPSTREAM_UP, "upstream" => addr.to_string()).set(1.0);
                Upstream {
                    addr,
                    label: addr.to_string(),
                    health: Mutex::new(Health::default()),
                    mismatched: AtomicU64::new(0),
                    probe_question: Mutex::new(None),
                    log_gate: Mutex::new(LogGate::default()),
                }
            })
            .collect();
        Inner {
            config,
            upstreams,
            rotation: AtomicUsize::new(0),
            background,
            wake: Notify::new(),
        }
    }

    /// Applies an exchange outcome to an upstream's health; logs and counts a
    /// state change once.
    pub(crate) fn record(&self, upstream: usize, now: Instant, outcome: Outcome, failure: Option<&Failure>) {
        let u = &self.upstreams[upstream];
        let transition = u.health().on_outcome(now, outcome, &self.config.health);
        self.account(upstream, outcome, failure, transition);
    }

    /// Counts an outcome and reports a transition (shared by lookups and the
    /// background task).
    pub(crate) fn account(
        &self,
        upstream: usize,
        outcome: Outcome,
        failure: Option<&Failure>,
        transition: Option<Transition>,
    ) {
        let u = &self.upstreams[upstream];
        if let Outcome::Answer(rtt) | Outcome::Declined(rtt) = outcome {
            metrics::histogram!(m::UPSTREAM_RTT, "upstream" => u.label.clone()).record(rtt.as_secs_f64());
        }
        if let Some(f) = failure {
            metrics::counter!(m::UPSTREAM_FAILURES, "upstream" => u.label.clone(), "kind" => f.kind())
                .increment(1);
        }
        if let Some(t) = transition {
            let logged = u
                .log_gate
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .admit(Instant::now());
            match (t.to, logged) {
                (State::Down, Some(unlogged)) => {
                    tracing::warn!(upstream = %u.addr, failures = t.failures, last = %failure.map_or_else(String::new, ToString::to_string), unlogged_changes = unlogged, "upstream down: asked only when nothing else is up, probed in the background");
                }
                (State::Up, Some(unlogged)) => {
                    tracing::info!(upstream = %u.addr, unlogged_changes = unlogged, "upstream up again");
                }
                (_, None) => {}
            }
            if t.to == State::Down {
                self.wake.notify_one();
            }
            metrics::gauge!(m::UPSTREAM_UP, "upstream" => u.label.clone()).set(if t.to == State::Up {
                1.0
            } else {
                0.0
            });
            metrics::counter!(m::UPSTREAM_TRANSITIONS, "upstream" => u.label.clone(), "to" => t.to.as_str())
                .increment(1);
        }
    }

    /// Asks the upstreams for `req` until one gives a valid answer.
    pub(crate) async fn resolve(&self, req: &Request) -> Result<Reply, Error> {
        let cfg = &self.config;
        let mut req = req.clone();
        req.authentic_data |= cfg.trust_ad;
        let question = dns::question(&req).map_err(Error::Encode)?;
        let template = wire::build_query(&question, cfg.edns_payload);

        let start = Instant::now();
        let snapshot: Vec<Health> = self.upstreams.iter().map(|u| u.health().clone()).collect();
        let rotation = self.rotation.fetch_add(1, Ordering::Relaxed);
        let order = scoring::rank(&snapshot, &cfg.health, cfg.rotate, rotation);
        self.maybe_explore(&order, &snapshot, start, &req);
        let order: Vec<(usize, Duration)> = order
            .into_iter()
            .map(|i| (i, snapshot[i].hedge_delay(&cfg.health)))
            .collect();
        let deadline = start + cfg.deadline();
        // Two retransmission rounds per glibc attempt, each waiting twice as
        // long as the one before: a lost datagram is re-sent within tens of
        // milliseconds instead of after a whole `timeout`.
        let rounds = 2 * u32::from(cfg.attempts.max(1));
        let floor = cfg.health.retransmit_floor.min(cfg.timeout / 2);
        let mut plan = match cfg.mode {
            Mode::Hedged => HedgePlan::new(order.clone(), rounds, start, deadline),
            Mode::FanOut => HedgePlan::fan_out(order.clone(), rounds, start, deadline),
        }
        .with_retransmit_floor(floor);

        let mut flight = Flight {
            inner: self,
            req: &req,
            ledger: Ledger::new(self.upstreams.len()),
        };
        let mut pending = FuturesUnordered::new();
        let mut last = Failure::NotSent;
        loop {
            let now = Instant::now();
            match plan.poll(now) {
                Step::Send(u) => {
                    let delay = order
                        .iter()
                        .find(|(i, _)| *i == u)
                        .map_or(Duration::ZERO, |e| e.1);
                    let key = flight.ledger.send(u, now, delay);
                    self.upstreams[u].health().on_sent();
                    metrics::counter!(m::UPSTREAM_QUERIES, "upstream" => self.upstreams[u].label.clone())
                        .increment(1);
                    if key > 0 && cfg.mode == Mode::Hedged {
                        metrics::counter!(m::HEDGES).increment(1);
                    }
                    let (template, question) = (&template, &question);
                    pending.push(async move { (key, self.exchange(u, template, question).await) });
                }
                Step::GiveUp if plan.all_definite() => {
                    flight.close_rest(now, None);
                    metrics::counter!(m::QUERIES, "outcome" => "rejected").increment(1);
                    return Err(Error::Rejected {
                        failures: flight.ledger.take_rejections(),
                    });
                }
                Step::GiveUp => {
                    flight.close_rest(now, None);
                    metrics::counter!(m::QUERIES, "outcome" => "exhausted").increment(1);
                    if matches!(last, Failure::NotSent) {
                        if let Some(u) = flight.ledger.last_upstream() {
                            last = Failure::Timeout {
                                upstream: self.upstreams[u].addr,
                            };
                        }
                    }
                    return Err(Error::Exhausted {
                        attempts: plan.sent() as u32,
                        deadline_ms: cfg.deadline().as_millis() as u64,
                        last,
                    });
                }
                Step::Wait(until) => {
                    tokio::select! {
                        Some((key, result)) = pending.next(), if !pending.is_empty() => {
                            let now = Instant::now();
                            let Some((u, rtt)) = flight.ledger.of(key, now) else { continue };
                            match self.judge(u, result) {
                                Ok(received) => {
                                    let closed = flight.ledger.answered(key, rtt);
                                    flight.apply(now, closed);
                                    flight.close_rest(now, Some(u));
                                    metrics::counter!(m::QUERIES, "outcome" => "answer").increment(1);
                                    return Ok(self.answer(received, u, now - start, plan.sent()));
                                }
                                Err(failure) => {
                                    plan.on_failed(now, u, failure.is_definite());
                                    let closed = flight.ledger.failed(key, rtt, failure.clone());
                                    flight.apply(now, closed);
                                    last = failure;
                                }
                            }
                        }
                        () = tokio::time::sleep_until(until.into()) => {}
                    }
                }
            }
        }
    }

    fn answer(&self, received: Received, u: usize, latency: Duration, sent: usize) -> Reply {
        let Received {
            mut wire,
            rcode,
            over_tcp,
        } = received;
        if !self.config.trust_ad {
            // Without trust-ad, an AD bit from the network means nothing (glibc clears it).
            if let Some(b) = wire.get_mut(3) {
                *b &= !0x20;
            }
        }
        Reply {
            wire,
            rcode,
            upstream: self.upstreams[u].addr,
            latency,
            attempts: sent as u32,
            over_tcp,
        }
    }

    /// Turns an exchange result into an answer or a failure.
    pub(crate) fn judge(
        &self,
        u: usize,
        result: Result<Received, ExchangeError>,
    ) -> Result<Received, Failure> {
        let upstream = self.upstreams[u].addr;
        match result {
            // Only NOERROR and NXDOMAIN answer a question; SERVFAIL, REFUSED,
            // NOTIMP, FORMERR, BADVERS and the rest are the upstream saying no.
            Ok(r) => match r.rcode {
                ResponseCode::NoError | ResponseCode::NXDomain => Ok(r),
                rcode => Err(Failure::Rcode { upstream, rcode }),
            },
            Err(ExchangeError::Unreachable) => Err(Failure::Unreachable { upstream }),
            Err(ExchangeError::TcpAfterTruncation(e)) => Err(Failure::Truncated {
                upstream,
                detail: e.to_string(),
            }),
            Err(e) => Err(Failure::Transport {
                upstream,
                detail: e.to_string(),
            }),
        }
    }

    /// One exchange with upstream `u`: a fresh random ID (ThreadRng is a
    /// CSPRNG reseeded from the OS), UDP or TCP as configured, and one retry
    /// without EDNS if the upstream answers FORMERR to EDNS (RFC 6891 §7).
    pub(crate) async fn exchange(
        &self,
        u: usize,
        template: &[u8],
        q: &Question,
    ) -> Result<Received, ExchangeError> {
        let target = self.upstreams[u].target();
        let result = self.send(&target, template.to_vec(), q).await;
        match &result {
            Ok(r) if r.rcode == ResponseCode::FormErr && self.config.edns_payload.is_some() => {
                tracing::debug!(upstream = %target.addr, "FORMERR to EDNS, retrying without");
                self.send(&target, wire::build_query(q, None), q).await
            }
            _ => result,
        }
    }

    async fn send(
        &self,
        target: &Target<'_>,
        mut query: Vec<u8>,
        q: &Question,
    ) -> Result<Received, ExchangeError> {
        let id: u16 = rand::rng().random();
        wire::set_id(&mut query, id);
        match self.config.transport {
            Transport::Udp => transport::udp_then_tcp(target, &query, id, q).await,
            Transport::Tcp => transport::tcp(target, &query, id, q).await,
        }
    }

    /// Now and then, re-ask a worse upstream in the background so that its
    /// estimate stays fresh. Never on the lookup's own path.
    fn maybe_explore(&self, order: &[usize], snapshot: &[Health], now: Instant, req: &Request) {
        let cfg = &self.config;
        if order.len() < 2 || cfg.explore_ratio <= 0.0 {
            return;
        }
        let mut rng = rand::rng();
        if !rng.random_bool(cfg.explore_ratio) {
            return;
        }
        let stale: Vec<usize> = order[1..]
            .iter()
            .copied()
            .filter(|&i| {
                let h = &snapshot[i];
                h.state() == State::Up
                    && h.last_sample()
                        .is_none_or(|t| now.saturating_duration_since(t) >= cfg.explore_interval)
            })
            .collect();
        if stale.is_empty() {
            return;
        }
        let upstream = stale[rng.random_range(0..stale.len())];
        // A full queue means the background task is busy: skip this time.
        let _ = self.background.try_send(Background::Explore {
            upstream,
            req: req.clone(),
        });
    }
}
