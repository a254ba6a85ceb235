//! The resolver's one background task: probes down upstreams with exponential
//! backoff and runs exploration exchanges, so that neither costs a lookup any
//! latency.
//!
//! ```text
//!   Resolver (lookups) ──Explore{upstream, req}──▶ bounded mpsc ──┐
//!   Inner::record ── upstream went down ──▶ Notify ───────────────┤
//!                                                                 ▼
//!                         background task: select! { biased;
//!                            cancelled  → return (JoinSet aborts probes)
//!                            explore    → spawn exchange into JoinSet
//!                            a probe or exploration ended → Health::end_background
//!                            next probe due / woken → spawn due probes }
//! ```
//!
//! The task and its exchanges are owned: the `Resolver` keeps a drop guard
//! of the cancellation token and an abort-on-drop handle of the task.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::dns::{self, RecordType, Request};
use crate::engine::{Background, Inner};
use crate::error::Failure;
use crate::metrics as m;
use crate::scoring::Outcome;

/// Bound of the exploration queue; beyond it, explorations are skipped.
pub(crate) const QUEUE: usize = 16;

/// A finished background exchange: upstream, whether it was a probe, outcome.
type Done = (usize, bool, Outcome, Option<Failure>);

/// When nothing is due, look again after this long anyway.
const IDLE: Duration = Duration::from_secs(3600);

pub(crate) async fn run(inner: Arc<Inner>, mut rx: mpsc::Receiver<Background>, cancel: CancellationToken) {
    let mut running: JoinSet<Done> = JoinSet::new();
    // Which upstream each running exchange belongs to, so that even a task that
    // died releases its upstream's background slot.
    let mut owners: HashMap<tokio::task::Id, usize> = HashMap::new();
    loop {
        let next_due = inner
            .upstreams
            .iter()
            .filter_map(|u| u.health().next_probe())
            .min()
            .unwrap_or_else(|| Instant::now() + IDLE);
        tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                let (u, probe, outcome, failure) = match done {
                    Ok((id, done)) => {
                        owners.remove(&id);
                        done
                    }
                    Err(e) => match owners.remove(&e.id()) {
                        Some(u) => (u, false, Outcome::Cancelled, None),
                        None => continue,
                    },
                };
                let now = Instant::now();
                let transition = inner.upstreams[u].health().end_background(now, outcome, &inner.config.health);
                if probe {
                    let result = if matches!(outcome, Outcome::Answer(_)) { "answer" } else { "failure" };
                    metrics::counter!(m::UPSTREAM_PROBES, "upstream" => inner.upstreams[u].label.clone(), "result" => result).increment(1);
                }
                inner.account(u, outcome, failure.as_ref(), transition);
            }
            Some(job) = rx.recv() => {
                let Background::Explore { upstream, req } = job;
                start(&inner, &mut running, &mut owners, upstream, req, false);
            }
            () = tokio::time::sleep_until(next_due.into()) => {
                let now = Instant::now();
                for (i, u) in inner.upstreams.iter().enumerate() {
                    if u.health().probe_due(now) {
                        let req = u.probe_question().unwrap_or_else(|| {
                            Request::new(inner.config.probe_name.clone(), RecordType::NS)
                        });
                        start(&inner, &mut running, &mut owners, i, req, true);
                    }
                }
            }
            () = inner.wake.notified() => {}
        }
    }
}

/// Starts one background exchange with upstream `u`, unless one is running.
fn start(
    inner: &Arc<Inner>,
    running: &mut JoinSet<Done>,
    owners: &mut HashMap<tokio::task::Id, usize>,
    u: usize,
    req: Request,
    probe: bool,
) {
    {
        let mut health = inner.upstreams[u].health();
        if !health.begin_background() {
            return;
        }
        health.on_sent();
    }
    metrics::counter!(m::UPSTREAM_QUERIES, "upstream" => inner.upstreams[u].label.clone()).increment(1);
    let inner = Arc::clone(inner);
    let handle = running.spawn(async move {
        let timeout = inner.config.timeout;
        let upstream = inner.upstreams[u].addr;
        let started = Instant::now();
        let Ok(question) = dns::question(&req) else {
            return (u, probe, Outcome::Cancelled, None);
        };
        let template = palanquin_wire::build_query(&question, inner.config.edns_payload);
        match tokio::time::timeout(timeout, inner.exchange(u, &template, &question)).await {
            Err(_) => (
                u,
                probe,
                Outcome::Silent(started.elapsed()),
                Some(Failure::Timeout { upstream }),
            ),
            Ok(result) => match inner.judge(u, result) {
                Ok(_) => (u, probe, Outcome::Answer(started.elapsed()), None),
                Err(failure) if failure.proves_alive() => {
                    (u, probe, Outcome::Declined(started.elapsed()), Some(failure))
                }
                Err(failure) => (u, probe, Outcome::Failed, Some(failure)),
            },
        }
    });
    owners.insert(handle.id(), u);
}
