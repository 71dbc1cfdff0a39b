//! `eightfold push` against real etcd (Debian's `etcd-server`, started by `common::etcd` on
//! loopback) and the real binary: what is stored, the compare-and-swap of `config/current`
//! and its history, refusals before anything is stored, `--wait`'s answers and exit codes,
//! and an instance serving its kept copy of the last push with its own `[server]`. Outside
//! CI, without etcd installed, the etcd tests say so and pass.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use eightfold::cluster::bundle::{self, Bundle, PushError};
use eightfold::cluster::keys::{self, Applied, Current, Member};
use eightfold::cluster::{Etcd, EtcdOptions, KeyRange, Op, Store, Txn};
use eightfold::config::Config;
use hickory_proto::rr::RecordType;

use crate::common::endpoints::eventually;
use crate::common::etcd::EtcdCluster;
use crate::common::ports::free_port;
use crate::common::*;

/// The fleet's name in these tests.
const FLEET: &str = "t";

/// A pusher's folder: a config with `[cluster]` naming `endpoints`, a zone file with an
/// `$INCLUDE`, and a TSIG key's secret file.
struct Pusher {
    dir: tempfile::TempDir,
    endpoints: Vec<String>,
}

impl Pusher {
    fn new(endpoints: Vec<String>) -> Pusher {
        let pusher = Pusher { dir: tempfile::tempdir().unwrap(), endpoints };
        pusher.write("www A 192.0.2.80\n", "");
        std::fs::write(pusher.path("tsig.key"), "c2VjcmV0LWtleS1mb3ItdGVzdHM=\n").unwrap();
        pusher
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn config_path(&self) -> PathBuf {
        self.path("fleet.toml")
    }

    /// Writes the config (`records` appended) and the included file (`included`).
    fn write(&self, included: &str, records: &str) {
        let endpoints: Vec<String> = self.endpoints.iter().map(|e| format!("{e:?}")).collect();
        let config = format!(
            "[server]\n# Not this host's: an instance keeps its own [server].\nlisten = [\"192.0.2.1:53\"]\n\n\
             [cluster]\nendpoints = [{}]\nname = \"{FLEET}\"\ninstance = \"pusher\"\n\n{ZONE_BODY}\n\
             [[tsig_key]]\nname = \"k.\"\nalgorithm = \"hmac-sha256\"\nsecret_file = \"tsig.key\"\n{records}",
            endpoints.join(", ")
        );
        std::fs::write(self.config_path(), config).unwrap();
        std::fs::write(self.path("example.com.zone"), format!("{ZONE}$INCLUDE included.zone\n")).unwrap();
        std::fs::write(self.path("included.zone"), included).unwrap();
    }

    /// Runs `eightfold push --config fleet.toml` with `args`; (exit code, output).
    fn push(&self, args: &[&str]) -> (i32, String) {
        let out =
            Command::new(binary()).arg("push").arg("--config").arg(self.config_path()).args(args).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    }

    /// The hash `push` stores for the files as they are now.
    fn hash(&self) -> String {
        Bundle::collect(&self.config_path()).unwrap().0.hash()
    }
}

fn client(etcd: &EtcdCluster) -> Etcd {
    let mut options = EtcdOptions::new(etcd.endpoints());
    options.timeout = Duration::from_secs(3);
    options.watch_idle = Duration::from_secs(2);
    Etcd::new(options).unwrap()
}

/// `config/current` and the revision of its last change, if there is one.
fn current(store: &Etcd) -> Option<(Current, i64)> {
    let range = store.range(&KeyRange::key(keys::current(FLEET)), None, None).unwrap();
    range.kvs.first().map(|kv| (serde_json::from_slice(&kv.value).unwrap(), kv.mod_revision))
}

/// The hashes that have blobs stored.
fn blobs(store: &Etcd) -> BTreeSet<String> {
    let prefix = format!("{}config/blob/", keys::prefix(FLEET));
    let range = store.range_all(&KeyRange::prefix(prefix.clone()), None, 100).unwrap();
    let keys = range.kvs.iter().map(|kv| String::from_utf8(kv.key.clone()).unwrap());
    keys.map(|key| key[prefix.len()..].split('/').next().unwrap().to_string()).collect()
}

fn put(store: &Etcd, key: String, value: String) {
    let op = Op::Put { key: key.into_bytes(), value: value.into_bytes(), lease: None };
    assert!(store.txn(&Txn { success: vec![op], ..Txn::default() }).unwrap().succeeded);
}

#[test]
fn push_stores_every_file_and_switches_current_and_the_same_push_again_writes_nothing() {
    let Some(etcd) = EtcdCluster::start(1) else { return };
    let store = client(&etcd);
    let pusher = Pusher::new(etcd.endpoints());
    let (code, out) = pusher.push(&[]);
    assert_eq!(code, 0, "{out}");
    let hash = pusher.hash();
    assert!(out.contains(&format!("pushed {hash} to fleet \"{FLEET}\"")), "{out}");

    let (current, revision) = current(&store).expect("config/current is written");
    assert_eq!((current.hash.as_str(), current.chunks, current.history.len()), (hash.as_str(), 1, 0));
    assert!(current.pushed_by.contains('@'), "{current:?}");
    let fetched = bundle::fetch(&store, FLEET, &current).unwrap();
    let names: BTreeSet<PathBuf> = fetched.files.keys().cloned().collect();
    let expected: BTreeSet<PathBuf> =
        ["example.com.zone", "included.zone", "tsig.key"].iter().map(|name| pusher.path(name)).collect();
    assert_eq!(names, expected, "the zone file, its $INCLUDE and the TSIG secret travel");
    assert_eq!(fetched.config, std::fs::read_to_string(pusher.config_path()).unwrap());
    // The bundle validates from its own files alone, to what the file on disk gives.
    let loaded = Config::load(&pusher.config_path()).unwrap();
    assert_eq!(format!("{:?}", fetched.config().unwrap()), format!("{loaded:?}"));

    let (code, out) = pusher.push(&[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("{hash} is already fleet \"{FLEET}\"'s configuration")), "{out}");
    assert_eq!(current_revision(&store), revision, "nothing was written");

    // --endpoints and --cluster instead of the file's [cluster].
    let out = Command::new(binary())
        .args(["push", "--config"])
        .arg(pusher.config_path())
        .args(["--endpoints", &etcd.endpoints().join(","), "--cluster", "other"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let other = store.range(&KeyRange::key(keys::current("other")), None, None).unwrap();
    assert_eq!(serde_json::from_slice::<Current>(&other.kvs[0].value).unwrap().hash, hash);
}

fn current_revision(store: &Etcd) -> i64 {
    current(store).map_or(0, |(_, revision)| revision)
}

#[test]
fn a_config_that_does_not_validate_is_refused_and_nothing_is_stored() {
    let Some(etcd) = EtcdCluster::start(1) else { return };
    let store = client(&etcd);
    let pusher = Pusher::new(etcd.endpoints());
    assert_eq!(pusher.push(&[]).0, 0);
    let (revision, stored) = (current_revision(&store), blobs(&store));

    pusher.write("www A 192.0.2.80\n", "[[record]]\nname = \"x\"\ntype = \"A\"\nvalues = [\"not-an-address\"]\n");
    let (code, out) = pusher.push(&["--wait"]);
    assert_eq!(code, 1, "{out}");
    let (_, checked) = check_path(&pusher.config_path());
    assert!(out.contains(checked.trim_end()), "the problems as check prints them:\n{out}\n{checked}");
    assert!(out.contains("key `values`") && out.contains("nothing pushed"), "{out}");

    pusher.write("www A 192.0.2.80\n", "");
    std::fs::remove_file(pusher.path("included.zone")).unwrap();
    let (code, out) = pusher.push(&[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("included.zone"), "the missing file is named:\n{out}");

    assert_eq!((current_revision(&store), blobs(&store)), (revision, stored), "config/current and blobs unchanged");

    // A config without [cluster] and without --endpoints says where to say it.
    std::fs::write(pusher.path("included.zone"), "").unwrap();
    std::fs::write(pusher.config_path(), ZONE_BODY).unwrap();
    let (code, out) = pusher.push(&[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no [cluster]") && out.contains("--endpoints"), "{out}");
}

#[test]
fn etcd_unreachable_exits_3() {
    let free = format!("127.0.0.1:{}", free_port());
    let pusher = Pusher::new(vec![format!("http://{free}")]);
    let (code, out) = pusher.push(&[]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("nothing pushed") && out.contains(&free), "{out}");
}

#[test]
fn history_keeps_five_pushes_and_deletes_the_blobs_of_older_ones() {
    let Some(etcd) = EtcdCluster::start(1) else { return };
    let store = client(&etcd);
    let pusher = Pusher::new(etcd.endpoints());
    let mut hashes = Vec::new();
    for i in 0..8 {
        pusher.write(&format!("www A 192.0.2.{i}\n"), "");
        let (code, out) = pusher.push(&[]);
        assert_eq!(code, 0, "{out}");
        hashes.push(pusher.hash());
    }
    let (current, _) = current(&store).unwrap();
    let newest_first: Vec<String> = hashes.iter().rev().cloned().collect();
    assert_eq!(current.hash, newest_first[0]);
    assert_eq!(current.history, newest_first[1..6].to_vec());
    assert_eq!(blobs(&store), newest_first[..6].iter().cloned().collect(), "older blobs are deleted");

    // An earlier one pushed again: current once more, not twice in the history, nothing it
    // needs deleted.
    pusher.write("www A 192.0.2.4\n", "");
    assert_eq!(pusher.push(&[]).0, 0);
    let (again, revision) = self::current(&store).unwrap();
    assert_eq!(again.hash, hashes[4]);
    let expected: Vec<String> = [7, 6, 5, 3, 2].iter().map(|&i| hashes[i].clone()).collect();
    assert_eq!(again.history, expected);
    assert!(bundle::fetch(&store, FLEET, &again).is_ok());
    assert_eq!(blobs(&store).len(), 6);

    // A push that read config/current before another's switch is refused, and says so.
    let (older, _) = Bundle::collect(&pusher.config_path()).unwrap();
    let mut changed = older.clone();
    changed.config.push_str("# changed\n");
    let error = bundle::store(&store, FLEET, &changed, Some(revision - 1), "test@here").unwrap_err();
    assert!(matches!(error, PushError::Conflict), "{error}");
    assert_eq!(error.to_string(), "config/current changed while pushing; run push again");
    assert_eq!(current_revision(&store), revision);
    // A damaged blob is named when fetched.
    put(&store, format!("{}0000", keys::blob(FLEET, &again.hash)), "damaged".into());
    let error = bundle::fetch(&store, FLEET, &again).unwrap_err();
    assert!(error.contains(&again.hash) && error.contains("bytes"), "{error}");
}

#[test]
fn a_bundle_larger_than_a_chunk_is_stored_in_chunks_and_read_back() {
    let Some(etcd) = EtcdCluster::start(1) else { return };
    let store = client(&etcd);
    let pusher = Pusher::new(etcd.endpoints());
    let many: String =
        (0..40_000).map(|i| format!("host{i} A 10.{}.{}.{}\n", i >> 16, (i >> 8) & 255, i & 255)).collect();
    pusher.write(&many, "");
    let (code, out) = pusher.push(&[]);
    assert_eq!(code, 0, "{out}");
    let (current, _) = current(&store).unwrap();
    assert!(current.chunks >= 2, "{current:?}");
    let fetched = bundle::fetch(&store, FLEET, &current).unwrap();
    assert_eq!(fetched.files[&pusher.path("included.zone")], many);
}

/// Runs `push --wait` in the background; the child.
fn push_wait(pusher: &Pusher, timeout: &str) -> std::process::Child {
    Command::new(binary())
        .arg("push")
        .arg("--config")
        .arg(pusher.config_path())
        .args(["--wait", "--timeout", timeout])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn member(config: Option<&str>) -> String {
    let member = Member { version: "test".into(), listen: vec![], config: config.map(str::to_string), started: 1 };
    serde_json::to_string(&member).unwrap()
}

fn applied(hash: &str, error: Option<&str>) -> String {
    serde_json::to_string(&Applied { hash: hash.into(), error: error.map(str::to_string), at: 1 }).unwrap()
}

/// Waits for the child to exit; (exit code, output).
fn finish(child: std::process::Child) -> (i32, String) {
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn push_wait_prints_each_instance_that_serves_or_refuses_and_exits_by_the_worst() {
    let Some(etcd) = EtcdCluster::start(1) else { return };
    let store = client(&etcd);
    let pusher = Pusher::new(etcd.endpoints());

    // No instance: nothing to wait for.
    let (code, out) = pusher.push(&["--wait"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no instance of fleet \"t\" is live"), "{out}");

    // Instances as the fleet thread writes them: `members/<id>` names the hash it serves,
    // `status/<id>` the hash it refused and why.
    pusher.write("www A 192.0.2.81\n", "");
    let hash = pusher.hash();
    for id in ["a", "b", "c"] {
        put(&store, keys::member(FLEET, id), member(None));
    }
    let child = push_wait(&pusher, "20");
    assert!(eventually(Duration::from_secs(10), || current(&store).is_some_and(|(c, _)| c.hash == hash)));
    put(&store, keys::member(FLEET, "a"), member(Some(&hash)));
    put(&store, keys::status(FLEET, "b"), applied(&hash, Some("zone example.com.: has no SOA record")));
    // c leaves before answering.
    let delete = Txn { success: vec![Op::Delete(KeyRange::key(keys::member(FLEET, "c")))], ..Txn::default() };
    store.txn(&delete).unwrap();
    let (code, out) = finish(child);
    assert_eq!(code, 1, "one refused:\n{out}");
    assert!(out.contains(&format!("a serves {hash}")), "{out}");
    assert!(out.contains(&format!("b refused {hash}: zone example.com.: has no SOA record")), "{out}");
    assert!(out.contains("c left the fleet before answering"), "{out}");

    // All serve: exit 0 (the push is a no-op: the fleet already has it).
    put(&store, keys::member(FLEET, "b"), member(Some(&hash)));
    let (code, out) = finish(push_wait(&pusher, "20"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("is already") && out.contains(&format!("b serves {hash}")), "{out}");

    // One that never answers: the time runs out, it is named, exit 3.
    put(&store, keys::member(FLEET, "slow"), member(None));
    let (code, out) = finish(push_wait(&pusher, "1"));
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("no answer within 1 s from: slow"), "{out}");
}

/// An instance's config: its own `[server]` (with a state file) and `[cluster]`, and zones of
/// its own that a pushed configuration replaces.
fn instance_config(endpoints: &[String]) -> String {
    let endpoints: Vec<String> = endpoints.iter().map(|e| format!("{e:?}")).collect();
    format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 1\nstate_file = \"state.toml\"\n\n[cluster]\nendpoints = \
         [{}]\nname = \"{FLEET}\"\ninstance = \"ns1\"\n\n{ZONE_BODY}",
        endpoints.join(", ")
    )
}

#[test]
fn an_instance_serves_its_kept_copy_of_the_last_push_with_its_own_server_settings() {
    let Some(etcd) = EtcdCluster::start(1) else { return };
    let pusher = Pusher::new(etcd.endpoints());
    pusher.write("pushed A 192.0.2.99\n", "");
    let (bundle, _) = Bundle::collect(&pusher.config_path()).unwrap();
    let hash = bundle.hash();
    let local = ZONE.replace("static   A     192.0.2.7", "static   A     192.0.2.8");
    let dir = tempfile::tempdir().unwrap();
    eightfold::control::pushed::save(&dir.path().join("pushed-config.json"), &bundle).unwrap();
    let s =
        TestServer::start_config_with(&instance_config(&etcd.endpoints()), &[("example.com.zone", &local)], &[], |c| {
            copy_into(dir.path(), c);
        });
    // Its own [server]: it listens where its file says (the pushed file's 192.0.2.1:53
    // could not be bound here).
    assert!(s.addr.ip().is_loopback());
    assert!(s.output().contains("serving the last pushed configuration"), "{}", s.output());
    assert!(s.output().contains(&format!("pushed={hash}")), "{}", s.output());
    assert_eq!(addresses(&s.query("pushed.example.com.", RecordType::A)), vec![ip("192.0.2.99")]);
    assert_eq!(addresses(&s.query("static.example.com.", RecordType::A)), vec![ip("192.0.2.7")]);

    // A reload re-reads its own file's [server] and keeps serving the pushed data.
    s.signal(libc::SIGHUP);
    assert!(eventually(Duration::from_secs(5), || s.output().contains("configuration reloaded")), "{}", s.output());
    assert_eq!(addresses(&s.query("pushed.example.com.", RecordType::A)), vec![ip("192.0.2.99")]);
}

#[test]
fn a_kept_copy_that_cannot_be_read_or_no_longer_validates_is_logged_and_the_file_is_served() {
    let Some(etcd) = EtcdCluster::start(1) else { return };
    let pusher = Pusher::new(etcd.endpoints());
    let (mut incomplete, _) = Bundle::collect(&pusher.config_path()).unwrap();
    incomplete.files.clear();
    for (kept, logged) in [
        (b"not a bundle".to_vec(), "cannot read the last pushed configuration"),
        (incomplete.encode(), "the last pushed configuration no longer validates"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pushed-config.json"), kept).unwrap();
        let config = instance_config(&etcd.endpoints());
        let s =
            TestServer::start_config_with(&config, &[("example.com.zone", ZONE)], &[], |c| copy_into(dir.path(), c));
        assert!(s.output().contains(logged), "{}", s.output());
        assert!(s.output().contains("pushed=none"), "{}", s.output());
        assert_eq!(addresses(&s.query("static.example.com.", RecordType::A)), vec![ip("192.0.2.7")]);
    }
}

fn ip(text: &str) -> std::net::Ipv4Addr {
    text.parse().unwrap()
}

/// Makes the server's command copy `from`'s files into its folder before it starts (the
/// folder is made by the harness, after the command is built).
fn copy_into(from: &Path, command: &mut Command) {
    let config = command.get_args().nth(2).map(PathBuf::from).expect("serve --config PATH");
    let folder = config.parent().unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), folder.join(entry.file_name())).unwrap();
    }
}
