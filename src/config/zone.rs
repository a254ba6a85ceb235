//! `[[zone]]`: an origin and its master file. The file itself is read and
//! checked by `crate::zones` (I/O), which reports its errors as
//! `zonefile:line: message`; this module checks the table.

use std::path::PathBuf;

use toml::Spanned;

use super::error::ConfigError;
use super::file;
use super::resolver::zone_wire;
use super::settings::{resolve_path, Ctx};

/// One zone to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ZoneConfig {
    /// The origin, lower-cased text with the trailing dot.
    pub(crate) origin: String,
    /// The same in wire form.
    pub(crate) apex: Vec<u8>,
    /// The master file, resolved against the configuration's folder.
    pub(crate) file: PathBuf,
    /// The configuration file and the line of this `[[zone]]`, for errors.
    pub(crate) config: PathBuf,
    pub(crate) line: usize,
}

pub(super) fn zones(cx: &Ctx<'_>, raw: &[Spanned<file::Zone>]) -> Result<Vec<ZoneConfig>, ConfigError> {
    let mut out: Vec<ZoneConfig> = Vec::with_capacity(raw.len());
    for table in raw {
        let z = table.get_ref();
        for (key, value) in [
            ("zone.allow_transfer", &z.allow_transfer),
            ("zone.notify", &z.notify),
            ("zone.primaries", &z.primaries),
        ] {
            if let Some(v) = value {
                return cx.err(
                    v.span(),
                    key,
                    "zone transfers are not implemented in this version yet",
                );
            }
        }
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
        let Some(file) = &z.file else {
            return cx.err(
                table.span(),
                "zone.file",
                "a zone needs its master file (file = \"...\")",
            );
        };
        if file.get_ref().trim().is_empty() {
            return cx.err(file.span(), "zone.file", "must name a file");
        }
        out.push(ZoneConfig {
            origin,
            apex: wire,
            file: resolve_path(cx.path, file.get_ref()),
            config: cx.path.to_owned(),
            line: cx.line_of(table.span().start),
        });
    }
    Ok(out)
}
