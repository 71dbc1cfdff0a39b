//! Policy rules, including the reference's table T1-T8 (T9 is a zone lookup, tested in `answer`).

use super::*;

struct M {
    check: Option<u32>,
    weight: u8,
    primary: bool,
}

impl Member for M {
    fn check(&self) -> Option<u32> {
        self.check
    }
    fn weight(&self) -> u8 {
        self.weight
    }
    fn is_primary(&self) -> bool {
        self.primary
    }
}

fn unchecked(n: usize) -> Vec<M> {
    (0..n).map(|_| M { check: None, weight: 1, primary: false }).collect()
}

/// Member i has check i.
fn checked(n: usize) -> Vec<M> {
    (0..n).map(|i| M { check: Some(i as u32), weight: 1, primary: false }).collect()
}

fn states(healthy: &[usize], n: usize) -> HealthSnapshot {
    HealthSnapshot::from_states((0..n).map(|i| healthy.contains(&i)).collect())
}

fn run_mv(members: &[M], health: &HealthSnapshot, rng: &mut fastrand::Rng) -> Vec<u32> {
    let mut out = Selection::default();
    multivalue(members, health, 8, rng, &mut out);
    let mut picked = out.as_slice().to_vec();
    picked.sort_unstable();
    let mut dedup = picked.clone();
    dedup.dedup();
    assert_eq!(dedup, picked, "members repeated");
    picked
}

#[test]
fn t1_three_unchecked_all_returned() {
    let mut rng = fastrand::Rng::with_seed(1);
    let members = unchecked(3);
    for _ in 0..50 {
        assert_eq!(run_mv(&members, &states(&[], 0), &mut rng), vec![0, 1, 2]);
    }
}

#[test]
fn t2_ten_unchecked_eight_distinct_and_all_appear() {
    let mut rng = fastrand::Rng::with_seed(2);
    let members = unchecked(10);
    let mut seen = [0u32; 10];
    for _ in 0..200 {
        let picked = run_mv(&members, &states(&[], 0), &mut rng);
        assert_eq!(picked.len(), 8);
        for i in picked {
            seen[i as usize] += 1;
        }
    }
    assert!(seen.iter().all(|&c| c > 0), "{seen:?}");
}

#[test]
fn t3_three_healthy_of_ten_never_padded() {
    let mut rng = fastrand::Rng::with_seed(3);
    let members = checked(10);
    let health = states(&[1, 4, 7], 10);
    for _ in 0..100 {
        assert_eq!(run_mv(&members, &health, &mut rng), vec![1, 4, 7]);
    }
}

#[test]
fn t4_all_unhealthy_fail_open_eight_of_ten() {
    let mut rng = fastrand::Rng::with_seed(4);
    let members = checked(10);
    let health = states(&[], 10);
    let mut seen = [false; 10];
    for _ in 0..200 {
        let picked = run_mv(&members, &health, &mut rng);
        assert_eq!(picked.len(), 8);
        for i in picked {
            seen[i as usize] = true;
        }
    }
    assert!(seen.iter().all(|&s| s));
}

#[test]
fn t5_unchecked_record_prevents_fail_open() {
    let mut rng = fastrand::Rng::with_seed(5);
    let mut members = checked(4);
    members.push(M { check: None, weight: 1, primary: false });
    let health = states(&[], 4);
    for _ in 0..50 {
        assert_eq!(run_mv(&members, &health, &mut rng), vec![4]);
    }
}

#[test]
fn t6_two_unhealthy_both_returned() {
    let mut rng = fastrand::Rng::with_seed(6);
    assert_eq!(run_mv(&checked(2), &states(&[], 2), &mut rng), vec![0, 1]);
}

