//! Zone data compiled for answering: immutable, built once by control code from a
//! `Config`, read by every worker.
//!
//! Storage is flat, to keep a large zone small and quick to build. Every name, empty
//! non-terminals included, is a node. Node names sit in one byte arena, found through a hash
//! table of node indices. Record sets, members and RDATA live in three vectors addressed by
//! index spans. Each record's RDATA is kept in wire form, with its length in front, in one
//! byte arena, so writing an answer is mostly copying; names inside RDATA that answers may
//! compress are described there too, worked out once here (`zone::compress`).

use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::config::{
    AnswerSettings, Config, FailoverRole, FileSet, MemberConfig, Routing, RrsetConfig, WhenAllUnhealthy, ZoneConfig,
};
use crate::health::HealthSnapshot;
use crate::policy;
use crate::tsig::KeyRing;
use crate::wire::{rtype, Block, LowerName, Name, CLASS_IN};

mod compress;
pub mod dnssec;
pub mod signed;

pub use compress::{compressible, NameSlot, Names, GROUPS};
pub use dnssec::Signatures;

/// "No such index".
const NONE: u32 = u32::MAX;
/// TYPE, CLASS and TTL: the bytes stored before each RDLENGTH.
const RECORD_HEAD: usize = 8;

/// Numbers catalog builds, so that [`HealthyPools`] are only used with their own catalog.
static CATALOG_BUILDS: AtomicU64 = AtomicU64::new(1);

/// Every zone served.
pub struct Catalog {
    /// This build's number.
    id: u64,
    /// Health-checked multivalue sets that get a [`HealthyPools`] entry.
    pooled_sets: u32,
    zones: Vec<Zone>,
    /// Distinct apex label counts, largest first, so the longest match is found first.
    apex_depths: Vec<usize>,
    /// Zone indices by origin, for catalogs of more than [`LINEAR_ZONES`] zones; empty for
    /// smaller ones, whose origins are compared one by one.
    origins: hashbrown::HashTable<u32>,
    settings: AnswerSettings,
    identity: Identity,
    /// The TSIG keys signed queries may use; they travel with the zones, so a reload swaps
    /// both at once.
    tsig_keys: KeyRing,
    /// What pooled sets of signed zones needed under health states seen before (a pool's
    /// signatures, usable and topped-up sampled blocks), by zone, set and healthy members,
    /// so a pool seen before is not signed again (the prober's alone).
    pool_signatures: std::sync::Mutex<PoolMemo>,
    /// See [`Catalog::needs_time`].
    needs_time: bool,
}

/// [`Catalog::pool_signatures`]: by zone index, set index and the healthy members.
type PoolMemo = FxHashMap<(u32, u32, Box<[u32]>), PoolSigned>;

/// What the server says about itself, from `[server]`.
#[derive(Debug, Default)]
pub struct Identity {
    /// TXT RDATA (with RDLENGTH) for `id.server.` and `hostname.bind.`.
    pub identity: Option<Box<[u8]>>,
    /// TXT RDATA (with RDLENGTH) for `version.bind.` and `version.server.`.
    pub version: Option<Box<[u8]>>,
    /// The whole NSID option (code, length, data) for the OPT record; empty when off.
    pub nsid_option: Box<[u8]>,
}

impl Identity {
    /// The identity `[server]` configures, encoded for the answer path.
    fn new(server: &crate::config::ServerConfig) -> Identity {
        // A TXT record's RDATA with its RDLENGTH: one character string.
        let txt = |text: &Option<String>| {
            text.as_ref().map(|t| {
                let t = &t.as_bytes()[..t.len().min(255)];
                let mut rdata = Vec::with_capacity(3 + t.len());
                rdata.extend_from_slice(&(1 + t.len() as u16).to_be_bytes());
                rdata.push(t.len() as u8);
                rdata.extend_from_slice(t);
                rdata.into_boxed_slice()
            })
        };
        let nsid_option = if server.nsid.is_empty() {
            Box::default()
        } else {
            let mut option = Vec::with_capacity(4 + server.nsid.len());
            option.extend_from_slice(&crate::wire::OPTION_NSID.to_be_bytes());
            option.extend_from_slice(&(server.nsid.len() as u16).to_be_bytes());
            option.extend_from_slice(&server.nsid);
            option.into_boxed_slice()
        };
        Identity { identity: txt(&server.identity), version: txt(&server.version), nsid_option }
    }
}

/// The healthy members of every health-checked multivalue set of a catalog, under one health
/// snapshot. Worked out by control code each time it publishes, so answers draw from the list
/// instead of testing each member's health: O(`max_answers`) whatever the set's size and
/// however many of its members are down.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthyPools {
    /// The [`Catalog::id`] the pools were computed for (0, never a catalog's: none).
    catalog: u64,
    /// Per pooled set, its run of `small` (sets of up to [`policy::SMALL_SET`] members) or
    /// of `large` (bigger sets).
    spans: Vec<Span>,
    /// Member indices of small sets, set after set.
    small: Vec<u8>,
    /// Member indices of large sets, set after set.
    large: Vec<u32>,
    /// Per pooled set of a signed zone: what DO answers need beyond the zone's own
    /// signatures (empty for other sets).
    signed: Vec<PoolSigned>,
}

