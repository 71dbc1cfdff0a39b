//! The fleet's etcd client against real etcd (Debian's `etcd-server`, started by
//! `common::etcd` on loopback): reads at a revision, compare-and-swap, leases, watches that
//! resume without a gap, compaction, a killed member, authentication and TLS. Each test
//! bounds its waits; outside CI, without etcd installed, they say so and pass.

use std::time::{Duration, Instant};

use eightfold::cluster::{
    Compare, Credentials, Etcd, EtcdOptions, EventKind, KeyRange, Op, Revision, Store, StoreError, Txn, WatchMessage,
};

use crate::common::etcd::EtcdCluster;
use crate::common::ports::free_port;

/// A client of `endpoints` with short limits, so a failure shows quickly.
fn client(endpoints: Vec<String>) -> Etcd {
    Etcd::new(options(endpoints)).unwrap()
}

fn options(endpoints: Vec<String>) -> EtcdOptions {
    let mut options = EtcdOptions::new(endpoints);
    options.timeout = Duration::from_secs(3);
    options.connect_timeout = Duration::from_secs(1);
    options.watch_idle = Duration::from_secs(2);
    options
}

/// Puts `key` = `value` unconditionally; returns the revision it was written at.
fn put(store: &Etcd, key: &str, value: &str) -> Revision {
    let op = Op::Put { key: key.into(), value: value.into(), lease: None };
    let outcome = store.txn(&Txn { success: vec![op], ..Txn::default() }).unwrap();
    assert!(outcome.succeeded);
    outcome.revision
}

/// The value of `key` at `revision` (`None`: latest), if present.
fn value(store: &Etcd, key: &str, revision: Option<Revision>) -> Option<String> {
    let range = store.range(&KeyRange::key(key), revision, None).unwrap();
    range.kvs.first().map(|kv| String::from_utf8(kv.value.clone()).unwrap())
}

/// Reads a watch until `until` revision is delivered or `limit` passes; returns each event's
/// (revision, key, put or delete) and the other messages seen.
fn collect(
    watch: &mut impl Iterator<Item = Result<WatchMessage, StoreError>>,
    until: Revision,
    limit: Duration,
) -> (Vec<(Revision, String, EventKind)>, Vec<WatchMessage>) {
    let deadline = Instant::now() + limit;
    let (mut events, mut others) = (Vec::new(), Vec::new());
    while events.last().is_none_or(|e: &(Revision, String, EventKind)| e.0 < until) {
        assert!(Instant::now() < deadline, "the watch stopped at {events:?} (other messages: {others:?})");
        match watch.next().expect("the watch ended") {
            Ok(WatchMessage::Events { events: batch, .. }) => {
                for event in batch {
                    events.push((event.kv.mod_revision, String::from_utf8(event.kv.key).unwrap(), event.kind));
                }
            }
            Ok(other) => others.push(other),
            // etcd unreachable for a moment (a member killed): the watch goes on at the next call.
            Err(StoreError::Unavailable(_)) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => panic!("the watch failed: {e}"),
        }
    }
    (events, others)
}

#[test]
fn reads_see_each_revision_and_pages_add_up() {
    let Some(etcd) = EtcdCluster::start(1) else { return };
    let store = client(etcd.endpoints());
    let first = put(&store, "/t/a", "1");
    let second = put(&store, "/t/a", "2");
    assert_eq!(second, first + 1);
    assert_eq!(value(&store, "/t/a", Some(first)).as_deref(), Some("1"));
    assert_eq!(value(&store, "/t/a", None).as_deref(), Some("2"));
    assert_eq!(value(&store, "/t/a", Some(first - 1)), None, "absent before it was written");
    let range = store.range(&KeyRange::key("/t/a"), None, None).unwrap();
    let kv = &range.kvs[0];
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version, range.revision), (first, second, 2, second));

    for i in 0..25 {
        put(&store, &format!("/p/{i:02}"), &i.to_string());
    }
    let at = put(&store, "/p/late", "x");
    put(&store, "/p/later", "y");
    put(&store, "/q/outside", "z");
    let page = store.range(&KeyRange::prefix("/p/"), Some(at), Some(7)).unwrap();
    assert_eq!((page.kvs.len(), page.more), (7, true));
    let all = store.range_all(&KeyRange::prefix("/p/"), Some(at), 7).unwrap();
    let keys: Vec<String> = all.kvs.iter().map(|kv| String::from_utf8(kv.key.clone()).unwrap()).collect();
    let mut expected: Vec<String> = (0..25).map(|i| format!("/p/{i:02}")).collect();
    expected.push("/p/late".into());
    assert_eq!(keys, expected, "every key under the prefix at that revision, in order, once");
    assert_eq!(store.range(&KeyRange::key("/t/a"), Some(at + 100), None), Err(StoreError::FutureRevision));
}

