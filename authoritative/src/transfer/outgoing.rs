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
//! Messages hold about [`SOFT_LIMIT`] bytes (a record never splits); each
//! carries the question (RFC 5936 §2.2.1 allows it in every message), so an
//! owner is written as its labels above the apex and a pointer to the
//! question's name, or as a pointer to the owner before it (a zone's
//! records come out grouped by name). RDATA is written as stored, its
//! names uncompressed. Records go into domain's builder already in wire
//! form ([`Raw`]): its general name compressor made an AXFR take 7× NSD's time.

use domain::base::iana::{Rcode, Rtype};
use domain::base::message::Message;
use domain::base::message_builder::{AnswerBuilder, MessageBuilder};
use domain::base::record::ComposeRecord;
use domain::base::wire::Composer;
use domain::tsig::{Key, ServerSequence};

use super::incoming::newer;
use super::journal::{Diff, Journal};
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

type Answer = AnswerBuilder<Vec<u8>>;

/// The owner the next record may point to: offset and length of its labels.
type Last = Option<(u16, usize)>;

/// What a transfer stream ended as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Records sent.
    pub records: usize,
    /// Every message went out (false: the client went away first).
    pub complete: bool,
}

/// The answer to a transfer request for `zone`: AXFR when `ixfr_from` is
/// `None`; for IXFR from that serial, the SOA alone when it is not older
/// than the zone's (RFC 1982), the differences when `journal` holds all of
/// them, the whole zone otherwise. With its kind, for counting.
pub fn content_for<'a>(
    zone: &Zone,
    journal: Option<&'a Journal>,
    ixfr_from: Option<u32>,
) -> (Content<'a>, &'static str) {
    let Some(from) = ixfr_from else {
        return (Content::Full, "axfr");
    };
    if !newer(zone.serial(), from) {
        return (Content::UpToDate, "ixfr");
    }
    match journal.and_then(|j| j.since(from, zone.serial())) {
        Some(chain) => (Content::Incremental(chain), "ixfr"),
        None => (Content::Full, "ixfr"),
    }
}

/// Writes the answer to transfer request `request` (TSIG already taken
/// out) from `zone`, handing each message to `emit`; `emit` returning
/// false stops it (the client went away).
pub fn respond(
    zone: &Zone,
    request: &Message<Vec<u8>>,
    content: &Content<'_>,
    mut signer: Option<&mut ServerSequence<Key>>,
    now: u64,
    emit: &mut dyn FnMut(Vec<u8>) -> bool,
) -> Result<Sent, String> {
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
    let apex_len = zone.apex().len();
    let mut sent = 0;
    let mut answer = start(request)?;
    let mut last: Last = None;
    let mut in_message = 0;
    for r in records {
        if answer.as_slice().len() >= SOFT_LIMIT {
            if !finish(answer, signer.as_deref_mut(), now, emit)? {
                return Ok(Sent {
                    records: sent,
                    complete: false,
                });
            }
            (answer, last, in_message) = (start(request)?, None, 0);
        }
        if push(&mut answer, &mut last, apex_len, r).is_err() {
            if in_message == 0 {
                return Err("a record does not fit in a message".into());
            }
            if !finish(answer, signer.as_deref_mut(), now, emit)? {
                return Ok(Sent {
                    records: sent,
                    complete: false,
                });
            }
            (answer, last) = (start(request)?, None);
            push(&mut answer, &mut last, apex_len, r).map_err(|_| "a record does not fit in a message")?;
        }
        in_message += 1;
        sent += 1;
    }
    let complete = finish(answer, signer, now, emit)?;
    Ok(Sent {
        records: sent,
        complete,
    })
}

fn start(request: &Message<Vec<u8>>) -> Result<Answer, String> {
    let mut b = MessageBuilder::from_target(Vec::with_capacity(SOFT_LIMIT + 1024))
        .map_err(|_| "cannot start a message")?;
    b.set_push_limit(usize::from(u16::MAX) - TSIG_ROOM);
    let mut answer = b
        .start_answer(request, Rcode::NOERROR)
        .map_err(|_| "the question does not fit")?;
    answer.header_mut().set_aa(true);
    Ok(answer)
}

/// The question's name starts right after the header.
const QUESTION_NAME: u16 = 12;

/// A record already in wire form: its owner's first `labels` bytes, then
/// a pointer to `pointer`, then type, class IN, TTL and RDATA.
struct Raw<'a> {
    record: RecordRef<'a>,
    labels: usize,
    pointer: u16,
}

impl ComposeRecord for Raw<'_> {
    fn compose_record<Target: Composer + ?Sized>(
        &self,
        target: &mut Target,
    ) -> Result<(), Target::AppendError> {
        let r = self.record;
        target.append_slice(&r.owner[..self.labels])?;
        target.append_slice(&(0xc000 | self.pointer).to_be_bytes())?;
        target.append_slice(&r.rtype.to_be_bytes())?;
        target.append_slice(&1u16.to_be_bytes())?;
        target.append_slice(&r.ttl.to_be_bytes())?;
        // At most 65,535 bytes: the zone's layout checks it at load.
        target.append_slice(&(r.rdata.len() as u16).to_be_bytes())?;
        target.append_slice(r.rdata)
    }
}

/// Pushes `r`, its owner compressed against the owner before it (`last`)
/// or the question's name (the apex: every owner ends in it).
fn push(answer: &mut Answer, last: &mut Last, apex_len: usize, r: RecordRef<'_>) -> Result<(), ()> {
    let at = answer.as_slice().len();
    let labels = r.owner.len().checked_sub(apex_len).ok_or(())?;
    let same = last.filter(|&(offset, len)| {
        let start = usize::from(offset);
        len == labels && answer.as_slice().get(start..start + len) == r.owner.get(..labels)
    });
    let raw = match same {
        Some((offset, _)) => Raw {
            record: r,
            labels: 0,
            pointer: offset,
        },
        None => Raw {
            record: r,
            labels,
            pointer: QUESTION_NAME,
        },
    };
    let wrote_labels = raw.labels > 0;
    answer.push(raw).map_err(|_| ())?;
    if wrote_labels && at < 0x3fff {
        *last = Some((at as u16, labels));
    }
    Ok(())
}

fn finish(
    answer: Answer,
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
    Ok(emit(additional.finish()))
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
