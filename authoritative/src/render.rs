//! A [`Plan`] to wire bytes: header, the client's question as sent (its
//! spelling preserved), the three sections with name compression, and OPT
//! (payload, DO echoed, NSID when asked).
//!
//! Compression: owner names always; names inside the RDATA of NS, CNAME,
//! PTR, MX and SOA (the RFC 1035 types, RFC 3597 §4); never elsewhere.
//! Over UDP the message stays within the limit: an answer (or a required
//! authority, or a referral's glue below the cut, RFC 9471) RRset that does
//! not fit gives an empty answer with TC, as NSD sends; an optional
//! authority or additional RRset that does not fit is left out without TC
//! (RFC 2181 §9).

use crate::lookup::{Plan, Records, Set};
use crate::zone::types;
use palanquin_wire::HEADER;

/// The header fields a reply takes from its query and the server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    pub(crate) id: u16,
    pub(crate) rd: bool,
    pub(crate) cd: bool,
    pub(crate) ra: bool,
}

/// Our OPT record, when the client sent one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Opt<'n> {
    pub(crate) dnssec_ok: bool,
    /// The NSID to send (RFC 5001), when the client asked and one is set.
    pub(crate) nsid: Option<&'n [u8]>,
    /// The client's subnet to echo (RFC 7871), when the answer was made for
    /// it (a hashed pool): with the scope it holds for, its source prefix.
    pub(crate) ecs: Option<palanquin_wire::ClientSubnet>,
}

impl Opt<'_> {
    pub(crate) fn len(&self) -> usize {
        11 + self.nsid.map_or(0, |n| 4 + n.len()) + self.ecs.map_or(0, |s| 4 + s.reply_data(s.source).len())
    }

    pub(crate) fn push(&self, out: &mut Vec<u8>) {
        let at = out.len();
        let nsid = self.nsid.map(|id| (palanquin_wire::OPTION_NSID, id));
        palanquin_wire::push_opt_option(out, self.dnssec_ok, 0, nsid);
        if let Some(s) = self.ecs {
            push_option(out, at, palanquin_wire::OPTION_ECS, &s.reply_data(s.source));
        }
    }
}

/// Appends option `code` to the OPT record that starts at `opt_at` and ends `out`.
pub(crate) fn push_option(out: &mut Vec<u8>, opt_at: usize, code: u16, data: &[u8]) {
    let rdlen_at = opt_at + 9;
    let rdlen = u16::from_be_bytes([out[rdlen_at], out[rdlen_at + 1]]) + 4 + data.len() as u16;
    out[rdlen_at..rdlen_at + 2].copy_from_slice(&rdlen.to_be_bytes());
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
}

/// The two flag bytes of a reply.
pub(crate) fn flags(head: Head, aa: bool, tc: bool, rcode: u8) -> [u8; 2] {
    [
        0x80 | (u8::from(aa) << 2) | (u8::from(tc) << 1) | u8::from(head.rd),
        (u8::from(head.ra) << 7) | (u8::from(head.cd) << 4) | (rcode & 0x0f),
    ]
}

/// Renders `plan` for `question` (the query's bytes from offset 12 to the
/// end of its question).
pub(crate) fn render(
    question: &[u8],
    head: Head,
    plan: &Plan<'_>,
    opt: Option<Opt<'_>>,
    limit: Option<usize>,
) -> Vec<u8> {
    let room =
        limit.map_or(usize::from(u16::MAX), |l| l.min(usize::from(u16::MAX))) - opt.map_or(0, |o| o.len());
    let mut w = Writer::new(question, head);
    let mut counts = [0u16; 3];
    let mut truncated = false;
    let sections = [
        (&plan.answer, true),
        (&plan.authority, plan.authority_required),
        (&plan.additional, false),
    ];
    'sections: for (i, (sets, required)) in sections.into_iter().enumerate() {
        for (j, set) in sets.iter().enumerate() {
            let mark = w.mark();
            let n = w.set(set);
            if w.out.len() > room || n.is_none() {
                w.undo(mark);
                if required || (i == 2 && j < plan.additional_required) {
                    truncated = true;
                    break 'sections;
                }
                continue;
            }
            counts[i] += n.unwrap_or(0);
        }
    }
    if truncated {
        w.undo(Mark {
            len: w.question_end,
            names: w.question_names,
        });
        counts = [0; 3];
    }
    let mut out = w.out;
    out[2..4].copy_from_slice(&flags(head, plan.aa, truncated, plan.rcode));
    let ar = counts[2] + u16::from(opt.is_some());
    for (at, n) in [(6, counts[0]), (8, counts[1]), (10, ar)] {
        out[at..at + 2].copy_from_slice(&n.to_be_bytes());
    }
    if let Some(opt) = opt {
        opt.push(&mut out);
    }
    out
}

