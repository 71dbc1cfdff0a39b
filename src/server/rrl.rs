//! Response rate limiting (RRL), as in Knot and NSD: responses per second per client prefix
//! (/24 and /56 by default) and per kind of response. Over the limit, a response is dropped,
//! except every `slip`-th, which is sent truncated so a real client behind a spoofed flood can
//! retry over TCP.
//!
//! Responses are classified as Knot and NSD classify them ([`Class`]), and each class counts
//! by a name: an answer or NODATA by the name asked, NXDOMAIN, an error, a referral or a
//! wildcard answer by the zone. A flood of random names is then one bucket (its zone's) and
//! does not use up the allowance of the real names its spoofed prefix also asks, while a
//! flood that varies the name still cannot get past the limit.
//!
//! One table of buckets is shared by all UDP workers (a flood from many source ports lands on
//! every worker); each bucket packs (second, count) into one atomic word. Collisions only
//! make the limit stricter for the keys that share a bucket. The key is hashed from bytes the
//! response already holds (its header and question), with no allocation.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::answer::Outcome;
use crate::config::RrlConfig;
use crate::wire::{rcode, HEADER_LEN};

/// The kind of a response, for counting: each class of a prefix has buckets of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Records in the answer; counted by the name asked.
    Answer = 1,
    /// NOERROR with no answer and authoritative (NODATA); counted by the name asked.
    NoData = 2,
    /// NXDOMAIN; counted by the zone.
    NxDomain = 3,
    /// Any other RCODE (REFUSED, SERVFAIL, FORMERR...); counted by the zone, if one answered.
    Error = 4,
    /// A delegation (NOERROR, no answer, not authoritative); counted by the zone.
    Referral = 5,
    /// An answer or NODATA from a wildcard; counted by the zone, since a flood can ask
    /// any number of names it covers.
    Wildcard = 6,
}

/// How `response` (the first `outcome.len` bytes written for `outcome`) is counted: its class
/// and the name, in wire form as the question spelled it, that it is counted by (empty when
/// none, as for a query refused for want of a zone).
pub fn classify<'a>(response: &'a [u8], outcome: &Outcome) -> (Class, &'a [u8]) {
    let response = &response[..outcome.len.min(response.len())];
    let answers = match response.get(6..8) {
        Some(count) => u16::from_be_bytes([count[0], count[1]]),
        None => 0,
    };
    let authoritative = response.get(2).is_some_and(|flags| flags & 0x04 != 0);
    let class = match outcome.rcode {
        r if r == rcode::NXDOMAIN as u16 => Class::NxDomain,
        r if r != rcode::NOERROR as u16 => Class::Error,
        _ if outcome.wildcard => Class::Wildcard,
        _ if answers > 0 => Class::Answer,
        _ if authoritative => Class::NoData,
        _ => Class::Referral,
    };
    // The question's name, as written (each response names one, except some rejections).
    let qname = match response.get(4..6) {
        Some([0, 1]) => match crate::wire::skip_name(response, HEADER_LEN) {
            Some(end) => &response[HEADER_LEN..end],
            None => &[],
        },
        _ => &[],
    };
    let name = match class {
        Class::Answer | Class::NoData => qname,
        _ if outcome.zone_at == Outcome::NO_ZONE => &[],
        _ => qname.get(outcome.zone_at as usize..).unwrap_or(&[]),
    };
    (class, name)
}

/// What to do with one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send it.
    Send,
    /// Send a truncated, empty version (TC set).
    Slip,
    /// Send nothing.
    Drop,
}

/// The shared rate table.
pub struct RateLimiter {
    config: RrlConfig,
    buckets: Box<[AtomicU64]>,
    seed: u64,
}

impl RateLimiter {
    /// An empty table.
    pub fn new(config: RrlConfig) -> Self {
        Self::with_seed(config, fastrand::u64(..))
    }

    /// An empty table whose buckets are chosen with `seed`: the same keys share a bucket
    /// in every run.
    fn with_seed(config: RrlConfig, seed: u64) -> Self {
        let buckets = (0..config.table_size).map(|_| AtomicU64::new(0)).collect();
        RateLimiter { config, buckets, seed }
    }

    /// Counts one response to `client` in second `now`: the first `outcome.len` bytes of
    /// `response`, written for `outcome`. Says what to do with it.
    #[inline]
    pub fn decide(&self, client: IpAddr, response: &[u8], outcome: &Outcome, now: u32) -> Decision {
        let (class, name) = classify(response, outcome);
        self.count(self.hash(client, class, name), now)
    }