#[test]
fn t7_t8_disabled_and_inverted_checks() {
    use crate::config::{CheckConfig, CheckKind};
    let base = CheckConfig::new("x", CheckKind::Http);
    let mut rng = fastrand::Rng::with_seed(7);
    // T7: one record, its check disabled while the endpoint is down.
    let disabled = CheckConfig { disabled: true, ..base.clone() };
    let health = HealthSnapshot::evaluate(&[disabled], &[Some(false)]);
    assert_eq!(run_mv(&checked(1), &health, &mut rng), vec![0]);
    // T8: one healthy record, one whose inverted check sees the endpoint up.
    let inverted = CheckConfig { inverted: true, ..base.clone() };
    let health = HealthSnapshot::evaluate(&[base, inverted], &[Some(true), Some(true)]);
    for _ in 0..20 {
        assert_eq!(run_mv(&checked(2), &health, &mut rng), vec![0]);
    }
}

#[test]
fn large_sets_sample_uniformly_among_healthy() {
    let mut rng = fastrand::Rng::with_seed(8);
    let members = checked(1000);
    let healthy: Vec<usize> = (0..1000).filter(|i| i % 3 == 0).collect();
    let health = states(&healthy, 1000);
    for _ in 0..200 {
        let picked = run_mv(&members, &health, &mut rng);
        assert_eq!(picked.len(), 8);
        assert!(picked.iter().all(|&i| i % 3 == 0));
    }
    // Only 9 healthy out of 1000: rejection sampling gives up, the scan still finds 8 of them.
    let health = states(&[5, 50, 500, 501, 502, 600, 700, 800, 999], 1000);
    let picked = run_mv(&members, &health, &mut rng);
    assert_eq!(picked.len(), 8);
    assert!(picked.iter().all(|i| [5, 50, 500, 501, 502, 600, 700, 800, 999].contains(&(*i as usize))));
    // Exactly 7 healthy among many: all 7, nothing padded.
    let seven = [1, 2, 3, 400, 500, 600, 999];
    let health = states(&seven, 1000);
    assert_eq!(run_mv(&members, &health, &mut rng), seven.iter().map(|&i| i as u32).collect::<Vec<_>>());
}

#[test]
fn answer_order_varies() {
    let mut rng = fastrand::Rng::with_seed(9);
    let members = unchecked(4);
    let mut firsts = std::collections::HashSet::new();
    for _ in 0..100 {
        let mut out = Selection::default();
        multivalue(&members, &states(&[], 0), 8, &mut rng, &mut out);
        firsts.insert(out.as_slice()[0]);
    }
    assert_eq!(firsts.len(), 4);
}

fn pair(primary_check: Option<u32>, secondary_check: Option<u32>) -> Vec<M> {
    vec![M { check: primary_check, weight: 0, primary: true }, M { check: secondary_check, weight: 0, primary: false }]
}

#[test]
fn failover_decision_table() {
    let mut out = Selection::default();
    let cases = [
        // (primary healthy, secondary healthy, expected)
        (true, true, 0),
        (true, false, 0),
        (false, true, 1),
        (false, false, 0),
    ];
    for (p, s, want) in cases {
        let health = HealthSnapshot::from_states(vec![p, s]);
        failover(&pair(Some(0), Some(1)), &health, &mut out);
        assert_eq!(out.as_slice(), &[want], "primary {p} secondary {s}");
    }
    // A secondary without a check is used whenever the primary is down.
    failover(&pair(Some(0), None), &HealthSnapshot::from_states(vec![false]), &mut out);
    assert_eq!(out.as_slice(), &[1]);
    // A primary without a check is always used.
    failover(&pair(None, Some(1)), &HealthSnapshot::from_states(vec![false, true]), &mut out);
    assert_eq!(out.as_slice(), &[0]);
}

fn weights(ws: &[u8]) -> Vec<M> {
    ws.iter().enumerate().map(|(i, &w)| M { check: Some(i as u32), weight: w, primary: false }).collect()
}

