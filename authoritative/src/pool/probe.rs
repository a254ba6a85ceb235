//! The checks themselves, the one part of the crate that opens sockets and
//! starts processes: a TCP connect, an HTTP GET, a DNS question, a
//! command. Each ends within its timeout as an [`Outcome`] whose reason an
//! operator can read; nothing a target does (hang, reset, answer garbage,
//! send without end) outlives the timeout or holds more than a bounded
//! buffer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::Stdio;
use std::time::{Duration, Instant};

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::health::Outcome;
use super::{dns, http, tls};

/// What a member is checked with.
#[derive(Debug, Clone)]
pub enum Probe {
    /// A TCP connection to the port.
    Tcp,
    /// An HTTP request (see [`http::request`]), judged by `expect`; over
    /// TLS with `tls` (see [`tls::client`]), the certificate checked for
    /// `host` (or the member's address).
    Http {
        /// The request's bytes.
        request: Vec<u8>,
        /// What passes.
        expect: http::Expect,
        /// HTTPS.
        tls: Option<Arc<rustls::ClientConfig>>,
        /// The Host header's name.
        host: Option<String>,
    },
    /// A DNS question for `name` (wire form), answered NOERROR (with
    /// `address` when given).
    Dns {
        /// The name asked.
        name: Vec<u8>,
        /// An address the answer must hold.
        address: Option<IpAddr>,
    },
    /// A command; exit status 0 passes. `{addr}` in an argument becomes
    /// the member's address. With `shell`, the arguments joined by spaces
    /// are run by `/bin/sh -c`.
    Exec {
        /// The program and its arguments.
        command: Vec<String>,
        /// Through the shell.
        shell: bool,
    },
    /// A check that cannot run as configured (its TLS client could not be
    /// set up, say): it fails, with this reason.
    Broken(String),
}

/// Checks member `addr` (`port`, for the network checks) with `probe`,
/// giving up after `timeout`.
pub async fn run(probe: &Probe, addr: IpAddr, port: u16, timeout: Duration) -> Outcome {
    let started = Instant::now();
    let target = SocketAddr::new(addr, port);
    // Where the check is, for the reason when it times out.
    let stage = Stage(std::sync::Mutex::new("connecting"));
    let result = match probe {
        // Its own timeout: the whole process group is killed at it.
        Probe::Exec { command, shell } => exec(command, *shell, addr, timeout).await,
        _ => match tokio::time::timeout(timeout, check(probe, target, &stage)).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "timed out after {} ms {}",
                timeout.as_millis(),
                stage.get()
            )),
        },
    };
    let latency = started.elapsed();
    match result {
        Ok(reason) => Outcome {
            ok: true,
            reason,
            latency,
        },
        Err(reason) => Outcome {
            ok: false,
            reason,
            latency,
        },
    }
}

/// Where a check is, for the reason when it times out (shared with the
/// timeout's side: a Mutex rather than a Cell keeps the future Send).
struct Stage(std::sync::Mutex<&'static str>);

impl Stage {
    fn set(&self, at: &'static str) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = at;
    }

    fn get(&self) -> &'static str {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn check(probe: &Probe, target: SocketAddr, stage: &Stage) -> Result<String, String> {
    match probe {
        Probe::Tcp => {
            let stream = connect(target).await?;
            // Closed with a reset, as HAProxy closes its checks: no FIN
            // exchange, and no TIME_WAIT left behind per check (thousands a
            // second would otherwise hold as many ports and timers).
            let _ = stream.set_zero_linger();
            Ok("connected".into())
        }
        Probe::Http {
            request,
            expect,
            tls,
            host,
        } => {
            let stream = connect(target).await?;
            match tls {
                None => exchange(stream, request, expect, stage).await,
                Some(config) => {
                    stage.set("in the TLS handshake");
                    let name = tls::server_name(host.as_deref(), target.ip());
                    let stream = tokio_rustls::TlsConnector::from(Arc::clone(config))
                        .connect(name, stream)
                        .await
                        .map_err(|e| format!("TLS: {e}"))?;
                    exchange(stream, request, expect, stage).await
                }
            }
        }
        Probe::Dns { name, address } => {
            stage.set("waiting for the DNS answer");
            dns_check(target, name, *address).await
        }
        Probe::Exec { .. } => Err("internal: exec runs apart".into()),
        Probe::Broken(reason) => Err(reason.clone()),
    }
}

async fn connect(target: SocketAddr) -> Result<TcpStream, String> {
    TcpStream::connect(target).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        _ => format!("cannot connect: {e}"),
    })
}