/// A point to roll back to.
#[derive(Clone, Copy)]
struct Mark {
    len: usize,
    names: usize,
}

/// The message being written and its compression table.
struct Writer {
    out: Vec<u8>,
    /// Every label written in full (a pointer target): its offset and the
    /// wire length of the name from there on, to compare only names of the
    /// right length.
    labels: Vec<(u16, u8)>,
    question_end: usize,
    question_names: usize,
}

impl Writer {
    fn new(question: &[u8], head: Head) -> Self {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(&head.id.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(question);
        let mut labels = Vec::with_capacity(16);
        let name_end = crate::check::name_end(&out, HEADER).unwrap_or(HEADER);
        let mut at = HEADER;
        while let Some(&len) = out.get(at) {
            if len == 0 || len > 63 || at >= name_end {
                break;
            }
            labels.push((at as u16, (name_end - at) as u8));
            at += 1 + usize::from(len);
        }
        let question_names = labels.len();
        Writer {
            question_end: out.len(),
            out,
            labels,
            question_names,
        }
    }

    fn mark(&self) -> Mark {
        Mark {
            len: self.out.len(),
            names: self.labels.len(),
        }
    }

    fn undo(&mut self, mark: Mark) {
        self.out.truncate(mark.len);
        self.labels.truncate(mark.names);
    }

    /// Writes every record of `set`; how many, or `None` when too big.
    fn set(&mut self, set: &Set<'_>) -> Option<u16> {
        let mut n = 0u16;
        let mut one = |w: &mut Writer, ttl: u32, rdata: &[u8]| -> Option<()> {
            w.name(&set.owner);
            w.out.extend_from_slice(&set.rtype.to_be_bytes());
            w.out.extend_from_slice(&[0, 1]);
            w.out.extend_from_slice(&ttl.to_be_bytes());
            let len_at = w.out.len();
            w.out.extend_from_slice(&[0, 0]);
            w.rdata(set.rtype, rdata);
            let len = u16::try_from(w.out.len() - len_at - 2).ok()?;
            w.out[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
            n += 1;
            (w.out.len() <= usize::from(u16::MAX)).then_some(())
        };
        match &set.records {
            Records::Stored(records) => {
                for (ttl, rdata) in records.iter() {
                    one(self, ttl, rdata)?;
                }
            }
            Records::Synth(ttl, rdata) => one(self, *ttl, rdata)?,
            Records::Many(ttl, rdatas) => {
                for rdata in rdatas {
                    one(self, *ttl, rdata)?;
                }
            }
        }
        Some(n)
    }

    fn rdata(&mut self, rtype: u16, rdata: &[u8]) {
        match rtype {
            types::NS | types::CNAME | types::PTR => self.name(rdata),
            types::MX if rdata.len() > 2 => {
                self.out.extend_from_slice(&rdata[..2]);
                self.name(&rdata[2..]);
            }
            types::SOA => match crate::check::name_end(rdata, 0) {
                Some(first) => match crate::check::name_end(rdata, first) {
                    Some(second) => {
                        self.name(&rdata[..first]);
                        self.name(&rdata[first..second]);
                        self.out.extend_from_slice(&rdata[second..]);
                    }
                    None => self.out.extend_from_slice(rdata),
                },
                None => self.out.extend_from_slice(rdata),
            },
            _ => self.out.extend_from_slice(rdata),
        }
    }

    /// Writes uncompressed name `name` (as stored) with compression.
    fn name(&mut self, name: &[u8]) {
        let mut at = 0;
        loop {
            let len = usize::from(*name.get(at).unwrap_or(&0));
            if len == 0 {
                self.out.push(0);
                return;
            }
            let suffix = &name[at..];
            let found = self.labels.iter().find(|&&(o, len)| {
                usize::from(len) == suffix.len()
                    && palanquin_wire::name_at_eq(&self.out, usize::from(o), suffix) == Ok(true)
            });
            if let Some(&(target, _)) = found {
                self.out.extend_from_slice(&(0xc000 | target).to_be_bytes());
                return;
            }
            if self.out.len() < 0x4000 && suffix.len() <= 255 {
                self.labels.push((self.out.len() as u16, suffix.len() as u8));
            }
            self.out
                .extend_from_slice(&name[at..at + 1 + len.min(name.len() - at - 1)]);
            at += 1 + len;
        }
    }
}
