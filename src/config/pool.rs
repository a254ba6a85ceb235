//! `[[zone.pool]]`: a name of a zone answered from health-checked members.
//! Every key is checked here and a bad one named, a CA file read and its
//! certificates parsed; `src/pools/` runs the checks.

use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use palanquin_authoritative::pool::health::Thresholds;
use palanquin_authoritative::pool::policy::{AllDown, Answer, Member, Policy};
use toml::Spanned;

use super::error::ConfigError;
use super::file;
use super::settings::{resolve_path, Ctx};

/// What a pool's members are checked with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CheckKind {
    /// A TCP connection to the port.
    Tcp,
    /// GET `path` with `host`; a status in `status`; `body` in the body if given.
    Http {
        path: String,
        host: Option<String>,
        status: RangeInclusive<u16>,
        body: Option<String>,
        /// HTTPS: verify the certificate (against `ca_file`, or the system roots).
        tls: Option<Tls>,
    },
    /// `name` asked of the member: NOERROR, holding `address` if given.
    Dns { name: Vec<u8>, address: Option<IpAddr> },
    /// `command` run (`{addr}` replaced), exit 0 = up; through `/bin/sh -c` if `shell`.
    Exec { command: Vec<String>, shell: bool },
}

/// HTTPS settings of an `https` check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tls {
    pub(crate) verify: bool,
    pub(crate) ca_file: Option<PathBuf>,
    /// The CA file's certificates as read with the configuration (so a
    /// reload with a replaced file is a changed check).
    pub(crate) ca_pem: Option<Vec<u8>>,
}

/// A pool's check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CheckConfig {
    pub(crate) kind: CheckKind,
    /// The port checked (none for `exec`).
    pub(crate) port: Option<u16>,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) thresholds: Thresholds,
}

/// One pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PoolConfig {
    /// The name, lower-cased wire form, and as text.
    pub(crate) name: Vec<u8>,
    pub(crate) name_text: String,
    /// A (1) or AAAA (28).
    pub(crate) rtype: u16,
    pub(crate) ttl: u32,
    /// The members, the backups last (`backup` set).
    pub(crate) members: Vec<Member>,
    pub(crate) check: CheckConfig,
    pub(crate) answer: Answer,
    pub(crate) down_ttl: Option<u32>,
}

impl PoolConfig {
    /// The pool as its answers need it, in the zone whose apex is `apex`
    /// (wire form).
    pub(crate) fn spec(&self, apex: &[u8]) -> palanquin_authoritative::pool::live::PoolSpec {
        palanquin_authoritative::pool::live::PoolSpec {
            apex: apex.to_vec().into(),
            name: self.name.clone().into(),
            rtype: self.rtype,
            ttl: self.ttl,
            down_ttl: self.down_ttl,
            members: self.members.clone(),
            answer: self.answer,
        }
    }
}

const KINDS: &str = "tcp, http, https, dns or exec";
/// The longest check timeout: the start and every reload wait for a new
/// member's first check.
const MAX_TIMEOUT: Duration = Duration::from_secs(30);

