//! A signed zone's signatures and denial of existence, made when the zone is built, so that
//! answering a DO query signs nothing: every RRSIG an answer may need is copied from here (or
//! from the healthy pools, for a pool signed when health changed).
//!
//! ```text
//!  ZoneConfig + [zone.dnssec] keys
//!    --dnssec::sign_zone--> DNSKEY, CDS, CDNSKEY and the NSEC chain (compiled into the zone
//!                           as ordinary sets), and the static RRSIG of every set
//!    --Signatures::build--> per set, what an answer of it may need signed:
//!        whole set            simple sets, and a multivalue set answered whole
//!        each member          failover and weighted (one member per answer)
//!        every k-subset       multivalue, up to 16 members, within `exact_signatures`:
//!                             found by the subset's colex rank (dnssec::subsets::rank)
//!        sampled blocks       bigger multivalue sets: `sampled_subsets` balanced subsets,
//!                             an answer with DO draws one of them whose members are healthy
//!        fallback values      when_all_unhealthy = "fallback"
//!        NSEC without a type  when_all_unhealthy = "nodata": the NODATA served while the
//!                             set is empty
//!      all on every core; the NSEC chain in canonical order to find the NSEC that covers a
//!      name that does not exist
//! ```
//!
//! Every RRSIG is stored as its RDATA's first part (RDLENGTH, the fields, the signer: the same
//! for a set's every subset, one copy per set and key) and its 64-byte signature.

use std::cmp::Ordering;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::{Node, Rrset, Zone, NONE};
use crate::config::{DnssecConfig, Routing, WhenAllUnhealthy, ZoneConfig};
use crate::dnssec::{
    canonical_cmp, sign_rrset_into, sign_zone_with, subsets, write_bitmap, RrsigFields, Scratch, SignOptions,
    SignedZone, SigningKey, MAX_SIGNED_TTL, SIGNATURE_LEN,
};
use crate::wire::{rtype, skip_name, CLASS_IN};

/// Largest RRSIG RDATA a zone's signatures have, with its RDLENGTH: the fields, a signer of
/// up to 255 bytes and the signature.
pub const MAX_RRSIG: usize = 2 + 18 + 255 + SIGNATURE_LEN;

/// When a zone's signatures were made and until when they hold: what pools signed later use
/// too, so that every signature of one build expires together and the next build (at half
/// the validity) replaces them all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// RRSIG inception: an hour before the build.
    pub inception: u32,
    /// Expiration of static data's signatures.
    pub expiration: u32,
    /// Expiration of health-dependent answers' signatures.
    pub dynamic_expiration: u32,
    /// Seconds since 1970 when the zone was built, and when its signatures need making again.
    pub built: u64,
    /// Half the shorter validity after `built`.
    pub refresh: u64,
}

impl Validity {
    /// The times for signatures made at `now` under `config`: signed again at half the
    /// shorter validity, or when a key is to be published, sign, stop or go, if sooner.
    pub fn at(now: u64, config: &DnssecConfig) -> Validity {
        let shorter = config.signature_validity.min(config.dynamic_signature_validity);
        let key_event = config.keys.iter().filter_map(|k| k.timing().next_event(now)).min();
        Validity {
            // RRSIG times are seconds modulo 2^32 (RFC 4034 section 3.1.5).
            inception: now.saturating_sub(3600) as u32,
            expiration: (now + u64::from(config.signature_validity)) as u32,
            dynamic_expiration: (now + u64::from(config.dynamic_signature_validity)) as u32,
            built: now,
            refresh: (now + u64::from(shorter) / 2).min(key_event.unwrap_or(u64::MAX)),
        }
    }
}

/// What a set's RRSIG covers: which of its answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cover {
    /// Every member (the set as the zone holds it).
    Whole,
    /// One member (failover, weighted).
    Member(u32),
    /// The k-subset with this mask (multivalue, exact mode).
    Subset(u16),
    /// A sampled block, by index.
    Block(u32),
    /// The fallback values.
    Fallback,
}

/// How a multivalue set's answers with DO are signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// No store: simple, failover and weighted sets, and multivalue sets of at most
    /// `max_answers` members (answered whole, or a pool signed on a health change).
    None,
    /// Every k-subset, by rank.
    Exact,
    /// `count` blocks of k members from `first` in [`Signatures::block`].
    Sampled {
        /// The first block.
        first: u32,
        /// How many.
        count: u32,
    },
}

