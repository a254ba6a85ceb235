//! `[[vrrp]]`: virtual routers, each with its interface, VRID, priority,
//! interval, virtual addresses and, optionally, the self-check that ties
//! the address to this process answering DNS. Every key is checked here
//! and a bad one named; `src/vrrp/` runs them.

use std::net::IpAddr;
use std::time::Duration;

use palanquin_vrrp::packet::{Auth, Checksum, Version};
use toml::Spanned;

use super::error::ConfigError;
use super::file;
use super::settings::Ctx;

/// The self-check of a virtual router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SelfCheck {
    /// The name asked (wire form), and as text.
    pub(crate) name: Vec<u8>,
    pub(crate) name_text: String,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) fall: u32,
    pub(crate) rise: u32,
    /// Failing lowers the priority by this instead of going to Fault.
    pub(crate) weight: Option<u8>,
}

/// Commands run on transitions (keepalived's notify scripts).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Notify {
    /// Run on every transition, with the new state appended.
    pub(crate) any: Option<Vec<String>>,
    pub(crate) master: Option<Vec<String>>,
    pub(crate) backup: Option<Vec<String>>,
    pub(crate) fault: Option<Vec<String>>,
}

/// One virtual router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VrrpConfig {
    pub(crate) interface: String,
    pub(crate) vrid: u8,
    pub(crate) priority: u8,
    pub(crate) version: Version,
    /// Centiseconds.
    pub(crate) interval_cs: u16,
    /// All IPv4 or all IPv6 (one router per family, RFC 5798 §5.2.5).
    pub(crate) addresses: Vec<(IpAddr, u8)>,
    pub(crate) preempt: bool,
    pub(crate) preempt_delay: Duration,
    pub(crate) auth: Auth,
    pub(crate) peers: Vec<IpAddr>,
    pub(crate) checksum: Checksum,
    pub(crate) garp_repeat: u32,
    pub(crate) garp_interval: Duration,
    pub(crate) garp_refresh: Option<Duration>,
    pub(crate) notify: Notify,
    pub(crate) self_check: Option<SelfCheck>,
}

impl VrrpConfig {
    /// An IPv6 router (its addresses are IPv6).
    pub(crate) fn v6(&self) -> bool {
        self.addresses.first().is_some_and(|(a, _)| a.is_ipv6())
    }
}

