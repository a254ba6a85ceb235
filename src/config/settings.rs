//! The validated, typed settings the daemon runs on, built from the file.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use palanquin_resolver::ServiceConfig;
use toml::Spanned;

use super::error::{ConfigError, ConfigWarning};
use super::host::Host;
use super::{addr, duration, file};

/// Everything `palanquin serve` needs, checked.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The file these came from.
    pub(crate) path: PathBuf,
    pub(crate) listen: Vec<SocketAddr>,
    pub(crate) udp_workers: usize,
    pub(crate) tcp_idle_timeout: Duration,
    pub(crate) tcp_max_connections: usize,
    /// `None`: no recursion (everyone gets REFUSED).
    pub(crate) resolver: Option<ServiceConfig>,
    pub(crate) cache_size: usize,
    pub(crate) metrics: Option<SocketAddr>,
    /// The control socket (`[control].socket`), if any.
    pub(crate) control: Option<PathBuf>,
    /// Virtual routers.
    pub(crate) vrrp: Vec<super::vrrp::VrrpConfig>,
    /// Authoritative zones, in file order (loaded by `crate::zones`).
    pub(crate) zones: Vec<super::zone::ZoneConfig>,
    /// RFC 5001 NSID, sent when a client asks.
    pub(crate) nsid: Option<Vec<u8>>,
    /// What was accepted but is probably not meant (`file:line: warning: ...`).
    pub(crate) warnings: Vec<ConfigWarning>,
}

/// Checks with access to the file's text, for error positions, and to what
/// the caller found out about the host.
pub(super) struct Ctx<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
    pub(super) host: &'a Host,
}

impl Ctx<'_> {
    /// The line of byte `at` of the configuration file.
    pub(super) fn line_of(&self, at: usize) -> usize {
        let before = self.text.get(..at).unwrap_or(self.text);
        before.matches('\n').count() + 1
    }

    /// A warning at byte `at` of the configuration file.
    pub(super) fn warning(&self, at: usize, message: String) -> ConfigWarning {
        let before = self.text.get(..at).unwrap_or(self.text);
        ConfigWarning {
            file: self.path.to_owned(),
            line: before.matches('\n').count() + 1,
            message,
        }
    }

    pub(super) fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) -> Result<T, ConfigError> {
        Err(ConfigError::at(self.path, self.text, span, key, message))
    }

    pub(super) fn duration(&self, v: &Spanned<String>, key: &str) -> Result<Duration, ConfigError> {
        duration::parse(v.get_ref()).or_else(|m| self.err(v.span(), key, m))
    }

    pub(super) fn opt_duration(
        &self,
        v: &Option<Spanned<String>>,
        key: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        v.as_ref().map_or(Ok(default), |v| self.duration(v, key))
    }

    /// A whole number within `range`, or `default` when absent.
    pub(super) fn opt_count<T: Copy + PartialOrd + std::fmt::Display>(
        &self,
        v: &Option<Spanned<T>>,
        key: &str,
        range: std::ops::RangeInclusive<T>,
        default: T,
    ) -> Result<T, ConfigError> {
        match v {
            None => Ok(default),
            Some(n) if range.contains(n.get_ref()) => Ok(*n.get_ref()),
            Some(n) => self.err(
                n.span(),
                key,
                format!("must be between {} and {}", range.start(), range.end()),
            ),
        }
    }

    pub(super) fn ttl(
        &self,
        v: &Option<Spanned<String>>,
        key: &str,
        default: u32,
    ) -> Result<u32, ConfigError> {
        let d = self.opt_duration(v, key, Duration::from_secs(u64::from(default)))?;
        Ok(u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
    }

    /// `ADDR:PORT`, `[V6]:PORT`, or a bare address with `default_port`.
    pub(super) fn addr(
        &self,
        v: &Spanned<String>,
        key: &str,
        default_port: Option<u16>,
    ) -> Result<SocketAddr, ConfigError> {
        addr::parse(v.get_ref(), default_port).or_else(|e| self.err(v.span(), key, e.to_string()))
    }

    pub(super) fn upstreams(
        &self,
        list: &Spanned<Vec<Spanned<String>>>,
        key: &str,
    ) -> Result<Vec<SocketAddr>, ConfigError> {
        if list.get_ref().is_empty() {
            return self.err(list.span(), key, "needs at least one upstream");
        }
        list.get_ref()
            .iter()
            .map(|u| self.addr(u, key, Some(53)))
            .collect()
    }
}

/// Whether a query sent to `upstream` would reach one of our own `listen`
/// sockets: the same address, or the port of a wildcard listener on a
/// loopback, unspecified or local interface address (`host`: this host's
/// interface addresses). An unspecified upstream means loopback to the kernel.
pub(crate) fn is_own_listener(listen: &[SocketAddr], upstream: &SocketAddr, host: &[IpAddr]) -> bool {
    let ip = upstream.ip().to_canonical();
    let upstream = SocketAddr::new(ip, upstream.port());
    listen.iter().any(|l| {
        let same_port_family = l.is_ipv4() == upstream.is_ipv4() && l.port() == upstream.port();
        *l == upstream
            || (same_port_family && ip.is_unspecified() && (l.ip().is_loopback() || l.ip().is_unspecified()))
            || (same_port_family
                && l.ip().is_unspecified()
                && (ip.is_loopback() || ip.is_unspecified() || host.contains(&ip)))
    })
}

