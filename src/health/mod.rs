//! Health state: the immutable [`HealthSnapshot`] workers read, and the rules that turn
//! raw probe results into it (inverted, disabled, calculated).
//!
//! The prober that produces raw results lives on its own thread (issue #3); here a snapshot
//! is built from each check's initial state so that answers are right from the first packet.

use crate::config::{CheckConfig, CheckKind};

/// Each check's effective health, indexed like [`crate::config::Config::checks`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSnapshot {
    healthy: Box<[bool]>,
}

impl HealthSnapshot {
    /// Builds a snapshot from per-check endpoint results (`None` = no result yet), applying
    /// Route 53's rules: disabled is healthy, inverted flips, calculated counts children.
    pub fn evaluate(checks: &[CheckConfig], raw: &[Option<bool>]) -> Self {
        let endpoint = |i: usize| -> bool {
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

    /// Number of checks covered.
    pub fn len(&self) -> usize {
        self.healthy.len()
    }

    /// Whether there are no checks.
    pub fn is_empty(&self) -> bool {
        self.healthy.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn check(id: &str, kind: CheckKind) -> CheckConfig {
        CheckConfig {
            id: id.into(),
            kind,
            ip: None,
            port: 80,
            resource_path: "/".into(),
            fqdn: None,
            search_string: None,
            request_interval: Duration::from_secs(30),
            failure_threshold: 3,
            inverted: false,
            disabled: false,
            enable_sni: false,
            children: vec![],
            health_threshold: 1,
        }
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