/// The `[[vrrp]]` tables.
pub(super) fn routers(cx: &Ctx<'_>, raw: &[Spanned<file::Vrrp>]) -> Result<Vec<VrrpConfig>, ConfigError> {
    let mut out: Vec<VrrpConfig> = Vec::new();
    for table in raw {
        let v = table.get_ref();
        let interface = v.interface.get_ref().clone();
        if !cx.host.interfaces.iter().any(|(name, _)| *name == interface) {
            return cx.err(
                v.interface.span(),
                "vrrp.interface",
                format!("this host has no interface {interface:?}"),
            );
        }
        let vrid = cx.opt_count(&Some(v.vrid.clone()), "vrrp.vrid", 1..=255, 1)?;
        let vrid = u8::try_from(vrid).unwrap_or(1);
        let priority = cx.opt_count(&v.priority, "vrrp.priority", 1..=255, 100)?;
        let priority = u8::try_from(priority).unwrap_or(100);
        let version = match cx.opt_count(&v.version, "vrrp.version", 2..=3, 3)? {
            2 => Version::V2,
            _ => Version::V3,
        };
        let interval = cx.opt_duration(&v.advert_interval, "vrrp.advert_interval", Duration::from_secs(1))?;
        let span = v.advert_interval.as_ref().map_or(table.span(), Spanned::span);
        let interval_cs = match version {
            Version::V3 => {
                let ms = interval.as_millis();
                if ms % 10 != 0 || !(10..=40_950).contains(&ms) {
                    return cx.err(
                        span,
                        "vrrp.advert_interval",
                        "must be 10ms to 40.95s, in steps of 10ms (VRRPv3 counts centiseconds)",
                    );
                }
                (ms / 10) as u16
            }
            Version::V2 => {
                if interval.subsec_nanos() != 0 || !(1..=255).contains(&interval.as_secs()) {
                    return cx.err(
                        span,
                        "vrrp.advert_interval",
                        "must be whole seconds, 1s to 255s, with version = 2",
                    );
                }
                interval.as_secs() as u16 * 100
            }
        };
        let mut addresses = Vec::new();
        if v.virtual_ips.get_ref().is_empty() {
            return cx.err(
                v.virtual_ips.span(),
                "vrrp.virtual_ips",
                "needs at least one address",
            );
        }
        for a in v.virtual_ips.get_ref() {
            let (ip, prefix) = vip(a.get_ref()).or_else(|m| cx.err(a.span(), "vrrp.virtual_ips", m))?;
            if addresses.iter().any(|(o, _)| *o == ip) {
                return cx.err(a.span(), "vrrp.virtual_ips", format!("{ip} is listed twice"));
            }
            addresses.push((ip, prefix));
        }
        if addresses.len() > 20 {
            return cx.err(
                v.virtual_ips.span(),
                "vrrp.virtual_ips",
                "at most 20 addresses per virtual router (one advert carries them all)",
            );
        }
        let auth = match (&v.auth_pass, version) {
            (None, _) => Auth::None,
            (Some(p), Version::V3) => {
                return cx.err(
                    p.span(),
                    "vrrp.auth_pass",
                    "VRRPv3 has no authentication (RFC 5798 §9); it needs version = 2",
                )
            }
            (Some(p), Version::V2) => {
                let bytes = p.get_ref().as_bytes();
                if bytes.is_empty() || bytes.len() > 8 {
                    return cx.err(p.span(), "vrrp.auth_pass", "must be 1 to 8 bytes");
                }
                let mut pass = [0u8; 8];
                pass[..bytes.len()].copy_from_slice(bytes);
                Auth::Password(pass)
            }
        };
        let v6 = addresses.first().is_some_and(|(a, _)| a.is_ipv6());
        if let Some((a, _)) = addresses.iter().find(|(a, _)| a.is_ipv6() != v6) {
            return cx.err(
                v.virtual_ips.span(),
                "vrrp.virtual_ips",
                format!("{a} is not of the first address's family: one [[vrrp]] is IPv4 or IPv6 (RFC 5798 §5.2.5); give each family its own, with its own VRID or interface"),
            );
        }
        if let (true, Version::V2) = (v6, version) {
            let span = v.version.as_ref().map_or(v.virtual_ips.span(), Spanned::span);
            return cx.err(
                span,
                "vrrp.version",
                "VRRPv2 is IPv4 only; IPv6 virtual addresses need version = 3",
            );
        }
        // IPv4 and IPv6 routers are apart (RFC 5798 §5.2.3): one VRID can serve each.
        let family = if v6 { "IPv6" } else { "IPv4" };
        if out.iter().any(|o| {
            o.interface == interface
                && o.vrid == vrid
                && o.addresses.first().is_some_and(|(a, _)| a.is_ipv6() == v6)
        }) {
            return cx.err(
                v.vrid.span(),
                "vrrp.vrid",
                format!("VRID {vrid} is used twice for {family} on {interface}"),
            );
        }
        // Two routers would take an address from each other (each removes
        // it when it is not Master).
        for ((ip, _), a) in addresses.iter().zip(v.virtual_ips.get_ref()) {
            if out.iter().any(|o| o.addresses.iter().any(|(x, _)| x == ip)) {
                return cx.err(
                    a.span(),
                    "vrrp.virtual_ips",
                    format!("{ip} belongs to another [[vrrp]] already"),
                );
            }
        }
        let mut peers = Vec::new();
        for p in v.unicast_peers.iter().flat_map(|l| l.get_ref()) {
            match p.get_ref().trim().parse::<IpAddr>() {
                // IPv6 adverts leave from the link-local address (RFC 5798
                // §5.1.2.1): a peer named by another is never heard.
                Ok(IpAddr::V6(a)) if v6 && a.segments()[0] & 0xffc0 != 0xfe80 => {
                    return cx.err(
                        p.span(),
                        "vrrp.unicast_peers",
                        format!("{a}: IPv6 peers are named by their link-local address (fe80::/10), which their adverts come from"),
                    )
                }
                Ok(a)
                    if a.is_ipv6() == v6
                        && !a.is_unspecified()
                        && !a.is_multicast()
                        && a != IpAddr::from([255, 255, 255, 255]) =>
                {
                    peers.push(a)
                }
                _ => {
                    return cx.err(
                        p.span(),
                        "vrrp.unicast_peers",
                        format!(
                            "{:?} is not a unicast {family} address (the virtual addresses' family)",
                            p.get_ref()
                        ),
                    )
                }
            }
        }
        if let (Some(c), Version::V2) = (&v.checksum, version) {
            return cx.err(
                c.span(),
                "vrrp.checksum",
                "VRRPv2 has one checksum form; this key is for version 3",
            );
        }
        let checksum = match v.checksum.as_ref().map(|c| c.get_ref().as_str()) {
            None | Some("keepalived") => Checksum::PseudoHeader,
            Some("rfc9568") => Checksum::Plain,
            Some(_) => {
                let span = v.checksum.as_ref().map_or(table.span(), Spanned::span);
                return cx.err(
                    span,
                    "vrrp.checksum",
                    "must be \"keepalived\" (with the IPv4 pseudo-header) or \"rfc9568\" (without)",
                );
            }
        };
        let garp_repeat = cx.opt_count(&v.garp_repeat, "vrrp.garp_repeat", 1..=100, 5)?;
        let garp_interval =
            cx.opt_duration(&v.garp_interval, "vrrp.garp_interval", Duration::from_millis(100))?;
        let garp_refresh = match &v.garp_refresh {
            None => None,
            Some(r) => Some(cx.duration(r, "vrrp.garp_refresh")?).filter(|d| !d.is_zero()),
        };
        let notify = Notify {
            any: command(cx, &v.notify, "vrrp.notify")?,
            master: command(cx, &v.notify_master, "vrrp.notify_master")?,
            backup: command(cx, &v.notify_backup, "vrrp.notify_backup")?,
            fault: command(cx, &v.notify_fault, "vrrp.notify_fault")?,
        };
        let self_check = match &v.self_check {
            None => None,
            Some(c) => Some(self_check(cx, c, priority)?),
        };
        let preempt = v.preempt.as_ref().is_none_or(|p| *p.get_ref());
        if let (false, Some(d)) = (preempt, &v.preempt_delay) {
            return cx.err(
                d.span(),
                "vrrp.preempt_delay",
                "has no effect with preempt = false",
            );
        }
        out.push(VrrpConfig {
            interface,
            vrid,
            priority,
            version,
            interval_cs,
            addresses,
            preempt,
            preempt_delay: cx.opt_duration(&v.preempt_delay, "vrrp.preempt_delay", Duration::ZERO)?,
            auth,
            peers,
            checksum,
            garp_repeat,
            garp_interval,
            garp_refresh,
            notify,
            self_check,
        });
    }
    Ok(out)
}