#[test]
fn compare_and_swap_succeeds_once_then_fails_on_the_stale_revision() {
    let Some(etcd) = EtcdCluster::start(1) else { return };
    let store = client(etcd.endpoints());
    let swap = |expected: Revision, value: &str| Txn {
        compares: vec![Compare::mod_revision("/cas", expected)],
        success: vec![Op::Put { key: "/cas".into(), value: value.into(), lease: None }],
        failure: vec![Op::Put { key: "/lost".into(), value: value.into(), lease: None }],
    };
    // Revision 0 means absent: create only if nobody has.
    let created = store.txn(&swap(0, "one")).unwrap();
    assert!(created.succeeded);
    assert!(!store.txn(&swap(0, "again")).unwrap().succeeded);
    let swapped = store.txn(&swap(created.revision, "two")).unwrap();
    assert!(swapped.succeeded);
    let stale = store.txn(&swap(created.revision, "three")).unwrap();
    assert!(!stale.succeeded, "a swap on a revision that is no longer the key's must fail");
    assert_eq!(value(&store, "/cas", None).as_deref(), Some("two"));
    assert_eq!(value(&store, "/lost", None).as_deref(), Some("three"), "the failure branch ran");
    let delete = Txn { success: vec![Op::Delete(KeyRange::prefix("/"))], ..Txn::default() };
    store.txn(&delete).unwrap();
    assert!(store.range(&KeyRange::prefix("/"), None, None).unwrap().kvs.is_empty());
}

#[test]
fn a_lease_s_keys_vanish_when_it_expires_or_is_revoked() {
    let Some(etcd) = EtcdCluster::start(1) else { return };
    let store = client(etcd.endpoints());
    let lease = store.lease_grant(Duration::from_secs(2)).unwrap();
    assert_eq!(lease.ttl, Duration::from_secs(2));
    let op = Op::Put { key: "/members/a".into(), value: "up".into(), lease: Some(lease.id) };
    store.txn(&Txn { success: vec![op], ..Txn::default() }).unwrap();
    let kv = store.range(&KeyRange::key("/members/a"), None, None).unwrap().kvs.remove(0);
    assert_eq!(kv.lease, lease.id);
    // Renewed past its first expiry, it keeps the key.
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(500));
        assert!(store.lease_keep_alive(lease.id).unwrap() > Duration::ZERO);
    }
    assert!(value(&store, "/members/a", None).is_some());
    // Left alone, it expires within its TTL and etcd's check interval.
    let left = Instant::now();
    while value(&store, "/members/a", None).is_some() {
        assert!(left.elapsed() < Duration::from_secs(6), "the leased key outlived its 2 s lease by far");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(store.lease_keep_alive(lease.id), Err(StoreError::LeaseNotFound(lease.id)));

    let revoked = store.lease_grant(Duration::from_secs(60)).unwrap();
    let op = Op::Put { key: "/members/b".into(), value: "up".into(), lease: Some(revoked.id) };
    store.txn(&Txn { success: vec![op], ..Txn::default() }).unwrap();
    store.lease_revoke(revoked.id).unwrap();
    assert_eq!(value(&store, "/members/b", None), None, "revoking deletes at once");
    assert_eq!(store.lease_revoke(revoked.id), Err(StoreError::LeaseNotFound(revoked.id)));
}

