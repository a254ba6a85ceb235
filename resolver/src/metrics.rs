//! Metric names of the resolver side. Recorded through the `metrics`
//! facade; the daemon installs the Prometheus exporter.

/// Answers served from the cache while fresh.
pub const CACHE_HITS: &str = "palanquin_cache_hits_total";
/// Questions not in the cache (or stale) that went upstream.
pub const CACHE_MISSES: &str = "palanquin_cache_misses_total";
/// Answers served from expired data (RFC 8767), by `reason` (upstream_failed,
/// client_timer, recheck_timer).
pub const CACHE_STALE: &str = "palanquin_cache_stale_answers_total";
/// Entries in the cache.
pub const CACHE_ENTRIES: &str = "palanquin_cache_entries";
/// Questions that joined an identical one already in flight.
pub const COALESCED: &str = "palanquin_coalesced_queries_total";
/// Clients outside the recursion ACL, answered REFUSED.
pub const ACL_REFUSED: &str = "palanquin_recursion_refused_total";
/// Queries without RD (recursion not desired) answered REFUSED: by a
/// client not in `allow_no_rd`, or, for one in it, not in the cache.
pub const NO_RD_REFUSED: &str = "palanquin_no_rd_refused_total";
/// Questions that no upstream answered and nothing stale could cover (SERVFAIL).
pub const SERVFAIL: &str = "palanquin_resolver_servfail_total";

/// SERVFAILs answered from the failure cache (RFC 9520), without asking
/// the upstreams again; also counted in [`SERVFAIL`].
pub const FAILURE_CACHED: &str = "palanquin_resolver_failure_cache_hits_total";
/// Records dropped from upstream answers as unrelated to the question, by
/// `section` (answer, authority, additional).
pub const SCRUBBED: &str = "palanquin_scrubbed_records_total";
/// The `section` labels of [`SCRUBBED`].
pub const SCRUB_SECTIONS: [&str; 3] = ["answer", "authority", "additional"];

/// The `reason` labels of [`CACHE_STALE`].
pub const STALE_REASONS: &[&str] = &["upstream_failed", "client_timer", "recheck_timer"];

/// Registers descriptions with the installed recorder. Call once.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge};
    describe_counter!(CACHE_HITS, "Answers served fresh from the cache");
    describe_counter!(CACHE_MISSES, "Questions that went upstream");
    describe_counter!(CACHE_STALE, "Answers served from expired data (RFC 8767)");
    describe_gauge!(CACHE_ENTRIES, "Entries in the answer cache");
    describe_counter!(COALESCED, "Questions coalesced onto one already in flight");
    describe_counter!(ACL_REFUSED, "Recursion refused by the ACL");
    describe_counter!(
        NO_RD_REFUSED,
        "Queries with RD clear refused (cache snooping not allowed, or not cached)"
    );
    describe_counter!(
        SCRUBBED,
        "Records dropped from upstream answers as unrelated to the question"
    );
    describe_counter!(
        SERVFAIL,
        "SERVFAIL: no upstream answered and nothing stale to serve"
    );
}
