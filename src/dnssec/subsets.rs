//! Which members of a multivalue record set an answer holds, as the subsets a signer signs
//! ahead of time: an RRSIG covers the RRset in canonical order, so the per-query shuffle
//! needs no signature of its own; only the choice of members does. Signatures depend on
//! which members are in a subset, not on health, so one store per record set serves every
//! health state.
//!
//! ```text
//!  exact mode (n <= EXACT_MAX_MEMBERS): every k-subset, stored at its rank
//!    signer:  subsets(n, k) yields masks in rank order 0, 1, 2, ..  -> sign, store at r
//!    query:   the policy's draw --mask_of--> mask --rank--> r      -> copy the RRSIG at r
//!
//!  sampled mode (more members, or past a memory budget): a few balanced subsets
//!    signer:  balanced(n, k, count, seed) -> Blocks (every member in as many, +-1)
//!    health:  restricted(blocks, healthy) -> the blocks still usable
//!             top_up(blocks, usable, n, healthy, count, seed) -> new blocks to sign
//! ```
//!
//! Ranks are colex ranks in the combinatorial number system: the k-subset with members
//! `c_0 < c_1 < .. < c_{k-1}` has rank `C(c_0, 1) + C(c_1, 2) + .. + C(c_{k-1}, k)`, which
//! runs densely over `0..C(n, k)` and does not depend on `n`, so a mask is ranked without
//! knowing the set's size. [`rank`], [`mask_of`] and [`Subsets`] allocate nothing; `rank`
//! reads two of its 5 KB of tables (summing the terms member by member took four times as
//! long); the sampled-mode functions run on the signer and prober side and allocate their
//! results.
//!
//! What exact mode costs per record set, for `k = 8` (a 64-byte signature per subset, both
//! algorithms, plus the RRSIG's other fields once; the signing time is an estimate at the
//! about 20 us per ECDSA P-256 signature that `benches/dnssec.rs` measured for `sign_rrset`,
//! see docs/performance-log.md):
//!
//! | members | subsets `C(n, 8)` | signatures stored | signing |
//! |---:|---:|---:|---:|
//! | 9 | 9 | 576 B | 0.2 ms |
//! | 10 | 45 | 2.9 KB | 0.9 ms |
//! | 11 | 165 | 10.6 KB | 3.3 ms |
//! | 12 | 495 | 31.7 KB | 9.9 ms |
//! | 13 | 1,287 | 82.4 KB | 26 ms |
//! | 14 | 3,003 | 192 KB | 60 ms |
//! | 15 | 6,435 | 412 KB | 129 ms |
//! | 16 | 12,870 | 824 KB | 257 ms |
//!
//! `C(16, k)` is largest at `k = 8`, so no `max_answers` costs more at 16 members. Past 16
//! the store grows fast: `C(20, 8)` = 125,970 (8.1 MB, 2.5 s), `C(24, 8)` = 735,471 (47 MB,
//! 15 s), `C(32, 8)` = 10,518,300 (673 MB, 3.5 min), `C(64, 8)` = 4,426,165,368 (283 GB, a
//! day of signing). Ranking itself would stretch to 64 members for little (a 65 x 65 table of
//! `u64`, 34 KB, and `u64` ranks, since `C(64, 32)` passes `u32`): the bound is the store.

use rustc_hash::FxHashMap;

use super::SIGNATURE_LEN;

/// The most members a record set has in exact mode; masks are `u16`.
pub const EXACT_MAX_MEMBERS: usize = 16;

/// `BINOMIAL[n][k]` = C(n, k) for n, k <= [`EXACT_MAX_MEMBERS`] (0 when k > n).
const BINOMIAL: [[u32; EXACT_MAX_MEMBERS + 1]; EXACT_MAX_MEMBERS + 1] = {
    let mut table = [[0u32; EXACT_MAX_MEMBERS + 1]; EXACT_MAX_MEMBERS + 1];
    let mut n = 0;
    while n <= EXACT_MAX_MEMBERS {
        table[n][0] = 1;
        let mut k = 1;
        while k <= n {
            table[n][k] = table[n - 1][k - 1] + if k < n { table[n - 1][k] } else { 0 };
            k += 1;
        }
        n += 1;
    }
    table
};

