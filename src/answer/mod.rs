//! The answer path: one query packet in, one response written into a caller's buffer.
//!
//! [`Responder`] holds a worker's reusable state (RNG, selection scratch); it reads a
//! published [`View`] (zones, health, healthy pools) and does no I/O, no locking and no
//! allocation per query once its scratch buffers have grown to the largest record set.
//!
//! ```text
//!  Responder::respond ---> cache (UDP: key, slots, replay)  -- hit --> response
//!        | miss
//!        v
//!  Work::respond: parse, EDNS, size limit --> chaos (CH class)
//!        v
//!  resolve: zone, node, policy, records, authority, additional --> Writer::finish
//!        names in RDATA compressed as they are written (compress)
//! ```

use crate::config::AnswerSettings;
use crate::policy::Selection;
use crate::view::View;
use crate::wire::{
    self, ede, rcode, rtype, Full, LowerName, Opt, Owner, Rejection, Section, Writer, CLASS_CH, CLASS_IN, HEADER_LEN,
    MAX_POINTER, OPT_LEN,
};
use crate::zone::{Catalog, Rrset, Zone};

mod cache;
mod chaos;
mod compress;
mod resolve;
mod secure;
mod signed;

use cache::Slot;
pub use cache::{AnswerCache, MAX_ENTRIES as MAX_CACHE_ENTRIES};

/// Longest CNAME chain followed inside a zone.
pub const MAX_CNAME_CHAIN: usize = 8;
/// Largest DNS message over TCP.
pub const MAX_TCP_MESSAGE: usize = 65_535;
/// Additional-section targets remembered per response.
const MAX_TARGETS: usize = 32;

/// How the query arrived; it sets the size limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// 512 bytes, or the EDNS size both sides allow.
    Udp = 0,
    /// 65,535 bytes.
    Tcp = 1,
}

/// What happened to one query, for metrics and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Length of the response in the buffer; 0 means no reply.
    pub len: usize,
    /// RCODE, extended RCODE included.
    pub rcode: u16,
    /// QTYPE, when the question could be read.
    pub qtype: u16,
    /// Whether TC was set.
    pub truncated: bool,
    /// Where the name of the zone that answered starts in the question's name, in bytes;
    /// [`Outcome::NO_ZONE`] when no zone did. Rate limiting counts some responses by zone.
    pub zone_at: u8,
    /// Whether a wildcard answered (for any name of a CNAME chain).
    pub wildcard: bool,
}

impl Outcome {
    /// [`Outcome::zone_at`] when no zone answered.
    pub const NO_ZONE: u8 = u8::MAX;
    /// No reply at all.
    pub const DROPPED: Outcome = Outcome::new(0, 0, 0, false);

    /// An outcome that no zone answered.
    pub const fn new(len: usize, rcode: u16, qtype: u16, truncated: bool) -> Outcome {
        Outcome { len, rcode, qtype, truncated, zone_at: Outcome::NO_ZONE, wildcard: false }
    }
}

/// A name in RDATA already written, whose A/AAAA may go in the additional section.
#[derive(Clone, Copy)]
struct PendingTarget {
    node: u32,
    /// Offset of the name in the message.
    at: usize,
}

/// Room for the EDNS options a response can carry: NSID, then edns-tcp-keepalive.
const OPTIONS_CAPACITY: usize = 4 + crate::limits::NSID_LEN.max + 6;

/// A worker's answer state.
pub struct Responder {
    /// The query's name, lowercased.
    qname: LowerName,
    /// CNAME targets being chased.
    chased: LowerName,
    /// The EDNS options of the response being written, when it has any.
    options: [u8; OPTIONS_CAPACITY],
    work: Work,
    /// UDP answers kept for reuse; `None` when off.
    cache: Option<Box<AnswerCache>>,
    /// The time and buffer for signed queries (TSIG).
    signing: signed::Signing,
}

