//! A UDP worker's answer cache: the responses to the queries it sees again and again, kept
//! whole, so that answering one of those is a table lookup and a copy instead of parsing,
//! finding the name, choosing and writing records.
//!
//! - **The key** is the query as received, every byte but the ID: flags, question, EDNS. The
//!   answer path reads nothing else but the published view (zones, health, healthy pools)
//!   and its RNG, so the same key under the same view ([`View::id`]) gives the same
//!   response. A new view starts a new epoch, which leaves every entry behind.
//! - **Random answers.** The answer path tells ([`Trace`]) what it drew from its RNG. An
//!   answer that drew nothing is kept as it is. An answer whose only draw chose the rows of
//!   one record table (multivalue and weighted A/AAAA, the records this server exists for) is
//!   kept with where that table lies: a hit copies the response, runs the set's policy again
//!   and writes the rows it chooses over the old ones. The draw is the same call on the same
//!   RNG as the uncached path makes, so a cached responder and an uncached one with the same
//!   seed answer byte for byte alike (`tests.rs` checks this). Anything else that drew
//!   (values shuffled, records written one at a time) is not kept.
//! - **Held candidates.** For a multivalue A or AAAA set of up to 16 candidates with one
//!   TTL, the entry also keeps the candidates the policy draws from, and their RDATA. They
//!   stay the policy's for as long as the entry lives (its epoch is one view), so a hit makes the policy's draw from them and writes the RDATA drawn
//!   over the rows' (every row is alike but for its RDATA), without looking up the set's
//!   health, running the policy or reading the zone.
//! - **Letter case.** Resolvers that randomize the case of the names they ask (0x20, as
//!   Google Public DNS does) would miss every time under byte-for-byte keys. Entries are kept
//!   under the query with its question name in lower case, and with that name in lower case
//!   in the response. A query whose name has a capital letter misses the exact lookup, which
//!   stays as it was for the common lower-case query, and is looked up again folded; a hit there
//!   keeps the query's own spelling of the question. Everything else in a response points at
//!   the question by offset, never copies it, so the result is what the uncached path writes
//!   (`tests.rs` checks this with names in random case).
//! - **In place.** A hit writes the response over the query in the worker's receive buffer,
//!   around what the query already holds right (its ID and, when folded, its name): no copy
//!   of the query is made. A miss leaves the query as it was, for the full path.
//! - **Admission.** An entry is written the second time its key is seen in a row at its
//!   slot, so a flood of distinct names costs a hash and a compare, not a copy each.
//! - **Memory.** Direct-mapped, `entries` slots of about 950 bytes, allocated when the worker
//!   starts; keys up to [`KEY_MAX`] bytes and responses up to [`RESPONSE_MAX`] bytes, anything
//!   longer is answered uncached. The hash is keyed per worker.

use super::{Outcome, Section, Trace, Work};
use crate::config::Routing;
use crate::policy::{HeldPool, Selection, HELD_POOL};
use crate::view::View;
use crate::wire::{Writer, CLASS_IN, HEADER_LEN};
use crate::zone::{Pool, Rrset, Zone};

/// Longest query, less its ID, that is cached.
pub const KEY_MAX: usize = 112;
/// Longest response that is cached (the plain DNS limit over UDP).
pub const RESPONSE_MAX: usize = 512;
/// Largest cache, in entries.
pub const MAX_ENTRIES: usize = crate::limits::ANSWER_CACHE.max;

/// A worker's answer cache; see the module documentation.
pub struct AnswerCache {
    entries: Box<[Entry]>,
    /// Per slot, the hash of the last key that missed there (admission on a second miss).
    seen: Box<[u32]>,
    mask: usize,
    /// Hash key.
    seed: u64,
    /// The view the current epoch's entries were answered from.
    view: u64,
    /// Entries of other epochs are empty; 0 is never current.
    epoch: u32,
    hits: u64,
    /// A query's key with its question name in lower case (see `fold`), and room to fold
    /// eight bytes at a time up to its end.
    folded: [u8; KEY_MAX + 8],
}

