//! Routing policies: pure functions of (members, health, rng) that pick which members of a
//! record set go into one answer. Rules and sources: `shared/reference/route53.md` sections 1, 3, 7.
//!
//! Selection writes member indices into a caller's [`Selection`] and never allocates.

use crate::config::{FailoverRole, MemberConfig, Routing, RrsetConfig, WhenAllUnhealthy};
use crate::health::HealthSnapshot;

/// Capacity of a [`Selection`]; `max_answers` is at most this.
pub const SELECTION_CAPACITY: usize = crate::limits::MAX_ANSWERS.max;

/// Random draws a multivalue selection tries before falling back to a scan.
const SAMPLING_ATTEMPTS_PER_PICK: usize = 4;

/// The facts about one member that selection needs.
pub trait Member {
    /// The member's health check, if it has one.
    fn check(&self) -> Option<u32>;
    /// Weight (weighted routing).
    fn weight(&self) -> u8;
    /// Whether it is the PRIMARY (failover routing).
    fn is_primary(&self) -> bool;
}

/// The members chosen for one answer, in answer order.
pub struct Selection {
    picked: [u32; SELECTION_CAPACITY],
    len: usize,
}

impl Default for Selection {
    fn default() -> Self {
        Selection { picked: [0; SELECTION_CAPACITY], len: 0 }
    }
}

impl Selection {
    /// The chosen member indices.
    pub fn as_slice(&self) -> &[u32] {
        &self.picked[..self.len]
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    fn push(&mut self, index: usize) {
        self.picked[self.len] = index as u32;
        self.len += 1;
    }

    fn contains(&self, index: usize) -> bool {
        self.as_slice().contains(&(index as u32))
    }

    fn shuffle(&mut self, rng: &mut fastrand::Rng) {
        let len = self.len;
        rng.shuffle(&mut self.picked[..len]);
    }
}

/// A multivalue answer of one block signed ahead (DNSSEC's sampled mode): its members in
/// random order.
pub fn from_block(block: &[u32], rng: &mut fastrand::Rng, out: &mut Selection) {
    out.clear();
    for &m in block.iter().take(SELECTION_CAPACITY) {
        out.push(m as usize);
    }
    out.shuffle(rng);
}

/// Whether a member counts as healthy: no check means always healthy (MV-2).
#[inline]
pub fn healthy<M: Member>(member: &M, health: &HealthSnapshot) -> bool {
    member.check().is_none_or(|c| health.is_healthy(c))
}

/// How a record set stands under one health snapshot: what status, metrics and the prober's
/// log lines report (the answer path decides the same from its pools as it draws).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Members that count as healthy (no check = healthy).
    pub healthy: usize,
    /// Members.
    pub members: usize,
}

impl Standing {
    /// Counts the healthy members of `members`.
    pub fn of<M: Member>(members: &[M], health: &HealthSnapshot) -> Self {
        Standing { healthy: members.iter().filter(|m| healthy(*m, health)).count(), members: members.len() }
    }

    /// No member is healthy: every policy then answers from unhealthy members (fail-open),
    /// unless the set says to answer NODATA or its fallback instead.
    pub fn none_healthy(self) -> bool {
        self.members > 0 && self.healthy == 0
    }

    /// `set` answers from unhealthy members now: none is healthy and it fails open
    /// (`when_all_unhealthy = "answer_all"`, Route 53's behaviour).
    pub fn failing_open(self, set: &RrsetConfig) -> bool {
        set.routing != Routing::Simple && self.none_healthy() && set.when_all_unhealthy == WhenAllUnhealthy::AnswerAll
    }

    /// `set` is multivalue and has some healthy members, but fewer than a full answer holds:
    /// `max_answers`, or every member for a set smaller than that.
    pub fn below_max_answers(self, set: &RrsetConfig, max_answers: usize) -> bool {
        set.routing == Routing::Multivalue && self.healthy > 0 && self.healthy < self.members.min(max_answers)
    }
}

impl Member for MemberConfig {
    fn check(&self) -> Option<u32> {
        self.check.map(|c| c as u32)
    }

    fn weight(&self) -> u8 {
        self.weight
    }

    fn is_primary(&self) -> bool {
        self.failover == Some(FailoverRole::Primary)
    }
}