/// A pooled set's signatures for one health snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolSigned {
    /// The pool's signatures (one per data key), when an answer holding the whole pool
    /// needs them: fewer healthy members than an answer holds, or exactly as many in a set
    /// without an exact store.
    pub pool: Option<Arc<[u8]>>,
    /// Sampled mode: the zone's blocks whose members are all healthy.
    pub usable: Arc<[u32]>,
    /// Sampled mode: blocks signed on this change, when too few of the zone's are usable.
    pub extra: Option<Arc<ExtraBlocks>>,
}

/// Sampled blocks signed on a health change.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ExtraBlocks {
    /// Members, k per block.
    pub blocks: Vec<u32>,
    /// Signatures, one per data key per block.
    pub signatures: Vec<u8>,
}

impl HealthyPools {
    /// The healthy members of `set` of catalog `catalog`, or `None` when these pools were
    /// made for another catalog or `set` has no pool.
    #[inline]
    pub fn pool(&self, catalog: u64, set: &Rrset) -> Option<Pool<'_>> {
        if catalog != self.catalog {
            return None;
        }
        let span = self.spans.get(set.pool as usize)?;
        let (start, len) = (span.start as usize, span.len as usize);
        if set.members.len as usize > policy::SMALL_SET {
            return Some(Pool::Large(self.large.get(start..start + len)?));
        }
        // `small` ends with `SMALL_SET` bytes of padding, so every pool has a full block.
        let block = self.small.get(start..start + policy::SMALL_SET)?.try_into().ok()?;
        Some(Pool::Small { block, len })
    }

    /// The signatures DO answers of `set` need under this health (signed zones only).
    #[inline]
    pub fn signed(&self, catalog: u64, set: &Rrset) -> Option<&PoolSigned> {
        if catalog != self.catalog {
            return None;
        }
        self.signed.get(set.pool as usize)
    }
}

/// One set's healthy members, in member order.
#[derive(Debug, Clone, Copy)]
pub enum Pool<'a> {
    /// A set of up to [`policy::SMALL_SET`] members: the first `len` bytes of `block`.
    Small {
        /// Member indices, then whatever follows (a fixed size copies without a call).
        block: &'a [u8; policy::SMALL_SET],
        /// How many of them are healthy members.
        len: usize,
    },
    /// A larger set.
    Large(&'a [u32]),
}

impl Pool<'_> {
    /// How many members are healthy.
    #[inline]
    pub fn len(&self) -> usize {
        match self {
            Pool::Small { len, .. } => *len,
            Pool::Large(list) => list.len(),
        }
    }

    /// Whether no member is healthy.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The healthy members' indices.
    pub fn indices(&self) -> Vec<u32> {
        match self {
            Pool::Small { block, len } => block[..*len].iter().map(|&i| i as u32).collect(),
            Pool::Large(list) => list.to_vec(),
        }
    }
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
    /// The SOA record as negative answers' authority section carries it (with the negative
    /// TTL), its names compressed.
    negative_soa: Block,
    /// The apex NS records as positive answers' authority section carries them, when the set
    /// has simple routing, in zone order with one TTL, their names compressed; empty when
    /// there is no such set.
    authority_ns: Block,
    has_cuts: bool,
    /// Largest TTL served: a week in a signed zone, so a replayed signature cannot outlive a
    /// change by more.
    ttl_cap: u32,
    /// The signatures, when the zone is signed.
    dnssec: Option<Box<dnssec::Signatures>>,
}

