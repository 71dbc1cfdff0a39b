//! What the fleet needs from its store, and nothing more: reads at a revision, transactions,
//! leases and watches that resume from a revision. [`super::etcd::Etcd`] implements it over
//! etcd's v3 JSON gateway; another client (the gRPC one, say) can be swapped in behind the
//! same trait. Every call blocks, with a time limit, so the caller owns its thread.

use std::fmt;
use std::time::Duration;

/// A revision of the whole store: etcd numbers every change, and every answer carries the
/// revision it was read at.
pub type Revision = i64;

/// A lease's id; keys put under a lease vanish when it expires or is revoked.
pub type LeaseId = i64;

/// The keys a read, a delete or a watch covers: one key, or every key from `start` up to
/// (not including) `end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    /// The first key.
    pub start: Vec<u8>,
    /// The key after the last, or `None` for `start` alone. `Some(vec![0])` means every key
    /// from `start` on (etcd's convention).
    pub end: Option<Vec<u8>>,
}

impl KeyRange {
    /// One key.
    pub fn key(key: impl Into<Vec<u8>>) -> KeyRange {
        KeyRange { start: key.into(), end: None }
    }

    /// Every key that starts with `prefix` (every key at all for an empty prefix).
    pub fn prefix(prefix: impl Into<Vec<u8>>) -> KeyRange {
        let start = prefix.into();
        let mut end = start.clone();
        // The first key past the prefix: the last byte that can be incremented, incremented,
        // and what follows it dropped; a prefix of only 0xff bytes has no end but the last key.
        while end.last() == Some(&0xff) {
            end.pop();
        }
        match end.last_mut() {
            Some(last) => *last += 1,
            None => end = vec![0],
        }
        KeyRange { start, end: Some(end) }
    }
}

/// One key as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: Vec<u8>,
    /// The value (empty for a delete event).
    pub value: Vec<u8>,
    /// The revision that created the key (since it was last absent).
    pub create_revision: Revision,
    /// The revision of its last change; for a delete event, the revision of the delete.
    pub mod_revision: Revision,
    /// How many times it was written since it was created (0 once deleted).
    pub version: i64,
    /// The lease it is attached to, or 0.
    pub lease: LeaseId,
}

/// A read's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// The store's revision when it answered: for a read of the latest, the revision read;
    /// for a read at an older revision, still the latest.
    pub revision: Revision,
    /// The keys found, in key order.
    pub kvs: Vec<KeyValue>,
    /// Whether a limit left keys out.
    pub more: bool,
}

/// What a transaction's comparison looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The key's last change (0 when absent).
    ModRevision(Revision),
    /// The revision that created the key (0 when absent).
    CreateRevision(Revision),
    /// How many times the key was written (0 when absent).
    Version(i64),
    /// The key's value.
    Value(Vec<u8>),
}

/// How a comparison compares the key's field with the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Field equals the target.
    Equal,
    /// Field differs from the target.
    NotEqual,
    /// Field is greater than the target.
    Greater,
    /// Field is less than the target.
    Less,
}

/// One comparison of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compare {
    /// The key compared.
    pub key: Vec<u8>,
    /// How.
    pub order: Order,
    /// With what.
    pub target: Target,
}

impl Compare {
    /// The key's last change is `revision` (0: the key is absent): a compare-and-swap.
    pub fn mod_revision(key: impl Into<Vec<u8>>, revision: Revision) -> Compare {
        Compare { key: key.into(), order: Order::Equal, target: Target::ModRevision(revision) }
    }
}

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Puts a value, attached to a lease when one is given.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// The lease the key lives under.
        lease: Option<LeaseId>,
    },
    /// Deletes a key or a range.
    Delete(KeyRange),
}

/// A transaction: when every comparison holds, the `success` writes, else the `failure`
/// writes, all at one revision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txn {
    /// The comparisons, all of which must hold.
    pub compares: Vec<Compare>,
    /// Writes when they hold.
    pub success: Vec<Op>,
    /// Writes when one does not.
    pub failure: Vec<Op>,
}

/// A transaction's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnOutcome {
    /// Whether every comparison held.
    pub succeeded: bool,
    /// The store's revision after it (unchanged when nothing was written).
    pub revision: Revision,
}

/// A granted lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Its id.
    pub id: LeaseId,
    /// How long it lives without a keep-alive, as granted (the store may round it up).
    pub ttl: Duration,
}

/// Whether an event put or deleted its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The key was written.
    Put,
    /// The key was deleted (or its lease ended).
    Delete,
}

/// One change seen by a watch; its revision is `kv.mod_revision`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Put or delete.
    pub kind: EventKind,
    /// The key after the change (for a delete: the key and the delete's revision).
    pub kv: KeyValue,
}

/// What a watch delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchMessage {
    /// Changes, in revision order; a revision's events always come together.
    Events {
        /// The store's revision when they were sent.
        revision: Revision,
        /// The changes.
        events: Vec<Event>,
    },
    /// Every change up to `revision` has been delivered.
    Progress {
        /// The revision reached.
        revision: Revision,
    },
    /// The stream broke or stayed quiet past the idle time, and was opened again (on the same
    /// endpoint or the next) from `from`: nothing was lost, and the caller got its thread back.
    Reopened {
        /// The first revision the new stream delivers.
        from: Revision,
    },
}