/// `"192.0.2.53/24"` or `"192.0.2.53"` (/32), `"2001:db8::53/64"` or
/// `"2001:db8::53"` (/128).
fn vip(text: &str) -> Result<(IpAddr, u8), String> {
    let (addr, prefix) = match text.trim().split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text.trim(), None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("{text:?} is not an address with an optional /prefix"))?;
    let most: u8 = if ip.is_ipv6() { 128 } else { 32 };
    let prefix: u8 = match prefix {
        None => most,
        Some(p) => p
            .parse()
            .ok()
            .filter(|p| (1..=most).contains(p))
            .ok_or_else(|| format!("{text:?}: the prefix must be 1 to {most}"))?,
    };
    let unusable = match ip {
        IpAddr::V4(v4) => v4.is_broadcast() || v4.is_unspecified() || v4.is_multicast() || v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_unspecified() || v6.is_multicast() || v6.is_loopback() || v6.to_ipv4_mapped().is_some()
        }
    };
    if unusable {
        return Err(format!("{ip} cannot be a virtual address"));
    }
    Ok((ip, prefix))
}

fn command(
    cx: &Ctx<'_>,
    raw: &Option<Spanned<Vec<Spanned<String>>>>,
    key: &str,
) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(list) = raw else { return Ok(None) };
    let args: Vec<String> = list.get_ref().iter().map(|a| a.get_ref().clone()).collect();
    if args.first().is_none_or(|p| p.trim().is_empty()) {
        return cx.err(list.span(), key, "must name a program, then its arguments");
    }
    Ok(Some(args))
}

fn self_check(cx: &Ctx<'_>, raw: &Spanned<file::SelfCheck>, priority: u8) -> Result<SelfCheck, ConfigError> {
    let c = raw.get_ref();
    let name_text = c.name.get_ref().clone();
    let absolute = if name_text.ends_with('.') {
        name_text.clone()
    } else {
        format!("{name_text}.")
    };
    let name = palanquin_wire::name_from_text(&absolute.to_ascii_lowercase())
        .map_err(|e| e.to_string())
        .or_else(|m| cx.err(c.name.span(), "vrrp.self_check.name", m))?;
    let interval = cx.opt_duration(&c.interval, "vrrp.self_check.interval", Duration::from_secs(1))?;
    if interval < Duration::from_millis(10) {
        let span = c.interval.as_ref().map_or(raw.span(), Spanned::span);
        return cx.err(span, "vrrp.self_check.interval", "must be at least 10ms");
    }
    let timeout = cx.opt_duration(
        &c.timeout,
        "vrrp.self_check.timeout",
        (interval / 2).min(Duration::from_millis(500)),
    )?;
    if timeout.is_zero() || timeout > interval {
        let span = c.timeout.as_ref().map_or(raw.span(), Spanned::span);
        return cx.err(
            span,
            "vrrp.self_check.timeout",
            "must be more than 0 and at most the interval",
        );
    }
    let fall = cx.opt_count(&c.fall, "vrrp.self_check.fall", 1..=100, 2)?;
    let rise = cx.opt_count(&c.rise, "vrrp.self_check.rise", 1..=100, 2)?;
    let weight =
        match &c.weight {
            None => None,
            Some(w) if priority == 255 => return cx.err(
                w.span(),
                "vrrp.self_check.weight",
                "an address owner (priority 255) cannot be lowered; leave weight out (failing means Fault)",
            ),
            Some(w) if !(1..=254).contains(w.get_ref()) => {
                return cx.err(w.span(), "vrrp.self_check.weight", "must be 1 to 254")
            }
            Some(w) => Some(*w.get_ref() as u8),
        };
    Ok(SelfCheck {
        name,
        name_text: absolute,
        interval,
        timeout,
        fall,
        rise,
        weight,
    })
}
