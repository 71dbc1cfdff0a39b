//! The cache's table: direct-mapped slots, each holding one response; epochs that leave
//! every entry behind when the view changes, and admission on a second miss in a row.

use super::key::{asks, asks_again, hash, write_around, QUESTION};
use super::replay::{replay_of, reuse, Replay, Reuse, HELD_BYTES};
use super::{AnswerCache, KEY_MAX, RESPONSE_MAX};
use crate::answer::{Outcome, Work};
use crate::view::View;
use crate::wire::HEADER_LEN;

/// One cached response.
#[derive(Clone)]
pub(super) struct Entry {
    pub(super) epoch: u32,
    pub(super) key_len: u8,
    pub(super) len: u16,
    pub(super) outcome: Outcome,
    pub(super) replay: Option<Replay>,
    pub(super) key: [u8; KEY_MAX],
    pub(super) response: [u8; RESPONSE_MAX],
    /// With a held pool ([`Replay::held`]), each candidate's RDATA in pool order.
    pub(super) held: [u8; HELD_BYTES],
}

/// Where a query belongs in the cache.
#[derive(Clone, Copy)]
pub(in crate::answer) struct Slot {
    pub(super) index: usize,
    pub(super) hash: u32,
    /// The length of the query's question name when it has capital letters and the slot is
    /// that of the folded key; 0 when the slot is that of the query's own bytes.
    pub(super) folded_name: u8,
}

impl AnswerCache {
    /// The slot for `packet`, after moving to a new epoch if the view changed; `None` when
    /// the packet is not cacheable by its size.
    #[inline]
    pub(super) fn slot(&mut self, view: &View, packet: &[u8]) -> Option<Slot> {
        if view.id() != self.view {
            self.new_epoch(view.id());
        }
        let key = packet.get(2..).filter(|k| (HEADER_LEN - 2..=KEY_MAX).contains(&k.len()))?;
        let hash = hash(self.seed, key);
        Some(Slot { index: hash as usize & self.mask, hash, folded_name: 0 })
    }

    #[cold]
    pub(super) fn new_epoch(&mut self, view: u64) {
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
    pub(super) fn hit(&self, slot: Slot, view: &View, buf: &mut [u8], len: usize, work: &mut Work) -> Option<Outcome> {
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
                Some(held) => match work.redraw_held(held, &entry.held, response, replay) {
                    Some(mask) if replay.signature != 0 => view
                        .catalog()
                        .zone_at(replay.zone)
                        .is_some_and(|zone| Work::resign_replay(zone, replay.set, mask, response, replay)),
                    drawn => drawn.is_some(),
                },
                None => {
                    match view.catalog().zone_at(replay.zone).and_then(|zone| Some((zone, zone.set_at(replay.set)?))) {
                        Some((zone, set)) => {
                            work.redraw_table(view, zone, set, response, replay)
                                && (replay.signature == 0 || {
                                    let mask = crate::dnssec::subsets::mask_of(work.selection.as_slice());
                                    Work::resign_replay(zone, replay.set, mask, response, replay)
                                })
                        }
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
    pub(super) fn insert(&mut self, slot: Slot, view: &View, packet: &[u8], out: &[u8], outcome: Outcome, work: &Work) {
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