/// One cached response.
#[derive(Clone)]
struct Entry {
    epoch: u32,
    key_len: u8,
    len: u16,
    outcome: Outcome,
    replay: Option<Replay>,
    key: [u8; KEY_MAX],
    response: [u8; RESPONSE_MAX],
    /// With a held pool ([`Replay::held`]), each candidate's RDATA in pool order.
    held: [u8; HELD_BYTES],
}

/// Room for the RDATA of a held pool's candidates: 16 AAAA records.
const HELD_BYTES: usize = HELD_POOL * 16;

/// Where a cached response's drawn rows lie, and whose they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Replay {
    zone: u32,
    set: u32,
    start: u16,
    end: u16,
    pointer: u16,
    /// For a multivalue A or AAAA set of up to 16 candidates with one TTL, the candidates
    /// its policy draws from under this entry's zones and health, whose RDATA the entry
    /// keeps: a hit draws from them and writes the RDATA drawn over the rows', without
    /// running the policy or reading the zone (see `Work::redraw_held`).
    held: Option<Held>,
}

/// A held pool and the length of its candidates' RDATA (4 for A, 16 for AAAA).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Held {
    pool: HeldPool,
    rdlen: u8,
}

/// Where a query belongs in the cache.
#[derive(Clone, Copy)]
pub(super) struct Slot {
    index: usize,
    hash: u32,
    /// The length of the query's question name when it has capital letters and the slot is
    /// that of the folded key; 0 when the slot is that of the query's own bytes.
    folded_name: u8,
}

impl AnswerCache {
    /// A cache of `entries` slots (a power of two, at most [`MAX_ENTRIES`]), its hash keyed
    /// with `seed`.
    pub fn new(entries: usize, seed: u64) -> AnswerCache {
        let entries = entries.clamp(1, MAX_ENTRIES).next_power_of_two();
        let empty = Entry {
            epoch: 0,
            key_len: 0,
            len: 0,
            outcome: Outcome::DROPPED,
            replay: None,
            key: [0; KEY_MAX],
            response: [0; RESPONSE_MAX],
            held: [0; HELD_BYTES],
        };
        AnswerCache {
            entries: vec![empty; entries].into_boxed_slice(),
            seen: vec![0; entries].into_boxed_slice(),
            mask: entries - 1,
            seed,
            view: 0,
            epoch: 1,
            hits: 0,
            folded: [0; KEY_MAX + 8],
        }
    }

    /// Answers served from the cache so far.
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// Answers the query in `buf[..len]` from the cache, over the query in `buf`; else leaves
    /// `buf` as it was and says where its answer would be kept (`None`: it would not), for
    /// [`AnswerCache::missed`] once the uncached path has answered. Inlined into both callers:
    /// it is the whole of a hit.
    #[inline(always)]
    pub(super) fn find(
        &mut self,
        view: &View,
        buf: &mut [u8],
        len: usize,
        work: &mut Work,
    ) -> Result<Outcome, Option<Slot>> {
        let Some(mut slot) = buf.get(..len).and_then(|packet| self.slot(view, packet)) else {
            return Err(None);
        };
        // One call of `hit`, so that it stays inlined: the second time round is the folded
        // lookup (kept entries hold lower-case names).
        loop {
            if let Some(outcome) = self.hit(slot, view, buf, len, work) {
                self.hits += 1;
                return Ok(outcome);
            }
            if slot.folded_name != 0 {
                return Err(Some(slot));
            }
            match self.fold(&buf[..len]) {
                Some(folded) => slot = folded,
                None => return Err(Some(slot)),
            }
        }
    }

    /// The slot of `packet`'s key with its question name in lower case, which is left in
    /// `self.folded`; `None` when the name has no capital letter (or no plain name).
    #[cold]
    #[inline(never)]
    fn fold(&mut self, packet: &[u8]) -> Option<Slot> {
        let name_len = question_name_len(packet)?;
        let hash = fold_and_hash(self.seed, &packet[2..], QUESTION - 2..QUESTION - 2 + name_len, &mut self.folded)?;
        Some(Slot { index: hash as usize & self.mask, hash, folded_name: name_len as u8 })
    }