#[test]
fn a_watch_delivers_every_change_from_its_revision_across_quiet_spells_and_a_restart() {
    let Some(mut etcd) = EtcdCluster::start(1) else { return };
    let store = client(etcd.endpoints());
    let mut written = Vec::new();
    for i in 0..10 {
        written.push((put(&store, &format!("/w/{i}"), "v"), format!("/w/{i}"), EventKind::Put));
    }
    put(&store, "/elsewhere", "not watched");
    let from = written[4].0;
    let mut watch = store.watch(&KeyRange::prefix("/w/"), from).unwrap();
    let (events, _) = collect(&mut watch, written[9].0, Duration::from_secs(5));
    assert_eq!(events, written[4..], "from its revision on, in order, nothing else");

    // A transaction's changes come at one revision; a delete is an event too.
    let both = Txn {
        success: vec![
            Op::Put { key: "/w/x".into(), value: "1".into(), lease: None },
            Op::Delete(KeyRange::key("/w/0")),
        ],
        ..Txn::default()
    };
    let at = store.txn(&both).unwrap().revision;
    let (events, _) = collect(&mut watch, at, Duration::from_secs(5));
    assert_eq!(events, [(at, "/w/x".to_string(), EventKind::Put), (at, "/w/0".to_string(), EventKind::Delete)]);

    // Quiet past the idle time (2 s): the stream is opened again from the next revision.
    let (events, others) = collect_for(&mut watch, Duration::from_millis(2_600));
    assert!(events.is_empty(), "{events:?}");
    assert!(others.contains(&WatchMessage::Reopened { from: at + 1 }), "{others:?}");

    // etcd restarted: while it is down the watch reports it unreachable, then resumes.
    etcd.kill(0);
    assert!(matches!(watch.next(), Some(Err(StoreError::Unavailable(_)))));
    etcd.restart(0);
    let mut later = Vec::new();
    for i in 0..5 {
        later.push((put(&store, &format!("/w/after-{i}"), "v"), format!("/w/after-{i}"), EventKind::Put));
    }
    let (events, others) = collect(&mut watch, later[4].0, Duration::from_secs(10));
    assert_eq!(events, later, "no gap and nothing twice after the restart ({others:?})");
}

/// Reads a watch for `spell`; what it delivered.
fn collect_for(
    watch: &mut impl Iterator<Item = Result<WatchMessage, StoreError>>,
    spell: Duration,
) -> (Vec<String>, Vec<WatchMessage>) {
    let until = Instant::now() + spell;
    let (mut events, mut others) = (Vec::new(), Vec::new());
    while Instant::now() < until {
        match watch.next().expect("the watch ended") {
            Ok(WatchMessage::Events { events: batch, .. }) => {
                events.extend(batch.into_iter().map(|e| String::from_utf8(e.kv.key).unwrap()))
            }
            Ok(other) => others.push(other),
            Err(e) => panic!("the watch failed: {e}"),
        }
    }
    (events, others)
}

#[test]
fn a_watch_from_before_a_compaction_reports_compacted() {
    let Some(etcd) = EtcdCluster::start(1) else { return };
    let store = client(etcd.endpoints());
    let revisions: Vec<Revision> = (0..10).map(|i| put(&store, "/c", &i.to_string())).collect();
    store.compact(revisions[7]).unwrap();
    let mut watch = store.watch(&KeyRange::prefix("/c"), revisions[2]).unwrap();
    assert_eq!(watch.next(), Some(Err(StoreError::Compacted { compact_revision: Some(revisions[7]) })));
    assert_eq!(watch.next(), None, "a compacted watch ends: the caller reads everything again");
    assert_eq!(
        store.range(&KeyRange::key("/c"), Some(revisions[2]), None),
        Err(StoreError::Compacted { compact_revision: None })
    );
    // From the compaction's revision on, the history is still there.
    let mut watch = store.watch(&KeyRange::prefix("/c"), revisions[7]).unwrap();
    let (events, _) = collect(&mut watch, revisions[9], Duration::from_secs(5));
    assert_eq!(events.iter().map(|e| e.0).collect::<Vec<_>>(), revisions[7..]);
}

