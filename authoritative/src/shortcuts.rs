//! What lets most answers of a zone be known without rendering them, at
//! load: a name on a plain path whose answer can only be its RRset and the
//! zone's tail, or the zone's NODATA; and which missing names are a plain
//! NXDOMAIN. A debug build checks each such decision against the general
//! path (compiled.rs).

use crate::zone::{types, Node, Zone};

/// What lets most answers be known without rendering them: a name on a
/// plain path (no cut at or above it, no DNAME above it) whose answer can
/// only be its RRset plus the zone's tail, or the zone's NODATA, unless
/// the templates' own names are at or above it (then compression would
/// point into the question differently) or it is one of the NS targets
/// (its address would not be repeated in additional).
pub(crate) struct Shortcuts {
    /// Names below the apex at or above an NS target or an SOA name.
    template_names: ahash::AHashSet<Box<[u8]>>,
    /// The apex NS targets inside the zone.
    ns_targets: ahash::AHashSet<Box<[u8]>>,
}

impl Shortcuts {
    pub(crate) fn of(zone: &Zone) -> Shortcuts {
        let mut template_names = ahash::AHashSet::new();
        let mut ns_targets = ahash::AHashSet::new();
        let apex = zone.apex_node();
        let mut names: Vec<Box<[u8]>> = Vec::new();
        if let Some(ns) = apex.and_then(|n| n.get(types::NS)) {
            for (_, target) in ns.iter() {
                let t = crate::zone::lower(target);
                if palanquin_wire::is_below_or_at(&t, &zone.apex) {
                    ns_targets.insert(t.clone());
                }
                names.push(t);
            }
        }
        if let Some((_, soa)) = apex.and_then(|n| n.get(types::SOA)).map(|s| s.first()) {
            let first = crate::check::name_end(soa, 0).unwrap_or(0);
            let second = crate::check::name_end(soa, first).unwrap_or(first);
            names.push(crate::zone::lower(&soa[..first]));
            names.push(crate::zone::lower(&soa[first..second]));
        }
        for name in names {
            let mut at: Option<&[u8]> = Some(&name);
            while let Some(n) = at.filter(|n| n.len() > zone.apex.len()) {
                template_names.insert(n.into());
                at = crate::zone::parent(n);
            }
        }
        Shortcuts {
            template_names,
            ns_targets,
        }
    }

    /// No cut at or above `key` (below the apex), no DNAME above it, and
    /// none of the templates' names at or above it.
    pub(crate) fn plain_path(&self, zone: &Zone, key: &[u8], node: &Node) -> bool {
        up_to_apex(zone, key, node, |name, node| {
            let below_apex = name.len() > zone.apex.len();
            let cut_or_template =
                below_apex && (node.get(types::NS).is_some() || self.template_names.contains(name));
            let dname_above = name.len() < key.len() && node.get(types::DNAME).is_some();
            !cut_or_template && !dname_above
        })
    }

    /// Whether the answer for `rtype` at plain `key` is the RRset as it is
    /// and the tail: no names to compress in it, no additional processing,
    /// the zone's NS in authority, and not an NS target's address.
    pub(crate) fn simple_type(&self, zone: &Zone, key: &[u8], rtype: u16) -> bool {
        let special = matches!(
            rtype,
            types::NS
                | types::CNAME
                | types::SOA
                | types::PTR
                | types::MX
                | types::SRV
                | types::DS
                | types::DNSKEY
        );
        let glue = matches!(rtype, types::A | types::AAAA) && self.ns_targets.contains(key);
        zone.tail.is_some() && !special && !glue
    }
}

/// Whether a missing name right below `key` is a plain NXDOMAIN: no cut
/// (NS below the apex) or DNAME from the apex down to `key`, and no
/// wildcard child of `key`.
pub(crate) fn nx_below(zone: &Zone, key: &[u8], node: &Node) -> bool {
    // `*.key`, on the stack.
    let mut wild = [0u8; 258];
    wild[..2].copy_from_slice(b"\x01*");
    wild[2..2 + key.len()].copy_from_slice(key);
    if key.len() + 2 <= palanquin_wire::MAX_NAME && zone.node(&wild[..2 + key.len()]).is_some() {
        return false;
    }
    up_to_apex(zone, key, node, |name, node| {
        let cut = node.get(types::NS).is_some() && name.len() > zone.apex.len();
        !cut && node.get(types::DNAME).is_none()
    })
}

/// Whether `ok` holds for `key` (its node given) and every name above it
/// up to the apex; false too if one of them is missing.
fn up_to_apex(zone: &Zone, key: &[u8], node: &Node, mut ok: impl FnMut(&[u8], &Node) -> bool) -> bool {
    let (mut name, mut node) = (key, node);
    loop {
        if !ok(name, node) {
            return false;
        }
        match crate::zone::parent(name).filter(|n| n.len() >= zone.apex.len()) {
            None => return true,
            Some(up) => match zone.node(up) {
                Some(n) => (name, node) = (up, n),
                None => return false,
            },
        }
    }
}
