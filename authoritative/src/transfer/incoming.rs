//! A secondary reading a primary's AXFR or IXFR answer: a pure state
//! machine fed one message at a time (the daemon owns the socket). Nothing
//! a primary sends can do more than end the transfer with an error: the
//! served zone changes only when [`Step::Done`] is returned and the result
//! passes the same checks as a zone file.
//!
//! ```text
//!  first record: SOA(S) ─▶ second: SOA(ours) and IXFR ─▶ Deleting ⇄ Adding … SOA(S) ─▶ Incremental
//!                       └▶ anything else ─▶ Full … SOA(S) ─▶ Full (AXFR, or AXFR-style IXFR)
//!  IXFR answered with SOA(S) alone, S not newer than ours ─▶ UpToDate
//! ```

use ahash::AHashMap;
use domain::base::iana::{Class, Opcode, Rtype};
use domain::base::message::Message;
use domain::base::name::{ParsedName, ToName};
use domain::base::rdata::ComposeRecordData;
use domain::rdata::ZoneRecordData;
use domain::tsig::{ClientSequence, Key};

use super::journal::{soa_serial, Diff, OwnedRecord};
use super::tsig;
use crate::zone::{RecordRef, Zone, ZoneBuilder};
use crate::LoadError;

/// The most a transfer may carry before it is given up (a hostile or
/// broken primary sending without end).
pub const MAX_TRANSFER_BYTES: usize = 1 << 30;

const AXFR: u16 = 252;
const IXFR: u16 = 251;

/// Why a transfer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// The primary answered with this RCODE (NOTIMP, REFUSED, NOTAUTH…).
    #[error("the primary answered {0}")]
    Rcode(u8),
    /// The answer is not a valid transfer.
    #[error("bad transfer: {0}")]
    Malformed(String),
    /// The TSIG of an answer is missing or wrong.
    #[error("TSIG: {0}")]
    Tsig(String),
    /// More than [`MAX_TRANSFER_BYTES`].
    #[error("the transfer is larger than {MAX_TRANSFER_BYTES} bytes")]
    TooLarge,
}

impl TransferError {
    /// The label it is counted under.
    pub fn reason(&self) -> &'static str {
        match self {
            TransferError::Rcode(_) => "refused",
            TransferError::Malformed(_) => "malformed",
            TransferError::Tsig(_) => "tsig",
            TransferError::TooLarge => "too_large",
        }
    }
}

fn bad(m: impl Into<String>) -> TransferError {
    TransferError::Malformed(m.into())
}

/// What a finished transfer brought.
#[derive(Debug)]
pub enum Received {
    /// The primary has nothing newer (IXFR).
    UpToDate {
        /// Its serial.
        serial: u32,
    },
    /// The whole zone, SOA first.
    Full {
        /// The serial.
        serial: u32,
        /// Every record, SOA first.
        records: Vec<OwnedRecord>,
    },
    /// The whole zone, read straight into a zone being built
    /// ([`Incoming::build_into`]): finish it to check it.
    Built {
        /// The serial.
        serial: u32,
        /// The zone, every record in; [`ZoneBuilder::finish`] checks and compiles it.
        builder: Box<ZoneBuilder>,
    },
    /// Differences from the serial the request named.
    Incremental {
        /// The serial they end at.
        serial: u32,
        /// The differences, oldest first.
        diffs: Vec<Diff>,
    },
}

/// After one message.
#[derive(Debug)]
pub enum Step {
    /// The transfer goes on in the next message.
    More,
    /// It is complete.
    Done(Received),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    AfterFirst,
    Full,
    Deleting,
    Adding,
    Done,
}

/// One transfer being read.
pub struct Incoming {
    apex: Box<[u8]>,
    id: u16,
    qtype: u16,
    /// The serial an IXFR asked from.
    ours: Option<u32>,
    tsig: Option<ClientSequence<Key>>,
    state: State,
    messages: usize,
    bytes: usize,
    final_soa: Option<OwnedRecord>,
    whole: Whole,
    diffs: Vec<Diff>,
    /// The difference being read: old SOA, removed, new SOA, added.
    current: Option<Diff>,
}

impl Incoming {
    /// Reads the answer to request `id` for zone `apex` (lower-cased wire
    /// form): AXFR when `ours` is `None`, else IXFR from serial `ours`;
    /// `tsig` is what signing the request returned.
    pub fn new(apex: &[u8], id: u16, ours: Option<u32>, tsig: Option<ClientSequence<Key>>) -> Incoming {
        Incoming {
            apex: apex.into(),
            id,
            qtype: if ours.is_some() { IXFR } else { AXFR },
            ours,
            tsig,
            state: State::Start,
            messages: 0,
            bytes: 0,
            final_soa: None,
            whole: Whole::Records(Vec::new()),
            diffs: Vec::new(),
            current: None,
        }
    }