fn weighted_counts(members: &[M], health: &HealthSnapshot, rounds: usize) -> Vec<usize> {
    let mut rng = fastrand::Rng::with_seed(10);
    let mut out = Selection::default();
    let mut counts = vec![0; members.len()];
    for _ in 0..rounds {
        weighted(members, health, &mut rng, &mut out);
        assert_eq!(out.as_slice().len(), 1);
        counts[out.as_slice()[0] as usize] += 1;
    }
    counts
}

#[test]
fn weighted_rules() {
    let all_up = HealthSnapshot::from_states(vec![true; 3]);
    // Proportional to weight.
    let c = weighted_counts(&weights(&[1, 3, 0]), &all_up, 40_000);
    assert_eq!(c[2], 0);
    assert!((9_000..11_000).contains(&c[0]), "{c:?}");
    // All zero: equal chances.
    let c = weighted_counts(&weights(&[0, 0, 0]), &all_up, 30_000);
    assert!(c.iter().all(|&n| (9_000..11_000).contains(&n)), "{c:?}");
    // Non-zero members down: zero-weight members take over.
    let c = weighted_counts(&weights(&[5, 5, 0]), &HealthSnapshot::from_states(vec![false, false, true]), 1000);
    assert_eq!(c, vec![0, 0, 1000]);
    // Only healthy members answer.
    let c = weighted_counts(&weights(&[5, 5, 0]), &HealthSnapshot::from_states(vec![false, true, true]), 1000);
    assert_eq!(c, vec![0, 1000, 0]);
    // None healthy: by weight among all.
    let c = weighted_counts(&weights(&[1, 0, 1]), &HealthSnapshot::from_states(vec![false; 3]), 10_000);
    assert_eq!(c[1], 0);
    assert!((4_000..6_000).contains(&c[0]), "{c:?}");
}

/// Runs `draw` `rounds` times and checks that it picks `take` distinct members of
/// `candidates` and that each candidate is equally likely in each answer position (within
/// about 4.5 standard deviations when `rounds / candidates` is 2,000).
fn assert_uniform_positions(candidates: &[usize], take: usize, rounds: usize, mut draw: impl FnMut(&mut Selection)) {
    let n = candidates.iter().max().map_or(0, |m| m + 1);
    let mut by_position = vec![vec![0usize; n]; take];
    let mut out = Selection::default();
    for _ in 0..rounds {
        draw(&mut out);
        assert_eq!(out.as_slice().len(), take);
        let mut distinct = out.as_slice().to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), take, "repeated member in {:?}", out.as_slice());
        for (position, &i) in out.as_slice().iter().enumerate() {
            assert!(candidates.contains(&(i as usize)), "member {i} is not a candidate");
            by_position[position][i as usize] += 1;
        }
    }
    let expected = rounds / candidates.len();
    for (position, counts) in by_position.iter().enumerate() {
        for &i in candidates {
            let count = counts[i];
            assert!(count.abs_diff(expected) < expected / 10, "position {position} member {i}: {count} vs {expected}");
        }
    }
}

#[test]
fn small_sets_sample_uniformly_in_every_position() {
    // 11 healthy of 16: every healthy member equally likely in each answer position.
    let mut rng = fastrand::Rng::with_seed(10);
    let members = checked(16);
    let healthy: Vec<usize> = (0..16).filter(|i| i % 8 != 1 && i % 8 != 6 && *i != 11).collect();
    assert_eq!(healthy.len(), 11);
    let health = states(&healthy, 16);
    assert_uniform_positions(&healthy, 8, 22_000, |out| multivalue(&members, &health, 8, &mut rng, out));
}

