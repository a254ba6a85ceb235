//! A `dns` check: the question sent to a member, and the verdict on its
//! answer: NOERROR, for our question and ID, and when an address is
//! expected, an A or AAAA record holding it. Read with the wire layer's
//! layout, so a malformed answer is a failure with its reason, never a
//! panic.

use std::net::IpAddr;

use palanquin_wire as wire;

/// The query for `name` (wire form) and `rtype`, with ID `id`, RD clear.
pub fn query(id: u16, name: &[u8], rtype: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(12 + name.len() + 4);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    q.extend_from_slice(name);
    q.extend_from_slice(&rtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

/// The type to ask for an expected address (A for none).
pub fn rtype_for(address: Option<IpAddr>) -> u16 {
    match address {
        Some(IpAddr::V6(_)) => 28,
        _ => 1,
    }
}

/// Whether `reply` answers `request` well: `Ok(reason)` or `Err(reason)`.
pub fn verdict(request: &[u8], reply: &[u8], address: Option<IpAddr>) -> Result<String, String> {
    if reply.len() < wire::HEADER
        || reply[..2] != request[..2]
        || reply[2] & 0x80 == 0
        || reply[2] & 0x78 != 0
    {
        return Err("not an answer to the check's query".into());
    }
    if reply[2] & 0x02 != 0 {
        return Err("a truncated answer (TC)".into());
    }
    let layout = wire::layout(reply).map_err(|e| format!("a malformed answer ({e:?})"))?;
    let question = request.get(wire::HEADER..).unwrap_or_default();
    let asked = reply.get(wire::HEADER..layout.question_end).unwrap_or_default();
    if !asked.eq_ignore_ascii_case(question) {
        return Err("an answer to another question".into());
    }
    let rcode = reply[3] & 0x0f;
    if rcode != wire::rcode::NOERROR {
        return Err(format!("RCODE {rcode}"));
    }
    let Some(want) = address else {
        return Ok("NOERROR".into());
    };
    let octets: Vec<u8> = match want {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let has = layout
        .answers
        .iter()
        .any(|rr| matches!(rr.rtype, 1 | 28) && reply.get(rr.rdata_at..rr.end) == Some(&octets[..]));
    if has {
        Ok(format!("NOERROR with {want}"))
    } else {
        Err(format!("NOERROR without {want}"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const NAME: &[u8] = b"\x06health\x05check\x00";

    /// An answer to `q` with `rcode` and the A records `addrs`.
    fn answer(q: &[u8], rcode: u8, addrs: &[[u8; 4]]) -> Vec<u8> {
        let mut r = q.to_vec();
        r[2] = 0x84;
        r[3] = rcode;
        r[6..8].copy_from_slice(&(addrs.len() as u16).to_be_bytes());
        for a in addrs {
            r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
            r.extend_from_slice(a);
        }
        r
    }

    #[test]
    fn noerror_for_our_question_with_the_expected_address() {
        let q = query(7, NAME, 1);
        assert!(wire::parse_query(&q).is_ok());
        let want = Some(IpAddr::from([192, 0, 2, 53]));
        assert!(verdict(&q, &answer(&q, 0, &[]), None).is_ok());
        assert!(verdict(&q, &answer(&q, 0, &[[192, 0, 2, 9], [192, 0, 2, 53]]), want).is_ok());
        assert_eq!(
            verdict(&q, &answer(&q, 0, &[[192, 0, 2, 9]]), want),
            Err("NOERROR without 192.0.2.53".into())
        );
        assert_eq!(verdict(&q, &answer(&q, 2, &[]), None), Err("RCODE 2".into()));
        let mut other_id = answer(&q, 0, &[]);
        other_id[1] ^= 1;
        assert!(verdict(&q, &other_id, None).is_err());
        let other_name = answer(&query(7, b"\x05other\x00", 1), 0, &[]);
        assert!(verdict(&q, &other_name, None).is_err());
        let mut cut = answer(&q, 0, &[[192, 0, 2, 53]]);
        cut.truncate(cut.len() - 2);
        assert!(verdict(&q, &cut, want).is_err(), "a record cut short");
        assert!(verdict(&q, b"\x00\x07\x84", None).is_err());
        let mut truncated = answer(&q, 0, &[]);
        truncated[2] |= 0x02;
        assert_eq!(
            verdict(&q, &truncated, None),
            Err("a truncated answer (TC)".into())
        );
        let mut notify = answer(&q, 0, &[]);
        notify[2] |= 4 << 3;
        assert!(verdict(&q, &notify, None).is_err(), "another opcode");
        assert_eq!(rtype_for(Some("2001:db8::1".parse().unwrap())), 28);
    }
}