    /// Reads a whole zone (AXFR, or an AXFR-style IXFR answer) straight
    /// into zone `origin` being built (`file`: where it will be saved, for
    /// errors) rather than into a list: a million records are never held
    /// twice. The result is then [`Received::Built`].
    pub fn build_into(mut self, origin: &str, file: &std::path::Path) -> Result<Incoming, LoadError> {
        self.whole = Whole::Building(Box::new(Feeder::new(origin, file)?));
        Ok(self)
    }

    /// Messages read so far.
    pub fn messages(&self) -> usize {
        self.messages
    }

    /// Bytes read so far.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Reads the next message of the answer, received at `now` (Unix seconds).
    pub fn feed(&mut self, message: Vec<u8>, now: u64) -> Result<Step, TransferError> {
        if self.state == State::Done {
            return Err(bad("a message after the end of the transfer"));
        }
        self.bytes += message.len();
        if self.bytes > MAX_TRANSFER_BYTES {
            return Err(TransferError::TooLarge);
        }
        let mut msg = Message::from_octets(message).map_err(|_| bad("a message shorter than a header"))?;
        let h = msg.header();
        if h.id() != self.id || !h.qr() || h.opcode() != Opcode::QUERY {
            return Err(bad("a message that does not answer the request"));
        }
        if let Some(seq) = &mut self.tsig {
            seq.answer(&mut msg, tsig::time(now))
                .map_err(|e| TransferError::Tsig(e.to_string()))?;
        }
        let rcode = msg.header().rcode().to_int();
        if rcode != 0 {
            return Err(TransferError::Rcode(rcode));
        }
        if self.messages == 0 {
            self.check_question(&msg)?;
        }
        self.messages += 1;
        let answer = msg
            .answer()
            .map_err(|e| bad(format!("unreadable answer section: {e}")))?;
        let mut in_message = 0;
        for record in answer {
            let record = record.map_err(|e| bad(format!("unreadable record: {e}")))?;
            let r = owned(&record)?;
            self.record(r)?;
            in_message += 1;
        }
        if in_message == 0 {
            return Err(bad("a message with no records"));
        }
        self.after_message()
    }

    fn check_question(&self, msg: &Message<Vec<u8>>) -> Result<(), TransferError> {
        for q in msg.question() {
            let q = q.map_err(|e| bad(format!("unreadable question: {e}")))?;
            let mut name = Vec::new();
            let _ = q.qname().compose(&mut name);
            if !name.eq_ignore_ascii_case(&self.apex) || q.qtype().to_int() != self.qtype {
                return Err(bad("the answer is for another question"));
            }
        }
        Ok(())
    }

    fn is_apex_soa(&self, r: &OwnedRecord) -> bool {
        r.rtype == Rtype::SOA.to_int() && r.owner.eq_ignore_ascii_case(&self.apex)
    }

    fn record(&mut self, r: OwnedRecord) -> Result<(), TransferError> {
        let soa = self.is_apex_soa(&r);
        let serial = if soa {
            Some(soa_serial(&r.rdata).ok_or_else(|| bad("a bad SOA"))?)
        } else {
            None
        };
        let last = self.final_soa.as_ref().and_then(|s| soa_serial(&s.rdata));
        match self.state {
            State::Start => {
                if !soa {
                    return Err(bad("the first record is not the zone's SOA"));
                }
                self.final_soa = Some(r);
                self.state = State::AfterFirst;
            }
            State::AfterFirst => {
                if soa && self.ours.is_some() && serial != last {
                    self.current = Some(Diff::opening(r));
                    self.state = State::Deleting;
                } else if soa {
                    // SOA, SOA: a zone of its SOA alone; the checks refuse it.
                    self.whole.push(self.final_soa.clone())?;
                    self.state = State::Done;
                } else {
                    self.whole.push(self.final_soa.clone())?;
                    self.whole.push(Some(r))?;
                    self.state = State::Full;
                }
            }
            State::Full => {
                if soa {
                    if serial != last {
                        return Err(bad("the closing SOA's serial differs from the opening one"));
                    }
                    self.state = State::Done;
                } else {
                    self.whole.push(Some(r))?;
                }
            }
            State::Deleting => {
                let d = self
                    .current
                    .as_mut()
                    .ok_or_else(|| bad("internal: no difference open"))?;
                if soa {
                    d.new_soa = r;
                    self.state = State::Adding;
                } else {
                    d.removed.push(r);
                }
            }
            State::Adding => {
                if !soa {
                    let d = self
                        .current
                        .as_mut()
                        .ok_or_else(|| bad("internal: no difference open"))?;
                    d.added.push(r);
                    return Ok(());
                }
                let done = self
                    .current
                    .take()
                    .ok_or_else(|| bad("internal: no difference open"))?;
                if done.from() == done.to() {
                    return Err(bad("a difference that does not change the serial"));
                }
                if self.diffs.last().is_some_and(|p| p.to() != done.from())
                    || (self.diffs.is_empty() && Some(done.from()) != self.ours)
                {
                    return Err(bad("differences that do not follow on from each other"));
                }
                self.diffs.push(done);
                if serial == last {
                    if self.diffs.last().map(Diff::to) != last {
                        return Err(bad("the differences end at another serial than announced"));
                    }
                    self.state = State::Done;
                } else {
                    self.current = Some(Diff::opening(r));
                    self.state = State::Deleting;
                }
            }
            State::Done => return Err(bad("records after the closing SOA")),
        }
        Ok(())
    }

