//! Criterion micro-benchmarks of the stub's per-lookup work that is not I/O:
//! ranking upstreams, planning hedges, validating an answer.
//!
//!     cargo bench --bench stub
//!
//! The end-to-end figures (latency with a dead upstream, glibc side by side)
//! come from `benches/dead-upstream.sh`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use palanquin_stub::dns::{check_response, Request};
use palanquin_stub::hedge::{HedgePlan, Step};
use palanquin_stub::scoring::{rank, Health, HealthParams, Outcome};

fn upstreams(n: usize) -> Vec<Health> {
    let p = HealthParams::default();
    let now = Instant::now();
    (0..n)
        .map(|i| {
            let mut h = Health::default();
            for k in 0..8 {
                h.on_sent();
                let rtt = Duration::from_micros(100 + 37 * i as u64 + 11 * k);
                h.on_outcome(now, Outcome::Answer(rtt), &p);
            }
            h
        })
        .collect()
}

fn ranking(c: &mut Criterion) {
    let p = HealthParams::default();
    for n in [3, 16] {
        let health = upstreams(n);
        c.bench_function(&format!("rank {n} upstreams"), |b| {
            b.iter(|| rank(black_box(&health), &p, false, 0))
        });
    }
}

fn planning(c: &mut Criterion) {
    c.bench_function("hedge plan, 3 upstreams, all sent", |b| {
        b.iter(|| {
            let t0 = Instant::now();
            let order = vec![
                (0, Duration::from_millis(5)),
                (1, Duration::from_millis(7)),
                (2, Duration::from_millis(9)),
            ];
            let mut plan = HedgePlan::new(order, 4, t0, t0 + Duration::from_secs(10));
            let mut now = t0;
            while let Step::Send(_) | Step::Wait(_) = plan.poll(now) {
                now += Duration::from_millis(5);
                if plan.sent() == 3 {
                    break;
                }
            }
            black_box(plan.sent())
        })
    });
}

fn validation(c: &mut Criterion) {
    let name = Name::from_ascii("www.example.test.").expect("name");
    let req = Request::new(name.clone(), RecordType::A);
    let mut msg = Message::new(0x4242, MessageType::Response, OpCode::Query);
    msg.add_query(Query::query(name.clone(), RecordType::A));
    for i in 0..4 {
        msg.add_answer(Record::from_rdata(
            name.clone(),
            300,
            RData::A(A::new(192, 0, 2, i)),
        ));
    }
    let wire = msg.to_vec().expect("encode");
    c.bench_function("check_response, 4 A records", |b| {
        b.iter(|| check_response(black_box(&wire), 0x4242, &req).is_ok())
    });
    c.bench_function("check_response, wrong ID (forgery)", |b| {
        b.iter(|| check_response(black_box(&wire), 0x4243, &req).is_err())
    });
}

criterion_group!(benches, ranking, planning, validation);
criterion_main!(benches);