/// Multivalue (MV-2..MV-5): every healthy member when at most `max` are healthy; otherwise a
/// uniform random `max` of them; only when none is healthy, up to `max` of all (fail-open).
/// The result is in random order.
pub fn multivalue<M: Member>(
    members: &[M],
    health: &HealthSnapshot,
    max: usize,
    rng: &mut fastrand::Rng,
    out: &mut Selection,
) {
    out.clear();
    let max = max.min(SELECTION_CAPACITY);
    if max == 0 {
        return;
    }
    if members.len() <= SMALL_SET {
        multivalue_small(members, health, max, rng, out);
    } else {
        multivalue_large(members, health, max, rng, out);
    }
}

/// Sets up to this size are sampled with a partial Fisher-Yates shuffle on the stack.
pub const SMALL_SET: usize = 64;

/// Identity permutation the small-set shuffle starts from.
const IDENTITY: [u8; SMALL_SET] = {
    let mut ids = [0u8; SMALL_SET];
    let mut i = 0;
    while i < SMALL_SET {
        ids[i] = i as u8;
        i += 1;
    }
    ids
};

/// Lists the healthy members (every member when none is healthy: fail-open), then draws
/// `max` of them without replacement with a partial Fisher-Yates shuffle: uniform over the
/// candidates, and the order drawn is already random.
fn multivalue_small<M: Member>(
    members: &[M],
    health: &HealthSnapshot,
    max: usize,
    rng: &mut fastrand::Rng,
    out: &mut Selection,
) {
    let mut pool = IDENTITY;
    let mut healthy_count = 0;
    for (i, m) in members.iter().enumerate() {
        // Branch-free: always write, advance only past a healthy member.
        pool[healthy_count] = i as u8;
        healthy_count += healthy(m, health) as usize;
    }
    let candidates = if healthy_count == 0 {
        // Fail-open: `IDENTITY` again, every member a candidate.
        pool = IDENTITY;
        members.len()
    } else {
        healthy_count
    };
    draw(&mut pool, candidates, max, rng, out);
}

/// Multivalue for a set whose members have no health checks, so all `n` are candidates: the
/// same draw as [`multivalue`] without looking at health.
pub fn multivalue_unchecked(n: usize, max: usize, rng: &mut fastrand::Rng, out: &mut Selection) {
    out.clear();
    let take = max.min(SELECTION_CAPACITY).min(n);
    if take == 0 {
        return;
    }
    if n <= SMALL_SET {
        // The pool draw, from a pool of every member.
        multivalue_pool(&IDENTITY, n, take, rng, out);
        return;
    }
    // More members than the stack pool holds: draw and redraw repeats. At most 64 of more
    // than 64 members, so repeats are rare, and the order drawn is already uniform.
    if draw_distinct(n, take, rng, out, |_| true) {
        return;
    }
    // Robert Floyd's sampling, should the draws keep repeating (a uniform subset; the
    // shuffle makes the order uniform too).
    out.clear();
    for j in n - take..n {
        let t = rng.usize(..=j);
        out.push(if out.contains(t) { j } else { t });
    }
    out.shuffle(rng);
}

/// Multivalue from a set's healthy members, listed ahead of time: the first `len` bytes of
/// `pool` (at least one). The same draw as [`multivalue`] with the health scan already done.
pub fn multivalue_pool(pool: &[u8; SMALL_SET], len: usize, max: usize, rng: &mut fastrand::Rng, out: &mut Selection) {
    debug_assert!((1..=SMALL_SET).contains(&len));
    if len <= HELD_POOL {
        // The usual set: a quarter of the pool to copy, and the same draw.
        let mut scratch: [u8; HELD_POOL] = pool[..HELD_POOL].try_into().expect("16 bytes");
        draw(&mut scratch, len, max, rng, out);
        return;
    }
    let mut scratch = *pool;
    draw(&mut scratch, len, max, rng, out);
}

/// Most candidates in a [`HeldPool`].
pub const HELD_POOL: usize = 16;

/// A small set's candidates held by value (the answer cache keeps one with an entry whose
/// multivalue rows it draws again on every hit), and how many to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldPool {
    /// Member indices; the first `len` are the candidates.
    pub members: [u8; HELD_POOL],
    /// How many candidates (1 to [`HELD_POOL`]).
    pub len: u8,
    /// The most to draw.
    pub max: u8,
}

