//! Replaying a cached answer whose rows were drawn at random: where the drawn rows lie, the
//! candidates a small multivalue set's policy draws from (held with their RDATA), and the
//! draw again on a hit, the same call on the same RNG as the uncached path makes.

use crate::answer::{Chosen, Section, Trace, Work};
use crate::config::Routing;
use crate::policy::{HeldPool, Selection, HELD_POOL};
use crate::view::View;
use crate::wire::{Writer, CLASS_IN};
use crate::zone::dnssec::Cover;
use crate::zone::{Pool, Rrset, Zone};

/// Room for the RDATA of a held pool's candidates: 16 AAAA records.
pub(super) const HELD_BYTES: usize = HELD_POOL * 16;

/// Where a cached response's drawn rows lie, and whose they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Replay {
    pub(super) zone: u32,
    pub(super) set: u32,
    pub(super) start: u16,
    pub(super) end: u16,
    pub(super) pointer: u16,
    /// For a multivalue A or AAAA set of up to 16 candidates with one TTL, the candidates
    /// its policy draws from under this entry's zones and health, whose RDATA the entry
    /// keeps: a hit draws from them and writes the RDATA drawn over the rows', without
    /// running the policy or reading the zone (see `Work::redraw_held`).
    pub(super) held: Option<Held>,
    /// Where the rows' RRSIG signatures lie (0: none) and the distance between them: a DO
    /// answer of an exact-mode set, whose signature follows the rows drawn.
    pub(super) signature: u16,
    pub(super) signature_stride: u16,
}

/// A held pool and the length of its candidates' RDATA (4 for A, 16 for AAAA).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Held {
    pub(super) pool: HeldPool,
    pub(super) rdlen: u8,
}

/// How an answer can be reused, from what it drew.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Reuse {
    /// It drew nothing: the same bytes every time.
    Whole,
    /// Its only draw chose one table's rows.
    Redraw,
    /// Other draws.
    Never,
}

pub(super) fn reuse(trace: &Trace, seed_now: u64) -> Reuse {
    if trace.never {
        Reuse::Never
    } else if seed_now == trace.start {
        Reuse::Whole
    } else if trace.tables == 1 && trace.table.before == trace.start && trace.table.after == seed_now {
        Reuse::Redraw
    } else {
        Reuse::Never
    }
}

/// The replay of the traced table in `response`, when its zone and set are the catalog's
/// and the rows in the response are that set's records under the traced owner; with a held
/// pool, its candidates' RDATA is written into `held`.
pub(super) fn replay_of(trace: &Trace, view: &View, response: &[u8], held: &mut [u8; HELD_BYTES]) -> Option<Replay> {
    let table = &trace.table;
    // Constant time whatever the zone's size: admission must stay cheap on a zone of
    // millions of names.
    let catalog = view.catalog();
    let zone_index = catalog.zone_index_at(table.zone)?;
    let zone = catalog.zone_at(zone_index)?;
    let set_index = zone.set_index_at(table.set)?;
    let set = zone.set_at(set_index)?;
    let stride = set.stride as usize;
    let rows = response.get(table.start..table.end)?;
    if stride == 0 || rows.is_empty() || rows.len() % (stride + 2) != 0 || table.end > u16::MAX as usize {
        return None;
    }
    // Each row: the owner pointer, then a record of the set's type and class with RDATA that
    // fills the stride. (Checked per row, not against every member: admission stays cheap
    // for sets of thousands.)
    let head = (0xC000 | table.pointer).to_be_bytes();
    let rtype = set.rtype.to_be_bytes();
    let class = CLASS_IN.to_be_bytes();
    let rdlength = ((stride - 10) as u16).to_be_bytes();
    let rows_ok = stride > 10
        && rows
            .chunks_exact(stride + 2)
            .all(|row| row[..2] == head && row[2..4] == rtype && row[4..6] == class && row[10..12] == rdlength);
    rows_ok.then_some(Replay {
        zone: zone_index,
        set: set_index,
        start: table.start as u16,
        end: table.end as u16,
        pointer: table.pointer,
        held: held_pool(view, zone, set).and_then(|pool| hold(zone, set, pool, rows, held)),
        signature: table.signature,
        signature_stride: table.signature_stride,
    })
}

/// Writes the RDATA of `pool`'s candidates into `held`, in pool order, when a hit can
/// write the RDATA it draws over `rows` and leave the rest: one row per member drawn, each
/// alike but for its RDATA (same owner, type, class, TTL and length).
fn hold(zone: &Zone, set: &Rrset, pool: HeldPool, rows: &[u8], held: &mut [u8; HELD_BYTES]) -> Option<Held> {
    let stride = set.stride as usize;
    let rdlen = stride - 10;
    let row = stride + 2;
    let first = rows.get(..row)?;
    if rows.len() != pool.max as usize * row || rows.chunks_exact(row).any(|r| r[..row - rdlen] != first[..row - rdlen])
    {
        return None;
    }
    let records = zone.records(set);
    for (p, &member) in pool.members[..pool.len as usize].iter().enumerate() {
        let record = records.get(member as usize * stride..(member as usize + 1) * stride)?;
        held.get_mut(p * rdlen..(p + 1) * rdlen)?.copy_from_slice(&record[10..]);
    }
    Some(Held { pool, rdlen: rdlen as u8 })
}

