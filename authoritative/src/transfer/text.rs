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

use crate::source::{Record as Read, Sink};
use crate::zone::{RecordRef, Zone};
use crate::LoadError;

/// The master-file text of `zone`, SOA first, with a header saying where
/// it came from.
pub fn zone_text(zone: &Zone, header: &str) -> String {
    let readable = render(zone, header, false);
    if reads_back(zone, &readable) {
        readable
    } else {
        render(zone, header, true)
    }
}

/// Whether `text` (written from `zone`) reads back as exactly its records,
/// in the order they were written: checked record by record against the
/// zone, without building a second copy of it.
fn reads_back(zone: &Zone, text: &str) -> bool {
    struct Same<'a> {
        expected: crate::zone::Records<'a>,
    }
    impl Sink for Same<'_> {
        fn record(&mut self, r: &Read) -> Result<(), LoadError> {
            match self.expected.next() {
                Some(e)
                    if e.owner == &r.owner[..]
                        && e.rtype == r.rtype
                        && e.ttl == r.ttl
                        && e.rdata == &r.rdata[..] =>
                {
                    Ok(())
                }
                _ => Err(r.place.error("reads back differently")),
            }
        }
    }
    let mut same = Same {
        expected: zone.each_record(),
    };
    crate::source::parse(text.as_bytes(), zone.file(), zone.name(), &mut same).is_ok()
        && same.expected.next().is_none()
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_generic_fallback_reads_back_too_and_a_difference_is_caught() {
        let z = crate::parse(
            "t.test.",
            std::path::Path::new("t"),
            b"@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nx TXT \"a b\" c\nweird TYPE65000 \\# 2 0102\n",
        )
        .unwrap();
        let generic = render(&z, "h", true);
        assert!(generic.contains("IN TYPE1 \\# 4 c0000201"), "{generic}");
        assert!(reads_back(&z, &generic));
        let readable = render(&z, "h", false);
        assert!(reads_back(&z, &readable));
        assert!(!reads_back(&z, &readable.replace("192.0.2.1", "192.0.2.9")));
        assert!(!reads_back(&z, &readable.replace("\"a b\"", "\"a\" \"b\"")));
    }
}