#[test]
fn precomputed_pools_sample_like_a_health_scan() {
    // The same 11 healthy of 16, listed ahead of time as the prober's pools list them.
    let mut rng = fastrand::Rng::with_seed(12);
    let healthy: Vec<usize> = (0..16).filter(|i| i % 8 != 1 && i % 8 != 6 && *i != 11).collect();
    let mut pool = [0u8; SMALL_SET];
    for (slot, &i) in pool.iter_mut().zip(&healthy) {
        *slot = i as u8;
    }
    assert_uniform_positions(&healthy, 8, 22_000, |out| multivalue_pool(&pool, healthy.len(), 8, &mut rng, out));
    // Fewer healthy than `max`: all of them, in random order.
    pool[..3].copy_from_slice(&[3, 9, 14]);
    assert_uniform_positions(&[3, 9, 14], 3, 6_000, |out| multivalue_pool(&pool, 3, 8, &mut rng, out));
    // More than 16 healthy (the general dice path), and more answers than 8.
    let all: Vec<usize> = (0..40).collect();
    for (slot, &i) in pool.iter_mut().zip(&all) {
        *slot = i as u8;
    }
    assert_uniform_positions(&all, 8, 80_000, |out| multivalue_pool(&pool, 40, 8, &mut rng, out));
    assert_uniform_positions(&all[..12], 10, 24_000, |out| multivalue_pool(&pool, 12, 10, &mut rng, out));
}

#[test]
fn held_pools_draw_the_policys_members_by_place() {
    // Places drawn from a held pool, read through its members, are what the policy draws
    // from the same RNG state: on the one-word path (up to 16, at most 8) and on the dice.
    let healthy: [u8; 11] = [0, 2, 3, 4, 5, 7, 8, 10, 12, 13, 15];
    let mut block = [0u8; SMALL_SET];
    block[..11].copy_from_slice(&healthy);
    let (mut policy, mut held) = (Selection::default(), Selection::default());
    for (len, max) in [(11, 8), (11, 3), (11, 10), (16, 8), (16, 16), (9, 8), (8, 8), (1, 8)] {
        let pool = HeldPool::listed(&block, len, max).expect("a held pool");
        let unchecked = HeldPool::unchecked(len, max).expect("a held pool");
        for seed in 0..200 {
            let (mut a, mut b) = (fastrand::Rng::with_seed(seed), fastrand::Rng::with_seed(seed));
            multivalue_pool(&block, len, max, &mut a, &mut policy);
            let mut places = Vec::new();
            let drawn = pool.draw_places(&mut b, &mut held, |k, p| places.push((k, p)));
            assert_eq!(drawn, places.len());
            assert!(places.iter().enumerate().all(|(i, &(k, _))| i == k), "in answer order");
            let members: Vec<u32> = places.iter().map(|&(_, p)| pool.members[p] as u32).collect();
            assert_eq!(members, policy.as_slice(), "{len} {max} {seed}");
            assert_eq!(a.get_seed(), b.get_seed());
            multivalue_unchecked(len, max, &mut a, &mut policy);
            let mut drawn = Vec::new();
            unchecked.draw_places(&mut b, &mut held, |_, p| drawn.push(p as u32));
            assert_eq!(drawn, policy.as_slice(), "unchecked {len} {max} {seed}");
            assert_eq!(a.get_seed(), b.get_seed());
        }
    }
    assert!(HeldPool::listed(&block, 17, 8).is_none() && HeldPool::unchecked(17, 8).is_none());
}

#[test]
fn listed_pools_of_large_sets_sample_uniformly() {
    let mut rng = fastrand::Rng::with_seed(15);
    // 100 healthy members spread over a set of 1,000.
    let healthy: Vec<usize> = (0..100).map(|i| i * 10 + i % 7).collect();
    let list: Vec<u32> = healthy.iter().map(|&i| i as u32).collect();
    assert_uniform_positions(&healthy, 8, 200_000, |out| multivalue_listed(&list, 8, &mut rng, out));
    // Few healthy (the stack pool's path): all of them, or `max` of them.
    assert_uniform_positions(&healthy[..5], 5, 10_000, |out| multivalue_listed(&list[..5], 8, &mut rng, out));
    assert_uniform_positions(&healthy[..12], 8, 24_000, |out| multivalue_listed(&list[..12], 8, &mut rng, out));
}

