//! Pool members for tests: a TCP listener on an address of its own that
//! behaves one way (accepts, answers HTTP or HTTPS, or misbehaves), run on
//! threads, and gone (connections refused) when stopped or dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How a backend answers a connection.
#[derive(Clone)]
pub enum Mode {
    /// Accepts, then closes (a TCP check's "up").
    Accept,
    /// Reads an HTTP request, answers `status` with `body`.
    Http(u16, &'static str),
    /// The same over TLS with this server configuration.
    Https(Arc<rustls::ServerConfig>, u16, &'static str),
    /// Accepts and says nothing, ever (a TLS client waits in its handshake).
    Hang,
    /// Accepts and resets the connection (RST, SO_LINGER 0).
    Reset,
    /// Answers bytes that are not HTTP.
    Garbage,
    /// Answers 200 with a body that never ends.
    EndlessBody,
    /// Answers a head that never ends (a header of megabytes).
    HugeHeader,
}

/// A running backend.
pub struct Backend {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Backend {
    /// Listens on `addr` and serves every connection as `mode` says.
    pub fn start(addr: SocketAddr, mode: Mode) -> Backend {
        let socket = socket(addr);
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (s, a) = (Arc::clone(&stop), Arc::clone(&accepted));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match socket.accept() {
                    Ok((conn, _)) => {
                        a.fetch_add(1, Ordering::Relaxed);
                        let (mode, s) = (mode.clone(), Arc::clone(&s));
                        std::thread::spawn(move || serve(conn, &mode, &s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Backend {
            addr,
            stop,
            accepted,
            thread: Some(thread),
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Stops listening: new connections are refused.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.halt();
    }
}

fn socket(addr: SocketAddr) -> TcpListener {
    // std sets SO_REUSEADDR: a test can start a member again at once.
    let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("backend {addr}: {e}"));
    listener.set_nonblocking(true).expect("nonblocking");
    listener
}

/// Reads a request head (up to its blank line), giving up after a while.
fn read_head(conn: &mut impl Read) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 65536 {
            return false;
        }
    }
    true
}

fn answer(conn: &mut impl Write, status: u16, body: &str) {
    let _ = write!(
        conn,
        "HTTP/1.1 {status} Test\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.flush();
}

fn serve(mut conn: TcpStream, mode: &Mode, stop: &AtomicBool) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    match mode {
        Mode::Accept => {}
        Mode::Http(status, body) => {
            if read_head(&mut conn) {
                answer(&mut conn, *status, body);
            }
        }
        Mode::Https(config, status, body) => {
            let Ok(tls) = rustls::ServerConnection::new(Arc::clone(config)) else {
                return;
            };
            let mut stream = rustls::StreamOwned::new(tls, conn);
            if read_head(&mut stream) {
                answer(&mut stream, *status, body);
                stream.conn.send_close_notify();
                let _ = stream.flush();
            }
        }
        Mode::Hang => {
            let mut sink = [0u8; 4096];
            let _ = conn.set_read_timeout(Some(Duration::from_millis(50)));
            while !stop.load(Ordering::Relaxed) {
                if let Ok(0) = conn.read(&mut sink) {
                    break;
                }
            }
        }
        Mode::Reset => {
            let _ = nix::sys::socket::setsockopt(
                &conn,
                nix::sys::socket::sockopt::Linger,
                &nix::libc::linger {
                    l_onoff: 1,
                    l_linger: 0,
                },
            );
        }
        Mode::Garbage => {
            if read_head(&mut conn) {
                let _ = conn.write_all(b"\x00\x01garbage that is no HTTP at all\r\n\r\n");
            }
        }
        Mode::EndlessBody => {
            if read_head(&mut conn) {
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n");
                let block = [b'x'; 8192];
                while !stop.load(Ordering::Relaxed) && conn.write_all(&block).is_ok() {}
            }
        }
        Mode::HugeHeader => {
            if read_head(&mut conn) {
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nX-Big: ");
                let block = [b'y'; 8192];
                while !stop.load(Ordering::Relaxed) && conn.write_all(&block).is_ok() {}
            }
        }
    }
}

/// A TLS server configuration with a fresh self-signed certificate for
/// `names`, and that certificate in PEM (a CA file for the client).
pub fn tls_server(names: &[&str]) -> (Arc<rustls::ServerConfig>, String) {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let cert = rcgen::generate_simple_self_signed(names).expect("certificate");
    let pem = cert.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .expect("server config");
    (Arc::new(config), pem)
}