/// One set's signatures.
#[derive(Clone, Copy, Debug)]
struct SetSigs {
    /// Keys that sign it: 0 for data that is not signed (a delegation's NS, glue).
    keys: u8,
    /// The first of its static prefixes (one per key), in units of a prefix.
    prefix: u32,
    /// The first of its dynamic prefixes (for every cover but `Whole`); NONE when none.
    dynamic_prefix: u32,
    /// The whole set's first signature, in units of a signature.
    whole: u32,
    /// The first signature of its store (members, subsets or blocks); NONE when none.
    store: u32,
    mode: Mode,
    /// The fallback values' first signature; NONE when none.
    fallback: u32,
}

impl SetSigs {
    const UNSIGNED: SetSigs = SetSigs {
        keys: 0,
        prefix: 0,
        dynamic_prefix: NONE,
        whole: NONE,
        store: NONE,
        mode: Mode::None,
        fallback: NONE,
    };
}

/// The NSEC served for NODATA while a `when_all_unhealthy = "nodata"` set is empty: the
/// node's NSEC without that type.
struct Variant {
    /// RDLENGTH and RDATA.
    rdata: Box<[u8]>,
    /// Its first prefix and signature (one per key).
    prefix: u32,
    signature: u32,
}

/// A signed zone's signatures and NSEC chain.
pub struct Signatures {
    /// RRSIG RDATA prefixes (RDLENGTH, the fields, the signer), `prefix_len` bytes each.
    prefixes: Vec<u8>,
    prefix_len: usize,
    /// Signatures, [`SIGNATURE_LEN`] bytes each.
    signatures: Vec<u8>,
    /// Per set of the zone, by index.
    sets: Vec<SetSigs>,
    /// Members of sampled blocks, k per block.
    blocks: Vec<u32>,
    /// k, the members of a multivalue answer.
    k: usize,
    /// Nodes that own an NSEC, in canonical order.
    chain: Vec<u32>,
    /// Per node: the place in `chain` of its NSEC, or of the one before it (an empty
    /// non-terminal's, or a name's below a cut, which answers never need).
    nsec_at: Vec<u32>,
    /// NODATA variants by set index.
    variants: FxHashMap<u32, Variant>,
    /// Compact denial (RFC 9824): each name's NSEC whose next name is the name's own
    /// successor (`\000.name`), by node; empty with the NSEC chain.
    compact: FxHashMap<u32, Variant>,
    /// The node that owns each set.
    owner_of: Vec<u32>,
    /// The keys, for pools signed after the build.
    config: Arc<DnssecConfig>,
    /// Indices in `config.keys` of the keys that sign data (not the DNSKEY set).
    data_keys: Vec<usize>,
    validity: Validity,
}

/// An RRSIG ready to copy: the RDATA's prefix (with RDLENGTH) and the signature.
#[derive(Clone, Copy)]
pub struct Rrsig<'a> {
    /// RDLENGTH, the fields, the signer.
    pub prefix: &'a [u8],
    /// The signature.
    pub signature: &'a [u8],
}

impl Rrsig<'_> {
    /// The RDATA with its RDLENGTH, assembled in `buf`.
    #[inline]
    pub fn rdata<'b>(&self, buf: &'b mut [u8; MAX_RRSIG]) -> &'b [u8] {
        let (p, s) = (self.prefix.len(), self.signature.len());
        buf[..p].copy_from_slice(self.prefix);
        buf[p..p + s].copy_from_slice(self.signature);
        &buf[..p + s]
    }
}

/// The keys that sign data (ZSKs; the KSKs when there is none) and those that sign the
/// DNSKEY, CDS and CDNSKEY sets, as `sign_zone` chooses them among those active at `now`:
/// indices into `keys`.
fn signers(keys: &[SigningKey], now: u64) -> (Vec<usize>, Vec<usize>) {
    let active = |i: &usize| keys[*i].timing().active(now);
    let ksks: Vec<usize> = (0..keys.len()).filter(active).filter(|&i| keys[i].dnskey().is_ksk()).collect();
    let zsks: Vec<usize> = (0..keys.len()).filter(active).filter(|&i| !keys[i].dnskey().is_ksk()).collect();
    match (ksks.is_empty(), zsks.is_empty()) {
        (false, false) => (zsks, ksks),
        (false, true) => (ksks.clone(), ksks),
        _ => (zsks.clone(), zsks),
    }
}