/// The pools of the zone `apex` (`origin` as text).
pub(super) fn pools(
    cx: &Ctx<'_>,
    raw: &[Spanned<file::Pool>],
    apex: &[u8],
    origin: &str,
) -> Result<Vec<PoolConfig>, ConfigError> {
    let mut out: Vec<PoolConfig> = Vec::new();
    for table in raw {
        let p = table.get_ref();
        let name =
            pool_name(p.name.get_ref(), origin).or_else(|m| cx.err(p.name.span(), "zone.pool.name", m))?;
        if !palanquin_wire::is_below_or_at(&name, apex) {
            return cx.err(
                p.name.span(),
                "zone.pool.name",
                format!("is not in the zone {origin}"),
            );
        }
        let rtype = match p.rtype.as_ref().map(|t| t.get_ref().to_ascii_uppercase()) {
            None => 1,
            Some(t) if t == "A" => 1,
            Some(t) if t == "AAAA" => 28,
            Some(_) => {
                let span = p.rtype.as_ref().map_or(table.span(), Spanned::span);
                return cx.err(span, "zone.pool.type", "must be A or AAAA");
            }
        };
        if out.iter().any(|o| o.name == name && o.rtype == rtype) {
            return cx.err(p.name.span(), "zone.pool.name", "this pool is listed twice");
        }
        let ttl = cx.opt_count(&p.ttl, "zone.pool.ttl", 0..=604_800, 30)?;
        let mut members = Vec::new();
        for m in p.members.get_ref() {
            let (addr, weight) = match m.get_ref() {
                file::PoolMember::Addr(a) => (a.as_str(), 1),
                file::PoolMember::Weighted(w) => (w.addr.as_str(), w.weight),
            };
            if !(1..=1000).contains(&weight) {
                return cx.err(
                    m.span(),
                    "zone.pool.members",
                    "a weight must be between 1 and 1000",
                );
            }
            members.push(member(
                cx,
                m.span(),
                "zone.pool.members",
                addr,
                weight,
                false,
                rtype,
                &members,
            )?);
        }
        if members.is_empty() {
            return cx.err(
                p.members.span(),
                "zone.pool.members",
                "a pool needs at least one member",
            );
        }
        for b in p.backup.iter().flatten() {
            members.push(member(
                cx,
                b.span(),
                "zone.pool.backup",
                b.get_ref(),
                1,
                true,
                rtype,
                &members,
            )?);
        }
        let check = check(cx, &p.check)?;
        let (answer, down_ttl) = answer(cx, p.answer.as_ref(), ttl)?;
        let has_backup = members.iter().any(|m| m.backup);
        if answer.all_down == AllDown::Backup && !has_backup {
            let span = p.answer.as_ref().map_or(table.span(), Spanned::span);
            return cx.err(
                span,
                "zone.pool.answer",
                "all_down = \"backup\" needs a backup list",
            );
        }
        // Keys that would have no effect are refused, not ignored.
        if has_backup && answer.all_down != AllDown::Backup {
            let span = p
                .backup
                .as_ref()
                .and_then(|b| b.first())
                .map_or(table.span(), Spanned::span);
            return cx.err(
                span,
                "zone.pool.backup",
                "a backup list is used only with answer.all_down = \"backup\"",
            );
        }
        if matches!(answer.policy, Policy::RoundRobin | Policy::Random)
            && members.iter().any(|m| m.weight != 1)
        {
            return cx.err(
                p.members.span(),
                "zone.pool.members",
                "weights apply only to the weighted and hashed policies",
            );
        }
        out.push(PoolConfig {
            name_text: palanquin_wire::name_to_string(&name),
            name,
            rtype,
            ttl,
            members,
            check,
            answer,
            down_ttl,
        });
    }
    Ok(out)
}

/// A pool's name: relative to `origin`, or absolute with a trailing dot.
fn pool_name(text: &str, origin: &str) -> Result<Vec<u8>, String> {
    let full = if text.ends_with('.') {
        text.to_owned()
    } else if text == "@" {
        origin.to_owned()
    } else {
        format!("{text}.{origin}")
    };
    palanquin_wire::name_from_text(&full.to_ascii_lowercase()).map_err(|e| e.to_string())
}