/// Everything but the names, so both can be borrowed at once.
struct Work {
    /// The current catalog's settings, copied at the start of each query.
    settings: AnswerSettings,
    rng: fastrand::Rng,
    /// The TCP idle timeout in units of 100 ms, sent to TCP queries that ask (RFC 7828);
    /// 0 when this responder does not answer TCP.
    tcp_keepalive: u16,
    selection: Selection,
    order: Vec<u16>,
    targets: [PendingTarget; MAX_TARGETS],
    target_count: usize,
    /// Whether the answer being written came from a wildcard.
    wildcard: bool,
    trace: Trace,
    /// Whether names inside RDATA are compressed (on unless switched off to compare).
    compress: bool,
    /// Where the current owner name's suffixes are written out besides the question, oldest
    /// first.
    segments: [compress::Segment; compress::MAX_SEGMENTS],
    segment_count: usize,
    /// Per group of a record set's names, where the first written spelled out the suffix
    /// they share (0: not yet).
    groups: [u16; crate::zone::GROUPS],
    /// Whether the answer carries DNSSEC records: the query had DO and the zone is signed.
    dnssec: bool,
    /// The sampled block a DO answer drew, for its RRSIG.
    drawn: secure::Drawn,
    /// NSEC owners written into this answer's authority section (no NSEC twice).
    nsec_written: [u32; secure::MAX_PROOFS],
    nsec_count: usize,
    /// NSEC owners whose records prove a wildcard's use, to write after the answer.
    proofs: [u32; secure::MAX_PROOFS],
    proof_count: usize,
    /// Compact denial: the name a wildcard answers for at this step of the answer (its
    /// records are signed as the name's own), `wild_len` bytes; 0: none.
    wild_name: [u8; wire::MAX_NAME_LEN],
    wild_len: usize,
    /// Compact denial's signing: the time (seconds since 1970, from the worker), this
    /// second's signatures left, whether the query came over UDP (TCP has no budget), and
    /// reusable buffers.
    now: u64,
    compact_second: u64,
    compact_tokens: u32,
    udp: bool,
    scratch: crate::dnssec::Scratch,
    online: Vec<u8>,
}

/// What a record set's policy chose ([`Work::choose`]).
enum Chosen {
    /// The members in `Work::selection`, under this TTL when their own must be replaced.
    Records(Option<u32>),
    /// No member is healthy and the set answers NODATA.
    NoData,
    /// No member is healthy and the set answers its fallback values.
    Fallback,
}

/// What one answer drew from the RNG, for the answer cache: an answer that drew nothing is
/// the same bytes every time (under the same zones and health); one whose only draw chose the
/// rows of one record table ([`Writer::push_table`]) is those bytes with that table's rows
/// drawn again.
#[derive(Clone, Copy, Default)]
struct Trace {
    /// The RNG's state when the answer began.
    start: u64,
    /// Record tables whose rows were drawn.
    tables: u8,
    /// The last of them.
    table: TableDraw,
    /// Whether the answer depends on more than the zones, the health and the draws (a
    /// truncation for compact denial's signing budget): it is never kept.
    never: bool,
}

/// One record table written with drawn rows.
#[derive(Clone, Copy, Default)]
struct TableDraw {
    /// Addresses of its zone and record set, to find their indices when cached (never read
    /// through).
    zone: usize,
    set: usize,
    /// Where its rows start and end in the message.
    start: usize,
    end: usize,
    /// The owner name's offset.
    pointer: u16,
    /// The RNG's state before and after the draw.
    before: u64,
    after: u64,
    /// Where the signatures of the table's RRSIGs lie when they follow the draw (a DO
    /// answer of an exact-mode multivalue set): the first's offset (0: none), and the
    /// distance from one to the next.
    signature: u16,
    signature_stride: u16,
}

impl Trace {
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn drawn_table(
        &mut self,
        zone: &Zone,
        set: &Rrset,
        start: usize,
        end: usize,
        pointer: u16,
        before: u64,
        after: u64,
    ) {
        self.tables = self.tables.saturating_add(1);
        self.table = TableDraw {
            zone: zone as *const Zone as usize,
            set: set as *const Rrset as usize,
            start,
            end,
            pointer,
            before,
            after,
            signature: 0,
            signature_stride: 0,
        };
    }
}

impl Default for Responder {
    fn default() -> Self {
        Self::new()
    }
}

impl Responder {
    /// A responder with its RNG seeded from the OS.
    pub fn new() -> Self {
        let mut seed = [0u8; 8];
        // Without OS randomness, fall back to the standard library's per-process keys.
        if getrandom::fill(&mut seed).is_err() {
            use std::hash::{BuildHasher, RandomState};
            seed = RandomState::new().hash_one(std::time::SystemTime::now()).to_le_bytes();
        }
        Self::with_seed(u64::from_le_bytes(seed))
    }

