//! What a [`crate::Resolver`] is built from: explicit upstreams or a
//! resolv.conf, plus the knobs of the health model.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::dns::Name;
use crate::error::{ConfigError, Error};
use crate::resolv_conf::ResolvConf;
use crate::scoring::HealthParams;

/// How the upstreams of one query are asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Best upstream first, the next after an adaptive delay (the default).
    #[default]
    Hedged,
    /// Every upstream at once; first valid answer wins. Costs N× upstream load.
    FanOut,
}

/// Which transport carries queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// UDP, and TCP to the same upstream when the answer is truncated.
    #[default]
    Udp,
    /// TCP only (glibc `use-vc`).
    Tcp,
}

/// Configuration of a stub resolver.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolverConfig {
    /// Upstream servers, in configuration order (the tie-breaker of ranking).
    pub upstreams: Vec<SocketAddr>,
    /// Search list, applied to relative names by [`crate::Resolver::lookup`].
    pub search: Vec<Name>,
    /// Names with at least this many dots are tried as-is first.
    pub ndots: u8,
    /// glibc's per-attempt timeout; the overall deadline is `timeout × attempts`.
    pub timeout: Duration,
    /// glibc's attempts: the deadline is `timeout × attempts`, and each upstream
    /// is asked at most `2 × attempts` times per query (exponential backoff).
    pub attempts: u8,
    /// Hedged (default) or fan-out.
    pub mode: Mode,
    /// UDP with TCP fallback (default) or TCP only.
    pub transport: Transport,
    /// EDNS0 payload size to advertise; `None` sends no OPT record.
    pub edns_payload: Option<u16>,
    /// Spread first choices among comparably healthy upstreams (`options rotate`).
    pub rotate: bool,
    /// Ask A and AAAA one after the other instead of in parallel.
    pub single_request: bool,
    /// `lookup_ip` asks for A records only.
    pub no_aaaa: bool,
    /// Set AD in queries and keep AD from answers (otherwise it is cleared).
    pub trust_ad: bool,
    /// Never try a single-label name as-is.
    pub no_tld_query: bool,
    /// Health model tuning.
    pub health: HealthParams,
    /// Chance per lookup of re-asking a worse upstream in the background so
    /// its estimate stays fresh (only upstreams not sampled for
    /// `explore_interval`).
    pub explore_ratio: f64,
    /// Minimum age of an upstream's last sample before it is explored.
    pub explore_interval: Duration,
    /// The question sent to a down upstream to see whether it is back.
    pub probe_name: Name,
}

impl ResolverConfig {
    /// Defaults (EDNS 1232, 5 s × 2 attempts, hedged) over `upstreams`.
    pub fn new(upstreams: Vec<SocketAddr>) -> Self {
        ResolverConfig {
            upstreams,
            search: Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(5),
            attempts: 2,
            mode: Mode::Hedged,
            transport: Transport::Udp,
            edns_payload: Some(1232),
            rotate: false,
            single_request: false,
            no_aaaa: false,
            trust_ad: false,
            no_tld_query: false,
            health: HealthParams::default(),
            explore_ratio: 1.0 / 32.0,
            explore_interval: Duration::from_secs(2),
            probe_name: Name::root(),
        }
    }

    /// Everything a resolv.conf says that has a meaning here. EDNS0 stays on
    /// whatever the file says (glibc's `edns0` turns on what is already on).
    pub fn from_resolv_conf(rc: &ResolvConf) -> Result<Self, Error> {
        let mut cfg = ResolverConfig::new(rc.effective_nameservers());
        cfg.search = rc
            .search
            .iter()
            .map(|d| {
                let fqdn = format!("{}.", d.trim_end_matches('.'));
                Name::from_utf8(&fqdn).map_err(|source| {
                    Error::from(ConfigError::SearchDomain {
                        domain: d.clone(),
                        source,
                    })
                })
            })
            .collect::<Result<_, _>>()?;
        cfg.ndots = rc.ndots;
        cfg.timeout = rc.timeout;
        cfg.attempts = rc.attempts;
        cfg.rotate = rc.rotate;
        // glibc's send_dg treats single-request-reopen as implying single-request.
        cfg.single_request = rc.single_request || rc.single_request_reopen;
        cfg.no_aaaa = rc.no_aaaa;
        cfg.trust_ad = rc.trust_ad;
        cfg.no_tld_query = rc.no_tld_query;
        if rc.use_vc {
            cfg.transport = Transport::Tcp;
        }
        Ok(cfg)
    }

    /// Loads a resolv.conf file, logs each line it skips, and applies it.
    pub fn from_resolv_conf_file(path: &Path) -> Result<Self, Error> {
        let rc = ResolvConf::load(path).map_err(|source| ConfigError::ResolvConf {
            path: path.to_owned(),
            source,
        })?;
        for w in &rc.warnings {
            tracing::warn!(file = %path.display(), "resolv.conf {w}");
        }
        Self::from_resolv_conf(&rc)
    }

    /// The system configuration: /etc/resolv.conf with glibc's LOCALDOMAIN and
    /// RES_OPTIONS environment overrides.
    pub fn system() -> Result<Self, Error> {
        let path = Path::new("/etc/resolv.conf");
        // glibc treats a missing or unreadable file as "all defaults" (loopback).
        let mut rc = ResolvConf::load(path).unwrap_or_else(|e| {
            tracing::warn!(file = %path.display(), error = %e, "cannot read resolv.conf; using defaults");
            ResolvConf::default()
        });
        let localdomain = std::env::var("LOCALDOMAIN").ok();
        let res_options = std::env::var("RES_OPTIONS").ok();
        rc.apply_env(localdomain.as_deref(), res_options.as_deref());
        for w in &rc.warnings {
            tracing::warn!(file = %path.display(), "resolv.conf {w}");
        }
        Self::from_resolv_conf(&rc)
    }

    /// The overall deadline of one query: glibc's `timeout × attempts`.
    pub fn deadline(&self) -> Duration {
        self.timeout * u32::from(self.attempts.max(1))
    }

    /// Checks what cannot work.
    pub fn validate(&self) -> Result<(), Error> {
        if self.upstreams.is_empty() {
            return Err(ConfigError::NoUpstreams.into());
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout.into());
        }
        if !(0.0..=1.0).contains(&self.explore_ratio) {
            return Err(ConfigError::ExploreRatio.into());
        }
        Ok(())
    }
}
