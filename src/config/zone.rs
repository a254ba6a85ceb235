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
        let algorithm = k
            .algorithm
            .as_ref()
            .map_or("hmac-sha256", |a| a.get_ref().as_str());
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
        let secret = decode_secret(secret_text(&text)).or_else(|e| {
            cx.err(
                k.secret_file.span(),
                "key.secret_file",
                format!("{}: {e}", path.display()),
            )
        })?;
        let key = TsigKey::new(k.name.get_ref(), algorithm, &secret).or_else(|e| {
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

/// The base64 secret in a key file: the file alone, or the `secret`
/// of a BIND (`secret "…";`) or Knot (`secret: …`) key definition.
fn secret_text(file: &str) -> &str {
    for line in file.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("secret") {
            let rest = rest.trim_start_matches([':', ' ', '\t']).trim();
            return rest.trim_end_matches(';').trim().trim_matches('"');
        }
    }
    file.trim()
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
        if let Some(v) = &z.pool {
            return cx.err(
                v.span(),
                "zone.pool",
                "pools are not implemented in this version yet",
            );
        }
        let wire = zone_wire(z.origin.get_ref()).or_else(|m| cx.err(z.origin.span(), "zone.origin", m))?;
        let origin = palanquin_wire::name_to_string(&wire);
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
        out.push(ZoneConfig {
            origin,
            apex: wire,
            file: resolve_path(cx.path, file.get_ref()),
            primaries,
            allow_transfer,
            notify,
            key,
            config: cx.path.to_owned(),
            line: cx.line_of(table.span().start),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::secret_text;

    #[test]
    fn the_secret_is_found_in_bind_and_knot_key_files() {
        assert_eq!(secret_text("c2VjcmV0\n"), "c2VjcmV0");
        assert_eq!(
            secret_text("key \"k\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0\";\n};\n"),
            "c2VjcmV0"
        );
        assert_eq!(
            secret_text("key:\n  - id: k\n    algorithm: hmac-sha256\n    secret: c2VjcmV0\n"),
            "c2VjcmV0"
        );
    }
}