impl HeldPool {
    /// The pool [`multivalue_unchecked`] draws `n` members from, `max` at most; `None`
    /// for more than [`HELD_POOL`] members or none.
    pub fn unchecked(n: usize, max: usize) -> Option<HeldPool> {
        let take = max.min(SELECTION_CAPACITY).min(n);
        if n > HELD_POOL || take == 0 {
            return None;
        }
        let members = IDENTITY[..HELD_POOL].try_into().expect("16 bytes");
        Some(HeldPool { members, len: n as u8, max: take as u8 })
    }

    /// The pool [`multivalue_pool`] draws from with `pool`'s first `len` members, `max` at
    /// most; `None` for more than [`HELD_POOL`] candidates or none.
    pub fn listed(pool: &[u8; SMALL_SET], len: usize, max: usize) -> Option<HeldPool> {
        if !(1..=HELD_POOL).contains(&len) || max == 0 {
            return None;
        }
        let members = pool[..HELD_POOL].try_into().expect("16 bytes");
        // The draw takes `max.min(len)`; nothing else of `max` matters.
        Some(HeldPool { members, len: len as u8, max: max.min(len) as u8 })
    }

    /// The draw [`multivalue_unchecked`] or [`multivalue_pool`] makes from this pool (the
    /// same members in the same order from the same RNG state), told as places in the pool:
    /// place `p` stands for member `members[p]`. The shuffle moves places as it would move
    /// members, so a caller that keeps something per place (the answer cache keeps each
    /// candidate's RDATA) follows the policy's draw without looking up the members.
    ///
    /// `put(k, p)` is called for the `k`-th member drawn, at place `p`, in answer order;
    /// returns how many were drawn. `scratch` serves draws of more than 8 only.
    #[inline(always)]
    pub fn draw_places(
        &self,
        rng: &mut fastrand::Rng,
        scratch: &mut Selection,
        mut put: impl FnMut(usize, usize),
    ) -> usize {
        let candidates = self.len as usize;
        let take = (self.max as usize).min(candidates);
        if take <= 8 {
            // `draw`'s one-word path (candidates <= HELD_POOL = 16), with the pool of places
            // in one register, a place per nibble: no stores and loads through memory between
            // one pick and the next. Unrolled for the usual 8.
            let word = rng.u64(..);
            if take == 8 {
                draw_nibbles(candidates, 8, word, &mut put);
            } else {
                draw_nibbles(candidates, take, word, &mut put);
            }
            return take;
        }
        let mut places: [u8; HELD_POOL] = IDENTITY[..HELD_POOL].try_into().expect("16 bytes");
        draw(&mut places, candidates, take, rng, scratch);
        for (k, &p) in scratch.as_slice().iter().enumerate() {
            put(k, p as usize);
        }
        take
    }
}

/// `draw`'s one-word path over the identity pool of 16 places, held as the nibbles of a
/// word (place `i` in bits `4i..4i + 4`): the same picks from the same `word`.
#[inline(always)]
fn draw_nibbles(candidates: usize, take: usize, mut word: u64, put: &mut impl FnMut(usize, usize)) {
    debug_assert!(candidates <= HELD_POOL && take <= 8 && take <= candidates);
    let mut pool: u64 = 0xFEDC_BA98_7654_3210;
    for k in 0..take {
        let wide = word as u128 * (candidates - k) as u128;
        word = wide as u64;
        let j = (k + (wide >> 64) as usize) & (HELD_POOL - 1);
        let at_j = (pool >> (4 * j)) & 0xF;
        put(k, at_j as usize);
        // Half a swap, as `draw` makes: place k moves to j; position k is never read again.
        let at_k = (pool >> (4 * k)) & 0xF;
        pool ^= (at_j ^ at_k) << (4 * j);
    }
}

/// Multivalue from a large set's healthy members, listed ahead of time (at least one): the
/// same draw as [`multivalue`], O(`max`) however many members there are or are down.
pub fn multivalue_listed(list: &[u32], max: usize, rng: &mut fastrand::Rng, out: &mut Selection) {
    debug_assert!(!list.is_empty());
    // Draw positions in the list, then read the members there.
    multivalue_unchecked(list.len(), max, rng, out);
    for slot in &mut out.picked[..out.len] {
        *slot = list[*slot as usize];
    }
}