/// Whether sockets bound to `a` and `b` would take the same traffic: the
/// same port and family, and the same address or a wildcard on either side
/// (IPv6 sockets are V6ONLY, so `[::]` does not cover IPv4). Port 0 asks the
/// kernel for a free port, so it overlaps nothing.
pub(crate) fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    let (ia, ib) = (a.ip().to_canonical(), b.ip().to_canonical());
    a.port() != 0
        && a.port() == b.port()
        && ia.is_ipv4() == ib.is_ipv4()
        && (ia == ib || ia.is_unspecified() || ib.is_unspecified())
}

/// How `addr` overlaps `earlier`, for an error message.
fn overlap_reason(addr: SocketAddr, earlier: SocketAddr) -> String {
    if addr.ip().to_canonical() == earlier.ip().to_canonical() {
        format!("{addr} is listed twice")
    } else {
        format!("{addr} overlaps {earlier} (the same port, and a wildcard address takes every address)")
    }
}

impl Settings {
    /// Every upstream address, default set and forward zones.
    pub(crate) fn upstream_addrs(&self) -> impl Iterator<Item = &SocketAddr> {
        self.resolver.iter().flat_map(|r| {
            r.upstreams
                .upstreams
                .iter()
                .chain(r.forward.iter().flat_map(|f| f.upstreams.upstreams.iter()))
        })
    }

    /// Validates `raw`, read from `text` at `path`. Pure: what it needs of
    /// the host (addresses, CPUs, the files the configuration names) is in
    /// `host`, gathered by the caller ([`files_named`] says which files).
    pub(crate) fn from_file(
        raw: file::Config,
        path: &Path,
        text: &str,
        host: &Host,
    ) -> Result<Self, ConfigError> {
        let cx = Ctx { path, text, host };

        let server = &raw.server;
        if server.listen.get_ref().is_empty() {
            return cx.err(
                server.listen.span(),
                "server.listen",
                "needs at least one address",
            );
        }
        let mut listen: Vec<SocketAddr> = Vec::new();
        for l in server.listen.get_ref() {
            let addr = cx.addr(l, "server.listen", None)?;
            if let Some(&earlier) = listen.iter().find(|&&e| overlaps(addr, e)) {
                return cx.err(l.span(), "server.listen", overlap_reason(addr, earlier));
            }
            listen.push(addr);
        }
        let udp_workers = cx.opt_count(
            &server.udp_workers,
            "server.udp_workers",
            1..=256,
            host.cpus.max(1),
        )?;
        let tcp_idle_timeout = cx.opt_duration(
            &server.tcp_idle_timeout,
            "server.tcp_idle_timeout",
            Duration::from_secs(10),
        )?;
        let tcp_max_connections = cx.opt_count(
            &server.tcp_max_connections,
            "server.tcp_max_connections",
            1..=65_535,
            1024,
        )?;
        let metrics = match &raw.metrics {
            None => None,
            Some(m) => {
                let addr = cx.addr(&m.listen, "metrics.listen", None)?;
                if let Some(&dns) = listen.iter().find(|&&l| overlaps(addr, l)) {
                    return cx.err(
                        m.listen.span(),
                        "metrics.listen",
                        format!("{addr} is taken by the DNS listener {dns} (server.listen): metrics need an address of their own"),
                    );
                }
                Some(addr)
            }
        };
        let control = match &raw.control {
            None => None,
            Some(c) if c.socket.get_ref().trim().is_empty() => {
                return cx.err(c.socket.span(), "control.socket", "must be a path")
            }
            Some(c) => Some(resolve_path(path, c.socket.get_ref())),
        };
        let vrrp = super::vrrp::routers(&cx, &raw.vrrp)?;
        // A self-check asks a listener of this node's own.
        if let Some((i, _)) = vrrp.iter().enumerate().find(|(_, v)| v.self_check.is_some()) {
            let vips: Vec<std::net::IpAddr> = vrrp
                .iter()
                .flat_map(|v| v.addresses.iter().map(|(a, _)| *a))
                .collect();
            if listen.iter().all(|l| vips.contains(&l.ip())) {
                let span = raw.vrrp[i]
                    .get_ref()
                    .self_check
                    .as_ref()
                    .map_or(raw.vrrp[i].span(), Spanned::span);
                return cx.err(
                    span,
                    "vrrp.self_check",
                    "every server.listen address is a virtual one: the self-check needs a listener of this node's own (127.0.0.1:53, say)",
                );
            }
        }
        let keys = super::zone::keys(&cx, &raw.key)?;
        let zones = super::zone::zones(&cx, &raw.zone, &keys, &listen)?;
        // A self-check's name is answered by a zone here, or forwarded.
        for (i, v) in vrrp.iter().enumerate() {
            let Some(check) = &v.self_check else { continue };
            let in_zone = zones
                .iter()
                .any(|z| palanquin_wire::is_below_or_at(&check.name, &z.apex));
            if !in_zone && raw.resolver.is_none() {
                let span = raw.vrrp[i]
                    .get_ref()
                    .self_check
                    .as_ref()
                    .map_or(raw.vrrp[i].span(), Spanned::span);
                return cx.err(
                    span,
                    "vrrp.self_check.name",
                    format!(
                        "{} is in no [[zone]] and there is no [resolver]: the check could never pass",
                        check.name_text
                    ),
                );
            }
        }
        let nsid = match &server.nsid {
            None => None,
            Some(n) if n.get_ref().is_empty() || n.get_ref().len() > 128 => {
                return cx.err(n.span(), "server.nsid", "must be 1 to 128 bytes of text");
            }
            Some(n) => Some(n.get_ref().as_bytes().to_vec()),
        };
        let mut warnings = Vec::new();
        let (resolver, cache_size) = match &raw.resolver {
            None => (None, 1),
            Some(r) => {
                let (svc, size) = super::resolver::resolver(&cx, r, &listen, &mut warnings)?;
                (Some(svc), size)
            }
        };
        Ok(Settings {
            path: path.to_owned(),
            listen,
            udp_workers,
            tcp_idle_timeout,
            tcp_max_connections,
            resolver,
            cache_size,
            metrics,
            control,
            vrrp,
            zones,
            nsid,
            warnings,
        })
    }
}

