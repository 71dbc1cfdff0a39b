//! Signing a zone's static data: the apex's DNSKEY, CDS and CDNSKEY, the NSEC chain, and an
//! RRSIG for every authoritative RRset, made on every core.
//!
//! ```text
//!  Rrsets (owner, type, TTL, RDATAs; flat) + keys + SignOptions
//!      --sign_zone-->  SignedZone
//!                        added: DNSKEY, CDS, CDNSKEY at the apex, then one NSEC per name
//!                               that owns authoritative data, in canonical order
//!                        rrsigs(set), added_rrsigs(set): each set's RRSIG RDATAs (none for
//!                               a delegation's NS, glue and other data below a cut)
//! ```
//!
//! Which key signs what: keys with flags 257 (KSKs) sign DNSKEY, CDS and CDNSKEY; the others
//! (ZSKs) sign the rest. With no ZSK the KSKs sign everything (one combined key, the
//! default); with no KSK the ZSKs sign the DNSKEY set too. CDS (SHA-256) and CDNSKEY name the
//! keys that sign the DNSKEY set.
//!
//! TTLs: a signed zone serves no TTL above [`MAX_SIGNED_TTL`] (a week), so a replayed
//! signature cannot outlive a change by more than that: a larger TTL is cut to it in the
//! RRSIG's Original TTL and in what is served ([`signed_ttl`]). DNSKEY, CDS and CDNSKEY take
//! [`SignOptions::dnskey_ttl`], or the apex SOA's TTL; NSEC records take the smaller of the
//! SOA's TTL and its minimum field (RFC 9077).
//!
//! Memory: the input and the NSEC records are each one byte buffer with small fixed entries;
//! the signatures are one buffer too, each thread writing its own part of it, so signing a
//! million names allocates nothing per record.

use std::cmp::Ordering;
use std::fmt;

use super::sign::{sign_rrset_into, RrsigFields, Scratch};
use super::{SignError, SigningKey, SIGNATURE_LEN};
use crate::wire::{rtype, write_presentation, LowerName, Name, CLASS_IN};

/// The largest TTL a signed zone serves, and the largest RRSIG Original TTL: one week.
pub const MAX_SIGNED_TTL: u32 = 604_800;

/// The TTL served (and signed as the Original TTL) for a set whose zone gives `ttl`.
pub fn signed_ttl(ttl: u32) -> u32 {
    ttl.min(MAX_SIGNED_TTL)
}

/// RRsets in a flat form: owners (wire form) and RDATAs in one buffer.
#[derive(Debug, Default, Clone)]
pub struct Rrsets {
    bytes: Vec<u8>,
    sets: Vec<Set>,
    values: Vec<(u32, u16)>,
}

/// One RRset of [`Rrsets`]: where its owner and values are.
#[derive(Debug, Clone, Copy)]
struct Set {
    owner: u32,
    owner_len: u8,
    rtype: u16,
    ttl: u32,
    first: u32,
    count: u32,
}

impl Rrsets {
    /// Empty, with room for `sets` RRsets of `bytes` bytes of owners and RDATA.
    pub fn with_capacity(sets: usize, bytes: usize) -> Rrsets {
        Rrsets { bytes: Vec::with_capacity(bytes), sets: Vec::with_capacity(sets), values: Vec::with_capacity(sets) }
    }

