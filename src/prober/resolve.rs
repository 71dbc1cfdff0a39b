//! Name resolution for checks given by `fqdn` alone, off the prober thread. The system
//! resolver blocks and cannot be cancelled, so lookups run on a small pool of [`THREADS`]
//! threads, with at most one lookup in flight per name: a name whose resolver never answers
//! holds one thread, not the others' turn. The prober waits for each answer no longer than
//! the deadline it asked with; one that does not come by then is a failed probe ("DNS
//! resolution failed", as Route 53 says), and the next ask for that name waits for the lookup
//! still running instead of queueing another.
//!
//! ```text
//!  prober: Resolver::ask(name, deadline) -> queue -> THREADS x lookup(name)
//!          Resolver::poll(now) <- answers (and the waker) <-'   or the deadline passes
//! ```

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver, Sender};
use mio::Waker;

use super::probe::is_local;

/// Lookups that may run at once.
pub const THREADS: usize = 4;
/// Longest wait for one lookup; shorter still for checks with short intervals (see [`timeout`]).
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Route 53's wording for a name with no usable address.
pub const FAILED: &str = "Failure: DNS resolution failed";

/// How one lookup ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The name's first IPv4 address (Route 53 probes IPv4 only).
    Address(IpAddr),
    /// No address: the reason, in Route 53's words.
    Failed(String),
    /// This host could not look the name up (out of descriptors or memory): no result.
    Local(String),
}

/// A blocking lookup of one name.
pub type Lookup = Arc<dyn Fn(&str) -> Resolution + Send + Sync>;

/// How long a check with this interval waits for its name: [`TIMEOUT`], or half the
/// interval when that is shorter, so a hung lookup never delays the check's next probe.
pub fn timeout(interval: Duration) -> Duration {
    TIMEOUT.min(interval / 2)
}

/// The system resolver (`getaddrinfo`), keeping the first IPv4 address.
pub fn system_lookup(name: &str) -> Resolution {
    match (name, 0).to_socket_addrs() {
        Ok(mut addrs) => match addrs.find(SocketAddr::is_ipv4) {
            Some(addr) => Resolution::Address(addr.ip()),
            None => Resolution::Failed(format!("{FAILED}: no IPv4 address for {name}")),
        },
        Err(e) if is_local(&e) => Resolution::Local(format!("cannot resolve {name}: {e}")),
        Err(e) => Resolution::Failed(format!("{FAILED}: {e}")),
    }
}

/// The prober's side of the pool: what is asked, what is in flight, what is awaited.
pub struct Resolver {
    requests: Sender<String>,
    answers: Receiver<(String, Resolution)>,
    /// Names queued or being looked up (one lookup per name at a time).
    in_flight: HashSet<String>,
    /// Names someone waits for, and until when.
    waiting: HashMap<String, Instant>,
}

impl Resolver {
    /// Starts `threads` lookup threads; each answer wakes the prober through `waker`.
    pub fn new(threads: usize, lookup: Lookup, waker: Arc<Waker>) -> io::Result<Resolver> {
        let (requests, queue) = channel::unbounded::<String>();
        let (tell, answers) = channel::unbounded();
        for n in 0..threads.max(1) {
            let (queue, tell, lookup, waker) = (queue.clone(), tell.clone(), lookup.clone(), waker.clone());
            std::thread::Builder::new().name(format!("resolver-{n}")).spawn(move || {
                for name in queue {
                    let resolution = lookup(&name);
                    if tell.send((name, resolution)).is_err() {
                        return;
                    }
                    let _ = waker.wake();
                }
            })?;
        }
        Ok(Resolver { requests, answers, in_flight: HashSet::new(), waiting: HashMap::new() })
    }

    /// Asks for `name`, to be answered by `deadline` (an earlier wait for it keeps its own);
    /// a lookup is queued only when none is in flight for the name.
    pub fn ask(&mut self, name: &str, deadline: Instant) {
        self.waiting.entry(name.to_string()).or_insert(deadline);
        if self.in_flight.insert(name.to_string()) && self.requests.send(name.to_string()).is_err() {
            self.in_flight.remove(name);
        }
    }

    /// Answers that arrived for names still awaited, and a failure for each name whose
    /// deadline passed.
    pub fn poll(&mut self, now: Instant) -> Vec<(String, Resolution)> {
        let mut done = Vec::new();
        while let Ok((name, resolution)) = self.answers.try_recv() {
            self.in_flight.remove(&name);
            if self.waiting.remove(&name).is_some() {
                done.push((name, resolution));
            }
        }
        let late: Vec<(String, Instant)> =
            self.waiting.iter().filter(|(_, &at)| at <= now).map(|(n, &at)| (n.clone(), at)).collect();
        for (name, _) in late {
            self.waiting.remove(&name);
            done.push((name, Resolution::Failed(format!("{FAILED}: no answer in time"))));
        }
        done
    }

