//! Name compression inside RDATA (RFC 1035 section 4.1.4), worked out when a zone is built so
//! that an answer only chooses between a few pointers.
//!
//! Only the types whose RDATA names RFC 3597 section 4 lets a server compress: NS, MD, MF,
//! CNAME, SOA, MB, MG, MR, PTR, MINFO and MX. Every other type, SRV (RFC 2782) and DNAME
//! (RFC 6672) among them, keeps its names in full.
//!
//! Each such record carries, after its RDATA in the zone's byte arena, a [`NameSlot`] for each
//! of its names: where it lies, how long a suffix it shares with the record's owner name (an
//! answer finds that suffix in the question, or in the name a CNAME chain reached the owner
//! by), and how long a suffix it shares with other names of its record set (the first of them
//! an answer writes spells it out; the others point at it). The records every answer writes
//! the same way (the apex NS set in authority, the SOA of negative answers) are prepared
//! whole as [`Block`]s, their pointers left for the writer to fill in.

use std::collections::HashMap;

use crate::wire::{rtype, Block, Patch, MAX_NAME_LEN, MAX_POINTER};

/// Groups of shared suffixes an answer keeps track of per record set (ids 1 to `GROUPS` - 1).
pub const GROUPS: usize = 8;

/// Whether names in the RDATA of `rtype` may be compressed (RFC 3597 section 4).
pub fn compressible(rtype: u16) -> bool {
    use rtype::{CNAME, MB, MD, MF, MG, MINFO, MR, MX, NS, PTR, SOA};
    matches!(rtype, NS | MD | MF | CNAME | SOA | MB | MG | MR | PTR | MINFO | MX)
}

/// One name inside a record's RDATA that answers may compress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NameSlot {
    /// Offset of the name in the RDATA.
    pub at: u8,
    /// Its length in full.
    pub len: u8,
    /// Bytes of its longest suffix of whole labels that ends the owner name too (0: none but
    /// the root).
    pub owner: u8,
    /// Bytes of its longest suffix shared with another name of the same set, when longer than
    /// `owner` (else 0).
    pub shared: u8,
    /// The group of names sharing that suffix, 1 to [`GROUPS`] - 1 (0: none).
    pub group: u8,
}

/// Bytes one [`NameSlot`] takes in the arena.
const SLOT_BYTES: usize = 5;

/// The [`NameSlot`]s of one record, as the arena holds them after its RDATA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Names {
    slots: [NameSlot; 2],
    count: u8,
}

impl Names {
    /// The slots, in RDATA order.
    #[inline]
    pub fn as_slice(&self) -> &[NameSlot] {
        &self.slots[..self.count as usize]
    }

    /// Reads the slots stored at the start of `bytes` (as [`Names::store`] wrote them);
    /// none when they cannot be read.
    #[inline]
    pub fn read(bytes: &[u8]) -> Names {
        let mut names = Names::default();
        let count = bytes.first().map_or(0, |&c| (c as usize).min(2));
        for i in 0..count {
            let Some(b) = bytes.get(1 + i * SLOT_BYTES..1 + (i + 1) * SLOT_BYTES) else { break };
            names.slots[i] = NameSlot { at: b[0], len: b[1], owner: b[2], shared: b[3], group: b[4] };
            names.count += 1;
        }
        names
    }

    /// The slot stored at the start of `bytes` when there is exactly one (whose name then
    /// ends the RDATA: only SOA and MINFO have two names, and nothing follows a single one).
    #[inline(always)]
    pub fn only(bytes: &[u8]) -> Option<NameSlot> {
        match bytes.get(..1 + SLOT_BYTES)? {
            &[1, at, len, owner, shared, group] => Some(NameSlot { at, len, owner, shared, group }),
            _ => None,
        }
    }

    /// Appends the slots to `arena`.
    pub fn store(&self, arena: &mut Vec<u8>) {
        arena.push(self.count);
        for s in self.as_slice() {
            arena.extend_from_slice(&[s.at, s.len, s.owner, s.shared, s.group]);
        }
    }