    /// Counts one response in second `now` in the bucket of key `hash`.
    #[inline]
    fn count(&self, hash: u64, now: u32) -> Decision {
        let bucket = &self.buckets[(hash as usize) & (self.buckets.len() - 1)];
        let mut current = bucket.load(Ordering::Relaxed);
        let count = loop {
            let (second, count) = ((current >> 32) as u32, current as u32);
            let next = if second == now {
                ((now as u64) << 32) | count.saturating_add(1) as u64
            } else {
                ((now as u64) << 32) | 1
            };
            match bucket.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break next as u32,
                Err(seen) => current = seen,
            }
        };
        if count <= self.config.responses_per_second {
            return Decision::Send;
        }
        let over = count - self.config.responses_per_second;
        if self.config.slip > 0 && over.is_multiple_of(self.config.slip) {
            Decision::Slip
        } else {
            Decision::Drop
        }
    }

    /// The key of a response: the client's prefix, its class and its name (ASCII case
    /// folded, so that a flood cannot spread one name over many buckets by varying its case).
    fn hash(&self, client: IpAddr, class: Class, name: &[u8]) -> u64 {
        let prefix: u128 = match client {
            IpAddr::V4(v4) => {
                let bits = self.config.ipv4_prefix.min(32) as u32;
                let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
                ((u32::from(v4) & mask) as u128) | (1 << 64)
            }
            IpAddr::V6(v6) => {
                let bits = self.config.ipv6_prefix.min(128) as u32;
                let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
                u128::from(v6) & mask
            }
        };
        // A keyed multiply-rotate over eight bytes at a time, then a multiply-xorshift mix:
        // cheap, and the random key keeps clients from choosing their collisions.
        let mut h = self.seed;
        h = mix(h, prefix as u64);
        h = mix(h, (prefix >> 64) as u64);
        h = mix(h, ((class as u64) << 8) | name.len() as u64);
        let mut chunks = name.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            h = mix(h, fold_case(u64::from_le_bytes(word)));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            h = mix(h, fold_case(u64::from_le_bytes(word)));
        }
        h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        h = (h ^ (h >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// One step of the key's hash.
#[inline(always)]
fn mix(h: u64, word: u64) -> u64 {
    (h ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29)
}

/// Eight bytes with ASCII upper case turned to lower case, all at once. A label length (at
/// most 63) is below `A`, so a name's wire form folds as its text does.
#[inline(always)]
fn fold_case(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES << 7;
    // Per byte, with no carry between bytes: the high bit of `low + k` is set when the byte's
    // low seven bits are at least 0x80 - k.
    let low = word & !HIGH;
    let from_a = low + ONES * (0x80 - b'A' as u64);
    let past_z = low + ONES * (0x80 - b'Z' as u64 - 1);
    let upper = from_a & !past_z & !word & HIGH;
    word | (upper >> 2)
}

/// Turns a response in place into its truncated form: header and question only, TC set.
/// Returns the new length.
pub fn truncate_in_place(response: &mut [u8], len: usize) -> usize {
    if len < crate::wire::HEADER_LEN {
        return len;
    }
    let questions = u16::from_be_bytes([response[4], response[5]]);
    let end = if questions == 0 {
        crate::wire::HEADER_LEN
    } else {
        match crate::wire::skip_name(&response[..len], crate::wire::HEADER_LEN) {
            Some(end) if end + 4 <= len => end + 4,
            _ => return len,
        }
    };
    response[2] |= 0x02;
    response[6..12].fill(0);
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table of 1,024 buckets, with a seed fixed so that the keys these tests keep apart
    /// (two prefixes, a name and its zone's NXDOMAIN bucket) land in different buckets: with a
    /// random seed each pair would share one in 1,024 runs.
    fn limiter(rate: u32, slip: u32) -> RateLimiter {
        RateLimiter::with_seed(
            RrlConfig { responses_per_second: rate, slip, ipv4_prefix: 24, ipv6_prefix: 56, table_size: 1024 },
            1,
        )
    }

    /// A response to a question for `name` (text, relative labels separated by dots) with
    /// `answers` answers, authoritative or not, and the outcome written with it.
    fn response(name: &str, rcode: u8, answers: u16, aa: bool, zone_at: u8, wildcard: bool) -> (Vec<u8>, Outcome) {
        let mut r = vec![0x12, 0x34, 0x80 | if aa { 0x04 } else { 0 }, rcode, 0, 1];
        r.extend_from_slice(&answers.to_be_bytes());
        r.extend_from_slice(&[0, 0, 0, 0]);
        for label in name.split('.').filter(|l| !l.is_empty()) {
            r.push(label.len() as u8);
            r.extend_from_slice(label.as_bytes());
        }
        r.extend_from_slice(&[0, 0, 1, 0, 1]);
        let outcome = Outcome { zone_at, wildcard, ..Outcome::new(r.len(), rcode as u16, 1, false) };
        (r, outcome)
    }

    fn decide(rrl: &RateLimiter, client: IpAddr, (response, outcome): &(Vec<u8>, Outcome), now: u32) -> Decision {
        rrl.decide(client, response, outcome, now)
    }

    #[test]
    fn limits_per_prefix_per_second_with_slip() {
        let rrl = limiter(5, 2);
        let www = response("www.example.com", 0, 1, true, 4, false);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let same_net: IpAddr = "192.0.2.200".parse().unwrap();
        let other: IpAddr = "198.51.100.1".parse().unwrap();
        let decisions: Vec<Decision> =
            (0..10).map(|i| decide(&rrl, if i % 2 == 0 { a } else { same_net }, &www, 100)).collect();
        assert!(decisions[..5].iter().all(|d| *d == Decision::Send));
        assert_eq!(&decisions[5..], &[Decision::Drop, Decision::Slip, Decision::Drop, Decision::Slip, Decision::Drop]);
        assert_eq!(decide(&rrl, other, &www, 100), Decision::Send, "another prefix is not limited");
        assert_eq!(decide(&rrl, a, &www, 101), Decision::Send, "a new second starts over");
        let v6 = limiter(1, 0);
        let x: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        let y: IpAddr = "2001:db8:0:1::2".parse().unwrap();
        assert_eq!(decide(&v6, x, &www, 5), Decision::Send);
        assert_eq!(decide(&v6, y, &www, 5), Decision::Drop, "same /56, no slip");
    }

    #[test]
    fn responses_are_classified_as_knot_and_nsd_do() {
        let zone = b"\x07example\x03com\x00".as_slice();
        let www = b"\x03www\x07example\x03com\x00".as_slice();
        let cases = [
            (response("www.example.com", 0, 1, true, 4, false), Class::Answer, www),
            (response("www.example.com", 0, 0, true, 4, false), Class::NoData, www),
            (response("nope.example.com", 3, 0, true, 5, false), Class::NxDomain, zone),
            (response("x.sub.example.com", 0, 0, false, 6, false), Class::Referral, zone),
            (
                response("any.wild.example.com", 0, 1, true, 9, false),
                Class::Answer,
                b"\x03any\x04wild\x07example\x03com\x00".as_slice(),
            ),
            (response("any.wild.example.com", 0, 1, true, 9, true), Class::Wildcard, zone),
            (response("www.example.com", 2, 0, false, 4, false), Class::Error, zone),
            (response("www.example.org", 5, 0, false, Outcome::NO_ZONE, false), Class::Error, b"".as_slice()),
        ];
        for ((bytes, outcome), class, name) in &cases {
            assert_eq!(classify(bytes, outcome), (*class, *name), "{outcome:?}");
        }
        // A rejection without a question is counted by no name, and nothing out of range is read.
        let (mut bytes, mut outcome) = response("", 1, 0, false, 7, false);
        bytes[5] = 0;
        outcome.len = 12;
        assert_eq!(classify(&bytes, &outcome), (Class::Error, b"".as_slice()));
        outcome.len = 3;
        assert_eq!(classify(&bytes, &outcome), (Class::Error, b"".as_slice()));
    }

    #[test]
    fn random_names_share_a_bucket_and_spare_real_names() {
        let rrl = limiter(5, 0);
        let client: IpAddr = "192.0.2.1".parse().unwrap();
        for i in 0..20 {
            let nxdomain = response(&format!("r{i}.example.com"), 3, 0, true, 3 + format!("{i}").len() as u8, false);
            let expected = if i < 5 { Decision::Send } else { Decision::Drop };
            assert_eq!(decide(&rrl, client, &nxdomain, 7), expected, "NXDOMAIN {i}");
        }
        for case in ["www.example.com", "WWW.Example.COM", "wWw.eXample.com"] {
            assert_eq!(decide(&rrl, client, &response(case, 0, 1, true, 4, false), 7), Decision::Send, "{case}");
        }
        // The name's case does not make a new bucket.
        for _ in 0..2 {
            assert_eq!(decide(&rrl, client, &response("Www.Example.Com", 0, 1, true, 4, false), 7), Decision::Send);
        }
        assert_eq!(decide(&rrl, client, &response("WWW.EXAMPLE.COM", 0, 1, true, 4, false), 7), Decision::Drop);
    }

    #[test]
    fn case_folding_changes_letters_only() {
        for byte in 0..=255u8 {
            let word = u64::from_le_bytes([byte, 0, b'Q', byte, 63, byte, b'z', byte]);
            let folded = fold_case(word).to_le_bytes();
            let lower = byte.to_ascii_lowercase();
            assert_eq!(folded, [lower, 0, b'q', lower, 63, lower, b'z', lower], "{byte:#x}");
        }
    }

    #[test]
    fn truncation_keeps_header_and_question() {
        let mut response =
            vec![0x12, 0x34, 0x84, 0x00, 0, 1, 0, 2, 0, 1, 0, 1, 1, b'a', 0, 0, 1, 0, 1, 0xde, 0xad, 0xbe, 0xef];
        let len = response.len();
        let new_len = truncate_in_place(&mut response, len);
        assert_eq!(new_len, 19);
        assert_eq!(response[2] & 0x02, 0x02);
        assert_eq!(&response[6..12], &[0; 6]);
    }
}
