//! The answer path: one query packet in, one response written into a caller's buffer.
//!
//! [`Responder`] holds a worker's reusable state (RNG, selection scratch); it reads a
//! published [`View`] (zones, health, healthy pools) and does no I/O, no locking and no allocation per
//! query once its scratch buffers have grown to the largest record set.

use crate::config::{AnswerSettings, Routing, WhenAllUnhealthy};
use crate::policy::{self, Selection};
use crate::view::View;
use crate::wire::{
    self, rcode, rtype, Full, LowerName, Opt, Owner, Rejection, Section, Writer, CLASS_CH, CLASS_IN, HEADER_LEN,
    MAX_NAME_LEN, OPT_LEN,
};
use crate::zone::{Catalog, Identity, Lookup, Pool, Rdata, Rrset, Zone};

mod cache;

use cache::Slot;
pub use cache::{AnswerCache, MAX_ENTRIES as MAX_CACHE_ENTRIES};

/// Longest CNAME chain followed inside a zone.
pub const MAX_CNAME_CHAIN: usize = 8;
/// Largest DNS message over TCP.
pub const MAX_TCP_MESSAGE: usize = 65_535;
/// Highest offset a compression pointer can reach.
const MAX_POINTER: usize = 0x3FFF;
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
}

impl Outcome {
    /// No reply at all.
    pub const DROPPED: Outcome = Outcome { len: 0, rcode: 0, qtype: 0, truncated: false };
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
    trace: Trace,
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
                trace: Trace::default(),
            },
            cache: None,
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
        self.answer(view, packet, transport, out, slot)
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
        self.answer(view, query, Transport::Udp, buf, slot)
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
        let Responder { qname, chased, options, work, cache } = self;
        let outcome = work.respond(view.catalog(), view, packet, transport, out, qname, chased, options);
        if let (Some(slot), Some(cache)) = (slot, cache.as_deref_mut()) {
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

    /// Answers served from the cache so far.
    pub fn cache_hits(&self) -> u64 {
        self.cache.as_ref().map_or(0, |c| c.hits())
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
        let query = match wire::parse_query(packet, qname) {
            Ok(query) => query,
            Err(Rejection::Drop) => return Outcome::DROPPED,
            Err(Rejection::Reply { rcode, question_end }) => {
                let len = wire::write_rejection(packet, rcode, question_end, out);
                return Outcome { len, rcode: rcode as u16, qtype: 0, truncated: false };
            }
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
            let len = wire::write_rejection(packet, rcode::FORMERR, None, out);
            return Outcome { len, rcode: rcode::FORMERR as u16, qtype: query.qtype, truncated: false };
        };
        let qtype = query.qtype;
        let finish = |w: Writer<'_>, rcode: u16, aa: bool, tc: bool| {
            let len = if options.is_empty() {
                w.finish(rcode, aa, tc, opt)
            } else {
                w.finish_with_options(rcode, aa, tc, opt, options)
            };
            Outcome { len, rcode, qtype, truncated: tc }
        };
        if query.edns.is_some_and(|e| e.version > 0) {
            return finish(writer, rcode::BADVERS, false, false);
        }
        if query.qclass != CLASS_IN || matches!(qtype, rtype::AXFR | rtype::IXFR) {
            if query.qclass == CLASS_CH {
                return match chaos_text(identity, qname) {
                    None => finish(writer, rcode::REFUSED as u16, false, false),
                    Some(rdata) if matches!(qtype, rtype::TXT | rtype::ANY) => {
                        match writer.push(Section::Answer, Owner::Pointer(HEADER_LEN as u16), rtype::TXT, 0, rdata) {
                            Ok(at) => {
                                writer.set_class(at, CLASS_CH);
                                finish(writer, rcode::NOERROR as u16, true, false)
                            }
                            Err(Full) => finish(writer, rcode::NOERROR as u16, true, true),
                        }
                    }
                    Some(_) => finish(writer, rcode::NOERROR as u16, true, false),
                };
            }
            return finish(writer, rcode::REFUSED as u16, false, false);
        }
        let zone = if qtype == rtype::DS { catalog.find_zone_for_ds(qname) } else { catalog.find_zone(qname) };
        let Some(zone) = zone else {
            return finish(writer, rcode::REFUSED as u16, false, false);
        };
        self.target_count = 0;
        let apex_owner = Owner::Pointer((HEADER_LEN + qname.suffix_offset(zone.apex_labels())) as u16);
        match self.resolve(zone, view, qname, chased, qtype, apex_owner, &mut writer) {
            Ok((rcode, aa)) => {
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
        }
    }

    /// Fills answer and authority; returns (RCODE, AA). `Full` means the response must be
    /// truncated.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn resolve(
        &mut self,
        zone: &Zone,
        view: &View,
        qname: &LowerName,
        chased: &mut LowerName,
        qtype: u16,
        apex_owner: Owner<'_>,
        w: &mut Writer<'_>,
    ) -> Result<(u8, bool), Full> {
        let mut owner_at = HEADER_LEN;
        let mut chain = 0usize;
        loop {
            let name = if chain == 0 { qname } else { &*chased };
            let owner = owner_for(owner_at, name);
            let node = match zone.lookup(name, qtype == rtype::DS) {
                Lookup::Exact(n) | Lookup::Wildcard(n) => zone.node(n),
                Lookup::NxDomain => {
                    self.write_soa(zone, apex_owner, w)?;
                    return Ok((rcode::NXDOMAIN, true));
                }
                Lookup::Dname { node, labels } => {
                    // RFC 6672 section 3.2: the DNAME, then a CNAME from the name to the
                    // name rewritten by it (with the DNAME's TTL), then on to that name.
                    let Some(set) = zone.rrset(zone.node(node), rtype::DNAME) else {
                        return Ok((rcode::SERVFAIL, false));
                    };
                    let member = &zone.members(set)[0];
                    // RDLENGTH, then the target name.
                    let stored = zone.wire(&zone.rdatas(member)[0]);
                    let target = &stored[2..];
                    let cut = name.suffix_offset(labels);
                    let dname_owner = suffix_owner(owner_at + cut, name, labels);
                    w.push(Section::Answer, dname_owner, rtype::DNAME, member.ttl, stored)?;
                    let len = cut + target.len();
                    if len > MAX_NAME_LEN {
                        return Ok((rcode::YXDOMAIN, true));
                    }
                    let mut rdata = [0u8; 2 + MAX_NAME_LEN];
                    rdata[..2].copy_from_slice(&(len as u16).to_be_bytes());
                    rdata[2..2 + cut].copy_from_slice(&name.as_wire()[..cut]);
                    rdata[2 + cut..2 + len].copy_from_slice(target);
                    let rdata = &rdata[..2 + len];
                    let at = w.push(Section::Answer, owner, rtype::CNAME, member.ttl, rdata)?;
                    chain += 1;
                    if qtype == rtype::CNAME || chain >= MAX_CNAME_CHAIN || chased.read(&rdata[2..], 0).is_none() {
                        return Ok((rcode::NOERROR, true));
                    }
                    let apex = zone.apex_labels();
                    let inside = chased.label_count() >= apex
                        && chased.suffix(apex).eq_ignore_ascii_case(zone.origin().as_wire());
                    if !inside {
                        // Out of this zone: the client follows it.
                        return Ok((rcode::NOERROR, true));
                    }
                    owner_at = at;
                    continue;
                }
                Lookup::Referral { cut, labels } => {
                    if chain > 0 {
                        // A CNAME into a delegated name: the chain ends at the cut.
                        return Ok((rcode::NOERROR, true));
                    }
                    let cut_owner = suffix_owner(owner_at + name.suffix_offset(labels), name, labels);
                    let Some(ns) = zone.rrset(zone.node(cut), rtype::NS) else {
                        return Ok((rcode::SERVFAIL, false));
                    };
                    self.write_rrset(zone, ns, cut_owner, Section::Authority, view, w)?;
                    // Glue for in-zone name servers is required (RFC 9471): TC if it won't fit.
                    self.additional(zone, view, w, true)?;
                    return Ok((rcode::NOERROR, false));
                }
            };
            if qtype == rtype::ANY {
                // RFC 8482: one record set is a sufficient answer.
                let wrote = match zone.rrsets(node).first() {
                    Some(set) => self.write_rrset(zone, set, owner, Section::Answer, view, w)?,
                    None => false,
                };
                if !wrote {
                    self.write_soa(zone, apex_owner, w)?;
                }
                return Ok((rcode::NOERROR, true));
            }
            if let Some(set) = zone.rrset(node, qtype) {
                if !self.write_rrset(zone, set, owner, Section::Answer, view, w)? {
                    // Every member unhealthy and the set says `nodata`.
                    self.write_soa(zone, apex_owner, w)?;
                    return Ok((rcode::NOERROR, true));
                }
                if !self.settings.minimal_responses {
                    // Optional: drop the NS set rather than truncate. Its addresses are not
                    // added: the answer's own targets matter more.
                    if qtype == rtype::NS && std::ptr::eq(node, zone.apex()) {
                        // The apex NS set itself was the answer: no copy in authority.
                    } else if let (Some((block, count)), Owner::Pointer(apex)) = (zone.authority_ns(), apex_owner) {
                        // Simple routing: the same records every time, prepared at load.
                        let _ = w.push_block(Section::Authority, apex, block, count);
                    } else if let Some(ns) = zone.rrset(zone.apex(), rtype::NS) {
                        let mark = w.mark();
                        let before = self.target_count;
                        if self.write_rrset(zone, ns, apex_owner, Section::Authority, view, w).is_err() {
                            w.rewind(mark);
                        }
                        self.target_count = before;
                    }
                }
                return Ok((rcode::NOERROR, true));
            }
            if qtype != rtype::CNAME {
                if let Some(cname) = zone.rrset(node, rtype::CNAME) {
                    let member = &zone.members(cname)[0];
                    let rdata = &zone.rdatas(member)[0];
                    let at = w.push(Section::Answer, owner, rtype::CNAME, member.ttl, zone.wire(rdata))?;
                    chain += 1;
                    match zone.target(rdata) {
                        Some(t) if chain < MAX_CNAME_CHAIN && t.name.ends_with(zone.origin()) => {
                            let _ = chased.read(t.name.as_wire(), 0);
                            owner_at = at;
                            continue;
                        }
                        _ => return Ok((rcode::NOERROR, true)),
                    }
                }
            }
            // NODATA.
            self.write_soa(zone, apex_owner, w)?;
            return Ok((rcode::NOERROR, true));
        }
    }

    fn write_soa(&mut self, zone: &Zone, owner: Owner<'_>, w: &mut Writer<'_>) -> Result<(), Full> {
        let (soa, ttl) = zone.soa();
        w.push(Section::Authority, owner, rtype::SOA, ttl, soa).map(|_| ())
    }

    /// Writes the members the record set's policy picks, each member's values in random order.
    #[allow(clippy::too_many_arguments)]
    fn write_rrset(
        &mut self,
        zone: &Zone,
        set: &Rrset,
        owner: Owner<'_>,
        section: Section,
        view: &View,
        w: &mut Writer<'_>,
    ) -> Result<bool, Full> {
        let seed = self.rng.get_seed();
        let ttl = match self.choose(zone, set, view) {
            Chosen::Records(ttl) => ttl,
            Chosen::NoData => return Ok(false),
            Chosen::Fallback => {
                for rdata in zone.fallback(set) {
                    w.push(section, owner, set.rtype, set.fallback_ttl, zone.wire(rdata))?;
                }
                return Ok(true);
            }
        };
        let members = zone.members(set);
        if let (true, Owner::Pointer(pointer)) = (set.stride != 0, owner) {
            // The common shape (multivalue A/AAAA): the chosen rows of a table of records.
            let stride = set.stride as usize;
            let start = w.position();
            w.push_table(section, pointer, zone.records(set), stride, self.selection.as_slice(), ttl)?;
            if self.rng.get_seed() != seed {
                self.trace.drawn_table(zone, set, start, w.position(), pointer, seed, self.rng.get_seed());
            }
            return Ok(true);
        }
        if let (true, Owner::Pointer(pointer)) = (set.plain, owner) {
            // Plain values of several sizes (TXT): one stored record per chosen member.
            for &i in self.selection.as_slice() {
                w.push_record(section, pointer, zone.plain_record(&members[i as usize]), ttl)?;
            }
            return Ok(true);
        }
        for k in 0..self.selection.as_slice().len() {
            let member = &members[self.selection.as_slice()[k] as usize];
            match zone.rdatas(member) {
                [rdata] => self.write_value(zone, set.rtype, rdata, member.ttl, ttl, owner, section, w)?,
                rdatas if rdatas.len() <= policy::SMALL_SET => {
                    // Several values in one member: all of them, in random order.
                    let mut order = [0; policy::SMALL_SET];
                    policy::permutation(rdatas.len(), &mut self.rng, &mut order);
                    for &v in &order[..rdatas.len()] {
                        let rdata = &rdatas[v as usize];
                        self.write_value(zone, set.rtype, rdata, member.ttl, ttl, owner, section, w)?;
                    }
                }
                rdatas => {
                    self.order.clear();
                    self.order.extend(0..rdatas.len() as u16);
                    self.rng.shuffle(&mut self.order);
                    for v in 0..rdatas.len() {
                        let rdata = &rdatas[self.order[v] as usize];
                        self.write_value(zone, set.rtype, rdata, member.ttl, ttl, owner, section, w)?;
                    }
                }
            }
        }
        Ok(true)
    }

    /// Runs the record set's policy into `self.selection` and says what to write: the chosen
    /// members, with the TTL to serve them under when their stored TTLs must be replaced, or,
    /// when no member is healthy, what the set says to do instead.
    #[inline(always)]
    fn choose(&mut self, zone: &Zone, set: &Rrset, view: &View) -> Chosen {
        let members = zone.members(set);
        // Whether every member is unhealthy, when the policy's inputs already tell.
        let mut none_healthy = None;
        let max = self.settings.max_answers;
        let (rng, out) = (&mut self.rng, &mut self.selection);
        match set.routing {
            Routing::Simple => policy::simple(out),
            Routing::Multivalue if !set.checked => policy::multivalue_unchecked(members.len(), max, rng, out),
            Routing::Multivalue => match view.pool(set) {
                Some(pool) if pool.is_empty() => {
                    // Fail-open: every member a candidate.
                    policy::multivalue_unchecked(members.len(), max, rng, out);
                    none_healthy = Some(true);
                }
                Some(Pool::Small { block, len }) => {
                    policy::multivalue_pool(block, len, max, rng, out);
                    none_healthy = Some(false);
                }
                Some(Pool::Large(list)) => {
                    policy::multivalue_listed(list, max, rng, out);
                    none_healthy = Some(false);
                }
                None => policy::multivalue(members, view.health(), max, rng, out),
            },
            Routing::Failover => policy::failover(members, view.health(), out),
            Routing::Weighted => policy::weighted(members, view.health(), rng, out),
        }
        let chosen = self.selection.as_slice();
        let all_unhealthy = none_healthy.unwrap_or_else(|| {
            set.checked
                && set.routing != Routing::Simple
                && chosen.first().is_some_and(|&i| !policy::healthy(&members[i as usize], view.health()))
        });
        if all_unhealthy {
            // Policies pick an unhealthy member only when none is healthy.
            match set.when_all_unhealthy {
                WhenAllUnhealthy::AnswerAll => {}
                WhenAllUnhealthy::NoData => return Chosen::NoData,
                WhenAllUnhealthy::Fallback => return Chosen::Fallback,
            }
        }
        // One RRset, one TTL (RFC 2181 section 5.2): the smallest of the chosen members. Stored
        // records carry their member's TTL, so only sets with mixed TTLs are patched.
        let ttl = if set.uniform_ttl {
            None
        } else {
            Some(chosen.iter().map(|&i| members[i as usize].ttl).min().unwrap_or(0))
        };
        Chosen::Records(ttl)
    }

    /// Writes one value, served with `ttl` when set (else its member's `own_ttl`), and
    /// remembers its in-zone target for the additional section.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn write_value(
        &mut self,
        zone: &Zone,
        rtype: u16,
        rdata: &Rdata,
        own_ttl: u32,
        ttl: Option<u32>,
        owner: Owner<'_>,
        section: Section,
        w: &mut Writer<'_>,
    ) -> Result<(), Full> {
        let at = match owner {
            Owner::Pointer(pointer) => w.push_record(section, pointer, zone.record(rdata), ttl)?,
            Owner::Wire(_) => w.push(section, owner, rtype, ttl.unwrap_or(own_ttl), zone.wire(rdata))?,
        };
        if let Some(target) = zone.target(rdata) {
            if let Some(node) = target.node {
                if rtype != rtype::CNAME && self.target_count < MAX_TARGETS {
                    self.targets[self.target_count] = PendingTarget { node, at: at + target.offset as usize };
                    self.target_count += 1;
                }
            }
        }
        Ok(())
    }

    /// Adds A/AAAA for the in-zone targets written so far; a set that does not fit is left out
    /// whole, or, when `required` (glue), makes the answer truncated.
    fn additional(&mut self, zone: &Zone, view: &View, w: &mut Writer<'_>, required: bool) -> Result<(), Full> {
        let count = std::mem::take(&mut self.target_count);
        for t in 0..count {
            let target = self.targets[t];
            if self.targets[..t].iter().any(|p| p.node == target.node) {
                continue;
            }
            let node = zone.node(target.node);
            for rtype in [rtype::A, rtype::AAAA] {
                let Some(set) = zone.rrset(node, rtype) else { continue };
                if target.at > MAX_POINTER {
                    continue;
                }
                let mark = w.mark();
                if self.write_rrset(zone, set, Owner::Pointer(target.at as u16), Section::Additional, view, w).is_err()
                {
                    w.rewind(mark);
                    return if required { Err(Full) } else { Ok(()) };
                }
            }
        }
        self.target_count = 0;
        Ok(())
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

/// The TXT RDATA that answers a CHAOS query for `qname`, when the server has one set.
fn chaos_text<'a>(identity: &'a Identity, qname: &LowerName) -> Option<&'a [u8]> {
    match qname.as_wire() {
        b"\x02id\x06server\x00" | b"\x08hostname\x04bind\x00" => identity.identity.as_deref(),
        b"\x07version\x04bind\x00" | b"\x07version\x06server\x00" => identity.version.as_deref(),
        _ => None,
    }
}

/// The owner for records of `name`'s suffix of `labels` labels, written at message offset
/// `at`: a pointer when it can reach, else that suffix in full.
fn suffix_owner(at: usize, name: &LowerName, labels: usize) -> Owner<'_> {
    if at <= MAX_POINTER {
        Owner::Pointer(at as u16)
    } else {
        Owner::Wire(name.suffix(labels))
    }
}

/// The owner for records of `name` written at message offset `at`: a pointer when it can
/// reach, else the name in full.
fn owner_for(at: usize, name: &LowerName) -> Owner<'_> {
    if at <= MAX_POINTER {
        Owner::Pointer(at as u16)
    } else {
        Owner::Wire(name.as_wire())
    }
}

#[cfg(test)]
mod tests;
