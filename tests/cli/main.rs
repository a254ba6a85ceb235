//! Process tests of the `palanquin` binary (spawned through
//! `CARGO_BIN_EXE_palanquin`) against fake upstreams on loopback: `query`
//! (query.rs), and a running daemon as its operator sees it: `status`,
//! `/metrics`, systemd readiness (serve.rs); the README's example and links
//! (readme.rs). Each test owns its addresses
//! (127.0.4x.y).

mod query;
mod readme;
mod serve;

use std::process::Stdio;

/// Runs `palanquin ARGS` with stdout a pipe whose reading end is closed
/// before the program writes; returns its exit code and stderr.
pub(crate) async fn closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_palanquin"))
        .args(args)
        .env("PALANQUIN_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run palanquin");
    drop(child.stdout.take());
    let out = child.wait_with_output().await.expect("wait");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