/// The candidates `set`'s policy draws from now, when a hit can draw from them itself: a
/// multivalue A or AAAA set with one TTL and up to 16 candidates, at least one of them
/// healthy. The same inputs `Work::choose` reads; an entry lives only as long as the zones
/// and health it was answered from, so the pool stays the policy's for as long.
fn held_pool(view: &View, zone: &Zone, set: &Rrset) -> Option<HeldPool> {
    if set.routing != Routing::Multivalue || !set.uniform_ttl || !matches!(set.stride, 14 | 26) {
        return None;
    }
    let max = view.catalog().settings().max_answers;
    if !set.checked {
        return HeldPool::unchecked(zone.members(set).len(), max);
    }
    match view.pool(set)? {
        Pool::Small { block, len } => HeldPool::listed(block, len, max),
        Pool::Large(_) => None,
    }
}

impl Work {
    /// Runs `set`'s policy again and writes the rows it chooses over a cached response's
    /// (`replay`); false when they would not take the same room.
    #[inline]
    pub(super) fn redraw_table(
        &mut self,
        view: &View,
        zone: &Zone,
        set: &Rrset,
        response: &mut [u8],
        replay: &Replay,
    ) -> bool {
        self.settings = *view.catalog().settings();
        let Chosen::Records(ttl) = self.choose(zone, set, view) else {
            return false;
        };
        let (start, end) = (replay.start as usize, replay.end as usize);
        let Some(mut w) = Writer::resume(response, start, end) else {
            return false;
        };
        let picks = self.selection.as_slice();
        w.push_table(Section::Answer, replay.pointer, zone.records(set), set.stride as usize, picks, ttl).is_ok()
            && w.position() == end
    }

    /// [`Work::redraw_table`] for a set whose candidates the entry holds (`held`, their
    /// RDATA in `rdata`): the policy's draw from them, each member drawn written as the RDATA
    /// of the next row (the set has one TTL, so the rest of each row stays as it is). Returns
    /// the mask of the members drawn (see [`crate::dnssec::subsets::mask_of`]), or `None`.
    #[inline(always)]
    pub(super) fn redraw_held(
        &mut self,
        held: &Held,
        rdata: &[u8; HELD_BYTES],
        response: &mut [u8],
        replay: &Replay,
    ) -> Option<u16> {
        let rows = response.get_mut(replay.start as usize..replay.end as usize)?;
        match held.rdlen {
            4 => write_drawn::<16>(&held.pool, rdata, rows, &mut self.rng, &mut self.selection),
            16 => write_drawn::<28>(&held.pool, rdata, rows, &mut self.rng, &mut self.selection),
            _ => None,
        }
    }

    /// Writes over a replayed DO answer's RRSIGs the signature of the members just drawn
    /// (`mask`), from `zone`'s exact store of `set`; false when it has none.
    #[cold]
    #[inline(never)]
    pub(super) fn resign_replay(zone: &Zone, set: u32, mask: u16, response: &mut [u8], replay: &Replay) -> bool {
        let Some(signatures) = zone.signatures() else { return false };
        for key in 0..signatures.keys(set) {
            let Some(rrsig) = signatures.rrsig(set, Cover::Subset(mask), key) else { return false };
            let at = replay.signature as usize + key * replay.signature_stride as usize;
            let Some(place) = response.get_mut(at..at + rrsig.signature.len()) else { return false };
            place.copy_from_slice(rrsig.signature);
        }
        true
    }
}

/// Draws from `pool` and writes the drawn candidates' RDATA (`ROW` - 12 bytes each, in pool
/// order in `rdata`) over the RDATA of `rows` (`ROW` bytes each), one row per member drawn;
/// false when the rows do not match the draw.
#[inline(always)]
fn write_drawn<const ROW: usize>(
    pool: &HeldPool,
    rdata: &[u8; HELD_BYTES],
    rows: &mut [u8],
    rng: &mut fastrand::Rng,
    scratch: &mut Selection,
) -> Option<u16> {
    if rows.len() != pool.max as usize * ROW {
        return None;
    }
    let mut mask = 0u16;
    pool.draw_places(rng, scratch, |k, p| {
        // The owner pointer, TYPE, CLASS, TTL and RDLENGTH come first; the lengths are
        // constants here (a captured `let` would make each copy a `memcpy` call). A place is
        // under HELD_POOL: masking changes nothing and spares a bounds check.
        let from = (p & (HELD_POOL - 1)) * (ROW - 12);
        let at = k * ROW + 12;
        rows[at..at + (ROW - 12)].copy_from_slice(&rdata[from..from + (ROW - 12)]);
        mask |= 1 << (pool.members[p & (HELD_POOL - 1)] & 15);
    });
    Some(mask)
}