    /// A responder with a fixed seed (tests, benches, fuzzing).
    pub fn with_seed(seed: u64) -> Self {
        Responder {
            qname: LowerName::new(),
            chased: LowerName::new(),
            options: [0; OPTIONS_CAPACITY],
            work: Work {
                settings: AnswerSettings::default(),
                rng: fastrand::Rng::with_seed(seed),
                tcp_keepalive: 0,
                selection: Selection::default(),
                order: Vec::with_capacity(64),
                targets: [PendingTarget { node: 0, at: 0 }; MAX_TARGETS],
                target_count: 0,
                wildcard: false,
                trace: Trace::default(),
                compress: true,
                segments: [compress::Segment::default(); compress::MAX_SEGMENTS],
                segment_count: 0,
                groups: [0; crate::zone::GROUPS],
                dnssec: false,
                drawn: secure::Drawn::None,
                nsec_written: [0; secure::MAX_PROOFS],
                nsec_count: 0,
                proofs: [0; secure::MAX_PROOFS],
                proof_count: 0,
                wild_name: [0; wire::MAX_NAME_LEN],
                wild_len: 0,
                now: 0,
                compact_second: 0,
                compact_tokens: 0,
                udp: true,
                scratch: crate::dnssec::Scratch::new(),
                online: Vec::with_capacity(crate::zone::dnssec::MAX_RRSIG),
            },
            cache: None,
            signing: signed::Signing::default(),
        }
    }

    /// Answers one packet into `out` (at least 512 bytes; 65,535 for TCP to allow full answers).
    pub fn respond(&mut self, view: &View, packet: &[u8], transport: Transport, out: &mut [u8]) -> Outcome {
        let slot = match (transport, self.cache.as_deref_mut()) {
            // The cache answers in place of the query: give it a copy to answer over.
            (Transport::Udp, Some(cache)) if out.len() >= packet.len() => {
                out[..packet.len()].copy_from_slice(packet);
                match cache.find(view, out, packet.len(), &mut self.work) {
                    Ok(outcome) => return outcome,
                    Err(slot) => slot,
                }
            }
            _ => None,
        };
        let outcome = self.answer(view, packet, transport, out, slot);
        if outcome.rcode == signed::PENDING {
            return self.answer_signed(view, packet, transport, out);
        }
        outcome
    }

    /// Answers the UDP query in `buf[..len]` over it, in `buf` (at least 512 bytes). From the
    /// answer cache the query is read where it lies and the response copied over it; otherwise
    /// it is first copied into `scratch` (at least `len` bytes) for the full path to read.
    pub fn respond_in_place(&mut self, view: &View, buf: &mut [u8], len: usize, scratch: &mut [u8]) -> Outcome {
        let slot = match self.cache.as_deref_mut() {
            Some(cache) => match cache.find(view, buf, len, &mut self.work) {
                Ok(outcome) => return outcome,
                Err(slot) => slot,
            },
            None => None,
        };
        let query = &mut scratch[..len];
        query.copy_from_slice(&buf[..len]);
        let outcome = self.answer(view, query, Transport::Udp, buf, slot);
        if outcome.rcode == signed::PENDING {
            return self.answer_signed(view, query, Transport::Udp, buf);
        }
        outcome
    }

    /// The full answer path, and keeping its answer at `slot` when the cache said where.
    #[inline]
    fn answer(
        &mut self,
        view: &View,
        packet: &[u8],
        transport: Transport,
        out: &mut [u8],
        slot: Option<Slot>,
    ) -> Outcome {
        let Responder { qname, chased, options, work, cache, .. } = self;
        let outcome = work.respond(view.catalog(), view, packet, transport, out, qname, chased, options);
        if let (Some(slot), Some(cache)) = (slot, cache.as_deref_mut()) {
            // A signed query has no reply yet (its length is 0), so nothing is kept.
            cache.missed(slot, view, packet, out, outcome, work);
        }
        outcome
    }

    /// Keeps up to `entries` (a power of two, or 0 for none) UDP answers for reuse; see
    /// [`AnswerCache`]. The cache's hash key comes from the standard library's per-process
    /// random keys, not from the answer RNG, whose draws stay those of an uncached responder.
    pub fn set_cache(&mut self, entries: usize) {
        use std::hash::{BuildHasher, RandomState};
        let key = RandomState::new().hash_one(entries);
        self.cache = (entries > 0).then(|| Box::new(AnswerCache::new(entries, key)));
    }

    /// Switches compression of the names inside RDATA (RFC 1035 section 4.1.4) on (the
    /// default) or off. Off, the answers hold the same records with those names in full:
    /// larger, for comparing the two.
    pub fn set_compression(&mut self, on: bool) {
        self.work.compress = on;
    }

