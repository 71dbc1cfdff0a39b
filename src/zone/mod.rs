//! Zone data compiled for answering: immutable, built once by control code from a
//! [`Config`](crate::config::Config), read by every worker.
//!
//! Every name in a zone, empty non-terminals included, is a node in one hash map keyed by its
//! lowercase wire form. Each record's RDATA is stored in wire form with its length in front,
//! so writing an answer is mostly copying.

use rustc_hash::FxHashMap;

use crate::config::{
    AnswerSettings, Config, FailoverRole, MemberConfig, Routing, RrsetConfig, WhenAllUnhealthy, ZoneConfig,
};
use crate::policy;
use crate::wire::{rtype, LowerName, Name};

/// Every zone served.
pub struct Catalog {
    zones: Vec<Zone>,
    by_apex: FxHashMap<Box<[u8]>, u32>,
    /// Distinct apex label counts, largest first, so the longest match is found first.
    apex_depths: Vec<usize>,
    settings: AnswerSettings,
}

/// One zone.
pub struct Zone {
    origin: Name,
    apex_labels: usize,
    apex: u32,
    nodes: Vec<Node>,
    index: FxHashMap<Box<[u8]>, u32>,
    soa: Rdata,
    soa_ttl: u32,
    negative_ttl: u32,
    has_cuts: bool,
}

/// One name in a zone.
pub struct Node {
    rrsets: Box<[Rrset]>,
    wildcard_child: Option<u32>,
    cut: bool,
}

/// The records of one owner and type, with their routing policy.
pub struct Rrset {
    /// Record type.
    pub rtype: u16,
    /// Policy that picks members.
    pub routing: Routing,
    /// One member for simple routing; one per set id otherwise.
    pub members: Box<[Member]>,
    /// What to answer when no member is healthy.
    pub when_all_unhealthy: WhenAllUnhealthy,
    /// The fixed answer for [`WhenAllUnhealthy::Fallback`].
    pub fallback: Box<[Rdata]>,
    /// TTL of the fallback answer: the smallest member TTL.
    pub fallback_ttl: u32,
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
    /// Its values.
    pub rdata: Box<[Rdata]>,
}

/// One record's data as it goes on the wire.
pub struct Rdata {
    /// RDLENGTH (2 bytes, big-endian) followed by the RDATA.
    pub wire: Box<[u8]>,
    /// The name inside the data that may need additional records or chasing.
    pub target: Option<Target>,
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
        let by_apex = zones.iter().enumerate().map(|(i, z)| (z.origin.as_wire().into(), i as u32)).collect();
        let mut apex_depths: Vec<usize> = zones.iter().map(|z| z.apex_labels).collect();
        apex_depths.sort_unstable_by(|a, b| b.cmp(a));
        apex_depths.dedup();
        Catalog { zones, by_apex, apex_depths, settings: AnswerSettings::from(&config.server) }
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
            if let Some(&i) = self.by_apex.get(name.suffix(depth)) {
                return Some(&self.zones[i as usize]);
            }
        }
        None
    }

    /// All zones.
    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }
}

