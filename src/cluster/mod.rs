//! The fleet: several eightfold instances agreeing on health through etcd. This module owns
//! the talk with etcd, the fleet thread and the fleet's pure rules; nothing here runs on a
//! worker's path.
//!
//! ```text
//!   bundle      a pushed configuration: collected, stored by hash in chunks, switched in
//!               with a compare-and-swap of config/current, fetched back and checked
//!   push        `eightfold push`: store a bundle, then wait for each instance's answer
//!   store       the trait: what the fleet needs from etcd (reads at a revision,
//!               transactions, leases, watches that resume from a revision)
//!   etcd        that trait over etcd's v3 JSON gateway (blocking HTTP, endpoints rotated)
//!   fleet       the cluster thread: lease, member key, reports, watched cache, who
//!               probes what; a view of it sent to the prober
//!   keys        the fleet's keys under /eightfold/<cluster>/ and their JSON values
//!   rendezvous  which k live instances probe a check (a specified, stable hash)
//!   rule        the observers' reports -> a check's measured state (Route 53's > 18%)
//! ```
//!
//! Data flows one way: etcd's keys -> a cache of members and reports -> `rule` -> the measured
//! states the health rules ([`crate::health`]) already turn into a snapshot.

pub mod bundle;
pub mod etcd;
pub mod fleet;
pub mod keys;
pub mod push;
pub mod rendezvous;
pub mod rule;
pub mod store;

pub use etcd::{Credentials, Etcd, EtcdOptions, EtcdWatch, SetupError};
pub use rendezvous::Observers;
pub use rule::{Basis, Decision, Rule};
pub use store::{
    Compare, Event, EventKind, KeyRange, KeyValue, Lease, LeaseId, Op, Order, Range, Revision, Store, StoreError,
    Target, Txn, TxnOutcome, WatchMessage,
};
