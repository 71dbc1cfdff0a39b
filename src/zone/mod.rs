//! Zone data compiled for answering: immutable, built once by control code from a
//! `Config`, read by every worker.
//!
//! Storage is flat, to keep a large zone small and quick to build. Every name, empty
//! non-terminals included, is a node. Node names sit in one byte arena, found through a hash
//! table of node indices. Record sets, members and RDATA live in three vectors addressed by
//! index spans. Each record's RDATA is kept in wire form, with its length in front, in one
//! byte arena, so writing an answer is mostly copying.

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;
use std::hash::BuildHasher;

use crate::config::{
    AnswerSettings, Config, FailoverRole, MemberConfig, Routing, RrsetConfig, WhenAllUnhealthy, ZoneConfig,
};
use crate::policy;
use crate::wire::{rtype, LowerName, Name, CLASS_IN};

/// "No such index".
const NONE: u32 = u32::MAX;
/// TYPE, CLASS and TTL: the bytes stored before each RDLENGTH.
const RECORD_HEAD: usize = 8;

/// Every zone served.
pub struct Catalog {
    zones: Vec<Zone>,
    /// Distinct apex label counts, largest first, so the longest match is found first.
    apex_depths: Vec<usize>,
    settings: AnswerSettings,
}

/// A run of entries in one of a zone's vectors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    #[inline]
    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..(self.start + self.len) as usize
    }
}

/// One zone.
pub struct Zone {
    origin: Name,
    apex_labels: usize,
    apex: u32,
    /// Node names in lowercase wire form, back to back.
    names: Vec<u8>,
    /// Node indices, hashed by name.
    index: HashTable<u32>,
    nodes: Vec<Node>,
    rrsets: Vec<Rrset>,
    members: Vec<Member>,
    rdatas: Vec<Rdata>,
    /// RDLENGTH + RDATA of every record.
    bytes: Vec<u8>,
    targets: Vec<Target>,
    soa: Rdata,
    negative_ttl: u32,
    has_cuts: bool,
}

/// One name in a zone.
pub struct Node {
    name: Span,
    rrsets: Span,
    wildcard_child: u32,
    cut: bool,
}

/// The records of one owner and type, with their routing policy.
pub struct Rrset {
    /// Record type.
    pub rtype: u16,
    /// Policy that picks members.
    pub routing: Routing,
    /// What to answer when no member is healthy.
    pub when_all_unhealthy: WhenAllUnhealthy,
    /// TTL of the fallback answer: the smallest member TTL.
    pub fallback_ttl: u32,
    /// Whether every member has the same TTL, so stored records need no TTL patch.
    pub uniform_ttl: bool,
    /// Whether every member has exactly one value and no value names a target (A, AAAA,
    /// TXT...): the shape the answer path writes with the fewest steps.
    pub plain: bool,
    members: Span,
    fallback: Span,
}

/// One selectable unit of a record set.
pub struct Member {
    /// TTL of its records.
    pub ttl: u32,
    /// Health check index.
    pub check: Option<u32>,
    /// Weight (weighted routing).
    pub weight: u8,
    /// PRIMARY (failover routing).
    pub primary: bool,
    rdata: Span,
}

/// One record's data, as a span of the zone's byte arena (RDLENGTH first). The arena holds
/// the record's TYPE, CLASS and TTL just before it, so a whole record after the owner name
/// is one contiguous slice ([`Zone::record`]).
#[derive(Clone, Copy)]
pub struct Rdata {
    wire: Span,
    target: u32,
}

/// A domain name inside RDATA (NS, CNAME, MX, SRV).
pub struct Target {
    /// Offset of the name within the RDATA.
    pub offset: u16,
    /// The name, lowercase.
    pub name: Name,
    /// Node of that name in the same zone, if it exists.
    pub node: Option<u32>,
}

/// Where a name lands in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The name exists (perhaps as an empty non-terminal).
    Exact(u32),
    /// The name does not exist but a wildcard covers it.
    Wildcard(u32),
    /// The name is at or below a delegation; `labels` is the cut's label count.
    Referral { cut: u32, labels: usize },
    /// The name does not exist.
    NxDomain,
}

impl policy::Member for Member {
    #[inline]
    fn check(&self) -> Option<u32> {
        self.check
    }
    #[inline]
    fn weight(&self) -> u8 {
        self.weight
    }
    #[inline]
    fn is_primary(&self) -> bool {
        self.primary
    }
}