impl Zone {
    fn build(config: &ZoneConfig) -> Zone {
        let origin = config.origin.clone();
        let apex_labels = origin.label_count();
        let mut index: FxHashMap<Box<[u8]>, u32> = FxHashMap::default();
        index.reserve(config.rrsets.len() + 1);
        let apex = ensure_node(&mut index, origin.as_wire(), origin.as_wire().len());
        let node_of_set: Vec<u32> = config
            .rrsets
            .iter()
            .map(|set| ensure_node(&mut index, set.owner.as_wire(), origin.as_wire().len()))
            .collect();
        // Group record sets by node with one sort instead of a vector per node.
        let mut order: Vec<u32> = (0..config.rrsets.len() as u32).collect();
        order.sort_by_key(|&i| node_of_set[i as usize]);
        let mut nodes: Vec<Node> =
            (0..index.len()).map(|_| Node { rrsets: Box::new([]), wildcard_child: None, cut: false }).collect();
        let mut at = 0;
        while at < order.len() {
            let node = node_of_set[order[at] as usize];
            let end = at + order[at..].iter().take_while(|&&i| node_of_set[i as usize] == node).count();
            let rrsets: Box<[Rrset]> =
                order[at..end].iter().map(|&i| compile_rrset(&config.rrsets[i as usize], &index)).collect();
            let cut = node != apex && rrsets.iter().any(|r| r.rtype == rtype::NS);
            nodes[node as usize].rrsets = rrsets;
            nodes[node as usize].cut = cut;
            at = end;
        }
        for (name, &node) in &index {
            if name.len() >= 2 && name[0] == 1 && name[1] == b'*' {
                if let Some(&parent) = index.get(&name[2..]) {
                    nodes[parent as usize].wildcard_child = Some(node);
                }
            }
        }
        let has_cuts = nodes.iter().any(|n| n.cut);
        let soa_set = nodes[apex as usize].rrsets.iter().find(|r| r.rtype == rtype::SOA);
        let (soa, soa_ttl) = match soa_set {
            Some(set) => (clone_rdata(&set.members[0].rdata[0]), set.members[0].ttl),
            // Config validation guarantees an SOA; an empty one keeps this total.
            None => (Rdata { wire: Box::new([0, 0]), target: None }, 0),
        };
        let minimum =
            soa.wire.len().checked_sub(4).map_or(0, |at| {
                u32::from_be_bytes([soa.wire[at], soa.wire[at + 1], soa.wire[at + 2], soa.wire[at + 3]])
            });
        Zone { origin, apex_labels, apex, nodes, index, soa, soa_ttl, negative_ttl: soa_ttl.min(minimum), has_cuts }
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

    /// The SOA data and the TTL it is served with in negative answers.
    pub fn soa(&self) -> (&Rdata, u32) {
        (&self.soa, self.negative_ttl)
    }

    /// The SOA record's own TTL.
    pub fn soa_ttl(&self) -> u32 {
        self.soa_ttl
    }

    /// Finds `name` (which must lie in this zone), following RFC 1034 section 4.3.2 and
    /// RFC 4592 for wildcards. `ds` asks for the parent side of a delegation point.
    #[inline]
    pub fn lookup(&self, name: &LowerName, ds: bool) -> Lookup {
        let total = name.label_count();
        if !self.has_cuts {
            if let Some(&node) = self.index.get(name.as_wire()) {
                return Lookup::Exact(node);
            }
            for keep in (self.apex_labels..total).rev() {
                if let Some(&node) = self.index.get(name.suffix(keep)) {
                    return self.wildcard_or_nxdomain(node);
                }
            }
            return Lookup::NxDomain;
        }
        // With delegations, walk down from the apex: the first cut on the way wins, and the
        // first missing name ends the walk (every ancestor of a name is a node).
        let mut last = self.apex;
        for keep in self.apex_labels + 1..=total {
            match self.index.get(name.suffix(keep)) {
                Some(&node) => {
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

    fn wildcard_or_nxdomain(&self, closest_encloser: u32) -> Lookup {
        match self.nodes[closest_encloser as usize].wildcard_child {
            Some(w) => Lookup::Wildcard(w),
            None => Lookup::NxDomain,
        }
    }
}

impl Node {
    /// The record set of `rtype`.
    #[inline]
    pub fn rrset(&self, rtype: u16) -> Option<&Rrset> {
        self.rrsets.iter().find(|r| r.rtype == rtype)
    }

    /// Every record set at this name.
    pub fn rrsets(&self) -> &[Rrset] {
        &self.rrsets
    }

    /// Whether this is a delegation point.
    pub fn is_cut(&self) -> bool {
        self.cut
    }
}

/// The node for `wire`, creating it and every missing ancestor down to the apex (whose wire
/// form is `apex_len` bytes long); parents are slices of the name, so nothing is allocated
/// for names that exist.
fn ensure_node(index: &mut FxHashMap<Box<[u8]>, u32>, wire: &[u8], apex_len: usize) -> u32 {
    if let Some(&node) = index.get(wire) {
        return node;
    }
    if wire.len() > apex_len {
        let parent = &wire[1 + wire[0] as usize..];
        ensure_node(index, parent, apex_len);
    }
    let node = index.len() as u32;
    index.insert(wire.into(), node);
    node
}

fn compile_rrset(set: &RrsetConfig, index: &FxHashMap<Box<[u8]>, u32>) -> Rrset {
    Rrset {
        rtype: set.rtype,
        routing: set.routing,
        members: set.members.iter().map(|m| compile_member(set.rtype, m, index)).collect(),
        when_all_unhealthy: set.when_all_unhealthy,
        fallback: set.fallback.iter().map(|data| compile_rdata(set.rtype, data, index)).collect(),
        fallback_ttl: set.members.iter().map(|m| m.ttl).min().unwrap_or(0),
    }
}

fn compile_member(rtype: u16, member: &MemberConfig, index: &FxHashMap<Box<[u8]>, u32>) -> Member {
    Member {
        ttl: member.ttl,
        check: member.check.map(|c| c as u32),
        weight: member.weight,
        primary: member.failover == Some(FailoverRole::Primary),
        rdata: member.rdata.iter().map(|data| compile_rdata(rtype, data, index)).collect(),
    }
}

fn compile_rdata(rtype: u16, data: &[u8], index: &FxHashMap<Box<[u8]>, u32>) -> Rdata {
    let mut wire = Vec::with_capacity(data.len() + 2);
    wire.extend_from_slice(&(data.len() as u16).to_be_bytes());
    wire.extend_from_slice(data);
    let offset = match rtype {
        rtype::NS | rtype::CNAME => Some(0),
        rtype::MX => Some(2),
        rtype::SRV => Some(6),
        _ => None,
    };
    let target = offset.and_then(|offset| {
        let name = Name::from_wire(data.get(offset..)?)?;
        let node = index.get(name.as_wire()).copied();
        Some(Target { offset: offset as u16, name, node })
    });
    Rdata { wire: wire.into_boxed_slice(), target }
}

fn clone_rdata(rdata: &Rdata) -> Rdata {
    Rdata { wire: rdata.wire.clone(), target: None }
}
