//! Answers with DNSSEC (a query with the DO bit, to a signed zone): each signed RRset followed
//! by its RRSIGs, and the NSEC records that prove a name or a type absent, all copied from the
//! zone's signatures ([`crate::zone::dnssec`]) or the view's pool signatures; nothing is
//! signed here (RFC 4035 section 3.1).
//!
//! ```text
//!  write_rrset (DO) --> rrsigs: which answer was drawn -> its RRSIG
//!        whole set | one member | k-subset (rank of its mask) | sampled block | the pool
//!  negative answers --> SOA + RRSIG, then the NSEC that matches the name (NODATA), or covers
//!        it and the wildcard that could have matched (NXDOMAIN), each with its RRSIG
//!  wildcard answers --> the NSEC that covers the name the wildcard stood for
//!  referrals --> DS + RRSIG, or the cut's NSEC (no DS: an unsigned child)
//! ```
//!
//! A multivalue set of a signed zone answers a DO query from what was signed ahead: up to 16
//! members, any k-subset, drawn as without DO; more, one of the sampled blocks whose members
//! are all healthy (so such answers are spread over the blocks, evenly over the members).

use super::{Chosen, Work};
use crate::config::{Routing, WhenAllUnhealthy};
use crate::dnssec::subsets;
use crate::policy;
use crate::view::View;
use crate::wire::{rtype, Full, LowerName, Owner, Section, Writer, MAX_NAME_LEN};
use crate::zone::dnssec::{Cover, Mode, Rrsig, MAX_RRSIG};
use crate::zone::{Rrset, Signatures, Zone};

/// NSEC records an answer may need to prove a wildcard's use (one per CNAME step).
pub(super) const MAX_PROOFS: usize = super::MAX_CNAME_CHAIN + 2;

/// A sampled block drawn for a DO answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Drawn {
    /// None: the answer's signature follows from its members.
    None,
    /// One of the zone's blocks.
    Block(u32),
    /// One of the blocks signed on a health change, by index.
    Extra(u32),
}

impl Work {
    /// For a DO answer of a multivalue set in sampled mode: one of its signed blocks whose
    /// members are all healthy, as the selection; `None` when the usual draw answers (the
    /// healthy pool fits an answer, and its own signature covers it).
    #[cold]
    #[inline(never)]
    pub(super) fn choose_sampled(&mut self, zone: &Zone, set: &Rrset, view: &View) -> Option<Chosen> {
        let sigs = zone.signatures()?;
        let index = zone.set_index(set);
        let Mode::Sampled { first, count } = sigs.mode(index) else { return None };
        let k = sigs.answer_size();
        let members = zone.members(set);
        let (usable, extra): (&[u32], _) = match (view.pool(set), view.pool_signed(set)) {
            // Too few healthy members for a whole answer: the pool and its own signature.
            (Some(pool), _) if !pool.is_empty() && pool.len() <= k => return None,
            // None healthy, and the set says to answer NODATA or its fallback values instead:
            // the usual path says which, as it does without DO.
            (Some(pool), _) if pool.is_empty() && set.when_all_unhealthy != WhenAllUnhealthy::AnswerAll => return None,
            (Some(pool), Some(signed)) if !pool.is_empty() => (&signed.usable, signed.extra.as_deref()),
            // No checks, or none healthy (fail-open): any block.
            _ => (&[], None),
        };
        let all = usable.is_empty() && extra.is_none();
        let extra_count = extra.map_or(0, |e| e.blocks.len() / k);
        let total = if all { count as usize } else { usable.len() + extra_count };
        if total == 0 {
            return None;
        }
        let pick = self.rng.usize(..total);
        let block = if all {
            self.drawn = Drawn::Block(first + pick as u32);
            sigs.block(first + pick as u32)
        } else if pick < usable.len() {
            self.drawn = Drawn::Block(usable[pick]);
            sigs.block(usable[pick])
        } else {
            let j = pick - usable.len();
            self.drawn = Drawn::Extra(j as u32);
            &extra.expect("extra blocks").blocks[j * k..(j + 1) * k]
        };
        policy::from_block(block, &mut self.rng, &mut self.selection);
        let chosen = self.selection.as_slice();
        let ttl = if set.uniform_ttl {
            None
        } else {
            Some(chosen.iter().map(|&i| members[i as usize].ttl).min().unwrap_or(0))
        };
        Some(Chosen::Records(ttl))
    }