    /// After a miss at `slot`: keeps the answer `work` wrote into `out` for `packet` if this
    /// is the second miss in a row there and the answer can be reused.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn missed(&mut self, slot: Slot, view: &View, packet: &[u8], out: &[u8], outcome: Outcome, work: &Work) {
        if self.seen[slot.index] == slot.hash {
            self.insert(slot, view, packet, out, outcome, work);
        } else {
            self.seen[slot.index] = slot.hash;
        }
    }

    /// The slot for `packet`, after moving to a new epoch if the view changed; `None` when
    /// the packet is not cacheable by its size.
    #[inline]
    fn slot(&mut self, view: &View, packet: &[u8]) -> Option<Slot> {
        if view.id() != self.view {
            self.new_epoch(view.id());
        }
        let key = packet.get(2..).filter(|k| (HEADER_LEN - 2..=KEY_MAX).contains(&k.len()))?;
        let hash = hash(self.seed, key);
        Some(Slot { index: hash as usize & self.mask, hash, folded_name: 0 })
    }

    #[cold]
    fn new_epoch(&mut self, view: u64) {
        self.view = view;
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            // Numbers come round again after 2^32 changes: empty every entry for real.
            for entry in self.entries.iter_mut() {
                entry.epoch = 0;
            }
            self.epoch = 1;
        }
    }

    /// Writes the cached response for the query in `buf[..len]` over it, if there is one;
    /// else leaves `buf` as it was.
    #[inline(always)]
    fn hit(&self, slot: Slot, view: &View, buf: &mut [u8], len: usize, work: &mut Work) -> Option<Outcome> {
        let entry = &self.entries[slot.index];
        let name_len = slot.folded_name as usize;
        let key = if name_len == 0 { buf.get(2..len)? } else { self.folded.get(..len.checked_sub(2)?)? };
        if entry.epoch != self.epoch || entry.key_len as usize != key.len() || entry.key[..key.len()] != *key {
            return None;
        }
        let key_len = key.len();
        let size = entry.len as usize;
        if buf.len() < size || size < QUESTION || (name_len > 0 && !asks(&entry.response[..size], name_len)) {
            return None;
        }
        let response = &mut buf[..size];
        write_around(response, &entry.response[..size], 0, name_len);
        if let Some(replay) = &entry.replay {
            let drawn = match &replay.held {
                Some(held) => work.redraw_held(held, &entry.held, response, replay),
                None => {
                    match view.catalog().zone_at(replay.zone).and_then(|zone| Some((zone, zone.set_at(replay.set)?))) {
                        Some((zone, set)) => work.redraw_table(view, zone, set, response, replay),
                        None => false,
                    }
                }
            };
            if !drawn {
                // Cannot happen under the same zones and health. Put the query back (its key
                // is the entry's, spelled as asked) to be answered uncached.
                debug_assert!(false, "a cached table could not be drawn again");
                write_around(&mut buf[..key_len + 2], &entry.key[..key_len], 2, name_len);
                return None;
            }
        }
        Some(entry.outcome)
    }

    /// Keeps the response `work` just wrote into `out` for `packet`, when it can be reused.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn insert(&mut self, slot: Slot, view: &View, packet: &[u8], out: &[u8], outcome: Outcome, work: &Work) {
        let len = outcome.len;
        if len == 0 || len > RESPONSE_MAX || len > out.len() {
            return;
        }
        let response = &out[..len];
        let mut held = [0; HELD_BYTES];
        let replay = match reuse(&work.trace, work.rng.get_seed()) {
            Reuse::Whole => None,
            Reuse::Redraw if !outcome.truncated => match replay_of(&work.trace, view, response, &mut held) {
                Some(replay) => Some(replay),
                None => return,
            },
            Reuse::Redraw | Reuse::Never => return,
        };
        let name_len = slot.folded_name as usize;
        if name_len > 0 && !asks_again(response, &packet[QUESTION..QUESTION + name_len]) {
            // The response does not carry the question where a hit writes it back.
            return;
        }
        let key = if name_len == 0 { &packet[2..] } else { &self.folded[..packet.len() - 2] };
        let entry = &mut self.entries[slot.index];
        entry.epoch = self.epoch;
        entry.key_len = key.len() as u8;
        entry.key[..key.len()].copy_from_slice(key);
        entry.len = len as u16;
        entry.response[..len].copy_from_slice(response);
        entry.response[QUESTION..QUESTION + name_len].make_ascii_lowercase();
        entry.outcome = outcome;
        entry.replay = replay;
        entry.held = held;
    }
}