/// C(n, k), the number of k-subsets of n members, for any `n` (0 when k > n; `u64::MAX`
/// when it would not fit): how big an exact-mode store would be, to choose the mode.
pub fn count(n: usize, k: usize) -> u64 {
    if k > n {
        return 0;
    }
    let k = k.min(n - k);
    let mut c: u128 = 1;
    for i in 1..=k {
        // C(n - k + i, i) = C(n - k + i - 1, i - 1) * (n - k + i) / i, exact at every step.
        c = c * (n - k + i) as u128 / i as u128;
        if c > u64::MAX as u128 {
            return u64::MAX;
        }
    }
    c as u64
}

/// Bytes of signatures an exact-mode store of every k-subset of `n` members holds (the
/// RRSIG's other fields, the same for every subset, come once on top): what to weigh against a
/// memory budget before choosing exact mode. Saturates at `u64::MAX`.
pub fn exact_store_bytes(n: usize, k: usize) -> u64 {
    count(n, k).saturating_mul(SIGNATURE_LEN as u64)
}

/// The colex rank of the subset `mask` (bit `i` set: member `i` in): its index in the
/// exact-mode store of every subset of its size. Two table reads: the low byte's share of the
/// sum, and the high byte's, which depends on how many members the low byte holds (a few ns,
/// `benches/dnssec.rs`, `subset_rank`).
#[inline]
pub fn rank(mask: u16) -> u32 {
    let low = mask as u8;
    let high = (mask >> 8) as usize;
    LOW_RANK[low as usize] as u32 + HIGH_RANK[low.count_ones() as usize][high] as u32
}

/// `LOW_RANK[b]`: the rank of the subset `b` of members 0 to 7. Every rank of up to 16
/// members is below C(16, 8) = 12,870, so `u16` holds these and `HIGH_RANK`'s.
const LOW_RANK: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = colex_rank(b as u16, 0, 0) as u16;
        b += 1;
    }
    table
};

/// `HIGH_RANK[p][b]`: what members `8 + j`, for the bits `j` of `b`, add to the rank of a
/// subset whose low byte holds `p` members.
const HIGH_RANK: [[u16; 256]; 9] = {
    let mut table = [[0u16; 256]; 9];
    let mut p = 0;
    while p <= 8 {
        let mut b = 0;
        while b < 256 {
            table[p][b] = colex_rank(b as u16, 8, p) as u16;
            b += 1;
        }
        p += 1;
    }
    table
};

/// The colex rank's terms for the members in `mask`, each moved up by `offset` and counted
/// after `before` lower members: the sum of C(offset + c, before + i + 1) over the members
/// `c` of `mask`, the `i`-th from the lowest. `colex_rank(mask, 0, 0)` is the rank itself.
const fn colex_rank(mask: u16, offset: usize, before: usize) -> u32 {
    let mut rest = mask;
    let mut rank = 0;
    let mut i = before + 1;
    while rest != 0 {
        rank += BINOMIAL[offset + rest.trailing_zeros() as usize][i];
        rest &= rest - 1;
        i += 1;
    }
    rank
}

/// The k-subset of `n` members with colex rank `rank`; `None` when `rank` is not below
/// C(n, k) (so also when k > n).
///
/// # Panics
///
/// When `n` is above [`EXACT_MAX_MEMBERS`].
pub fn unrank(rank: u32, n: usize, k: usize) -> Option<u16> {
    assert!(n <= EXACT_MAX_MEMBERS, "exact mode ranks at most {EXACT_MAX_MEMBERS} members, not {n}");
    if k > n || rank >= BINOMIAL[n][k] {
        return None;
    }
    let (mut mask, mut rest, mut c) = (0u16, rank, n);
    for i in (1..=k).rev() {
        // The largest c below the last with C(c, i) <= rest; C(i - 1, i) = 0 stops it.
        c -= 1;
        while BINOMIAL[c][i] > rest {
            c -= 1;
        }
        mask |= 1 << c;
        rest -= BINOMIAL[c][i];
    }
    Some(mask)
}

