//! `eightfold push`'s side of a push: reach etcd as a config's `[cluster]` says, and after the
//! switch of `config/current`, wait for each live instance's answer: it serves the pushed
//! configuration (its `members/<instance>` names the hash) or refused it (its
//! `status/<instance>` names the hash with an error).
//!
//! ```text
//!   members/, status/ at revision R  --> who is live, who answered already
//!   watches of both from R + 1       --> answers as they come, instances joining and leaving
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::etcd::{Credentials, EtcdOptions};
use super::keys::{self, Applied, Member};
use super::store::{EventKind, KeyRange, KeyValue, Revision, Store, StoreError, WatchMessage};
use crate::config::ClusterConfig;

/// How to reach etcd for a fleet configured by `cluster`.
pub fn etcd_options(cluster: &ClusterConfig) -> EtcdOptions {
    let mut options = EtcdOptions::new(cluster.endpoints.clone());
    options.credentials = cluster
        .credentials
        .as_ref()
        .map(|(user, password)| Credentials { user: user.clone(), password: password.clone() });
    options.ca_file = cluster.ca_file.clone();
    options.client_cert = cluster.client_cert.clone();
    options
}

/// Who pushed: `user@host`, from `$USER` (or `$LOGNAME`) and the host name.
pub fn pushed_by() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".to_string());
    let host = crate::config::host_name().unwrap_or_else(|| "unknown".to_string());
    format!("{user}@{host}")
}

/// One instance's answer to a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// It serves the pushed configuration.
    Serves,
    /// It refused it, for this reason, and serves its previous one.
    Refused(String),
    /// It left the fleet (its lease ended) before answering.
    Left,
}

/// What the wait saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Waited {
    /// Each instance's answer, in the order they came.
    pub answers: Vec<(String, Answer)>,
    /// Live instances that had not answered when the time ran out.
    pub pending: Vec<String>,
    /// Whether any instance was live at all (joined before the time ran out).
    pub any_member: bool,
}

impl Waited {
    /// Whether an instance refused the configuration.
    pub fn refused(&self) -> bool {
        self.answers.iter().any(|(_, answer)| matches!(answer, Answer::Refused(_)))
    }
}

