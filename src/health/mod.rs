//! Health rules: the immutable [`HealthSnapshot`] workers read, and the rules that turn
//! measured results into it (Route 53's failure threshold, inverted, disabled, calculated
//! checks). No I/O and no clock: the prober ([`crate::prober`]) measures, these rules decide.

use crate::config::{CheckConfig, CheckKind};

/// Failure threshold in both directions: the measured state flips after this many
/// consecutive results that disagree with it (Route 53 FailureThreshold).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    healthy: bool,
    streak: u8,
}

impl Threshold {
    /// Starts in `healthy`.
    pub fn new(healthy: bool) -> Self {
        Threshold { healthy, streak: 0 }
    }

    /// Carries on from a state and streak measured before (a reload, a restart).
    pub fn resume(healthy: bool, streak: u8) -> Self {
        Threshold { healthy, streak }
    }

    /// The measured state.
    pub fn healthy(&self) -> bool {
        self.healthy
    }

    /// Consecutive results that disagree with the state so far.
    pub fn streak(&self) -> u8 {
        self.streak
    }

    /// Records one probe result; returns true when the state flipped.
    pub fn record(&mut self, success: bool, threshold: u8) -> bool {
        if success == self.healthy {
            self.streak = 0;
            return false;
        }
        self.streak = self.streak.saturating_add(1);
        if self.streak >= threshold.max(1) {
            self.healthy = success;
            self.streak = 0;
            return true;
        }
        false
    }
}

/// Each check's effective health, indexed like [`crate::config::Config::checks`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSnapshot {
    healthy: Box<[bool]>,
}

impl HealthSnapshot {
    /// Builds a snapshot from per-check endpoint results (`None` = no result yet), applying
    /// Route 53's rules: disabled is healthy, inverted flips, calculated counts children.
    pub fn evaluate(checks: &[CheckConfig], raw: &[Option<bool>]) -> Self {
        Self::evaluate_forced(checks, raw, &[])
    }

    /// As [`HealthSnapshot::evaluate`], with operator overrides (`Some(state)`) replacing a
    /// check's final state; a calculated check counts its children's overridden states.
    pub fn evaluate_forced(checks: &[CheckConfig], raw: &[Option<bool>], forced: &[Option<bool>]) -> Self {
        let forced_at = |i: usize| forced.get(i).copied().flatten();
        let endpoint = |i: usize| -> bool {
            if let Some(state) = forced_at(i) {
                return state;
            }
            let check = &checks[i];
            let measured = if check.disabled { true } else { raw.get(i).copied().flatten().unwrap_or(true) };
            measured != check.inverted
        };
        let healthy = (0..checks.len())
            .map(|i| {
                let check = &checks[i];
                if check.kind != CheckKind::Calculated {
                    return endpoint(i);
                }
                if let Some(state) = forced_at(i) {
                    return state;
                }
                let measured = check.disabled || {
                    let up = check.children.iter().filter(|&&c| endpoint(c)).count();
                    up >= check.health_threshold as usize
                };
                measured != check.inverted
            })
            .collect();
        HealthSnapshot { healthy }
    }

    /// Every check in its initial state: healthy, or unhealthy if inverted.
    pub fn initial(checks: &[CheckConfig]) -> Self {
        Self::evaluate(checks, &[])
    }

    /// A snapshot from explicit states (tests and benches).
    pub fn from_states(states: Vec<bool>) -> Self {
        HealthSnapshot { healthy: states.into_boxed_slice() }
    }

    /// Whether check `index` is healthy; an index the snapshot does not know is healthy.
    #[inline]
    pub fn is_healthy(&self, index: u32) -> bool {
        self.healthy.get(index as usize).copied().unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(id: &str, kind: CheckKind) -> CheckConfig {
        CheckConfig::new(id, kind)
    }

    #[test]
    fn overrides_replace_final_states_and_feed_calculated_checks() {
        let a = check("a", CheckKind::Http);
        let inverted = CheckConfig { inverted: true, ..check("b", CheckKind::Http) };
        let calc = CheckConfig { children: vec![0], health_threshold: 1, ..check("c", CheckKind::Calculated) };
        let checks = [a, inverted, calc];
        let snap =
            HealthSnapshot::evaluate_forced(&checks, &[Some(true), Some(true)], &[Some(false), Some(true), None]);
        assert_eq!(snap.healthy.as_ref(), &[false, true, false]);
        let snap = HealthSnapshot::evaluate_forced(&checks, &[Some(false)], &[None, None, Some(true)]);
        assert_eq!(snap.healthy.as_ref(), &[false, false, true]);
    }

    #[test]
    fn threshold_counts_both_ways() {
        let mut t = Threshold::new(true);
        assert!(!t.record(false, 3));
        assert!(!t.record(false, 3));
        assert!(!t.record(true, 3), "a success resets the streak");
        assert!(!t.record(false, 3));
        assert!(!t.record(false, 3));
        assert!(t.record(false, 3));
        assert!(!t.healthy());
        assert!(!t.record(true, 3));
        assert!(!t.record(true, 3));
        assert!(t.record(true, 3));
        assert!(t.healthy());
        let mut one = Threshold::new(true);
        assert!(one.record(false, 1));
    }

    #[test]
    fn initial_states_follow_route53() {
        let plain = check("a", CheckKind::Http);
        let inverted = CheckConfig { inverted: true, ..check("b", CheckKind::Http) };
        let disabled = CheckConfig { disabled: true, ..check("c", CheckKind::Tcp) };
        let both = CheckConfig { disabled: true, inverted: true, ..check("d", CheckKind::Tcp) };
        let snap = HealthSnapshot::initial(&[plain, inverted, disabled, both]);
        assert_eq!(snap.healthy.as_ref(), &[true, false, true, false]);
    }

    #[test]
    fn disabled_ignores_results_and_calculated_counts_children() {
        let a = check("a", CheckKind::Http);
        let b = CheckConfig { disabled: true, ..check("b", CheckKind::Http) };
        let all = CheckConfig { children: vec![0, 1], health_threshold: 2, ..check("all", CheckKind::Calculated) };
        let zero = CheckConfig { children: vec![0], health_threshold: 0, ..check("zero", CheckKind::Calculated) };
        let too_many = CheckConfig { children: vec![0], health_threshold: 2, ..check("many", CheckKind::Calculated) };
        let checks = [a, b, all, zero, too_many];
        let snap = HealthSnapshot::evaluate(&checks, &[Some(false), Some(false), None, None, None]);
        assert_eq!(snap.healthy.as_ref(), &[false, true, false, true, false]);
        let snap = HealthSnapshot::evaluate(&checks, &[Some(true), Some(false)]);
        assert_eq!(snap.healthy.as_ref(), &[true, true, true, true, false]);
        assert!(snap.is_healthy(99));
    }
}
