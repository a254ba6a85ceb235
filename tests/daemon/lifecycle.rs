//! Starting and stopping: a clean stop logs no panic; a second instance on
//! the same addresses is refused at start, naming the address.

use std::process::Command;
use std::time::Duration;

use palanquin_testkit::daemon::{status_of, Daemon};
use palanquin_testkit::fake::{Behaviour, Fake};

use crate::{bin, config, dig_async, ip, sa};

/// Runs `serve --config path`, which must fail at start: its stderr and
/// whether it exited with success. One still running after 10 s started
/// when it should not have: it is killed and the test fails.
async fn serve_must_fail(path: std::path::PathBuf) -> (bool, String) {
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(bin())
            .args(["serve", "--config"])
            .arg(path)
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn serve");
        let until = std::time::Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if std::time::Instant::now() > until {
                let _ = child.kill();
                let _ = child.wait();
                panic!("serve started beside another server on the same address");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        (status.success(), err)
    })
    .await
    .expect("thread")
}

/// Every UDP worker has served traffic (several workers, many queries),
/// then SIGTERM: the process exits 0 and nothing panicked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_after_traffic_stops_without_a_panic() {
    let upstream = Fake::start(ip(91, 2), Behaviour::Answer).await;
    let addr = sa("127.0.91.1:5391");
    let cfg = config(addr, upstream.addr, "").replace("[server]\n", "[server]\nudp_workers = 4\n");
    let mut daemon = Daemon::start(bin(), addr, &cfg);
    for i in 0..20 {
        let out = dig_async(addr, &format!("n{i}.example.test"), "A", &[]).await;
        assert_eq!(status_of(&out), "NOERROR", "{out}");
    }
    assert_eq!(daemon.stop(Duration::from_secs(5)), Some(0), "{}", daemon.log());
    let log = daemon.log();
    assert!(!log.contains("panicked"), "a clean stop logged a panic:\n{log}");
    assert!(!log.contains("UDP worker thread panicked"), "{log}");
}

/// A second `serve` with the same configuration must not share the ports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_on_the_same_addresses_fails_at_start() {
    let upstream = Fake::start(ip(91, 12), Behaviour::Answer).await;
    let addr = sa("127.0.91.11:5391");
    let first = Daemon::start(bin(), addr, &config(addr, upstream.addr, ""));
    let (ok, stderr) = serve_must_fail(first.config_path()).await;
    assert!(!ok, "the second instance started:\n{stderr}");
    assert!(
        stderr.contains("127.0.91.11:5391") && stderr.contains("already in use"),
        "the error names the address: {stderr}"
    );
    // The first one still answers, alone.
    let out = dig_async(addr, "still.example.test", "A", &[]).await;
    assert_eq!(status_of(&out), "NOERROR", "{out}");
}

/// Someone else holding only the UDP port, with SO_REUSEPORT as another
/// palanquin or an Unbound with `so-reuseport` does (so our own workers'
/// binds would succeed beside it), is found by the probe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_udp_port_held_by_another_program_is_refused() {
    let holder = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).expect("socket");
    holder.set_reuse_port(true).expect("SO_REUSEPORT");
    holder
        .bind(&sa("127.0.91.21:5391").into())
        .expect("hold the port");
    let holder: std::net::UdpSocket = holder.into();
    let upstream = Fake::start(ip(91, 22), Behaviour::Answer).await;
    let addr = holder.local_addr().expect("addr");
    let dir = std::env::temp_dir().join(format!("palanquin-udp-held-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("palanquin.toml");
    std::fs::write(&path, config(addr, upstream.addr, "")).expect("write");
    let (ok, stderr) = serve_must_fail(path).await;
    assert!(!ok, "started beside another UDP server:\n{stderr}");
    assert!(stderr.contains("udp 127.0.91.21:5391"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Started with a low open-file soft limit, the daemon raises it to the
/// hard limit (each TCP connection and each upstream query holds one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_file_soft_limit_is_raised_to_the_hard_limit() {
    let upstream = Fake::start(ip(91, 32), Behaviour::Answer).await;
    let addr = sa("127.0.91.31:5391");
    let dir = std::env::temp_dir().join(format!("palanquin-nofile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("palanquin.toml");
    std::fs::write(&path, config(addr, upstream.addr, "")).expect("write");
    let script = format!(
        "ulimit -S -n 256 && exec {} serve --config {}",
        bin().display(),
        path.display()
    );
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Wait until it answers, then read its limits.
    let mut answered = false;
    for _ in 0..50 {
        if status_of(&dig_async(addr, "x.example.test", "A", &["+time=1"]).await) == "NOERROR" {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
    assert!(answered, "the daemon never answered");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("limits");
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[3], fields[4], "soft = hard: {line}");
    assert_ne!(fields[3], "256", "{line}");
}
