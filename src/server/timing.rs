//! How long answers take inside a running UDP worker, for performance work. Built in with
//! `cargo build --release --features answer-timing`; without the feature no worker times
//! anything.
//!
//! Criterion's `answer_path` times the answer path warm, one query after another. A worker
//! under real traffic wakes up for a few datagrams at a time, and the first answer after each
//! wake-up finds its code and data out of the nearest caches. The figures here split the two:
//! the first datagram of each batch, and the later ones. `tools/bench-peers.sh` prints them
//! when run with `TIMING=1`.

use std::fmt;
use std::time::{Duration, Instant};

/// How often a worker logs its figures.
pub const REPORT_EVERY: Duration = Duration::from_secs(2);

/// Answers timed, and their total time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Answers timed.
    pub count: u64,
    /// Their total time, the clock's own cost taken off each.
    pub total: Duration,
}

impl Tally {
    /// Mean time per answer, in nanoseconds (0 when none was timed).
    pub fn mean_ns(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.total.as_nanos() as f64 / self.count as f64
        }
    }
}

/// One worker's answer times since its last report.
#[derive(Debug)]
pub struct AnswerTiming {
    /// The first answer of each received batch.
    first: Tally,
    /// Every later answer of a batch.
    later: Tally,
    /// What two clock reads in a row cost, taken off every measurement.
    clock_cost: Duration,
    since: Instant,
}

impl Default for AnswerTiming {
    fn default() -> Self {
        Self::new()
    }
}

impl AnswerTiming {
    /// Empty tallies, with the clock's own cost measured (the least of many back-to-back reads).
    pub fn new() -> Self {
        let clock_cost = (0..1000)
            .map(|_| {
                let start = Instant::now();
                start.elapsed()
            })
            .min()
            .unwrap_or_default();
        AnswerTiming { first: Tally::default(), later: Tally::default(), clock_cost, since: Instant::now() }
    }

    /// What two clock reads in a row cost.
    pub fn clock_cost(&self) -> Duration {
        self.clock_cost
    }

    /// Counts one answer: the `position`-th of its batch (from 0), taking `elapsed`.
    #[inline]
    pub fn record(&mut self, position: usize, elapsed: Duration) {
        let tally = if position == 0 { &mut self.first } else { &mut self.later };
        tally.count += 1;
        tally.total += elapsed.saturating_sub(self.clock_cost);
    }

    /// The figures since the last report, when [`REPORT_EVERY`] has passed and some answer was
    /// timed; the tallies start again.
    pub fn report_due(&mut self, now: Instant) -> Option<TimingReport> {
        if now.duration_since(self.since) < REPORT_EVERY || self.first.count + self.later.count == 0 {
            return None;
        }
        let report = TimingReport { first: self.first, later: self.later, clock_cost: self.clock_cost };
        self.first = Tally::default();
        self.later = Tally::default();
        self.since = now;
        Some(report)
    }
}

/// What [`AnswerTiming::report_due`] hands out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimingReport {
    /// First answers of a batch.
    pub first: Tally,
    /// Later answers of a batch.
    pub later: Tally,
    /// The clock's cost, already taken off.
    pub clock_cost: Duration,
}

impl fmt::Display for TimingReport {
    /// One line that `tools/bench-peers.sh` reads back: keep the `key=value` words stable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "answer timing: first_count={} first_ns={:.0} later_count={} later_ns={:.0} clock_ns={}",
            self.first.count,
            self.first.mean_ns(),
            self.later.count,
            self.later.mean_ns(),
            self.clock_cost.as_nanos()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_first_of_batch_from_later_and_starts_again_after_a_report() {
        let mut timing = AnswerTiming::new();
        let cost = timing.clock_cost();
        let start = timing.since;
        timing.record(0, Duration::from_nanos(900) + cost);
        timing.record(0, Duration::from_nanos(1100) + cost);
        for position in 1..5 {
            timing.record(position, Duration::from_nanos(200) + cost);
        }
        assert_eq!(timing.report_due(start + Duration::from_millis(10)), None, "not due yet");
        let report = timing.report_due(start + REPORT_EVERY).expect("due");
        assert_eq!(report.first, Tally { count: 2, total: Duration::from_nanos(2000) });
        assert_eq!(report.later, Tally { count: 4, total: Duration::from_nanos(800) });
        assert_eq!(report.first.mean_ns(), 1000.0);
        assert_eq!(report.later.mean_ns(), 200.0);
        let line = report.to_string();
        assert!(line.contains("first_count=2 first_ns=1000 later_count=4 later_ns=200"), "{line}");
        // Nothing timed since: nothing to report, however long it has been.
        assert_eq!(timing.report_due(start + REPORT_EVERY * 3), None);
        assert_eq!(Tally::default().mean_ns(), 0.0);
    }

    #[test]
    fn a_measurement_below_the_clock_cost_counts_as_zero() {
        let mut timing = AnswerTiming::new();
        timing.record(3, Duration::ZERO);
        assert_eq!(timing.later, Tally { count: 1, total: Duration::ZERO });
    }
}