/// Where the question name starts, in a query and in its response.
const QUESTION: usize = HEADER_LEN;

/// The length of `packet`'s one question name, when it has one plain (uncompressed) name.
fn question_name_len(packet: &[u8]) -> Option<usize> {
    if packet.get(4..6)? != [0, 1] {
        return None;
    }
    let mut pos = QUESTION;
    loop {
        let len = *packet.get(pos)? as usize;
        if len == 0 {
            return Some(pos + 1 - QUESTION);
        }
        if len > 63 || pos + 1 + len >= packet.len() {
            return None;
        }
        pos += 1 + len;
    }
}

/// Copies `key` into `folded` with the ASCII capital letters of `key[name]` in lower case,
/// eight bytes at a time, and returns the copy's [`hash`], computed on the same words as
/// they are written (reading stores just made back at other offsets can stall); `None` when
/// `key[name]` has no capital letter.
fn fold_and_hash(seed: u64, key: &[u8], name: std::ops::Range<usize>, folded: &mut [u8; KEY_MAX + 8]) -> Option<u32> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    if key.len() > KEY_MAX {
        return None;
    }
    let mut h = seed ^ key.len() as u64;
    let mut any = 0;
    let mut fold = |start: usize, word: u64, out: &mut [u8]| {
        // The high bit of each byte that is `A..=Z`: with its own high bit cleared, a byte
        // plus 0x3F reaches 0x80 from `A` on and plus 0x25 from past `Z` on, carrying into
        // no other byte; a byte whose high bit was set is never a capital.
        let low = word & !HIGH;
        let capitals = ((low + ONES * (0x80 - b'A' as u64)) ^ (low + ONES * (0x80 - b'Z' as u64 - 1))) & !word & HIGH;
        // Only the name's bytes in this word.
        let from = name.start.saturating_sub(start).min(8);
        let to = name.end.saturating_sub(start).min(8);
        let inside = if to > from { (u64::MAX >> (64 - 8 * (to - from))) << (8 * from) } else { 0 };
        let capitals = capitals & inside;
        any |= capitals;
        let word = word | capitals >> 2;
        out.copy_from_slice(&word.to_le_bytes());
        h = mix(h, word);
    };
    let mut chunks = key.chunks_exact(8);
    let mut start = 0;
    for chunk in &mut chunks {
        fold(start, u64::from_le_bytes(chunk.try_into().expect("8 bytes")), &mut folded[start..start + 8]);
        start += 8;
    }
    if !chunks.remainder().is_empty() {
        // The same last word as `hash` takes; where it overlaps the word before, it writes
        // the same folded bytes again.
        let (start, word) = tail_word(key);
        fold(start, word, &mut folded[start..start + 8]);
    }
    (any != 0).then_some(finish(h))
}

/// Whether `response` holds one question whose name is `name` but for letter case.
fn asks_again(response: &[u8], name: &[u8]) -> bool {
    asks(response, name.len()) && response[QUESTION..QUESTION + name.len()].eq_ignore_ascii_case(name)
}

/// Copies `from`, whose first byte is `buf[at]`, over the query in `buf` but for what the
/// query already has right: its ID and, when the entry's key holds it folded (`name_len`
/// bytes), its question name as asked. A hit writes a response over its query this way
/// (`at` 0), and puts the query back from the key (`at` 2) when it cannot answer after all.
#[inline(always)]
fn write_around(buf: &mut [u8], from: &[u8], at: usize, name_len: usize) {
    if name_len == 0 {
        buf[2..].copy_from_slice(&from[2 - at..]);
    } else {
        buf[2..QUESTION].copy_from_slice(&from[2 - at..QUESTION - at]);
        buf[QUESTION + name_len..].copy_from_slice(&from[QUESTION + name_len - at..]);
    }
}