/// Every k-subset of `n` members, as masks in rank order (rank 0 first), so a signer signs
/// the r-th at index r. Nothing when k > n.
///
/// # Panics
///
/// When `n` is above [`EXACT_MAX_MEMBERS`].
pub fn subsets(n: usize, k: usize) -> Subsets {
    assert!(n <= EXACT_MAX_MEMBERS, "exact mode lists subsets of at most {EXACT_MAX_MEMBERS} members, not {n}");
    if k > n {
        return Subsets { mask: 0, left: 0 };
    }
    Subsets { mask: (1u32 << k) - 1, left: BINOMIAL[n][k] }
}

/// The mask of the members in `members` (indices below [`EXACT_MAX_MEMBERS`]), in any
/// order: what a policy drew (`policy::Selection::as_slice`), ready to [`rank`]. A draw of
/// fewer members than the store's subsets hold (fewer are healthy) is the whole healthy pool,
/// whose one signature is made on the health change, not looked up by rank.
#[inline]
pub fn mask_of(members: &[u32]) -> u16 {
    members.iter().fold(0, |mask, &m| {
        debug_assert!((m as usize) < EXACT_MAX_MEMBERS);
        mask | 1 << (m as usize & (EXACT_MAX_MEMBERS - 1))
    })
}

/// The iterator [`subsets`] returns: the next subset after each by Gosper's hack.
#[derive(Clone, Debug)]
pub struct Subsets {
    /// The next subset to yield (a `u32`, so the step past 16 members cannot overflow).
    mask: u32,
    /// How many are left to yield.
    left: u32,
}

impl Iterator for Subsets {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        if self.left == 0 {
            return None;
        }
        let mask = self.mask;
        self.left -= 1;
        if self.left > 0 {
            // Gosper's hack: the next larger number with as many bits set, which is the next
            // subset in colex order. `mask` is not 0 here: only k = 0 gives 0, and it has one.
            let lowest = mask & mask.wrapping_neg();
            let ripple = mask + lowest;
            self.mask = ripple | (((ripple ^ mask) >> 2) >> lowest.trailing_zeros());
        }
        Some(mask as u16)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

impl ExactSizeIterator for Subsets {}

/// Subsets of one size (at least 1), for sampled mode: member indices, each block sorted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocks {
    /// Members per block.
    size: usize,
    /// The blocks one after another.
    members: Vec<u32>,
}

impl Blocks {
    /// Members per block.
    pub fn size(&self) -> usize {
        self.size
    }

    /// How many blocks.
    pub fn len(&self) -> usize {
        self.members.len() / self.size
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The members of block `index`, in increasing order.
    pub fn block(&self, index: usize) -> &[u32] {
        &self.members[index * self.size..(index + 1) * self.size]
    }

    /// The blocks in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u32]> {
        self.members.chunks_exact(self.size)
    }

    /// How many blocks each of `n` members is in.
    pub fn loads(&self, n: usize) -> Vec<u32> {
        let mut loads = vec![0; n];
        for &m in &self.members {
            loads[m as usize] += 1;
        }
        loads
    }
}

/// `count` subsets of `k` of the members `0..n`, each member in `floor` or `ceil` of
/// `count * k / n` of them: the store of sampled mode. Each block takes the `k` least-used
/// members; among equally used ones, those that have shared the fewest blocks with the
/// members already taken, then a random one (`seed` decides: the same seed, the same blocks).
/// A block may repeat an earlier one when `count` nears C(n, k); the loads stay balanced.
///
/// # Panics
///
/// When `k` is 0 or above `n`.
pub fn balanced(n: usize, k: usize, count: usize, seed: u64) -> Blocks {
    assert!((1..=n).contains(&k), "a block takes 1 to {n} members, not {k}");
    let mut balancer = Balancer::new(n, (0..n as u32).collect(), seed);
    balancer.add(k, count)
}

