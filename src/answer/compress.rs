//! Compressing the names inside RDATA as an answer writes them (RFC 1035 section 4.1.4): each
//! name's [`NameSlot`] (worked out when the zone was built) says how long a suffix it shares
//! with its record's owner and with other names of its set; here those suffixes are found in
//! the message and the name written as the labels before them and a pointer.
//!
//! - **Owner suffixes** are found in the question, whose name every owner of a first answer
//!   ends with (the name itself, the wildcard's parent, the delegation, the DNAME, the apex).
//!   A CNAME chain moves the owner to the name its CNAME wrote: its labels written out are
//!   found there, the rest where its pointer points. [`Work::segments`] keeps that path.
//! - **Shared suffixes**: the first name of a group that a set writes spells the suffix out
//!   (up to its owner suffix); the group's later names point at it. Which names come first
//!   is chosen per answer (multivalue, shuffled values), so this is tracked as they are written.
//! - **Whole records** every answer writes alike (the SOA of negative answers, the apex NS
//!   set in authority) are prepared compressed when the zone is built; only their pointers
//!   are filled in ([`Writer::push_block`]). Written in full (compression off, or pointers
//!   out of reach), they are copied from the zone's records.
//!
//! Pointers only point backwards, at whole labels written out, within the 14 bits a pointer
//! has; a suffix that cannot be reached so is written out.

use super::Work;
use crate::wire::{rtype, Block, Full, NameCut, Owner, Section, Writer, MAX_POINTER};
use crate::zone::{NameSlot, Rdata, Zone, GROUPS};

/// Most places a CNAME chain's owner names lie in besides the question: two per step (a
/// DNAME step writes its target and the synthesized CNAME's own labels).
pub(super) const MAX_SEGMENTS: usize = 2 * super::MAX_CNAME_CHAIN;

/// [`Work::segment_count`] once a segment could not be kept (never, by the chain's length):
/// no owner suffix is looked up any more.
const SEGMENTS_LOST: usize = usize::MAX;

/// A stretch of the message where the suffixes of the current owner name longer than
/// `shorter_than` bytes are written out: the suffix of `n` bytes at `end - n`.
#[derive(Clone, Copy, Default)]
pub(super) struct Segment {
    shorter_than: u16,
    end: u16,
}

/// Where the first name of a record [`Work::push_named`] wrote lies.
#[derive(Clone, Copy)]
pub(super) struct Written {
    /// Where its first label is: in the record, or, when the whole name is a pointer, where
    /// that points.
    pub(super) at: usize,
    /// Its offset in the record.
    name_at: usize,
    /// Its length in full, and how many of its bytes were written out.
    len: usize,
    kept: usize,
}

impl Work {
    /// Starts a response: owner suffixes are found in the question.
    #[inline(always)]
    pub(super) fn start_names(&mut self) {
        self.segment_count = 0;
    }

    /// The owner name is now the one a CNAME just wrote (`written`): its suffixes are found
    /// where it spelled them out, the rest as before (a CNAME's name is its set's only one,
    /// so its pointer, if any, is to a suffix of the owner before).
    pub(super) fn owner_moved(&mut self, written: &Written) {
        if written.kept > 0 {
            let shorter_than = written.len - written.kept;
            self.push_segment(shorter_than, written.name_at + written.len);
        }
    }

    /// The owner name is now the `len` bytes written out at `at`.
    pub(super) fn owner_written_out(&mut self, at: usize, len: usize) {
        self.push_segment(0, at + len);
    }

    /// The owner name is now `cut` bytes written out at `at`, then the `target_len` bytes of a
    /// DNAME's target written out at `target_at` (the synthesized CNAME points at it).
    pub(super) fn owner_moved_below(&mut self, at: usize, cut: usize, target_at: usize, target_len: usize) {
        self.push_segment(0, target_at + target_len);
        self.push_segment(target_len, at + cut + target_len);
    }

    /// Adds a segment; past [`MAX_SEGMENTS`] (which the chain's length rules out) no suffix
    /// is looked up any more.
    fn push_segment(&mut self, shorter_than: usize, end: usize) {
        match self.segments.get_mut(self.segment_count) {
            Some(segment) if end <= u16::MAX as usize => {
                *segment = Segment { shorter_than: shorter_than as u16, end: end as u16 };
                self.segment_count += 1;
            }
            _ => self.segment_count = SEGMENTS_LOST,
        }
    }

    /// Where the current owner's suffix of `len` bytes (at least one label) is written out in
    /// `w`'s message, if a pointer can reach it.
    #[inline]
    fn locate(&self, len: usize, w: &Writer<'_>) -> Option<usize> {
        let segments = self.segments.get(..self.segment_count)?;
        let end = match segments.iter().rev().find(|s| len > s.shorter_than as usize) {
            Some(segment) => segment.end as usize,
            None => w.name_end(),
        };
        let at = end.checked_sub(len)?;
        (at <= MAX_POINTER).then_some(at)
    }

    /// Forgets the shared suffixes the set written before spelled out.
    #[inline(always)]
    pub(super) fn start_set(&mut self) {
        self.groups = [0; GROUPS];
    }