#[allow(clippy::too_many_arguments)]
fn member(
    cx: &Ctx<'_>,
    span: std::ops::Range<usize>,
    key: &str,
    text: &str,
    weight: u32,
    backup: bool,
    rtype: u16,
    earlier: &[Member],
) -> Result<Member, ConfigError> {
    let addr: IpAddr = match text.trim().parse() {
        Ok(a) => a,
        Err(_) => return cx.err(span, key, format!("{text:?} is not an IP address")),
    };
    let unusable = match addr {
        IpAddr::V4(v4) => v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => {
            v6.is_unspecified()
                || v6.is_multicast()
                || v6.to_ipv4_mapped().is_some()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    };
    if unusable {
        return cx.err(
            span,
            key,
            format!(
                "{addr} cannot be a member (unspecified, multicast, broadcast, IPv4-mapped or link-local)"
            ),
        );
    }
    if addr.is_ipv4() != (rtype == 1) {
        let want = if rtype == 1 {
            "IPv4 (type A)"
        } else {
            "IPv6 (type AAAA)"
        };
        return cx.err(span, key, format!("{addr} is not {want}"));
    }
    if earlier.iter().any(|m| m.addr == addr) {
        return cx.err(span, key, format!("{addr} is listed twice"));
    }
    Ok(Member { addr, weight, backup })
}

fn check(cx: &Ctx<'_>, raw: &Spanned<file::PoolCheck>) -> Result<CheckConfig, ConfigError> {
    let c = raw.get_ref();
    let kind_text = c.kind.get_ref().to_ascii_lowercase();
    // Keys that belong to other kinds are errors, not silently ignored.
    let only = |present: bool, span: Option<std::ops::Range<usize>>, key: &str, kinds: &str| {
        if present && !kinds.split(',').any(|k| k == kind_text) {
            return cx.err(
                span.unwrap_or(raw.span()),
                key,
                format!("is not a key of a {kind_text} check"),
            );
        }
        Ok(())
    };
    only(
        c.path.is_some(),
        c.path.as_ref().map(Spanned::span),
        "zone.pool.check.path",
        "http,https",
    )?;
    only(
        c.host.is_some(),
        c.host.as_ref().map(Spanned::span),
        "zone.pool.check.host",
        "http,https",
    )?;
    only(
        c.status.is_some(),
        c.status.as_ref().map(Spanned::span),
        "zone.pool.check.status",
        "http,https",
    )?;
    only(
        c.body.is_some(),
        c.body.as_ref().map(Spanned::span),
        "zone.pool.check.body",
        "http,https",
    )?;
    only(
        c.tls_verify.is_some(),
        c.tls_verify.as_ref().map(Spanned::span),
        "zone.pool.check.tls_verify",
        "https",
    )?;
    only(
        c.ca_file.is_some(),
        c.ca_file.as_ref().map(Spanned::span),
        "zone.pool.check.ca_file",
        "https",
    )?;
    only(
        c.name.is_some(),
        c.name.as_ref().map(Spanned::span),
        "zone.pool.check.name",
        "dns",
    )?;
    only(
        c.address.is_some(),
        c.address.as_ref().map(Spanned::span),
        "zone.pool.check.address",
        "dns",
    )?;
    only(
        c.command.is_some(),
        c.command.as_ref().map(Spanned::span),
        "zone.pool.check.command",
        "exec",
    )?;
    only(
        c.shell.is_some(),
        c.shell.as_ref().map(Spanned::span),
        "zone.pool.check.shell",
        "exec",
    )?;
    only(
        c.port.is_some(),
        c.port.as_ref().map(Spanned::span),
        "zone.pool.check.port",
        "tcp,http,https,dns",
    )?;
    let port = |default: Option<u16>| -> Result<Option<u16>, ConfigError> {
        match (&c.port, default) {
            (Some(p), _) if *p.get_ref() == 0 => {
                cx.err(p.span(), "zone.pool.check.port", "must be 1 to 65535")
            }
            (Some(p), _) => Ok(Some(*p.get_ref())),
            (None, Some(d)) => Ok(Some(d)),
            (None, None) => cx.err(raw.span(), "zone.pool.check.port", "a tcp check needs its port"),
        }
    };
    let (kind, port) = match kind_text.as_str() {
        "tcp" => (CheckKind::Tcp, port(None)?),
        "http" | "https" => {
            let https = kind_text == "https";
            let status = match &c.status {
                None => 200..=399,
                Some(s) => {
                    status_range(s.get_ref()).or_else(|m| cx.err(s.span(), "zone.pool.check.status", m))?
                }
            };
            let path = c.path.as_ref().map_or("/".to_owned(), |p| p.get_ref().clone());
            if !path.starts_with('/') || path.contains(['\r', '\n', ' ']) {
                let span = c.path.as_ref().map_or(raw.span(), Spanned::span);
                return cx.err(
                    span,
                    "zone.pool.check.path",
                    "must be a path starting with / (no spaces)",
                );
            }
            if let Some(h) = &c.host {
                if !valid_host(h.get_ref()) {
                    return cx.err(
                        h.span(),
                        "zone.pool.check.host",
                        "must be a host name or address, with an optional :port",
                    );
                }
            }
            if let Some(b) = &c.body {
                if b.get_ref().is_empty() || b.get_ref().len() > 1024 {
                    return cx.err(
                        b.span(),
                        "zone.pool.check.body",
                        "must be 1 to 1024 bytes of text",
                    );
                }
            }
            let verify = c.tls_verify.as_ref().is_none_or(|v| *v.get_ref());
            if let (false, Some(f)) = (verify, &c.ca_file) {
                return cx.err(
                    f.span(),
                    "zone.pool.check.ca_file",
                    "a CA file with tls_verify = false would not be used",
                );
            }
            let mut tls = https.then(|| Tls {
                verify,
                ca_file: c.ca_file.as_ref().map(|f| resolve_path(cx.path, f.get_ref())),
                ca_pem: None,
            });
            if let (
                Some(Tls {
                    ca_file: Some(path), ..
                }),
                Some(f),
            ) = (&tls, &c.ca_file)
            {
                let pem = match cx.host.files.get(path) {
                    Some(Ok(bytes)) => bytes,
                    Some(Err(e)) => {
                        return cx.err(
                            f.span(),
                            "zone.pool.check.ca_file",
                            format!("cannot read {}: {e}", path.display()),
                        )
                    }
                    None => return cx.err(f.span(), "zone.pool.check.ca_file", "the file was not read"),
                };
                if let Err(m) = palanquin_authoritative::pool::tls::client(
                    palanquin_authoritative::pool::tls::Trust::CaPem(pem),
                ) {
                    return cx.err(
                        f.span(),
                        "zone.pool.check.ca_file",
                        format!("{}: {m}", path.display()),
                    );
                }
                let pem = pem.clone();
                if let Some(t) = tls.as_mut() {
                    t.ca_pem = Some(pem);
                }
            }
            let kind = CheckKind::Http {
                path,
                host: c.host.as_ref().map(|h| h.get_ref().clone()),
                status,
                body: c.body.as_ref().map(|b| b.get_ref().clone()),
                tls,
            };
            (kind, port(Some(if https { 443 } else { 80 }))?)
        }
        "dns" => {
            let Some(n) = &c.name else {
                return cx.err(
                    raw.span(),
                    "zone.pool.check.name",
                    "a dns check needs the name it asks",
                );
            };
            let name = palanquin_wire::name_from_text(n.get_ref())
                .map_err(|e| e.to_string())
                .or_else(|m| cx.err(n.span(), "zone.pool.check.name", m))?;
            let address = match &c.address {
                None => None,
                Some(a) => match a.get_ref().parse() {
                    Ok(ip) => Some(ip),
                    Err(_) => return cx.err(a.span(), "zone.pool.check.address", "is not an IP address"),
                },
            };
            (CheckKind::Dns { name, address }, port(Some(53))?)
        }
        "exec" => {
            let Some(cmd) = &c.command else {
                return cx.err(
                    raw.span(),
                    "zone.pool.check.command",
                    "an exec check needs its command",
                );
            };
            let command: Vec<String> = cmd.get_ref().iter().map(|a| a.get_ref().clone()).collect();
            if command.first().is_none_or(|p| p.trim().is_empty()) {
                return cx.err(cmd.span(), "zone.pool.check.command", "must name a program");
            }
            let shell = c.shell.as_ref().is_some_and(|s| *s.get_ref());
            (CheckKind::Exec { command, shell }, None)
        }
        _ => return cx.err(c.kind.span(), "zone.pool.check.kind", format!("must be {KINDS}")),
    };
    let interval = cx.opt_duration(&c.interval, "zone.pool.check.interval", Duration::from_secs(2))?;
    if interval < Duration::from_millis(100) {
        let span = c.interval.as_ref().map_or(raw.span(), Spanned::span);
        return cx.err(span, "zone.pool.check.interval", "must be at least 100ms");
    }
    // A check ends before the next is due, even when the interval is
    // jittered 10% short.
    let longest = interval.mul_f64(0.9);
    let timeout = cx.opt_duration(
        &c.timeout,
        "zone.pool.check.timeout",
        Duration::from_secs(1).min(longest),
    )?;
    if timeout.is_zero() || timeout > longest || timeout > MAX_TIMEOUT {
        let span = c.timeout.as_ref().map_or(raw.span(), Spanned::span);
        return cx.err(
            span,
            "zone.pool.check.timeout",
            "must be more than 0, at most 90% of the interval and at most 30s (the start and each reload wait for the first round)",
        );
    }
    let rise = cx.opt_count(&c.rise, "zone.pool.check.rise", 1..=100, 2)?;
    let fall = cx.opt_count(&c.fall, "zone.pool.check.fall", 1..=100, 3)?;
    Ok(CheckConfig {
        kind,
        port,
        interval,
        timeout,
        thresholds: Thresholds { rise, fall },
    })
}

/// A Host header's value: a DNS name, an IPv4 address or a bracketed IPv6
/// one, and an optional port.
fn valid_host(text: &str) -> bool {
    let (host, port) = match text.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((h, after)) if after.is_empty() || after.starts_with(':') => (h, after.strip_prefix(':')),
            _ => return false,
        },
        None => match text.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            _ => (text, None),
        },
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    let bracketed = text.starts_with('[');
    let host_ok = if bracketed {
        host.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        host.parse::<std::net::Ipv4Addr>().is_ok()
            || (!host.is_empty()
                && host.len() <= 253
                && host.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                }))
    };
    port_ok && host_ok
}