/// The static signing of a zone's data: DNSKEY, CDS, CDNSKEY, the NSEC chain, every set's
/// RRSIG (a routed set's over all its members).
pub(super) fn sign_static(
    config: &ZoneConfig,
    dnssec: &DnssecConfig,
    validity: &Validity,
) -> Result<(crate::dnssec::Rrsets, SignedZone), String> {
    let rrsets = super::signed::rrsets(config).ok_or("the zone is too large to sign (over 4 GiB of data)")?;
    let options =
        SignOptions { inception: validity.inception, expiration: validity.expiration, dnskey_ttl: dnssec.dnskey_ttl };
    let now = validity.built;
    let signing: Vec<&SigningKey> = dnssec.keys.iter().filter(|k| k.timing().active(now)).collect();
    if signing.is_empty() {
        return Err("no key signs now: every key's Activate is still to come, or its Inactive or Delete has \
                    passed (the timing fields of its .private file)"
            .into());
    }
    let standby: Vec<&crate::dnssec::Dnskey> = dnssec
        .keys
        .iter()
        .filter(|k| k.timing().published(now) && !k.timing().active(now))
        .map(|k| k.dnskey())
        .collect();
    let signed = sign_zone_with(&config.origin, &rrsets, &signing, &standby, &options).map_err(|e| e.to_string())?;
    Ok((rrsets, signed))
}

/// The RRSIG RDATA prefix (with RDLENGTH) of `fields`.
fn prefix_of(fields: &RrsigFields<'_>, out: &mut Vec<u8>) {
    let signer = fields.signer.as_wire();
    out.extend_from_slice(&((18 + signer.len() + SIGNATURE_LEN) as u16).to_be_bytes());
    out.extend_from_slice(&fields.type_covered.to_be_bytes());
    out.push(fields.algorithm.number());
    out.push(fields.labels);
    out.extend_from_slice(&fields.original_ttl.to_be_bytes());
    out.extend_from_slice(&fields.expiration.to_be_bytes());
    out.extend_from_slice(&fields.inception.to_be_bytes());
    out.extend_from_slice(&fields.key_tag.to_be_bytes());
    out.extend_from_slice(signer);
}

/// One signature job of the build: a set and what of it.
#[derive(Clone, Copy)]
struct Unit {
    set: u32,
    cover: Cover,
}

