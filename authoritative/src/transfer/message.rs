//! The small messages of replication: a secondary's SOA query and transfer
//! request, a primary's NOTIFY (RFC 1996) and the answers to them, each
//! signed with the zone's TSIG key when it has one.

use domain::base::iana::{Class, Opcode, Rcode, Rtype};
use domain::base::message::Message;
use domain::base::message_builder::{AdditionalBuilder, MessageBuilder};
use domain::base::name::Name;
use domain::base::rdata::UnknownRecordData;
use domain::base::Ttl;
use domain::tsig::{ClientSequence, ClientTransaction, Key};

use super::tsig::{self, TsigKey};
use crate::zone::RecordRef;

/// A request, and what checks its answer.
pub struct Request {
    /// The bytes to send (without the TCP length prefix).
    pub bytes: Vec<u8>,
    /// The message ID.
    pub id: u16,
    /// Checks a signed answer (single-message exchanges).
    pub transaction: Option<ClientTransaction<Key>>,
    /// Checks a signed stream of answers (transfers).
    pub sequence: Option<ClientSequence<Key>>,
}

/// Why an answer was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// Not an answer to the request.
    #[error("not an answer to our request")]
    Mismatch,
    /// The answer's TSIG is missing or wrong.
    #[error("TSIG: {0}")]
    Tsig(String),
    /// An error RCODE.
    #[error("answered with RCODE {0}")]
    Rcode(u8),
    /// No usable SOA in it.
    #[error("no SOA for the zone in the answer")]
    NoSoa,
}

fn builder(id: u16, opcode: Opcode) -> MessageBuilder<Vec<u8>> {
    let mut b = MessageBuilder::new_vec();
    b.header_mut().set_id(id);
    b.header_mut().set_opcode(opcode);
    b
}

fn sign(
    mut add: AdditionalBuilder<Vec<u8>>,
    id: u16,
    key: Option<&TsigKey>,
    stream: bool,
    now: u64,
) -> Result<Request, String> {
    let mut request = Request {
        bytes: Vec::new(),
        id,
        transaction: None,
        sequence: None,
    };
    if let Some(k) = key {
        if stream {
            request.sequence = Some(
                ClientSequence::request(k.key.clone(), &mut add, tsig::time(now))
                    .map_err(|_| "the TSIG does not fit")?,
            );
        } else {
            request.transaction = Some(
                ClientTransaction::request(k.key.clone(), &mut add, tsig::time(now))
                    .map_err(|_| "the TSIG does not fit")?,
            );
        }
    }
    request.bytes = add.finish();
    Ok(request)
}

fn name(apex: &[u8]) -> Result<Name<&[u8]>, String> {
    Name::from_octets(apex).map_err(|e| format!("bad zone name: {e}"))
}

/// A record ready to push into a message.
type Pushable<'a> = (Name<&'a [u8]>, Class, Ttl, UnknownRecordData<&'a [u8]>);

fn soa_record(r: RecordRef<'_>) -> Result<Pushable<'_>, String> {
    Ok((
        name(r.owner)?,
        Class::IN,
        Ttl::from_secs(r.ttl),
        UnknownRecordData::from_octets(Rtype::SOA, r.rdata).map_err(|e| e.to_string())?,
    ))
}

/// A query for the SOA of zone `apex` (the refresh check, RFC 1034 §4.3.5).
pub fn soa_query(apex: &[u8], id: u16, key: Option<&TsigKey>, now: u64) -> Result<Request, String> {
    let mut q = builder(id, Opcode::QUERY).question();
    q.push((name(apex)?, Rtype::SOA, Class::IN))
        .map_err(|_| "does not fit")?;
    sign(q.additional(), id, key, false, now)
}

/// A transfer request: IXFR from `current` (our SOA, RFC 1995 §3) or AXFR.
pub fn transfer_request(
    apex: &[u8],
    id: u16,
    current: Option<RecordRef<'_>>,
    key: Option<&TsigKey>,
    now: u64,
) -> Result<Request, String> {
    let qtype = if current.is_some() {
        Rtype::IXFR
    } else {
        Rtype::AXFR
    };
    let mut q = builder(id, Opcode::QUERY).question();
    q.push((name(apex)?, qtype, Class::IN))
        .map_err(|_| "does not fit")?;
    let mut auth = q.authority();
    if let Some(soa) = current {
        auth.push(soa_record(soa)?).map_err(|_| "does not fit")?;
    }
    sign(auth.additional(), id, key, true, now)
}

/// A NOTIFY for zone `apex` carrying its SOA (RFC 1996 §3.7).
pub fn notify(
    apex: &[u8],
    id: u16,
    soa: RecordRef<'_>,
    key: Option<&TsigKey>,
    now: u64,
) -> Result<Request, String> {
    let mut b = builder(id, Opcode::NOTIFY);
    b.header_mut().set_aa(true);
    let mut q = b.question();
    q.push((name(apex)?, Rtype::SOA, Class::IN))
        .map_err(|_| "does not fit")?;
    let mut answer = q.answer();
    answer.push(soa_record(soa)?).map_err(|_| "does not fit")?;
    sign(answer.additional(), id, key, false, now)
}

/// Checks answer `raw` to `request` (TSIG, ID, RCODE) at `now`, returning
/// the message with any TSIG taken out.
pub fn check_answer(request: &Request, raw: &[u8], now: u64) -> Result<Message<Vec<u8>>, AnswerError> {
    let mut msg = Message::from_octets(raw.to_vec()).map_err(|_| AnswerError::Mismatch)?;
    let h = msg.header();
    if h.id() != request.id || !h.qr() {
        return Err(AnswerError::Mismatch);
    }
    if let Some(t) = &request.transaction {
        t.answer(&mut msg, tsig::time(now))
            .map_err(|e| AnswerError::Tsig(e.to_string()))?;
    }
    let rcode = msg.header().rcode().to_int();
    if rcode != 0 {
        return Err(AnswerError::Rcode(rcode));
    }
    Ok(msg)
}

/// The serial in an answer to an SOA query for `apex`.
pub fn answer_serial(msg: &Message<Vec<u8>>, apex: &[u8]) -> Result<u32, AnswerError> {
    let answer = msg.answer().map_err(|_| AnswerError::NoSoa)?;
    for record in answer.flatten() {
        if record.rtype() != Rtype::SOA {
            continue;
        }
        let mut owner = Vec::new();
        if domain::base::ToName::compose(&record.owner(), &mut owner).is_err()
            || !owner.eq_ignore_ascii_case(apex)
        {
            continue;
        }
        if let Ok(Some(soa)) = record.to_record::<domain::rdata::Soa<domain::base::ParsedName<&[u8]>>>() {
            return Ok(soa.data().serial().into_int());
        }
    }
    Err(AnswerError::NoSoa)
}

/// The answer to a NOTIFY `request` (TSIG already taken out): `rcode`,
/// AA set, the question echoed; signed when `signer` is given.
pub fn notify_answer(
    request: &Message<Vec<u8>>,
    rcode: u8,
    signer: Option<&mut domain::tsig::ServerSequence<Key>>,
    now: u64,
) -> Vec<u8> {
    let rc = Rcode::checked_from_int(rcode).unwrap_or(Rcode::SERVFAIL);
    let Ok(mut answer) = MessageBuilder::new_vec().start_answer(request, rc) else {
        return Vec::new();
    };
    answer.header_mut().set_aa(true);
    let mut add = answer.additional();
    if let Some(seq) = signer {
        let _ = seq.answer(&mut add, tsig::time(now));
    }
    add.finish()
}