    /// Adds the RRset of `rtype` at `owner` (uncompressed wire form) with these RDATAs
    /// (uncompressed names); returns its index. `None` when an owner is longer than a name
    /// can be, an RDATA longer than 65535 bytes, or the whole past 4 GiB.
    pub fn push<'r>(
        &mut self,
        owner: &[u8],
        rtype: u16,
        ttl: u32,
        rdatas: impl IntoIterator<Item = &'r [u8]>,
    ) -> Option<usize> {
        let owner_len = u8::try_from(owner.len()).ok()?;
        let owner_at = self.append(owner)?;
        let first = u32::try_from(self.values.len()).ok()?;
        for rdata in rdatas {
            let len = u16::try_from(rdata.len()).ok()?;
            let at = self.append(rdata)?;
            self.values.push((at, len));
        }
        let count = u32::try_from(self.values.len()).ok()? - first;
        self.sets.push(Set { owner: owner_at, owner_len, rtype, ttl, first, count });
        Some(self.sets.len() - 1)
    }

    /// Number of RRsets.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// The owner of set `set`, in wire form as given.
    pub fn owner(&self, set: usize) -> &[u8] {
        let s = &self.sets[set];
        &self.bytes[s.owner as usize..s.owner as usize + s.owner_len as usize]
    }

    /// Its type.
    pub fn rtype(&self, set: usize) -> u16 {
        self.sets[set].rtype
    }

    /// Its TTL as given (see [`signed_ttl`] for the one served).
    pub fn ttl(&self, set: usize) -> u32 {
        self.sets[set].ttl
    }

    /// Its RDATAs, in the order given.
    pub fn rdatas(&self, set: usize) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        let s = self.sets[set];
        self.values[s.first as usize..(s.first + s.count) as usize]
            .iter()
            .map(|&(at, len)| &self.bytes[at as usize..at as usize + len as usize])
    }

    fn append(&mut self, data: &[u8]) -> Option<u32> {
        let at = u32::try_from(self.bytes.len()).ok()?;
        u32::try_from(self.bytes.len() + data.len()).ok()?;
        self.bytes.extend_from_slice(data);
        Some(at)
    }
}

/// What [`sign_zone`] needs besides the data and the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignOptions {
    /// The RRSIGs' inception (seconds since 1970, modulo 2^32); an hour back from now lets
    /// validators with a slow clock accept them.
    pub inception: u32,
    /// Their expiration.
    pub expiration: u32,
    /// TTL of DNSKEY, CDS and CDNSKEY; `None`: the apex SOA's TTL.
    pub dnskey_ttl: Option<u32>,
}

/// A zone's signatures and the records signing adds to it.
#[derive(Debug)]
pub struct SignedZone {
    /// DNSKEY, CDS and CDNSKEY at the apex (in that order), then the NSEC chain in canonical
    /// order, its first record the apex's and its last pointing back to the apex.
    pub added: Rrsets,
    /// Index in `added` of the first NSEC.
    pub first_nsec: usize,
    /// TTL of the NSEC records: min(SOA TTL, SOA minimum), at most [`MAX_SIGNED_TTL`].
    pub nsec_ttl: u32,
    /// Length of every RRSIG RDATA here (the signer is the apex, both algorithms sign in
    /// 64 bytes).
    rrsig_len: usize,
    /// Input sets, then added sets: where each one's RRSIGs start, counted in RRSIGs; one
    /// more entry at the end.
    first: Vec<u32>,
    /// Number of input sets.
    input: usize,
    /// Every RRSIG RDATA, back to back.
    rrsigs: Vec<u8>,
}

impl SignedZone {
    /// The RRSIG RDATAs of input set `set`; none for data that is not signed (the NS of a
    /// delegation, glue and anything else below a zone cut or a DNAME).
    pub fn rrsigs(&self, set: usize) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.range(set)
    }

    /// The RRSIG RDATAs of `added`'s set `set`.
    pub fn added_rrsigs(&self, set: usize) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.range(self.input + set)
    }

    /// Number of RRSIGs made.
    pub fn rrsig_count(&self) -> usize {
        self.first.last().map_or(0, |&n| n as usize)
    }

    fn range(&self, job: usize) -> std::slice::ChunksExact<'_, u8> {
        let (start, end) = (self.first[job] as usize, self.first[job + 1] as usize);
        self.rrsigs[start * self.rrsig_len..end * self.rrsig_len].chunks_exact(self.rrsig_len)
    }
}

/// Why a zone was not signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneSignError {
    /// No key was given.
    NoKeys,
    /// A key is another zone's (its owner, key tag).
    KeyZone(String, u16),
    /// The apex has no SOA.
    NoSoa,
    /// An owner is not a valid name in wire form, or lies outside the zone (the owner as
    /// text, or its bytes in hex when it is no name).
    Outside(String),
    /// The zone holds a type the signer makes or does not make (owner, type): DNSKEY, CDS,
    /// CDNSKEY, RRSIG, NSEC, NSEC3, NSEC3PARAM.
    Reserved(String, u16),
    /// Two sets of one owner and type.
    Duplicate(String, u16),
    /// A DS where there is no delegation (at the apex, or at a name without NS).
    DsWithoutDelegation(String),
    /// Signing a set failed (owner, type, why).
    Sign(String, u16, SignError),
    /// The signatures or NSEC records pass 4 GiB.
    TooLarge,
}

