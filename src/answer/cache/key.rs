//! The cache's key: the query as received less its ID, its hash (keyed per worker), and
//! the question name folded to lower case for resolvers that randomize its letters (0x20).

use super::{AnswerCache, Slot, KEY_MAX};
use crate::wire::HEADER_LEN;

impl AnswerCache {
    /// The slot of `packet`'s key with its question name in lower case, which is left in
    /// `self.folded`; `None` when the name has no capital letter (or no plain name).
    #[cold]
    #[inline(never)]
    pub(super) fn fold(&mut self, packet: &[u8]) -> Option<Slot> {
        let name_len = question_name_len(packet)?;
        let hash = fold_and_hash(self.seed, &packet[2..], QUESTION - 2..QUESTION - 2 + name_len, &mut self.folded)?;
        Some(Slot { index: hash as usize & self.mask, hash, folded_name: name_len as u8 })
    }
}

/// Where the question name starts, in a query and in its response.
pub(super) const QUESTION: usize = HEADER_LEN;

/// The length of `packet`'s one question name, when it has one plain (uncompressed) name.
pub(super) fn question_name_len(packet: &[u8]) -> Option<usize> {
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
pub(super) fn fold_and_hash(
    seed: u64,
    key: &[u8],
    name: std::ops::Range<usize>,
    folded: &mut [u8; KEY_MAX + 8],
) -> Option<u32> {
    pub(super) const ONES: u64 = 0x0101_0101_0101_0101;
    pub(super) const HIGH: u64 = 0x8080_8080_8080_8080;
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
pub(super) fn asks_again(response: &[u8], name: &[u8]) -> bool {
    asks(response, name.len()) && response[QUESTION..QUESTION + name.len()].eq_ignore_ascii_case(name)
}

/// Copies `from`, whose first byte is `buf[at]`, over the query in `buf` but for what the
/// query already has right: its ID and, when the entry's key holds it folded (`name_len`
/// bytes), its question name as asked. A hit writes a response over its query this way
/// (`at` 0), and puts the query back from the key (`at` 2) when it cannot answer after all.
#[inline(always)]
pub(super) fn write_around(buf: &mut [u8], from: &[u8], at: usize, name_len: usize) {
    if name_len == 0 {
        buf[2..].copy_from_slice(&from[2 - at..]);
    } else {
        buf[2..QUESTION].copy_from_slice(&from[2 - at..QUESTION - at]);
        buf[QUESTION + name_len..].copy_from_slice(&from[QUESTION + name_len - at..]);
    }
}

/// Whether `response` holds one question, whose name (`name_len` bytes) it has room for.
pub(super) fn asks(response: &[u8], name_len: usize) -> bool {
    response.get(4..6) == Some(&[0, 1]) && response.len() >= QUESTION + name_len
}

/// A keyed hash of a query's bytes, eight at a time.
#[inline]
pub(super) fn hash(seed: u64, key: &[u8]) -> u32 {
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
pub(super) fn tail_word(key: &[u8]) -> (usize, u64) {
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
pub(super) fn mix(h: u64, word: u64) -> u64 {
    (h.rotate_left(23) ^ word).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// [`hash`]'s state to a slot hash.
#[inline(always)]
pub(super) fn finish(h: u64) -> u32 {
    (h >> 32) as u32 ^ h as u32
}