impl Signatures {
    /// The signatures of `zone`, built from `config` with the static signing `signed` of
    /// `inputs` (the zone's sets in input order: `input_sets[i]` is input set `i`'s index in
    /// the zone; the `added` sets follow the zone's own), `k` members per multivalue answer.
    pub(super) fn build(
        zone: &Zone,
        config: &ZoneConfig,
        dnssec: &Arc<DnssecConfig>,
        signed: &SignedZone,
        input_sets: &[u32],
        validity: Validity,
        k: usize,
    ) -> Result<Signatures, String> {
        let (data_keys, _) = signers(&dnssec.keys, validity.built);
        let signer_len = config.origin.as_wire().len();
        let prefix_len = 2 + 18 + signer_len;
        let mut s = Signatures {
            prefixes: Vec::new(),
            prefix_len,
            signatures: Vec::new(),
            sets: vec![SetSigs::UNSIGNED; zone.rrsets.len()],
            blocks: Vec::new(),
            k,
            chain: Vec::new(),
            nsec_at: Vec::new(),
            variants: FxHashMap::default(),
            compact: FxHashMap::default(),
            owner_of: Vec::new(),
            config: dnssec.clone(),
            data_keys,
            validity,
        };
        // Static signatures: the input sets', then the added sets'.
        let inputs = config.rrset_count();
        for (i, &set) in input_sets.iter().enumerate() {
            let rrsigs: Vec<&[u8]> =
                if i < inputs { signed.rrsigs(i).collect() } else { signed.added_rrsigs(i - inputs).collect() };
            if rrsigs.is_empty() {
                continue;
            }
            let entry = &mut s.sets[set as usize];
            entry.keys = rrsigs.len() as u8;
            entry.prefix = (s.prefixes.len() / prefix_len) as u32;
            entry.whole = (s.signatures.len() / SIGNATURE_LEN) as u32;
            for rrsig in rrsigs {
                let (fields, signature) = rrsig.split_at(rrsig.len() - SIGNATURE_LEN);
                s.prefixes.extend_from_slice(&(rrsig.len() as u16).to_be_bytes());
                s.prefixes.extend_from_slice(fields);
                s.signatures.extend_from_slice(signature);
            }
        }
        // The owner node of every set.
        let mut owner_of = vec![NONE; zone.rrsets.len()];
        for (n, node) in zone.nodes.iter().enumerate() {
            for set in node.rrsets.range() {
                owner_of[set] = n as u32;
            }
        }
        // Dynamic covers: what each routed set's answers need.
        let mut units: Vec<Unit> = Vec::new();
        let mut exact_left = dnssec.exact_signatures;
        let keys = s.data_keys.len() as u64;
        for (index, set) in zone.rrsets.iter().enumerate() {
            if s.sets[index].keys == 0 || (set.routing == Routing::Simple && set.fallback.len == 0) {
                continue;
            }
            let n = set.members.len as usize;
            let store = units.len() as u32;
            let mut mode = Mode::None;
            match set.routing {
                Routing::Simple => {}
                Routing::Failover | Routing::Weighted => {
                    units.extend((0..n as u32).map(|m| Unit { set: index as u32, cover: Cover::Member(m) }));
                }
                Routing::Multivalue if n <= k => {}
                Routing::Multivalue => {
                    let exact = subsets::count(n, k);
                    if n <= subsets::EXACT_MAX_MEMBERS && exact.saturating_mul(keys) <= exact_left {
                        exact_left -= exact * keys;
                        mode = Mode::Exact;
                        units.extend(
                            subsets::subsets(n, k).map(|mask| Unit { set: index as u32, cover: Cover::Subset(mask) }),
                        );
                    } else {
                        let count = (dnssec.sampled_subsets as u64).min(exact) as usize;
                        let first = (s.blocks.len() / k) as u32;
                        let seed = u64::from(validity.inception) ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                        let blocks = subsets::balanced(n, k, count, seed);
                        for b in 0..blocks.len() {
                            s.blocks.extend_from_slice(blocks.block(b));
                            let cover = Cover::Block(first + b as u32);
                            units.push(Unit { set: index as u32, cover });
                        }
                        mode = Mode::Sampled { first, count: blocks.len() as u32 };
                    }
                }
            }
            let fallback = (set.fallback.len > 0).then(|| {
                units.push(Unit { set: index as u32, cover: Cover::Fallback });
                units.len() as u32 - 1
            });
            let entry = &mut s.sets[index];
            entry.mode = mode;
            // Unit `u`'s signatures start at base + u * keys.
            entry.store = if units.len() as u32 > store { store } else { NONE };
            entry.fallback = fallback.unwrap_or(NONE);
            entry.dynamic_prefix = (s.prefixes.len() / prefix_len) as u32;
            let owner = zone.node_name(owner_of[index]);
            let ttl = max_ttl(zone, set);
            for &key in &s.data_keys {
                let key = &dnssec.keys[key];
                let fields =
                    RrsigFields::new(key, set.rtype, owner, ttl, validity.inception, validity.dynamic_expiration);
                prefix_of(&fields, &mut s.prefixes);
            }
        }
        let base = (s.signatures.len() / SIGNATURE_LEN) as u32;
        for entry in s.sets.iter_mut() {
            if entry.store != NONE {
                entry.store = base + entry.store * keys as u32;
            }
            if entry.fallback != NONE {
                entry.fallback = base + entry.fallback * keys as u32;
            }
        }
        let mut signatures = std::mem::take(&mut s.signatures);
        let start = signatures.len();
        signatures.resize(start + units.len() * keys as usize * SIGNATURE_LEN, 0);
        sign_units(zone, &s, &owner_of, &units, &mut signatures[start..])?;
        s.signatures = signatures;
        s.build_chain(zone);
        if dnssec.compact {
            s.build_compact(zone)?;
        }
        s.build_variants(zone, &owner_of)?;
        s.owner_of = owner_of;
        s.prefixes.shrink_to_fit();
        s.signatures.shrink_to_fit();
        Ok(s)
    }

    /// Orders the nodes that own an NSEC canonically, and points every node at its NSEC or
    /// the one before it.
    fn build_chain(&mut self, zone: &Zone) {
        let mut chain: Vec<u32> =
            (0..zone.nodes.len() as u32).filter(|&n| zone.rrset(zone.node(n), rtype::NSEC).is_some()).collect();
        chain.sort_unstable_by(|&a, &b| canonical_cmp(zone.node_name(a), zone.node_name(b)));
        self.nsec_at = (0..zone.nodes.len() as u32)
            .map(|n| {
                let name = zone.node_name(n);
                let after = chain.partition_point(|&c| canonical_cmp(zone.node_name(c), name) != Ordering::Greater);
                after.saturating_sub(1) as u32
            })
            .collect();
        self.chain = chain;
    }

