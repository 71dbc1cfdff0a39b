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
//! - **Memory.** Direct-mapped, `entries` slots of about 1,200 bytes, allocated when the worker
//!   starts; keys up to [`KEY_MAX`] bytes and responses up to [`RESPONSE_MAX`] bytes, anything
//!   longer is answered uncached. The hash is keyed per worker.

mod key;
mod replay;
mod slots;

pub(super) use slots::Slot;

use super::{Outcome, Work};
use crate::view::View;
use replay::HELD_BYTES;
use slots::Entry;

/// Longest query, less its ID, that is cached.
pub const KEY_MAX: usize = 112;
/// Longest response that is cached: the plain DNS limit over UDP, with room for a signed
/// negative answer (an NXDOMAIN with DO carries the SOA, two NSEC and their RRSIGs: about
/// 550 bytes; over 512 it was answered uncached, 6% more CPU for a DO query mix).
pub const RESPONSE_MAX: usize = 768;
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

    /// After a miss at `slot`: keeps the answer `work` wrote into `out` for `packet` if this
    /// is the second miss in a row there and the answer can be reused.
    #[inline]
    pub(super) fn missed(&mut self, slot: Slot, view: &View, packet: &[u8], out: &[u8], outcome: Outcome, work: &Work) {
        if self.seen[slot.index] == slot.hash {
            self.insert(slot, view, packet, out, outcome, work);
        } else {
            self.seen[slot.index] = slot.hash;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::key::*;
    use super::*;
    use crate::answer::{Responder, Transport};
    use crate::config::Config;
    use crate::health::HealthSnapshot;
    use crate::zone::Catalog;
    use std::path::Path;
    use std::sync::Arc;

    const ZONE: &str = "$TTL 300\n@ SOA ns1 host 1 7200 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.53\n\
                        static A 192.0.2.7\nshuffled A 192.0.2.8\nshuffled A 192.0.2.9\n";
    const BIG_TXT: &str = "big TXT \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\" \"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\" \"dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd\"\n";

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
        View::new(
            Arc::new(Catalog::build(&config, 0).expect("an unsigned catalog")),
            HealthSnapshot::initial(&config.checks),
        )
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
        // A TXT answer over RESPONSE_MAX, asked with EDNS (1232 bytes): answered in full, uncached.
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
    fn an_entry_is_about_1200_bytes_and_sizes_round_to_powers_of_two() {
        assert!(std::mem::size_of::<Entry>() <= 1216, "{}", std::mem::size_of::<Entry>());
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
