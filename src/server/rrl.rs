//! Response rate limiting (RRL), as in Knot and NSD: responses per second per client prefix
//! (/24 and /56 by default). Over the limit, a response is dropped, except every `slip`-th,
//! which is sent truncated so a real client behind a spoofed flood can retry over TCP.
//!
//! One table of buckets is shared by all UDP workers (a flood from many source ports lands on
//! every worker); each bucket packs (second, count) into one atomic word. Collisions only
//! make the limit stricter for the prefixes that share a bucket.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::RrlConfig;

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
        let buckets = (0..config.table_size).map(|_| AtomicU64::new(0)).collect();
        RateLimiter { config, buckets, seed: fastrand::u64(..) }
    }

    /// Counts one response to `client` in second `now` and says what to do with it.
    #[inline]
    pub fn decide(&self, client: IpAddr, now: u32) -> Decision {
        let bucket = &self.buckets[(self.hash(client) as usize) & (self.buckets.len() - 1)];
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

    fn hash(&self, client: IpAddr) -> u64 {
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
        // A keyed multiply-xorshift mix: cheap, and the random key keeps clients from choosing
        // their collisions.
        let mut h = (prefix as u64) ^ ((prefix >> 64) as u64).rotate_left(29) ^ self.seed;
        h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        h = (h ^ (h >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
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

    fn limiter(rate: u32, slip: u32) -> RateLimiter {
        RateLimiter::new(RrlConfig {
            responses_per_second: rate,
            slip,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
            table_size: 1024,
        })
    }

    #[test]
    fn limits_per_prefix_per_second_with_slip() {
        let rrl = limiter(5, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let same_net: IpAddr = "192.0.2.200".parse().unwrap();
        let other: IpAddr = "198.51.100.1".parse().unwrap();
        let decisions: Vec<Decision> =
            (0..10).map(|i| rrl.decide(if i % 2 == 0 { a } else { same_net }, 100)).collect();
        assert!(decisions[..5].iter().all(|d| *d == Decision::Send));
        assert_eq!(&decisions[5..], &[Decision::Drop, Decision::Slip, Decision::Drop, Decision::Slip, Decision::Drop]);
        assert_eq!(rrl.decide(other, 100), Decision::Send, "another prefix is not limited");
        assert_eq!(rrl.decide(a, 101), Decision::Send, "a new second starts over");
        let v6 = limiter(1, 0);
        let x: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        let y: IpAddr = "2001:db8:0:1::2".parse().unwrap();
        assert_eq!(v6.decide(x, 5), Decision::Send);
        assert_eq!(v6.decide(y, 5), Decision::Drop, "same /56, no slip");
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