/// A uniformly random order of `0..n` (at most [`SMALL_SET`]) in `order[..n]`.
pub fn permutation(n: usize, rng: &mut fastrand::Rng, order: &mut [u8; SMALL_SET]) {
    debug_assert!(n <= SMALL_SET);
    *order = IDENTITY;
    let mut dice = Dice::new();
    for k in 0..n.saturating_sub(1) {
        let j = k + dice.roll(rng, n - k);
        order.swap(k, j);
    }
}

/// Draws `max` of `pool`'s first `candidates` without replacement into `out` with a partial
/// Fisher-Yates shuffle: uniform over them, in random order. `N` is a power of two, at least
/// `candidates`.
#[inline(always)]
fn draw<const N: usize>(
    pool: &mut [u8; N],
    candidates: usize,
    max: usize,
    rng: &mut fastrand::Rng,
    out: &mut Selection,
) {
    const { assert!(N.is_power_of_two()) };
    debug_assert!(candidates <= N);
    // Every index below is under `candidates`; masking with N - 1 changes none of them and
    // spares the bounds checks.
    let take = max.min(candidates).min(SELECTION_CAPACITY);
    if candidates <= 16 && take <= 8 {
        // The common case: 16 x 15 x ... x 9 < 2^32, so one word serves every draw, as
        // `Dice` would use it, without its bookkeeping.
        let mut word = rng.u64(..);
        for (k, slot) in out.picked[..take].iter_mut().enumerate() {
            let wide = word as u128 * (candidates - k) as u128;
            word = wide as u64;
            let j = (k + (wide >> 64) as usize) & (N - 1);
            *slot = pool[j] as u32;
            // Half a swap: position k is never read again.
            pool[j] = pool[k & (N - 1)];
        }
        out.len = take;
        return;
    }
    let mut dice = Dice::new();
    for (k, slot) in out.picked[..take].iter_mut().enumerate() {
        let j = (k + dice.roll(rng, candidates - k)) & (N - 1);
        *slot = pool[j] as u32;
        pool[j] = pool[k & (N - 1)];
    }
    out.len = take;
}

/// Uniform draws from small ranges, several from each 64-bit random word: a draw is the high
/// half of `word * range` and the low half becomes the next word (Lemire's multiply-shift,
/// batched as in Brackett-Rozinsky and Lemire, "Batched Ranged Random Integer Generation",
/// 2024). A new word is taken once the product of the ranges drawn from the current one would
/// pass 2^32, so every draw keeps at least 32 bits of precision and its bias stays below
/// 2^-32. Choosing 8 of 16 takes one word (16 x 15 x ... x 9 < 2^32) instead of eight.
struct Dice {
    word: u64,
    product: u64,
}

impl Dice {
    /// Dice with no word yet: the first roll of a range above 1 draws one.
    fn new() -> Self {
        Dice { word: 0, product: 1 << 32 }
    }

    /// The largest range a roll takes.
    const MAX_RANGE: usize = 1 << 31;

    /// A uniform value in `0..range`, for `range` from 1 to [`Dice::MAX_RANGE`].
    #[inline(always)]
    fn roll(&mut self, rng: &mut fastrand::Rng, range: usize) -> usize {
        debug_assert!((1..=Self::MAX_RANGE).contains(&range));
        let range = range as u64;
        // At most 2^32 x 2^31 before the check: no overflow.
        self.product *= range;
        if self.product > 1 << 32 {
            self.word = rng.u64(..);
            self.product = range;
        }
        let wide = self.word as u128 * range as u128;
        self.word = wide as u64;
        (wide >> 64) as usize
    }
}

/// Rejection sampling for sets over [`SMALL_SET`]: draws from `0..n` and keeps each value
/// that `accept` admits and `out` doesn't hold yet, until `out` holds `take` or
/// `take * SAMPLING_ATTEMPTS_PER_PICK` draws are spent; whether it got there. Every ordered
/// choice of `take` accepted values is equally likely, and so is the order.
#[inline(always)]
fn draw_distinct(
    n: usize,
    take: usize,
    rng: &mut fastrand::Rng,
    out: &mut Selection,
    accept: impl Fn(usize) -> bool,
) -> bool {
    debug_assert!(n > SMALL_SET && take <= SELECTION_CAPACITY);
    // Bit `i % 64` is set for every `i` kept, so most draws are known new without a search.
    let mut kept = 0u64;
    let mut dice = Dice::new();
    let mut attempts = take * SAMPLING_ATTEMPTS_PER_PICK;
    while out.len < take && attempts > 0 {
        attempts -= 1;
        let i = if n <= Dice::MAX_RANGE { dice.roll(rng, n) } else { rng.usize(..n) };
        let bit = 1u64 << (i % 64);
        if (kept & bit != 0 && out.contains(i)) || !accept(i) {
            continue;
        }
        kept |= bit;
        out.push(i);
    }
    out.len == take
}