impl fmt::Display for ZoneSignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZoneSignError::NoKeys => f.write_str("no signing key given"),
            ZoneSignError::KeyZone(owner, tag) => {
                write!(f, "key {tag} is for {owner}, not this zone: give this zone's keys")
            }
            ZoneSignError::NoSoa => f.write_str("the apex has no SOA record"),
            ZoneSignError::Outside(owner) => write!(f, "{owner} is not in the zone"),
            ZoneSignError::Reserved(owner, t) => write!(
                f,
                "{owner} type {t}: DNSKEY, CDS, CDNSKEY, RRSIG and NSEC are made by the signer from the keys (and \
                 NSEC3 is not supported): remove it from the zone"
            ),
            ZoneSignError::Duplicate(owner, t) => write!(f, "{owner} type {t} is given twice"),
            ZoneSignError::DsWithoutDelegation(owner) => {
                write!(f, "{owner} has a DS but no NS: a DS belongs at a delegation to a child zone")
            }
            ZoneSignError::Sign(owner, t, e) => write!(f, "{owner} type {t}: {e}"),
            ZoneSignError::TooLarge => f.write_str("the zone's signatures pass 4 GiB"),
        }
    }
}

impl std::error::Error for ZoneSignError {}

/// Signs `zone` (the RRsets of the zone at `apex`, any letter case) with `keys`: the
/// DNSKEY, CDS and CDNSKEY sets, the NSEC chain, and an RRSIG by each signing key (see the
/// module's header) for every authoritative set, spread over the machine's cores.
///
/// Not signed and left out of the chain: names below a delegation (a name other than the
/// apex with NS) or below a DNAME, and every type at a delegation but DS. A delegation's
/// NSEC lists NS, DS if it has one, RRSIG and NSEC. Empty non-terminals get no NSEC: the
/// NSEC of the name before them covers them.
pub fn sign_zone(
    apex: &Name,
    zone: &Rrsets,
    keys: &[SigningKey],
    options: &SignOptions,
) -> Result<SignedZone, ZoneSignError> {
    let keys: Vec<&SigningKey> = keys.iter().collect();
    sign_zone_with(apex, zone, &keys, &[], options)
}