/// The files that validating `raw` (from `path`) reads, for the caller to
/// put into [`Host::files`].
pub(crate) fn files_named(raw: &file::Config, path: &Path) -> Vec<PathBuf> {
    raw.resolver
        .iter()
        .filter_map(|r| r.resolv_conf.as_ref())
        .chain(raw.key.iter().map(|k| &k.get_ref().secret_file))
        .chain(
            raw.zone
                .iter()
                .flat_map(|z| &z.get_ref().pool)
                .filter_map(|p| p.get_ref().check.get_ref().ca_file.as_ref()),
        )
        .map(|f| resolve_path(path, f.get_ref()))
        .collect()
}

/// A path in the config is relative to the config file's directory.
pub(super) fn resolve_path(config: &Path, value: &str) -> PathBuf {
    let p = Path::new(value);
    if p.is_absolute() {
        p.to_owned()
    } else {
        config.parent().unwrap_or(Path::new(".")).join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An invented host: one interface address, 192.0.2.53 on `eth7`
    /// (index 7), four CPUs, and the files in `files`.
    fn host(files: &[(&str, &str)]) -> Host {
        Host {
            addresses: vec![
                "192.0.2.53".parse().expect("ip"),
                "127.0.0.1".parse().expect("ip"),
            ],
            interfaces: vec![("lo".into(), 1), ("eth7".into(), 7)],
            cpus: 4,
            files: files
                .iter()
                .map(|(p, text)| (PathBuf::from(p), Ok(text.as_bytes().to_vec())))
                .collect(),
        }
    }

    fn parse_on(host: &Host, text: &str) -> Result<Settings, ConfigError> {
        crate::config::parse(Path::new("/t/p.toml"), text, host)
    }

    fn parse(text: &str) -> Result<Settings, ConfigError> {
        parse_on(&host(&[]), text)
    }

    #[test]
    fn recursion_is_for_loopback_unless_allow_says_otherwise() {
        let s = parse("[server]\nlisten = [\"127.0.0.1:53\"]\n[resolver]\nupstreams = [\"192.0.2.1\"]\n")
            .expect("valid");
        let acl = &s.resolver.expect("recursion on").acl;
        assert!(acl.allows("127.0.0.1".parse().expect("ip")));
        assert!(acl.allows("::1".parse().expect("ip")));
        assert!(
            !acl.allows("192.0.2.7".parse().expect("ip")),
            "never an open resolver by default"
        );
        assert!(!acl.allows("2001:db8::7".parse().expect("ip")));
    }

    #[test]
    fn upstreams_that_would_reach_our_own_listeners_are_loops() {
        let sa = |s: &str| s.parse::<SocketAddr>().expect("addr");
        let own = |listen: &[&str], up: &str| {
            let listen: Vec<SocketAddr> = listen.iter().map(|l| sa(l)).collect();
            is_own_listener(&listen, &sa(up), &["192.0.2.53".parse().expect("ip")])
        };
        assert!(own(&["127.0.0.1:53"], "127.0.0.1:53"));
        assert!(!own(&["127.0.0.1:53"], "127.0.0.2:53"), "another address");
        assert!(!own(&["127.0.0.1:53"], "127.0.0.1:5353"), "another port");
        assert!(own(&["127.0.0.1:53"], "[::ffff:127.0.0.1]:53"), "v4-mapped");
        assert!(own(&["127.0.0.1:53"], "0.0.0.0:53"), "unspecified means loopback");
        assert!(own(&["[::1]:53"], "[::]:53"));
        assert!(
            own(&["0.0.0.0:53"], "127.0.0.9:53"),
            "any loopback on a wildcard's port"
        );
        assert!(
            !own(&["0.0.0.0:53"], "[::1]:53"),
            "the v4 wildcard does not take v6"
        );
        assert!(own(&["[::]:53"], "[::1]:53"));
        assert!(!own(&["0.0.0.0:53"], "192.0.2.1:53"), "not this host's address");
        assert!(own(&["0.0.0.0:53"], "192.0.2.53:53"), "this host's address");
        assert!(
            !own(&["127.0.0.1:53"], "192.0.2.53:53"),
            "a host address, but no wildcard"
        );
        assert!(!own(&["0.0.0.0:53"], "127.0.0.9:5353"));
    }

    /// Validation sees the host only through what it is given: the same
    /// file is a loop on a host that owns the upstream's address and fine
    /// on one that does not.
    #[test]
    fn the_loop_check_uses_the_host_addresses_it_is_given() {
        let text = "[server]\nlisten = [\"0.0.0.0:53\"]\n[resolver]\nupstreams = [\"192.0.2.53\"]\n";
        let e = parse(text).expect_err("192.0.2.53 is this invented host's");
        assert_eq!((e.line, e.key.as_str()), (4, "resolver.upstreams"), "{e}");
        assert!(e.message.contains("queries would loop"), "{e}");
        let elsewhere = Host {
            addresses: vec!["198.51.100.1".parse().expect("ip")],
            ..host(&[])
        };
        assert!(parse_on(&elsewhere, text).is_ok(), "another host's address");
        let text = "[server]\nlisten = [\"0.0.0.0:53\"]\n[resolver]\nupstreams = [\"127.0.0.1:5353\"]\n\
                    [[resolver.forward]]\nzone = \"corp.example.\"\nupstreams = [\"192.0.2.53:53\"]\n";
        let e = parse(text).expect_err("the forward zone loops");
        assert_eq!(e.key, "resolver.forward.upstreams", "{e}");
    }

    /// resolv.conf comes from the host's files, scopes from its
    /// interfaces, and the default worker count from its CPUs.
    #[test]
    fn resolv_conf_and_defaults_come_from_the_host_given() {
        let text = "[server]\nlisten = [\"0.0.0.0:53\"]\n[resolver]\nresolv_conf = \"upstreams.conf\"\n";
        let named = host(&[(
            "/t/upstreams.conf",
            "nameserver fe80::1%eth7\nnameserver 198.51.100.9\nbogus\n",
        )]);
        let s = parse_on(&named, text).expect("valid");
        assert_eq!(s.udp_workers, 4);
        let r = s.resolver.expect("recursion on");
        let scoped = SocketAddr::V6(std::net::SocketAddrV6::new(
            "fe80::1".parse().expect("v6"),
            53,
            0,
            7,
        ));
        assert_eq!(
            r.upstreams.upstreams,
            [scoped, "198.51.100.9:53".parse().expect("addr")]
        );
        let shown: Vec<String> = s.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert!(
            shown[0].starts_with("/t/upstreams.conf:3: warning: `bogus`"),
            "{shown:?}"
        );

        let looped = host(&[("/t/upstreams.conf", "nameserver 192.0.2.53\n")]);
        let e = parse_on(&looped, text).expect_err("the host's own address");
        assert_eq!(e.key, "resolver.resolv_conf", "{e}");
        let unread = Host {
            files: [(
                PathBuf::from("/t/upstreams.conf"),
                Err(std::io::ErrorKind::NotFound.into()),
            )]
            .into(),
            ..host(&[])
        };
        let e = parse_on(&unread, text).expect_err("missing");
        assert!(e.message.starts_with("cannot read /t/upstreams.conf:"), "{e}");
        let e = parse_on(&host(&[]), text).expect_err("not gathered");
        assert!(e.message.contains("was not read"), "{e}");
        let raw: file::Config = toml::from_str(text).expect("toml");
        assert_eq!(
            files_named(&raw, Path::new("/t/p.toml")),
            [PathBuf::from("/t/upstreams.conf")]
        );
    }

    #[test]
    fn replication_keys_are_checked_and_name_their_key() {
        let head = "[server]\nlisten = [\"127.0.0.1:53\"]\n";
        let key = "[[key]]\nname = \"xfr\"\nsecret_file = \"k\"\n";
        let files = [("/t/k", "secret \"c2VjcmV0LXNlY3JldA==\";\n")];
        let ok = parse_on(
            &host(&files),
            &format!("{head}{key}[[zone]]\norigin = \"a.test.\"\nfile = \"a.saved\"\nprimaries = [\"192.0.2.1\"]\ntransfer_key = \"xfr.\"\nallow_transfer = [\"192.0.2.0/24\"]\nnotify = [\"192.0.2.9\"]\n"),
        )
        .expect("valid");
        let z = &ok.zones[0];
        assert!(z.is_secondary());
        assert_eq!(z.primaries[0].port(), 53);
        assert_eq!(z.notify[0].port(), 53);
        assert_eq!(z.key.as_ref().map(|k| k.name()), Some("xfr."));
        assert!(z.may_transfer("192.0.2.77".parse().expect("ip")));
        assert!(!z.may_transfer("198.51.100.1".parse().expect("ip")));
        assert!(!format!("{ok:?}").contains("c2VjcmV0"), "the secret never shows");
        let cases = [
            (
                format!("{head}[[zone]]\norigin = \"a.test.\"\nfile = \"z\"\ntransfer_key = \"nope.\"\n"),
                "zone.transfer_key",
                "no [[key]]",
            ),
            (
                format!(
                    "{head}[[zone]]\norigin = \"a.test.\"\nfile = \"z\"\nallow_transfer = [\"not-a-net\"]\n"
                ),
                "zone.allow_transfer",
                "",
            ),
            (
                format!("{head}[[zone]]\norigin = \"a.test.\"\nfile = \"z\"\nnotify = [\"1.2.3.4:99999\"]\n"),
                "zone.notify",
                "",
            ),
            (
                format!("{head}[[zone]]\norigin = \"a.test.\"\nprimaries = [\"192.0.2.1\"]\n"),
                "zone.file",
                "saved to",
            ),
            (
                format!(
                    "{head}[[zone]]\norigin = \"a.test.\"\nfile = \"z\"\nprimaries = [\"127.0.0.1:53\"]\n"
                ),
                "zone.primaries",
                "own listener",
            ),
            (
                format!("{head}[[key]]\nname = \"k\"\nsecret_file = \"missing\"\n"),
                "key.secret_file",
                "",
            ),
            (
                format!("{head}[[key]]\nname = \"k\"\nalgorithm = \"hmac-md5\"\nsecret_file = \"k\"\n"),
                "key.algorithm",
                "unknown algorithm",
            ),
            (format!("{head}{key}{key}"), "key.name", "twice"),
        ];
        for (text, want_key, want_msg) in cases {
            let e = parse_on(&host(&files), &text).expect_err(&text);
            assert_eq!(e.key, want_key, "{e}");
            assert!(e.message.contains(want_msg), "{e}");
        }
        let bad =
            parse_on(&host(&[("/t/k", "not base64 !!\n")]), &format!("{head}{key}")).expect_err("bad secret");
        assert_eq!(bad.key, "key.secret_file");
    }

    #[test]
    fn a_bad_pool_is_refused_with_the_key_named() {
        let zone = "[server]\nlisten = [\"127.0.0.1:53\"]\n\n[[zone]]\norigin = \"example.test.\"\nfile = \"z\"\n[[zone.pool]]\n";
        let cases = [
            ("name = \"www\"\nmembers = [\"192.0.2.10\"]\ncheck = { kind = \"tcp\" }\n", "zone.pool.check.port"),
            ("name = \"www.other.test.\"\nmembers = [\"192.0.2.10\"]\ncheck = { kind = \"tcp\", port = 80 }\n", "zone.pool.name"),
            ("name = \"www\"\nmembers = [\"2001:db8::1\"]\ncheck = { kind = \"tcp\", port = 80 }\n", "zone.pool.members"),
            ("name = \"www\"\ntype = \"AAAA\"\nmembers = [\"192.0.2.1\"]\ncheck = { kind = \"tcp\", port = 80 }\n", "zone.pool.members"),
            ("name = \"www\"\ntype = \"MX\"\nmembers = [\"192.0.2.1\"]\ncheck = { kind = \"tcp\", port = 80 }\n", "zone.pool.type"),
            ("name = \"www\"\nmembers = [\"192.0.2.1\", \"192.0.2.1\"]\ncheck = { kind = \"tcp\", port = 80 }\n", "zone.pool.members"),
            ("name = \"www\"\nmembers = [{ addr = \"192.0.2.1\", weight = 0 }]\ncheck = { kind = \"tcp\", port = 80 }\n", "zone.pool.members"),
            ("name = \"www\"\nmembers = []\ncheck = { kind = \"tcp\", port = 80 }\n", "zone.pool.members"),
            ("name = \"www\"\nmembers = [\"nope\"]\ncheck = { kind = \"tcp\", port = 80 }\n", "zone.pool.members"),
            ("name = \"www\"\nmembers = [\"192.0.2.1\"]\ncheck = { kind = \"ping\" }\n", "zone.pool.check.kind"),
            ("name = \"www\"\nmembers = [\"192.0.2.1\"]\ncheck = { kind = \"tcp\", port = 80, path = \"/\" }\n", "zone.pool.check.path"),
            ("name = \"www\"\nmembers = [\"192.0.2.1\"]\ncheck = { kind = \"http\", status = \"600\" }\n", "zone.pool.check.status"),
            ("name = \"www\"\nmembers = [\"192.0.2.1\"]\ncheck = { kind = \"http\", path = \"health\" }\n", "zone.pool.check.path"),
            ("name = \"www\"\nmembers = [\"192.0.2.1\"]\ncheck = { kind = \"dns\" }\n", "zone.pool.check.name"),
            ("name = \"www\"\nmembers = [\"192.0.2.1\"]\ncheck = { kind = \"exec\" }\n", "zone.pool.check.command"),
            ("name = \"www\"\nmembers = [\"192.0.2.1\"]\ncheck = { kind = \"tcp\", port = 80, interval = \"50ms\" }\n", "zone.pool.check.interval"),
            ("name = \"www\"\nmembers = [\"192.0.2.1\"]\ncheck = { kind = \"tcp\", port = 80, interval = \"1s\", timeout = \"2s\" }\n", "zone.pool.check.timeout"),
            ("name = \"www\"\nmembers = [\"192.0.2.1\"]\ncheck = { kind = \"tcp\", port = 80, rise = 0 }\n", "zone.pool.check.rise"),
            ("name = \"www\"\nmembers = [\"192.0.2.1\"]\ncheck = { kind = \"tcp\", port = 80 }\nanswer = { policy = \"fastest\" }\n", "zone.pool.answer.policy"),
            ("name = \"www\"\nmembers = [\"192.0.2.1\"]\ncheck = { kind = \"tcp\", port = 80 }\nanswer = { all_down = \"backup\" }\n", "zone.pool.answer"),
            ("name = \"www\"\nmembers = [\"192.0.2.1\"]\nttl = 30\ncheck = { kind = \"tcp\", port = 80 }\nanswer = { down_ttl = 60 }\n", "zone.pool.answer.down_ttl"),
            ("name = \"www\"\nmembers = [\"192.0.2.1\"]\ncheck = { kind = \"https\", tls_verify = false, ca_file = \"ca.pem\" }\n", "zone.pool.check.ca_file"),
            ("name = \"www\"\nmembers = [\"192.0.2.1\"]\ncheck = { kind = \"http\", body = \"\" }\n", "zone.pool.check.body"),
            ("name = \"www\"\nmembers = [\"192.0.2.1\"]\ncheck = { kind = \"http\", host = \"a b\" }\n", "zone.pool.check.host"),
            ("name = \"www\"\nmembers = [\"192.0.2.1\"]\nbackup = [\"192.0.2.9\"]\ncheck = { kind = \"tcp\", port = 80 }\n", "zone.pool.backup"),
            ("name = \"www\"\nmembers = [{ addr = \"192.0.2.1\", weight = 2 }]\ncheck = { kind = \"tcp\", port = 80 }\n", "zone.pool.members"),
            ("name = \"www\"\nmembers = [\"0.0.0.0\"]\ncheck = { kind = \"tcp\", port = 80 }\n", "zone.pool.members"),
            ("name = \"www\"\ntype = \"AAAA\"\nmembers = [\"fe80::1\"]\ncheck = { kind = \"tcp\", port = 80 }\n", "zone.pool.members"),
            ("name = \"www\"\nmembers = [\"192.0.2.1\"]\ncheck = { kind = \"tcp\", port = 80, interval = \"1s\", timeout = \"950ms\" }\n", "zone.pool.check.timeout"),
            ("name = \"www\"\nmembers = [\"192.0.2.1\"]\ncheck = { kind = \"tcp\", port = 80, interval = \"60s\", timeout = \"40s\" }\n", "zone.pool.check.timeout"),
        ];
        for (pool, key) in cases {
            let e = parse(&format!("{zone}{pool}")).expect_err(pool);
            assert_eq!(e.key, key, "{pool}: {e}");
            assert!(e.line >= 7, "{e}");
        }
        // A CA file that is missing, or holds no certificate.
        for (files, want) in [
            (&[][..], "not read"),
            (&[("/t/ca.pem", "junk\n")][..], "no certificate"),
        ] {
            let text = format!("{zone}name = \"www\"\nmembers = [\"192.0.2.1\"]\ncheck = {{ kind = \"https\", ca_file = \"ca.pem\" }}\n");
            let e = parse_on(&host(files), &text).expect_err("bad CA file");
            assert_eq!(e.key, "zone.pool.check.ca_file", "{e}");
            assert!(e.message.contains(want), "{e}");
        }
        // Every kind, written fully, passes the checks.
        let (_, pem) = palanquin_testkit::backend::tls_server(&["www.example.test"]);
        let with_ca = host(&[("/t/ca.pem", pem.as_str())]);
        let valid = [
            "name = \"www\"\nmembers = [\"192.0.2.1\", { addr = \"192.0.2.2\", weight = 3 }]\nbackup = [\"192.0.2.9\"]\ncheck = { kind = \"http\", port = 8080, path = \"/health\", host = \"www.example.test\", status = \"200-299\", body = \"ok\", interval = \"1s\", timeout = \"500ms\", rise = 2, fall = 3 }\nanswer = { policy = \"weighted\", max = 2, all_down = \"backup\", down_ttl = 5 }\n",
            "name = \"secure\"\nmembers = [\"192.0.2.1\"]\ncheck = { kind = \"https\", ca_file = \"ca.pem\", host = \"www.example.test:8443\" }\nanswer = { policy = \"hashed\" }\n",
            "name = \"insecure\"\nmembers = [\"192.0.2.1\"]\ncheck = { kind = \"https\", tls_verify = false }\n",
            "name = \"ns.example.test.\"\ntype = \"AAAA\"\nmembers = [\"2001:db8::1\"]\ncheck = { kind = \"dns\", name = \"health.check.\", address = \"192.0.2.53\" }\n",
            "name = \"@\"\nmembers = [\"192.0.2.1\"]\ncheck = { kind = \"exec\", command = [\"/usr/bin/check\", \"{addr}\"], shell = false }\nanswer = { all_down = \"none\", policy = \"random\" }\n",
        ];
        for pool in valid {
            let s = parse_on(&with_ca, &format!("{zone}{pool}")).unwrap_or_else(|e| panic!("{pool}: {e}"));
            assert_eq!(s.zones[0].pools.len(), 1, "{pool}");
        }
    }

    #[test]
    fn a_bad_vrrp_table_is_refused_with_the_key_named() {
        let head = "[server]\nlisten = [\"127.0.0.1:53\"]\n[[vrrp]]\n";
        let good = "interface = \"eth7\"\nvrid = 53\nvirtual_ips = [\"192.0.2.53/24\"]\n";
        let cases = [
            ("interface = \"eth9\"\nvrid = 53\nvirtual_ips = [\"192.0.2.53\"]\n", "vrrp.interface"),
            ("interface = \"eth7\"\nvrid = 0\nvirtual_ips = [\"192.0.2.53\"]\n", "vrrp.vrid"),
            ("interface = \"eth7\"\nvrid = 256\nvirtual_ips = [\"192.0.2.53\"]\n", "vrrp.vrid"),
            ("interface = \"eth7\"\nvrid = 53\nvirtual_ips = []\n", "vrrp.virtual_ips"),
            ("interface = \"eth7\"\nvrid = 53\nvirtual_ips = [\"192.0.2.999\"]\n", "vrrp.virtual_ips"),
            ("interface = \"eth7\"\nvrid = 53\nvirtual_ips = [\"192.0.2.53\", \"2001:db8::53\"]\n", "vrrp.virtual_ips"),
            ("interface = \"eth7\"\nvrid = 53\nvirtual_ips = [\"2001:db8::53/129\"]\n", "vrrp.virtual_ips"),
            ("interface = \"eth7\"\nvrid = 53\nvirtual_ips = [\"ff02::12\"]\n", "vrrp.virtual_ips"),
            ("interface = \"eth7\"\nvrid = 53\nversion = 2\nvirtual_ips = [\"2001:db8::53\"]\n", "vrrp.version"),
            ("interface = \"eth7\"\nvrid = 53\nunicast_peers = [\"192.0.2.2\"]\nvirtual_ips = [\"2001:db8::53\"]\n", "vrrp.unicast_peers"),
            ("interface = \"eth7\"\nvrid = 53\nunicast_peers = [\"2001:db8::2\"]\nvirtual_ips = [\"2001:db8::53\"]\n", "vrrp.unicast_peers"),
            ("interface = \"eth7\"\nvrid = 53\nvirtual_ips = [\"192.0.2.53/33\"]\n", "vrrp.virtual_ips"),
            ("interface = \"eth7\"\nvrid = 53\nvirtual_ips = [\"224.0.0.18\"]\n", "vrrp.virtual_ips"),
            ("interface = \"eth7\"\nvrid = 53\npriority = 0\nvirtual_ips = [\"192.0.2.53\"]\n", "vrrp.priority"),
            ("interface = \"eth7\"\nvrid = 53\nadvert_interval = \"5ms\"\nvirtual_ips = [\"192.0.2.53\"]\n", "vrrp.advert_interval"),
            ("interface = \"eth7\"\nvrid = 53\nversion = 2\nadvert_interval = \"500ms\"\nvirtual_ips = [\"192.0.2.53\"]\n", "vrrp.advert_interval"),
            ("interface = \"eth7\"\nvrid = 53\nversion = 4\nvirtual_ips = [\"192.0.2.53\"]\n", "vrrp.version"),
            ("interface = \"eth7\"\nvrid = 53\nauth_pass = \"x\"\nvirtual_ips = [\"192.0.2.53\"]\n", "vrrp.auth_pass"),
            ("interface = \"eth7\"\nvrid = 53\nversion = 2\nauth_pass = \"123456789\"\nvirtual_ips = [\"192.0.2.53\"]\n", "vrrp.auth_pass"),
            ("interface = \"eth7\"\nvrid = 53\nunicast_peers = [\"ff02::1\"]\nvirtual_ips = [\"192.0.2.53\"]\n", "vrrp.unicast_peers"),
            ("interface = \"eth7\"\nvrid = 53\nchecksum = \"md5\"\nvirtual_ips = [\"192.0.2.53\"]\n", "vrrp.checksum"),
            ("interface = \"eth7\"\nvrid = 53\nnotify = []\nvirtual_ips = [\"192.0.2.53\"]\n", "vrrp.notify"),
            ("interface = \"eth7\"\nvrid = 53\nvirtual_ips = [\"192.0.2.53\"]\n[vrrp.self_check]\nname = \"a..b\"\n", "vrrp.self_check.name"),
            ("interface = \"eth7\"\nvrid = 53\nvirtual_ips = [\"192.0.2.53\"]\n[vrrp.self_check]\nname = \"h.test.\"\ninterval = \"100ms\"\ntimeout = \"200ms\"\n", "vrrp.self_check.timeout"),
            ("interface = \"eth7\"\nvrid = 53\npriority = 255\nvirtual_ips = [\"192.0.2.53\"]\n[vrrp.self_check]\nname = \"h.test.\"\nweight = 10\n", "vrrp.self_check.weight"),
            (&format!("{good}[[vrrp]]\n{good}"), "vrrp.vrid"),
            (&format!("{good}[[vrrp]]\ninterface = \"eth7\"\nvrid = 54\nvirtual_ips = [\"192.0.2.53\"]\n"), "vrrp.virtual_ips"),
            ("interface = \"eth7\"\nvrid = 53\nversion = 2\nchecksum = \"rfc9568\"\nvirtual_ips = [\"192.0.2.53\"]\n", "vrrp.checksum"),
            ("interface = \"eth7\"\nvrid = 53\npreempt = false\npreempt_delay = \"5s\"\nvirtual_ips = [\"192.0.2.53\"]\n", "vrrp.preempt_delay"),
            ("interface = \"eth7\"\nvrid = 53\nvirtual_ips = [\"192.0.2.53/0\"]\n", "vrrp.virtual_ips"),
            ("interface = \"eth7\"\nvrid = 53\nvirtual_ips = [\"192.0.2.53\"]\n[vrrp.self_check]\nname = \"nowhere.test.\"\n", "vrrp.self_check.name"),
        ];
        for (table, key) in cases {
            let e = parse(&format!("{head}{table}")).expect_err(table);
            assert_eq!(e.key, key, "{table}: {e}");
            assert!(e.line >= 3, "{e}");
        }
        // A self-check needs a listener that is not a virtual address.
        let e = parse("[server]\nlisten = [\"192.0.2.53:53\"]\n[[vrrp]]\ninterface = \"eth7\"\nvrid = 53\nvirtual_ips = [\"192.0.2.53/24\"]\n[vrrp.self_check]\nname = \"h.test.\"\n").expect_err("VIP only");
        assert_eq!(e.key, "vrrp.self_check", "{e}");
        // Everything written fully passes.
        let with_resolver =
            "[server]\nlisten = [\"127.0.0.1:53\"]\n[resolver]\nupstreams = [\"192.0.2.1\"]\n[[vrrp]]\n";
        let s = parse(&format!(
            "{with_resolver}interface = \"eth7\"\nvrid = 53\npriority = 150\nversion = 2\nadvert_interval = \"2s\"\nvirtual_ips = [\"192.0.2.53/24\", \"192.0.2.54\"]\npreempt_delay = \"5s\"\nauth_pass = \"secret\"\nunicast_peers = [\"192.0.2.2\"]\ngarp_repeat = 3\ngarp_interval = \"200ms\"\ngarp_refresh = \"60s\"\nnotify = [\"/usr/local/bin/vrrp-notify\"]\nnotify_master = [\"/bin/true\"]\n[vrrp.self_check]\nname = \"health.check\"\ninterval = \"1s\"\ntimeout = \"500ms\"\nfall = 2\nrise = 3\nweight = 60\n"
        ))
        .expect("valid");
        let v = &s.vrrp[0];
        assert_eq!(
            (v.vrid, v.priority, v.interval_cs, v.addresses.len()),
            (53, 150, 200, 2)
        );
        assert_eq!(v.self_check.as_ref().map(|c| c.weight), Some(Some(60)));
        // An IPv6 router may share its VRID and interface with an IPv4 one
        // (they are apart, RFC 5798 §5.2.3); /128 is the default prefix.
        let s = parse(&format!(
            "{head}{good}[[vrrp]]\ninterface = \"eth7\"\nvrid = 53\nvirtual_ips = [\"fe80::53\", \"2001:db8::53\"]\nunicast_peers = [\"fe80::2\"]\n"
        ))
        .expect("IPv6 beside IPv4");
        assert_eq!(
            s.vrrp[1].addresses,
            [
                ("fe80::53".parse().expect("v6"), 128),
                ("2001:db8::53".parse().expect("v6"), 128)
            ]
        );
    }

    #[test]
    fn overlapping_listen_addresses_are_refused() {
        let sa = |s: &str| s.parse::<SocketAddr>().expect("addr");
        assert!(overlaps(sa("127.0.0.1:53"), sa("127.0.0.1:53")));
        assert!(overlaps(sa("0.0.0.0:53"), sa("127.0.0.1:53")));
        assert!(overlaps(sa("127.0.0.1:53"), sa("0.0.0.0:53")));
        assert!(overlaps(sa("[::]:53"), sa("[::1]:53")));
        assert!(
            !overlaps(sa("[::]:53"), sa("0.0.0.0:53")),
            "IPv6 sockets are V6ONLY"
        );
        assert!(!overlaps(sa("127.0.0.1:53"), sa("127.0.0.2:53")));
        assert!(!overlaps(sa("127.0.0.1:53"), sa("127.0.0.1:5353")));
        assert!(
            !overlaps(sa("127.0.0.1:0"), sa("127.0.0.1:0")),
            "port 0: the kernel picks"
        );
        let e = parse("[server]\nlisten = [\"127.0.0.1:53\",\n  \"127.0.0.1:53\"]\n").expect_err("twice");
        assert_eq!((e.line, e.key.as_str()), (3, "server.listen"));
        assert!(e.message.contains("listed twice"), "{e}");
        let e = parse("[server]\nlisten = [\"0.0.0.0:53\", \"127.0.0.1:53\"]\n").expect_err("covered");
        assert!(e.message.contains("overlaps 0.0.0.0:53"), "{e}");
    }

    #[test]
    fn metrics_need_an_address_of_their_own() {
        for (listen, metrics) in [("127.0.0.1:53", "127.0.0.1:53"), ("0.0.0.0:53", "127.0.0.1:53")] {
            let text = format!("[server]\nlisten = [\"{listen}\"]\n[metrics]\nlisten = \"{metrics}\"\n");
            let e = parse(&text).expect_err("shared with DNS");
            assert_eq!((e.line, e.key.as_str()), (4, "metrics.listen"), "{e}");
        }
        let ok = parse("[server]\nlisten = [\"127.0.0.1:53\"]\n[metrics]\nlisten = \"127.0.0.1:9153\"\n");
        assert!(ok.is_ok());
    }

    #[test]
    fn allow_no_rd_outside_allow_is_a_warning_with_its_line() {
        let s = parse(
            "[server]\nlisten = [\"127.0.0.1:53\"]\n[resolver]\nupstreams = [\"192.0.2.1\"]\n\
             allow_no_rd = [\"127.0.0.1/32\",\n  \"10.0.0.0/8\"]\n",
        )
        .expect("valid");
        let shown: Vec<String> = s.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert!(
            shown[0].starts_with("/t/p.toml:6: warning: resolver.allow_no_rd: 10.0.0.0/8"),
            "{shown:?}"
        );
    }
}