    /// Signs, for each `when_all_unhealthy = "nodata"` set, its node's NSEC without its type.
    fn build_variants(&mut self, zone: &Zone, owner_of: &[u32]) -> Result<(), String> {
        let mut scratch = Scratch::new();
        let mut rrsig = Vec::new();
        for (index, set) in zone.rrsets.iter().enumerate() {
            if set.when_all_unhealthy != WhenAllUnhealthy::NoData || set.routing == Routing::Simple {
                continue;
            }
            let node = owner_of[index];
            let Some(nsec) = zone.rrset(zone.node(node), rtype::NSEC) else { continue };
            let member = &zone.members(nsec)[0];
            let stored = zone.wire(&zone.rdatas(member)[0]);
            let rdata = &stored[2..];
            let Some(next_end) = skip_name(rdata, 0) else { continue };
            let types: Vec<u16> = bitmap_types(&rdata[next_end..]).into_iter().filter(|&t| t != set.rtype).collect();
            let mut variant = Vec::with_capacity(rdata.len() + 2);
            variant.extend_from_slice(&[0, 0]);
            if self.config.compact {
                // Compact denial: the name's own NSEC, its next name just after it.
                let Some(next) = successor(zone.node_name(node)) else { continue };
                variant.extend_from_slice(&next);
            } else {
                variant.extend_from_slice(&rdata[..next_end]);
            }
            write_bitmap(&types, &mut variant);
            let len = (variant.len() - 2) as u16;
            variant[..2].copy_from_slice(&len.to_be_bytes());
            let owner = zone.node_name(node);
            let expiration = self.validity.dynamic_expiration;
            let signed = self
                .sign_nsec(owner, member.ttl, expiration, variant, &mut scratch, &mut rrsig)
                .map_err(|e| format!("the NODATA NSEC at {}: {e}", zone.node_text(node)))?;
            self.variants.insert(index as u32, signed);
        }
        Ok(())
    }

    /// Signs, for compact denial, each name's NSEC that shows which types it has, its next
    /// name its successor: every name that owns an NSEC in the chain, and every empty
    /// non-terminal (RRSIG and NSEC only).
    fn build_compact(&mut self, zone: &Zone) -> Result<(), String> {
        let mut scratch = Scratch::new();
        let mut rrsig = Vec::new();
        for node in 0..zone.nodes.len() as u32 {
            let (types, ttl) = match zone.rrset(zone.node(node), rtype::NSEC) {
                Some(nsec) => {
                    let member = &zone.members(nsec)[0];
                    let rdata = &zone.wire(&zone.rdatas(member)[0])[2..];
                    let Some(next_end) = skip_name(rdata, 0) else { continue };
                    (bitmap_types(&rdata[next_end..]), member.ttl)
                }
                None if zone.rrsets(zone.node(node)).is_empty() => {
                    (vec![rtype::RRSIG, rtype::NSEC], self.nsec_ttl(zone))
                }
                None => continue,
            };
            let owner = zone.node_name(node);
            let Some(next) = successor(owner) else { continue };
            let mut rdata = vec![0, 0];
            rdata.extend_from_slice(&next);
            write_bitmap(&types, &mut rdata);
            let len = (rdata.len() - 2) as u16;
            rdata[..2].copy_from_slice(&len.to_be_bytes());
            let signed = self
                .sign_nsec(owner, ttl, self.validity.expiration, rdata, &mut scratch, &mut rrsig)
                .map_err(|e| format!("the NSEC of {}: {e}", zone.node_text(node)))?;
            self.compact.insert(node, signed);
        }
        Ok(())
    }

    /// Signs the NSEC at `owner` whose RDATA (RDLENGTH first) is `rdata` with every data key,
    /// its RRSIGs' prefixes and signatures stored with the others: the NSEC records made at
    /// the build besides the chain's (NODATA variants, compact denial's).
    fn sign_nsec(
        &mut self,
        owner: &[u8],
        ttl: u32,
        expiration: u32,
        rdata: Vec<u8>,
        scratch: &mut Scratch,
        rrsig: &mut Vec<u8>,
    ) -> Result<Variant, crate::dnssec::SignError> {
        let prefix = (self.prefixes.len() / self.prefix_len) as u32;
        let signature = (self.signatures.len() / SIGNATURE_LEN) as u32;
        for &key in &self.data_keys {
            let key = &self.config.keys[key];
            let fields = RrsigFields::new(key, rtype::NSEC, owner, ttl, self.validity.inception, expiration);
            rrsig.clear();
            sign_rrset_into(key, &fields, owner, CLASS_IN, &[&rdata[2..]], scratch, rrsig)?;
            prefix_of(&fields, &mut self.prefixes);
            self.signatures.extend_from_slice(&rrsig[rrsig.len() - SIGNATURE_LEN..]);
        }
        Ok(Variant { rdata: rdata.into_boxed_slice(), prefix, signature })
    }

    /// The TTL of the zone's NSEC records (that of the apex's).
    fn nsec_ttl(&self, zone: &Zone) -> u32 {
        zone.rrset(zone.apex(), rtype::NSEC).map_or(0, |s| zone.members(s)[0].ttl)
    }

    /// Whether the zone denies existence compactly (RFC 9824).
    #[inline]
    pub fn compact(&self) -> bool {
        self.config.compact
    }

    /// Compact denial's budget: signatures a UDP worker may make a second.
    #[inline]
    pub fn compact_budget(&self) -> u32 {
        self.config.compact_budget
    }

