//! Fake upstreams on loopback, one per behaviour, each counting the queries
//! it receives. UDP and TCP are served on the same address and port.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinSet;

/// The address every fake answers for A queries of existing names.
pub const IPV4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// ... and for AAAA.
pub const IPV6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
/// What forged replies claim.
pub const FORGED: Ipv4Addr = Ipv4Addr::new(6, 6, 6, 6);

/// How a fake upstream behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Behaviour {
    /// Answers at once: names with a label starting with `nx` are NXDOMAIN, others exist.
    Answer,
    /// Reads and never answers.
    BlackHole,
    /// Answers every query with this response code.
    Rcode(ResponseCode),
    /// Answers after this delay.
    Slow(Duration),
    /// Sets TC with no records over UDP; answers fully over TCP.
    Truncating,
    /// Sets TC over UDP; closes every TCP connection unanswered (TCP/53
    /// filtered or broken).
    TruncatingNoTcp,
    /// Answers A queries with [`OVERSIZED_RECORDS`] addresses (about 4.8 KB)
    /// in one UDP datagram, TC clear, ignoring the advertised size; the
    /// same over TCP.
    Oversized,
    /// Answers honestly, plus `www.bank.test. A 6.6.6.6` in the answer,
    /// authority and additional sections (cache poisoning by an upstream).
    Poisoner,
    /// Sends a reply with the wrong ID, one for the wrong question and one
    /// from another source port, all claiming FORGED; then the real answer.
    Forger,
}

/// A running fake; stops when dropped.
pub struct Fake {
    /// Where it listens (UDP and TCP).
    pub addr: SocketAddr,
    udp_queries: Arc<AtomicUsize>,
    tcp_queries: Arc<AtomicUsize>,
    _tasks: JoinSet<()>,
}

impl Fake {
    /// Starts a fake on `ip`, an ephemeral port.
    pub async fn start(ip: IpAddr, behaviour: Behaviour) -> Fake {
        Self::start_on(SocketAddr::new(ip, 0), behaviour).await
    }

    /// Starts a fake on exactly `addr` (to bring a stopped upstream back).
    pub async fn start_on(addr: SocketAddr, behaviour: Behaviour) -> Fake {
        let udp = UdpSocket::bind(addr).await.expect("bind fake UDP");
        let addr = udp.local_addr().expect("local addr");
        let tcp = TcpListener::bind(addr)
            .await
            .expect("bind fake TCP on the same port");
        let udp_queries = Arc::new(AtomicUsize::new(0));
        let tcp_queries = Arc::new(AtomicUsize::new(0));
        let mut tasks = JoinSet::new();
        tasks.spawn(serve_udp(Arc::new(udp), behaviour, Arc::clone(&udp_queries)));
        tasks.spawn(serve_tcp(tcp, behaviour, Arc::clone(&tcp_queries)));
        Fake {
            addr,
            udp_queries,
            tcp_queries,
            _tasks: tasks,
        }
    }

    /// Queries received over UDP and TCP.
    pub fn queries(&self) -> usize {
        self.udp_queries.load(Ordering::SeqCst) + self.tcp_queries.load(Ordering::SeqCst)
    }

    /// Queries received over TCP.
    pub fn tcp_queries(&self) -> usize {
        self.tcp_queries.load(Ordering::SeqCst)
    }
}

/// A loopback address with nothing listening on the returned port.
pub async fn closed_port(ip: IpAddr) -> SocketAddr {
    let s = UdpSocket::bind(SocketAddr::new(ip, 0)).await.expect("bind");
    s.local_addr().expect("addr")
}

/// The answer an honest server gives to `query`.
pub fn respond(query: &Message, rcode: ResponseCode, with_records: bool) -> Message {
    let mut resp = Message::response(query.metadata.id, OpCode::Query);
    resp.metadata.recursion_desired = query.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.add_queries(query.queries.iter().cloned());
    if query.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        resp.set_edns(edns);
    }
    let Some(q) = query.queries.first() else {
        resp.metadata.response_code = ResponseCode::FormErr;
        return resp;
    };
    let nx = q.name().iter().any(|label| label.starts_with(b"nx"));
    if rcode != ResponseCode::NoError {
        resp.metadata.response_code = rcode;
    } else if nx {
        resp.metadata.response_code = ResponseCode::NXDomain;
    } else if with_records {
        let name: Name = q.name().clone();
        match q.query_type() {
            RecordType::A => {
                resp.add_answer(Record::from_rdata(name, 60, RData::A(A(IPV4))));
            }
            RecordType::AAAA => {
                resp.add_answer(Record::from_rdata(name, 60, RData::AAAA(AAAA(IPV6))));
            }
            _ => {}
        }
    }
    resp
}

/// How many A records an [`Behaviour::Oversized`] answer carries.
pub const OVERSIZED_RECORDS: u8 = 250;