    /// Writes the RRSIGs of the answer of `set` just written at `owner` (what `choose` left
    /// in the selection, or its fallback values), under the answer's TTL.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn rrsigs(
        &mut self,
        zone: &Zone,
        set: &Rrset,
        owner: Owner<'_>,
        section: Section,
        ttl: u32,
        fallback: bool,
        view: &View,
        w: &mut Writer<'_>,
    ) -> Result<(), Full> {
        let Some(sigs) = zone.signatures() else { return Ok(()) };
        let index = zone.set_index(set);
        let keys = sigs.keys(index);
        if keys == 0 {
            return Ok(());
        }
        let drawn = std::mem::replace(&mut self.drawn, Drawn::None);
        if self.wild_len > 0 {
            // Compact denial: a wildcard's answer is signed now as the name's own.
            let chosen = if fallback { None } else { Some(self.selection.as_slice()) };
            let mut values: [&[u8]; ONLINE_VALUES] = [&[]; ONLINE_VALUES];
            let count = online_values(zone, set, chosen, &mut values);
            self.trace.tables = u8::MAX;
            return self.sign_now(zone, set.rtype, &values[..count], owner, section, ttl, w);
        }
        let chosen = self.selection.as_slice();
        let n = zone.members(set).len();
        let pool;
        let extra;
        let (cover, dynamic): (Cover, Option<&[u8]>) = if fallback {
            (Cover::Fallback, None)
        } else {
            match (set.routing, drawn) {
                (Routing::Simple, _) => (Cover::Whole, None),
                (Routing::Failover | Routing::Weighted, _) => (Cover::Member(chosen[0]), None),
                (Routing::Multivalue, Drawn::Block(b)) => (Cover::Block(b), None),
                (Routing::Multivalue, Drawn::Extra(j)) => {
                    extra = view.pool_signed(set).and_then(|s| s.extra.clone());
                    let Some(extra) = &extra else { return Ok(()) };
                    let per = keys * crate::dnssec::SIGNATURE_LEN;
                    let at = j as usize * per;
                    (Cover::Whole, Some(extra.signatures.get(at..at + per).unwrap_or(&[])))
                }
                (Routing::Multivalue, Drawn::None) if chosen.len() == n => (Cover::Whole, None),
                (Routing::Multivalue, Drawn::None)
                    if sigs.mode(index) == Mode::Exact && chosen.len() == sigs.answer_size() =>
                {
                    (Cover::Subset(subsets::mask_of(chosen)), None)
                }
                (Routing::Multivalue, Drawn::None) => {
                    pool = view.pool_signed(set).and_then(|s| s.pool.clone());
                    let Some(pool) = &pool else { return Ok(()) };
                    (Cover::Whole, Some(&pool[..]))
                }
            }
        };
        // The RRSIG follows the draw: a cached answer replayed with new rows needs the new
        // rows' signature. An exact-mode subset's is found again from the rows (the cache
        // keeps where it lies); other drawn covers are not replayed.
        let table = self.trace.table;
        let exact_table = matches!(cover, Cover::Subset(_))
            && set.uniform_ttl
            && self.trace.tables == 1
            && table.set == set as *const Rrset as usize
            && table.end == w.position()
            && section == Section::Answer;
        let fixed = matches!(cover, Cover::Whole | Cover::Fallback) && !matches!(drawn, Drawn::Extra(_));
        if !fixed && !exact_table {
            self.trace.tables = u8::MAX;
        }
        let mut buf = [0u8; MAX_RRSIG];
        let mut first_record = 0;
        for key in 0..keys {
            let rrsig = match dynamic {
                Some(signatures) => {
                    let at = key * crate::dnssec::SIGNATURE_LEN;
                    let Some(signature) = signatures.get(at..at + crate::dnssec::SIGNATURE_LEN) else { break };
                    sigs.dynamic(index, key, signature)
                }
                None => sigs.rrsig(index, cover, key),
            };
            let Some(rrsig) = rrsig else { break };
            let rdata_at = w.push(section, owner, rtype::RRSIG, ttl, rrsig.rdata(&mut buf))?;
            if exact_table {
                // The signature ends the RDATA, after the prefix (less its RDLENGTH).
                let at = rdata_at + rrsig.prefix.len() - 2;
                if key == 0 {
                    first_record = at;
                    self.trace.table.signature = u16::try_from(at).unwrap_or(0);
                } else if key == 1 {
                    self.trace.table.signature_stride = u16::try_from(at - first_record).unwrap_or(0);
                }
            }
        }
        Ok(())
    }

    /// Answers a query for type RRSIG at `node`: the RRSIGs of every signed set there (a
    /// routed set's over all its members); false when there is none.
    #[cold]
    #[inline(never)]
    pub(super) fn rrsig_answer(
        &mut self,
        zone: &Zone,
        node: &crate::zone::Node,
        owner: Owner<'_>,
        w: &mut Writer<'_>,
    ) -> Result<bool, Full> {
        let mut wrote = false;
        for set in zone.rrsets(node) {
            let before = w.position();
            self.whole_rrsigs(zone, set, owner, Section::Answer, set.fallback_ttl, w)?;
            wrote |= w.position() != before;
        }
        Ok(wrote)
    }

    /// Writes the RRSIGs of `set` as a whole (CNAME, DNAME, SOA, DS, NSEC).
    #[cold]
    pub(super) fn whole_rrsigs(
        &mut self,
        zone: &Zone,
        set: &Rrset,
        owner: Owner<'_>,
        section: Section,
        ttl: u32,
        w: &mut Writer<'_>,
    ) -> Result<(), Full> {
        let Some(sigs) = zone.signatures() else { return Ok(()) };
        let index = zone.set_index(set);
        if self.wild_len > 0 && sigs.keys(index) > 0 && section == Section::Answer {
            let mut values: [&[u8]; ONLINE_VALUES] = [&[]; ONLINE_VALUES];
            let all: [u32; 1] = [0];
            let count = online_values(zone, set, Some(&all), &mut values);
            return self.sign_now(zone, set.rtype, &values[..count], owner, section, ttl, w);
        }
        let mut buf = [0u8; MAX_RRSIG];
        for key in 0..sigs.keys(index) {
            let Some(rrsig) = sigs.rrsig(index, Cover::Whole, key) else { break };
            w.push(section, owner, rtype::RRSIG, ttl, rrsig.rdata(&mut buf))?;
        }
        Ok(())
    }

    /// The SOA's RRSIGs after a negative answer's SOA.
    #[cold]
    pub(super) fn soa_rrsigs(&mut self, zone: &Zone, w: &mut Writer<'_>) -> Result<(), Full> {
        let Some(soa) = zone.rrset(zone.apex(), rtype::SOA) else { return Ok(()) };
        let apex = w.name_end().saturating_sub(zone.origin().as_wire().len()) as u16;
        let (_, ttl) = zone.soa();
        self.whole_rrsigs(zone, soa, Owner::Pointer(apex), Section::Authority, ttl, w)
    }

    /// Writes node `node`'s NSEC and its RRSIGs into authority, unless already written for
    /// this answer.
    #[cold]
    pub(super) fn nsec_of(&mut self, zone: &Zone, node: u32, w: &mut Writer<'_>) -> Result<(), Full> {
        if self.nsec_written[..self.nsec_count].contains(&node) {
            return Ok(());
        }
        let Some(set) = zone.rrset(zone.node(node), rtype::NSEC) else { return Ok(()) };
        let member = &zone.members(set)[0];
        let rdata = zone.wire(&zone.rdatas(member)[0]);
        let (at, _) = w.push_near_question(Section::Authority, zone.node_name(node), rtype::NSEC, member.ttl, rdata)?;
        let owner = owner_at(at, zone.node_name(node));
        self.whole_rrsigs(zone, set, owner, Section::Authority, member.ttl, w)?;
        self.nsec_wrote(node);
        Ok(())
    }

    /// Remembers that node `node`'s NSEC (or its NODATA variant) is in this answer.
    fn nsec_wrote(&mut self, node: u32) {
        if self.nsec_count < self.nsec_written.len() {
            self.nsec_written[self.nsec_count] = node;
            self.nsec_count += 1;
        }
    }

    /// NODATA at node `node` (SOA already written): its SOA's RRSIGs and the NSEC that
    /// shows the type absent: the node's own, or for an empty non-terminal the one that
    /// covers it. `set` is the set of the type asked for when it exists but answered nothing
    /// (`when_all_unhealthy = "nodata"`): its NSEC variant without that type.
    #[cold]
    #[inline(never)]
    pub(super) fn deny_type(
        &mut self,
        zone: &Zone,
        node: u32,
        set: Option<&Rrset>,
        owner: Owner<'_>,
        w: &mut Writer<'_>,
    ) -> Result<(), Full> {
        self.soa_rrsigs(zone, w)?;
        let Some(sigs) = zone.signatures() else { return Ok(()) };
        if sigs.compact() {
            return self.deny_type_compact(zone, node, set, owner, w);
        }
        if let Some(set) = set {
            let index = zone.set_index(set);
            if sigs.variant(index, 0).is_some() {
                let name = zone.node_name(node);
                let ttl = zone.rrset(zone.node(node), rtype::NSEC).map_or(0, |s| zone.members(s)[0].ttl);
                let mut buf = [0u8; MAX_RRSIG];
                let mut owner = Owner::Wire(name);
                for key in 0..sigs.data_key_count() {
                    let Some((rdata, rrsig)) = sigs.variant(index, key) else { break };
                    if key == 0 {
                        let (at, _) = w.push_near_question(Section::Authority, name, rtype::NSEC, ttl, rdata)?;
                        owner = owner_at(at, name);
                    }
                    w.push(Section::Authority, owner, rtype::RRSIG, ttl, rrsig.rdata(&mut buf))?;
                }
                // At a wildcard the variant also covers the name asked: the node's own NSEC,
                // which lists the type, must not follow as the wildcard's proof.
                self.nsec_wrote(node);
                return Ok(());
            }
        }
        match sigs.nsec_node(node) {
            Some(nsec) => self.nsec_of(zone, nsec, w),
            None => Ok(()),
        }
    }

    /// NXDOMAIN for `name` (SOA already written): the SOA's RRSIGs, the NSEC that covers the
    /// name, and the one that covers the wildcard at its closest encloser.
    #[cold]
    #[inline(never)]
    pub(super) fn deny_name(
        &mut self,
        zone: &Zone,
        name: &LowerName,
        owner: Owner<'_>,
        w: &mut Writer<'_>,
    ) -> Result<(), Full> {
        self.soa_rrsigs(zone, w)?;
        let Some(sigs) = zone.signatures() else { return Ok(()) };
        if sigs.compact() {
            // RFC 9824: the name's own NSEC, with no type but RRSIG, NSEC and NXNAME.
            return self.online_nsec(zone, name.as_wire(), owner, &NXNAME_BITMAP, w);
        }
        if let Some(cover) = sigs.covering(zone, name.as_wire()) {
            self.nsec_of(zone, cover, w)?;
        }
        // The closest encloser: the longest suffix that exists.
        let total = name.label_count();
        let encloser = (zone.apex_labels()..total).rev().find(|&keep| zone.exists(name.suffix(keep)));
        if let Some(keep) = encloser {
            let suffix = name.suffix(keep);
            let mut wildcard = [0u8; MAX_NAME_LEN + 2];
            if suffix.len() + 2 <= MAX_NAME_LEN {
                wildcard[..2].copy_from_slice(&[1, b'*']);
                wildcard[2..2 + suffix.len()].copy_from_slice(suffix);
                if let Some(cover) = sigs.covering(zone, &wildcard[..2 + suffix.len()]) {
                    self.nsec_of(zone, cover, w)?;
                }
            }
        }
        Ok(())
    }

    /// Remembers that a wildcard answered for `name`: the NSEC that covers `name` goes into
    /// authority once the answer is written ([`Work::write_proofs`]).
    #[cold]
    pub(super) fn wildcard_proof(&mut self, zone: &Zone, name: &LowerName) {
        let Some(sigs) = zone.signatures() else { return };
        if sigs.compact() {
            // No chain to prove it with: the answer is signed as the name's own instead.
            let wire = name.as_wire();
            self.wild_name[..wire.len()].copy_from_slice(wire);
            self.wild_len = wire.len();
            return;
        }
        if let Some(cover) = sigs.covering(zone, name.as_wire()) {
            if self.proof_count < MAX_PROOFS {
                self.proofs[self.proof_count] = cover;
                self.proof_count += 1;
            }
        }
    }

    /// Writes the wildcard proofs remembered for this answer.
    #[cold]
    #[inline(never)]
    pub(super) fn write_proofs(&mut self, zone: &Zone, w: &mut Writer<'_>) -> Result<(), Full> {
        for i in 0..self.proof_count {
            let node = self.proofs[i];
            self.nsec_of(zone, node, w)?;
        }
        self.proof_count = 0;
        Ok(())
    }

    /// Takes one of this second's compact-denial signatures; false when the worker has made
    /// its budget's worth this second (UDP only: TCP answers are not limited).
    fn compact_token(&mut self, budget: u32) -> bool {
        if !self.udp {
            return true;
        }
        if self.compact_second != self.now {
            self.compact_second = self.now;
            self.compact_tokens = budget;
        }
        if self.compact_tokens == 0 {
            // A truncation that lasts only this second: not for the answer cache.
            self.trace.never = true;
            return false;
        }
        self.compact_tokens -= 1;
        true
    }

    /// Signs now the RRset of `rtype` with `values` owned by the name in `wild_name` (or the
    /// name `owner_wire`), and writes its RRSIGs at `owner`; past the budget, the answer is
    /// truncated (`Full`).
    #[allow(clippy::too_many_arguments)]
    #[cold]
    #[inline(never)]
    fn sign_now(
        &mut self,
        zone: &Zone,
        rtype: u16,
        values: &[&[u8]],
        owner: Owner<'_>,
        section: Section,
        ttl: u32,
        w: &mut Writer<'_>,
    ) -> Result<(), Full> {
        let Some(sigs) = zone.signatures() else { return Ok(()) };
        let mut name = [0u8; MAX_NAME_LEN];
        let len = self.wild_len;
        name[..len].copy_from_slice(&self.wild_name[..len]);
        for key in 0..sigs.data_key_count() {
            if !self.compact_token(sigs.compact_budget()) {
                return Err(Full);
            }
            if !sigs.sign_online(&name[..len], rtype, ttl, values, key, &mut self.scratch, &mut self.online) {
                return Ok(());
            }
            w.push(section, owner, rtype::RRSIG, ttl, &self.online)?;
        }
        Ok(())
    }

    /// Compact denial's NSEC at `name` (lowercase wire form, written at `owner`): its next
    /// name `\000.name`, then `bitmap`, signed now, into authority.
    #[cold]
    #[inline(never)]
    fn online_nsec(
        &mut self,
        zone: &Zone,
        name: &[u8],
        owner: Owner<'_>,
        bitmap: &[u8],
        w: &mut Writer<'_>,
    ) -> Result<(), Full> {
        let Some(sigs) = zone.signatures() else { return Ok(()) };
        let mut rdata = [0u8; 2 + 2 + MAX_NAME_LEN + 600];
        let len = 2 + name.len() + bitmap.len();
        if name.len() + 2 > MAX_NAME_LEN || 2 + len > rdata.len() {
            return Err(Full);
        }
        rdata[..2].copy_from_slice(&(len as u16).to_be_bytes());
        rdata[2..4].copy_from_slice(&[1, 0]);
        rdata[4..4 + name.len()].copy_from_slice(name);
        rdata[4 + name.len()..2 + len].copy_from_slice(bitmap);
        let rdata = &rdata[..2 + len];
        let ttl = sigs.online_nsec_ttl(zone);
        w.push(Section::Authority, owner, rtype::NSEC, ttl, rdata)?;
        for key in 0..sigs.data_key_count() {
            if !self.compact_token(sigs.compact_budget()) {
                return Err(Full);
            }
            if !sigs.sign_online(name, rtype::NSEC, ttl, &[&rdata[2..]], key, &mut self.scratch, &mut self.online) {
                return Ok(());
            }
            w.push(Section::Authority, owner, rtype::RRSIG, ttl, &self.online)?;
        }
        Ok(())
    }

    /// NODATA with compact denial: the node's own NSEC signed with the zone (or its variant
    /// without `set`'s type), or, for a name a wildcard answers, an NSEC at that name with
    /// the wildcard's types, signed now.
    fn deny_type_compact(
        &mut self,
        zone: &Zone,
        node: u32,
        set: Option<&Rrset>,
        owner: Owner<'_>,
        w: &mut Writer<'_>,
    ) -> Result<(), Full> {
        let Some(sigs) = zone.signatures() else { return Ok(()) };
        if self.wild_len > 0 {
            let Some((rdata, _)) = compact_record(sigs, zone, node, set, 0) else { return Ok(()) };
            // RDLENGTH, the next name (the wildcard's successor), then the bitmap.
            let Some(next_end) = crate::wire::skip_name(rdata, 2) else { return Ok(()) };
            let mut bitmap = [0u8; 600];
            let tail = &rdata[next_end..];
            if tail.len() > bitmap.len() {
                return Ok(());
            }
            bitmap[..tail.len()].copy_from_slice(tail);
            let mut name = [0u8; MAX_NAME_LEN];
            let len = self.wild_len;
            name[..len].copy_from_slice(&self.wild_name[..len]);
            return self.online_nsec(zone, &name[..len], owner, &bitmap[..tail.len()], w);
        }
        self.compact_of(zone, node, set, owner, w)
    }

    /// Writes node `node`'s compact NSEC (or, for `set`, its variant without `set`'s type)
    /// and its RRSIGs into authority, owned by `owner`.
    fn compact_of(
        &mut self,
        zone: &Zone,
        node: u32,
        set: Option<&Rrset>,
        owner: Owner<'_>,
        w: &mut Writer<'_>,
    ) -> Result<(), Full> {
        let Some(sigs) = zone.signatures() else { return Ok(()) };
        let ttl = zone
            .rrset(zone.node(node), rtype::NSEC)
            .map_or_else(|| sigs.online_nsec_ttl(zone), |s| zone.members(s)[0].ttl);
        let mut buf = [0u8; MAX_RRSIG];
        for key in 0..sigs.data_key_count() {
            let Some((rdata, rrsig)) = compact_record(sigs, zone, node, set, key) else { break };
            if key == 0 {
                w.push(Section::Authority, owner, rtype::NSEC, ttl, rdata)?;
            }
            w.push(Section::Authority, owner, rtype::RRSIG, ttl, rrsig.rdata(&mut buf))?;
        }
        Ok(())
    }

    /// An answer to a query for type NSEC at `node` in a zone with compact denial: the
    /// node's own NSEC (never one of the chain, which would list the zone's names), with its
    /// RRSIGs when the query has DO. False when the node has none.
    #[cold]
    #[inline(never)]
    pub(super) fn compact_nsec_answer(
        &mut self,
        zone: &Zone,
        node: u32,
        owner: Owner<'_>,
        w: &mut Writer<'_>,
    ) -> Result<bool, Full> {
        let Some(sigs) = zone.signatures() else { return Ok(false) };
        let ttl = sigs.online_nsec_ttl(zone);
        let mut buf = [0u8; MAX_RRSIG];
        for key in 0..sigs.data_key_count() {
            let Some((rdata, rrsig)) = sigs.compact_nsec(node, key) else { return Ok(key > 0) };
            if key == 0 {
                w.push(Section::Answer, owner, rtype::NSEC, ttl, rdata)?;
            }
            if !self.dnssec {
                break;
            }
            w.push(Section::Answer, owner, rtype::RRSIG, ttl, rrsig.rdata(&mut buf))?;
        }
        Ok(true)
    }

    /// A referral's proof, after its NS set: the DS set and its RRSIGs (a signed child), or
    /// the cut's NSEC, which has no DS (an unsigned one).
    #[cold]
    #[inline(never)]
    pub(super) fn referral_proof(
        &mut self,
        zone: &Zone,
        cut: u32,
        owner: Owner<'_>,
        w: &mut Writer<'_>,
    ) -> Result<(), Full> {
        match zone.rrset(zone.node(cut), rtype::DS) {
            Some(ds) => {
                let member = &zone.members(ds)[0];
                for rdata in zone.rdatas(member) {
                    w.push(Section::Authority, owner, rtype::DS, member.ttl, zone.wire(rdata))?;
                }
                self.whole_rrsigs(zone, ds, owner, Section::Authority, member.ttl, w)
            }
            None if zone.signatures().is_some_and(|s| s.compact()) => self.compact_of(zone, cut, None, owner, w),
            None => self.nsec_of(zone, cut, w),
        }
    }
}