    /// The compact NSEC of node `node` (RDLENGTH and RDATA) and its `key`-th RRSIG.
    pub fn compact_nsec(&self, node: u32, key: usize) -> Option<(&[u8], Rrsig<'_>)> {
        let v = self.compact.get(&node)?;
        (key < self.data_keys.len()).then(|| (&v.rdata[..], self.at(v.prefix + key as u32, v.signature + key as u32)))
    }

    /// The TTL of NSEC records made while answering.
    pub fn online_nsec_ttl(&self, zone: &Zone) -> u32 {
        self.nsec_ttl(zone)
    }

    /// Signs, while answering, the RRset at `owner` (lowercase wire form) of `rtype` with
    /// `rdatas` with the `key`-th data key, the RRSIG's labels those of `owner` (compact
    /// denial: an NSEC at a name that does not exist, or a wildcard's answer signed as the
    /// name's own); its RDATA, RDLENGTH first, replaces `out`'s content.
    #[allow(clippy::too_many_arguments)]
    pub fn sign_online(
        &self,
        owner: &[u8],
        rtype: u16,
        ttl: u32,
        rdatas: &[&[u8]],
        key: usize,
        scratch: &mut Scratch,
        out: &mut Vec<u8>,
    ) -> bool {
        let Some(&index) = self.data_keys.get(key) else { return false };
        let key = &self.config.keys[index];
        let fields =
            RrsigFields::new(key, rtype, owner, ttl, self.validity.inception, self.validity.dynamic_expiration);
        out.clear();
        out.extend_from_slice(&[0, 0]);
        if sign_rrset_into(key, &fields, owner, CLASS_IN, rdatas, scratch, out).is_err() {
            return false;
        }
        let len = (out.len() - 2) as u16;
        out[..2].copy_from_slice(&len.to_be_bytes());
        true
    }

    /// The keys signing data: how many RRSIGs each signed answer carries.
    #[inline]
    pub fn data_key_count(&self) -> usize {
        self.data_keys.len()
    }

    /// How many RRSIGs set `set` has (0: not signed).
    #[inline]
    pub fn keys(&self, set: u32) -> usize {
        self.sets.get(set as usize).map_or(0, |s| s.keys as usize)
    }

    /// The multivalue mode of set `set`.
    #[inline]
    pub fn mode(&self, set: u32) -> Mode {
        self.sets.get(set as usize).map_or(Mode::None, |s| s.mode)
    }

    /// Members of a multivalue answer (k).
    #[inline]
    pub fn answer_size(&self) -> usize {
        self.k
    }

    /// The members of sampled block `block`.
    #[inline]
    pub fn block(&self, block: u32) -> &[u32] {
        let start = block as usize * self.k;
        &self.blocks[start..start + self.k]
    }