/// The indices of the blocks whose members are all healthy: those an answer may still use.
pub fn restricted(blocks: &Blocks, healthy: impl Fn(u32) -> bool) -> Vec<u32> {
    (0..blocks.len() as u32).filter(|&i| blocks.block(i as usize).iter().all(|&m| healthy(m))).collect()
}

/// New blocks of the members `0..n` that `healthy` admits, to sign after a health change:
/// with the blocks `usable` (from [`restricted`]) they keep the healthy members' loads as even
/// as the greedy of [`balanced`] makes them (within 1 once `count` is large enough to level
/// what the down members left uneven). At most C(healthy, k) blocks, so a pool with few
/// distinct subsets is not signed many times over. `None` when no more than `blocks.size()`
/// members are healthy: every answer then holds all of them, one RRset to sign.
pub fn top_up(
    blocks: &Blocks,
    usable: &[u32],
    n: usize,
    healthy: impl Fn(u32) -> bool,
    count: usize,
    seed: u64,
) -> Option<Blocks> {
    let k = blocks.size();
    let pool: Vec<u32> = (0..n as u32).filter(|&m| healthy(m)).collect();
    if pool.len() <= k {
        return None;
    }
    let count = count.min(self::count(pool.len(), k).try_into().unwrap_or(usize::MAX));
    let mut balancer = Balancer::new(n, pool, seed);
    for &i in usable {
        balancer.record(blocks.block(i as usize));
    }
    Some(balancer.add(k, count))
}

/// The greedy behind [`balanced`] and [`top_up`]: loads and pair counts so far.
struct Balancer {
    /// The members blocks may take, shuffled before each block for random tie-breaks.
    pool: Vec<u32>,
    /// Blocks each member is in.
    load: Vec<u32>,
    /// For each member, the members it has shared a block with.
    partners: Vec<Vec<u32>>,
    /// Blocks shared by each pair that has shared one, keyed by [`Balancer::pair_key`].
    pairs: FxHashMap<u64, u32>,
    /// Within a block: blocks each member shares with those already taken.
    shared: Vec<u32>,
    /// Within a block: whether each member is taken.
    taken: Vec<bool>,
    rng: fastrand::Rng,
}

