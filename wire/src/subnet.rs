//! EDNS Client Subnet (RFC 7871), read from a query only where an answer
//! depends on the client (a hashed pool): the resolver's client's network,
//! so a resolver serving many clients sends each to its own member.
//!
//! ```text
//!  OPT option 8: FAMILY (1 = IPv4, 2 = IPv6) | SOURCE PREFIX | SCOPE PREFIX | ADDRESS (⌈source/8⌉ bytes)
//! ```

use crate::message::{skip_name, u16_at};
use crate::HEADER;

/// The ECS option's code.
pub const OPTION_ECS: u16 = 8;

/// A client subnet from a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSubnet {
    /// 1 (IPv4) or 2 (IPv6).
    pub family: u16,
    /// The source prefix length.
    pub source: u8,
    /// The address, its bits past `source` zero.
    pub address: [u8; 16],
}

impl ClientSubnet {
    /// The bytes that identify the subnet: family, prefix and address.
    pub fn key(&self) -> Vec<u8> {
        let mut key = Vec::with_capacity(19);
        key.extend_from_slice(&self.family.to_be_bytes());
        key.push(self.source);
        key.extend_from_slice(&self.address[..self.bytes()]);
        key
    }

    /// The option's data for a reply whose answer holds for `scope` bits.
    pub fn reply_data(&self, scope: u8) -> Vec<u8> {
        let mut data = Vec::with_capacity(4 + self.bytes());
        data.extend_from_slice(&self.family.to_be_bytes());
        data.extend_from_slice(&[self.source, scope]);
        data.extend_from_slice(&self.address[..self.bytes()]);
        data
    }

    fn bytes(&self) -> usize {
        usize::from(self.source).div_ceil(8)
    }
}

/// The client subnet of `query` (a message already accepted by
/// [`crate::parse_query`]; `question_end` from it), when its OPT record
/// carries a well-formed one: a known family, a prefix within it, exactly
/// the address bytes the prefix needs, and no bits set past it. Anything
/// else is ignored (the client's own address is used instead).
pub fn client_subnet(query: &[u8], question_end: usize) -> Option<ClientSubnet> {
    let records = usize::from(u16_at(query, 6).ok()?)
        + usize::from(u16_at(query, 8).ok()?)
        + usize::from(u16_at(query, 10).ok()?);
    let mut at = question_end.max(HEADER);
    for _ in 0..records {
        let after_name = skip_name(query, at).ok()?;
        let rtype = u16_at(query, after_name).ok()?;
        let rdlen = usize::from(u16_at(query, after_name + 8).ok()?);
        let end = after_name + 10 + rdlen;
        let rdata = query.get(after_name + 10..end)?;
        if rtype == 41 {
            return subnet_in(rdata);
        }
        at = end;
    }
    None
}

fn subnet_in(mut options: &[u8]) -> Option<ClientSubnet> {
    while options.len() >= 4 {
        let code = u16::from_be_bytes([options[0], options[1]]);
        let len = usize::from(u16::from_be_bytes([options[2], options[3]]));
        let data = options.get(4..4 + len)?;
        if code == OPTION_ECS {
            return parse(data);
        }
        options = &options[4 + len..];
    }
    None
}

fn parse(data: &[u8]) -> Option<ClientSubnet> {
    let (&[f0, f1, source, _scope], address) = data.split_first_chunk::<4>()?;
    let family = u16::from_be_bytes([f0, f1]);
    let max = match family {
        1 => 32,
        2 => 128,
        _ => return None,
    };
    if source > max || address.len() != usize::from(source).div_ceil(8) {
        return None;
    }
    let mut out = [0u8; 16];
    out[..address.len()].copy_from_slice(address);
    // RFC 7871 §6: bits past the source prefix must be zero.
    if source % 8 != 0 {
        let last = address.len() - 1;
        if out[last] & (0xff >> (source % 8)) != 0 {
            return None;
        }
    }
    Some(ClientSubnet {
        family,
        source,
        address: out,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A query for `a.` with an OPT record holding `options`.
    fn query(options: &[u8]) -> (Vec<u8>, usize) {
        let mut q = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, b'a', 0, 0, 1, 0, 1];
        let question_end = q.len();
        q.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0]);
        q.extend_from_slice(&(options.len() as u16).to_be_bytes());
        q.extend_from_slice(options);
        (q, question_end)
    }

    #[test]
    fn reads_an_ipv4_subnet_after_another_option() {
        let (q, end) = query(&[0, 3, 0, 0, 0, 8, 0, 7, 0, 1, 24, 0, 198, 51, 100]);
        let s = client_subnet(&q, end).unwrap();
        assert_eq!((s.family, s.source), (1, 24));
        assert_eq!(s.key(), vec![0, 1, 24, 198, 51, 100]);
        assert_eq!(s.reply_data(24), vec![0, 1, 24, 24, 198, 51, 100]);
        assert!(crate::parse_query(&q).is_ok());
    }

    #[test]
    fn ignores_malformed_subnets() {
        for bad in [
            &[0, 8, 0, 7, 0, 3, 24, 0, 198, 51, 100][..], // unknown family
            &[0, 8, 0, 7, 0, 1, 33, 0, 198, 51, 100],     // prefix past 32
            &[0, 8, 0, 8, 0, 1, 24, 0, 198, 51, 100, 0],  // one address byte too many
            &[0, 8, 0, 7, 0, 1, 20, 0, 198, 51, 101],     // bits set past the prefix
            &[0, 8, 0, 9, 0, 1, 24, 0, 198, 51, 100],     // option longer than the record
            &[0, 8, 0, 3, 0, 1, 24],                      // no scope byte
        ] {
            let (q, end) = query(bad);
            assert_eq!(client_subnet(&q, end), None, "{bad:?}");
        }
        let (plain, end) = query(&[]);
        assert_eq!(client_subnet(&plain, end), None);
        assert_eq!(client_subnet(&plain[..end], end), None);
    }

    #[test]
    fn reads_an_ipv6_subnet() {
        let (q, end) = query(&[0, 8, 0, 11, 0, 2, 56, 0, 0x20, 1, 0x0d, 0xb8, 0, 1, 0]);
        let s = client_subnet(&q, end).unwrap();
        assert_eq!((s.family, s.source), (2, 56));
        assert_eq!(&s.address[..8], &[0x20, 1, 0x0d, 0xb8, 0, 1, 0, 0]);
    }
}
