//! Fuzzes the daemon's query path on arbitrary bytes: a client query is
//! parsed and answered by the resolver service as the router hands it over
//! (ACL, RD-clear policy, class/type refusals, a cache hit rendered for it,
//! error responses), and the same bytes taken as an upstream response go
//! through the cache. Nothing may panic, and everything we emit must be a
//! well-formed message with the client's ID.
#![no_main]

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use palanquin_resolver::cache::{Entry, Key, Policy};
use palanquin_wire::{self as wire, rcode};
use palanquin_resolver::{Acl, Cache, Front, Service, ServiceConfig};
use palanquin_stub::ResolverConfig;

/// `www.example.test. A` with EDNS, as a client would ask.
const CLIENT: &[u8] = b"\x42\x42\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\
\x03www\x07example\x04test\x00\x00\x01\x00\x01\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00";

/// The answer an upstream gave to [`CLIENT`], its question spelled as
/// another client asked: wWw.ExAmple.TeST. 86400 A 192.0.2.1 (a day, so
/// a long campaign keeps hitting it fresh).
const ANSWER: &[u8] = b"\x42\x42\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\
\x03wWw\x07ExAmple\x04TeST\x00\x00\x01\x00\x01\xc0\x0c\x00\x01\x00\x01\x00\x01\x51\x80\x00\x04\xc0\x00\x02\x01";

/// A service whose cache holds [`ANSWER`]; its upstream is never asked
/// (try_answer does not go upstream). The runtime only hosts the stub's
/// background tasks.
fn service() -> &'static (tokio::runtime::Runtime, Arc<Service>) {
    static SERVICE: OnceLock<(tokio::runtime::Runtime, Arc<Service>)> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let _in = runtime.enter();
        let net = |p: &str| Acl::parse_prefix(p).expect("prefix");
        let cache = Arc::new(Cache::new(100));
        let q = wire::parse_query(CLIENT).expect("fixed query parses");
        let entry = Entry::from_response(ANSWER, Instant::now(), &Policy::default()).expect("cacheable");
        cache.insert(Key::of(&q), entry);
        let config = ServiceConfig {
            upstreams: ResolverConfig::new(vec![SocketAddr::from(([127, 0, 0, 1], 9))]),
            forward: Vec::new(),
            acl: Acl::new(vec![net("127.0.0.0/8"), net("::1/128")]),
            allow_no_rd: Acl::new(vec![net("127.0.0.1/32")]),
            policy: Policy::default(),
            client_timer: Duration::from_millis(1800),
        };
        let service = Service::new(config, cache).expect("service");
        (runtime, Arc::new(service))
    })
}

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    // As a client query.
    match wire::parse_query(data) {
        Ok(q) => {
            // Inside the ACL and allowed to snoop, inside without, outside.
            let (_, service) = service();
            for client in ["127.0.0.1", "127.0.0.2", "192.0.2.1"] {
                let client: IpAddr = client.parse().expect("ip");
                let mut front = Front::new(4);
                for limit in [None, Some(512), Some(1232), Some(512)] {
                    // The later rounds read the front the earlier ones filled;
                    // a front must never change the answer.
                    let plain = service.try_answer(data, &q, client, limit, now, None);
                    let fronted = service.try_answer(data, &q, client, limit, now, Some(&mut front));
                    assert_eq!(plain, fronted, "the front changes nothing but the path");
                    if let Some(reply) = fronted {
                        assert!(wire::layout(&reply).is_ok(), "service answer must be well formed");
                        assert_eq!(&reply[..2], &data[..2], "the client's ID");
                        assert!(limit.is_none_or(|l| reply.len() <= l.max(512)), "fits the UDP limit");
                    }
                }
            }
            for rc in [rcode::FORMERR, rcode::SERVFAIL, rcode::REFUSED, 16] {
                let reply = wire::error_response(data, Some(&q), rc);
                assert!(wire::layout(&reply).is_ok(), "error response must be well formed");
                assert_eq!(&reply[..2], &data[..2]);
            }
        }
        Err(_) => {
            let reply = wire::error_response(data, None, rcode::FORMERR);
            assert_eq!(reply.len(), 12);
        }
    }
    // As an upstream response entering the cache, then rendered for a client.
    let client = wire::parse_query(CLIENT).expect("fixed query parses");
    for entry in [Entry::from_response(data, now, &Policy::default()), Entry::passthrough(data, now)] {
        if let Ok(entry) = entry {
            for (stale, limit) in [(None, None), (Some(30), Some(512)), (None, Some(40))] {
                let out = entry.render(CLIENT, &client, now + Duration::from_secs(5), stale, limit);
                assert!(wire::layout(&out).is_ok(), "rendered answer must be well formed");
                assert_eq!(&out[..2], &CLIENT[..2]);
                if let Some(limit) = limit {
                    let truncated = out[2] & 0x02 != 0;
                    assert!(out.len() <= limit || (truncated && out.len() <= 512), "fits the UDP limit or is a TC stub");
                }
            }
        }
    }
});