    /// Bytes [`Names::store`] writes.
    pub fn stored_len(&self) -> usize {
        1 + self.count as usize * SLOT_BYTES
    }
}

/// The names in `rdata` of `rtype` with the suffix each shares with `owner` (lowercase wire
/// form; a wildcard's without its `*` label); none when the type has no names to compress or
/// the RDATA is not the shape its type says (it is then written as it is).
pub fn names(rtype: u16, rdata: &[u8], owner: &[u8]) -> Names {
    let mut names = Names::default();
    let (first, two, tail) = match rtype {
        rtype::MX => (2, false, 0),
        rtype::SOA => (0, true, 20),
        rtype::MINFO => (0, true, 0),
        t if compressible(t) => (0, false, 0),
        _ => return names,
    };
    let Some(end) = name_end(rdata, first) else { return names };
    let second = if two { name_end(rdata, end) } else { Some(end) };
    let Some(last) = second else { return names };
    // The second name's offset must fit its slot (a first name of at most 255 bytes ends there).
    if last + tail != rdata.len() || (two && end > u8::MAX as usize) {
        return names;
    }
    let mut push = |at: usize, end: usize| {
        let name = &rdata[at..end];
        names.slots[names.count as usize] = NameSlot {
            at: at as u8,
            len: name.len() as u8,
            owner: common_suffix(name, owner) as u8,
            shared: 0,
            group: 0,
        };
        names.count += 1;
    };
    push(first, end);
    if two {
        push(end, last);
    }
    names
}

/// Sets `shared` and `group` on the names of one record set: `names[i]` are the slots of the
/// record whose RDATA is `rdatas[i]`. A name whose longest suffix shared with another of the
/// set's names is longer than what it shares with the owner joins the group of that suffix;
/// a suffix only one name would use, and groups past [`GROUPS`] - 1, are left out.
pub fn group(names: &mut [Names], rdatas: &[&[u8]]) {
    // Every name of the set (record, slot, the name, what it shares with the owner), sorted by
    // its labels read from the root: a name's longest suffix shared with any other is the one
    // it shares with a neighbour in that order.
    let mut all: Vec<(usize, usize, &[u8], usize)> = Vec::new();
    for (r, slots) in names.iter().enumerate() {
        for (s, slot) in slots.as_slice().iter().enumerate() {
            all.push((r, s, name_of(rdatas[r], slot), slot.owner as usize));
        }
    }
    if all.len() < 2 {
        return;
    }
    all.sort_by_cached_key(|entry| reversed(entry.2));
    let shared = |i: usize, j: usize| common_suffix(all[i].2, all[j].2);
    let best: Vec<usize> = (0..all.len())
        .map(|i| {
            let before = if i > 0 { shared(i, i - 1) } else { 0 };
            let after = if i + 1 < all.len() { shared(i, i + 1) } else { 0 };
            before.max(after)
        })
        .collect();
    // The suffix each name would point at, where it beats the owner's; only suffixes that two
    // names take make a group, numbered in the order the names are stored.
    let key = |i: usize| (best[i] > all[i].3).then(|| all[i].2[all[i].2.len() - best[i]..].to_ascii_lowercase());
    let mut takers: HashMap<Vec<u8>, usize> = HashMap::new();
    for i in 0..all.len() {
        if let Some(key) = key(i) {
            *takers.entry(key).or_default() += 1;
        }
    }
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.sort_by_key(|&i| (all[i].0, all[i].1));
    let mut ids: HashMap<Vec<u8>, usize> = HashMap::new();
    for i in order {
        let Some(key) = key(i).filter(|k| takers[k] >= 2) else { continue };
        let next = ids.len() + 1;
        let id = *ids.entry(key).or_insert(next);
        if id < GROUPS {
            let slot = &mut names[all[i].0].slots[all[i].1];
            slot.shared = best[i] as u8;
            slot.group = id as u8;
        }
    }
}

/// One stored record for [`block`]: TYPE through RDATA (names in full), and its names.
pub struct BlockRecord<'a> {
    /// TYPE, CLASS, TTL, RDLENGTH and RDATA.
    pub record: &'a [u8],
    /// Its names.
    pub names: Names,
}

