//! Which live instances probe a check: rendezvous (highest random weight) hashing. Every
//! instance computes the same choice from the same member list, with no coordination, and
//! when an instance joins or leaves only the checks it gains or loses change observers.
//!
//! # The score, exactly
//!
//! The score of instance `i` for check `c` is a 64-bit number:
//!
//! 1. `h` = FNV-1a 64 over the bytes of `c` (UTF-8), one `0x00` byte, then the bytes of `i`:
//!    start at `0xcbf29ce484222325`; for each byte, `h ^= byte; h = h * 0x100000001b3`
//!    (wrapping).
//! 2. The splitmix64 finalizer, to spread FNV's weak high bits:
//!    `h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9; h = (h ^ (h >> 27)) * 0x94d049bb133111eb;
//!    h = h ^ (h >> 31)` (wrapping).
//!
//! A check's observers are the `k` instances with the highest scores; equal scores go to the
//! smaller instance id (bytewise). The score depends on nothing but the two ids, so it is the
//! same on every platform and in every version: the tests pin it with fixed values, and a
//! change that alters it changes which instances probe what across a fleet mid-upgrade.

/// How many instances observe a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observers {
    /// The `k` instances with the highest scores (all of them when fewer are live).
    Count(usize),
    /// Every live instance: checks that need every vantage point.
    All,
}

/// The score of `instance` for `check`, as the module header specifies.
pub fn score(check: &str, instance: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in check.as_bytes().iter().chain(&[0u8]).chain(instance.as_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// The observers of `check` among `instances` (distinct ids; a repeated id counts once),
/// highest score first.
pub fn choose<'a, S: AsRef<str>>(check: &str, instances: &'a [S], observers: Observers) -> Vec<&'a str> {
    let mut ranked: Vec<(u64, &str)> = instances.iter().map(|i| (score(check, i.as_ref()), i.as_ref())).collect();
    ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    ranked.dedup_by(|a, b| a.1 == b.1);
    let k = match observers {
        Observers::Count(k) => k,
        Observers::All => ranked.len(),
    };
    ranked.into_iter().take(k).map(|(_, instance)| instance).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixed values, computed apart from this code: if one fails, the score changed, and a
    /// fleet running two versions would disagree on who probes what.
    #[test]
    fn the_score_is_pinned() {
        assert_eq!(score("", ""), 0x25fc_6dd3_6ce0_4b20);
        assert_eq!(score("web", "a"), 0x65a4_544e_f9d6_eec5);
        assert_eq!(score("web", "b"), 0x4cf8_8512_c717_8462);
        assert_eq!(score("web", "c"), 0x02f6_c735_7eec_c382);
        assert_eq!(score("api-1", "ns1.example.net"), 0x04ac_3866_d1c5_5d69);
        assert_eq!(score("api-1", "ns2.example.net"), 0x7378_4428_6dac_3447);
        assert_eq!(score("ü", "ß"), 0x6f71_6251_da14_16f5);
    }

    #[test]
    fn the_choice_is_pinned() {
        let instances = ["a", "b", "c", "d", "e"];
        assert_eq!(choose("web", &instances, Observers::Count(3)), ["e", "a", "b"]);
        assert_eq!(choose("api-1", &instances, Observers::Count(3)), ["d", "b", "e"]);
        assert_eq!(choose("db", &instances, Observers::Count(3)), ["e", "c", "d"]);
    }

    #[test]
    fn the_separator_keeps_ids_apart() {
        assert_ne!(score("ab", "c"), score("a", "bc"));
    }

    #[test]
    fn the_order_of_the_member_list_does_not_matter() {
        let forward = ["n1", "n2", "n3", "n4", "n5", "n6"];
        let mut backward = forward;
        backward.reverse();
        for check in 0..200 {
            let check = format!("check-{check}");
            assert_eq!(choose(&check, &forward, Observers::Count(3)), choose(&check, &backward, Observers::Count(3)));
        }
    }

    #[test]
    fn all_fewer_and_repeated_instances() {
        let instances = ["x", "y", "x"];
        assert_eq!(choose("c", &instances, Observers::Count(5)).len(), 2);
        let mut all = choose("c", &instances, Observers::All);
        all.sort_unstable();
        assert_eq!(all, ["x", "y"]);
        assert!(choose::<&str>("c", &[], Observers::Count(3)).is_empty());
        assert!(choose("c", &instances, Observers::Count(0)).is_empty());
    }

    /// An instance leaving moves only the checks it observed, each to one new observer; the
    /// others keep theirs.
    #[test]
    fn a_leaving_instance_moves_only_its_own_checks() {
        let before: Vec<String> = (0..7).map(|i| format!("instance-{i}")).collect();
        let after: Vec<String> = before.iter().filter(|i| *i != "instance-3").cloned().collect();
        for check in 0..1000 {
            let check = format!("check-{check}");
            let old = choose(&check, &before, Observers::Count(3));
            let new = choose(&check, &after, Observers::Count(3));
            if old.contains(&"instance-3") {
                let kept: Vec<&&str> = old.iter().filter(|i| **i != "instance-3").collect();
                assert!(kept.iter().all(|i| new.contains(i)), "{check}: {old:?} -> {new:?}");
            } else {
                assert_eq!(old, new, "{check}");
            }
        }
    }

    /// Load spreads evenly: each of 5 instances observes about 3/5 of 10,000 checks (a
    /// deterministic count; a skewed hash would push one far off).
    #[test]
    fn observers_spread_evenly() {
        let instances = ["ns1", "ns2", "ns3", "ns4", "ns5"];
        let mut load = [0u32; 5];
        for check in 0..10_000 {
            for chosen in choose(&format!("www-{check}.example.com"), &instances, Observers::Count(3)) {
                load[instances.iter().position(|i| *i == chosen).unwrap()] += 1;
            }
        }
        assert!(load.iter().all(|&n| (5_700..=6_300).contains(&n)), "{load:?}");
    }
}
