//! A transferred zone written back as an RFC 1035 master file, so a
//! restarted secondary serves at once, and an operator can read what it
//! holds. Records are printed by `domain`'s presentation format; the text
//! is read back before it is trusted, and if it does not give the same
//! zone (a type printed in a way its reader does not take back), every
//! record is written in the RFC 3597 generic form instead.

use std::fmt::Write;

use domain::base::iana::{Class, Rtype};
use domain::base::name::{Name, ParsedName};
use domain::base::rdata::ParseRecordData;
use domain::base::zonefile_fmt::{DisplayKind, ZonefileFmt};
use domain::base::{Record, Ttl};
use domain::rdata::ZoneRecordData;
use octseq::Parser;

use crate::zone::{RecordRef, Zone};

/// The master-file text of `zone`, SOA first, with a header saying where
/// it came from.
pub fn zone_text(zone: &Zone, header: &str) -> String {
    let readable = render(zone, header, false);
    let path = zone.file().to_owned();
    match crate::parse(zone.name(), &path, readable.as_bytes()) {
        Ok(back) if back.same_data(zone) && back.serial() == zone.serial() => readable,
        _ => render(zone, header, true),
    }
}

fn render(zone: &Zone, header: &str, generic: bool) -> String {
    let mut out = String::with_capacity(zone.records() * 48 + 256);
    for line in header.lines() {
        let _ = writeln!(out, "; {line}");
    }
    let _ = writeln!(out, "$ORIGIN .");
    for r in zone.each_record() {
        if generic || !write_readable(&mut out, r) {
            write_generic(&mut out, r);
        }
    }
    out
}

fn write_readable(out: &mut String, r: RecordRef<'_>) -> bool {
    let Ok(owner) = Name::from_octets(r.owner) else {
        return false;
    };
    let mut parser = Parser::from_ref(r.rdata);
    let Ok(Some(data)) =
        ZoneRecordData::<&[u8], ParsedName<&[u8]>>::parse_rdata(Rtype::from_int(r.rtype), &mut parser)
    else {
        return false;
    };
    if parser.remaining() != 0 {
        return false;
    }
    let record = Record::new(owner, Class::IN, Ttl::from_secs(r.ttl), data);
    let _ = writeln!(out, "{}", record.display_zonefile(DisplayKind::Simple));
    true
}

fn write_generic(out: &mut String, r: RecordRef<'_>) {
    let owner = Name::from_octets(r.owner)
        .map(|n| n.fmt_with_dot().to_string())
        .unwrap_or_default();
    let _ = write!(out, "{owner} {} IN TYPE{} \\# {}", r.ttl, r.rtype, r.rdata.len());
    if !r.rdata.is_empty() {
        out.push(' ');
        for b in r.rdata {
            let _ = write!(out, "{b:02x}");
        }
    }
    out.push('\n');
}