    fn after_message(&mut self) -> Result<Step, TransferError> {
        let serial = self
            .final_soa
            .as_ref()
            .and_then(|s| soa_serial(&s.rdata))
            .ok_or_else(|| bad("no SOA"))?;
        match self.state {
            State::Done => {
                if let Some(seq) = self.tsig.take() {
                    seq.done().map_err(|e| TransferError::Tsig(e.to_string()))?;
                }
                if self.diffs.is_empty() {
                    match std::mem::replace(&mut self.whole, Whole::Records(Vec::new())) {
                        Whole::Records(records) => Ok(Step::Done(Received::Full { serial, records })),
                        Whole::Building(feeder) => Ok(Step::Done(Received::Built {
                            serial,
                            builder: Box::new(feeder.builder),
                        })),
                    }
                } else {
                    Ok(Step::Done(Received::Incremental {
                        serial,
                        diffs: std::mem::take(&mut self.diffs),
                    }))
                }
            }
            // The SOA alone, in answer to an IXFR from a serial at least as new.
            State::AfterFirst if self.messages == 1 && self.ours.is_some_and(|o| !newer(serial, o)) => {
                self.state = State::Done;
                if let Some(seq) = self.tsig.take() {
                    seq.done().map_err(|e| TransferError::Tsig(e.to_string()))?;
                }
                Ok(Step::Done(Received::UpToDate { serial }))
            }
            _ => Ok(Step::More),
        }
    }
}

/// Whether serial `a` is newer than `b` (RFC 1982 arithmetic).
pub fn newer(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 1 << 31
}

/// A received record in uncompressed wire form.
fn owned(record: &domain::base::record::ParsedRecord<'_, Vec<u8>>) -> Result<OwnedRecord, TransferError> {
    if record.class() != Class::IN {
        return Err(bad(format!("a record of class {}", record.class())));
    }
    let rtype = record.rtype().to_int();
    // Meta types (OPT, TSIG, TKEY, the query types) are not zone data.
    if rtype == 41 || (128..=255).contains(&rtype) || rtype == 0 {
        return Err(bad(format!("a {} record in the answer", record.rtype())));
    }
    let mut owner = Vec::new();
    record
        .owner()
        .compose(&mut owner)
        .map_err(|_| bad("an owner name that does not fit"))?;
    let parsed = record
        .to_record::<ZoneRecordData<&[u8], ParsedName<&[u8]>>>()
        .map_err(|e| bad(format!("bad {} record: {e}", record.rtype())))?
        .ok_or_else(|| bad("a record of an unknown type"))?;
    let mut rdata = Vec::new();
    parsed
        .data()
        .compose_rdata(&mut rdata)
        .map_err(|_| bad("record data that does not fit"))?;
    if rdata.len() > usize::from(u16::MAX) {
        return Err(bad("record data too long"));
    }
    Ok(OwnedRecord {
        owner: owner.into_boxed_slice(),
        rtype,
        ttl: record.ttl().as_secs(),
        rdata: rdata.into_boxed_slice(),
    })
}

/// A record's type and RDATA.
type TypeData = (u16, Box<[u8]>);
/// A record's lower-cased owner, type and RDATA: what IXFR adds and deletes by.
type RecordKey = (Box<[u8]>, u16, Box<[u8]>);

/// Differences applied to a zone: what to leave out of it and what to add,
/// so the new version is built straight from the old one's records
/// ([`Applied::records`]) without copying a million of them.
#[derive(Debug)]
pub struct Applied {
    soa: OwnedRecord,
    /// Records of the zone taken out: lower-cased owner → (type, RDATA).
    removed: AHashMap<Box<[u8]>, Vec<TypeData>>,
    /// Records put in (lower-cased owner, type, RDATA → the record).
    added: AHashMap<RecordKey, OwnedRecord>,
}

