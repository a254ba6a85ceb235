//! `[[zone]]` and `[[key]]`: an origin and its master file, or a secondary
//! zone with its primaries and the file it is saved to; who may transfer
//! it, who is told of changes, and the TSIG key that signs both. The file
//! itself is read and checked by `crate::zones` (I/O), which reports its
//! errors as `zonefile:line: message`; this module checks the tables.

use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use palanquin_authoritative::transfer::tsig::{decode_secret, TsigKey};
use palanquin_resolver::Acl;
use toml::Spanned;

use super::error::ConfigError;
use super::file;
use super::resolver::zone_wire;
use super::settings::{resolve_path, Ctx};

/// One zone to serve.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ZoneConfig {
    /// The origin, lower-cased text with the trailing dot.
    pub(crate) origin: String,
    /// The same in wire form.
    pub(crate) apex: Vec<u8>,
    /// The master file, resolved against the configuration's folder; for
    /// a secondary, where the transferred zone is saved.
    pub(crate) file: PathBuf,
    /// A secondary's primaries (empty: a primary, loaded from `file`).
    pub(crate) primaries: Vec<SocketAddr>,
    /// Who may transfer it.
    pub(crate) allow_transfer: Vec<IpNet>,
    /// Who is sent a NOTIFY when it changes.
    pub(crate) notify: Vec<SocketAddr>,
    /// Signs transfers and NOTIFYs both ways; with a key, unsigned ones are refused.
    pub(crate) key: Option<TsigKey>,
    /// Its health-checked pools.
    pub(crate) pools: Vec<super::pool::PoolConfig>,
    /// The configuration file and the line of this `[[zone]]`, for errors.
    pub(crate) config: PathBuf,
    pub(crate) line: usize,
}

impl ZoneConfig {
    /// Transferred from primaries rather than read from its file.
    pub(crate) fn is_secondary(&self) -> bool {
        !self.primaries.is_empty()
    }

    /// Whether `client` may transfer this zone (the key is checked apart).
    pub(crate) fn may_transfer(&self, client: std::net::IpAddr) -> bool {
        let client = match client {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(client, std::net::IpAddr::V4),
            v4 => v4,
        };
        self.allow_transfer.iter().any(|n| n.contains(&client))
    }

    /// The role, for status and metrics.
    pub(crate) fn role(&self) -> &'static str {
        if self.is_secondary() {
            "secondary"
        } else {
            "primary"
        }
    }
}

