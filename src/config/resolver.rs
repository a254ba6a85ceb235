//! The `[resolver]` table: upstreams (a list, or a resolv.conf), split-DNS
//! forward zones, the ACLs, TTL policy and serve-stale, checked into the
//! resolver's `ServiceConfig`. Pure, like the rest of the validation: the
//! resolv.conf's bytes come from the `Host` the caller filled.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use palanquin_resolver::{Acl, ForwardZone, Policy, ServiceConfig};
use palanquin_stub::resolv_conf::ResolvConf;
use palanquin_stub::ResolverConfig;
use toml::Spanned;

use super::error::{ConfigError, ConfigWarning};
use super::file;
use super::settings::{is_own_listener, resolve_path, Ctx};

pub(super) fn resolver(
    cx: &Ctx<'_>,
    r: &file::Resolver,
    listen: &[SocketAddr],
    warnings: &mut Vec<ConfigWarning>,
) -> Result<(ServiceConfig, usize), ConfigError> {
    let timeout = cx.opt_duration(&r.timeout, "resolver.timeout", Duration::from_secs(2))?;
    if timeout.is_zero() {
        return cx.err(
            r.timeout.as_ref().map_or(0..0, Spanned::span),
            "resolver.timeout",
            "must be positive",
        );
    }
    let attempts = cx.opt_count(&r.attempts, "resolver.attempts", 1..=5, 2)?;
    let stub = |upstreams: Vec<SocketAddr>| {
        let mut c = ResolverConfig::new(upstreams);
        c.timeout = timeout;
        c.attempts = attempts;
        // A forwarder passes the AD bit through from the upstreams it is configured to trust.
        c.trust_ad = true;
        c
    };
    let no_loop =
        |addrs: &[SocketAddr], span: std::ops::Range<usize>, key: &str| -> Result<(), ConfigError> {
            match addrs
                .iter()
                .find(|a| is_own_listener(listen, a, &cx.host.addresses))
            {
                Some(a) => cx.err(
                    span,
                    key,
                    format!("{a} is one of our own listen addresses: queries would loop"),
                ),
                None => Ok(()),
            }
        };
    let upstreams = match (&r.upstreams, &r.resolv_conf) {
        (Some(_), Some(rc)) => {
            return cx.err(
                rc.span(),
                "resolver.resolv_conf",
                "set either upstreams or resolv_conf, not both",
            )
        }
        (None, None) => return cx.err(0..0, "resolver", "needs upstreams or resolv_conf"),
        (Some(list), None) => {
            let addrs = cx.upstreams(list, "resolver.upstreams")?;
            no_loop(&addrs, list.span(), "resolver.upstreams")?;
            stub(addrs)
        }
        (None, Some(rc)) => {
            let file = resolve_path(cx.path, rc.get_ref());
            let mut c = resolv_conf(cx, rc, &file, warnings)?;
            c.search.clear(); // a forwarder passes names through as asked
            if r.timeout.is_some() {
                c.timeout = timeout;
            }
            if r.attempts.is_some() {
                c.attempts = attempts;
            }
            c.trust_ad = true;
            no_loop(&c.upstreams, rc.span(), "resolver.resolv_conf")?;
            c
        }
    };
    let nets = |list: &[Spanned<String>], key: &str| -> Result<Vec<ipnet::IpNet>, ConfigError> {
        list.iter()
            .map(|p| Acl::parse_prefix(p.get_ref()).or_else(|e| cx.err(p.span(), key, e.to_string())))
            .collect()
    };
    let acl = match &r.allow {
        None => Acl::loopback(),
        Some(list) => Acl::new(nets(list, "resolver.allow")?),
    };
    let no_rd = match &r.allow_no_rd {
        None => Vec::new(),
        Some(list) => nets(list, "resolver.allow_no_rd")?,
    };
    for (net, text) in no_rd
        .iter()
        .zip(r.allow_no_rd.iter().flatten())
        .filter(|(n, _)| !acl.allows(n.network()) || !acl.allows(n.broadcast()))
    {
        warnings.push(cx.warning(
            text.span().start,
            format!("resolver.allow_no_rd: {net} is not all in resolver.allow; clients outside it are refused all the same"),
        ));
    }
    let allow_no_rd = Acl::new(no_rd);
    let cache_size = cx.opt_count(&r.cache_size, "resolver.cache_size", 1..=100_000_000, 100_000)?;
    let defaults = Policy::default();
    let policy = Policy {
        min_ttl: cx.ttl(&r.min_ttl, "resolver.min_ttl", defaults.min_ttl)?,
        max_ttl: cx.ttl(&r.max_ttl, "resolver.max_ttl", defaults.max_ttl)?,
        negative_max_ttl: cx.ttl(
            &r.negative_max_ttl,
            "resolver.negative_max_ttl",
            defaults.negative_max_ttl,
        )?,
        serve_stale: cx.opt_duration(&r.serve_stale, "resolver.serve_stale", defaults.serve_stale)?,
        stale_answer_ttl: defaults.stale_answer_ttl,
        failure_recheck: cx.opt_duration(
            &r.stale_recheck,
            "resolver.stale_recheck",
            defaults.failure_recheck,
        )?,
    };
    if policy.min_ttl > policy.max_ttl {
        return cx.err(
            r.min_ttl.as_ref().map_or(0..0, Spanned::span),
            "resolver.min_ttl",
            "is above max_ttl",
        );
    }
    let client_timer = cx.opt_duration(
        &r.client_timer,
        "resolver.client_timer",
        Duration::from_millis(1800),
    )?;
    let mut forward = Vec::new();
    for f in &r.forward {
        let zone =
            zone_wire(f.zone.get_ref()).or_else(|m| cx.err(f.zone.span(), "resolver.forward.zone", m))?;
        if forward.iter().any(|z: &ForwardZone| z.zone == zone) {
            return cx.err(f.zone.span(), "resolver.forward.zone", "zone listed twice");
        }
        let addrs = cx.upstreams(&f.upstreams, "resolver.forward.upstreams")?;
        no_loop(&addrs, f.upstreams.span(), "resolver.forward.upstreams")?;
        forward.push(ForwardZone {
            zone,
            upstreams: stub(addrs),
        });
    }
    Ok((
        ServiceConfig {
            upstreams,
            forward,
            acl,
            allow_no_rd,
            policy,
            client_timer,
        },
        cache_size,
    ))
}