/// Waits, at most `timeout`, until every live instance of `cluster` serves `hash` or refused
/// it; `from` is the revision of the switch (answers written before it are about an older
/// push, unless they name `hash`). Each answer is passed to `seen` as it comes.
pub fn wait<S>(
    store: &S,
    cluster: &str,
    hash: &str,
    from: Revision,
    timeout: Duration,
    mut seen: impl FnMut(&str, &Answer),
) -> Result<Waited, StoreError>
where
    S: Store,
    S::Watch: 'static,
{
    let deadline = Instant::now() + timeout;
    let members_prefix = format!("{}members/", keys::prefix(cluster));
    let status_prefix = format!("{}status/", keys::prefix(cluster));
    let members = store.range_all(&KeyRange::prefix(members_prefix.clone()), None, 500)?;
    let at = members.revision.max(from);
    let statuses = store.range_all(&KeyRange::prefix(status_prefix.clone()), Some(members.revision), 500)?;
    let mut fleet = Fleet {
        hash,
        pending: BTreeSet::new(),
        answered: BTreeMap::new(),
        refusals: BTreeMap::new(),
        waited: Waited::default(),
    };
    for kv in &statuses.kvs {
        fleet.status(kv, &status_prefix, &mut seen);
    }
    for kv in &members.kvs {
        fleet.member(kv, &members_prefix, &mut seen);
    }
    if fleet.pending.is_empty() {
        return Ok(fleet.finish());
    }
    let (sender, receiver) = mpsc::channel();
    for prefix in [&members_prefix, &status_prefix] {
        let watch = store.watch(&KeyRange::prefix(prefix.clone()), at + 1)?;
        let sender = sender.clone();
        // Ends at the first message after the wait is over (the receiver gone), or when the
        // watch ends; the command exits soon after either way.
        std::thread::spawn(move || {
            for message in watch {
                if sender.send(message).is_err() {
                    break;
                }
            }
        });
    }
    drop(sender);
    while !fleet.pending.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = match receiver.recv_timeout(left) {
            Ok(message) => message,
            Err(_) => break,
        };
        match message {
            Ok(WatchMessage::Events { events, .. }) => {
                for event in events {
                    let key = &event.kv.key;
                    match event.kind {
                        EventKind::Put if key.starts_with(members_prefix.as_bytes()) => {
                            fleet.member(&event.kv, &members_prefix, &mut seen)
                        }
                        EventKind::Put => fleet.status(&event.kv, &status_prefix, &mut seen),
                        EventKind::Delete if key.starts_with(members_prefix.as_bytes()) => {
                            fleet.left(&event.kv, &members_prefix, &mut seen)
                        }
                        EventKind::Delete => {}
                    }
                }
            }
            Ok(WatchMessage::Progress { .. } | WatchMessage::Reopened { .. }) => {}
            // etcd unreachable for a moment: the watch tries again on its next call.
            Err(StoreError::Unavailable(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(fleet.finish())
}

/// The wait's view of the fleet.
struct Fleet<'a> {
    hash: &'a str,
    /// Live instances that have not answered.
    pending: BTreeSet<String>,
    /// Instances that answered, with their answer.
    answered: BTreeMap<String, Answer>,
    /// Instances whose status refuses the hash (perhaps written before their member key).
    refusals: BTreeMap<String, String>,
    waited: Waited,
}

impl Fleet<'_> {
    /// A `members/<instance>` value: a live instance, which may serve the hash.
    fn member(&mut self, kv: &KeyValue, prefix: &str, seen: &mut impl FnMut(&str, &Answer)) {
        let Some(instance) = instance(kv, prefix) else { return };
        self.waited.any_member = true;
        match self.answered.get(&instance) {
            // Back after it left: it loads the current configuration as it joins.
            Some(Answer::Left) => {
                self.answered.remove(&instance);
            }
            Some(_) => return,
            None => {}
        }
        let serves = serde_json::from_slice::<Member>(&kv.value).is_ok_and(|m| m.config.as_deref() == Some(self.hash));
        if serves {
            self.answer(instance, Answer::Serves, seen);
        } else if let Some(error) = self.refusals.get(&instance).cloned() {
            self.answer(instance, Answer::Refused(error), seen);
        } else {
            self.pending.insert(instance);
        }
    }

    /// A `status/<instance>` value: a refusal when it names the hash with an error.
    fn status(&mut self, kv: &KeyValue, prefix: &str, seen: &mut impl FnMut(&str, &Answer)) {
        let Some(instance) = instance(kv, prefix) else { return };
        let Ok(Applied { hash, error: Some(error), .. }) = serde_json::from_slice::<Applied>(&kv.value) else { return };
        if hash != self.hash {
            return;
        }
        // Only live instances count; one may write its status before its member key.
        if self.pending.contains(&instance) {
            self.answer(instance, Answer::Refused(error), seen);
        } else {
            self.refusals.insert(instance, error);
        }
    }

    /// A `members/<instance>` deleted: it left; if it had not answered, it never will.
    fn left(&mut self, kv: &KeyValue, prefix: &str, seen: &mut impl FnMut(&str, &Answer)) {
        let Some(instance) = instance(kv, prefix) else { return };
        if self.pending.contains(&instance) {
            self.answer(instance, Answer::Left, seen);
        }
    }

    fn answer(&mut self, instance: String, answer: Answer, seen: &mut impl FnMut(&str, &Answer)) {
        seen(&instance, &answer);
        self.pending.remove(&instance);
        self.answered.insert(instance.clone(), answer.clone());
        self.waited.answers.push((instance, answer));
    }

    fn finish(mut self) -> Waited {
        self.waited.pending = self.pending.into_iter().collect();
        self.waited
    }
}

/// The instance a key under `prefix` names.
fn instance(kv: &KeyValue, prefix: &str) -> Option<String> {
    let rest = kv.key.strip_prefix(prefix.as_bytes())?;
    String::from_utf8(rest.to_vec()).ok().filter(|i| !i.is_empty())
}