/// [`sign_zone`] with `keys` signing and the keys of `standby` published beside them in the
/// DNSKEY set without signing (a key rolled in before it signs, or kept after it stopped
/// until the caches forget its signatures). A standby KSK is in CDS and CDNSKEY too, so the
/// parent can publish its DS before it takes over (a double-DS roll).
pub fn sign_zone_with(
    apex: &Name,
    zone: &Rrsets,
    keys: &[&SigningKey],
    standby: &[&super::Dnskey],
    options: &SignOptions,
) -> Result<SignedZone, ZoneSignError> {
    if keys.is_empty() {
        return Err(ZoneSignError::NoKeys);
    }
    if let Some(key) = keys.iter().find(|k| k.dnskey().owner() != apex) {
        return Err(ZoneSignError::KeyZone(key.dnskey().owner().to_string(), key.dnskey().key_tag()));
    }
    if let Some(key) = standby.iter().find(|k| k.owner() != apex) {
        return Err(ZoneSignError::KeyZone(key.owner().to_string(), key.key_tag()));
    }
    let ksks: Vec<&SigningKey> = keys.iter().copied().filter(|k| k.dnskey().is_ksk()).collect();
    let zsks: Vec<&SigningKey> = keys.iter().copied().filter(|k| !k.dnskey().is_ksk()).collect();
    let (apex_signers, data_signers) = match (ksks.is_empty(), zsks.is_empty()) {
        (false, false) => (ksks, zsks),
        (false, true) => (ksks.clone(), ksks),
        _ => (zsks.clone(), zsks),
    };

    // Every owner valid and in the zone, no type the signer makes; the SOA.
    let mut soa = None;
    for set in 0..zone.len() {
        let owner = zone.owner(set);
        match LowerName::parse(owner, 0) {
            Some((name, end)) if end == owner.len() && name.suffix(apex.label_count()) == apex.as_wire() => {}
            _ => return Err(ZoneSignError::Outside(name_text(owner))),
        }
        let t = zone.rtype(set);
        const NSEC3: u16 = 50;
        const NSEC3PARAM: u16 = 51;
        if matches!(t, rtype::DNSKEY | rtype::CDS | rtype::CDNSKEY | rtype::RRSIG | rtype::NSEC | NSEC3 | NSEC3PARAM) {
            return Err(ZoneSignError::Reserved(name_text(owner), t));
        }
        if t == rtype::SOA && owner.len() == apex.as_wire().len() {
            soa = zone.rdatas(set).next().filter(|r| r.len() >= 20).map(|r| (zone.ttl(set), r));
        }
    }
    let (soa_ttl, soa_rdata) = soa.ok_or(ZoneSignError::NoSoa)?;
    let minimum = u32::from_be_bytes(soa_rdata[soa_rdata.len() - 4..].try_into().expect("four bytes"));
    let nsec_ttl = signed_ttl(soa_ttl.min(minimum));
    let dnskey_ttl = signed_ttl(options.dnskey_ttl.unwrap_or(soa_ttl));

    // Canonical order of owners (RFC 4034 section 6.1), then types.
    let mut order: Vec<u32> = (0..zone.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| {
        let (a, b) = (a as usize, b as usize);
        canonical_cmp(zone.owner(a), zone.owner(b)).then(zone.rtype(a).cmp(&zone.rtype(b)))
    });

    let mut added = Rrsets::with_capacity(3 + zone.len() / 2, 0);
    let apex_wire = apex.as_wire();
    let published = keys.iter().map(|k| k.dnskey().rdata()).chain(standby.iter().map(|k| k.rdata()));
    added.push(apex_wire, rtype::DNSKEY, dnskey_ttl, published);
    // The keys the parent's DS may name: those signing the DNSKEY set, and KSKs standing by.
    let entry: Vec<&super::Dnskey> = apex_signers
        .iter()
        .map(|k| k.dnskey())
        .chain(standby.iter().copied().filter(|k| k.is_ksk() && apex_signers.iter().any(|s| s.dnskey().is_ksk())))
        .collect();
    let ds: Vec<[u8; super::DS_LEN]> = entry.iter().map(|k| k.ds()).collect();
    added.push(apex_wire, rtype::CDS, dnskey_ttl, ds.iter().map(|d| &d[..]));
    added.push(apex_wire, rtype::CDNSKEY, dnskey_ttl, entry.iter().map(|k| k.rdata()));
    let first_nsec = added.len();

    // Walk the names in order: which sets are signed, and each authoritative name's NSEC.
    let mut signed = vec![false; zone.len()];
    let mut cut: Option<usize> = None; // a set whose owner is a delegation or a DNAME
    let mut types: Vec<u16> = Vec::new();
    let mut pending: Option<(usize, Vec<u8>)> = None; // owner's set, its bitmap
    let mut rdata = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let owner = zone.owner(order[start] as usize);
        let mut end = start + 1;
        while end < order.len() && zone.owner(order[end] as usize).eq_ignore_ascii_case(owner) {
            if zone.rtype(order[end] as usize) == zone.rtype(order[end - 1] as usize) {
                return Err(ZoneSignError::Duplicate(name_text(owner), zone.rtype(order[end] as usize)));
            }
            end += 1;
        }
        let group = &order[start..end];
        start = end;
        if cut.is_some_and(|c| is_below(owner, zone.owner(c))) {
            continue; // glue or occluded: neither signed nor in the chain
        }
        cut = None;
        let at_apex = owner.len() == apex_wire.len();
        let has = |t: u16| group.iter().any(|&s| zone.rtype(s as usize) == t);
        let delegation = !at_apex && has(rtype::NS);
        if has(rtype::DS) && !delegation {
            return Err(ZoneSignError::DsWithoutDelegation(name_text(owner)));
        }
        types.clear();
        for &set in group {
            let t = zone.rtype(set as usize);
            if !delegation || t == rtype::DS || t == rtype::NS {
                types.push(t);
            }
            signed[set as usize] = !delegation || t == rtype::DS;
        }
        types.extend([rtype::RRSIG, rtype::NSEC]);
        if at_apex {
            types.extend([rtype::DNSKEY, rtype::CDS, rtype::CDNSKEY]);
        }
        types.sort_unstable();
        if delegation || has(rtype::DNAME) {
            cut = Some(group[0] as usize);
        }
        if let Some((previous, bitmap)) = pending.take() {
            push_nsec(&mut added, zone.owner(previous), owner, &bitmap, nsec_ttl, &mut rdata)?;
        }
        let mut bitmap = Vec::new();
        write_bitmap(&types, &mut bitmap);
        pending = Some((group[0] as usize, bitmap));
    }
    if let Some((last, bitmap)) = pending {
        push_nsec(&mut added, zone.owner(last), apex_wire, &bitmap, nsec_ttl, &mut rdata)?;
    }

    // Who signs each set, and where its RRSIGs go.
    let jobs: Vec<Job<'_>> = (0..zone.len())
        .map(|set| Job {
            sets: zone,
            set,
            ttl: signed_ttl(zone.ttl(set)),
            keys: if signed[set] { &data_signers[..] } else { &[] },
        })
        .chain((0..added.len()).map(|set| Job {
            sets: &added,
            set,
            ttl: added.ttl(set),
            keys: if set < first_nsec { &apex_signers[..] } else { &data_signers[..] },
        }))
        .collect();
    let mut first = Vec::with_capacity(jobs.len() + 1);
    let mut total: u32 = 0;
    for job in &jobs {
        first.push(total);
        total = total.checked_add(job.keys.len() as u32).ok_or(ZoneSignError::TooLarge)?;
    }
    first.push(total);
    let rrsig_len = 18 + apex_wire.len() + SIGNATURE_LEN;
    let mut rrsigs = vec![0u8; total as usize * rrsig_len];
    sign_jobs(&jobs, &first, rrsig_len, &mut rrsigs, options)?;
    Ok(SignedZone { added, first_nsec, nsec_ttl, rrsig_len, first, input: zone.len(), rrsigs })
}

