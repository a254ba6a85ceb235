//! Metric names of the authoritative side. Every zone's counters are
//! registered, at 0, when its zone set is built.

/// Answers from a zone, by `zone` and `rcode`.
pub const ZONE_QUERIES: &str = "palanquin_zone_queries_total";
/// The SOA serial in service, by `zone`.
pub const ZONE_SERIAL: &str = "palanquin_zone_serial";
/// Records in the zone in service, by `zone`.
pub const ZONE_RECORDS: &str = "palanquin_zone_records";

/// Answers for a pool's name, by `zone`, `pool`, `type` (A, AAAA) and
/// `result` (`live`, or `all_down`: no primary member was up).
pub const POOL_ANSWERS: &str = "palanquin_pool_answers_total";

/// The `rcode` labels of [`ZONE_QUERIES`], by RCODE value (the last: any other).
pub const RCODES: [&str; 7] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "OTHER",
];

/// Describes the metrics (call once, after installing a recorder).
pub fn describe() {
    metrics::describe_counter!(ZONE_QUERIES, "Authoritative answers by zone and response code");
    metrics::describe_gauge!(ZONE_SERIAL, "SOA serial of the zone in service");
    metrics::describe_gauge!(ZONE_RECORDS, "Records in the zone in service");
    metrics::describe_counter!(
        POOL_ANSWERS,
        "Answers for a pool's name, by whether a primary member was up"
    );
}