/// One name in a zone.
pub struct Node {
    name: Span,
    rrsets: Span,
    wildcard_child: u32,
    cut: bool,
    /// Holds a DNAME: names below it are rewritten (RFC 6672), and none exist in the zone.
    dname: bool,
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
    /// For a plain set whose stored records all have one size: that size (TYPE through
    /// RDATA), the members' records lying back to back ([`Zone::records`]); 0 otherwise.
    pub stride: u16,
    /// Whether any member has a health check; without one every member is always healthy.
    pub checked: bool,
    /// Whether its records carry [`Names`]: a type whose names in RDATA may be compressed.
    pub names: bool,
    members: Span,
    fallback: Span,
    /// Offset in the byte arena of the first member's stored record, when `stride` is set.
    records: u32,
    /// Index of the set's entry in [`HealthyPools`], or `NONE`.
    pool: u32,
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
    Referral {
        /// The delegation's node.
        cut: u32,
        /// Labels in the cut's name.
        labels: usize,
    },
    /// The name lies below a DNAME at `node`, whose name has `labels` labels.
    Dname {
        /// The DNAME's node.
        node: u32,
        /// Labels in the DNAME's name.
        labels: usize,
    },
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
    /// Compiles every zone of a config; the signed ones are signed with `now` (seconds since
    /// 1970) as the time of signing, on every core.
    pub fn build(config: &Config, now: u64) -> Result<Catalog, String> {
        let k = config.server.max_answers;
        let mut zones: Vec<Zone> = Vec::with_capacity(config.zones.len());
        for zone in &config.zones {
            zones.push(Zone::build(zone, now, k).map_err(|e| format!("zone {}: not signed: {e}", zone.origin))?);
        }
        let mut pooled_sets = 0;
        for set in zones.iter_mut().flat_map(|z| z.rrsets.iter_mut()) {
            if set.routing == Routing::Multivalue && set.checked {
                set.pool = pooled_sets;
                pooled_sets += 1;
            }
        }
        let mut apex_depths: Vec<usize> = zones.iter().map(|z| z.apex_labels).collect();
        apex_depths.sort_unstable_by(|a, b| b.cmp(a));
        apex_depths.dedup();
        let mut origins = hashbrown::HashTable::new();
        if zones.len() > LINEAR_ZONES {
            origins.reserve(zones.len(), |&i: &u32| hash(zones[i as usize].origin.as_wire()));
            for (i, zone) in zones.iter().enumerate() {
                // Origins are unique (config validation), so each goes in once.
                origins.insert_unique(hash(zone.origin.as_wire()), i as u32, |&j| {
                    hash(zones[j as usize].origin.as_wire())
                });
            }
        }
        let id = CATALOG_BUILDS.fetch_add(1, Ordering::Relaxed);
        let server = &config.server;
        Ok(Catalog {
            id,
            pooled_sets,
            zones,
            apex_depths,
            origins,
            settings: AnswerSettings::from(server),
            identity: Identity::new(server),
            tsig_keys: KeyRing::new(config.tsig_keys.iter().map(|k| (&k.name, k.algorithm, &k.secret))),
            pool_signatures: Default::default(),
            needs_time: !config.tsig_keys.is_empty()
                || config.zones.iter().any(|z| z.dnssec.as_ref().is_some_and(|d| d.compact)),
        })
    }

    /// Whether answering needs the time: TSIG keys check signed queries against it, and
    /// compact denial's signing budget is counted per second. Computed once per build.
    #[inline]
    pub fn needs_time(&self) -> bool {
        self.needs_time
    }

    /// When the signed zones need signing again (seconds since 1970): half the shorter
    /// validity after they were signed, for the earliest of them; `None` without one.
    pub fn refresh_at(&self) -> Option<u64> {
        self.zones.iter().filter_map(|z| z.signatures()).map(|s| s.validity().refresh).min()
    }

    /// The TSIG keys signed queries may use.
    #[inline]
    pub fn tsig_keys(&self) -> &KeyRing {
        &self.tsig_keys
    }

    /// What the server says about itself: CHAOS TXT answers and the NSID.
    #[inline]
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// This build's number, which [`HealthyPools`] refer to.
    #[inline]
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Lists, for every health-checked multivalue set, the members `health` says are healthy.
    pub fn healthy_pools(&self, health: &HealthSnapshot) -> HealthyPools {
        let mut pools = HealthyPools {
            catalog: self.id,
            spans: Vec::with_capacity(self.pooled_sets as usize),
            small: Vec::new(),
            large: Vec::new(),
            signed: Vec::new(),
        };
        let any_signed = self.zones.iter().any(|z| z.dnssec.is_some());
        for (zone_index, zone) in self.zones.iter().enumerate() {
            for set in zone.rrsets.iter().filter(|s| s.pool != NONE) {
                let members = zone.members(set);
                if any_signed {
                    let signed = match zone.signatures() {
                        Some(signatures) => self.pool_signed(zone_index as u32, zone, signatures, set, health),
                        None => PoolSigned::default(),
                    };
                    pools.signed.push(signed);
                }
                let healthy = (0..members.len()).filter(|&i| policy::healthy(&members[i], health));
                let span = if members.len() <= policy::SMALL_SET {
                    let start = pools.small.len();
                    pools.small.extend(healthy.map(|i| i as u8));
                    Span { start: start as u32, len: (pools.small.len() - start) as u32 }
                } else {
                    let start = pools.large.len();
                    pools.large.extend(healthy.map(|i| i as u32));
                    Span { start: start as u32, len: (pools.large.len() - start) as u32 }
                };
                pools.spans.push(span);
            }
        }
        debug_assert_eq!(pools.spans.len(), self.pooled_sets as usize);
        pools.small.extend_from_slice(&[0; policy::SMALL_SET]);
        pools
    }