/// One RRset to sign, and the keys that sign it.
struct Job<'a> {
    sets: &'a Rrsets,
    set: usize,
    ttl: u32,
    keys: &'a [&'a SigningKey],
}

/// Signs every job into `out` (job `j`'s RRSIGs at `first[j] * rrsig_len`), on as many
/// threads as the machine has cores, each a contiguous share of the signatures.
fn sign_jobs(
    jobs: &[Job<'_>],
    first: &[u32],
    rrsig_len: usize,
    out: &mut [u8],
    options: &SignOptions,
) -> Result<(), ZoneSignError> {
    let total = *first.last().unwrap_or(&0) as usize;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(total.div_ceil(64)).max(1);
    std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(threads);
        let (mut rest, mut job) = (out, 0);
        for thread in 0..threads {
            // Jobs up to the one where this thread's share of the signatures ends.
            let target = total * (thread + 1) / threads;
            let begin = job;
            while job < jobs.len() && (first[job] as usize) < target {
                job += 1;
            }
            let (mine, others) = rest.split_at_mut((first[job] - first[begin]) as usize * rrsig_len);
            rest = others;
            let range = &jobs[begin..job];
            handles.push(scope.spawn(move || sign_range(range, rrsig_len, mine, options)));
        }
        handles.into_iter().try_for_each(|h| h.join().expect("a signing thread panicked"))
    })
}

