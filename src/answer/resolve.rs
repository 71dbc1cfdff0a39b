//! Resolving a question in a zone: the name's node (exact, wildcard, delegation, DNAME,
//! CNAME chains), the records its policy picks, the SOA or NS in authority, and A/AAAA for
//! in-zone targets in additional (RFC 1034 section 4.3.2, RFC 6672, RFC 2181).

use super::{Chosen, PendingTarget, Work, MAX_CNAME_CHAIN, MAX_POINTER, MAX_TARGETS};
use crate::config::{Routing, WhenAllUnhealthy};
use crate::policy;
use crate::view::View;
use crate::wire::{rcode, rtype, Full, LowerName, Owner, Section, Writer, HEADER_LEN, MAX_NAME_LEN};
use crate::zone::{Lookup, Pool, Rdata, Rrset, Zone};

impl Work {
    /// Fills answer and authority; returns (RCODE, AA). `Full` means the response must be
    /// truncated.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn resolve(
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
                Lookup::Exact(n) => zone.node(n),
                Lookup::Wildcard(n) => {
                    self.wildcard = true;
                    if self.dnssec {
                        self.wildcard_proof(zone, name);
                    }
                    zone.node(n)
                }
                Lookup::NxDomain => {
                    self.write_soa(zone, w)?;
                    if self.dnssec {
                        self.deny_name(zone, name, owner, w)?;
                        if zone.signatures().is_some_and(|s| s.compact()) {
                            // Compact denial answers NOERROR (RFC 9824 section 3).
                            return Ok((rcode::NOERROR, true));
                        }
                    }
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
                    // The DNAME's target is never compressed (RFC 6672 section 2.5).
                    let target_at = w.push(Section::Answer, dname_owner, rtype::DNAME, member.ttl, stored)?;
                    if self.dnssec {
                        // The CNAME that follows is made here, unsigned: validators check it
                        // against the DNAME (RFC 6672 section 5.3.1).
                        self.whole_rrsigs(zone, set, dname_owner, Section::Answer, member.ttl, w)?;
                    }
                    let len = cut + target.len();
                    if len > MAX_NAME_LEN {
                        return Ok((rcode::YXDOMAIN, true));
                    }
                    let mut rdata = [0u8; 2 + MAX_NAME_LEN];
                    rdata[..2].copy_from_slice(&(len as u16).to_be_bytes());
                    rdata[2..2 + cut].copy_from_slice(&name.as_wire()[..cut]);
                    rdata[2 + cut..2 + len].copy_from_slice(target);
                    let rdata = &rdata[..2 + len];
                    // The synthesized CNAME's target: the labels below the DNAME, then a
                    // pointer to the DNAME's target just written.
                    let point = self.compress && target.len() > 1 && target_at <= MAX_POINTER;
                    let at = if point {
                        let mut short = [0u8; 4 + MAX_NAME_LEN];
                        short[..2].copy_from_slice(&(cut as u16 + 2).to_be_bytes());
                        short[2..2 + cut].copy_from_slice(&name.as_wire()[..cut]);
                        short[2 + cut..4 + cut].copy_from_slice(&(0xC000 | target_at as u16).to_be_bytes());
                        w.push(Section::Answer, owner, rtype::CNAME, member.ttl, &short[..4 + cut])?
                    } else {
                        w.push(Section::Answer, owner, rtype::CNAME, member.ttl, rdata)?
                    };
                    if point {
                        self.owner_moved_below(at, cut, target_at, target.len());
                    } else {
                        self.owner_written_out(at, len);
                    }
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
                    if self.dnssec {
                        self.referral_proof(zone, cut, cut_owner, w)?;
                    }
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
                    self.write_soa(zone, w)?;
                    if self.dnssec {
                        let first = zone.rrsets(node).first();
                        self.deny_type(zone, zone.node_index(node), first, owner, w)?;
                    }
                }
                return Ok((rcode::NOERROR, true));
            }
            if let Some(set) = zone.rrset(node, qtype) {
                if qtype == rtype::NSEC && zone.signatures().is_some_and(|s| s.compact()) {
                    // Not the chain's NSEC, which would name the next name in the zone.
                    let wrote = self.compact_nsec_answer(zone, zone.node_index(node), owner, w)?;
                    if !wrote {
                        self.write_soa(zone, w)?;
                    }
                    return Ok((rcode::NOERROR, true));
                }
                if !self.write_rrset(zone, set, owner, Section::Answer, view, w)? {
                    // Every member unhealthy and the set says `nodata`.
                    self.write_soa(zone, w)?;
                    if self.dnssec {
                        self.deny_type(zone, zone.node_index(node), Some(set), owner, w)?;
                    }
                    return Ok((rcode::NOERROR, true));
                }
                // With DNSSEC the optional NS set is left out: it would need its RRSIGs too.
                if !self.settings.minimal_responses && !self.dnssec {
                    // Optional: drop the NS set rather than truncate. Its addresses are not
                    // added: the answer's own targets matter more.
                    if qtype == rtype::NS && std::ptr::eq(node, zone.apex()) {
                        // The apex NS set itself was the answer: no copy in authority.
                    } else if let Some(block) = zone.authority_ns() {
                        // Simple routing: the same records every time, prepared at load.
                        let _ = self.write_authority_ns(zone, block, w);
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
            if qtype == rtype::RRSIG && zone.signatures().is_some() {
                if self.rrsig_answer(zone, node, owner, w)? {
                    return Ok((rcode::NOERROR, true));
                }
            } else if qtype != rtype::CNAME {
                if let Some(cname) = zone.rrset(node, rtype::CNAME) {
                    let member = &zone.members(cname)[0];
                    let rdata = &zone.rdatas(member)[0];
                    let written = self.push_named(zone, rdata, owner, None, Section::Answer, w)?;
                    if self.dnssec {
                        self.whole_rrsigs(zone, cname, owner, Section::Answer, member.ttl, w)?;
                    }
                    chain += 1;
                    match zone.target(rdata) {
                        Some(t) if chain < MAX_CNAME_CHAIN && t.name.ends_with(zone.origin()) => {
                            let _ = chased.read(t.name.as_wire(), 0);
                            owner_at = written.at;
                            self.owner_moved(&written);
                            continue;
                        }
                        _ => return Ok((rcode::NOERROR, true)),
                    }
                }
            }
            // NODATA.
            self.write_soa(zone, w)?;
            if self.dnssec {
                self.deny_type(zone, zone.node_index(node), None, owner, w)?;
            }
            return Ok((rcode::NOERROR, true));
        }
    }

    /// Writes the members the record set's policy picks, each member's values in random order.
    pub(super) fn write_rrset(
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
                if set.names {
                    self.start_set();
                }
                for rdata in zone.fallback(set) {
                    if set.names {
                        self.push_named(zone, rdata, owner, None, section, w)?;
                    } else {
                        w.push(section, owner, set.rtype, set.fallback_ttl, zone.wire(rdata))?;
                    }
                }
                if self.dnssec {
                    self.rrsigs(zone, set, owner, section, set.fallback_ttl, true, view, w)?;
                }
                return Ok(true);
            }
        };
        if self.dnssec {
            let served = ttl.unwrap_or_else(|| zone.members(set)[self.selection.as_slice()[0] as usize].ttl);
            self.write_members(zone, set, owner, section, ttl, seed, view, w)?;
            self.rrsigs(zone, set, owner, section, served, false, view, w)?;
            return Ok(true);
        }
        self.write_members(zone, set, owner, section, ttl, seed, view, w)?;
        Ok(true)
    }

    /// Writes the members `choose` left in the selection, under `ttl` when given.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn write_members(
        &mut self,
        zone: &Zone,
        set: &Rrset,
        owner: Owner<'_>,
        section: Section,
        ttl: Option<u32>,
        seed: u64,
        view: &View,
        w: &mut Writer<'_>,
    ) -> Result<(), Full> {
        let _ = view;
        let members = zone.members(set);
        if let (true, Owner::Pointer(pointer)) = (set.stride != 0, owner) {
            // The common shape (multivalue A/AAAA): the chosen rows of a table of records.
            let stride = set.stride as usize;
            let start = w.position();
            w.push_table(section, pointer, zone.records(set), stride, self.selection.as_slice(), ttl)?;
            if self.rng.get_seed() != seed {
                self.trace.drawn_table(zone, set, start, w.position(), pointer, seed, self.rng.get_seed());
            }
            return Ok(());
        }
        if let (true, Owner::Pointer(pointer)) = (set.plain, owner) {
            // Plain values of several sizes (TXT): one stored record per chosen member.
            for &i in self.selection.as_slice() {
                w.push_record(section, pointer, zone.plain_record(&members[i as usize]), ttl)?;
            }
            return Ok(());
        }
        if set.names {
            self.start_set();
        }
        for k in 0..self.selection.as_slice().len() {
            let member = &members[self.selection.as_slice()[k] as usize];
            match zone.rdatas(member) {
                [rdata] => self.write_value(zone, set, rdata, member.ttl, ttl, owner, section, w)?,
                rdatas if rdatas.len() <= policy::SMALL_SET => {
                    // Several values in one member: all of them, in random order.
                    let mut order = [0; policy::SMALL_SET];
                    policy::permutation(rdatas.len(), &mut self.rng, &mut order);
                    for &v in &order[..rdatas.len()] {
                        let rdata = &rdatas[v as usize];
                        self.write_value(zone, set, rdata, member.ttl, ttl, owner, section, w)?;
                    }
                }
                rdatas => {
                    self.order.clear();
                    self.order.extend(0..rdatas.len() as u16);
                    self.rng.shuffle(&mut self.order);
                    for v in 0..rdatas.len() {
                        let rdata = &rdatas[self.order[v] as usize];
                        self.write_value(zone, set, rdata, member.ttl, ttl, owner, section, w)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs the record set's policy into `self.selection` and says what to write: the chosen
    /// members, with the TTL to serve them under when their stored TTLs must be replaced, or,
    /// when no member is healthy, what the set says to do instead.
    #[inline(always)]
    pub(super) fn choose(&mut self, zone: &Zone, set: &Rrset, view: &View) -> Chosen {
        if self.dnssec && set.routing == Routing::Multivalue {
            if let Some(chosen) = self.choose_sampled(zone, set, view) {
                return chosen;
            }
        }
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
    pub(super) fn write_value(
        &mut self,
        zone: &Zone,
        set: &Rrset,
        rdata: &Rdata,
        own_ttl: u32,
        ttl: Option<u32>,
        owner: Owner<'_>,
        section: Section,
        w: &mut Writer<'_>,
    ) -> Result<(), Full> {
        let target = zone.target(rdata);
        // Where the target name lies in the message, for the owner of its addresses.
        let at = if set.names {
            self.push_named(zone, rdata, owner, ttl, section, w)?.at
        } else {
            let at = match owner {
                Owner::Pointer(pointer) => w.push_record(section, pointer, zone.record(rdata), ttl)?,
                Owner::Wire(_) => w.push(section, owner, set.rtype, ttl.unwrap_or(own_ttl), zone.wire(rdata))?,
            };
            at + target.map_or(0, |t| t.offset as usize)
        };
        if let Some(target) = target {
            if let Some(node) = target.node {
                if set.rtype != rtype::CNAME && self.target_count < MAX_TARGETS {
                    self.targets[self.target_count] = PendingTarget { node, at };
                    self.target_count += 1;
                }
            }
        }
        Ok(())
    }

    /// Adds A/AAAA for the in-zone targets written so far; a set that does not fit is left out
    /// whole, or, when `required` (glue), makes the answer truncated.
    pub(super) fn additional(
        &mut self,
        zone: &Zone,
        view: &View,
        w: &mut Writer<'_>,
        required: bool,
    ) -> Result<(), Full> {
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