    /// The earliest deadline of a name still awaited.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.waiting.values().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// A resolver whose lookups of "hang.test" block until the test ends, counting them.
    fn hanging(threads: usize) -> (Resolver, Arc<AtomicUsize>, Sender<()>, mio::Poll) {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let hung = Arc::new(AtomicUsize::new(0));
        let (release, released) = channel::bounded::<()>(0);
        let released = Mutex::new(released);
        let count = hung.clone();
        let lookup: Lookup = Arc::new(move |name: &str| {
            if name == "hang.test" {
                count.fetch_add(1, Ordering::SeqCst);
                let _ = released.lock().unwrap().recv();
            }
            Resolution::Address(IpAddr::from([192, 0, 2, 1]))
        });
        (Resolver::new(threads, lookup, waker).unwrap(), hung, release, poll)
    }

    /// Polls until every name in `names` is answered (or `limit` passes); each one's
    /// resolution and when it came, in the order of `names`.
    fn wait_for(resolver: &mut Resolver, names: &[&str], limit: Duration) -> Vec<(Resolution, Instant)> {
        let until = Instant::now() + limit;
        let mut got: HashMap<String, (Resolution, Instant)> = HashMap::new();
        while Instant::now() < until && got.len() < names.len() {
            let now = Instant::now();
            got.extend(resolver.poll(now).into_iter().map(|(n, r)| (n, (r, now))));
            std::thread::sleep(Duration::from_millis(2));
        }
        names.iter().map(|n| got.remove(*n).unwrap_or_else(|| panic!("{n} not answered"))).collect()
    }

    #[test]
    fn a_hung_name_delays_no_other_name() {
        let (mut resolver, hung, release, _poll) = hanging(THREADS);
        let short = Duration::from_millis(600);
        // A 1 s check on a name whose lookup never returns, for ten rounds…
        for round in 0..10 {
            let start = Instant::now();
            resolver.ask("hang.test", start + short);
            // …while a check on another name keeps resolving at once each round.
            resolver.ask("fast.test", start + short);
            let answers = wait_for(&mut resolver, &["fast.test", "hang.test"], Duration::from_secs(5));
            let ((fast, fast_at), (failed, failed_at)) = (&answers[0], &answers[1]);
            assert_eq!(*fast, Resolution::Address(IpAddr::from([192, 0, 2, 1])), "round {round}");
            assert!(*fast_at - start < short, "round {round}: not held up by the hung name");
            assert!(matches!(failed, Resolution::Failed(r) if r.starts_with(FAILED)), "{failed:?}");
            assert!(*failed_at - start < short + Duration::from_millis(200), "round {round}: the deadline holds");
        }
        assert_eq!(hung.load(Ordering::SeqCst), 1, "one lookup in flight per name: the hung one is not asked again");
        // Once the hung lookup returns, the next ask for the name gets its answer.
        resolver.ask("hang.test", Instant::now() + Duration::from_secs(5));
        release.send(()).unwrap();
        let late = wait_for(&mut resolver, &["hang.test"], Duration::from_secs(5));
        assert_eq!(late[0].0, Resolution::Address(IpAddr::from([192, 0, 2, 1])));
        assert_eq!(resolver.next_deadline(), None);
    }

    #[test]
    fn lookups_run_in_parallel_up_to_the_pool_size() {
        let (mut resolver, _, release, _poll) = hanging(THREADS);
        // A hung name holds one thread; the other names still resolve together.
        resolver.ask("hang.test", Instant::now() + Duration::from_secs(60));
        let names: Vec<String> = (0..20).map(|i| format!("n{i}.test")).collect();
        let deadline = Instant::now() + Duration::from_secs(5);
        for name in &names {
            resolver.ask(name, deadline);
        }
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(wait_for(&mut resolver, &names, Duration::from_secs(5)).len(), 20);
        drop(release);
    }

    #[test]
    fn timeouts_stay_below_the_interval() {
        assert_eq!(timeout(Duration::from_secs(30)), TIMEOUT);
        assert_eq!(timeout(Duration::from_secs(1)), Duration::from_millis(500));
        assert_eq!(system_lookup("localhost"), Resolution::Address(IpAddr::from([127, 0, 0, 1])));
    }
}