/// The `[[key]]` tables: secrets read from their files (never shown).
pub(super) fn keys(cx: &Ctx<'_>, raw: &[Spanned<file::Key>]) -> Result<Vec<TsigKey>, ConfigError> {
    let mut out: Vec<TsigKey> = Vec::new();
    for table in raw {
        let k = table.get_ref();
        let path = resolve_path(cx.path, k.secret_file.get_ref());
        let text = match cx.host.files.get(&path) {
            Some(Ok(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
            Some(Err(e)) => {
                return cx.err(
                    k.secret_file.span(),
                    "key.secret_file",
                    format!("cannot read {}: {e}", path.display()),
                )
            }
            None => return cx.err(k.secret_file.span(), "key.secret_file", "the file was not read"),
        };
        let in_file = key_file(&text, k.name.get_ref()).or_else(|e| {
            cx.err(
                k.secret_file.span(),
                "key.secret_file",
                format!("{}: {e}", path.display()),
            )
        })?;
        let algorithm = match (&k.algorithm, &in_file.algorithm) {
            (Some(a), Some(f)) if !a.get_ref().eq_ignore_ascii_case(f) => {
                return cx.err(
                    a.span(),
                    "key.algorithm",
                    format!("{} says {f} for this key", path.display()),
                )
            }
            (Some(a), _) => a.get_ref().to_ascii_lowercase(),
            (None, Some(f)) => f.clone(),
            (None, None) => "hmac-sha256".to_owned(),
        };
        let secret = decode_secret(&in_file.secret).or_else(|e| {
            cx.err(
                k.secret_file.span(),
                "key.secret_file",
                format!("{}: {e}", path.display()),
            )
        })?;
        let key = TsigKey::new(k.name.get_ref(), &algorithm, &secret).or_else(|e| {
            let (span, key) = match &k.algorithm {
                Some(a) if e.contains("algorithm") => (a.span(), "key.algorithm"),
                _ => (k.name.span(), "key.name"),
            };
            cx.err(span, key, e)
        })?;
        if out.iter().any(|o| o.name() == key.name()) {
            return cx.err(
                k.name.span(),
                "key.name",
                format!("key {} is listed twice", key.name()),
            );
        }
        out.push(key);
    }
    Ok(out)
}

/// What a key file says: its algorithm, if it names one, and the base64 secret.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct KeyFile {
    algorithm: Option<String>,
    secret: String,
}

/// The key called `name` in a key file: the base64 secret alone, or a
/// BIND (`key "name" { algorithm …; secret "…"; };`, on one line or
/// several), NSD (`key:` / `name:` / `algorithm:` / `secret:`) or Knot
/// (`- id:` / `algorithm:` / `secret:`) definition. A file that names its
/// keys must name this one.
fn key_file(text: &str, name: &str) -> Result<KeyFile, String> {
    let norm = |n: &str| {
        n.trim()
            .trim_matches('"')
            .trim_end_matches('.')
            .to_ascii_lowercase()
    };
    let value = |rest: &str| rest.trim_start_matches(':').trim().trim_matches('"').to_owned();
    let mut keys: Vec<(Option<String>, KeyFile)> = Vec::new();
    // Statements: BIND's braces and semicolons end them as lines do.
    let statements = text
        .split(['\n', '{', '}', ';'])
        .map(|l| l.trim().trim_start_matches("- ").trim());
    for st in statements {
        let (word, rest) = st.split_once([' ', '\t', ':']).unwrap_or((st, ""));
        match word {
            "key" if !value(rest).is_empty() => keys.push((Some(norm(&value(rest))), KeyFile::default())),
            "name" | "id" => match keys.last_mut() {
                Some((n @ None, _)) => *n = Some(norm(&value(rest))),
                _ => keys.push((Some(norm(&value(rest))), KeyFile::default())),
            },
            "algorithm" | "secret" => {
                if keys.is_empty() {
                    keys.push((None, KeyFile::default()));
                }
                if let Some((_, k)) = keys.last_mut() {
                    if word == "algorithm" {
                        k.algorithm = Some(value(rest).to_ascii_lowercase());
                    } else {
                        k.secret = value(rest);
                    }
                }
            }
            _ => {}
        }
    }
    if keys.is_empty() {
        return Ok(KeyFile {
            algorithm: None,
            secret: text.trim().to_owned(),
        });
    }
    let named = keys.iter().any(|(n, _)| n.is_some());
    let found = if named {
        keys.into_iter()
            .find(|(n, _)| n.as_deref() == Some(norm(name).as_str()))
    } else {
        keys.into_iter().next()
    };
    match found {
        Some((_, k)) if !k.secret.is_empty() => Ok(k),
        Some(_) => Err(format!("the definition of key {name} has no secret")),
        None => Err(format!("the file defines no key named {name}")),
    }
}

pub(super) fn zones(
    cx: &Ctx<'_>,
    raw: &[Spanned<file::Zone>],
    keys: &[TsigKey],
    listen: &[SocketAddr],
) -> Result<Vec<ZoneConfig>, ConfigError> {
    let mut out: Vec<ZoneConfig> = Vec::with_capacity(raw.len());
    for table in raw {
        let z = table.get_ref();
        let wire = zone_wire(z.origin.get_ref()).or_else(|m| cx.err(z.origin.span(), "zone.origin", m))?;
        let origin = palanquin_wire::name_to_string(&wire);
        let pools = super::pool::pools(cx, &z.pool, &wire, &origin)?;
        if out.iter().any(|o| o.origin == origin) {
            return cx.err(
                z.origin.span(),
                "zone.origin",
                format!("zone {origin} is listed twice"),
            );
        }
        let primaries = match &z.primaries {
            None => Vec::new(),
            Some(list) => {
                let addrs = cx.upstreams(list, "zone.primaries")?;
                for (a, text) in addrs.iter().zip(list.get_ref()) {
                    if super::settings::is_own_listener(listen, a, &cx.host.addresses) {
                        return cx.err(
                            text.span(),
                            "zone.primaries",
                            format!("{a} is this server's own listener: a zone cannot be its own primary"),
                        );
                    }
                }
                addrs
            }
        };
        let Some(file) = &z.file else {
            let what = if primaries.is_empty() {
                "a zone needs its master file (file = \"...\")"
            } else {
                "a secondary zone needs the file it is saved to (file = \"...\")"
            };
            return cx.err(table.span(), "zone.file", what);
        };
        if file.get_ref().trim().is_empty() {
            return cx.err(file.span(), "zone.file", "must name a file");
        }
        let allow_transfer = z
            .allow_transfer
            .iter()
            .flatten()
            .map(|p| {
                Acl::parse_prefix(p.get_ref())
                    .or_else(|e| cx.err(p.span(), "zone.allow_transfer", e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let notify = z
            .notify
            .iter()
            .flatten()
            .map(|n| cx.addr(n, "zone.notify", Some(53)))
            .collect::<Result<Vec<_>, _>>()?;
        let key = match &z.transfer_key {
            None => None,
            Some(name) => {
                let mut wanted = name.get_ref().trim().to_ascii_lowercase();
                if !wanted.ends_with('.') {
                    wanted.push('.');
                }
                match keys.iter().find(|k| k.name() == wanted) {
                    Some(k) => Some(k.clone()),
                    None => {
                        return cx.err(
                            name.span(),
                            "zone.transfer_key",
                            format!("no [[key]] is named {wanted}"),
                        )
                    }
                }
            }
        };
        // IPv4-mapped IPv6 addresses as the IPv4 ones they are: peers are
        // compared with the sender's address in that form.
        let canonical = |a: SocketAddr| match a {
            SocketAddr::V6(v6) => v6
                .ip()
                .to_ipv4_mapped()
                .map_or(a, |v4| SocketAddr::new(v4.into(), v6.port())),
            v4 => v4,
        };
        out.push(ZoneConfig {
            origin,
            apex: wire,
            file: resolve_path(cx.path, file.get_ref()),
            primaries: primaries.into_iter().map(canonical).collect(),
            allow_transfer: allow_transfer.into_iter().map(canonical_net).collect(),
            notify: notify.into_iter().map(canonical).collect(),
            key,
            pools,
            config: cx.path.to_owned(),
            line: cx.line_of(table.span().start),
        });
    }
    Ok(out)
}

/// An IPv4-mapped IPv6 prefix (`::ffff:192.0.2.0/120`) as the IPv4 prefix it is.
fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4),
            None => net,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::{canonical_net, key_file, KeyFile};

    #[test]
    fn mapped_prefixes_are_ipv4_prefixes() {
        let net = |s: &str| s.parse::<ipnet::IpNet>().expect("net");
        assert_eq!(canonical_net(net("::ffff:192.0.2.0/120")), net("192.0.2.0/24"));
        assert_eq!(canonical_net(net("2001:db8::/32")), net("2001:db8::/32"));
        assert_eq!(canonical_net(net("192.0.2.0/24")), net("192.0.2.0/24"));
    }

    fn secret(s: &str) -> KeyFile {
        KeyFile {
            algorithm: None,
            secret: s.into(),
        }
    }

    #[test]
    fn the_secret_is_found_in_bind_and_knot_key_files_by_the_key_name() {
        assert_eq!(key_file("c2VjcmV0\n", "k."), Ok(secret("c2VjcmV0")));
        let bind = "key \"k\" {\n\talgorithm hmac-sha512;\n\tsecret \"c2VjcmV0\";\n};\n";
        let want = KeyFile {
            algorithm: Some("hmac-sha512".into()),
            secret: "c2VjcmV0".into(),
        };
        assert_eq!(key_file(bind, "k."), Ok(want.clone()));
        let knot = "key:\n  - id: other\n    algorithm: hmac-sha256\n    secret: b3RoZXI=\n  - id: k\n    algorithm: hmac-sha512\n    secret: c2VjcmV0\n";
        assert_eq!(key_file(knot, "K"), Ok(want));
        assert!(key_file(knot, "missing.").is_err_and(|e| e.contains("no key named")));
        assert!(key_file("key \"k\" {\n\talgorithm hmac-sha256;\n};\n", "k").is_err());
        // BIND on one line; NSD's name:; Knot with the id on its own line.
        let want = KeyFile {
            algorithm: Some("hmac-sha512".into()),
            secret: "c2VjcmV0".into(),
        };
        let one_line = "key \"k.\" { algorithm hmac-sha512; secret \"c2VjcmV0\"; };";
        assert_eq!(key_file(one_line, "k"), Ok(want.clone()));
        let nsd = "key:\n\tname: \"a\"\n\talgorithm: hmac-sha256\n\tsecret: \"b3RoZXI=\"\nkey:\n\tname: \"k.\"\n\talgorithm: hmac-sha512\n\tsecret: \"c2VjcmV0\"\n";
        assert_eq!(key_file(nsd, "k."), Ok(want.clone()));
        let knot = "key:\n  -\n    id: k\n    algorithm: hmac-sha512\n    secret: c2VjcmV0\n";
        assert_eq!(key_file(knot, "k"), Ok(want));
        // A file naming one key, not this one: refused, not used.
        assert!(key_file("key \"other\" { secret \"c2VjcmV0\"; };", "k").is_err());
        // A secret alone, or with an algorithm line and no name.
        assert_eq!(key_file("secret: c2VjcmV0\n", "k"), Ok(secret("c2VjcmV0")));
    }
}
