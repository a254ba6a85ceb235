//! Readiness for systemd's `Type=notify` (sd_notify through the `sd-notify`
//! crate): `READY=1` once every listener is bound and serving, `STOPPING=1`
//! when the drain begins. Without `NOTIFY_SOCKET` (not under systemd) both
//! do nothing.

use sd_notify::NotifyState;

fn notify(state: &[NotifyState<'_>], what: &str) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!(error = %e, "cannot tell systemd that the daemon is {what}");
    }
}

/// Every listener is bound and serving.
pub(crate) fn ready() {
    notify(&[NotifyState::Ready], "ready");
}

/// Shutdown has begun.
pub(crate) fn stopping() {
    notify(&[NotifyState::Stopping], "stopping");
}