/// Prepares `records`, owned by the zone's apex (whose name is `apex_len` bytes long), for a
/// response to copy whole: each record's owner a pointer to the apex in the question, and
/// each name in RDATA cut as an answer would write the set in this order. `None` when the
/// block would be too large for a message.
pub fn block(records: &[BlockRecord<'_>], apex_len: usize) -> Option<Block> {
    let mut bytes = Vec::new();
    let mut patches = Vec::new();
    let mut groups = [None; GROUPS];
    for r in records {
        patches.push(Patch::question(bytes.len(), apex_len)?);
        bytes.extend_from_slice(&[0xC0, 0]);
        let (head, rdata) = r.record.split_at(10);
        bytes.extend_from_slice(&head[..8]);
        let rdlength = bytes.len();
        bytes.extend_from_slice(&[0, 0]);
        let rdata_at = bytes.len();
        let mut from = 0;
        for slot in r.names.as_slice() {
            let (at, len) = (slot.at as usize, slot.len as usize);
            bytes.extend_from_slice(&rdata[from..at]);
            let name_at = bytes.len();
            // The same choice an answer makes: the group's suffix when a name before spelled
            // it out, else the suffix shared with the owner (in the question), else none.
            let group = groups.get(slot.group as usize).copied().flatten().filter(|_| slot.group != 0);
            let (keep, target) = match (group, slot.owner) {
                (Some(offset), _) => (len - slot.shared as usize, Some(Target::Inside(offset))),
                (None, 0) => (len, None),
                (None, owner) => (len - owner as usize, Some(Target::Question(owner as usize))),
            };
            bytes.extend_from_slice(&rdata[at..at + keep]);
            if let Some(target) = target {
                patches.push(match target {
                    Target::Inside(offset) => Patch::inside(bytes.len(), offset)?,
                    Target::Question(suffix) => Patch::question(bytes.len(), suffix)?,
                });
                bytes.extend_from_slice(&[0, 0]);
            }
            let shared_at = name_at + len - slot.shared as usize;
            if slot.group != 0 && group.is_none() && shared_at < name_at + keep && shared_at <= MAX_POINTER {
                groups[slot.group as usize] = Some(shared_at);
            }
            from = at + len;
        }
        bytes.extend_from_slice(&rdata[from..]);
        let rdlen = u16::try_from(bytes.len() - rdata_at).ok()?;
        bytes[rdlength..rdlength + 2].copy_from_slice(&rdlen.to_be_bytes());
    }
    if bytes.len() > u16::MAX as usize {
        return None;
    }
    Block::new(bytes, patches, u16::try_from(records.len()).ok()?)
}

/// Where a prepared pointer points.
enum Target {
    /// At this offset of the block.
    Inside(usize),
    /// At the question name's suffix of this many bytes.
    Question(usize),
}

/// The name `slot` describes in `rdata`.
fn name_of<'a>(rdata: &'a [u8], slot: &NameSlot) -> &'a [u8] {
    &rdata[slot.at as usize..slot.at as usize + slot.len as usize]
}

/// Bytes of the longest suffix of whole labels, at least one, that `a` and `b` (uncompressed
/// wire form) share, compared without regard to ASCII case; 0 when they share only the root.
pub fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    let (mut starts_a, mut starts_b) = ([0u8; MAX_NAME_LEN], [0u8; MAX_NAME_LEN]);
    let (Some(na), Some(nb)) = (label_starts(a, &mut starts_a), label_starts(b, &mut starts_b)) else {
        return 0;
    };
    let mut shared = 0;
    while shared < na.min(nb) {
        let (x, y) = (starts_a[na - 1 - shared] as usize, starts_b[nb - 1 - shared] as usize);
        let (lx, ly) = (a[x] as usize, b[y] as usize);
        if lx != ly || !a[x + 1..x + 1 + lx].eq_ignore_ascii_case(&b[y + 1..y + 1 + ly]) {
            break;
        }
        shared += 1;
    }
    if shared == 0 {
        0
    } else {
        a.len() - starts_a[na - shared] as usize
    }
}