    /// The `key`-th RRSIG of set `set` for `cover`; `None` when the set has none such.
    #[inline]
    pub fn rrsig(&self, set: u32, cover: Cover, key: usize) -> Option<Rrsig<'_>> {
        let entry = self.sets.get(set as usize)?;
        let keys = entry.keys as usize;
        if key >= keys {
            return None;
        }
        let (prefix, signature) = match cover {
            Cover::Whole => (entry.prefix, entry.whole),
            Cover::Fallback if entry.fallback != NONE => (entry.dynamic_prefix, entry.fallback),
            Cover::Member(m) if entry.store != NONE && entry.mode == Mode::None => {
                (entry.dynamic_prefix, entry.store + m * keys as u32)
            }
            Cover::Subset(mask) if entry.mode == Mode::Exact => {
                (entry.dynamic_prefix, entry.store + subsets::rank(mask) * keys as u32)
            }
            Cover::Block(b) => match entry.mode {
                Mode::Sampled { first, count } if b >= first && b < first + count => {
                    (entry.dynamic_prefix, entry.store + (b - first) * keys as u32)
                }
                _ => return None,
            },
            _ => return None,
        };
        Some(self.at(prefix + key as u32, signature + key as u32))
    }

    /// The `key`-th dynamic prefix of set `set` with `signature` (a pool's).
    #[inline]
    pub fn dynamic<'a>(&'a self, set: u32, key: usize, signature: &'a [u8]) -> Option<Rrsig<'a>> {
        let entry = self.sets.get(set as usize)?;
        if entry.dynamic_prefix == NONE || key >= entry.keys as usize {
            return None;
        }
        let at = (entry.dynamic_prefix as usize + key) * self.prefix_len;
        Some(Rrsig { prefix: self.prefixes.get(at..at + self.prefix_len)?, signature })
    }

    fn at(&self, prefix: u32, signature: u32) -> Rrsig<'_> {
        let p = prefix as usize * self.prefix_len;
        let s = signature as usize * SIGNATURE_LEN;
        Rrsig { prefix: &self.prefixes[p..p + self.prefix_len], signature: &self.signatures[s..s + SIGNATURE_LEN] }
    }

    /// The NODATA variant of set `set`'s node's NSEC (RDLENGTH and RDATA) and its `key`-th
    /// RRSIG.
    pub fn variant(&self, set: u32, key: usize) -> Option<(&[u8], Rrsig<'_>)> {
        let v = self.variants.get(&set)?;
        (key < self.data_keys.len()).then(|| (&v.rdata[..], self.at(v.prefix + key as u32, v.signature + key as u32)))
    }

    /// The node whose NSEC matches node `node` or, for a name without one, covers it.
    #[inline]
    pub fn nsec_node(&self, node: u32) -> Option<u32> {
        let at = *self.nsec_at.get(node as usize)?;
        self.chain.get(at as usize).copied()
    }

    /// The node whose NSEC covers `name` (lowercase wire form, in the zone, not a node): the
    /// last owner before it in canonical order.
    pub fn covering(&self, zone: &Zone, name: &[u8]) -> Option<u32> {
        let after = self.chain.partition_point(|&c| canonical_cmp(zone.node_name(c), name) != Ordering::Greater);
        self.chain.get(after.checked_sub(1)?).copied()
    }

    /// Signs the answer of set `set` that holds `members` (a pool): one signature per data
    /// key, appended to `out`.
    pub fn sign_members(&self, zone: &Zone, set: u32, members: &[u32], out: &mut Vec<u8>) -> Result<(), String> {
        let rrset = &zone.rrsets[set as usize];
        let node = *self.owner_of.get(set as usize).ok_or("no such set")?;
        let owner = zone.node_name(node);
        let mut scratch = Scratch::new();
        let mut rrsig = Vec::new();
        let rdatas = member_rdatas(zone, rrset, members.iter().copied());
        let ttl = max_ttl(zone, rrset);
        for &key in &self.data_keys {
            let key = &self.config.keys[key];
            let fields = RrsigFields::new(
                key,
                rrset.rtype,
                owner,
                ttl,
                self.validity.inception,
                self.validity.dynamic_expiration,
            );
            rrsig.clear();
            sign_rrset_into(key, &fields, owner, CLASS_IN, &rdatas, &mut scratch, &mut rrsig)
                .map_err(|e| e.to_string())?;
            out.extend_from_slice(&rrsig[rrsig.len() - SIGNATURE_LEN..]);
        }
        Ok(())
    }

    /// The tags of the zone's keys, each with whether it is published and whether it signs
    /// at the build.
    pub fn key_states(&self) -> Vec<(u16, bool, bool)> {
        let now = self.validity.built;
        self.config
            .keys
            .iter()
            .map(|k| (k.dnskey().key_tag(), k.timing().published(now), k.timing().active(now)))
            .collect()
    }

    /// When the signatures were made and until when they hold.
    pub fn validity(&self) -> Validity {
        self.validity
    }

    /// Signatures held (static and dynamic), and bytes of signatures, prefixes and blocks.
    pub fn size(&self) -> (usize, usize) {
        let count = self.signatures.len() / SIGNATURE_LEN;
        (count, self.signatures.len() + self.prefixes.len() + self.blocks.len() * 4)
    }
}

/// The largest TTL of a set's members, at most a week: the Original TTL of the signatures of
/// its subsets (a validator serves the smaller of it and the answer's TTL).
fn max_ttl(zone: &Zone, set: &Rrset) -> u32 {
    zone.members(set).iter().map(|m| m.ttl).max().unwrap_or(set.fallback_ttl).min(MAX_SIGNED_TTL)
}

/// The RDATAs (uncompressed, without RDLENGTH) of `members` of `set`.
fn member_rdatas<'z>(zone: &'z Zone, set: &Rrset, members: impl Iterator<Item = u32>) -> Vec<&'z [u8]> {
    let all = zone.members(set);
    members.flat_map(|m| zone.rdatas(&all[m as usize]).iter().map(|r| &zone.wire(r)[2..])).collect()
}

/// The name just after `name` in canonical order, `\000.name` (RFC 4471): compact denial's
/// next name; `None` when that is longer than a name may be.
pub fn successor(name: &[u8]) -> Option<Vec<u8>> {
    (name.len() + 2 <= crate::wire::MAX_NAME_LEN).then(|| {
        let mut next = Vec::with_capacity(name.len() + 2);
        next.extend_from_slice(&[1, 0]);
        next.extend_from_slice(name);
        next
    })
}