/// The upstreams and options of `resolver.resolv_conf`. A file without a
/// usable `nameserver` is refused: glibc would fall back to 127.0.0.1:53,
/// which for a daemon is nearly always itself or nothing. Lines it skips
/// become warnings naming that file's line.
fn resolv_conf(
    cx: &Ctx<'_>,
    rc: &Spanned<String>,
    file: &Path,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<ResolverConfig, ConfigError> {
    const KEY: &str = "resolver.resolv_conf";
    let bytes = match cx.host.files.get(file) {
        Some(Ok(bytes)) => bytes,
        Some(Err(e)) => return cx.err(rc.span(), KEY, format!("cannot read {}: {e}", file.display())),
        None => return cx.err(rc.span(), KEY, format!("{} was not read", file.display())),
    };
    let conf = ResolvConf::parse_with(&String::from_utf8_lossy(bytes), |name| cx.host.ifindex(name));
    let skipped: Vec<ConfigWarning> = conf
        .warnings
        .iter()
        .map(|w| ConfigWarning {
            file: file.to_owned(),
            line: w.line,
            message: format!("`{}`: {}", w.text.escape_debug(), w.reason),
        })
        .collect();
    if conf.nameservers.is_empty() {
        let why: Vec<String> = skipped
            .iter()
            .filter(|w| w.message.starts_with("`nameserver"))
            .map(|w| format!("line {}: {}", w.line, w.message))
            .collect();
        let detail = if why.is_empty() {
            String::new()
        } else {
            format!(" ({})", why.join("; "))
        };
        return cx.err(
            rc.span(),
            KEY,
            format!("{} has no usable nameserver line{detail}", file.display()),
        );
    }
    warnings.extend(skipped);
    ResolverConfig::from_resolv_conf(&conf).or_else(|e| cx.err(rc.span(), KEY, e.to_string()))
}

/// `corp.example.` (trailing dot optional) as lower-cased wire labels.
pub(super) fn zone_wire(text: &str) -> Result<Vec<u8>, String> {
    palanquin_wire::name_from_text(text).map_err(|e| e.to_string())
}
