//! Queries signed with TSIG (RFC 8945): the signature checked ([`crate::tsig::verify`]), the
//! query less its TSIG answered as any unsigned query is, and the answer signed; or NOTAUTH
//! with the TSIG error. All of it cold and out of line: `Work::respond` only marks the query
//! [`PENDING`], and `Responder::respond` and `respond_in_place` hand such an outcome here.
//! The answer itself is written by `Responder::answer` into the caller's whole buffer, as
//! every answer is, so the unsigned path compiles as it did (a shorter buffer from here made
//! it about 20 instructions slower in `tools/instruction-counts.sh`); an answer that fits but
//! not with its TSIG is cut down after. The answer cache keeps none of these answers (they
//! never reach it): each depends on the time and on the query's MAC.
//!
//! ```text
//!  Responder::respond / respond_in_place --> answer --> Work::respond: parse_query says
//!        | PENDING                                     Signed: PENDING, nothing written
//!        v
//!  answer_signed: tsig::verify --error--> NOTAUTH with an unsigned TSIG (BADKEY, BADSIG),
//!        |                                BADTIME signed, FORMERR
//!        | valid
//!        v
//!  Responder::answer (the query less its TSIG) --too big with the TSIG--> question only, TC
//!        --> Signer::sign
//! ```

use super::{Outcome, Responder, Transport, MAX_TCP_MESSAGE};
use crate::tsig::{self, Verdict};
use crate::view::View;
use crate::wire::{self, rcode, Edns, Opt, OPT_LEN, PLAIN_UDP_LIMIT};

/// The RCODE of the outcome `Work::respond` gives a signed query ([`pending`]), which
/// `Responder::respond` and `respond_in_place` then answer here; it never leaves them.
pub(super) const PENDING: u16 = u16::MAX;

/// The outcome `Work::respond` gives a signed query. Out of line and cold, as every step of
/// the signed path is, so that the compiler lays the answer path out as it did before.
#[cold]
#[inline(never)]
pub(super) fn pending() -> Outcome {
    Outcome::new(0, PENDING, 0, false)
}

/// A responder's state for signed queries.
#[derive(Default)]
pub(super) struct Signing {
    /// The time, in seconds since the epoch, as the worker last set it: TSIG checks Time
    /// Signed against it and signs with it.
    pub now: u64,
    /// What a query's MAC covers, then the query less its TSIG; empty until the first signed
    /// query, then sized for any.
    scratch: Vec<u8>,
}

impl Responder {
    /// Answers the signed query `packet` (a [`PENDING`] outcome) into `out`.
    #[cold]
    #[inline(never)]
    pub(super) fn answer_signed(
        &mut self,
        view: &View,
        packet: &[u8],
        transport: Transport,
        out: &mut [u8],
    ) -> Outcome {
        // Its parts found again (the unsigned path carries nothing for them).
        let Some(parts) = wire::signed_parts(packet) else { return Outcome::DROPPED };
        let mut scratch = std::mem::take(&mut self.signing.scratch);
        let outcome = self.check_and_answer(view, packet, parts, transport, out, &mut scratch);
        self.signing.scratch = scratch;
        outcome
    }

    /// [`Responder::answer_signed`] for the query whose question ends at `parts.0`, whose
    /// TSIG starts at `parts.1`, with the OPT `parts.2`; `scratch` is lent for the data the
    /// MAC covers, then the query less its TSIG.
    fn check_and_answer(
        &mut self,
        view: &View,
        packet: &[u8],
        parts: (usize, usize, Option<Edns>),
        transport: Transport,
        out: &mut [u8],
        scratch: &mut Vec<u8>,
    ) -> Outcome {
        let (question_end, tsig, edns) = parts;
        let catalog = view.catalog();
        let qtype = u16::from_be_bytes([packet[question_end - 4], packet[question_end - 3]]);
        let opt = edns.map(|e| Opt { udp_size: catalog.settings().edns_udp_size, dnssec_ok: e.dnssec_ok });
        let reply = |len: usize, code: u8| Outcome::new(len, code as u16, qtype, false);
        let formerr = |out: &mut [u8]| {
            reply(wire::write_rejection(packet, rcode::FORMERR, Some(question_end), opt, out), rcode::FORMERR)
        };
        // parse_query read the record before it said the query was signed.
        let Some(record) = wire::read_tsig(packet, tsig) else { return formerr(out) };
        let now = self.signing.now;
        let signer = match tsig::verify(catalog.tsig_keys(), packet, record, now, scratch) {
            Verdict::Valid(signer) => signer,
            Verdict::Unsigned(error) => {
                let len = tsig::write_unsigned_error(packet, question_end, record, opt, error, out);
                return reply(len, rcode::NOTAUTH);
            }
            Verdict::Malformed => return formerr(out),
            Verdict::BadTime(signer) => {
                let len = wire::write_rejection(packet, rcode::NOTAUTH, Some(question_end), opt, out);
                return reply(signer.sign_bad_time(out, len, now).unwrap_or(0), rcode::NOTAUTH);
            }
        };
        // The size limit the answer is written under; the TSIG must fit under it too.
        let limit = match (transport, edns) {
            (Transport::Tcp, _) => MAX_TCP_MESSAGE,
            (Transport::Udp, None) => PLAIN_UDP_LIMIT,
            (Transport::Udp, Some(e)) => {
                e.udp_size.min(catalog.settings().edns_udp_size).max(PLAIN_UDP_LIMIT as u16) as usize
            }
        };
        let limit = limit.min(out.len());
        let room = signer.record_len(false);
        let least = question_end + if opt.is_some() { OPT_LEN } else { 0 };
        if limit < least + room {
            // A long name and a long key: not even the question and the TSIG fit in a UDP
            // reply. Truncated and unsigned; the client asks again over TCP.
            let len = wire::write_rejection(packet, rcode::NOERROR, Some(question_end), opt, out);
            if len > 0 {
                out[2] |= 0x02;
            }
            return Outcome::new(len, rcode::NOERROR as u16, qtype, true);
        }
        // The query as it was before it was signed: no TSIG, one less in ARCOUNT.
        scratch.clear();
        scratch.extend_from_slice(&packet[..tsig]);
        let additional = u16::from_be_bytes([scratch[10], scratch[11]]).saturating_sub(1);
        scratch[10..12].copy_from_slice(&additional.to_be_bytes());
        let mut outcome = self.answer(view, scratch, transport, out, None);
        if outcome.len + room > limit {
            // The answer fits, but not with its TSIG: "only the question and a TSIG record",
            // TC set, NOERROR (RFC 8945 section 5.3); the client asks again over TCP.
            let len = wire::write_rejection(scratch, rcode::NOERROR, Some(question_end), opt, out);
            out[2] |= 0x02;
            outcome = Outcome { len, rcode: rcode::NOERROR as u16, truncated: true, ..outcome };
        }
        outcome.len = signer.sign(out, outcome.len, now).unwrap_or(0);
        outcome
    }
}
