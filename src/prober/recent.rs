//! The last results of each check, a fixed number of them, for the status report and the
//! status page: the prober records every measured result, the control side copies them out.
//!
//! Memory is bounded: [`KEPT`] results a check, 32 bytes each, and a reason shared with the
//! result before when the two read the same (a steady endpoint gives the same reason every
//! time), so about 700 bytes a probed check.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Results kept per check; the oldest goes when a new one comes.
pub const KEPT: usize = 20;

/// One probe's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probed {
    /// When the probe ended, Unix seconds.
    pub at: u64,
    /// Whether the endpoint passed.
    pub success: bool,
    /// How long the probe took, microseconds (at most `u32::MAX`, over an hour).
    latency_micros: u32,
    /// Why, in Route 53's words (`Success: HTTP Status Code 200`).
    pub reason: Arc<str>,
}

impl Probed {
    /// How long the probe took.
    pub fn latency(&self) -> Duration {
        Duration::from_micros(u64::from(self.latency_micros))
    }
}

/// The last [`KEPT`] results of one check, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Recent {
    results: VecDeque<Probed>,
}

impl Recent {
    /// Adds a result, dropping the oldest when [`KEPT`] are held.
    pub fn record(&mut self, at: SystemTime, success: bool, latency: Duration, reason: String) {
        let reason = match self.results.back() {
            Some(last) if *last.reason == *reason => last.reason.clone(),
            _ => Arc::from(reason),
        };
        if self.results.capacity() == 0 {
            self.results.reserve_exact(KEPT);
        }
        if self.results.len() == KEPT {
            self.results.pop_front();
        }
        self.results.push_back(Probed {
            at: at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            success,
            latency_micros: u32::try_from(latency.as_micros()).unwrap_or(u32::MAX),
            reason,
        });
    }

    /// The newest result.
    pub fn last(&self) -> Option<&Probed> {
        self.results.back()
    }

    /// The results, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Probed> {
        self.results.iter()
    }

    /// A copy holding only the newest result: what the report needs without the history.
    pub fn latest_only(&self) -> Recent {
        Recent { results: self.results.back().cloned().into_iter().collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_results_and_shares_repeated_reasons() {
        let mut recent = Recent::default();
        let start = UNIX_EPOCH + Duration::from_secs(1_000);
        for i in 0..KEPT as u64 + 5 {
            let reason = if i % 10 < 5 { "Success: HTTP Status Code 200" } else { "Failure: HTTP Status Code 503" };
            recent.record(start + Duration::from_secs(i), i % 10 < 5, Duration::from_micros(2_500), reason.into());
        }
        let kept: Vec<&Probed> = recent.iter().collect();
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept[0].at, 1_005, "the five oldest went");
        assert_eq!(recent.last().map(|p| p.at), Some(1_000 + KEPT as u64 + 4));
        assert_eq!(kept[0].latency(), Duration::from_micros(2_500));
        assert!(Arc::ptr_eq(&kept[1].reason, &kept[2].reason), "the same reason is stored once");
        assert!(recent.results.capacity() < 2 * KEPT, "capacity {}", recent.results.capacity());
        let latest = recent.latest_only();
        assert_eq!(latest.iter().count(), 1);
        assert_eq!(latest.last(), recent.last());
        assert_eq!(Recent::default().latest_only().last(), None);
    }

    #[test]
    fn a_latency_past_the_range_is_kept_as_the_most() {
        let mut recent = Recent::default();
        recent.record(UNIX_EPOCH, false, Duration::from_secs(10_000), "Failure: timeout".into());
        assert_eq!(recent.last().map(Probed::latency), Some(Duration::from_micros(u64::from(u32::MAX))));
    }
}