    /// Answers served from the cache so far.
    pub fn cache_hits(&self) -> u64 {
        self.cache.as_ref().map_or(0, |c| c.hits())
    }

    /// Sets the time, in seconds since the epoch, that TSIG checks signed queries against
    /// and signs answers with. The worker calls it, once per batch, when the zones have keys;
    /// nothing on the answer path reads a clock.
    pub fn set_time(&mut self, seconds: u64) {
        self.signing.now = seconds;
        self.work.now = seconds;
    }

    /// Tells TCP clients that ask (edns-tcp-keepalive, RFC 7828) how long an idle connection
    /// stays open: the TCP worker's idle timeout.
    pub fn set_tcp_keepalive(&mut self, idle: std::time::Duration) {
        self.work.tcp_keepalive = (idle.as_millis() / 100).clamp(1, u16::MAX as u128) as u16;
    }
}

impl Work {
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn respond(
        &mut self,
        catalog: &Catalog,
        view: &View,
        packet: &[u8],
        transport: Transport,
        out: &mut [u8],
        qname: &mut LowerName,
        chased: &mut LowerName,
        options_buf: &mut [u8; OPTIONS_CAPACITY],
    ) -> Outcome {
        self.trace.start = self.rng.get_seed();
        self.trace.tables = 0;
        self.trace.never = false;
        let query = match wire::parse_query(packet, qname) {
            Ok(query) => query,
            Err(Rejection::Drop) => return Outcome::DROPPED,
            Err(Rejection::Reply { rcode, question_end, edns }) => {
                let opt = edns.map(|e| Opt { udp_size: catalog.settings().edns_udp_size, dnssec_ok: e.dnssec_ok });
                let len = wire::write_rejection(packet, rcode, question_end, opt, out);
                return Outcome::new(len, rcode as u16, 0, false);
            }
            // Signed (TSIG): left to `Responder::answer_signed`, which checks the signature,
            // has the query less its TSIG answered, and signs the answer.
            Err(Rejection::Signed { .. }) => return signed::pending(),
        };
        self.settings = *catalog.settings();
        let settings = self.settings;
        let identity = catalog.identity();
        let opt = query.edns.map(|e| Opt { udp_size: settings.edns_udp_size, dnssec_ok: e.dnssec_ok });
        // EDNS options to send: the NSID (RFC 5001) and, over TCP, edns-tcp-keepalive (RFC
        // 7828), each to a query that asked for it.
        let keepalive = transport == Transport::Tcp && self.tcp_keepalive != 0;
        let options: &[u8] = match query.edns {
            Some(e) if e.nsid || (e.keepalive && keepalive) => {
                let nsid: &[u8] = if e.nsid { &identity.nsid_option } else { &[] };
                let timeout = if e.keepalive && keepalive { Some(self.tcp_keepalive) } else { None };
                let len = edns_options(options_buf, nsid, timeout);
                &options_buf[..len]
            }
            _ => &[],
        };
        let limit = match (transport, query.edns) {
            (Transport::Tcp, _) => MAX_TCP_MESSAGE,
            (Transport::Udp, None) => wire::PLAIN_UDP_LIMIT,
            (Transport::Udp, Some(e)) => e.udp_size.min(settings.edns_udp_size).max(512) as usize,
        };
        let reserve = if opt.is_some() { OPT_LEN + options.len() } else { 0 };
        let Some(mut writer) = Writer::new(out, &query, limit, reserve) else {
            // A question too big for the limit (only possible with a tiny buffer): FORMERR.
            let len = wire::write_rejection(packet, rcode::FORMERR, None, None, out);
            return Outcome::new(len, rcode::FORMERR as u16, query.qtype, false);
        };
        let qtype = query.qtype;
        let finish = |w: Writer<'_>, rcode: u16, aa: bool, tc: bool| {
            let len = if options.is_empty() {
                w.finish(rcode, aa, tc, opt)
            } else {
                w.finish_with_options(rcode, aa, tc, opt, options)
            };
            Outcome::new(len, rcode, qtype, tc)
        };
        if query.edns.is_some_and(|e| e.version > 0) {
            return finish(writer, rcode::BADVERS, false, false);
        }
        if query.qclass != CLASS_IN || matches!(qtype, rtype::AXFR | rtype::IXFR) {
            if query.qclass == CLASS_CH {
                let (rcode, aa, tc) = chaos::answer(identity, qname, qtype, &mut writer);
                return finish(writer, rcode, aa, tc);
            }
            // Zone transfers are not built; any other class is not served here.
            let code = if query.qclass == CLASS_IN { ede::NOT_SUPPORTED } else { ede::NOT_AUTHORITATIVE };
            return refuse(writer, opt, options, code, qtype);
        }
        let zone = if qtype == rtype::DS { catalog.find_zone_for_ds(qname) } else { catalog.find_zone(qname) };
        let Some(zone) = zone else {
            return refuse(writer, opt, options, ede::NOT_AUTHORITATIVE, qtype);
        };
        self.target_count = 0;
        self.wildcard = false;
        self.dnssec = query.edns.is_some_and(|e| e.dnssec_ok) && zone.signatures().is_some();
        if self.dnssec {
            self.drawn = secure::Drawn::None;
            self.nsec_count = 0;
            self.proof_count = 0;
            self.wild_len = 0;
            self.udp = transport == Transport::Udp;
        }
        // A name is at most 255 bytes, so its offsets fit a byte (and never reach NO_ZONE).
        let zone_at = qname.suffix_offset(zone.apex_labels());
        let apex_owner = Owner::Pointer((HEADER_LEN + zone_at) as u16);
        self.start_names();
        let mut outcome = match self.resolve(zone, view, qname, chased, qtype, apex_owner, &mut writer) {
            Ok((rcode, aa)) if self.dnssec && self.proof_count > 0 && self.write_proofs(zone, &mut writer).is_err() => {
                let _ = (rcode, aa);
                writer.clear_records();
                finish(writer, rcode::NOERROR as u16, true, true)
            }
            Ok((rcode, aa)) => {
                // The additional section's records are their own names' (compact denial).
                if self.dnssec {
                    self.wild_len = 0;
                }
                // Addresses for in-zone targets where they fit; a set that does not fit is left out.
                if self.target_count > 0 {
                    let _ = self.additional(zone, view, &mut writer, false);
                }
                finish(writer, rcode as u16, aa, false)
            }
            Err(Full) => {
                writer.clear_records();
                finish(writer, rcode::NOERROR as u16, true, true)
            }
        };
        outcome.zone_at = zone_at as u8;
        outcome.wildcard = self.wildcard;
        outcome
    }
}

