//! The verdict: everything measured ([`Outcome`]), the one-paragraph
//! summary the test prints, and the list of problems it asserts is empty.

use std::time::Duration;

use crate::legit::LegitReport;
use crate::observe::{dropped, queries, Scrape, RCODES};
use crate::replies::Expect;
use crate::tcp::TcpStormReport;
use crate::udp::UdpStormReport;
use crate::RSS_LIMIT_KIB;

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

pub(crate) fn tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

pub(crate) fn first_few(failures: &[String]) -> String {
    let mut out: Vec<String> = failures.iter().take(8).cloned().collect();
    if failures.len() > 8 {
        out.push(format!("… and {} more", failures.len() - 8));
    }
    out.join("\n    ")
}

// ───────────────────────────── the verdict ─────────────────────────────

/// Everything measured, for the summary and the verdict.
pub(crate) struct Outcome {
    pub(crate) udp: UdpStormReport,
    pub(crate) tcp: TcpStormReport,
    pub(crate) legit: LegitReport,
    pub(crate) digs: u64,
    pub(crate) dig_failures: Vec<String>,
    pub(crate) final_failures: Vec<String>,
    pub(crate) upstream_queries: usize,
    /// Metric growth over the storm.
    pub(crate) before: Scrape,
    pub(crate) after: Scrape,
    /// Datagrams the kernel dropped before the daemon could read them.
    pub(crate) kernel_drops: u64,
    pub(crate) rss_before: u64,
    pub(crate) rss_peak: u64,
    pub(crate) rss_after: u64,
    pub(crate) elapsed: Duration,
    pub(crate) daemon_cpu: Duration,
    pub(crate) log: String,
}

impl Outcome {
    fn grew(&self, sample: &str) -> u64 {
        self.after.since(&self.before, sample)
    }

    pub(crate) fn summary(&self) -> String {
        let (udp, tcp) = (&self.udp, &self.tcp);
        let udp_seen: u64 = RCODES
            .iter()
            .map(|rc| self.grew(&queries("udp", rc)))
            .sum::<u64>()
            + self.grew(&dropped("udp", "malformed"))
            + self.grew(&dropped("udp", "overload"));
        let cut_min = tcp.cut_after.iter().min().copied().unwrap_or_default();
        let cut_max = tcp.cut_after.iter().max().copied().unwrap_or_default();
        format!(
            "storm summary: packets sent {} (UDP {} + TCP {}), legit UDP queries {} (retried {}, lost {}, \
             slowest {:.0?}), dig +tcp {} ({} failed), RSS before {} peak {} after {}, elapsed {:.2} s, \
             daemon CPU {:.2} s\n\
             UDP: {:.1} MB at {:.0}/s; sent by expectation silence/FORMERR/NOTIMP/BADVERS/REFUSED/answer/\
             random = {:?}; the daemon read {} (kernel dropped {}); metrics FORMERR +{} dropped +{}; \
             replies owed {}, read {} (by rcode {:?}), {} not responses, {} lost in our own buffers, {} given up on; \
             upstream queries {}\n\
             TCP: {} connections, {:.1} MB in {:.2} s, {} replies checked in order ({} well-formed queries \
             answered), {} slow clients cut after {:.2}-{:.2} s; metrics FORMERR +{} dropped +{} idle cuts +{}",
            udp.sent + tcp.messages,
            udp.sent,
            tcp.messages,
            self.legit.queries,
            self.legit.retried,
            self.legit.lost,
            self.legit.slowest,
            self.digs,
            self.dig_failures.len(),
            mib(self.rss_before),
            mib(self.rss_peak),
            mib(self.rss_after),
            self.elapsed.as_secs_f64(),
            self.daemon_cpu.as_secs_f64(),
            udp.bytes as f64 / 1e6,
            udp.sent as f64 / udp.elapsed.as_secs_f64(),
            udp.by_expect,
            udp_seen,
            self.kernel_drops,
            self.grew(&queries("udp", "FORMERR")),
            self.grew(&dropped("udp", "malformed")),
            udp.owed,
            udp.replies(),
            &udp.replies_by_rcode[..6],
            udp.bad_replies,
            udp.own_drops,
            udp.forgiven,
            self.upstream_queries,
            tcp.connections,
            tcp.bytes as f64 / 1e6,
            tcp.elapsed.as_secs_f64(),
            tcp.replies_checked,
            tcp.queries_answered,
            tcp.stalled_cut,
            cut_min.as_secs_f64(),
            cut_max.as_secs_f64(),
            self.grew(&queries("tcp", "FORMERR")),
            self.grew(&dropped("tcp", "malformed")),
            self.grew("palanquin_tcp_connections_total{event=\"idle_timeout\"}"),
        )
    }

