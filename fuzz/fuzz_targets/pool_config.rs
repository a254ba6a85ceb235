//! Fuzzes `[[zone.pool]]` through the daemon's own configuration reader
//! (src/config, mounted here as it is in the binary), then serves what it
//! accepted: every pool becomes a live pool in a zone, its members get
//! arbitrary standings, and a query for its name is answered. Invariants: no
//! panic; a refusal names a key and a line; an accepted pool
//! answers a well-formed reply whose addresses are members that are up (or,
//! with none up, what `all_down` allows), never a drained one, at most `max`.
//! A second half feeds the bytes, cut at arbitrary points, to the HTTP
//! check's response reader and the DNS check's verdict.
#![no_main]
#![allow(dead_code, unused_imports, unreachable_pub, missing_docs)]

#[path = "../../src/config/mod.rs"]
mod config;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use palanquin_authoritative::pool::health::State;
use palanquin_authoritative::pool::http::{Expect, Response, Verdict};
use palanquin_authoritative::pool::live::{LivePool, MemberCell};
use palanquin_authoritative::pool::policy::AllDown;
use palanquin_authoritative::{Context, Zones};

const HEAD: &str = "[server]\nlisten = [\"127.0.0.1:53\"]\n\n[[zone]]\norigin = \"example.test.\"\nfile = \"z\"\n[[zone.pool]]\n";

fn zone() -> Arc<palanquin_authoritative::Zone> {
    Arc::new(
        palanquin_authoritative::parse(
            "example.test.",
            Path::new("z"),
            b"@ 300 SOA ns1 hm 1 7200 3600 1209600 60\n@ 300 NS ns1\nns1 300 A 192.0.2.1\n",
        )
        .expect("fixed zone"),
    )
}

fn serve(data: &[u8], settings: &config::Settings) {
    let cfg = &settings.zones[0];
    for (n, pool) in cfg.pools.iter().enumerate() {
        assert!(!pool.members.is_empty());
        assert!(pool.check.timeout <= pool.check.interval);
        let cells: Vec<Arc<MemberCell>> = pool.members.iter().map(|_| Arc::new(MemberCell::new())).collect();
        for (i, c) in cells.iter().enumerate() {
            let bits = data.get(i % data.len().max(1)).copied().unwrap_or(0) >> (n % 4);
            c.set_health(match bits & 3 {
                0 => State::Unknown,
                1 => State::Up,
                _ => State::Down,
            });
            c.set_drained(bits & 4 != 0);
        }
        let live = Arc::new(LivePool::new(
            pool.spec(&cfg.apex),
            cells.clone(),
        ));
        let zones = Zones::new(vec![zone()]).with_pools(&[Arc::clone(&live)]);
        let mut q = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(&pool.name);
        q.extend_from_slice(&pool.rtype.to_be_bytes());
        q.extend_from_slice(&[0, 1]);
        let query = palanquin_wire::parse_query(&q).expect("our query");
        let Some(at) = zones.find(&query.qname) else { continue };
        let ctx = Context { client: Some(IpAddr::from([198, 51, 100, 7])), ..Context::default() };
        let reply = zones.answer(at, &q, &query, &ctx);
        let l = palanquin_wire::layout(&reply).expect("well formed");
        let any_up = pool.members.iter().zip(&cells).any(|(m, c)| !m.backup && c.usable() == palanquin_authoritative::pool::policy::Usable::Up);
        assert!(l.answers.len() <= pool.answer.max);
        for a in l.answers.iter().filter(|a| a.rtype == pool.rtype) {
            let rdata = &reply[a.rdata_at..a.end];
            let addr = match rdata.len() {
                4 => IpAddr::from(<[u8; 4]>::try_from(rdata).expect("4")),
                16 => IpAddr::from(<[u8; 16]>::try_from(rdata).expect("16")),
                _ => panic!("address of {} bytes", rdata.len()),
            };
            let i = pool.members.iter().position(|m| m.addr == addr).expect("a member");
            assert!(!cells[i].drained(), "a drained member handed out");
            let m = &pool.members[i];
            if any_up {
                assert!(!m.backup && cells[i].health() == State::Up);
            } else {
                match pool.answer.all_down {
                    AllDown::All => assert!(!m.backup),
                    AllDown::Backup => assert!(m.backup && cells[i].health() == State::Up),
                    AllDown::None => panic!("an answer under all_down = none"),
                }
            }
        }
    }
}

fn check_responses(data: &[u8]) {
    let mut r = Response::new(Expect { status: 200..=399, body: Some(b"ok".to_vec()) });
    let mut rest = data;
    while !rest.is_empty() {
        let cut = usize::from(rest[0] % 64) + 1;
        let (chunk, tail) = rest.split_at(cut.min(rest.len()));
        match r.feed(chunk) {
            Verdict::More => {}
            _ => return,
        }
        rest = tail;
    }
    let _ = r.closed();
    let query = palanquin_authoritative::pool::dns::query(0x1234, b"\x05probe\x04test\x00", 1);
    let _ = palanquin_authoritative::pool::dns::verdict(&query, data, None);
    let _ = palanquin_authoritative::pool::dns::verdict(&query, data, Some(IpAddr::from([192, 0, 2, 1])));
}

fuzz_target!(|data: &[u8]| {
    check_responses(data);
    let text = format!("{HEAD}{}", String::from_utf8_lossy(data));
    match config::parse(Path::new("/f/p.toml"), &text, &config::Host::default()) {
        Ok(settings) => serve(data, &settings),
        Err(e) => assert!(e.line >= 1 && !e.key.is_empty(), "{e}"),
    }
});
