//! The metrics listener: Prometheus text at `/metrics`, the daemon's state
//! as JSON at `/status` (read by `palanquin status`). HTTP/1.x, one request
//! per connection, bounded in size and time.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::server::Shared;

const MAX_REQUEST: usize = 8192;
const TIMEOUT: Duration = Duration::from_secs(5);

/// Serves until cancelled.
pub(crate) async fn serve(
    listener: TcpListener,
    handle: PrometheusHandle,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) {
    let mut clients = JoinSet::new();
    loop {
        let stream = tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        while clients.try_join_next().is_some() {}
        if clients.len() >= 64 {
            continue; // busy: drop the connection
        }
        let (handle, shared) = (handle.clone(), Arc::clone(&shared));
        clients.spawn(async move {
            let _ = tokio::time::timeout(TIMEOUT, respond(stream, &handle, &shared)).await;
        });
    }
}

async fn respond(mut stream: TcpStream, handle: &PrometheusHandle, shared: &Shared) -> std::io::Result<()> {
    let mut request = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < MAX_REQUEST {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&chunk[..n]);
    }
    let line =
        String::from_utf8_lossy(request.split(|&b| b == b'\r').next().unwrap_or_default()).into_owned();
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => {
            update_gauges(shared);
            handle.run_upkeep();
            (
                "200 OK",
                "text/plain; version=0.0.4",
                crate::metrics::render(handle),
            )
        }
        ("GET", "/status") => ("200 OK", "application/json", status(shared).to_string()),
        ("GET", _) => (
            "404 Not Found",
            "text/plain",
            "try /metrics or /status\n".to_owned(),
        ),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n".to_owned()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

fn update_gauges(shared: &Shared) {
    let generation = shared.generation.load();
    if let Some(service) = &generation.service {
        metrics::gauge!(palanquin_resolver::metrics::CACHE_ENTRIES).set(service.cache().len() as f64);
    }
    metrics::gauge!(crate::metrics::GENERATION).set(generation.number as f64);
}

/// The `/status` document.
pub(crate) fn status(shared: &Shared) -> Value {
    let generation = shared.generation.load();
    let resolver = generation.service.as_ref().map(|service| {
        let sets: serde_json::Map<String, Value> = service
            .upstream_status()
            .into_iter()
            .map(|(set, ups)| {
                let list: Vec<Value> = ups
                    .iter()
                    .map(|u| {
                        json!({
                            "addr": u.addr.to_string(),
                            "state": u.state.as_str(),
                            "srtt_ms": u.srtt.map(|d| d.as_secs_f64() * 1e3),
                            "consecutive_failures": u.consecutive_failures,
                            "sent": u.sent,
                            "answered": u.answered,
                            "failed": u.failed,
                        })
                    })
                    .collect();
                (set, Value::Array(list))
            })
            .collect();
        json!({
            "cache": { "entries": service.cache().len(), "capacity": generation.settings.cache_size },
            "inflight": service.inflight(),
            "upstreams": sets,
        })
    });
    let statuses = generation.replication.statuses();
    let secs = |t: Option<std::time::SystemTime>| {
        t.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
    };
    let zones: Vec<Value> = generation
        .zones
        .iter()
        .map(|z| {
            let cfg = generation.settings.zones.iter().find(|c| c.apex == z.apex());
            let st = statuses.get(z.name()).cloned().unwrap_or_default();
            json!({
                "zone": z.name(),
                "role": cfg.map_or("primary", |c| c.role()),
                "state": match (z.is_unavailable(), st.expired) {
                    (false, _) => "ok",
                    (true, true) => "expired",
                    (true, false) => "no data",
                },
                "serial": (!z.is_unavailable()).then(|| z.serial()),
                "records": z.records(),
                "file": cfg.map_or_else(|| z.file().display().to_string(), |c| c.file.display().to_string()),
                "primaries": cfg.map(|c| c.primaries.iter().map(ToString::to_string).collect::<Vec<_>>()),
                "notify": cfg.map(|c| c.notify.iter().map(ToString::to_string).collect::<Vec<_>>()),
                "tsig_key": cfg.and_then(|c| c.key.as_ref().map(|k| k.name().to_owned())),
                "last_transfer": secs(st.last_transfer),
                "last_transfer_kind": (!st.last_transfer_kind.is_empty()).then_some(st.last_transfer_kind),
                "last_transfer_from": st.last_transfer_from,
                "last_transfer_records": st.last_transfer.map(|_| st.last_transfer_records),
                "last_transfer_bytes": st.last_transfer.map(|_| st.last_transfer_bytes),
                "last_check": secs(st.last_check),
                "next_refresh": secs(st.next_refresh),
                "expires": secs(st.expires),
                "last_error": st.last_error,
                "journal": st.journal,
            })
        })
        .collect();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "zones": zones,
        "uptime_s": shared.started.elapsed().as_secs(),
        "config": generation.settings.path.display().to_string(),
        "generation": generation.number,
        "listen": generation.settings.listen.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "resolver": resolver,
        "pools": generation.pools.snapshot(generation.zones.pools()),
        "vrrp": crate::vrrp::status(&shared.vrrp.load()),
        "pending_resolutions": crate::server::MAX_PENDING - shared.pending.available_permits(),
    })
}