impl Catalog {
    /// Compiles every zone of a config.
    pub fn build(config: &Config) -> Catalog {
        let zones: Vec<Zone> = config.zones.iter().map(Zone::build).collect();
        let mut apex_depths: Vec<usize> = zones.iter().map(|z| z.apex_labels).collect();
        apex_depths.sort_unstable_by(|a, b| b.cmp(a));
        apex_depths.dedup();
        Catalog { zones, apex_depths, settings: AnswerSettings::from(&config.server) }
    }

    /// The answer settings that came with this data.
    #[inline]
    pub fn settings(&self) -> &AnswerSettings {
        &self.settings
    }

    /// The zone with the longest origin that contains `name`.
    #[inline]
    pub fn find_zone(&self, name: &LowerName) -> Option<&Zone> {
        let labels = name.label_count();
        for &depth in &self.apex_depths {
            if depth > labels {
                continue;
            }
            let suffix = name.suffix(depth);
            if let Some(zone) = self.zones.iter().find(|z| z.apex_labels == depth && z.origin.as_wire() == suffix) {
                return Some(zone);
            }
        }
        None
    }

    /// All zones.
    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }
}

/// Where the name that may need additional records or chasing sits in RDATA of `rtype`.
fn target_offset(rtype: u16) -> Option<usize> {
    match rtype {
        rtype::NS | rtype::CNAME => Some(0),
        rtype::MX => Some(2),
        rtype::SRV => Some(6),
        _ => None,
    }
}

/// Byte equality of two names, eight bytes at a time without a `memcmp` call (names are
/// short; the hash has already made a match likely).
#[inline]
fn names_equal(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a == b;
    }
    let word = |s: &[u8], at: usize| u64::from_ne_bytes(s[at..at + 8].try_into().expect("8 bytes"));
    let mut at = 0;
    while at + 8 < n {
        if word(a, at) != word(b, at) {
            return false;
        }
        at += 8;
    }
    word(a, n - 8) == word(b, n - 8)
}

#[inline]
fn hash(name: &[u8]) -> u64 {
    FxBuildHasher.hash_one(name)
}

impl Zone {
    fn build(config: &ZoneConfig) -> Zone {
        let origin = config.origin.clone();
        let mut zone = Zone {
            apex_labels: origin.label_count(),
            apex: 0,
            names: Vec::new(),
            index: HashTable::with_capacity(config.rrsets.len() + 1),
            nodes: Vec::with_capacity(config.rrsets.len() + 1),
            rrsets: Vec::with_capacity(config.rrsets.len()),
            members: Vec::with_capacity(config.rrsets.len()),
            rdatas: Vec::with_capacity(config.rrsets.len()),
            bytes: Vec::new(),
            targets: Vec::new(),
            soa: Rdata { wire: Span::default(), target: NONE },
            negative_ttl: 0,
            has_cuts: false,
            origin,
        };
        let apex_len = zone.origin.as_wire().len();
        zone.apex = zone.ensure_node(config.origin.as_wire(), apex_len);
        let node_of_set: Vec<u32> =
            config.rrsets.iter().map(|set| zone.ensure_node(set.owner.as_wire(), apex_len)).collect();
        // Group record sets by node with one sort instead of a vector per node.
        let mut order: Vec<u32> = (0..config.rrsets.len() as u32).collect();
        order.sort_by_key(|&i| node_of_set[i as usize]);
        let mut at = 0;
        while at < order.len() {
            let node = node_of_set[order[at] as usize];
            let end = at + order[at..].iter().take_while(|&&i| node_of_set[i as usize] == node).count();
            let start = zone.rrsets.len() as u32;
            for &i in &order[at..end] {
                let rrset = zone.compile_rrset(&config.rrsets[i as usize]);
                zone.rrsets.push(rrset);
            }
            let span = Span { start, len: (end - at) as u32 };
            let cut = node != zone.apex && zone.rrsets[span.range()].iter().any(|r| r.rtype == rtype::NS);
            let n = &mut zone.nodes[node as usize];
            n.rrsets = span;
            n.cut = cut;
            at = end;
        }
        zone.resolve_targets();
        for node in 0..zone.nodes.len() {
            let name = zone.nodes[node].name.range();
            if zone.names[name.clone()].starts_with(&[1, b'*']) {
                let parent = name.start + 2..name.end;
                if let Some(p) = zone.find(&zone.names[parent]) {
                    zone.nodes[p as usize].wildcard_child = node as u32;
                }
            }
        }
        zone.has_cuts = zone.nodes.iter().any(|n| n.cut);
        let soa = zone.rrset(zone.apex(), rtype::SOA).map(|set| {
            let member = &zone.members(set)[0];
            (zone.rdatas(member)[0], member.ttl)
        });
        if let Some((rdata, ttl)) = soa {
            let wire = zone.wire(&rdata);
            let minimum = wire
                .len()
                .checked_sub(4)
                .map_or(0, |at| u32::from_be_bytes([wire[at], wire[at + 1], wire[at + 2], wire[at + 3]]));
            zone.soa = rdata;
            zone.negative_ttl = ttl.min(minimum);
        }
        zone.nodes.shrink_to_fit();
        zone.names.shrink_to_fit();
        zone.rrsets.shrink_to_fit();
        zone.members.shrink_to_fit();
        zone.rdatas.shrink_to_fit();
        zone.bytes.shrink_to_fit();
        zone
    }

