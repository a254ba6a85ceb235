//! The checks a zone must pass before it is served, each refusing the zone
//! with the file and line of the record at fault: exactly one SOA, at the
//! apex; NS at the apex; CNAME beside other data (RFC 2181 §10.1) or twice;
//! more than one DNAME, or data below one (RFC 6672 §2.4); data outside the
//! origin (zone.rs); an in-zone delegation without the glue it needs (RFC 9471).

use std::path::Path;

use ahash::AHashMap;

use crate::source::Place;
use crate::zone::{types, Node};
use crate::LoadError;

/// What the rest of the code needs from the SOA.
pub(crate) struct Soa {
    pub(crate) serial: u32,
    pub(crate) negative_ttl: u32,
}

/// Types that may sit beside a CNAME (RFC 2181 §10.1, RFC 4035 §2.5).
fn may_accompany_cname(rtype: u16) -> bool {
    matches!(rtype, types::CNAME | types::RRSIG | types::NSEC)
}

/// Checks the record of `rtype` just added to `node` (named `key`).
pub(crate) fn record(
    key: &[u8],
    apex: &[u8],
    rtype: u16,
    node: &Node,
    place: &Place,
) -> Result<(), LoadError> {
    let name = || palanquin_wire::name_to_string(key);
    if rtype == types::SOA && key != apex {
        return Err(place.error(format!("SOA at {}, which is not the apex", name())));
    }
    if let Some(set) = node.get(types::CNAME) {
        if set.len() > 1 {
            return Err(place.error(format!("{} has more than one CNAME", name())));
        }
        if node.rrsets().any(|s| !may_accompany_cname(s.rtype)) {
            return Err(place.error(format!("CNAME and other data at {}", name())));
        }
        if key == apex {
            return Err(place.error("CNAME at the apex, beside the SOA"));
        }
    }
    if node.get(types::DNAME).is_some_and(|s| s.len() > 1) {
        return Err(place.error(format!("{} has more than one DNAME", name())));
    }
    Ok(())
}

/// The zone-wide checks, once every record is in.
pub(crate) fn zone(
    apex: &[u8],
    nodes: &AHashMap<Box<[u8]>, Box<Node>>,
    places: &AHashMap<(Box<[u8]>, u16), Place>,
    file: &Path,
) -> Result<Soa, LoadError> {
    let at_file = |message: &str| LoadError {
        file: file.to_owned(),
        line: 0,
        message: message.to_owned(),
    };
    let top = nodes
        .get(apex)
        .ok_or_else(|| at_file("no SOA record at the apex"))?;
    let soa = top
        .get(types::SOA)
        .ok_or_else(|| at_file("no SOA record at the apex"))?;
    if soa.len() > 1 {
        let place = &places[&(apex.into(), types::SOA)];
        return Err(place.error("more than one SOA record at the apex"));
    }
    if top.get(types::NS).is_none() {
        let place = &places[&(apex.into(), types::SOA)];
        return Err(place.error("no NS records at the apex"));
    }
    let (soa_ttl, rdata) = soa.first();
    let fixed = soa_fixed(rdata).ok_or_else(|| places[&(apex.into(), types::SOA)].error("bad SOA"))?;
    let minimum = u32::from_be_bytes([fixed[16], fixed[17], fixed[18], fixed[19]]);
    // Nothing may exist below a DNAME (RFC 6672 §2.4).
    let dnames: Vec<&Box<[u8]>> = places
        .keys()
        .filter(|(_, t)| *t == types::DNAME)
        .map(|(k, _)| k)
        .collect();
    if !dnames.is_empty() {
        for key in nodes.iter().filter(|(_, n)| !n.is_empty()).map(|(k, _)| k) {
            let mut up = crate::zone::parent(key);
            while let Some(name) = up.filter(|n| n.len() >= apex.len()) {
                if let Some(&d) = dnames.iter().find(|d| d.as_ref() == name) {
                    let place = &places[&(d.clone(), types::DNAME)];
                    return Err(place.error(format!(
                        "{} has data below its DNAME, at {} (RFC 6672 §2.4)",
                        palanquin_wire::name_to_string(d),
                        palanquin_wire::name_to_string(key)
                    )));
                }
                up = crate::zone::parent(name);
            }
        }
    }
    for (key, node) in nodes {
        if key.as_ref() == apex {
            continue;
        }
        let Some(ns) = node.get(types::NS) else { continue };
        for (_, target) in ns.iter() {
            let target = crate::zone::lower(target);
            if !palanquin_wire::is_below_or_at(&target, key) {
                continue;
            }
            let has_address = nodes
                .get(&target)
                .is_some_and(|n| n.get(types::A).is_some() || n.get(types::AAAA).is_some());
            if !has_address {
                let place = &places[&(key.clone(), types::NS)];
                return Err(place.error(format!(
                    "delegation {} names {} below itself, with no A or AAAA glue",
                    palanquin_wire::name_to_string(key),
                    palanquin_wire::name_to_string(&target)
                )));
            }
        }
    }
    Ok(Soa {
        serial: u32::from_be_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]),
        negative_ttl: soa_ttl.min(minimum),
    })
}

/// The 20 bytes after an SOA's two names (serial … minimum).
pub(crate) fn soa_fixed(rdata: &[u8]) -> Option<&[u8]> {
    let after = name_end(rdata, 0).and_then(|at| name_end(rdata, at))?;
    rdata
        .get(after..after + 20)
        .filter(|f| f.len() == 20 && after + 20 == rdata.len())
}

/// The end of an uncompressed name starting at `at`.
pub(crate) fn name_end(buf: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = usize::from(*buf.get(at)?);
        if len == 0 {
            return Some(at + 1);
        }
        if len > 63 {
            return None;
        }
        at += 1 + len;
    }
}