#[test]
fn unchecked_sets_sample_uniformly_small_and_large() {
    let mut rng = fastrand::Rng::with_seed(13);
    let sixteen: Vec<usize> = (0..16).collect();
    assert_uniform_positions(&sixteen, 8, 32_000, |out| multivalue_unchecked(16, 8, &mut rng, out));
    // Above the stack pool's size: draws with redraws of repeats.
    let hundred: Vec<usize> = (0..100).collect();
    assert_uniform_positions(&hundred, 8, 200_000, |out| multivalue_unchecked(100, 8, &mut rng, out));
    let mut out = Selection::default();
    // 64 of 65: redraws run out and Floyd's sampling finishes; every member is left out
    // sometimes.
    let mut left_out = [0usize; 65];
    for _ in 0..2_000 {
        multivalue_unchecked(65, 64, &mut rng, &mut out);
        let mut picked = out.as_slice().to_vec();
        picked.sort_unstable();
        picked.dedup();
        assert_eq!(picked.len(), 64);
        let missing = (0..65).find(|i| !picked.contains(i)).expect("one left out");
        left_out[missing as usize] += 1;
    }
    assert!(left_out.iter().all(|&c| c > 0), "{left_out:?}");
    multivalue_unchecked(5, 8, &mut rng, &mut out);
    let mut all = out.as_slice().to_vec();
    all.sort_unstable();
    assert_eq!(all, [0, 1, 2, 3, 4], "fewer members than max: every one");
    multivalue_unchecked(0, 8, &mut rng, &mut out);
    assert!(out.as_slice().is_empty());
}

#[test]
fn permutations_are_uniform() {
    let mut rng = fastrand::Rng::with_seed(14);
    let rounds = 20_000;
    let mut counts = [[0usize; 5]; 5];
    let mut order = [0u8; SMALL_SET];
    for _ in 0..rounds {
        permutation(5, &mut rng, &mut order);
        let mut sorted = order[..5].to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, [0, 1, 2, 3, 4]);
        for (position, &v) in order[..5].iter().enumerate() {
            counts[position][v as usize] += 1;
        }
    }
    let expected = rounds / 5;
    for row in counts {
        for c in row {
            assert!(c.abs_diff(expected) < expected / 10, "{c} vs {expected}");
        }
    }
}

#[test]
fn dice_rolls_are_uniform_for_each_range_of_a_word() {
    let mut rng = fastrand::Rng::with_seed(11);
    let rounds = 40_000;
    // Ranges 16 down to 9 come from one word: check the last one as closely as the first.
    let mut counts = vec![vec![0usize; 16]; 8];
    for _ in 0..rounds {
        let mut dice = Dice::new();
        for (k, count) in counts.iter_mut().enumerate() {
            let value = dice.roll(&mut rng, 16 - k);
            assert!(value < 16 - k);
            count[value] += 1;
        }
    }
    for (k, count) in counts.iter().enumerate() {
        let expected = rounds / (16 - k);
        for &c in &count[..16 - k] {
            assert!(c.abs_diff(expected) < expected / 10, "range {}: {c} vs {expected}", 16 - k);
        }
    }
    // Large ranges (sets over 64 members): three of 1,000 share a word; tenths of the range
    // are equally likely for each of them.
    let mut tenths = [[0usize; 10]; 4];
    for _ in 0..rounds {
        let mut dice = Dice::new();
        for tenth in tenths.iter_mut() {
            let value = dice.roll(&mut rng, 1000);
            assert!(value < 1000);
            tenth[value / 100] += 1;
        }
    }
    let expected = rounds / 10;
    for (k, count) in tenths.iter().enumerate() {
        for &c in count {
            assert!(c.abs_diff(expected) < expected / 10, "roll {k} of 1000: {c} vs {expected}");
        }
    }
}