    /// The apex name.
    pub fn origin(&self) -> &Name {
        &self.origin
    }

    /// Labels in the apex name.
    pub fn apex_labels(&self) -> usize {
        self.apex_labels
    }

    /// The apex node.
    pub fn apex(&self) -> &Node {
        &self.nodes[self.apex as usize]
    }

    /// A node by index.
    #[inline]
    pub fn node(&self, index: u32) -> &Node {
        &self.nodes[index as usize]
    }

    /// Number of names (empty non-terminals included).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Number of record sets.
    pub fn rrset_count(&self) -> usize {
        self.rrsets.len()
    }

    /// Every record set at a node.
    #[inline]
    pub fn rrsets(&self, node: &Node) -> &[Rrset] {
        &self.rrsets[node.rrsets.range()]
    }

    /// The record set of `rtype` at a node.
    #[inline]
    pub fn rrset(&self, node: &Node, rtype: u16) -> Option<&Rrset> {
        self.rrsets(node).iter().find(|r| r.rtype == rtype)
    }

    /// A record set's members.
    #[inline]
    pub fn members(&self, set: &Rrset) -> &[Member] {
        &self.members[set.members.range()]
    }

    /// A record set's fallback answer.
    #[inline]
    pub fn fallback(&self, set: &Rrset) -> &[Rdata] {
        &self.rdatas[set.fallback.range()]
    }

    /// A member's values.
    #[inline]
    pub fn rdatas(&self, member: &Member) -> &[Rdata] {
        &self.rdatas[member.rdata.range()]
    }

    /// A value's RDLENGTH and RDATA.
    #[inline]
    pub fn wire(&self, rdata: &Rdata) -> &[u8] {
        &self.bytes[rdata.wire.range()]
    }

    /// The only value of a member of a [`Rrset::plain`] set, as a whole record after the
    /// owner name.
    #[inline]
    pub fn plain_record(&self, member: &Member) -> &[u8] {
        self.record(&self.rdatas[member.rdata.start as usize])
    }

    /// A value as a whole record after the owner name: TYPE, CLASS, the member's TTL,
    /// RDLENGTH and RDATA.
    #[inline]
    pub fn record(&self, rdata: &Rdata) -> &[u8] {
        let range = rdata.wire.range();
        &self.bytes[range.start - RECORD_HEAD..range.end]
    }

    /// The name inside a value that may need additional records or chasing.
    #[inline]
    pub fn target(&self, rdata: &Rdata) -> Option<&Target> {
        self.targets.get(rdata.target as usize)
    }

    /// The SOA's RDLENGTH and RDATA and the TTL it is served with in negative answers.
    pub fn soa(&self) -> (&[u8], u32) {
        (self.wire(&self.soa), self.negative_ttl)
    }

    /// Finds `name` (which must lie in this zone), following RFC 1034 section 4.3.2 and
    /// RFC 4592 for wildcards. `ds` asks for the parent side of a delegation point.
    #[inline]
    pub fn lookup(&self, name: &LowerName, ds: bool) -> Lookup {
        let total = name.label_count();
        if !self.has_cuts {
            if let Some(node) = self.find(name.as_wire()) {
                return Lookup::Exact(node);
            }
            for keep in (self.apex_labels..total).rev() {
                if let Some(node) = self.find(name.suffix(keep)) {
                    return self.wildcard_or_nxdomain(node);
                }
            }
            return Lookup::NxDomain;
        }
        // With delegations, walk down from the apex: the first cut on the way wins, and the
        // first missing name ends the walk (every ancestor of a name is a node).
        let mut last = self.apex;
        for keep in self.apex_labels + 1..=total {
            match self.find(name.suffix(keep)) {
                Some(node) => {
                    if self.nodes[node as usize].cut && !(ds && keep == total) {
                        return Lookup::Referral { cut: node, labels: keep };
                    }
                    last = node;
                }
                None => return self.wildcard_or_nxdomain(last),
            }
        }
        Lookup::Exact(last)
    }