/// Applies `diffs` to `current`. A deletion of a record the zone does not
/// hold, or differences that do not start at its serial, is an error (the
/// caller falls back to AXFR).
pub fn apply(current: &Zone, diffs: &[Diff]) -> Result<Applied, TransferError> {
    let Some(first) = diffs.first() else {
        return Err(bad("no differences"));
    };
    if first.from() != current.serial() {
        return Err(bad(format!(
            "the differences start at serial {}, the zone is at {}",
            first.from(),
            current.serial()
        )));
    }
    let key = |r: &OwnedRecord| (crate::zone::lower(&r.owner), r.rtype, r.rdata.clone());
    let mut out = Applied {
        soa: diffs
            .last()
            .map(|d| d.new_soa.clone())
            .ok_or_else(|| bad("no differences"))?,
        removed: AHashMap::new(),
        added: AHashMap::new(),
    };
    for d in diffs {
        for r in &d.removed {
            let k = key(r);
            if out.added.remove(&k).is_some() {
                continue;
            }
            let (owner, rtype, rdata) = k;
            let held = current
                .node(&owner)
                .and_then(|n| n.get(rtype))
                .is_some_and(|set| set.iter().any(|(_, d)| d == &*rdata));
            let gone = out.removed.entry(owner).or_default();
            if !held || gone.iter().any(|(t, d)| *t == rtype && *d == rdata) {
                return Err(bad(format!(
                    "serial {}→{} deletes a record the zone does not hold ({} type {})",
                    d.from(),
                    d.to(),
                    palanquin_wire::name_to_string(&r.owner),
                    r.rtype
                )));
            }
            gone.push((rtype, rdata));
        }
        for r in &d.added {
            out.added.insert(key(r), r.clone());
        }
    }
    Ok(out)
}

impl Applied {
    /// The new version's records, SOA first: `base`'s (the zone the
    /// differences were applied to) less those taken out, then those put in.
    pub fn records<'a>(&'a self, base: &'a Zone) -> impl Iterator<Item = RecordRef<'a>> + 'a {
        std::iter::once(self.soa.as_ref())
            .chain(base.each_record().skip(1).filter(move |r| !self.is_removed(r)))
            .chain(self.added.values().map(OwnedRecord::as_ref))
    }

    /// The same, copied out.
    pub fn to_records(&self, base: &Zone) -> Vec<OwnedRecord> {
        self.records(base).map(OwnedRecord::of).collect()
    }

    fn is_removed(&self, r: &RecordRef<'_>) -> bool {
        if self.removed.is_empty() {
            return false;
        }
        // Lower-cased on the stack: most records are not looked at further.
        let mut lowered = [0u8; 256];
        let n = r.owner.len().min(256);
        for (l, b) in lowered.iter_mut().zip(&r.owner[..n]) {
            *l = b.to_ascii_lowercase();
        }
        self.removed
            .get(&lowered[..n])
            .is_some_and(|gone| gone.iter().any(|(t, d)| *t == r.rtype && **d == *r.rdata))
    }
}

/// Where the records of a whole zone go.
enum Whole {
    /// Into a list.
    Records(Vec<OwnedRecord>),
    /// Into a zone being built.
    Building(Box<Feeder>),
}

impl Whole {
    fn push(&mut self, r: Option<OwnedRecord>) -> Result<(), TransferError> {
        let Some(r) = r else { return Ok(()) };
        match self {
            Whole::Records(list) => list.push(r),
            Whole::Building(feeder) => feeder.push(r.as_ref()).map_err(|e| bad(e.message))?,
        }
        Ok(())
    }
}

/// A zone being built from records in wire form.
struct Feeder {
    builder: ZoneBuilder,
    /// One record's buffers, reused.
    buffer: crate::source::Record,
}

impl Feeder {
    fn new(origin: &str, file: &std::path::Path) -> Result<Feeder, LoadError> {
        Ok(Feeder {
            builder: ZoneBuilder::new(origin, file)?,
            buffer: crate::source::Record {
                owner: Vec::new(),
                rtype: 0,
                ttl: 0,
                rdata: Vec::new(),
                place: crate::source::Place {
                    file: std::sync::Arc::from(file),
                    line: 0,
                },
            },
        })
    }

    fn push(&mut self, r: RecordRef<'_>) -> Result<(), LoadError> {
        let b = &mut self.buffer;
        b.owner.clear();
        b.owner.extend_from_slice(r.owner);
        b.rtype = r.rtype;
        b.ttl = r.ttl;
        b.rdata.clear();
        b.rdata.extend_from_slice(r.rdata);
        crate::source::Sink::record(&mut self.builder, b)
    }
}

/// Builds and checks zone `origin` from `records`, as a zone file would be
/// (`file`: where it is saved, named in errors).
pub fn build<'a>(
    origin: &str,
    file: &std::path::Path,
    records: impl IntoIterator<Item = RecordRef<'a>>,
) -> Result<Zone, LoadError> {
    let mut feeder = Feeder::new(origin, file)?;
    for r in records {
        feeder.push(r)?;
    }
    feeder.builder.finish()
}