/// `"200"` or `"200-399"`.
fn status_range(text: &str) -> Result<RangeInclusive<u16>, String> {
    let bad = || format!("{text:?} is not a status or a range like \"200-399\"");
    let (lo, hi) = text.split_once('-').unwrap_or((text, text));
    let (lo, hi): (u16, u16) = (
        lo.trim().parse().map_err(|_| bad())?,
        hi.trim().parse().map_err(|_| bad())?,
    );
    if !(100..=599).contains(&lo) || !(100..=599).contains(&hi) || lo > hi {
        return Err(bad());
    }
    Ok(lo..=hi)
}

fn answer(
    cx: &Ctx<'_>,
    raw: Option<&Spanned<file::PoolAnswer>>,
    ttl: u32,
) -> Result<(Answer, Option<u32>), ConfigError> {
    let default = Answer {
        policy: Policy::RoundRobin,
        max: 8,
        all_down: AllDown::All,
    };
    let Some(raw) = raw else {
        return Ok((default, None));
    };
    let a = raw.get_ref();
    let policy = match a.policy.as_ref().map(|p| p.get_ref().as_str()) {
        None | Some("round-robin") => Policy::RoundRobin,
        Some("random") => Policy::Random,
        Some("weighted") => Policy::Weighted,
        Some("hashed") => Policy::Hashed,
        Some(_) => {
            let span = a.policy.as_ref().map_or(raw.span(), Spanned::span);
            return cx.err(
                span,
                "zone.pool.answer.policy",
                "must be round-robin, random, weighted or hashed",
            );
        }
    };
    let all_down = match a.all_down.as_ref().map(|p| p.get_ref().as_str()) {
        None | Some("all") => AllDown::All,
        Some("none") => AllDown::None,
        Some("backup") => AllDown::Backup,
        Some(_) => {
            let span = a.all_down.as_ref().map_or(raw.span(), Spanned::span);
            return cx.err(span, "zone.pool.answer.all_down", "must be all, none or backup");
        }
    };
    let max = cx.opt_count(&a.max, "zone.pool.answer.max", 1..=64, 8)?;
    let down_ttl = match &a.down_ttl {
        Some(d) if *d.get_ref() > ttl => {
            return cx.err(
                d.span(),
                "zone.pool.answer.down_ttl",
                format!("must be at most the pool's ttl ({ttl})"),
            )
        }
        Some(d) => Some(*d.get_ref()),
        None => None,
    };
    Ok((
        Answer {
            policy,
            max,
            all_down,
        },
        down_ttl,
    ))
}