/// Sends an HTTP request on `stream` and judges the answer.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &[u8],
    expect: &http::Expect,
    stage: &Stage,
) -> Result<String, String> {
    stage.set("sending the request");
    stream
        .write_all(request)
        .await
        .map_err(|e| format!("cannot send the request: {e}"))?;
    stage.set("waiting for the response");
    let mut response = http::Response::new(expect.clone());
    let mut buf = vec![0u8; 8192];
    loop {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| format!("the connection broke: {e}"))?;
        let verdict = if n == 0 {
            response.closed()
        } else {
            response.feed(&buf[..n])
        };
        match verdict {
            http::Verdict::More => {}
            http::Verdict::Pass(why) => return Ok(why),
            http::Verdict::Fail(why) => return Err(why),
        }
    }
}

async fn dns_check(target: SocketAddr, name: &[u8], address: Option<IpAddr>) -> Result<String, String> {
    let local = if target.is_ipv4() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
    } else {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| format!("cannot open a socket: {e}"))?;
    socket
        .connect(target)
        .await
        .map_err(|e| format!("cannot reach: {e}"))?;
    let query = dns::query(rand::random(), name, dns::rtype_for(address));
    socket
        .send(&query)
        .await
        .map_err(|e| format!("cannot send: {e}"))?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = socket.recv(&mut buf).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => "port unreachable".to_owned(),
            _ => format!("no answer: {e}"),
        })?;
        // Another datagram (a stale answer, a forgery) is skipped.
        if buf[..n].get(..2) != query.get(..2) {
            continue;
        }
        return dns::verdict(&query, &buf[..n], address);
    }
}