/// Writes the response's EDNS options into `buf`: `nsid` (a whole option, maybe empty),
/// then edns-tcp-keepalive with `timeout` when given. Returns their length.
#[cold]
fn edns_options(buf: &mut [u8; OPTIONS_CAPACITY], nsid: &[u8], timeout: Option<u16>) -> usize {
    buf[..nsid.len()].copy_from_slice(nsid);
    let mut len = nsid.len();
    if let Some(timeout) = timeout {
        let [t0, t1] = timeout.to_be_bytes();
        let [c0, c1] = wire::OPTION_TCP_KEEPALIVE.to_be_bytes();
        buf[len..len + 6].copy_from_slice(&[c0, c1, 0, 2, t0, t1]);
        len += 6;
    }
    len
}

/// REFUSED, with the extended DNS error `code` (RFC 8914) beside the response's other EDNS
/// `options` when the query had EDNS (`opt`), as Knot and NSD send.
#[cold]
#[inline(never)]
fn refuse(w: Writer<'_>, opt: Option<Opt>, options: &[u8], code: u16, qtype: u16) -> Outcome {
    let rcode = rcode::REFUSED as u16;
    // A refusal holds no records, so the 6 bytes beyond the reserve fit (checked anyway).
    if opt.is_none() || w.room() < EDE_LEN {
        let len = if options.is_empty() {
            w.finish(rcode, false, false, opt)
        } else {
            w.finish_with_options(rcode, false, false, opt, options)
        };
        return Outcome::new(len, rcode, qtype, false);
    }
    let mut all = [0u8; OPTIONS_CAPACITY + EDE_LEN];
    all[..options.len()].copy_from_slice(options);
    let [o0, o1] = wire::OPTION_EDE.to_be_bytes();
    let [c0, c1] = code.to_be_bytes();
    all[options.len()..options.len() + EDE_LEN].copy_from_slice(&[o0, o1, 0, 2, c0, c1]);
    let len = w.finish_with_options(rcode, false, false, opt, &all[..options.len() + EDE_LEN]);
    Outcome::new(len, rcode, qtype, false)
}

/// An extended DNS error option with no extra text: code, length, info code.
const EDE_LEN: usize = 6;

#[cfg(test)]
mod dnssec_tests;
#[cfg(test)]
mod tests;