#[cfg(test)]
mod tests {
    use super::{status_range, valid_host};

    /// A fixed-seed stand-in for the `pool_config` fuzz target (cargo-fuzz
    /// needs nightly): 4,000 mutations of a full pool table, each read by
    /// the real reader. Nothing panics; a refusal names a key and a line;
    /// what is accepted holds the invariants the checker relies on.
    #[test]
    fn mutated_pool_tables_never_panic_and_refusals_name_a_key() {
        let head = "[server]\nlisten = [\"127.0.0.1:53\"]\n\n[[zone]]\norigin = \"example.test.\"\nfile = \"z\"\n[[zone.pool]]\n";
        let pool = "name = \"www\"\ntype = \"A\"\nttl = 30\nmembers = [\"192.0.2.1\", { addr = \"192.0.2.2\", weight = 3 }]\nbackup = [\"192.0.2.9\"]\ncheck = { kind = \"http\", port = 8080, path = \"/health\", host = \"www.example.test\", status = \"200-299\", body = \"ok\", interval = \"1s\", timeout = \"500ms\", rise = 2, fall = 3 }\nanswer = { policy = \"weighted\", max = 2, all_down = \"backup\", down_ttl = 5 }\n";
        let alphabet = b"\"=,{}[]. 0123456789abcdefghijklmnopqrstuvwxyz:-/\n#@ms";
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize
        };
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..4000 {
            let mut text = pool.as_bytes().to_vec();
            for _ in 0..1 + next() % 4 {
                let at = next() % text.len();
                match next() % 3 {
                    0 => text[at] = alphabet[next() % alphabet.len()],
                    1 => {
                        text.remove(at);
                    }
                    _ => text.insert(at, alphabet[next() % alphabet.len()]),
                }
            }
            let text = format!("{head}{}", String::from_utf8_lossy(&text));
            match crate::config::parse(
                std::path::Path::new("/t/p.toml"),
                &text,
                &crate::config::Host::default(),
            ) {
                Ok(s) => {
                    accepted += 1;
                    for p in &s.zones[0].pools {
                        assert!(!p.members.is_empty() && p.check.timeout <= p.check.interval.mul_f64(0.9));
                        assert!(p.members.iter().all(|m| m.addr.is_ipv4() == (p.rtype == 1)));
                        assert!((1..=64).contains(&p.answer.max));
                    }
                }
                Err(e) => {
                    refused += 1;
                    assert!(e.line >= 1 && !e.key.is_empty(), "{e}");
                }
            }
        }
        assert!(
            accepted > 100 && refused > 100,
            "{accepted} accepted, {refused} refused"
        );
    }

    #[test]
    fn host_headers() {
        for ok in [
            "www.example.test",
            "www.example.test:8443",
            "192.0.2.1",
            "192.0.2.1:80",
            "[2001:db8::1]",
            "[2001:db8::1]:443",
        ] {
            assert!(valid_host(ok), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "www..test",
            "[2001:db8::1",
            "2001:db8::1",
            "host:0",
            "host:99999",
            "[www.test]",
        ] {
            assert!(!valid_host(bad), "{bad}");
        }
    }

    #[test]
    fn status_ranges() {
        assert_eq!(status_range("200"), Ok(200..=200));
        assert_eq!(status_range("200-399"), Ok(200..=399));
        assert!(status_range("399-200").is_err());
        assert!(status_range("2xx").is_err());
        assert!(status_range("99").is_err());
    }
}