/// Runs the command in a process group of its own; at `timeout` the whole
/// group is killed (a shell's children and a script's too).
async fn exec(command: &[String], shell: bool, addr: IpAddr, timeout: Duration) -> Result<String, String> {
    let args: Vec<String> = command
        .iter()
        .map(|a| a.replace("{addr}", &addr.to_string()))
        .collect();
    let mut cmd = if shell {
        let mut c = tokio::process::Command::new("/bin/sh");
        c.arg("-c").arg(args.join(" "));
        c
    } else {
        let (program, rest) = args.split_first().ok_or("no command")?;
        let mut c = tokio::process::Command::new(program);
        c.args(rest);
        c
    };
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", args.first().map_or("", String::as_str)))?;
    // The whole group goes when the check ends, however it ends: at its
    // timeout, when it exits (whatever it left behind), or when the check
    // itself is dropped (a reload removed the member; shutdown).
    let group = KillGroup(child.id().and_then(|id| i32::try_from(id).ok()));
    // Its stderr is read as it comes (a command that writes a lot never
    // blocks on a full pipe); the last STDERR_KEPT bytes go into the reason.
    let mut stderr = child.stderr.take();
    let mut tail: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + timeout;
    let status = loop {
        tokio::select! {
            status = child.wait() => break Some(status),
            read = read_some(&mut stderr, &mut chunk), if stderr.is_some() => match read {
                Ok(n) if n > 0 => {
                    tail.extend_from_slice(&chunk[..n]);
                    let excess = tail.len().saturating_sub(STDERR_KEPT);
                    tail.drain(..excess);
                }
                _ => stderr = None,
            },
            () = tokio::time::sleep_until(deadline) => break None,
        }
    };
    let Some(status) = status else {
        group.kill();
        let _ = child.wait().await;
        return Err(format!("killed at its timeout of {} ms", timeout.as_millis()));
    };
    let status = status.map_err(|e| format!("cannot wait for the command: {e}"))?;
    // What it left behind goes; what it wrote before exiting is read.
    drop(group);
    let drain = async {
        while let Ok(n @ 1..) = read_some(&mut stderr, &mut chunk).await {
            tail.extend_from_slice(&chunk[..n]);
            let excess = tail.len().saturating_sub(STDERR_KEPT);
            tail.drain(..excess);
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(100), drain).await;
    let said = last_line(&tail);
    match status.code() {
        Some(0) => Ok("exit 0".into()),
        Some(code) if said.is_empty() => Err(format!("exit {code}")),
        Some(code) => Err(format!("exit {code}: {said}")),
        None => Err("killed by a signal".into()),
    }
}

/// Reads what `pipe` has (0 once it is gone).
async fn read_some(pipe: &mut Option<tokio::process::ChildStderr>, buf: &mut [u8]) -> std::io::Result<usize> {
    match pipe {
        Some(p) => p.read(buf).await,
        None => Ok(0),
    }
}

/// How much of an exec check's stderr is kept for its reason.
const STDERR_KEPT: usize = 512;

/// The last non-blank line of `bytes`, as text, at most 200 characters.
fn last_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    line.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// An exec check's process group, killed (SIGKILL) when this is dropped.
struct KillGroup(Option<i32>);

impl KillGroup {
    fn kill(&self) {
        if let Some(pgid) = self.0 {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl Drop for KillGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::{Read, Write};

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    const T: Duration = Duration::from_millis(500);

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 130, last])
    }

    /// A TCP server on `addr` that reads a request and writes `reply`, or
    /// (with `None`) holds the connection open and says nothing.
    fn http_server(addr: IpAddr, reply: Option<Vec<u8>>) -> u16 {
        let listener = std::net::TcpListener::bind((addr, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut buf = [0u8; 2048];
                let _ = conn.read(&mut buf);
                match &reply {
                    Some(r) => {
                        let _ = conn.write_all(r);
                    }
                    None => std::thread::sleep(Duration::from_secs(3)),
                }
            }
        });
        port
    }

    fn expect(body: Option<&str>) -> http::Expect {
        http::Expect {
            status: 200..=399,
            body: body.map(|b| b.as_bytes().to_vec()),
        }
    }

    #[tokio::test]
    async fn tcp_passes_on_a_listener_and_fails_on_a_closed_port() {
        let listener = tokio::net::TcpListener::bind((ip(1), 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = run(&Probe::Tcp, ip(1), port, T).await;
        assert!(up.ok, "{up:?}");
        drop(listener);
        let down = run(&Probe::Tcp, ip(1), port, T).await;
        assert_eq!((down.ok, down.reason.as_str()), (false, "connection refused"));
    }

    #[tokio::test]
    async fn http_judges_status_and_body_and_a_silent_server_times_out() {
        let req = http::request("/health", "www.example.test");
        let ok = http_server(
            ip(2),
            Some(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nhealthy".to_vec()),
        );
        let probe = |body| Probe::Http {
            request: req.clone(),
            expect: expect(body),
            tls: None,
            host: None,
        };
        assert!(run(&probe(Some("healthy")), ip(2), ok, T).await.ok);
        let wrong = run(&probe(Some("sick")), ip(2), ok, T).await;
        assert!(!wrong.ok && wrong.reason.contains("lacks"), "{wrong:?}");
        let down = http_server(
            ip(3),
            Some(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n".to_vec()),
        );
        assert_eq!(run(&probe(None), ip(3), down, T).await.reason, "HTTP 503");
        let garbage = http_server(ip(4), Some(b"SSH-2.0-OpenSSH_9.2\r\n".to_vec()));
        assert!(!run(&probe(None), ip(4), garbage, T).await.ok);
        let silent = http_server(ip(5), None);
        let started = Instant::now();
        let hung = run(&probe(None), ip(5), silent, T).await;
        assert!(!hung.ok && hung.reason.starts_with("timed out"), "{hung:?}");
        assert!(
            hung.reason.contains("waiting for the response"),
            "the stage is named: {hung:?}"
        );
        assert!(
            started.elapsed() < T + Duration::from_millis(400),
            "bounded by the timeout"
        );
    }

    #[tokio::test]
    async fn https_verifies_against_a_ca_file_or_not_at_all_and_refuses_an_unknown_issuer() {
        let made = rcgen::generate_simple_self_signed(vec!["www.example.test".to_owned()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(made.key_pair.serialize_der().into());
        let server =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![made.cert.der().clone()], key)
                .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let listener = tokio::net::TcpListener::bind((ip(9), 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut tls) = acceptor.accept(tcp).await {
                        let mut buf = [0u8; 2048];
                        let _ = tls.read(&mut buf).await;
                        let _ = tls
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                            .await;
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        let dir = std::env::temp_dir().join(format!("palanquin-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, made.cert.pem()).unwrap();
        let probe = |trust: tls::Trust<'_>, host: &str| Probe::Http {
            request: http::request("/", host),
            expect: expect(Some("ok")),
            tls: Some(tls::client(trust).unwrap()),
            host: Some(host.to_owned()),
        };
        let trusted = run(
            &probe(tls::Trust::CaFile(&ca), "www.example.test"),
            ip(9),
            port,
            T,
        )
        .await;
        assert!(trusted.ok, "{trusted:?}");
        let any = run(&probe(tls::Trust::Nothing, "other.test"), ip(9), port, T).await;
        assert!(any.ok, "{any:?}");
        let wrong_name = run(&probe(tls::Trust::CaFile(&ca), "other.test"), ip(9), port, T).await;
        assert!(
            !wrong_name.ok && wrong_name.reason.starts_with("TLS"),
            "{wrong_name:?}"
        );
        // The system's roots do not know a self-signed certificate (when the
        // system has roots at all: without any, the client is refused itself).
        if let Ok(system) = tls::client(tls::Trust::System) {
            let p = Probe::Http {
                request: http::request("/", "www.example.test"),
                expect: expect(None),
                tls: Some(system),
                host: Some("www.example.test".into()),
            };
            let unknown = run(&p, ip(9), port, T).await;
            assert!(!unknown.ok && unknown.reason.starts_with("TLS"), "{unknown:?}");
        }
        assert!(tls::client(tls::Trust::CaFile(&dir.join("missing.pem"))).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn dns_asks_the_member_and_a_silent_one_times_out() {
        let server = std::net::UdpSocket::bind((ip(6), 0)).unwrap();
        let port = server.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = server.recv_from(&mut buf) {
                let mut r = buf[..n].to_vec();
                r[2] = 0x84;
                r[7] = 1;
                r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 53]);
                let _ = server.send_to(&r, from);
            }
        });
        let probe = |address: Option<IpAddr>| Probe::Dns {
            name: b"\x06health\x05check\x00".to_vec(),
            address,
        };
        assert!(run(&probe(None), ip(6), port, T).await.ok);
        assert!(
            run(&probe(Some(IpAddr::from([192, 0, 2, 53]))), ip(6), port, T)
                .await
                .ok
        );
        let other = run(&probe(Some(IpAddr::from([192, 0, 2, 54]))), ip(6), port, T).await;
        assert!(!other.ok && other.reason.contains("without"), "{other:?}");
        let silent = std::net::UdpSocket::bind((ip(7), 0)).unwrap();
        let quiet_port = silent.local_addr().unwrap().port();
        let silent = run(&probe(None), ip(7), quiet_port, Duration::from_millis(200)).await;
        assert!(!silent.ok && silent.reason.starts_with("timed out"), "{silent:?}");
        assert!(
            silent.reason.contains("DNS answer"),
            "the stage is named: {silent:?}"
        );
    }

    #[tokio::test]
    async fn exec_passes_on_exit_0_substitutes_the_address_and_is_killed_at_its_timeout() {
        let exec = |command: &[&str], shell| Probe::Exec {
            command: command.iter().map(|s| (*s).to_owned()).collect(),
            shell,
        };
        assert!(run(&exec(&["/bin/true"], false), ip(8), 0, T).await.ok);
        assert_eq!(
            run(&exec(&["/bin/false"], false), ip(8), 0, T).await.reason,
            "exit 1"
        );
        assert!(
            run(
                &exec(&["/bin/sh", "-c", "test \"$0\" = 127.0.130.8", "{addr}"], false),
                ip(8),
                0,
                T
            )
            .await
            .ok
        );
        assert!(
            run(&exec(&["test {addr} = 127.0.130.8"], true), ip(8), 0, T)
                .await
                .ok
        );
        assert!(
            !run(&exec(&["test {addr} = 127.0.130.9"], true), ip(8), 0, T)
                .await
                .ok
        );
        // What it said on stderr, last line, is the reason; a flood of it
        // neither blocks the command nor grows without bound.
        let said = run(
            &exec(&["echo first >&2; echo 'backend 503' >&2; exit 3"], true),
            ip(8),
            0,
            T,
        )
        .await;
        assert_eq!(said.reason, "exit 3: backend 503");
        let flood = run(
            &exec(
                &["head -c 1000000 /dev/zero | tr '\\0' x >&2; echo >&2; echo done >&2; exit 2"],
                true,
            ),
            ip(8),
            0,
            T,
        )
        .await;
        assert_eq!(flood.reason, "exit 2: done");
        let started = Instant::now();
        let slow = run(
            &exec(&["/bin/sleep", "5"], false),
            ip(8),
            0,
            Duration::from_millis(200),
        )
        .await;
        assert!(
            !slow.ok && slow.reason.starts_with("killed at its timeout"),
            "{slow:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(1));
        // A shell's child goes with it: the whole group is killed.
        let pid_file = std::env::temp_dir().join(format!("palanquin-exec-{}", std::process::id()));
        let script = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
        let hung = run(
            &exec(&[script.as_str()], true),
            ip(8),
            0,
            Duration::from_millis(300),
        )
        .await;
        assert!(!hung.ok, "{hung:?}");
        let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_owned();
        let _ = std::fs::remove_file(&pid_file);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            state.is_empty() || state.contains(") Z "),
            "the shell's sleep {pid} still runs: {state}"
        );
        assert!(run(&exec(&["/nonexistent/check"], false), ip(8), 0, T)
            .await
            .reason
            .starts_with("cannot run"));
    }
}