/// Signs `jobs` one after another into `out`.
fn sign_range(jobs: &[Job<'_>], rrsig_len: usize, out: &mut [u8], options: &SignOptions) -> Result<(), ZoneSignError> {
    let mut scratch = Scratch::new();
    let mut rrsig = Vec::with_capacity(rrsig_len);
    let mut rdatas: Vec<&[u8]> = Vec::new();
    let mut slots = out.chunks_exact_mut(rrsig_len);
    for job in jobs {
        let (owner, t) = (job.sets.owner(job.set), job.sets.rtype(job.set));
        rdatas.clear();
        rdatas.extend(job.sets.rdatas(job.set));
        for key in job.keys {
            let fields = RrsigFields::new(key, t, owner, job.ttl, options.inception, options.expiration);
            rrsig.clear();
            sign_rrset_into(key, &fields, owner, CLASS_IN, &rdatas, &mut scratch, &mut rrsig)
                .map_err(|e| ZoneSignError::Sign(name_text(owner), t, e))?;
            slots.next().expect("a slot for each signature").copy_from_slice(&rrsig);
        }
    }
    Ok(())
}

/// Adds the NSEC at `owner` pointing to `next`.
fn push_nsec(
    added: &mut Rrsets,
    owner: &[u8],
    next: &[u8],
    bitmap: &[u8],
    ttl: u32,
    rdata: &mut Vec<u8>,
) -> Result<(), ZoneSignError> {
    rdata.clear();
    rdata.extend_from_slice(next);
    rdata.extend_from_slice(bitmap);
    added.push(owner, rtype::NSEC, ttl, [&rdata[..]]).map(|_| ()).ok_or(ZoneSignError::TooLarge)
}

/// Appends the NSEC type bitmap of `types` (sorted, no repeats) to `out` (RFC 4034 section
/// 4.1.2): per window of 256 types that has any, its number, its length and its bits.
pub fn write_bitmap(types: &[u16], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < types.len() {
        let window = types[i] >> 8;
        let mut bits = [0u8; 32];
        let mut len = 0;
        while i < types.len() && types[i] >> 8 == window {
            let low = usize::from(types[i] & 0xFF);
            bits[low / 8] |= 0x80 >> (low % 8);
            len = low / 8 + 1;
            i += 1;
        }
        out.push(window as u8);
        out.push(len as u8);
        out.extend_from_slice(&bits[..len]);
    }
}

/// Compares two names in wire form in DNSSEC's canonical order (RFC 4034 section 6.1):
/// label by label from the right, each as lowercase bytes, a name before those below it.
pub fn canonical_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut starts_a, mut starts_b) = ([0u8; 128], [0u8; 128]);
    let count_a = label_starts(a, &mut starts_a);
    let count_b = label_starts(b, &mut starts_b);
    for i in 1..=count_a.min(count_b) {
        let x = label(a, starts_a[count_a - i]);
        let y = label(b, starts_b[count_b - i]);
        let order = x.iter().map(u8::to_ascii_lowercase).cmp(y.iter().map(u8::to_ascii_lowercase));
        if order != Ordering::Equal {
            return order;
        }
    }
    count_a.cmp(&count_b)
}

/// Where each label of `name` starts; how many there are (the root not counted).
fn label_starts(name: &[u8], starts: &mut [u8; 128]) -> usize {
    let (mut at, mut count) = (0usize, 0usize);
    while let Some(&len) = name.get(at) {
        if len == 0 || count == starts.len() {
            break;
        }
        starts[count] = at as u8;
        count += 1;
        at += 1 + usize::from(len);
    }
    count
}

/// The label at `at` of `name`, without its length byte.
fn label(name: &[u8], at: u8) -> &[u8] {
    let at = usize::from(at);
    let len = usize::from(name[at]);
    name.get(at + 1..at + 1 + len).unwrap_or(&[])
}

/// Whether `name` lies strictly below `above` (both wire form, any case).
fn is_below(name: &[u8], above: &[u8]) -> bool {
    let mut at = 0;
    while let Some(&len) = name.get(at) {
        if len == 0 {
            return false;
        }
        at += 1 + usize::from(len);
        if name.get(at..).is_some_and(|rest| rest.eq_ignore_ascii_case(above)) {
            return true;
        }
    }
    false
}