/// Whether `response` holds one question, whose name (`name_len` bytes) it has room for.
fn asks(response: &[u8], name_len: usize) -> bool {
    response.get(4..6) == Some(&[0, 1]) && response.len() >= QUESTION + name_len
}

/// How an answer can be reused, from what it drew.
#[derive(Debug, PartialEq, Eq)]
enum Reuse {
    /// It drew nothing: the same bytes every time.
    Whole,
    /// Its only draw chose one table's rows.
    Redraw,
    /// Other draws.
    Never,
}

fn reuse(trace: &Trace, seed_now: u64) -> Reuse {
    if seed_now == trace.start {
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
fn replay_of(trace: &Trace, view: &View, response: &[u8], held: &mut [u8; HELD_BYTES]) -> Option<Replay> {
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
    fn redraw_table(&mut self, view: &View, zone: &Zone, set: &Rrset, response: &mut [u8], replay: &Replay) -> bool {
        self.settings = *view.catalog().settings();
        let super::Chosen::Records(ttl) = self.choose(zone, set, view) else {
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
    /// of the next row (the set has one TTL, so the rest of each row stays as it is).
    #[inline(always)]
    fn redraw_held(&mut self, held: &Held, rdata: &[u8; HELD_BYTES], response: &mut [u8], replay: &Replay) -> bool {
        let Some(rows) = response.get_mut(replay.start as usize..replay.end as usize) else {
            return false;
        };
        match held.rdlen {
            4 => write_drawn::<16>(&held.pool, rdata, rows, &mut self.rng, &mut self.selection),
            16 => write_drawn::<28>(&held.pool, rdata, rows, &mut self.rng, &mut self.selection),
            _ => false,
        }
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
) -> bool {
    if rows.len() != pool.max as usize * ROW {
        return false;
    }
    pool.draw_places(rng, scratch, |k, p| {
        // The owner pointer, TYPE, CLASS, TTL and RDLENGTH come first; the lengths are
        // constants here (a captured `let` would make each copy a `memcpy` call). A place is
        // under HELD_POOL: masking changes nothing and spares a bounds check.
        let from = (p & (HELD_POOL - 1)) * (ROW - 12);
        let at = k * ROW + 12;
        rows[at..at + (ROW - 12)].copy_from_slice(&rdata[from..from + (ROW - 12)]);
    });
    true
}

/// A keyed hash of a query's bytes, eight at a time.
#[inline]
fn hash(seed: u64, key: &[u8]) -> u32 {
    let mut h = seed ^ key.len() as u64;
    let mut chunks = key.chunks_exact(8);
    for chunk in &mut chunks {
        h = mix(h, u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
    }
    if !chunks.remainder().is_empty() {
        h = mix(h, tail_word(key).1);
    }
    finish(h)
}

/// Where a key's last word starts and the word: the key's last eight bytes, overlapping the
/// word before them (no copy of the tail: keys are at least ten bytes), or a shorter key
/// padded with zeros.
#[inline(always)]
fn tail_word(key: &[u8]) -> (usize, u64) {
    match key.len().checked_sub(8) {
        Some(start) => (start, u64::from_le_bytes(key[start..].try_into().expect("8 bytes"))),
        None => {
            let mut word = [0u8; 8];
            word[..key.len()].copy_from_slice(key);
            (0, u64::from_le_bytes(word))
        }
    }
}

/// One word into [`hash`]'s state (the multiplier is the golden ratio in 64 bits).
#[inline(always)]
fn mix(h: u64, word: u64) -> u64 {
    (h.rotate_left(23) ^ word).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// [`hash`]'s state to a slot hash.
#[inline(always)]
fn finish(h: u64) -> u32 {
    (h >> 32) as u32 ^ h as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::{Responder, Transport};
    use crate::config::Config;
    use crate::health::HealthSnapshot;
    use crate::zone::Catalog;
    use std::path::Path;
    use std::sync::Arc;

    const ZONE: &str = "$TTL 300\n@ SOA ns1 host 1 7200 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.53\n\
                        static A 192.0.2.7\nshuffled A 192.0.2.8\nshuffled A 192.0.2.9\n";
    const BIG_TXT: &str = "big TXT \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\" \"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\"\n";

    fn setup() -> View {
        let mut text = String::from("[[zone]]\norigin = \"example.com.\"\nfile = \"z\"\n");
        for i in 0..16 {
            text.push_str(&format!(
                "[[record]]\nname = \"mv\"\ntype = \"A\"\nrouting = \"multivalue\"\nset_id = \"m{i}\"\nvalues = [\"10.0.0.{i}\"]\n"
            ));
        }
        // One member with two values: its values are shuffled, an answer that is not kept.
        text.push_str("[[record]]\nname = \"two\"\ntype = \"A\"\nrouting = \"multivalue\"\nset_id = \"a\"\nvalues = [\"10.1.0.1\", \"10.1.0.2\"]\n");
        let config = Config::parse(&text, Path::new("t.toml"), &|_| Ok(format!("{ZONE}{BIG_TXT}"))).unwrap();
        View::new(Arc::new(Catalog::build(&config)), HealthSnapshot::initial(&config.checks))
    }

    fn query(name: &str) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        q
    }

    /// A responder with a 64-entry cache and a fixed seed.
    fn cached_responder() -> Responder {
        let mut responder = Responder::with_seed(1);
        responder.set_cache(64);
        responder
    }

    /// Asks `packet` `times` times; returns the hits.
    fn ask(responder: &mut Responder, view: &View, packet: &[u8], times: usize) -> u64 {
        let before = responder.cache_hits();
        let mut out = [0u8; 4096];
        for _ in 0..times {
            assert!(responder.respond(view, packet, Transport::Udp, &mut out).len > 0);
        }
        responder.cache_hits() - before
    }

    #[test]
    fn kept_on_the_second_miss_and_hit_from_the_third_question() {
        let view = setup();
        let mut responder = cached_responder();
        assert_eq!(ask(&mut responder, &view, &query("static.example.com"), 5), 3);
        assert_eq!(ask(&mut responder, &view, &query("mv.example.com"), 5), 3);
        assert_eq!(ask(&mut responder, &view, &query("nope.example.com"), 5), 3);
        // Shuffled values draw more than one table's rows: never kept.
        assert_eq!(ask(&mut responder, &view, &query("two.example.com"), 5), 0);
        // Over TCP nothing is cached.
        let mut out = [0u8; 4096];
        let before = responder.cache_hits();
        for _ in 0..5 {
            responder.respond(&view, &query("static.example.com"), Transport::Tcp, &mut out);
        }
        assert_eq!(responder.cache_hits(), before);
    }

    #[test]
    fn a_small_multivalue_set_keeps_its_candidates_and_draws_as_the_policy_does() {
        let view = setup();
        let mut cached = cached_responder();
        let mut plain = Responder::with_seed(1);
        let packet = query("mv.example.com");
        let (mut a, mut b) = ([0u8; 4096], [0u8; 4096]);
        let mut answers = std::collections::HashSet::new();
        for _ in 0..40 {
            let x = cached.respond(&view, &packet, Transport::Udp, &mut a);
            let y = plain.respond(&view, &packet, Transport::Udp, &mut b);
            assert_eq!(a[..x.len], b[..y.len]);
            answers.insert(a[..x.len].to_vec());
        }
        assert_eq!(cached.cache_hits(), 38);
        assert!(answers.len() > 30, "{} distinct answers", answers.len());
        // The hits drew from the entry's candidates: all 16 members, 8 at a time, with each
        // one's address (10.0.0.i) held in pool order.
        let cache = cached.cache.as_ref().unwrap();
        let kept: Vec<_> = cache.entries.iter().filter(|e| e.epoch == cache.epoch && e.replay.is_some()).collect();
        let entry = kept.first().expect("a kept multivalue answer");
        let held = entry.replay.and_then(|r| r.held).expect("a held pool");
        assert_eq!((held.pool.len, held.pool.max, held.rdlen), (16, 8, 4));
        assert_eq!(held.pool.members, std::array::from_fn(|i| i as u8));
        let addresses: Vec<[u8; 4]> = (0..16).map(|i| [10, 0, 0, i]).collect();
        assert_eq!(entry.held[..64], addresses.concat());
    }

    #[test]
    fn new_zones_or_new_health_leave_every_entry_behind() {
        let view = setup();
        let other_catalog = setup().catalog().clone();
        let other_health = View::new(view.catalog().clone(), HealthSnapshot::initial(&[]));
        let other_both = View::new(other_catalog, HealthSnapshot::initial(&[]));
        let mut responder = cached_responder();
        let packet = query("static.example.com");
        assert_eq!(ask(&mut responder, &view, &packet, 3), 1);
        // The first question under new health or zones misses, and its answer is kept at
        // once: the slot still remembers the question.
        assert_eq!(ask(&mut responder, &other_health, &packet, 3), 2);
        assert_eq!(ask(&mut responder, &other_both, &packet, 3), 2);
    }

    #[test]
    fn a_flood_of_distinct_names_writes_no_entry() {
        let view = setup();
        let mut responder = cached_responder();
        for i in 0..2000 {
            ask(&mut responder, &view, &query(&format!("n{i}.example.com")), 1);
        }
        let cache = responder.cache.as_ref().unwrap();
        let written = cache.entries.iter().filter(|e| e.epoch == cache.epoch).count();
        // Only a hash collision between two names asked one after the other can admit one.
        assert!(written <= 2, "{written} entries written");
    }

    #[test]
    fn long_questions_and_long_answers_are_answered_uncached() {
        let view = setup();
        let mut responder = cached_responder();
        let long = format!("{}.{}.example.com", "a".repeat(60), "b".repeat(60));
        assert!(query(&long).len() - 2 > KEY_MAX);
        assert_eq!(ask(&mut responder, &view, &query(&long), 4), 0);
        // A TXT answer over 512 bytes, asked with EDNS (1232 bytes): answered in full, uncached.
        let mut big = query("big.example.com");
        big[11] = 1;
        let qtype = big.len() - 4;
        big[qtype..qtype + 2].copy_from_slice(&16u16.to_be_bytes());
        big.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        let mut out = [0u8; 4096];
        let outcome = responder.respond(&view, &big, Transport::Udp, &mut out);
        assert!(outcome.len > RESPONSE_MAX && !outcome.truncated, "{outcome:?}");
        assert_eq!(ask(&mut responder, &view, &big, 4), 0);
    }

    #[test]
    fn an_entry_is_about_950_bytes_and_sizes_round_to_powers_of_two() {
        assert!(std::mem::size_of::<Entry>() <= 960, "{}", std::mem::size_of::<Entry>());
        let cache = AnswerCache::new(1000, 0);
        assert_eq!(cache.entries.len(), 1024);
        assert_eq!(AnswerCache::new(1 << 20, 0).entries.len(), MAX_ENTRIES);
    }

    #[test]
    fn names_spelled_in_other_cases_share_one_entry() {
        let view = setup();
        let mut responder = cached_responder();
        // Two misses in any spelling keep the entry; every spelling then hits it.
        assert_eq!(ask(&mut responder, &view, &query("STATIC.example.com"), 1), 0);
        assert_eq!(ask(&mut responder, &view, &query("Static.Example.com"), 1), 0);
        for name in ["static.example.com", "sTaTiC.eXaMpLe.CoM", "STATIC.EXAMPLE.COM"] {
            let packet = query(name);
            assert_eq!(ask(&mut responder, &view, &packet, 1), 1, "{name}");
            let mut out = [0u8; 512];
            let len = responder.respond(&view, &packet, Transport::Udp, &mut out).len;
            assert_eq!(out[QUESTION..QUESTION + name.len() + 2], packet[QUESTION..QUESTION + name.len() + 2], "{name}");
            assert!(len > packet.len());
        }
        // The type is not folded: MX is another entry.
        let mut mx = query("STATIC.example.com");
        let at = mx.len() - 3;
        mx[at] = 15;
        assert_eq!(ask(&mut responder, &view, &mx, 1), 0);
    }

    #[test]
    fn an_answer_kept_without_its_question_is_not_given_to_another_spelling() {
        // A question cut short before its type gets FORMERR without the question; kept for
        // the lower-case spelling, it cannot take the question of another (found by fuzzing).
        let view = setup();
        let mut responder = cached_responder();
        let mut cut = query("static.example.com");
        cut.truncate(cut.len() - 4);
        assert_eq!(ask(&mut responder, &view, &cut, 3), 1);
        let mut spelled = cut.clone();
        spelled[QUESTION + 1] = b'S';
        let mut out = [0u8; 512];
        let outcome = responder.respond(&view, &spelled, Transport::Udp, &mut out);
        assert_eq!(outcome.len, QUESTION);
        assert_eq!(out[3] & 0x0F, 1, "FORMERR");
    }

    #[test]
    fn only_a_plain_question_name_is_folded() {
        let name_len = "static.example.com".len() + 2;
        assert_eq!(question_name_len(&query("static.example.com")), Some(name_len));
        assert_eq!(question_name_len(&query("A-1.b")), Some(7));
        // Two questions, a compression pointer, a name cut short: not folded.
        let mut two = query("Static.example.com");
        two[5] = 2;
        assert_eq!(question_name_len(&two), None);
        let mut pointer = query("Static");
        pointer[QUESTION + 7] = 0xC0;
        assert_eq!(question_name_len(&pointer), None);
        let cut = query("Static.example.com");
        assert_eq!(question_name_len(&cut[..QUESTION + 10]), None);
        // Only the name: a type that reads as a capital letter is another question.
        let mut cache = AnswerCache::new(16, 1);
        let mut typed = query("static");
        let at = typed.len() - 3;
        typed[at] = b'A';
        assert!(cache.fold(&typed).is_none());
        let mut upper = typed.clone();
        upper[QUESTION + 1] = b'S';
        let slot = cache.fold(&upper).expect("a capital in the name");
        assert_eq!(slot.folded_name as usize, 8);
        assert_eq!(cache.folded[..typed.len() - 2], typed[2..]);
    }

    #[test]
    fn folding_lowercases_exactly_the_ascii_capitals_of_the_name_and_hashes_the_result() {
        let check = |key: &[u8], name: std::ops::Range<usize>| {
            let mut folded = [0xEEu8; KEY_MAX + 8];
            let got = fold_and_hash(7, key, name.clone(), &mut folded);
            let mut expected = key.to_vec();
            expected[name.clone()].make_ascii_lowercase();
            if key[name.clone()].iter().any(u8::is_ascii_uppercase) {
                assert_eq!(got, Some(hash(7, &expected)), "{name:?}");
                assert_eq!(folded[..key.len()], expected[..], "{name:?}");
            } else {
                assert_eq!(got, None, "{name:?}");
            }
        };
        for byte in 0..=255u8 {
            for at in 0..24 {
                let mut key = [b'Q'; 30];
                key[at] = byte;
                check(&key, 3..20);
                check(&key, at..at + 1);
            }
        }
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..5000 {
            let key: Vec<u8> = (0..rng.usize(1..=KEY_MAX)).map(|_| rng.u8(..)).collect();
            let start = rng.usize(..key.len());
            check(&key, start..rng.usize(start..=key.len()));
        }
    }

    #[test]
    fn the_hash_is_keyed() {
        let key = query("static.example.com");
        assert_eq!(hash(1, &key), hash(1, &key));
        assert_ne!(hash(1, &key), hash(2, &key));
        assert_ne!(hash(1, &key[..key.len() - 1]), hash(1, &key));
    }
}
