//! Why the wire layer is hand-written: what the query path reads of a
//! message, against decoding it whole with hickory. `cargo bench -p
//! palanquin-wire`.

use criterion::{criterion_group, criterion_main, Criterion};
use hickory_proto::op::Message;
use palanquin_wire as wire;
use std::hint::black_box;

/// A client query with EDNS: `www.example.test. A`.
const QUERY: &[u8] = b"\xab\xcd\x01\x20\x00\x01\x00\x00\x00\x00\x00\x01\
\x03www\x07example\x04test\x00\x00\x01\x00\x01\
\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00";

/// A typical upstream answer: CNAME + two A records, NS in authority, glue.
fn answer() -> Vec<u8> {
    let mut m = b"\xab\xcd\x81\x80\x00\x01\x00\x03\x00\x01\x00\x01".to_vec();
    m.extend_from_slice(b"\x03www\x07example\x04test\x00\x00\x01\x00\x01");
    m.extend_from_slice(b"\xc0\x0c\x00\x05\x00\x01\x00\x00\x01\x2c\x00\x06\x03web\xc0\x10");
    for last in [1u8, 2] {
        m.extend_from_slice(b"\xc0\x2e\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04\xc0\x00\x02");
        m.push(last);
    }
    m.extend_from_slice(b"\xc0\x10\x00\x02\x00\x01\x00\x00\x0e\x10\x00\x05\x02ns\xc0\x10");
    m.extend_from_slice(b"\xc0\x5e\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04\xc0\x00\x02\x35");
    m
}

/// The most common answer: two A records for the name asked, and OPT.
fn plain() -> Vec<u8> {
    let mut m = b"\xab\xcd\x81\x80\x00\x01\x00\x02\x00\x00\x00\x01".to_vec();
    m.extend_from_slice(b"\x03www\x07example\x04test\x00\x00\x01\x00\x01");
    for last in [1u8, 2] {
        m.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04\xc0\x00\x02");
        m.push(last);
    }
    m.extend_from_slice(b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00");
    m
}

/// A hostile answer near the 64 KB TCP limit: a 15-name CNAME chain, 1,200
/// NS records for `test.` and 1,200 addresses for their targets (every one
/// kept: the work, not the drops, is what is measured).
fn hostile() -> Vec<u8> {
    let mut m = b"\xab\xcd\x81\x80\x00\x01\x00\x0f\x04\xb0\x04\xb0".to_vec();
    m.extend_from_slice(b"\x03www\x07example\x04test\x00\x00\x01\x00\x01");
    let name = |i: usize| -> Vec<u8> {
        let label = format!("c{i:02}");
        let mut n = vec![label.len() as u8];
        n.extend_from_slice(label.as_bytes());
        n.extend_from_slice(b"\x04test\x00");
        n
    };
    let mut owner = b"\xc0\x0c".to_vec();
    for i in 0..15 {
        let target = name(i);
        m.extend_from_slice(&owner);
        m.extend_from_slice(&[0, 5, 0, 1, 0, 0, 1, 0x2c]);
        m.extend_from_slice(&(target.len() as u16).to_be_bytes());
        m.extend_from_slice(&target);
        owner = target;
    }
    for i in 0..1200u16 {
        m.extend_from_slice(b"\x04test\x00\x00\x02\x00\x01\x00\x00\x0e\x10\x00\x06\x03n");
        m.extend_from_slice(&[b'a' + (i / 26 % 26) as u8, b'a' + (i % 26) as u8, 0xc0, 0x18]);
    }
    for i in 0..1200u16 {
        m.extend_from_slice(b"\x03n");
        m.extend_from_slice(&[b'a' + (i / 26 % 26) as u8, b'a' + (i % 26) as u8, 0xc0, 0x18]);
        m.extend_from_slice(b"\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04\xc0\x00\x02\x01");
    }
    m
}

fn bench(c: &mut Criterion) {
    let hostile = hostile();
    assert!(hostile.len() < 65_535, "{} bytes", hostile.len());
    assert!(wire::layout(&hostile).is_ok(), "well formed");
    let mut g = c.benchmark_group("hostile answer, 2,415 records");
    g.sample_size(20);
    g.bench_function("wire::scrub", |b| {
        b.iter(|| wire::scrub(black_box(&hostile), b"\x03www\x07example\x04test\x00", 1))
    });
    g.bench_function("hickory Message::from_vec", |b| {
        b.iter(|| Message::from_vec(black_box(&hostile)))
    });
    g.finish();
    let plain = plain();
    assert!(wire::layout(&plain).is_ok() && Message::from_vec(&plain).is_ok());
    let mut g = c.benchmark_group("plain answer");
    g.bench_function("wire::layout + wire::scrub", |b| {
        b.iter(|| {
            let _ = wire::layout(black_box(&plain));
            wire::scrub(black_box(&plain), b"\x03www\x07example\x04test\x00", 1)
        })
    });
    g.bench_function("hickory Message::from_vec", |b| {
        b.iter(|| Message::from_vec(black_box(&plain)))
    });
    g.finish();
    let answer = answer();
    assert!(wire::layout(&answer).is_ok() && Message::from_vec(&answer).is_ok());
    let mut g = c.benchmark_group("query");
    g.bench_function("wire::parse_query", |b| {
        b.iter(|| wire::parse_query(black_box(QUERY)))
    });
    g.bench_function("hickory Message::from_vec", |b| {
        b.iter(|| Message::from_vec(black_box(QUERY)))
    });
    g.finish();
    let mut g = c.benchmark_group("answer with CNAME, NS, glue");
    g.bench_function("wire::layout", |b| b.iter(|| wire::layout(black_box(&answer))));
    g.bench_function("wire::scrub (nothing to drop)", |b| {
        b.iter(|| wire::scrub(black_box(&answer), b"\x03www\x07example\x04test\x00", 1))
    });
    g.bench_function("hickory Message::from_vec", |b| {
        b.iter(|| Message::from_vec(black_box(&answer)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
