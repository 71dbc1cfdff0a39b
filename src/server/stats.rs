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
pub const RCODES: [(u16, &str); 8] = [
    (0, "NOERROR"),
    (1, "FORMERR"),
    (2, "SERVFAIL"),
    (3, "NXDOMAIN"),
    (4, "NOTIMP"),
    (5, "REFUSED"),
    (9, "NOTAUTH"),
    (16, "BADVERS"),
];
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
}

#[inline]
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// The slot of each of `labels`' codes below 256, and `labels.len()` (OTHER) for the rest:
/// a table read per packet instead of a search, which compiles to an indirect jump.
const fn slots_below_256<const N: usize>(labels: &[(u16, &str); N]) -> [u8; 256] {
    let mut table = [N as u8; 256];
    let mut i = 0;
    while i < N {
        if labels[i].0 < 256 {
            table[labels[i].0 as usize] = i as u8;
        }
        i += 1;
    }
    table
}

static QTYPE_SLOT: [u8; 256] = slots_below_256(&QTYPES);
static RCODE_SLOT: [u8; 256] = slots_below_256(&RCODES);

#[inline]
fn qtype_slot(qtype: u16) -> usize {
    match QTYPE_SLOT.get(qtype as usize) {
        Some(&slot) => slot as usize,
        None => slot_above_255(&QTYPES, qtype),
    }
}

#[inline]
fn rcode_slot(rcode: u16) -> usize {
    match RCODE_SLOT.get(rcode as usize) {
        Some(&slot) => slot as usize,
        None => slot_above_255(&RCODES, rcode),
    }
}

/// The slot of a code of 256 or more (CAA, say), by search.
#[cold]
fn slot_above_255(labels: &[(u16, &str)], code: u16) -> usize {
    labels.iter().position(|&(c, _)| c == code).unwrap_or(labels.len())
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
        let ok = Outcome::new(40, 0, 1, false);
        let odd = Outcome::new(40, 10, 4242, true);
        a.record(Transport::Udp, &ok);
        a.record(Transport::Udp, &Outcome::new(40, 9, 1, false));
        b.record(Transport::Udp, &ok);
        b.record(Transport::Tcp, &odd);
        a.record(Transport::Udp, &Outcome::DROPPED);
        let t = stats.totals();
        assert!(t.queries.contains(&("udp", "A", "NOERROR", 2)));
        assert!(t.queries.contains(&("udp", "A", "NOTAUTH", 1)), "TSIG errors");
        assert!(t.queries.contains(&("tcp", OTHER, OTHER, 1)));
        assert_eq!(t.truncated, [0, 1]);
        assert_eq!(t.dropped, [1, 0]);
    }

    #[test]
    fn every_code_finds_its_own_label_or_other() {
        let search = |labels: &[(u16, &str)], code: u16| labels.iter().position(|&(c, _)| c == code);
        for code in 0..=u16::MAX {
            assert_eq!(qtype_slot(code), search(&QTYPES, code).unwrap_or(QTYPES.len()), "qtype {code}");
            assert_eq!(rcode_slot(code), search(&RCODES, code).unwrap_or(RCODES.len()), "rcode {code}");
        }
        assert_eq!(QTYPES[qtype_slot(257)].1, "CAA");
        assert_eq!(RCODES[rcode_slot(16)].1, "BADVERS");
        assert_eq!(qtype_slot(99), QTYPES.len());
    }
}