fn oversized(query: &Message) -> Message {
    let mut resp = respond(query, ResponseCode::NoError, false);
    if let Some(q) = query.queries.first() {
        for i in 0..OVERSIZED_RECORDS {
            let a = Ipv4Addr::new(192, 0, 2, i);
            resp.add_answer(Record::from_rdata(q.name().clone(), 60, RData::A(A(a))));
        }
    }
    resp
}

fn poisoned(query: &Message) -> Message {
    let mut resp = respond(query, ResponseCode::NoError, true);
    let bank = || {
        Record::from_rdata(
            Name::from_ascii("www.bank.test.").expect("name"),
            60,
            RData::A(A(FORGED)),
        )
    };
    resp.add_answer(bank());
    resp.add_authority(bank());
    resp.add_additional(bank());
    resp
}

fn forged(query: &Message) -> Message {
    let mut resp = respond(query, ResponseCode::NoError, false);
    if let Some(q) = query.queries.first() {
        resp.add_answer(Record::from_rdata(q.name().clone(), 60, RData::A(A(FORGED))));
    }
    resp
}

fn wire(msg: &Message) -> Vec<u8> {
    msg.to_vec().expect("encode")
}

async fn serve_udp(socket: Arc<UdpSocket>, behaviour: Behaviour, count: Arc<AtomicUsize>) {
    let mut buf = vec![0u8; 65_535];
    let mut replies = JoinSet::new();
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        count.fetch_add(1, Ordering::SeqCst);
        let Ok(query) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        let socket = Arc::clone(&socket);
        replies.spawn(async move {
            match behaviour {
                Behaviour::BlackHole => {}
                Behaviour::Answer => {
                    let _ = socket
                        .send_to(&wire(&respond(&query, ResponseCode::NoError, true)), peer)
                        .await;
                }
                Behaviour::Rcode(rcode) => {
                    let _ = socket.send_to(&wire(&respond(&query, rcode, false)), peer).await;
                }
                Behaviour::Slow(delay) => {
                    tokio::time::sleep(delay).await;
                    let _ = socket
                        .send_to(&wire(&respond(&query, ResponseCode::NoError, true)), peer)
                        .await;
                }
                Behaviour::Oversized => {
                    let _ = socket.send_to(&wire(&oversized(&query)), peer).await;
                }
                Behaviour::Poisoner => {
                    let _ = socket.send_to(&wire(&poisoned(&query)), peer).await;
                }
                Behaviour::Truncating | Behaviour::TruncatingNoTcp => {
                    let mut resp = respond(&query, ResponseCode::NoError, false);
                    resp.metadata.truncation = true;
                    let _ = socket.send_to(&wire(&resp), peer).await;
                }
                Behaviour::Forger => {
                    let mut wrong_id = forged(&query);
                    wrong_id.metadata.id = query.metadata.id.wrapping_add(1);
                    let _ = socket.send_to(&wire(&wrong_id), peer).await;
                    let mut wrong_q = query.clone();
                    if let Some(q) = wrong_q.queries.first_mut() {
                        q.set_name(Name::from_ascii("forged.invalid.").expect("name"));
                    }
                    let _ = socket.send_to(&wire(&forged(&wrong_q)), peer).await;
                    if let Ok(other) = UdpSocket::bind((socket.local_addr().expect("addr").ip(), 0)).await {
                        let _ = other.send_to(&wire(&forged(&query)), peer).await;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let _ = socket
                        .send_to(&wire(&respond(&query, ResponseCode::NoError, true)), peer)
                        .await;
                }
            }
        });
        while replies.try_join_next().is_some() {}
    }
}

async fn serve_tcp(listener: TcpListener, behaviour: Behaviour, count: Arc<AtomicUsize>) {
    let mut conns = JoinSet::new();
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        if behaviour == Behaviour::TruncatingNoTcp {
            count.fetch_add(1, Ordering::SeqCst);
            drop(stream);
            continue;
        }
        let count = Arc::clone(&count);
        conns.spawn(async move {
            loop {
                let Ok(len) = stream.read_u16().await else { return };
                let mut buf = vec![0u8; usize::from(len)];
                if stream.read_exact(&mut buf).await.is_err() {
                    return;
                }
                count.fetch_add(1, Ordering::SeqCst);
                let Ok(query) = Message::from_vec(&buf) else {
                    return;
                };
                let resp = match behaviour {
                    Behaviour::BlackHole => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        return;
                    }
                    Behaviour::Rcode(rcode) => respond(&query, rcode, false),
                    Behaviour::Oversized => oversized(&query),
                    Behaviour::Poisoner => poisoned(&query),
                    Behaviour::Slow(delay) => {
                        tokio::time::sleep(delay).await;
                        respond(&query, ResponseCode::NoError, true)
                    }
                    _ => respond(&query, ResponseCode::NoError, true),
                };
                let out = wire(&resp);
                let mut framed = (out.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&out);
                if stream.write_all(&framed).await.is_err() {
                    return;
                }
            }
        });
        while conns.try_join_next().is_some() {}
    }
}
