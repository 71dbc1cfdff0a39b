//! Query counters: one block per worker thread, written only by that thread (no shared cache
//! line is written per packet), summed when metrics are read. Label sets are fixed and small.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::answer::{Outcome, Transport};

/// QTYPEs counted by name; everything else is `OTHER`.
pub const QTYPES: [(u16, &str); 15] = [
    (1, "A"),
    (28, "AAAA"),
    (5, "CNAME"),
    (15, "MX"),
    (16, "TXT"),
    (2, "NS"),
    (6, "SOA"),
    (33, "SRV"),
    (12, "PTR"),
    (257, "CAA"),
    (65, "HTTPS"),
    (64, "SVCB"),
    (255, "ANY"),
    (43, "DS"),
    (252, "AXFR"),
];
/// Label of the catch-all QTYPE.
pub const OTHER: &str = "OTHER";
/// RCODEs counted by name; everything else is `OTHER`.
pub const RCODES: [(u16, &str); 7] =
    [(0, "NOERROR"), (1, "FORMERR"), (2, "SERVFAIL"), (3, "NXDOMAIN"), (4, "NOTIMP"), (5, "REFUSED"), (16, "BADVERS")];
/// Transport labels, indexed like [`Transport`].
pub const TRANSPORTS: [&str; 2] = ["udp", "tcp"];

const QTYPE_SLOTS: usize = QTYPES.len() + 1;
const RCODE_SLOTS: usize = RCODES.len() + 1;

/// One worker's counters, on cache lines of their own.
#[repr(align(128))]
pub struct WorkerStats {
    queries: [[[AtomicU64; RCODE_SLOTS]; QTYPE_SLOTS]; 2],
    truncated: [AtomicU64; 2],
    dropped: [AtomicU64; 2],
    rrl_dropped: AtomicU64,
    rrl_slipped: AtomicU64,
    cache_hits: AtomicU64,
}

impl WorkerStats {
    fn new() -> Self {
        WorkerStats {
            queries: [const { [const { [const { AtomicU64::new(0) }; RCODE_SLOTS] }; QTYPE_SLOTS] }; 2],
            truncated: [const { AtomicU64::new(0) }; 2],
            dropped: [const { AtomicU64::new(0) }; 2],
            rrl_dropped: AtomicU64::new(0),
            rrl_slipped: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
        }
    }

    /// Counts one packet. Only the owning thread calls this, so a plain load and store is
    /// enough (no locked read-modify-write).
    #[inline]
    pub fn record(&self, transport: Transport, outcome: &Outcome) {
        let t = transport as usize;
        if outcome.len == 0 {
            bump(&self.dropped[t]);
            return;
        }
        bump(&self.queries[t][qtype_slot(outcome.qtype)][rcode_slot(outcome.rcode)]);
        if outcome.truncated {
            bump(&self.truncated[t]);
        }
    }

    /// Counts a response rate limiting dropped (`slipped`: sent truncated instead).
    #[inline]
    pub fn record_rrl(&self, slipped: bool) {
        bump(if slipped { &self.rrl_slipped } else { &self.rrl_dropped });
    }

    /// Sets the answers this worker served from its answer cache so far.
    #[inline]
    pub fn set_cache_hits(&self, hits: u64) {
        self.cache_hits.store(hits, Ordering::Relaxed);
    }

    /// Counts a datagram dropped before parsing (too large).
    #[inline]
    pub fn record_dropped(&self, transport: Transport) {
        bump(&self.dropped[transport as usize]);
    }
}

#[inline]
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

#[inline]
fn qtype_slot(qtype: u16) -> usize {
    QTYPES.iter().position(|&(t, _)| t == qtype).unwrap_or(QTYPES.len())
}

#[inline]
fn rcode_slot(rcode: u16) -> usize {
    RCODES.iter().position(|&(r, _)| r == rcode).unwrap_or(RCODES.len())
}

/// Every worker's counters.
#[derive(Default)]
pub struct Stats {
    workers: Mutex<Vec<Arc<WorkerStats>>>,
}

/// Counters summed over workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    /// (transport, qtype, rcode, count), non-zero entries only.
    pub queries: Vec<(&'static str, &'static str, &'static str, u64)>,
    /// Truncated answers by transport.
    pub truncated: [u64; 2],
    /// Dropped packets by transport.
    pub dropped: [u64; 2],
    /// Responses RRL dropped.
    pub rrl_dropped: u64,
    /// Responses RRL sent truncated.
    pub rrl_slipped: u64,
    /// Answers served from the workers' answer caches.
    pub cache_hits: u64,
}

impl Stats {
    /// A new block for a worker thread.
    pub fn register(&self) -> Arc<WorkerStats> {
        let block = Arc::new(WorkerStats::new());
        if let Ok(mut workers) = self.workers.lock() {
            workers.push(block.clone());
        }
        block
    }

    /// Sums every worker's counters.
    pub fn totals(&self) -> Totals {
        let workers = self.workers.lock().map(|w| w.clone()).unwrap_or_default();
        let mut totals = Totals {
            queries: Vec::new(),
            truncated: [0; 2],
            dropped: [0; 2],
            rrl_dropped: workers.iter().map(|w| w.rrl_dropped.load(Ordering::Relaxed)).sum(),
            rrl_slipped: workers.iter().map(|w| w.rrl_slipped.load(Ordering::Relaxed)).sum(),
            cache_hits: workers.iter().map(|w| w.cache_hits.load(Ordering::Relaxed)).sum(),
        };
        for (t, transport) in TRANSPORTS.iter().enumerate() {
            for q in 0..QTYPE_SLOTS {
                for r in 0..RCODE_SLOTS {
                    let sum: u64 = workers.iter().map(|w| w.queries[t][q][r].load(Ordering::Relaxed)).sum();
                    if sum > 0 {
                        let qtype = QTYPES.get(q).map_or(OTHER, |(_, n)| n);
                        let rcode = RCODES.get(r).map_or(OTHER, |(_, n)| n);
                        totals.queries.push((transport, qtype, rcode, sum));
                    }
                }
            }
            totals.truncated[t] = workers.iter().map(|w| w.truncated[t].load(Ordering::Relaxed)).sum();
            totals.dropped[t] = workers.iter().map(|w| w.dropped[t].load(Ordering::Relaxed)).sum();
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_over_workers_with_bounded_labels() {
        let stats = Stats::default();
        let (a, b) = (stats.register(), stats.register());
        let ok = Outcome { len: 40, rcode: 0, qtype: 1, truncated: false };
        let odd = Outcome { len: 40, rcode: 9, qtype: 4242, truncated: true };
        a.record(Transport::Udp, &ok);
        b.record(Transport::Udp, &ok);
        b.record(Transport::Tcp, &odd);
        a.record(Transport::Udp, &Outcome::DROPPED);
        let t = stats.totals();
        assert!(t.queries.contains(&("udp", "A", "NOERROR", 2)));
        assert!(t.queries.contains(&("tcp", OTHER, OTHER, 1)));
        assert_eq!(t.truncated, [0, 1]);
        assert_eq!(t.dropped, [1, 0]);
    }
}