    /// Appends the stored record `rdata` (of a set with names) under `owner`, TTL replaced
    /// with `ttl` when given, each name in its RDATA compressed as far as the message
    /// allows; returns where its first name lies.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn push_named(
        &mut self,
        zone: &Zone,
        rdata: &Rdata,
        owner: Owner<'_>,
        ttl: Option<u32>,
        section: Section,
        w: &mut Writer<'_>,
    ) -> Result<Written, Full> {
        let Some(slot) = zone.only_name(rdata) else {
            return self.push_names(zone, rdata, owner, ttl, section, w);
        };
        // One name, last in the RDATA (NS, CNAME, PTR, MX...): the stored record up to the
        // labels kept, then the pointer.
        let record = zone.record(rdata);
        let owner_len = owner.wire_len();
        let (at, len) = (slot.at as usize, slot.len as usize);
        let name_at = w.position() + owner_len + 10 + at;
        let (keep, pointer) = self.cut(&slot, name_at, w);
        let pointer = (keep < len).then_some(pointer as u16);
        w.push_cut(section, owner, record, 10 + at + keep, pointer, ttl)?;
        let at = match pointer {
            Some(pointer) if keep == 0 => pointer as usize,
            _ => name_at,
        };
        Ok(Written { at, name_at, len, kept: keep })
    }

    /// [`Work::push_named`] for a record with two names (SOA, MINFO), or none that could be
    /// read.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn push_names(
        &mut self,
        zone: &Zone,
        rdata: &Rdata,
        owner: Owner<'_>,
        ttl: Option<u32>,
        section: Section,
        w: &mut Writer<'_>,
    ) -> Result<Written, Full> {
        let names = zone.names(rdata);
        let owner_len = owner.wire_len();
        let rdata_at = w.position() + owner_len + 10;
        let mut cuts = [NameCut::default(); 2];
        let mut first = Written { at: rdata_at, name_at: rdata_at, len: 0, kept: 0 };
        let mut saved = 0;
        for (i, slot) in names.as_slice().iter().enumerate() {
            let (at, len) = (slot.at as usize, slot.len as usize);
            let name_at = rdata_at + at - saved;
            let (keep, pointer) = self.cut(slot, name_at, w);
            cuts[i] = NameCut { at, len, keep, pointer: pointer as u16 };
            if keep < len {
                saved += len - keep - 2;
            }
            if i == 0 {
                first = Written { at: if keep == 0 { pointer } else { name_at }, name_at, len, kept: keep };
            }
        }
        w.push_names(section, owner, zone.record(rdata), ttl, &cuts[..names.as_slice().len()])?;
        Ok(first)
    }

    /// How much of the name `slot` describes, to be written at `name_at`, to write out, and
    /// where the pointer after it points (see [`Work::anchor`]); the first name of its group
    /// leaves the group's suffix for the later ones to point at.
    #[inline(always)]
    fn cut(&mut self, slot: &NameSlot, name_at: usize, w: &Writer<'_>) -> (usize, usize) {
        let len = slot.len as usize;
        if !self.compress {
            return (len, 0);
        }
        let (keep, pointer) = self.anchor(slot, w);
        let group = slot.group as usize % GROUPS;
        if group != 0 && self.groups[group] == 0 {
            let shared_at = name_at + len - slot.shared as usize;
            if shared_at < name_at + keep && shared_at <= MAX_POINTER {
                self.groups[group] = shared_at as u16;
            }
        }
        (keep, pointer)
    }

    /// How much of the name `slot` describes to write out, and where the pointer after it
    /// points: at its group's suffix when a name before spelled it out, else at the owner's
    /// suffix, else nowhere (the whole name).
    #[inline]
    fn anchor(&self, slot: &NameSlot, w: &Writer<'_>) -> (usize, usize) {
        let len = slot.len as usize;
        let group = self.groups[slot.group as usize % GROUPS];
        if slot.group != 0 && group != 0 {
            return (len - slot.shared as usize, group as usize);
        }
        if slot.owner != 0 {
            if let Some(at) = self.locate(slot.owner as usize, w) {
                return (len - slot.owner as usize, at);
            }
        }
        (len, 0)
    }

    /// Writes the SOA record as negative answers carry it, owned by the apex: prepared with
    /// its names compressed, or, when this responder does not compress or the message is too
    /// long for its pointers, in full.
    #[inline(never)]
    pub(super) fn write_soa(&mut self, zone: &Zone, w: &mut Writer<'_>) -> Result<(), Full> {
        if self.compress && w.push_block(Section::Authority, zone.negative_soa()).is_ok() {
            return Ok(());
        }
        write_soa_in_full(zone, w)
    }

    /// Writes the apex NS set of simple routing into the authority section, as `block`
    /// prepares it with its names compressed, or in full as [`Work::write_soa`] does.
    #[inline(never)]
    pub(super) fn write_authority_ns(&mut self, zone: &Zone, block: &Block, w: &mut Writer<'_>) -> Result<(), Full> {
        if self.compress && w.push_block(Section::Authority, block).is_ok() {
            return Ok(());
        }
        write_authority_ns_in_full(zone, w)
    }
}

/// [`Work::write_soa`] with the SOA's names in full.
#[cold]
#[inline(never)]
fn write_soa_in_full(zone: &Zone, w: &mut Writer<'_>) -> Result<(), Full> {
    let (soa, ttl) = zone.soa();
    let apex = w.name_end().saturating_sub(zone.origin().as_wire().len());
    w.push(Section::Authority, Owner::Pointer(apex as u16), rtype::SOA, ttl, soa).map(|_| ())
}

/// [`Work::write_authority_ns`] with the names in full: every value of the apex NS set in zone
/// order under the set's smallest TTL, all of them or none.
#[cold]
#[inline(never)]
fn write_authority_ns_in_full(zone: &Zone, w: &mut Writer<'_>) -> Result<(), Full> {
    let Some(set) = zone.rrset(zone.apex(), rtype::NS) else { return Ok(()) };
    let apex = w.name_end().saturating_sub(zone.origin().as_wire().len()) as u16;
    let mark = w.mark();
    for member in zone.members(set) {
        for rdata in zone.rdatas(member) {
            if let Err(full) = w.push_record(Section::Authority, apex, zone.record(rdata), Some(set.fallback_ttl)) {
                w.rewind(mark);
                return Err(full);
            }
        }
    }
    Ok(())
}