/// What the fleet needs from its store. Every call blocks for at most the store's time limit.
pub trait Store {
    /// A watch: a blocking iterator of messages. It ends (returns `None`) after it reported
    /// [`StoreError::Compacted`] or [`StoreError::WatchCanceled`]; after other errors, the
    /// next call tries again from where it stopped. Dropping it cancels it.
    type Watch: Iterator<Item = Result<WatchMessage, StoreError>> + Send;

    /// Reads the keys in `keys` at `revision` (`None`: the latest), at most `limit` of them.
    fn range(&self, keys: &KeyRange, revision: Option<Revision>, limit: Option<u64>) -> Result<Range, StoreError>;

    /// Applies a transaction.
    fn txn(&self, txn: &Txn) -> Result<TxnOutcome, StoreError>;

    /// Grants a lease that lives `ttl` (whole seconds, rounded up) without a keep-alive.
    fn lease_grant(&self, ttl: Duration) -> Result<Lease, StoreError>;

    /// Renews a lease once; returns its time to live from now.
    fn lease_keep_alive(&self, lease: LeaseId) -> Result<Duration, StoreError>;

    /// Ends a lease now, deleting its keys.
    fn lease_revoke(&self, lease: LeaseId) -> Result<(), StoreError>;

    /// Watches `keys` from revision `from` on: every change at `from` or later, in order.
    fn watch(&self, keys: &KeyRange, from: Revision) -> Result<Self::Watch, StoreError>;

    /// Drops the history before `revision` (tests and operations; watches and reads before
    /// it then report [`StoreError::Compacted`]).
    fn compact(&self, revision: Revision) -> Result<(), StoreError>;

    /// Reads every key in `keys` at one revision, `page` keys a request: the first page at
    /// `revision` (`None`: the latest), the others at the revision the first one saw.
    fn range_all(&self, keys: &KeyRange, revision: Option<Revision>, page: u64) -> Result<Range, StoreError> {
        let mut all = self.range(keys, revision, Some(page.max(1)))?;
        let at = revision.unwrap_or(all.revision);
        let mut more = all.more;
        while more {
            let Some(last) = all.kvs.last() else { break };
            let mut after = last.key.clone();
            after.push(0);
            let rest = KeyRange { start: after, end: keys.end.clone() };
            let next = self.range(&rest, Some(at), Some(page.max(1)))?;
            more = next.more;
            all.kvs.extend(next.kvs);
        }
        all.more = false;
        Ok(all)
    }
}

/// Why a store call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// No endpoint answered; one line per endpoint tried and why. A transaction that fails
    /// so may still have been applied (compare on a revision to make the retry safe).
    Unavailable(Vec<String>),
    /// The revision asked for is older than the store's compaction: read everything again.
    Compacted {
        /// The oldest revision still held, when the store said (a watch does, a read not).
        compact_revision: Option<Revision>,
    },
    /// The revision asked for is newer than the store's.
    FutureRevision,
    /// The lease expired or was revoked.
    LeaseNotFound(LeaseId),
    /// The store refused the credentials or the user lacks a permission.
    Auth(String),
    /// The store ended a watch for another reason than compaction.
    WatchCanceled(String),
    /// The store refused the request: its gRPC status code and message.
    Refused {
        /// gRPC status code.
        code: i64,
        /// The store's message.
        message: String,
    },
    /// The answer could not be understood.
    Malformed(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Unavailable(tried) => write!(f, "no etcd endpoint answered: {}", tried.join("; ")),
            StoreError::Compacted { compact_revision: Some(r) } => {
                write!(f, "etcd compacted its history past the revision asked for (oldest kept: {r})")
            }
            StoreError::Compacted { compact_revision: None } => {
                write!(f, "etcd compacted its history past the revision asked for")
            }
            StoreError::FutureRevision => write!(f, "the revision asked for is newer than etcd's"),
            StoreError::LeaseNotFound(id) => write!(f, "etcd lease {id:x} expired or was revoked"),
            StoreError::Auth(message) => {
                write!(f, "etcd refused access: {message} (check the user name, password and its role)")
            }
            StoreError::WatchCanceled(reason) => write!(f, "etcd canceled the watch: {reason}"),
            StoreError::Refused { code, message } => write!(f, "etcd refused the request: {message} (code {code})"),
            StoreError::Malformed(what) => write!(f, "etcd answered something not understood: {what}"),
        }
    }
}

impl std::error::Error for StoreError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_at_the_first_key_past_it() {
        assert_eq!(KeyRange::prefix("/a/").end, Some(b"/a0".to_vec()));
        assert_eq!(KeyRange::prefix(vec![b'a', 0xff, 0xff]).end, Some(b"b".to_vec()));
        assert_eq!(KeyRange::prefix(vec![0xff]).end, Some(vec![0]));
        assert_eq!(KeyRange::prefix("").end, Some(vec![0]));
        assert_eq!(KeyRange::key("k").end, None);
    }
}