    /// What went wrong; empty when the daemon weathered the storm.
    pub(crate) fn problems(&self) -> Vec<String> {
        let (udp, tcp) = (&self.udp, &self.tcp);
        let mut problems = self.final_failures.clone();
        let mut fail = |what: String, failures: &[String]| {
            if !failures.is_empty() {
                problems.push(format!("{what}:\n    {}", first_few(failures)));
            }
        };
        fail(
            format!("legitimate UDP queries ({} lost after a retry)", self.legit.lost),
            &self.legit.failures,
        );
        fail("dig +tcp during the storm".into(), &self.dig_failures);
        fail(
            format!(
                "TCP storm: {} of {} connections",
                tcp.failures.len(),
                tcp.connections
            ),
            &tcp.failures,
        );

        if udp.sent < 100_000 {
            problems.push(format!("only {} UDP datagrams sent", udp.sent));
        }
        if self.legit.queries < 50 {
            problems.push(format!(
                "only {} legitimate UDP queries during the storm",
                self.legit.queries
            ));
        }
        // Every datagram with a header and QR clear deserves exactly one reply,
        // minus what was lost before the daemon read it or after it sent it.
        let lost = udp.own_drops + self.kernel_drops + self.grew(&dropped("udp", "overload"));
        if udp.replies() + lost < udp.owed {
            problems.push(format!(
                "UDP: {} datagrams deserved a reply, {} came ({lost} lost to full buffers or overload)",
                udp.owed,
                udp.replies()
            ));
        }
        for (rcode, (&got, &sure)) in udp.replies_by_rcode.iter().zip(&udp.sure_by_rcode).enumerate() {
            if got + lost < sure {
                problems.push(format!(
                    "UDP: {sure} datagrams deserved RCODE {rcode}, {got} such replies came"
                ));
            }
        }
        if udp.replies() > udp.owed {
            problems.push(format!(
                "UDP: {} replies to {} datagrams deserving one: responses or headerless datagrams answered",
                udp.replies(),
                udp.owed
            ));
        }
        if udp.bad_replies > 0 {
            problems.push(format!("{} UDP replies without a header or QR", udp.bad_replies));
        }

        if self.rss_peak >= RSS_LIMIT_KIB || self.rss_after >= RSS_LIMIT_KIB {
            problems.push(format!(
                "RSS {} at the peak, {} after the storm: over {}",
                mib(self.rss_peak),
                mib(self.rss_after),
                mib(RSS_LIMIT_KIB)
            ));
        }

        let udp_formerr = self.grew(&queries("udp", "FORMERR"));
        if udp_formerr <= 10_000 {
            problems.push(format!("the UDP FORMERR counter grew by only {udp_formerr}"));
        }
        let formerr_possible = udp.sent_expecting(Expect::FormErr) + udp.sent_expecting(Expect::Unknown);
        if udp_formerr > formerr_possible {
            problems.push(format!(
                "{udp_formerr} UDP FORMERR for {formerr_possible} malformed datagrams"
            ));
        }
        let udp_dropped = self.grew(&dropped("udp", "malformed"));
        if udp_dropped <= 1_000 {
            problems.push(format!(
                "the UDP dropped (malformed) counter grew by only {udp_dropped}"
            ));
        }
        let tcp_formerr = self.grew(&queries("tcp", "FORMERR"));
        if tcp_formerr < tcp.replies_checked / 4 {
            problems.push(format!("the TCP FORMERR counter grew by only {tcp_formerr}"));
        }
        let idle_cuts = self.grew("palanquin_tcp_connections_total{event=\"idle_timeout\"}");
        if idle_cuts < tcp.stalled_cut {
            problems.push(format!(
                "{} slow clients cut off, but the idle_timeout counter grew by {idle_cuts}",
                tcp.stalled_cut
            ));
        }
        for bad in ["panicked", "ended unexpectedly"] {
            if self.log.contains(bad) {
                problems.push(format!("the daemon log says {bad:?}"));
            }
        }
        problems
    }
}
