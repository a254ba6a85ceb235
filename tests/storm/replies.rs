//! What the daemon must send back: the [`Expect`] attached to every kind of
//! storm message, and the checks that hold a reply to it.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::RData;
use palanquin_testkit::fake;

use crate::wire;

/// What the daemon must do with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Nothing (a response, or not even a header); on TCP, close.
    Silence,
    FormErr,
    NotImp,
    /// RCODE 16 (4 high bits in OPT, 0 in the header).
    BadVers,
    Refused,
    /// NOERROR with A 192.0.2.1 (from the fake upstream or the cache).
    Answer,
    /// Random bytes: anything but a crash.
    Unknown,
}

pub(crate) const EXPECTS: [Expect; 7] = [
    Expect::Silence,
    Expect::FormErr,
    Expect::NotImp,
    Expect::BadVers,
    Expect::Refused,
    Expect::Answer,
    Expect::Unknown,
];

/// The RCODE in the header of the reply `expect` calls for, if there is one.
pub(crate) fn header_rcode(expect: Expect) -> Option<u8> {
    match expect {
        Expect::FormErr => Some(1),
        Expect::NotImp => Some(4),
        Expect::Refused => Some(5),
        // BADVERS is 16: 1 in OPT, 0 in the header.
        Expect::BadVers | Expect::Answer => Some(0),
        Expect::Silence | Expect::Unknown => None,
    }
}

/// NOERROR with A 192.0.2.1, under `id`.
pub(crate) fn check_answer(reply: &[u8], id: u16) -> Result<(), String> {
    let msg = Message::from_vec(reply).map_err(|e| format!("unparsable answer {}: {e}", wire::hex(reply)))?;
    if msg.metadata.id != id {
        return Err(format!("answer ID {} for query ID {id}", msg.metadata.id));
    }
    if msg.metadata.response_code != ResponseCode::NoError {
        return Err(format!("rcode {} instead of NOERROR", msg.metadata.response_code));
    }
    if !msg.answers.iter().any(|r| r.data == RData::A(A(fake::IPV4))) {
        return Err(format!("no A {} in {:?}", fake::IPV4, msg.answers));
    }
    Ok(())
}

/// Whether `reply` is what `expect` says `sent` deserves.
pub(crate) fn check_reply(sent: &[u8], reply: &[u8], expect: Expect) -> Result<(), String> {
    let Some(head) = reply.get(..wire::HEADER) else {
        return Err(format!("reply of {} bytes: no header", reply.len()));
    };
    if head[2] & 0x80 == 0 {
        return Err(format!("reply without QR: {}", wire::hex(reply)));
    }
    let id = wire::id_of(sent).unwrap_or(0);
    if wire::id_of(reply) != Some(id) {
        return Err(format!("reply ID {:?} for message ID {id}", wire::id_of(reply)));
    }
    match expect {
        Expect::Answer => check_answer(reply, id),
        Expect::BadVers => {
            let msg = Message::from_vec(reply).map_err(|e| format!("unparsable BADVERS: {e}"))?;
            match u16::from(msg.metadata.response_code) {
                16 => Ok(()),
                other => Err(format!("rcode {other} instead of BADVERS (16)")),
            }
        }
        Expect::Silence => Err(format!(
            "a reply to a message that deserves none: {}",
            wire::hex(reply)
        )),
        Expect::Unknown => Ok(()),
        Expect::FormErr | Expect::NotImp | Expect::Refused => match (head[3] & 0x0f, header_rcode(expect)) {
            (got, Some(wanted)) if got != wanted => Err(format!("rcode {got} instead of {wanted}")),
            _ => Ok(()),
        },
    }
}