impl Balancer {
    fn new(n: usize, pool: Vec<u32>, seed: u64) -> Self {
        Balancer {
            pool,
            load: vec![0; n],
            partners: vec![Vec::new(); n],
            pairs: FxHashMap::default(),
            shared: vec![0; n],
            taken: vec![false; n],
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// `count` new blocks of `k` members.
    fn add(&mut self, k: usize, count: usize) -> Blocks {
        let mut members = Vec::with_capacity(k * count);
        for _ in 0..count {
            let start = members.len();
            self.rng.shuffle(&mut self.pool);
            for _ in 0..k {
                let m = self.pick();
                self.taken[m as usize] = true;
                for &other in &self.partners[m as usize] {
                    self.shared[other as usize] += self.pairs[&Self::pair_key(m, other)];
                }
                members.push(m);
            }
            let block = &mut members[start..];
            block.sort_unstable();
            for &m in &*block {
                self.taken[m as usize] = false;
                for &other in &self.partners[m as usize] {
                    self.shared[other as usize] = 0;
                }
            }
            self.record(block);
        }
        Blocks { size: k, members }
    }

    /// The member to take next: the least used, then the one that shared the fewest blocks
    /// with those taken, then the first in the shuffled pool.
    fn pick(&self) -> u32 {
        let mut best = (u32::MAX, u32::MAX, u32::MAX);
        for &m in &self.pool {
            let at = m as usize;
            if !self.taken[at] && (self.load[at], self.shared[at]) < (best.0, best.1) {
                best = (self.load[at], self.shared[at], m);
            }
        }
        best.2
    }

    /// Counts `block`'s members and pairs.
    fn record(&mut self, block: &[u32]) {
        for (i, &a) in block.iter().enumerate() {
            self.load[a as usize] += 1;
            for &b in &block[i + 1..] {
                let times = self.pairs.entry(Self::pair_key(a, b)).or_insert(0);
                if *times == 0 {
                    self.partners[a as usize].push(b);
                    self.partners[b as usize].push(a);
                }
                *times += 1;
            }
        }
    }

    /// The key of the pair `a`, `b` in either order.
    fn pair_key(a: u32, b: u32) -> u64 {
        (a.min(b) as u64) << 32 | a.max(b) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every k-subset of n as masks, the slow way: every mask with k bits, in increasing
    /// order (which is colex order).
    fn by_scan(n: usize, k: usize) -> Vec<u16> {
        (0..1u32 << n).filter(|m| m.count_ones() as usize == k).map(|m| m as u16).collect()
    }

    #[test]
    fn binomials_match_the_general_count() {
        for (n, row) in BINOMIAL.iter().enumerate() {
            for (k, &c) in row.iter().enumerate() {
                assert_eq!(c as u64, count(n, k), "C({n}, {k})");
            }
        }
        assert_eq!(count(16, 8), 12_870);
        assert_eq!(count(64, 8), 4_426_165_368);
        assert_eq!(count(64, 32), 1_832_624_140_942_590_534);
        assert_eq!(count(200, 100), u64::MAX);
        assert_eq!(count(3, 4), 0);
        // The module's table.
        let stored: Vec<u64> = (9..=16).map(|n| exact_store_bytes(n, 8)).collect();
        assert_eq!(stored, [576, 2_880, 10_560, 31_680, 82_368, 192_192, 411_840, 823_680]);
        assert_eq!(exact_store_bytes(64, 8), 283_274_583_552);
        assert_eq!(exact_store_bytes(200, 100), u64::MAX);
    }

    #[test]
    fn every_subset_of_up_to_16_ranks_densely_in_order_and_unranks_back() {
        for n in 0..=EXACT_MAX_MEMBERS {
            for k in 0..=n {
                let listed: Vec<u16> = subsets(n, k).collect();
                assert_eq!(listed, by_scan(n, k), "subsets({n}, {k})");
                assert_eq!(listed.len() as u64, count(n, k));
                for (r, &mask) in listed.iter().enumerate() {
                    assert_eq!(rank(mask), r as u32, "rank of {mask:#06x}, n = {n}, k = {k}");
                    assert_eq!(unrank(r as u32, n, k), Some(mask), "unrank({r}, {n}, {k})");
                }
                assert_eq!(unrank(listed.len() as u32, n, k), None, "past the last of C({n}, {k})");
            }
        }
    }

    #[test]
    fn the_tables_rank_every_mask_as_the_sum_does() {
        for mask in 0..=u16::MAX {
            assert_eq!(rank(mask), colex_rank(mask, 0, 0), "{mask:#06x}");
        }
    }

    #[test]
    fn sizes_past_the_members_have_no_subsets() {
        assert_eq!(subsets(5, 6).count(), 0);
        assert_eq!(subsets(16, 40).count(), 0);
        assert_eq!(unrank(0, 5, 6), None);
        assert_eq!(subsets(16, 16).collect::<Vec<_>>(), [0xFFFF]);
        assert_eq!(subsets(7, 0).collect::<Vec<_>>(), [0]);
        assert_eq!(subsets(16, 8).len(), 12_870);
    }

    #[test]
    #[should_panic(expected = "at most 16 members, not 17")]
    fn exact_mode_stops_at_16_members() {
        subsets(17, 8);
    }

    #[test]
    fn a_drawn_selection_ranks_as_its_members_do() {
        assert_eq!(mask_of(&[]), 0);
        assert_eq!(mask_of(&[15, 0, 7]), 0x8081);
        // The same members in any answer order: the same subset, the same signature.
        assert_eq!(rank(mask_of(&[3, 9, 1, 12])), rank(mask_of(&[12, 1, 3, 9])));
        assert_eq!(mask_of(&[8, 9, 10, 11, 12, 13, 14, 15]), 0xFF00);
        assert_eq!(rank(0xFF00), 12_869);
    }

    #[test]
    fn balanced_blocks_hold_each_member_floor_or_ceil_times() {
        for n in [1, 2, 7, 9, 16, 17, 40, 100, 300] {
            // Every member in each block too, up to 40.
            for k in [1, 2, 3, 8, 16, n.min(40)] {
                if k > n {
                    continue;
                }
                for count in [0, 1, 5, 64, 256] {
                    let blocks = balanced(n, k, count, 7);
                    assert_eq!((blocks.len(), blocks.size()), (count, k));
                    for block in blocks.iter() {
                        assert!(block.windows(2).all(|w| w[0] < w[1]), "{block:?}: distinct, sorted");
                        assert!(block.iter().all(|&m| (m as usize) < n));
                    }
                    let loads = blocks.loads(n);
                    let (floor, ceil) = (count * k / n, (count * k).div_ceil(n));
                    assert!(
                        loads.iter().all(|&l| (floor..=ceil).contains(&(l as usize))),
                        "n = {n}, k = {k}, count = {count}: {loads:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_seed_decides_the_blocks() {
        assert_eq!(balanced(40, 8, 64, 1), balanced(40, 8, 64, 1));
        assert_ne!(balanced(40, 8, 64, 1), balanced(40, 8, 64, 2));
    }

    /// Pair counts over every pair of `n` members: (largest, variance).
    fn pair_spread<'a>(n: usize, blocks: impl Iterator<Item = &'a [u32]>) -> (u32, f64) {
        let mut pairs = vec![0u32; n * n];
        for block in blocks {
            for (i, &a) in block.iter().enumerate() {
                for &b in &block[i + 1..] {
                    pairs[a as usize * n + b as usize] += 1;
                }
            }
        }
        let counts: Vec<f64> = (0..n)
            .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
            .map(|(a, b)| {
                let (lo, hi) = (a.min(b), a.max(b));
                pairs[lo * n + hi] as f64
            })
            .collect();
        let mean = counts.iter().sum::<f64>() / counts.len() as f64;
        let variance = counts.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / counts.len() as f64;
        (counts.iter().fold(0.0f64, |m, &c| m.max(c)) as u32, variance)
    }

    /// `count` blocks of `k` members drawn independently and uniformly, each sorted.
    fn independent(n: usize, k: usize, count: usize, seed: u64) -> Vec<Vec<u32>> {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..count)
            .map(|_| {
                let mut members: Vec<u32> = (0..n as u32).collect();
                rng.shuffle(&mut members);
                members.truncate(k);
                members.sort_unstable();
                members
            })
            .collect()
    }

    #[test]
    fn balanced_blocks_spread_loads_and_pairs_better_than_independent_draws() {
        // 16 members, the largest exact-mode set; 40, a sampled one.
        for (n, k, count) in [(16, 8, 64), (40, 8, 64)] {
            let runs = 50;
            // Per side (balanced, independent): the busiest member's load, summed over the
            // runs and the worst; the busiest pair's count and the pair counts' variance, summed.
            let (mut load, mut worst_load, mut pair, mut variance) = ([0; 2], [0; 2], [0; 2], [0.0; 2]);
            for seed in 0..runs {
                let ours = balanced(n, k, count, seed);
                let theirs = independent(n, k, count, seed);
                let mut their_loads = vec![0u32; n];
                theirs.iter().flatten().for_each(|&m| their_loads[m as usize] += 1);
                let busiest = [*ours.loads(n).iter().max().unwrap(), *their_loads.iter().max().unwrap()];
                let spread = [pair_spread(n, ours.iter()), pair_spread(n, theirs.iter().map(|b| &b[..]))];
                for side in 0..2 {
                    load[side] += busiest[side];
                    worst_load[side] = worst_load[side].max(busiest[side]);
                    pair[side] += spread[side].0;
                    variance[side] += spread[side].1;
                }
            }
            let runs = runs as f64;
            let mean_load = (count * k) as f64 / n as f64;
            let mean_pair = (count * k * (k - 1)) as f64 / (n * (n - 1)) as f64;
            // `cargo test --lib subsets -- --nocapture` prints the figures in the performance log.
            for (side, name) in ["balanced", "independent"].iter().enumerate() {
                println!(
                    "n = {n}, k = {k}, K = {count}, {name}, 50 seeds: busiest member {:.3}x the mean load \
                     (worst run {:.3}x), busiest pair {:.2}x the mean pair count, pair-count variance {:.3}",
                    load[side] as f64 / runs / mean_load,
                    worst_load[side] as f64 / mean_load,
                    pair[side] as f64 / runs / mean_pair,
                    variance[side] / runs,
                );
            }
            assert_eq!(worst_load[0] as usize, (count * k).div_ceil(n), "n = {n}: the mean rounded up");
            assert!(load[1] as f64 / runs > mean_load * 1.1, "n = {n}: independent draws overload some member");
            assert!(variance[0] < variance[1] * 0.75, "n = {n}, pairs: {variance:?}");
            assert!(pair[0] < pair[1], "n = {n}, busiest pairs: {pair:?}");
        }
    }

    #[test]
    fn restricted_keeps_the_blocks_of_healthy_members_only() {
        let blocks = balanced(40, 8, 64, 3);
        assert_eq!(restricted(&blocks, |_| true), (0..64).collect::<Vec<u32>>());
        let down = |m: u32| m == 4 || m == 31;
        let usable = restricted(&blocks, |m| !down(m));
        let expected: Vec<u32> = (0..64).filter(|&i| !blocks.block(i as usize).iter().any(|&m| down(m))).collect();
        assert_eq!(usable, expected);
        assert!(usable.len() < 64 && !usable.is_empty());
    }

    #[test]
    fn top_up_levels_the_healthy_members_with_the_usable_blocks() {
        let (n, k) = (40, 8);
        let blocks = balanced(n, k, 64, 5);
        let healthy = |m: u32| m % 7 != 3;
        let usable = restricted(&blocks, healthy);
        let spread = |loads: &[u32]| {
            let kept: Vec<u32> = (0..n as u32).filter(|&m| healthy(m)).map(|m| loads[m as usize]).collect();
            kept.iter().max().unwrap() - kept.iter().min().unwrap()
        };
        let mut before = vec![0u32; n];
        for &i in &usable {
            blocks.block(i as usize).iter().for_each(|&m| before[m as usize] += 1);
        }
        for count in [8, 64 - usable.len(), 256] {
            let new = top_up(&blocks, &usable, n, healthy, count, 9).unwrap();
            assert_eq!((new.len(), new.size()), (count, k));
            assert!(new.iter().flatten().all(|&m| healthy(m)), "only healthy members");
            let mut after = before.clone();
            new.iter().flatten().for_each(|&m| after[m as usize] += 1);
            assert!(spread(&after) <= spread(&before).max(1), "{count}: {before:?} -> {after:?}");
            if count == 256 {
                assert!(spread(&after) <= 1, "{after:?}");
            }
        }
    }

    #[test]
    fn top_up_of_a_small_pool_signs_each_subset_at_most_once_or_the_pool_itself() {
        let blocks = balanced(20, 8, 64, 1);
        // Nine healthy: C(9, 8) = 9 subsets at most.
        let nine = |m: u32| m < 9;
        let new = top_up(&blocks, &restricted(&blocks, nine), 20, nine, 64, 2).unwrap();
        assert_eq!(new.len(), 9);
        let mut distinct: Vec<&[u32]> = new.iter().collect();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 9, "balanced loads make each of the nine leave out a different member");
        // Eight or fewer healthy: every answer is the whole pool.
        assert_eq!(top_up(&blocks, &[], 20, |m| m < 8, 64, 2), None);
    }
}
