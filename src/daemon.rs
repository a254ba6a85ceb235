//! `palanquin serve`: binds every listener, then serves until SIGTERM or
//! SIGINT; SIGHUP reloads the configuration without a restart.
//!
//! ```text
//!  start: Settings ─▶ Generation 1 (Service over a shared Cache) ─▶ ArcSwap
//!         bind everything (UDP ×workers + TCP per address, metrics), signals
//!         ─▶ UDP worker threads (udp::Workers), TCP/HTTP tasks (JoinSet) ─▶ "ready"
//!  SIGHUP: load + validate ─▶ error: log (file:line: key), keep serving
//!                         └─▶ ok: new Generation (same Cache) ─▶ swap
//!  SIGTERM/SIGINT: cancel + wake the UDP threads ─▶ tasks and threads end,
//!                  pending resolutions (Shared.resolving) answered, all ≤ 3 s
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use arc_swap::ArcSwap;
use metrics_exporter_prometheus::PrometheusHandle;
use palanquin_authoritative::Zones;
use palanquin_resolver::{Cache, Service};
use tokio::runtime::Handle;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{self, Settings};
use crate::metrics::{QueryCounters, RELOADS, ZONE_LOADS};
use crate::pools::Pools;
use crate::replication::Replication;
use crate::server::{self, Generation, Shared, MAX_PENDING};

const DRAIN: Duration = Duration::from_secs(3);

fn generation(
    number: u64,
    settings: Settings,
    cache: &Arc<Cache>,
    previous: Option<&Generation>,
    zones: Arc<Zones>,
    replication: Arc<Replication>,
    pools: Arc<Pools>,
) -> anyhow::Result<Generation> {
    let previous = previous.and_then(|g| g.service.as_deref());
    let service = match &settings.resolver {
        Some(cfg) => Some(Arc::new(Service::with_previous(
            cfg.clone(),
            Arc::clone(cache),
            previous,
        )?)),
        None => None,
    };
    Ok(Generation {
        number,
        settings,
        service,
        zones,
        replication,
        pools,
    })
}

/// Raises the open-file soft limit to the hard limit: every TCP connection
/// and every upstream query holds a descriptor, and the common default soft
/// limit of 1,024 is below `tcp_max_connections` plus the pending misses.
fn raise_open_files_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => tracing::info!(from = soft, to = hard, "raised the open-file limit"),
            Err(e) => tracing::warn!(soft, hard, error = %e, "cannot raise the open-file limit"),
        },
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the open-file limit"),
    }
}