/// Large sets: rejection sampling is O(max) while most members are healthy, whatever the
/// set size; when it keeps missing, a scan with reservoir sampling finishes the job.
fn multivalue_large<M: Member>(
    members: &[M],
    health: &HealthSnapshot,
    max: usize,
    rng: &mut fastrand::Rng,
    out: &mut Selection,
) {
    if draw_distinct(members.len(), max, rng, out, |i| healthy(&members[i], health)) {
        return;
    }
    out.clear();
    let healthy_count = members.iter().filter(|m| healthy(*m, health)).count();
    let fail_open = healthy_count == 0;
    let mut seen = 0usize;
    for (i, m) in members.iter().enumerate() {
        if !fail_open && !healthy(m, health) {
            continue;
        }
        if out.len < max {
            out.push(i);
        } else {
            // Algorithm R: keep the i-th candidate with probability max/(seen+1).
            let j = rng.usize(..=seen);
            if j < max {
                out.picked[j] = i as u32;
            }
        }
        seen += 1;
    }
    out.shuffle(rng);
}

/// Failover (section 3.1): primary while healthy; secondary when the primary is not, if the
/// secondary is healthy or has no check; primary again when both are down.
pub fn failover<M: Member>(members: &[M], health: &HealthSnapshot, out: &mut Selection) {
    out.clear();
    let primary = members.iter().position(|m| m.is_primary());
    let secondary = members.iter().position(|m| !m.is_primary());
    let chosen = match (primary, secondary) {
        (Some(p), Some(s)) => {
            if healthy(&members[p], health) || !healthy(&members[s], health) {
                p
            } else {
                s
            }
        }
        (Some(only), None) | (None, Some(only)) => only,
        (None, None) => return,
    };
    out.push(chosen);
}

/// Weighted (section 3.2): one member, chosen with probability weight/sum among healthy
/// non-zero members; zero-weight members only when every non-zero one is unhealthy (then
/// equally); when none is healthy, by weight among all; all weights zero means equal chances.
pub fn weighted<M: Member>(members: &[M], health: &HealthSnapshot, rng: &mut fastrand::Rng, out: &mut Selection) {
    out.clear();
    if members.is_empty() {
        return;
    }
    let healthy_weight: u32 = members.iter().filter(|m| healthy(*m, health)).map(|m| m.weight() as u32).sum();
    let chosen = if healthy_weight > 0 {
        pick_by_weight(members, healthy_weight, rng, |m| healthy(m, health))
    } else if let Some(i) = pick_uniform(members, rng, |m| healthy(m, health) && m.weight() == 0) {
        i
    } else {
        let total: u32 = members.iter().map(|m| m.weight() as u32).sum();
        if total > 0 {
            pick_by_weight(members, total, rng, |_| true)
        } else {
            rng.usize(..members.len())
        }
    };
    out.push(chosen);
}

/// Simple routing: the single member.
pub fn simple(out: &mut Selection) {
    out.clear();
    out.push(0);
}

fn pick_by_weight<M: Member>(
    members: &[M],
    total: u32,
    rng: &mut fastrand::Rng,
    eligible: impl Fn(&M) -> bool,
) -> usize {
    let mut ticket = rng.u32(..total);
    let mut last = 0;
    for (i, m) in members.iter().enumerate() {
        if !eligible(m) || m.weight() == 0 {
            continue;
        }
        last = i;
        let w = m.weight() as u32;
        if ticket < w {
            return i;
        }
        ticket -= w;
    }
    last
}

fn pick_uniform<M: Member>(members: &[M], rng: &mut fastrand::Rng, eligible: impl Fn(&M) -> bool) -> Option<usize> {
    let count = members.iter().filter(|m| eligible(m)).count();
    if count == 0 {
        return None;
    }
    let target = rng.usize(..count);
    members.iter().enumerate().filter(|(_, m)| eligible(m)).nth(target).map(|(i, _)| i)
}

#[cfg(test)]
mod tests;