/// Writes where each label of `name` starts into `starts`; returns how many there are, or
/// `None` when `name` is not one uncompressed name.
fn label_starts(name: &[u8], starts: &mut [u8; MAX_NAME_LEN]) -> Option<usize> {
    let mut count = 0;
    let mut at = 0;
    while *name.get(at)? != 0 {
        let len = name[at] as usize;
        if len > 63 || count == MAX_NAME_LEN {
            return None;
        }
        starts[count] = at as u8;
        count += 1;
        at += 1 + len;
    }
    (at + 1 == name.len()).then_some(count)
}

/// The end of the uncompressed name at `at` in `bytes`.
fn name_end(bytes: &[u8], at: usize) -> Option<usize> {
    let mut pos = at;
    loop {
        let len = *bytes.get(pos)? as usize;
        if len > 63 {
            return None;
        }
        pos += 1 + len;
        if pos - at > MAX_NAME_LEN {
            return None;
        }
        if len == 0 {
            return Some(pos);
        }
    }
}

/// `name`'s labels from the root down, lowercase, each with its length: names that share a
/// suffix share a prefix here, so sorting these puts them side by side.
fn reversed(name: &[u8]) -> Vec<u8> {
    let mut starts = [0u8; MAX_NAME_LEN];
    let count = label_starts(name, &mut starts).unwrap_or(0);
    let mut out = Vec::with_capacity(name.len());
    for &start in starts[..count].iter().rev() {
        let start = start as usize;
        let len = name[start] as usize;
        out.push(len as u8);
        out.extend(name[start + 1..start + 1 + len].iter().map(u8::to_ascii_lowercase));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wire form of a name written as text ("a.b." ; "." is the root).
    fn wire(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for label in text.split('.').filter(|l| !l.is_empty()) {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        out
    }

    #[test]
    fn common_suffixes_are_whole_labels_in_any_case() {
        let (a, b) = (wire("ns1.Example.COM."), wire("mail.example.com."));
        assert_eq!(common_suffix(&a, &b), wire("example.com.").len());
        assert_eq!(common_suffix(&wire("a.bexample.com."), &wire("example.com.")), wire("com.").len());
        assert_eq!(common_suffix(&wire("example.com."), &wire("example.com.")), 13);
        assert_eq!(common_suffix(&wire("a.net."), &wire("a.com.")), 0, "only the root");
        assert_eq!(common_suffix(&wire("."), &wire(".")), 0);
        assert_eq!(common_suffix(b"\x03abc", &wire("abc.")), 0, "not a name");
    }

    #[test]
    fn the_names_of_each_type_are_found_and_nothing_else() {
        let owner = wire("example.com.");
        let mx = [&[0, 10][..], &wire("mail.example.com.")].concat();
        let found = names(rtype::MX, &mx, &owner);
        assert_eq!(found.as_slice(), [NameSlot { at: 2, len: 18, owner: 13, shared: 0, group: 0 }]);
        let soa = [wire("ns.example.net."), wire("h.example.com."), vec![0; 20]].concat();
        let found = names(rtype::SOA, &soa, &owner);
        assert_eq!(found.as_slice().len(), 2);
        assert_eq!((found.as_slice()[0].owner, found.as_slice()[1].at, found.as_slice()[1].owner), (0, 16, 13));
        let minfo = [wire("a.example.com."), wire("b.example.com.")].concat();
        assert_eq!(names(rtype::MINFO, &minfo, &owner).as_slice().len(), 2);
        // Not the shape of the type (SOA without its numbers, a name running past), or a type
        // whose names are never compressed: none.
        assert!(names(rtype::SOA, &soa[..soa.len() - 1], &owner).as_slice().is_empty());
        assert!(names(rtype::NS, &mx, &owner).as_slice().is_empty());
        assert!(names(rtype::NS, b"\x05ab", &owner).as_slice().is_empty());
        let srv = [&[0, 1, 0, 1, 0, 80][..], &wire("mail.example.com.")].concat();
        assert!(names(rtype::SRV, &srv, &owner).as_slice().is_empty());
        assert!(names(rtype::DNAME, &wire("example.net."), &owner).as_slice().is_empty());
        // Stored and read back.
        let mut arena = vec![9];
        found.store(&mut arena);
        assert_eq!(arena.len(), 1 + found.stored_len());
        assert_eq!(Names::read(&arena[1..]), found);
        assert_eq!(Names::read(&[]), Names::default());
    }

    #[test]
    fn names_sharing_more_with_each_other_than_with_the_owner_are_grouped() {
        let owner = wire("example.com.");
        let values =
            ["aspmx.l.google.com.", "alt1.aspmx.l.google.com.", "mail.example.com.", "alt2.aspmx.l.google.com."];
        let rdatas: Vec<Vec<u8>> = values.iter().map(|v| [&[0, 5][..], &wire(v)].concat()).collect();
        let refs: Vec<&[u8]> = rdatas.iter().map(Vec::as_slice).collect();
        let mut sets: Vec<Names> = refs.iter().map(|r| names(rtype::MX, r, &owner)).collect();
        group(&mut sets, &refs);
        let slots: Vec<NameSlot> = sets.iter().map(|n| n.as_slice()[0]).collect();
        let google = wire("aspmx.l.google.com.").len() as u8;
        // All three Google names share `aspmx.l.google.com.`, one group; the zone's own mail
        // host shares only the owner's suffix.
        assert_eq!([slots[0].shared, slots[1].shared, slots[3].shared], [google; 3]);
        assert_eq!([slots[0].group, slots[1].group, slots[3].group], [1; 3]);
        assert_eq!((slots[2].shared, slots[2].group, slots[2].owner), (0, 0, 13));
        assert_eq!(slots[0].owner, wire("com.").len() as u8);
        // A suffix only one name would use makes no group; past seven groups, none either.
        let values: Vec<String> = (0..20).map(|i| format!("n{i}.p{}.net.", i / 2)).collect();
        let rdatas: Vec<Vec<u8>> = values.iter().map(|v| wire(v)).collect();
        let refs: Vec<&[u8]> = rdatas.iter().map(Vec::as_slice).collect();
        let mut sets: Vec<Names> = refs.iter().map(|r| names(rtype::NS, r, &owner)).collect();
        group(&mut sets, &refs);
        let groups: Vec<u8> = sets.iter().map(|n| n.as_slice()[0].group).collect();
        assert_eq!(groups, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 0, 0, 0, 0, 0, 0]);
        let mut one = vec![names(rtype::NS, &rdatas[0], &owner)];
        group(&mut one, &refs[..1]);
        assert_eq!(one[0].as_slice()[0].group, 0);
    }

    #[test]
    fn blocks_point_into_the_question_and_at_their_own_names() {
        let apex = wire("example.com.");
        let head = |rdlen: usize| [&[0, 6, 0, 1, 0, 0, 0, 60][..], &(rdlen as u16).to_be_bytes()].concat();
        // An SOA whose names lie in another zone and share its name: the second points at
        // the first.
        let rdata = [wire("ns.provider.net."), wire("hostmaster.provider.net."), vec![7; 20]].concat();
        let record = [head(rdata.len()), rdata.clone()].concat();
        let mut slots = [names(rtype::SOA, &rdata, &apex)];
        group(&mut slots, &[&rdata]);
        let soa = BlockRecord { record: &record, names: slots[0] };
        let compressed = block(&[soa], apex.len()).unwrap();
        // `ns.provider.net.` in full, then `hostmaster` and a pointer to `provider.net.`.
        let rdata_at = 12;
        let expected = [&wire("ns.provider.net.")[..], b"\x0ahostmaster\0\0", &[7; 20]].concat();
        assert_eq!(&compressed.bytes()[rdata_at..], &expected[..]);
        assert_eq!(&compressed.bytes()[10..12], &(expected.len() as u16).to_be_bytes());
        assert_eq!(compressed.reach(), rdata_at + 3);
        assert_eq!(compressed.count(), 1);
    }
}