/// Runs the daemon until a termination signal.
pub(crate) async fn run(settings: Settings, metrics: Option<PrometheusHandle>) -> anyhow::Result<()> {
    raise_open_files_limit();
    // The zones first: while a big zone loads, nothing is bound, so clients
    // get "port unreachable" and try another server at once.
    let zones = crate::zones::load_all(&settings.zones)?;
    for z in &zones {
        tracing::info!(zone = z.name(), serial = z.serial(), records = z.records(), file = %z.file().display(), "zone loaded");
    }
    // Then bind every socket and register the signals: a failure here
    // leaves nothing running behind the error. Queries wait in the
    // sockets during the first round of pool checks.
    let mut udp = Vec::new();
    let mut tcp = Vec::new();
    for &addr in &settings.listen {
        // TCP first: it binds alone (socket.rs), so another server on this
        // address stops us here. Then the UDP workers on the port it got
        // (the configuration may say port 0), after checking nobody holds it.
        let listener = server::socket::tcp(addr).map_err(|e| in_use("tcp", addr, e))?;
        let bound = listener.local_addr()?;
        tracing::info!(proto = "tcp", addr = %bound, "listening");
        tcp.push(listener);
        server::socket::udp_is_free(bound).map_err(|e| in_use("udp", bound, e))?;
        for _ in 0..settings.udp_workers {
            udp.push(server::socket::udp(bound).map_err(|e| in_use("udp", bound, e))?);
        }
        tracing::info!(proto = "udp", addr = %bound, workers = settings.udp_workers, "listening");
    }
    let http = match (settings.metrics, metrics) {
        (Some(addr), Some(handle)) => {
            let listener = server::socket::tcp(addr).map_err(|e| in_use("metrics", addr, e))?;
            tracing::info!(proto = "http", addr = %listener.local_addr()?, "metrics and status listening");
            Some((listener, handle))
        }
        _ => None,
    };
    let control = match &settings.control {
        Some(path) => {
            let bound = crate::control::bind(path)?;
            tracing::info!(socket = %path.display(), "control socket listening");
            Some(bound)
        }
        None => None,
    };
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;

    let cache = Arc::new(Cache::new(settings.cache_size));
    let cancel = CancellationToken::new();
    let replication = Arc::new(Replication::new(cancel.child_token()));
    // Pool checks start now, with the listeners bound: a tcp check of this
    // daemon's own port passes (the kernel completes the handshake); a dns
    // or http check of it would wait for listeners that start after the
    // first round. The first answers wait for that round.
    let pools = Arc::new(Pools::new(cancel.child_token()));
    let plan = pools.prepare(&settings.zones);
    let served = Zones::new(zones.clone()).with_pools(&plan.live);
    crate::pools::warn_conflicts(&served);
    let first = generation(
        1,
        settings.clone(),
        &cache,
        None,
        Arc::new(served),
        replication,
        Arc::clone(&pools),
    )?;
    let shared = Arc::new(Shared {
        generation: ArcSwap::from_pointee(first),
        pending: Arc::new(Semaphore::new(MAX_PENDING)),
        tcp_slots: Arc::new(Semaphore::new(settings.tcp_max_connections)),
        tcp_outsider_slots: Arc::new(Semaphore::new(server::tcp::outsider_slots(
            settings.tcp_max_connections,
        ))),
        // A client may hold at most a quarter of the slots (at least one).
        tcp_per_client: server::per_client::PerClient::new(settings.tcp_max_connections / 4),
        resolving: TaskTracker::new(),
        udp_counters: QueryCounters::new("udp"),
        tcp_counters: QueryCounters::new("tcp"),
        started: Instant::now(),
        vrrp: arc_swap::ArcSwap::from_pointee(Vec::new()),
    });

    // The first round of pool checks, bounded by their timeout: queries
    // wait in the sockets meanwhile.
    let stopped = tokio::select! {
        () = plan.wait() => false,
        _ = term.recv() => true,
        _ = int.recv() => true,
    };
    if stopped {
        tracing::info!("stopped during the first round of pool checks, before serving");
        return Ok(());
    }
    pools.commit(plan);
    // Then serve. Dropping `workers` on any way out stops the UDP threads.
    let mut workers = server::udp::Workers::spawn(udp, &shared, &cancel, &Handle::current())
        .context("cannot start the udp worker threads")?;
    let mut tasks = JoinSet::new();
    for listener in tcp {
        tasks.spawn(server::tcp::acceptor(
            listener,
            Arc::clone(&shared),
            cancel.clone(),
        ));
    }
    if let Some(bound) = control {
        tasks.spawn(crate::control::serve(bound, Arc::clone(&shared), cancel.clone()));
    }
    if let Some((listener, handle)) = http {
        tasks.spawn(crate::metrics::upkeep(handle.clone(), cancel.clone()));
        tasks.spawn(crate::http::serve(
            listener,
            handle,
            Arc::clone(&shared),
            cancel.clone(),
        ));
    }
    // Secondaries start their transfers; primaries tell their secondaries
    // (NOTIFY at start, RFC 1996 §4.7: they may have missed a change).
    let primaries: Vec<Arc<palanquin_authoritative::Zone>> = settings
        .zones
        .iter()
        .filter(|c| !c.is_secondary())
        .filter_map(|c| zones.iter().find(|z| z.apex() == c.apex).cloned())
        .collect();
    shared
        .replication()
        .configure(&shared, &settings.zones, &primaries);
    // The virtual routers last: their self-checks ask these listeners.
    let mut routers = crate::vrrp::Routers::start(&settings.vrrp, &shared, &cancel)?;
    shared.vrrp.store(Arc::new(routers.watches()));
    tracing::info!(generation = 1, "ready");
    crate::systemd::ready();
    // A reload reads every zone file again (seconds for a large zone): it
    // runs on the blocking pool, so signals are still heard meanwhile; a
    // SIGHUP during a reload runs one more after it.
    let mut reloads: JoinSet<Option<Vec<config::vrrp::VrrpConfig>>> = JoinSet::new();
    let mut again = false;
    let start_reload = |reloads: &mut JoinSet<Option<Vec<config::vrrp::VrrpConfig>>>| {
        let (shared, cache) = (Arc::clone(&shared), Arc::clone(&cache));
        reloads.spawn_blocking(move || reload(&shared, &cache));
    };
    loop {
        tokio::select! {
            biased;
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                if reloads.is_empty() {
                    start_reload(&mut reloads);
                } else {
                    again = true;
                }
            }
            Some(done) = reloads.join_next(), if !reloads.is_empty() => {
                // The virtual routers follow an accepted reload (here: they
                // live on this task, and resigning is async).
                if let Ok(Some(vrrp)) = done {
                    routers.reload(&vrrp).await;
                    shared.vrrp.store(Arc::new(routers.watches()));
                }
                if std::mem::take(&mut again) {
                    start_reload(&mut reloads);
                }
            }
            Some(done) = tasks.join_next() => {
                if let Err(e) = done {
                    tracing::error!(error = %e, "a listener task ended unexpectedly");
                }
            }
        }
    }
    // The contract: mastership is resigned first, then the listeners stop.
    routers.shutdown().await;
    tracing::info!("shutting down: listeners stop, pending answers drain");
    crate::systemd::stopping();
    workers.stop();
    shared.resolving.close();
    let drained = async {
        while tasks.join_next().await.is_some() {}
        workers.joined().await;
        shared.resolving.wait().await;
    };
    if tokio::time::timeout(DRAIN, drained).await.is_err() {
        tracing::warn!(
            after_s = DRAIN.as_secs(),
            "drain timed out; exiting with answers still pending"
        );
    }
    Ok(())
}