/// The type bitmap of a compact denial's NSEC for a name that does not exist: RRSIG, NSEC
/// and NXNAME (128, RFC 9824), window 0, 17 bytes.
const NXNAME_BITMAP: [u8; 19] = {
    let mut bitmap = [0u8; 19];
    bitmap[1] = 17;
    bitmap[2 + 46 / 8] |= 0x80 >> (46 % 8);
    bitmap[2 + 47 / 8] |= 0x80 >> (47 % 8);
    bitmap[2 + 128 / 8] |= 0x80; // 128 % 8 = 0: the first bit
    bitmap
};

/// Most values a record set signed while answering may hold.
const ONLINE_VALUES: usize = 64;

/// The RDATAs (uncompressed, no RDLENGTH) of `chosen` members of `set` (`None`: its fallback
/// values) into `out`; how many. A set of more values is signed on its first
/// [`ONLINE_VALUES`] (never in practice: an answer holds at most 64 members).
fn online_values<'z>(
    zone: &'z Zone,
    set: &Rrset,
    chosen: Option<&[u32]>,
    out: &mut [&'z [u8]; ONLINE_VALUES],
) -> usize {
    let mut count = 0;
    let mut add = |rdata: &'z [u8]| {
        if count < ONLINE_VALUES {
            out[count] = rdata;
            count += 1;
        }
    };
    match chosen {
        Some(chosen) => {
            let members = zone.members(set);
            for &m in chosen {
                for rdata in zone.rdatas(&members[m as usize]) {
                    add(&zone.wire(rdata)[2..]);
                }
            }
        }
        None => {
            for rdata in zone.fallback(set) {
                add(&zone.wire(rdata)[2..]);
            }
        }
    }
    count
}

/// Node `node`'s compact NSEC, or `set`'s variant of it (without its type) when it has one,
/// with its `key`-th RRSIG.
fn compact_record<'z>(
    sigs: &'z Signatures,
    zone: &Zone,
    node: u32,
    set: Option<&Rrset>,
    key: usize,
) -> Option<(&'z [u8], Rrsig<'z>)> {
    match set.and_then(|s| sigs.variant(zone.set_index(s), key)) {
        Some(found) => Some(found),
        None => sigs.compact_nsec(node, key),
    }
}

/// The owner of records after one just written with its owner at `at`: a pointer to it when
/// one can reach, else `name` in full.
fn owner_at(at: usize, name: &[u8]) -> Owner<'_> {
    if at <= crate::wire::MAX_POINTER {
        Owner::Pointer(at as u16)
    } else {
        Owner::Wire(name)
    }
}
