//! The local control socket (`[control].socket`): a Unix socket, mode 0660
//! (root and the daemon's group), one request line in, one JSON document
//! out, then the connection closes. `palanquin pool` is its client; later
//! commands join it here.
//!
//! ```text
//!  "pool list"                     ─▶ {"ok": true, "pools": [...]}
//!  "pool drain ZONE POOL MEMBER"   ─▶ {"ok": true, "changed": true|false}
//!  "pool undrain ZONE POOL MEMBER" ─▶ {"ok": true, "changed": ...}
//!  anything else                   ─▶ {"ok": false, "error": "..."}
//! ```

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::server::Shared;

/// The longest request line.
const MAX_REQUEST: u64 = 4096;
/// A client that says nothing for this long is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more wait in the listen queue.
const MAX_CLIENTS: usize = 16;

/// The bound socket; the file goes when this is dropped.
pub(crate) struct Bound {
    listener: std::os::unix::net::UnixListener,
    path: PathBuf,
}

impl Drop for Bound {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds the control socket at `path`: its folder is made if missing
/// (mode 0750); a socket file left by a daemon that is gone is replaced,
/// one that a live daemon answers on is not.
pub(crate) fn bind(path: &Path) -> anyhow::Result<Bound> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot make the folder of the control socket {}", path.display()))?;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750));
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            anyhow::bail!(
                "control socket {}: a file that is not a socket is in the way",
                path.display()
            );
        }
        // Replaced only when nobody listens there (refused); any other
        // failure to connect (permissions, say) may be a live daemon's
        // socket. (A live daemon with a full backlog would make this
        // connect wait; it answers one request at a time, within 5 s.)
        match std::os::unix::net::UnixStream::connect(path) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
            Ok(_) => anyhow::bail!(
                "control socket {}: another palanquin answers there",
                path.display()
            ),
            Err(e) => anyhow::bail!(
                "control socket {}: in the way, and cannot tell whether a daemon uses it: {e}",
                path.display()
            ),
        }
        std::fs::remove_file(path)
            .with_context(|| format!("cannot replace the stale control socket {}", path.display()))?;
    }
    // Created 0660 from the start (umask 0117 while binding), not chmod-ed
    // after a moment of whatever the umask allowed. The umask is the
    // process's: this runs once, at start-up, before anything else creates
    // files (keep it there).
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o117));
    let bound = std::os::unix::net::UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = bound.with_context(|| format!("cannot bind the control socket {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).with_context(|| {
        format!(
            "cannot set the permissions of the control socket {}",
            path.display()
        )
    })?;
    listener.set_nonblocking(true)?;
    Ok(Bound {
        listener,
        path: path.to_owned(),
    })
}

/// Serves the control socket until `cancel`.
pub(crate) async fn serve(bound: Bound, shared: Arc<Shared>, cancel: CancellationToken) {
    let listener = match bound.listener.try_clone().and_then(UnixListener::from_std) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "control socket unusable");
            return;
        }
    };
    let mut clients = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            Some(_) = clients.join_next(), if !clients.is_empty() => {}
            accepted = listener.accept(), if clients.len() < MAX_CLIENTS => match accepted {
                Ok((stream, _)) => {
                    let shared = Arc::clone(&shared);
                    clients.spawn(async move {
                        let (read, mut write) = stream.into_split();
                        let mut line = String::new();
                        let mut reader = BufReader::new(read).take(MAX_REQUEST);
                        let answer = match tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line)).await {
                            Ok(Ok(_)) => handle(&shared, line.trim()),
                            Ok(Err(e)) => json!({"ok": false, "error": format!("cannot read the request: {e}")}),
                            Err(_) => return,
                        };
                        // A client that does not read its answer is dropped too.
                        let _ = tokio::time::timeout(REQUEST_TIMEOUT, write.write_all(format!("{answer}\n").as_bytes())).await;
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(bound);
}

/// The answer to one request line.
pub(crate) fn handle(shared: &Shared, request: &str) -> Value {
    let words: Vec<&str> = request.split_whitespace().collect();
    let generation = shared.generation.load();
    match words.as_slice() {
        ["pool", "list"] => json!({"ok": true, "pools": generation.pools.snapshot(generation.zones.pools())}),
        ["pool", verb @ ("drain" | "undrain"), zone, pool, member] => {
            match generation.pools.drain(zone, pool, member, *verb == "drain") {
                Ok(changed) => json!({"ok": true, "changed": changed}),
                Err(e) => json!({"ok": false, "error": e}),
            }
        }
        _ => {
            json!({"ok": false, "error": format!("unknown request {request:?} (pool list | pool drain|undrain ZONE POOL MEMBER)")})
        }
    }
}