/// The start-up error for a socket that cannot be bound, saying plainly
/// when something else already listens there.
fn in_use(what: &str, addr: std::net::SocketAddr, e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::AddrInUse {
        anyhow::anyhow!(
            "cannot listen on {what} {addr}: the address is already in use (another palanquin, or another server, listens there)"
        )
    } else {
        anyhow::Error::new(e).context(format!("cannot listen on {what} {addr}"))
    }
}

/// Parses, validates and swaps in the configuration file again. A bad file
/// changes nothing. Returns the `[[vrrp]]` tables of an accepted reload,
/// for the routers to follow.
fn reload(shared: &Arc<Shared>, cache: &Arc<Cache>) -> Option<Vec<config::vrrp::VrrpConfig>> {
    let current = shared.generation.load_full();
    let path = current.settings.path.clone();
    let settings = match config::load(&path) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "reload refused; the running configuration stays in force");
            metrics::counter!(RELOADS, "result" => "error").increment(1);
            return None;
        }
    };
    let mut settings = settings;
    let old = &current.settings;
    if settings.listen != old.listen
        || settings.udp_workers != old.udp_workers
        || settings.metrics != old.metrics
        || settings.tcp_max_connections != old.tcp_max_connections
        || settings.cache_size != old.cache_size
        || settings.control != old.control
    {
        tracing::warn!(
            "listen, udp_workers, tcp_max_connections, metrics.listen, control.socket and cache_size change only with a restart; keeping the current ones"
        );
    }
    // What is not applied stays as it is in force, so /status and the next
    // reload's comparison tell the truth.
    settings.listen.clone_from(&old.listen);
    settings.udp_workers = old.udp_workers;
    settings.tcp_max_connections = old.tcp_max_connections;
    settings.metrics = old.metrics;
    settings.cache_size = old.cache_size;
    settings.control.clone_from(&old.control);
    // The listen addresses in force may differ from the file's: check again.
    let host = config::host_addresses();
    if let Some(looped) = settings
        .upstream_addrs()
        .find(|a| config::is_own_listener(&settings.listen, a, &host))
    {
        tracing::error!(upstream = %looped, "reload refused: an upstream is one of our own listen addresses (queries would loop); the running configuration stays in force");
        metrics::counter!(RELOADS, "result" => "error").increment(1);
        return None;
    }
    let (zones, failed, stale) = crate::zones::reload(&settings.zones, &current.zones);
    for e in &failed {
        tracing::error!(error = %e, "zone not reloaded; its previous version (if any) stays in service");
    }
    let loaded = settings.zones.len() - failed.len();
    // New pool members are checked once before the swap (bounded by their
    // timeout); members that remain keep their health and drain.
    let plan = current.pools.prepare(&settings.zones);
    plan.wait_blocking();
    let replication = Arc::clone(&current.replication);
    // From here to the swap, transfers wait: a secondary zone's version is
    // the one in force now (a transfer may have landed during the loading).
    let publishing = replication.publishing();
    let latest = shared.generation.load_full();
    let zones: Vec<Arc<palanquin_authoritative::Zone>> = zones
        .into_iter()
        .map(|z| {
            let secondary = settings
                .zones
                .iter()
                .any(|c| c.apex == z.apex() && c.is_secondary());
            match latest.zones.get(z.apex()) {
                Some(now) if secondary => Arc::clone(now),
                _ => z,
            }
        })
        .collect();
    let cfgs = settings.zones.clone();
    // Every accepted reload hands the routers their tables: unchanged ones
    // stay as they are, and one that could not open last time is tried again.
    let vrrp = Some(settings.vrrp.clone());
    match generation(
        current.number + 1,
        settings,
        cache,
        Some(&current),
        Arc::new(Zones::new(zones.clone()).with_pools(&plan.live)),
        Arc::clone(&replication),
        Arc::clone(&current.pools),
    ) {
        Ok(next) => {
            let number = next.number;
            crate::pools::warn_conflicts(&next.zones);
            // The members in force before the pools that serve them: a drain
            // of a new member works as soon as it is answered.
            current.pools.commit(plan);
            shared.generation.store(Arc::new(next));
            // Secondary tasks of zones gone or changed stop before the lock
            // goes: none of them publishes into this generation.
            replication.stop_stale(&cfgs);
            drop(publishing);
            metrics::counter!(RELOADS, "result" => "ok").increment(1);
            metrics::counter!(ZONE_LOADS, "result" => "ok").increment(loaded as u64);
            metrics::counter!(ZONE_LOADS, "result" => "error").increment(failed.len() as u64);
            tracing::info!(generation = number, file = %path.display(), "configuration reloaded");
            // Primary zones whose serial changed: journal the difference
            // (for IXFR) and tell the secondaries.
            let mut changed = Vec::new();
            for cfg in cfgs.iter().filter(|c| !c.is_secondary()) {
                let Some(new) = zones.iter().find(|z| z.apex() == cfg.apex) else {
                    continue;
                };
                match latest.zones.get(&cfg.apex) {
                    Some(old) if old.serial() == new.serial() => {
                        if !Arc::ptr_eq(old, new) && stale.contains(&cfg.apex) {
                            replication.forget_journal(&cfg.origin, &cfg.apex);
                        }
                    }
                    Some(old) => {
                        if !cfg.allow_transfer.is_empty() {
                            replication.record_change(old, new);
                        }
                        changed.push(Arc::clone(new));
                    }
                    None => changed.push(Arc::clone(new)),
                }
            }
            replication.configure(shared, &cfgs, &changed);
            vrrp
        }
        Err(e) => {
            tracing::error!(error = %e, "reload refused; the running configuration stays in force");
            metrics::counter!(RELOADS, "result" => "error").increment(1);
            None
        }
    }
}