    /// The signatures a signed zone's pooled `set` needs under `health` beyond those made
    /// with the zone: the pool's when answers hold it whole, usable sampled blocks and any
    /// topped up. A signing failure (the system's random source) leaves the pool unsigned:
    /// its DO answers then go without, which validators treat as bogus, and the next
    /// health change tries again.
    fn pool_signed(
        &self,
        zone_index: u32,
        zone: &Zone,
        signatures: &dnssec::Signatures,
        set: &Rrset,
        health: &HealthSnapshot,
    ) -> PoolSigned {
        let members = zone.members(set);
        let index = zone.set_index(set);
        let healthy: Vec<u32> =
            (0..members.len() as u32).filter(|&i| policy::healthy(&members[i as usize], health)).collect();
        let (n, k, len) = (members.len(), signatures.answer_size(), healthy.len());
        let mode = signatures.mode(index);
        let whole_pool = len > 0 && len < n && (len < k || (len == k && mode != dnssec::Mode::Exact));
        let sampled = matches!(mode, dnssec::Mode::Sampled { .. });
        if !whole_pool && !sampled {
            // Exact mode with more healthy members than an answer holds, or every member of
            // a small set: the zone's own signatures cover every answer.
            return PoolSigned::default();
        }
        let key = (zone_index, index, healthy.clone().into_boxed_slice());
        if let Some(found) = self.pool_signatures.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return found.clone();
        }
        let mut signed = PoolSigned::default();
        if whole_pool {
            let mut out = Vec::new();
            if signatures.sign_members(zone, index, &healthy, &mut out).is_err() {
                return signed;
            }
            signed.pool = Some(out.into());
        }
        if let dnssec::Mode::Sampled { first, count } = mode {
            let is_healthy = |m: u32| healthy.binary_search(&m).is_ok();
            let usable: Vec<u32> =
                (first..first + count).filter(|&b| signatures.block(b).iter().all(|&m| is_healthy(m))).collect();
            // Too few blocks left: sign more over the healthy members, as evenly spread
            // (over them alone: a top-up is for a pool that lost most of its blocks).
            if len > k && (usable.len() as u32) < count / 4 {
                let want = (count as usize - usable.len()).max(1);
                let seed = healthy.iter().fold(0x9E37_79B9_7F4A_7C15u64, |h, &m| h.rotate_left(7) ^ u64::from(m));
                let fresh = crate::dnssec::subsets::balanced(len, k, want, seed);
                let blocks: Vec<u32> = fresh.iter().flatten().map(|&i| healthy[i as usize]).collect();
                let mut out = Vec::new();
                for block in blocks.chunks(k) {
                    if signatures.sign_members(zone, index, block, &mut out).is_err() {
                        return signed;
                    }
                }
                signed.extra = Some(Arc::new(ExtraBlocks { blocks, signatures: out }));
            }
            signed.usable = usable.into();
        }
        let mut map = self.pool_signatures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_POOL_SIGNATURES {
            map.clear();
        }
        map.insert(key, signed.clone());
        signed
    }

    /// The answer settings that came with this data.
    #[inline]
    pub fn settings(&self) -> &AnswerSettings {
        &self.settings
    }

    /// The zone with the longest origin that contains `name`. Always inlined: on the answer
    /// path a call costs about 40 instructions more per query (callgrind).
    #[inline(always)]
    pub fn find_zone(&self, name: &LowerName) -> Option<&Zone> {
        self.find_zone_within(name, name.label_count())
    }

    /// The zone with the longest origin of at most `max_labels` labels that contains `name`:
    /// above [`LINEAR_ZONES`] zones, one hash probe per distinct origin depth, however many
    /// zones there are.
    #[inline(always)]
    fn find_zone_within(&self, name: &LowerName, max_labels: usize) -> Option<&Zone> {
        for &depth in &self.apex_depths {
            if depth > max_labels {
                continue;
            }
            let suffix = name.suffix(depth);
            let found = if self.origins.is_empty() {
                self.zones.iter().find(|z| z.apex_labels == depth && names_equal(z.origin.as_wire(), suffix))
            } else {
                self.origins
                    .find(hash(suffix), |&i| names_equal(self.zones[i as usize].origin.as_wire(), suffix))
                    .map(|&i| &self.zones[i as usize])
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// The index of the zone at memory address `address`, when it is one of this catalog's
    /// (found in constant time, for the answer cache).
    pub fn zone_index_at(&self, address: usize) -> Option<u32> {
        index_at(&self.zones, address)
    }

    /// The zone at `index`, in the order of the configuration.
    #[inline]
    pub fn zone_at(&self, index: u32) -> Option<&Zone> {
        self.zones.get(index as usize)
    }

    /// The zone that answers a DS query for `name`: DS records live on the parent side of a
    /// delegation, so at a zone's apex the enclosing zone answers when it is served here too
    /// (RFC 4035 section 3.1.4.1), and the zone itself only when it is not.
    #[cold]
    pub fn find_zone_for_ds(&self, name: &LowerName) -> Option<&Zone> {
        let zone = self.find_zone(name)?;
        let labels = name.label_count();
        if zone.apex_labels != labels {
            return Some(zone);
        }
        // The longest other origin that contains the name.
        let parent = labels.checked_sub(1).and_then(|above| self.find_zone_within(name, above));
        Some(parent.unwrap_or(zone))
    }

    /// All zones.
    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }
}

/// Pool signatures a catalog remembers before it forgets them all.
const MAX_POOL_SIGNATURES: usize = 100_000;

/// Most zones a catalog finds a name's zone among by comparing origins one by one; above
/// this it keeps a hash table of them (a name's zone then costs one probe per origin depth,
/// where comparing took 59 us a query among 10,000 zones).
const LINEAR_ZONES: usize = 8;

/// Where the name that may need additional records or chasing sits in RDATA of `rtype`.
fn target_offset(rtype: u16) -> Option<usize> {
    match rtype {
        rtype::NS | rtype::CNAME => Some(0),
        rtype::MX => Some(2),
        rtype::SRV => Some(6),
        _ => None,
    }
}

/// An owner name as the names in its record data are compressed against: a wildcard's
/// answers are owned by the names below it, which share its labels but the `*`.
fn without_wildcard(owner: &[u8]) -> &[u8] {
    owner.strip_prefix(&[1, b'*'][..]).unwrap_or(owner)
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
    fn build(config: &ZoneConfig, now: u64, k: usize) -> Result<Zone, String> {
        let validity = config.dnssec.as_ref().map(|d| dnssec::Validity::at(now, d));
        let signed = match (&config.dnssec, &validity) {
            (Some(d), Some(v)) => Some(dnssec::sign_static(config, d, v)?),
            _ => None,
        };
        let added = signed.as_ref().map(|(_, s)| &s.added);
        let origin = config.origin.clone();
        let file = &config.records;
        let inputs = config.rrset_count();
        let sets = inputs + added.map_or(0, |a| a.len());
        let values =
            file.record_count() + config.rrsets.iter().flat_map(|s| &s.members).map(|m| m.rdata.len()).sum::<usize>();
        let mut zone = Zone {
            apex_labels: origin.label_count(),
            apex: 0,
            names: Vec::new(),
            index: HashTable::with_capacity(sets + 1),
            nodes: Vec::with_capacity(sets + 1),
            rrsets: Vec::with_capacity(sets),
            members: Vec::with_capacity(sets),
            rdatas: Vec::with_capacity(values),
            // Each value is stored with its type, class, TTL and length in front.
            bytes: Vec::with_capacity(file.data_bytes() + values * (RECORD_HEAD + 2)),
            targets: Vec::new(),
            soa: Rdata { wire: Span::default(), target: NONE },
            negative_ttl: 0,
            negative_soa: Block::default(),
            authority_ns: Block::default(),
            has_cuts: false,
            ttl_cap: if signed.is_some() { crate::dnssec::MAX_SIGNED_TTL } else { u32::MAX },
            dnssec: None,
            origin,
        };
        let apex_len = zone.origin.as_wire().len();
        zone.apex = zone.ensure_node(config.origin.as_wire(), apex_len);
        // The zone file's sets first, then the config file's: set `i` of either, in that order.
        let added_owners = added.into_iter().flat_map(|a| (0..a.len()).map(|i| a.owner(i)));
        let owners = file
            .iter()
            .map(|set| set.owner())
            .chain(config.rrsets.iter().map(|set| set.owner.as_wire()))
            .chain(added_owners);
        let node_of_set: Vec<u32> = owners.map(|owner| zone.ensure_node(owner, apex_len)).collect();
        // Where each input set (zone file, config file, then what signing added) lands.
        let mut input_sets = vec![0u32; sets];
        // Group record sets by node with one sort instead of a vector per node.
        let mut order: Vec<u32> = (0..sets as u32).collect();
        order.sort_by_key(|&i| node_of_set[i as usize]);
        let mut at = 0;
        while at < order.len() {
            let node = node_of_set[order[at] as usize];
            let end = at + order[at..].iter().take_while(|&&i| node_of_set[i as usize] == node).count();
            let start = zone.rrsets.len() as u32;
            for &i in &order[at..end] {
                let i = i as usize;
                let rrset = if i < file.len() {
                    zone.compile_file_set(file.get(i))
                } else if i < inputs {
                    zone.compile_rrset(&config.rrsets[i - file.len()])
                } else {
                    let (a, j) = (added.expect("added sets"), i - inputs);
                    zone.compile_simple(a.owner(j), a.rtype(j), a.ttl(j), a.rdatas(j), a.rdatas(j).len())
                };
                input_sets[i] = zone.rrsets.len() as u32;
                zone.rrsets.push(rrset);
            }
            let span = Span { start, len: (end - at) as u32 };
            let sets = &zone.rrsets[span.range()];
            let cut = node != zone.apex && sets.iter().any(|r| r.rtype == rtype::NS);
            let dname = sets.iter().any(|r| r.rtype == rtype::DNAME);
            let n = &mut zone.nodes[node as usize];
            n.rrsets = span;
            n.cut = cut;
            n.dname = dname;
            at = end;
        }
        // Names that exist with no data: nodes like empty non-terminals, so no wildcard covers them.
        for name in &config.empty_names {
            zone.ensure_node(name.as_wire(), apex_len);
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
        zone.build_authority_ns();
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
            zone.build_negative_soa();
        }
        zone.nodes.shrink_to_fit();
        zone.names.shrink_to_fit();
        zone.rrsets.shrink_to_fit();
        zone.members.shrink_to_fit();
        zone.rdatas.shrink_to_fit();
        zone.bytes.shrink_to_fit();
        if let (Some((_, signed)), Some(d), Some(v)) = (&signed, &config.dnssec, validity) {
            let signatures = dnssec::Signatures::build(&zone, config, d, signed, &input_sets, v, k)?;
            zone.dnssec = Some(Box::new(signatures));
        }
        Ok(zone)
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

    /// The index of the record set at memory address `address`, when it is one of this
    /// zone's (found in constant time, for the answer cache).
    pub fn set_index_at(&self, address: usize) -> Option<u32> {
        index_at(&self.rrsets, address)
    }

    /// The record set at `index`.
    #[inline]
    pub fn set_at(&self, index: u32) -> Option<&Rrset> {
        self.rrsets.get(index as usize)
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

    /// The stored records of a set with a [`Rrset::stride`], member by member: member `i`'s
    /// record (TYPE through RDATA) is `stride` bytes at `i * stride`.
    #[inline]
    pub fn records(&self, set: &Rrset) -> &[u8] {
        let start = set.records as usize;
        &self.bytes[start..start + set.stride as usize * set.members.len as usize]
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

    /// The apex NS set ready to copy into an authority section, its names compressed
    /// ([`crate::wire::Writer::push_block`]), or `None` when the apex has no NS set or the set
    /// has a routing policy that must choose per answer. The same records with their names
    /// in full are the set's values in zone order, under the set's smallest TTL.
    #[inline]
    pub fn authority_ns(&self) -> Option<&Block> {
        (!self.authority_ns.is_empty()).then_some(&self.authority_ns)
    }

    /// The SOA record as negative answers carry it in authority, its names compressed, ready
    /// to copy; in full it is [`Zone::soa`] owned by the apex.
    #[inline]
    pub fn negative_soa(&self) -> &Block {
        &self.negative_soa
    }

    /// The SOA's RDLENGTH and RDATA and the TTL it is served with in negative answers.
    pub fn soa(&self) -> (&[u8], u32) {
        (self.wire(&self.soa), self.negative_ttl)
    }

    /// The names a record of a set with [`Rrset::names`] carries in its RDATA.
    #[inline]
    pub fn names(&self, rdata: &Rdata) -> Names {
        Names::read(self.bytes.get(rdata.wire.range().end..).unwrap_or(&[]))
    }

    /// The name a record of a set with [`Rrset::names`] carries in its RDATA when it has
    /// exactly one, which then ends the RDATA (NS, CNAME, PTR, MX...).
    #[inline(always)]
    pub fn only_name(&self, rdata: &Rdata) -> Option<NameSlot> {
        Names::only(self.bytes.get(rdata.wire.range().end..)?)
    }

    /// Builds [`Zone::authority_ns`]: every value, one TTL (the smallest, RFC 2181 5.2).
    fn build_authority_ns(&mut self) {
        let Some(set) = self.rrset(self.apex(), rtype::NS) else { return };
        if set.routing != Routing::Simple {
            return;
        }
        let ttl = set.fallback_ttl.to_be_bytes();
        let mut records = Vec::new();
        for member in self.members(set) {
            for rdata in self.rdatas(member) {
                let mut record = self.record(rdata).to_vec();
                record[4..8].copy_from_slice(&ttl);
                records.push((record, self.names(rdata)));
            }
        }
        let records: Vec<_> =
            records.iter().map(|(record, names)| compress::BlockRecord { record, names: *names }).collect();
        self.authority_ns = compress::block(&records, self.origin.as_wire().len()).unwrap_or_default();
    }

    /// Builds [`Zone::negative_soa`] from the SOA record and the negative TTL.
    fn build_negative_soa(&mut self) {
        let mut record = self.record(&self.soa).to_vec();
        record[4..8].copy_from_slice(&self.negative_ttl.to_be_bytes());
        let soa = compress::BlockRecord { record: &record, names: self.names(&self.soa) };
        self.negative_soa = compress::block(&[soa], self.origin.as_wire().len()).unwrap_or_default();
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
                    return self.below_existing(node, keep);
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
                None => return self.below_existing(last, keep - 1),
            }
        }
        Lookup::Exact(last)
    }

    /// Whether a node is named `wire` (lowercase wire form): the name exists.
    pub fn exists(&self, wire: &[u8]) -> bool {
        self.find(wire).is_some()
    }

    /// The node named `wire` (lowercase wire form).
    #[inline]
    fn find(&self, wire: &[u8]) -> Option<u32> {
        self.index
            .find(hash(wire), |&node| names_equal(&self.names[self.nodes[node as usize].name.range()], wire))
            .copied()
    }

    /// A name that does not exist, whose closest encloser is `closest_encloser` (of `labels`
    /// labels): rewritten by a DNAME there, covered by a wildcard, or NXDOMAIN.
    fn below_existing(&self, closest_encloser: u32, labels: usize) -> Lookup {
        let node = &self.nodes[closest_encloser as usize];
        if node.dname {
            return Lookup::Dname { node: closest_encloser, labels };
        }
        match node.wildcard_child {
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
        self.nodes.push(Node { name, rrsets: Span::default(), wildcard_child: NONE, cut: false, dname: false });
        if wire.len() > apex_len {
            // Every ancestor down to the apex is a node too (empty non-terminals).
            self.ensure_node(&wire[1 + wire[0] as usize..], apex_len);
        }
        node
    }

    fn compile_rrset(&mut self, set: &RrsetConfig) -> Rrset {
        let start = self.members.len() as u32;
        let records = self.bytes.len();
        let first_rdata = self.rdatas.len();
        let owner = without_wildcard(set.owner.as_wire());
        for m in &set.members {
            let primary = m.failover == Some(FailoverRole::Primary);
            let values = m.rdata.iter().map(Vec::as_slice);
            let compiled = self.compile_member(set.rtype, (m.ttl, m.check, m.weight, primary), values, owner);
            self.members.push(compiled);
        }
        let fallback_ttl = set.members.iter().map(|m| m.ttl).min().unwrap_or(0).min(self.ttl_cap);
        let names = compressible(set.rtype);
        let plain = set.members.iter().all(|m| m.rdata.len() == 1) && target_offset(set.rtype).is_none() && !names;
        // Plain members' records were just stored one after another; equal sizes make a table.
        let record_size = |m: &MemberConfig| RECORD_HEAD + 2 + m.rdata.first().map_or(0, |d| d.len());
        let size = set.members.first().map_or(0, record_size);
        let same_size = set.members.iter().all(|m| record_size(m) == size);
        let stride = if plain && same_size && size <= u16::MAX as usize { size as u16 } else { 0 };
        debug_assert!(stride == 0 || self.bytes.len() - records == size * set.members.len());
        let fallback_start = self.rdatas.len() as u32;
        for data in &set.fallback {
            let rdata = self.compile_rdata(set.rtype, fallback_ttl, data, owner);
            self.rdatas.push(rdata);
        }
        if names {
            self.group_names(first_rdata);
        }
        Rrset {
            rtype: set.rtype,
            routing: set.routing,
            when_all_unhealthy: set.when_all_unhealthy,
            fallback_ttl,
            uniform_ttl: set.members.iter().all(|m| m.ttl.min(self.ttl_cap) == fallback_ttl),
            plain,
            stride,
            checked: set.members.iter().any(|m| m.check.is_some()),
            names,
            members: Span { start, len: set.members.len() as u32 },
            fallback: Span { start: fallback_start, len: set.fallback.len() as u32 },
            records: records as u32,
            pool: NONE,
        }
    }

    /// A zone file's record set: simple routing, one member holding every value, what
    /// [`Zone::compile_rrset`] makes of such a set.
    fn compile_file_set(&mut self, set: FileSet<'_>) -> Rrset {
        self.compile_simple(set.owner(), set.rtype(), set.ttl(), set.values(), set.len())
    }

    /// A set of simple routing at `owner`: one member holding the `count` values.
    fn compile_simple<'d>(
        &mut self,
        owner: &[u8],
        rtype: u16,
        ttl: u32,
        values: impl Iterator<Item = &'d [u8]>,
        count: usize,
    ) -> Rrset {
        let ttl = ttl.min(self.ttl_cap);
        let start = self.members.len() as u32;
        let records = self.bytes.len();
        let first_rdata = self.rdatas.len();
        let owner = without_wildcard(owner);
        let member = self.compile_member(rtype, (ttl, None, 0, false), values, owner);
        self.members.push(member);
        let names = compressible(rtype);
        // One member: plain when it has one value, and then a table of one row.
        let plain = count == 1 && target_offset(rtype).is_none() && !names;
        let size = self.bytes.len() - records;
        if names {
            self.group_names(first_rdata);
        }
        Rrset {
            rtype,
            routing: Routing::Simple,
            when_all_unhealthy: WhenAllUnhealthy::AnswerAll,
            fallback_ttl: ttl,
            uniform_ttl: true,
            plain,
            stride: if plain && size <= u16::MAX as usize { size as u16 } else { 0 },
            checked: false,
            names,
            members: Span { start, len: 1 },
            fallback: Span { start: self.rdatas.len() as u32, len: 0 },
            records: records as u32,
            pool: NONE,
        }
    }

    /// A member's values; `(ttl, check, weight, primary)` are the member's own settings.
    fn compile_member<'d>(
        &mut self,
        rtype: u16,
        (ttl, check, weight, primary): (u32, Option<usize>, u8, bool),
        values: impl Iterator<Item = &'d [u8]>,
        owner: &[u8],
    ) -> Member {
        let ttl = ttl.min(self.ttl_cap);
        let start = self.rdatas.len() as u32;
        for data in values {
            let rdata = self.compile_rdata(rtype, ttl, data, owner);
            self.rdatas.push(rdata);
        }
        Member {
            ttl,
            check: check.map(|c| c as u32),
            weight,
            primary,
            rdata: Span { start, len: self.rdatas.len() as u32 - start },
        }
    }

    /// Stores one record of `rtype` owned by `owner` (as [`compress::names`] takes it):
    /// TYPE, CLASS, TTL, RDLENGTH and RDATA, then, for a type with [`Names`], those.
    fn compile_rdata(&mut self, rtype: u16, ttl: u32, data: &[u8], owner: &[u8]) -> Rdata {
        self.bytes.extend_from_slice(&rtype.to_be_bytes());
        self.bytes.extend_from_slice(&CLASS_IN.to_be_bytes());
        self.bytes.extend_from_slice(&ttl.to_be_bytes());
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(&(data.len() as u16).to_be_bytes());
        self.bytes.extend_from_slice(data);
        if compressible(rtype) {
            compress::names(rtype, data, owner).store(&mut self.bytes);
        }
        let target = target_offset(rtype)
            .and_then(|offset| {
                let name = Name::from_wire(data.get(offset..)?)?;
                self.targets.push(Target { offset: offset as u16, name, node: None });
                Some(self.targets.len() as u32 - 1)
            })
            .unwrap_or(NONE);
        Rdata { wire: Span { start, len: data.len() as u32 + 2 }, target }
    }

    /// Groups the names of the records from `self.rdatas[first..]` (one set's) that share
    /// suffixes, in their stored [`Names`].
    fn group_names(&mut self, first: usize) {
        let rdatas = &self.rdatas[first..];
        let mut names: Vec<Names> = rdatas.iter().map(|r| self.names(r)).collect();
        let wires: Vec<&[u8]> = rdatas.iter().map(|r| &self.bytes[r.wire.range()][2..]).collect();
        compress::group(&mut names, &wires);
        let places: Vec<usize> = rdatas.iter().map(|r| r.wire.range().end).collect();
        for (names, at) in names.iter().zip(places) {
            let mut stored = Vec::with_capacity(names.stored_len());
            names.store(&mut stored);
            self.bytes[at..at + stored.len()].copy_from_slice(&stored);
        }
    }

    /// Links each RDATA target to its node, once every node exists.
    fn resolve_targets(&mut self) {
        for i in 0..self.targets.len() {
            let node = self.find(self.targets[i].name.as_wire());
            self.targets[i].node = node;
        }
    }
}

/// The index of the element of `items` at memory address `address`, if there is one.
fn index_at<T>(items: &[T], address: usize) -> Option<u32> {
    let size = std::mem::size_of::<T>().max(1);
    let offset = address.checked_sub(items.as_ptr() as usize)?;
    let index = offset / size;
    (offset % size == 0 && index < items.len()).then_some(index as u32)
}

#[cfg(test)]
mod tests {
    use super::{index_at, Catalog, LINEAR_ZONES};
    use crate::config::Config;
    use crate::wire::LowerName;
    use std::path::Path;

    /// A random name of `labels` labels over a three-letter alphabet, so that random origins
    /// nest often, as text ("b.a.c.").
    fn random_name(rng: &mut fastrand::Rng, labels: usize) -> String {
        (0..labels).map(|_| format!("{}.", ["a", "b", "c"][rng.usize(..3)])).collect()
    }

    /// Whether `name` lies at or below `origin` (both as text ending with a dot).
    fn within(name: &str, origin: &str) -> bool {
        name == origin || name.ends_with(&format!(".{origin}"))
    }

    #[test]
    fn find_zone_matches_the_longest_origin_by_comparison_and_by_table() {
        let mut rng = fastrand::Rng::with_seed(11);
        for zones in [1, 2, LINEAR_ZONES, LINEAR_ZONES + 1, 40] {
            let mut origins: Vec<String> = Vec::new();
            while origins.len() < zones {
                let labels = rng.usize(1..=4);
                let origin = random_name(&mut rng, labels);
                if !origins.contains(&origin) {
                    origins.push(origin);
                }
            }
            let text: String = origins
                .iter()
                .map(|o| format!("[[zone]]\norigin = \"{o}\"\nsoa = \"ns1 host 1 2 3 4 5\"\nns = [\"ns1\"]\n"))
                .collect();
            let config = Config::parse(&text, Path::new("t.toml"), &|_| Ok(String::new())).unwrap();
            let catalog = Catalog::build(&config, 0).expect("an unsigned catalog");
            for _ in 0..2000 {
                let labels = rng.usize(0..=6);
                let name = random_name(&mut rng, labels);
                let name = if name.is_empty() { ".".to_string() } else { name };
                // The oracle: every origin the name lies within, the one with most labels.
                let expected = origins.iter().filter(|o| within(&name, o)).max_by_key(|o| o.matches('.').count());
                let mut wire = Vec::new();
                for label in name.split('.').filter(|l| !l.is_empty()) {
                    wire.push(label.len() as u8);
                    wire.extend_from_slice(label.as_bytes());
                }
                wire.push(0);
                let (lower, _) = LowerName::parse(&wire, 0).unwrap();
                let found = catalog.find_zone(&lower).map(|z| z.origin().to_string());
                assert_eq!(found.as_deref(), expected.map(String::as_str), "{zones} zones {origins:?}: {name}");
            }
        }
    }

    #[test]
    fn index_at_finds_elements_by_address_and_nothing_else() {
        let items = [[0u64; 3]; 4];
        let address = |i: usize| &items[i] as *const [u64; 3] as usize;
        for i in 0..4 {
            assert_eq!(index_at(&items, address(i)), Some(i as u32));
        }
        assert_eq!(index_at(&items, address(1) + 8), None, "inside an element");
        assert_eq!(index_at(&items, address(0) - 24), None, "before the first");
        assert_eq!(index_at(&items, address(3) + 24), None, "past the last");
    }
}
