//! A primary's answer to AXFR (RFC 5936) and IXFR (RFC 1995): the zone, or
//! what changed since the client's serial, as a stream of messages, each
//! signed in sequence when the request was (RFC 8945 §5.3.1).
//!
//! ```text
//!  AXFR:            SOA, every other record, SOA
//!  IXFR, journal:   SOA(new), [SOA(from), removed…, SOA(to), added…]…, SOA(new)
//!  IXFR, not kept:  AXFR-style (as AXFR)          IXFR, up to date: SOA(new) alone
//! ```
//!
//! Messages hold about [`SOFT_LIMIT`] bytes (a record never splits); the
//! question goes in the first only, as RFC 5936 §2.2 allows.

use domain::base::iana::{Class, Rcode, Rtype};
use domain::base::message::Message;
use domain::base::message_builder::{AnswerBuilder, MessageBuilder, StaticCompressor};
use domain::base::name::Name;
use domain::base::rdata::UnknownRecordData;
use domain::base::Ttl;
use domain::tsig::{Key, ServerSequence};

use super::journal::Diff;
use super::tsig;
use crate::zone::{RecordRef, Zone};

/// A message is closed once it holds this many bytes.
pub const SOFT_LIMIT: usize = 16 * 1024;
/// Room kept at the end of a message for its TSIG record.
const TSIG_ROOM: usize = 512;

/// What the stream carries.
#[derive(Debug)]
pub enum Content<'a> {
    /// The whole zone (AXFR, or an IXFR the journal cannot answer).
    Full,
    /// The differences, oldest first (IXFR).
    Incremental(Vec<&'a Diff>),
    /// The client is up to date: the SOA alone (IXFR).
    UpToDate,
}

type Builder = MessageBuilder<StaticCompressor<Vec<u8>>>;

/// Writes the answer to transfer request `request` (TSIG already taken
/// out) from `zone`, handing each message to `emit`; `emit` returning
/// false stops it (the client went away). Returns the records sent.
pub fn respond(
    zone: &Zone,
    request: &Message<Vec<u8>>,
    content: &Content<'_>,
    mut signer: Option<&mut ServerSequence<Key>>,
    now: u64,
    emit: &mut dyn FnMut(Vec<u8>) -> bool,
) -> Result<usize, String> {
    let soa = zone.soa().ok_or("the zone has no SOA")?;
    let records: Box<dyn Iterator<Item = RecordRef<'_>> + '_> = match content {
        Content::Full => Box::new(zone.each_record().chain(std::iter::once(soa))),
        Content::UpToDate => Box::new(std::iter::once(soa)),
        Content::Incremental(diffs) => Box::new(
            std::iter::once(soa)
                .chain(diffs.iter().flat_map(|d| {
                    std::iter::once(d.old_soa.as_ref())
                        .chain(d.removed.iter().map(|r| r.as_ref()))
                        .chain(std::iter::once(d.new_soa.as_ref()))
                        .chain(d.added.iter().map(|r| r.as_ref()))
                }))
                .chain(std::iter::once(soa)),
        ),
    };
    let mut sent = 0;
    let mut answer = start(request, true)?;
    let mut in_message = 0;
    for r in records {
        if answer.as_slice().len() >= SOFT_LIMIT {
            if !finish(answer, signer.as_deref_mut(), now, emit)? {
                return Ok(sent);
            }
            answer = start(request, false)?;
            in_message = 0;
        }
        if push(&mut answer, r).is_err() {
            if in_message == 0 {
                return Err("a record does not fit in a message".into());
            }
            if !finish(answer, signer.as_deref_mut(), now, emit)? {
                return Ok(sent);
            }
            answer = start(request, false)?;
            push(&mut answer, r).map_err(|_| "a record does not fit in a message")?;
        }
        in_message += 1;
        sent += 1;
    }
    finish(answer, signer, now, emit)?;
    Ok(sent)
}

fn start(
    request: &Message<Vec<u8>>,
    with_question: bool,
) -> Result<AnswerBuilder<StaticCompressor<Vec<u8>>>, String> {
    let mut b: Builder =
        MessageBuilder::from_target(StaticCompressor::new(Vec::with_capacity(SOFT_LIMIT + 1024)))
            .map_err(|_| "cannot start a message")?;
    b.set_push_limit(usize::from(u16::MAX) - TSIG_ROOM);
    let mut answer = if with_question {
        b.start_answer(request, Rcode::NOERROR)
            .map_err(|_| "the question does not fit")?
    } else {
        let h = b.header_mut();
        h.set_id(request.header().id());
        h.set_qr(true);
        h.set_opcode(request.header().opcode());
        b.answer()
    };
    answer.header_mut().set_aa(true);
    Ok(answer)
}

fn push(answer: &mut AnswerBuilder<StaticCompressor<Vec<u8>>>, r: RecordRef<'_>) -> Result<(), ()> {
    let owner = Name::from_octets(r.owner).map_err(|_| ())?;
    let data = UnknownRecordData::from_octets(Rtype::from_int(r.rtype), r.rdata).map_err(|_| ())?;
    answer
        .push((owner, Class::IN, Ttl::from_secs(r.ttl), data))
        .map_err(|_| ())
}

fn finish(
    answer: AnswerBuilder<StaticCompressor<Vec<u8>>>,
    signer: Option<&mut ServerSequence<Key>>,
    now: u64,
    emit: &mut dyn FnMut(Vec<u8>) -> bool,
) -> Result<bool, String> {
    let mut additional = answer.additional();
    if let Some(seq) = signer {
        // The TSIG may go past the soft limit, within TSIG_ROOM.
        additional.as_builder_mut().clear_push_limit();
        seq.answer(&mut additional, tsig::time(now))
            .map_err(|_| "the TSIG record does not fit")?;
    }
    Ok(emit(additional.finish().into_target()))
}

/// The serial a client says it holds in an IXFR request: the SOA in its
/// authority section (RFC 1995 §3), when that is the zone's.
pub fn ixfr_serial(request: &Message<Vec<u8>>, apex: &[u8]) -> Option<u32> {
    let authority = request.authority().ok()?;
    for record in authority {
        let record = record.ok()?;
        if record.rtype() != Rtype::SOA {
            continue;
        }
        let mut owner = Vec::new();
        domain::base::ToName::compose(&record.owner(), &mut owner).ok()?;
        if !owner.eq_ignore_ascii_case(apex) {
            continue;
        }
        let data = record
            .to_record::<domain::rdata::Soa<domain::base::ParsedName<&[u8]>>>()
            .ok()??;
        return Some(data.data().serial().into_int());
    }
    None
}