    /// The node named `wire` (lowercase wire form).
    #[inline]
    fn find(&self, wire: &[u8]) -> Option<u32> {
        self.index
            .find(hash(wire), |&node| names_equal(&self.names[self.nodes[node as usize].name.range()], wire))
            .copied()
    }

    fn wildcard_or_nxdomain(&self, closest_encloser: u32) -> Lookup {
        match self.nodes[closest_encloser as usize].wildcard_child {
            NONE => Lookup::NxDomain,
            w => Lookup::Wildcard(w),
        }
    }

    /// The node for `wire`, creating it and every missing ancestor down to the apex (whose
    /// wire form is `apex_len` bytes long).
    fn ensure_node(&mut self, wire: &[u8], apex_len: usize) -> u32 {
        let (names, nodes) = (&self.names, &self.nodes);
        let name_of = |n: u32| &names[nodes[n as usize].name.range()];
        let slot = match self.index.entry(hash(wire), |&n| names_equal(name_of(n), wire), |&n| hash(name_of(n))) {
            hashbrown::hash_table::Entry::Occupied(found) => return *found.get(),
            hashbrown::hash_table::Entry::Vacant(slot) => slot,
        };
        let node = self.nodes.len() as u32;
        slot.insert(node);
        let name = Span { start: self.names.len() as u32, len: wire.len() as u32 };
        self.names.extend_from_slice(wire);
        self.nodes.push(Node { name, rrsets: Span::default(), wildcard_child: NONE, cut: false });
        if wire.len() > apex_len {
            // Every ancestor down to the apex is a node too (empty non-terminals).
            self.ensure_node(&wire[1 + wire[0] as usize..], apex_len);
        }
        node
    }

    fn compile_rrset(&mut self, set: &RrsetConfig) -> Rrset {
        let start = self.members.len() as u32;
        for member in &set.members {
            let compiled = self.compile_member(set.rtype, member);
            self.members.push(compiled);
        }
        let fallback_ttl = set.members.iter().map(|m| m.ttl).min().unwrap_or(0);
        let plain = set.members.iter().all(|m| m.rdata.len() == 1) && target_offset(set.rtype).is_none();
        let fallback_start = self.rdatas.len() as u32;
        for data in &set.fallback {
            let rdata = self.compile_rdata(set.rtype, fallback_ttl, data);
            self.rdatas.push(rdata);
        }
        Rrset {
            rtype: set.rtype,
            routing: set.routing,
            when_all_unhealthy: set.when_all_unhealthy,
            fallback_ttl,
            uniform_ttl: set.members.iter().all(|m| m.ttl == fallback_ttl),
            plain,
            members: Span { start, len: set.members.len() as u32 },
            fallback: Span { start: fallback_start, len: set.fallback.len() as u32 },
        }
    }

    fn compile_member(&mut self, rtype: u16, member: &MemberConfig) -> Member {
        let start = self.rdatas.len() as u32;
        for data in &member.rdata {
            let rdata = self.compile_rdata(rtype, member.ttl, data);
            self.rdatas.push(rdata);
        }
        Member {
            ttl: member.ttl,
            check: member.check.map(|c| c as u32),
            weight: member.weight,
            primary: member.failover == Some(FailoverRole::Primary),
            rdata: Span { start, len: member.rdata.len() as u32 },
        }
    }

    fn compile_rdata(&mut self, rtype: u16, ttl: u32, data: &[u8]) -> Rdata {
        self.bytes.extend_from_slice(&rtype.to_be_bytes());
        self.bytes.extend_from_slice(&CLASS_IN.to_be_bytes());
        self.bytes.extend_from_slice(&ttl.to_be_bytes());
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(&(data.len() as u16).to_be_bytes());
        self.bytes.extend_from_slice(data);
        let target = target_offset(rtype)
            .and_then(|offset| {
                let name = Name::from_wire(data.get(offset..)?)?;
                self.targets.push(Target { offset: offset as u16, name, node: None });
                Some(self.targets.len() as u32 - 1)
            })
            .unwrap_or(NONE);
        Rdata { wire: Span { start, len: data.len() as u32 + 2 }, target }
    }

    /// Links each RDATA target to its node, once every node exists.
    fn resolve_targets(&mut self) {
        for i in 0..self.targets.len() {
            let node = self.find(self.targets[i].name.as_wire());
            self.targets[i].node = node;
        }
    }
}
