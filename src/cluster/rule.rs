//! Route 53's rule for a check seen from several places: healthy when **more than** a
//! fraction (18% by default) of the observers that report on it say healthy. A pure function
//! of the reports; its result is a measured state, as a probe's would be, so inverted,
//! disabled and calculated checks, overrides and fail-open apply on top of it unchanged.
//!
//! What the strict `>` means for a few observers, at 18%: with 5 or fewer, one healthy report
//! is above 18% (1/5 = 20%), so a target is unhealthy only when every observer sees it down;
//! from 6 observers on (1/6 = 16.7%) one healthy report among them is not enough. Raise the
//! fraction to need more agreement (at 0.5, more than half), for targets where one observer's
//! view should not keep them in the answers.

/// The fraction of observers that must say healthy, unless set otherwise (Route 53's).
pub const DEFAULT_HEALTHY_FRACTION: f64 = 0.18;
/// The fewest observers whose reports decide, unless set otherwise.
pub const DEFAULT_MIN_OBSERVERS: usize = 2;

/// The rule's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// With fewer live observers than this, the reports do not decide (0 counts as 1).
    pub min_observers: usize,
    /// Healthy when healthy observers / observers is strictly above this (0 to 1).
    pub healthy_fraction: f64,
}

impl Default for Rule {
    fn default() -> Rule {
        Rule { min_observers: DEFAULT_MIN_OBSERVERS, healthy_fraction: DEFAULT_HEALTHY_FRACTION }
    }
}

/// What a decision rested on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The observers' reports.
    Observers {
        /// How many say healthy.
        healthy: usize,
        /// How many report.
        observers: usize,
    },
    /// Too few observers: this instance's own probe.
    OwnProbe,
    /// Too few observers and no probe of its own: the state known last (the state file's,
    /// after a cold start).
    LastKnown,
    /// Nothing known: the check keeps its initial state.
    Nothing,
}

/// A check's measured state and what it rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Healthy or not; `None` when nothing is known (the check's initial state applies).
    pub healthy: Option<bool>,
    /// Why.
    pub basis: Basis,
}

impl Rule {
    /// Decides a check's state from the reports of its live observers (`true`: healthy), this
    /// instance's own thresholded result when it probes the check, and the state known last.
    pub fn decide(
        &self,
        reports: impl IntoIterator<Item = bool>,
        own: Option<bool>,
        last_known: Option<bool>,
    ) -> Decision {
        let (mut healthy, mut observers) = (0usize, 0usize);
        for report in reports {
            observers += 1;
            healthy += usize::from(report);
        }
        self.decide_counts(healthy, observers, own, last_known)
    }

    /// [`Rule::decide`] from counts: `healthy` of `observers` live reports say healthy.
    pub fn decide_counts(
        &self,
        healthy: usize,
        observers: usize,
        own: Option<bool>,
        last_known: Option<bool>,
    ) -> Decision {
        if observers >= self.min_observers.max(1) {
            // Both counts are far below 2^53, so the quotient is the double nearest the exact
            // one: 9 of 50 is exactly the double 0.18 is read as, and so not above it.
            let up = healthy as f64 / observers as f64 > self.healthy_fraction;
            return Decision { healthy: Some(up), basis: Basis::Observers { healthy, observers } };
        }
        match (own, last_known) {
            (Some(own), _) => Decision { healthy: Some(own), basis: Basis::OwnProbe },
            (None, Some(last)) => Decision { healthy: Some(last), basis: Basis::LastKnown },
            (None, None) => Decision { healthy: None, basis: Basis::Nothing },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reports(healthy: usize, observers: usize) -> Vec<bool> {
        (0..observers).map(|i| i < healthy).collect()
    }

    fn state(rule: &Rule, healthy: usize, observers: usize) -> Option<bool> {
        rule.decide(reports(healthy, observers), None, None).healthy
    }

    #[test]
    fn up_to_five_observers_one_healthy_report_keeps_it_healthy() {
        let rule = Rule::default();
        for k in 2..=5 {
            assert_eq!(state(&rule, 0, k), Some(false), "0 of {k}");
            for healthy in 1..=k {
                assert_eq!(state(&rule, healthy, k), Some(true), "{healthy} of {k}");
            }
        }
    }

    #[test]
    fn from_six_observers_one_healthy_report_is_not_enough() {
        let rule = Rule::default();
        assert_eq!(state(&rule, 1, 6), Some(false));
        assert_eq!(state(&rule, 2, 6), Some(true));
        assert_eq!(state(&rule, 1, 10), Some(false));
        assert_eq!(state(&rule, 2, 10), Some(true));
    }

    #[test]
    fn exactly_the_fraction_is_not_more_than_it() {
        let rule = Rule::default();
        assert_eq!(state(&rule, 9, 50), Some(false), "9 of 50 is 18%");
        assert_eq!(state(&rule, 18, 100), Some(false), "18 of 100 is 18%");
        assert_eq!(state(&rule, 19, 100), Some(true));
        let half = Rule { healthy_fraction: 0.5, ..Rule::default() };
        assert_eq!(state(&half, 1, 2), Some(false));
        assert_eq!(state(&half, 2, 3), Some(true));
        let none = Rule { healthy_fraction: 0.0, ..Rule::default() };
        assert_eq!(state(&none, 0, 3), Some(false), "0% is not more than 0%");
        assert_eq!(state(&none, 1, 3), Some(true));
    }

    #[test]
    fn the_basis_counts_the_reports() {
        let decision = Rule::default().decide([true, false, false], Some(true), Some(true));
        assert_eq!(decision, Decision { healthy: Some(true), basis: Basis::Observers { healthy: 1, observers: 3 } });
    }

    #[test]
    fn too_few_observers_fall_back_to_the_own_probe_then_the_last_state() {
        let rule = Rule { min_observers: 3, ..Rule::default() };
        let two_down = reports(0, 2);
        assert_eq!(rule.decide(two_down.clone(), Some(true), Some(false)).basis, Basis::OwnProbe);
        assert_eq!(rule.decide(two_down.clone(), Some(true), Some(false)).healthy, Some(true));
        let last = rule.decide(two_down.clone(), None, Some(false));
        assert_eq!(last, Decision { healthy: Some(false), basis: Basis::LastKnown });
        assert_eq!(rule.decide(two_down, None, None), Decision { healthy: None, basis: Basis::Nothing });
        assert_eq!(rule.decide(reports(0, 3), Some(true), None).healthy, Some(false), "3 observers decide");
    }

    #[test]
    fn no_observers_never_divide_by_zero() {
        let rule = Rule { min_observers: 0, ..Rule::default() };
        assert_eq!(rule.decide([], None, Some(true)), Decision { healthy: Some(true), basis: Basis::LastKnown });
        assert_eq!(state(&rule, 0, 1), Some(false));
        assert_eq!(state(&rule, 1, 1), Some(true));
    }
}