/// The types an NSEC type bitmap lists.
fn bitmap_types(mut bitmap: &[u8]) -> Vec<u16> {
    let mut types = Vec::new();
    while bitmap.len() >= 2 {
        let (window, len) = (bitmap[0] as u16, bitmap[1] as usize);
        let Some(bits) = bitmap.get(2..2 + len) else { break };
        for (i, &byte) in bits.iter().enumerate() {
            for bit in 0..8 {
                if byte & (0x80 >> bit) != 0 {
                    types.push(window << 8 | (i * 8 + bit) as u16);
                }
            }
        }
        bitmap = &bitmap[2 + len..];
    }
    types
}

/// Signs every unit into `out` (unit `u`'s signatures, one per data key, at
/// `u * keys * SIGNATURE_LEN`), on as many threads as the machine has cores.
fn sign_units(zone: &Zone, s: &Signatures, owner_of: &[u32], units: &[Unit], out: &mut [u8]) -> Result<(), String> {
    let keys = s.data_keys.len();
    let per_unit = keys * SIGNATURE_LEN;
    if units.is_empty() || per_unit == 0 {
        return Ok(());
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(units.len().div_ceil(256)).max(1);
    let chunk = units.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = units
            .chunks(chunk)
            .zip(out.chunks_mut(chunk * per_unit))
            .map(|(units, out)| scope.spawn(move || sign_range(zone, s, owner_of, units, out)))
            .collect();
        handles.into_iter().try_for_each(|h| h.join().unwrap_or_else(|_| Err("a signing thread panicked".into())))
    })
}

/// Signs `units` one after another into `out`.
fn sign_range(zone: &Zone, s: &Signatures, owner_of: &[u32], units: &[Unit], out: &mut [u8]) -> Result<(), String> {
    let mut scratch = Scratch::new();
    let mut rrsig = Vec::with_capacity(MAX_RRSIG);
    let mut slots = out.chunks_exact_mut(SIGNATURE_LEN);
    for unit in units {
        let set = &zone.rrsets[unit.set as usize];
        let node = owner_of[unit.set as usize];
        let owner = zone.node_name(node);
        let n = set.members.len;
        let rdatas: Vec<&[u8]> = match unit.cover {
            Cover::Whole => member_rdatas(zone, set, 0..n),
            Cover::Member(m) => member_rdatas(zone, set, std::iter::once(m)),
            Cover::Subset(mask) => member_rdatas(zone, set, (0..n).filter(|&m| mask & (1 << m) != 0)),
            Cover::Block(b) => member_rdatas(zone, set, s.block(b).iter().copied()),
            Cover::Fallback => zone.fallback(set).iter().map(|r| &zone.wire(r)[2..]).collect(),
        };
        let ttl = if unit.cover == Cover::Fallback { set.fallback_ttl } else { max_ttl(zone, set) };
        for &key in &s.data_keys {
            let key = &s.config.keys[key];
            let fields =
                RrsigFields::new(key, set.rtype, owner, ttl, s.validity.inception, s.validity.dynamic_expiration);
            rrsig.clear();
            sign_rrset_into(key, &fields, owner, CLASS_IN, &rdatas, &mut scratch, &mut rrsig)
                .map_err(|e| format!("{} type {}: {e}", zone.node_text(node), set.rtype))?;
            let slot = slots.next().ok_or("a slot for each signature")?;
            slot.copy_from_slice(&rrsig[rrsig.len() - SIGNATURE_LEN..]);
        }
    }
    Ok(())
}

impl Zone {
    /// The name of node `node`, lowercase wire form.
    #[inline]
    pub fn node_name(&self, node: u32) -> &[u8] {
        &self.names[self.nodes[node as usize].name.range()]
    }

    /// The name of node `node`, as text.
    pub fn node_text(&self, node: u32) -> String {
        crate::wire::Name::from_wire(self.node_name(node)).map_or_else(|| "?".into(), |n| n.to_string())
    }

    /// The index of `set`, one of this zone's sets.
    #[inline]
    pub fn set_index(&self, set: &Rrset) -> u32 {
        ((set as *const Rrset as usize - self.rrsets.as_ptr() as usize) / std::mem::size_of::<Rrset>()) as u32
    }

    /// The index of `node`, one of this zone's nodes.
    #[inline]
    pub fn node_index(&self, node: &Node) -> u32 {
        ((node as *const Node as usize - self.nodes.as_ptr() as usize) / std::mem::size_of::<Node>()) as u32
    }

    /// The zone's signatures, when it is signed.
    #[inline]
    pub fn signatures(&self) -> Option<&Signatures> {
        self.dnssec.as_deref()
    }
}