/// A name for messages.
fn name_text(wire: &[u8]) -> String {
    let mut text = String::new();
    if LowerName::parse(wire, 0).is_some_and(|(_, end)| end == wire.len()) {
        let _ = write_presentation(&mut text, wire);
    } else {
        text = wire.iter().map(|b| format!("{b:02x}")).collect();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::super::{generate, verify_rrset, Algorithm};
    use super::*;

    fn wire(text: &str) -> Vec<u8> {
        let mut out = crate::wire::parse_name(text).unwrap().labels;
        out.push(0);
        out
    }

    fn apex() -> Name {
        Name::from_wire(&wire("example.com.")).unwrap()
    }

    fn soa() -> Vec<u8> {
        let mut soa = [wire("ns1.example.com."), wire("host.example.com.")].concat();
        for field in [1u32, 7200, 900, 1_209_600, 300] {
            soa.extend_from_slice(&field.to_be_bytes());
        }
        soa
    }

    fn zone(extra: &[(&str, u16, &[u8])]) -> Rrsets {
        let mut zone = Rrsets::default();
        zone.push(&wire("example.com."), rtype::SOA, 3600, [&soa()[..]]).unwrap();
        zone.push(&wire("example.com."), rtype::NS, 3600, [&wire("ns1.example.com.")[..]]).unwrap();
        for (owner, t, rdata) in extra {
            zone.push(&wire(owner), *t, 1_000_000, [*rdata]).unwrap();
        }
        zone
    }

    fn options() -> SignOptions {
        SignOptions { inception: 1, expiration: 2, dnskey_ttl: None }
    }

    #[test]
    fn canonical_order_is_rfc_4034s_example() {
        // RFC 4034 section 6.1's list, in order.
        let names = [
            "example.",
            "a.example.",
            "yljkjljk.a.example.",
            "Z.a.example.",
            "zABC.a.EXAMPLE.",
            "z.example.",
            "\\001.z.example.",
            "*.z.example.",
            "\\200.z.example.",
        ];
        let wires: Vec<Vec<u8>> = names.iter().map(|n| wire(n)).collect();
        for pair in wires.windows(2) {
            assert_eq!(canonical_cmp(&pair[0], &pair[1]), Ordering::Less, "{pair:?}");
            assert_eq!(canonical_cmp(&pair[1], &pair[0]), Ordering::Greater);
        }
        assert_eq!(canonical_cmp(&wire("A.example."), &wire("a.EXAMPLE.")), Ordering::Equal);
    }

    #[test]
    fn bitmaps_have_a_window_per_block_of_types() {
        let mut out = Vec::new();
        write_bitmap(&[rtype::A, rtype::MX, rtype::RRSIG, rtype::NSEC, 1234], &mut out);
        // RFC 4034 section 4.3's example: A MX RRSIG NSEC TYPE1234.
        let expected =
            [&[0x00u8, 0x06, 0x40, 0x01, 0x00, 0x00, 0x00, 0x03, 0x04, 0x1b][..], &[0; 26], &[0x20]].concat();
        assert_eq!(out, expected);
    }

    #[test]
    fn the_chain_skips_glue_and_ends_at_the_apex_and_everything_verifies() {
        let key = generate(&apex(), Algorithm::Ed25519, true, 0).unwrap().key;
        let ds = key.dnskey().ds();
        let zone = zone(&[
            ("www.Example.com.", rtype::A, &[192, 0, 2, 1]),
            ("a.b.example.com.", rtype::A, &[192, 0, 2, 2]),
            ("sub.example.com.", rtype::NS, &wire("ns.sub.example.com.")),
            ("ns.sub.example.com.", rtype::A, &[192, 0, 2, 3]),
            ("signed.example.com.", rtype::NS, &wire("ns.other.")),
            ("signed.example.com.", rtype::DS, &ds),
            ("*.example.com.", rtype::TXT, b"\x02hi"),
        ]);
        let signed = sign_zone(&apex(), &zone, &[key], &options()).unwrap();
        let owners: Vec<String> =
            (signed.first_nsec..signed.added.len()).map(|s| name_text(signed.added.owner(s))).collect();
        assert_eq!(
            owners,
            [
                "example.com.",
                "*.example.com.",
                "a.b.example.com.",
                "signed.example.com.",
                "sub.example.com.",
                "www.Example.com."
            ]
        );
        let nsec = |i: usize| signed.added.rdatas(signed.first_nsec + i).next().unwrap().to_vec();
        assert!(nsec(5).starts_with(&wire("example.com.")), "the last points to the apex");
        assert!(nsec(0).starts_with(&wire("*.example.com.")));
        let sub = nsec(4);
        let mut bits = Vec::new();
        write_bitmap(&[rtype::NS, rtype::RRSIG, rtype::NSEC], &mut bits);
        assert_eq!(&sub[sub.len() - bits.len()..], &bits[..], "a delegation's bitmap");
        assert_eq!(signed.nsec_ttl, 300);
        // Unsigned: the delegations' NS, the glue.
        let counts: Vec<usize> = (0..zone.len()).map(|s| signed.rrsigs(s).len()).collect();
        assert_eq!(counts, [1, 1, 1, 1, 0, 0, 0, 1, 1]);
        let mut scratch = Scratch::new();
        let dnskey = signed.added.rdatas(0).next().unwrap().to_vec();
        for (sets, signatures) in [
            (&zone, (0..zone.len()).map(|s| signed.rrsigs(s).collect::<Vec<_>>()).collect::<Vec<_>>()),
            (&signed.added, (0..signed.added.len()).map(|s| signed.added_rrsigs(s).collect()).collect()),
        ] {
            for (set, rrsigs) in signatures.iter().enumerate() {
                let rdatas: Vec<&[u8]> = sets.rdatas(set).collect();
                for rrsig in rrsigs {
                    assert_eq!(u32::from_be_bytes(rrsig[4..8].try_into().unwrap()), signed_ttl(sets.ttl(set)));
                    verify_rrset(&dnskey, rrsig, sets.owner(set), CLASS_IN, &rdatas, &mut scratch).unwrap();
                }
            }
        }
        // The wildcard's RRSIG counts two labels.
        assert_eq!(signed.rrsigs(8).next().unwrap()[3], 2);
    }

    #[test]
    fn ksks_sign_the_keys_and_zsks_the_rest() {
        let ksk = generate(&apex(), Algorithm::EcdsaP256Sha256, true, 0).unwrap().key;
        let zsk = generate(&apex(), Algorithm::EcdsaP256Sha256, false, 0).unwrap().key;
        let (ksk_tag, zsk_tag) = (ksk.dnskey().key_tag(), zsk.dnskey().key_tag());
        let signed = sign_zone(&apex(), &zone(&[]), &[ksk, zsk], &options()).unwrap();
        let tag = |rrsig: &[u8]| u16::from_be_bytes([rrsig[16], rrsig[17]]);
        assert_eq!(signed.added.rdatas(0).len(), 2, "both keys published");
        assert_eq!(signed.added.rdatas(1).len(), 1, "a CDS for the KSK only");
        for set in 0..3 {
            assert_eq!(signed.added_rrsigs(set).map(tag).collect::<Vec<_>>(), [ksk_tag]);
        }
        assert_eq!(signed.added_rrsigs(3).map(tag).collect::<Vec<_>>(), [zsk_tag]);
        assert_eq!(signed.rrsigs(0).map(tag).collect::<Vec<_>>(), [zsk_tag]);
    }

    #[test]
    fn refuses_what_it_cannot_sign() {
        let key = || generate(&apex(), Algorithm::Ed25519, true, 0).unwrap().key;
        let refused = |zone: &Rrsets| sign_zone(&apex(), zone, &[key()], &options()).unwrap_err().to_string();
        assert!(refused(&zone(&[("www.example.org.", rtype::A, &[1, 2, 3, 4])])).contains("www.example.org. is not"));
        assert!(refused(&zone(&[("example.com.", rtype::DNSKEY, &[1])])).contains("made by the signer"));
        assert!(refused(&zone(&[("x.example.com.", rtype::DS, &[1])])).contains("no NS"));
        assert!(refused(&zone(&[("x.example.com.", 1, &[1; 4]), ("X.example.com.", 1, &[2; 4])])).contains("twice"));
        let mut no_soa = Rrsets::default();
        no_soa.push(&wire("example.com."), rtype::NS, 60, [&wire("ns.example.com.")[..]]);
        assert_eq!(refused(&no_soa), "the apex has no SOA record");
        let other = generate(&Name::from_wire(&wire("example.org.")).unwrap(), Algorithm::Ed25519, true, 0).unwrap();
        let e = sign_zone(&apex(), &zone(&[]), &[other.key], &options()).unwrap_err();
        assert!(matches!(e, ZoneSignError::KeyZone(..)), "{e}");
        assert_eq!(sign_zone(&apex(), &zone(&[]), &[], &options()).unwrap_err(), ZoneSignError::NoKeys);
    }
}