#[test]
fn with_three_members_the_client_moves_past_the_member_it_talks_to_when_killed() {
    let Some(mut etcd) = EtcdCluster::start(3) else { return };
    let store = client(etcd.endpoints());
    let first = put(&store, "/k/0", "v");
    assert_eq!(store.current_endpoint(), etcd.endpoint(0));
    let mut watch = store.watch(&KeyRange::prefix("/k/"), first).unwrap();
    let (events, _) = collect(&mut watch, first, Duration::from_secs(5));
    assert_eq!(events.len(), 1);

    etcd.kill(0);
    // Reads go on at once on another member; a write may fail once (it cannot know whether
    // a broken request was applied), then goes on too, within the cluster's election time.
    assert_eq!(value(&store, "/k/0", None).as_deref(), Some("v"));
    assert_ne!(store.current_endpoint(), etcd.endpoint(0));
    let mut written = Vec::new();
    let started = Instant::now();
    while written.len() < 5 {
        assert!(started.elapsed() < Duration::from_secs(15), "writes did not resume: {written:?}");
        let op = Op::Put { key: format!("/k/{}", written.len() + 1).into_bytes(), value: "v".into(), lease: None };
        match store.txn(&Txn { success: vec![op], ..Txn::default() }) {
            Ok(outcome) => written.push(outcome.revision),
            Err(StoreError::Unavailable(_)) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => panic!("{e}"),
        }
    }
    let (events, _) = collect(&mut watch, written[4], Duration::from_secs(10));
    assert_eq!(events.iter().map(|e| e.0).collect::<Vec<_>>(), written, "the watch moved on without a gap");

    // The killed member back: it caught up, and serves a client that knows only it.
    etcd.restart(0);
    let only = client(vec![etcd.endpoint(0)]);
    assert_eq!(value(&only, "/k/5", None).as_deref(), Some("v"));
}

#[test]
fn authentication_refuses_a_wrong_password_and_accepts_the_right_one() {
    let Some(etcd) = EtcdCluster::start(1) else { return };
    let before = client(etcd.endpoints());
    put(&before, "/a", "before");
    etcd.enable_auth("correct horse");

    let with = |password: &str| {
        let mut options = options(etcd.endpoints());
        options.credentials = Some(Credentials { user: "root".into(), password: password.into() });
        Etcd::new(options).unwrap()
    };
    let wrong = with("wrong").range(&KeyRange::key("/a"), None, None).unwrap_err();
    assert!(matches!(&wrong, StoreError::Auth(m) if m.contains("authentication failed")), "{wrong}");
    assert!(wrong.to_string().contains("check the user name, password"), "{wrong}");
    let anonymous = before.range(&KeyRange::key("/a"), None, None).unwrap_err();
    assert!(matches!(anonymous, StoreError::Auth(_)), "{anonymous}");

    let right = with("correct horse");
    assert_eq!(value(&right, "/a", None).as_deref(), Some("before"));
    let at = put(&right, "/a", "after");
    let mut watch = right.watch(&KeyRange::key("/a"), at).unwrap();
    let (events, _) = collect(&mut watch, at, Duration::from_secs(5));
    assert_eq!(events, [(at, "/a".to_string(), EventKind::Put)]);
    let lease = right.lease_grant(Duration::from_secs(5)).unwrap();
    right.lease_revoke(lease.id).unwrap();
}

#[test]
fn tls_with_the_cluster_s_authority_and_a_client_certificate() {
    let Some(etcd) = EtcdCluster::start_tls(1) else { return };
    let tls = etcd.tls.as_ref().unwrap();
    let mut options = options(etcd.endpoints());
    options.ca_file = Some(tls.ca.clone());
    options.client_cert = Some((tls.client_cert.clone(), tls.client_key.clone()));
    let store = Etcd::new(options.clone()).unwrap();
    let at = put(&store, "/tls", "yes");
    assert_eq!(value(&store, "/tls", Some(at)).as_deref(), Some("yes"));

    // Without the authority, the server's certificate is not trusted; without the client
    // certificate, etcd hangs up.
    let mut untrusted = options.clone();
    untrusted.ca_file = None;
    let error = Etcd::new(untrusted).unwrap().range(&KeyRange::key("/tls"), None, None).unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error}");
    let mut anonymous = options;
    anonymous.client_cert = None;
    let error = Etcd::new(anonymous).unwrap().range(&KeyRange::key("/tls"), None, None).unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error}");
}

#[test]
fn no_endpoint_reachable_names_each_one() {
    // Ports nothing listens on.
    let ports = [free_port(), free_port()];
    let endpoints: Vec<String> = ports.iter().map(|p| format!("http://127.0.0.1:{p}")).collect();
    let store = client(endpoints.clone());
    let error = store.range(&KeyRange::key("/x"), None, None).unwrap_err();
    let text = error.to_string();
    assert!(endpoints.iter().all(|e| text.contains(e.as_str())), "{text}");
    assert!(matches!(store.watch(&KeyRange::key("/x"), 1), Err(StoreError::Unavailable(_))));
}
