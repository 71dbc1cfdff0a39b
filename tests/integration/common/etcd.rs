//! A real etcd cluster for the fleet's tests: 1 or 3 members of Debian's `etcd` (package
//! `etcd-server`, which `.ci/run` installs) on free loopback ports, each with its own data
//! folder; a member can be killed and restarted; all are killed and their folders removed on
//! drop (the log of each is printed when the test failed).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::ports::{free_port, port_taken, PORT_TRIES};

/// How long a cluster (or a restarted member) may take to become healthy.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// TLS files for a cluster that serves its clients over TLS.
pub struct EtcdTls {
    /// The certificate authority's certificate, PEM.
    pub ca: PathBuf,
    /// A client certificate signed by that authority, and its key, PEM.
    pub client_cert: PathBuf,
    /// The client certificate's key.
    pub client_key: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
}

/// A running etcd cluster.
pub struct EtcdCluster {
    members: Vec<Member>,
    /// TLS files when the cluster serves its clients over TLS.
    pub tls: Option<EtcdTls>,
    dir: tempfile::TempDir,
}

struct Member {
    name: String,
    client: u16,
    peer: u16,
    /// Plain-HTTP port serving `/health`, TLS or not.
    metrics: u16,
    child: Option<Child>,
}

impl EtcdCluster {
    /// Starts `size` members and waits until every one is healthy. Without an `etcd` binary:
    /// `None` after saying so, or a panic under CI (where `.ci/run` installs it).
    pub fn start(size: usize) -> Option<EtcdCluster> {
        Self::start_with(size, false)
    }

    /// As [`EtcdCluster::start`], with client URLs over TLS that ask for a client
    /// certificate signed by the cluster's own authority ([`EtcdCluster::tls`]).
    pub fn start_tls(size: usize) -> Option<EtcdCluster> {
        Self::start_with(size, true)
    }

    /// A cluster of 3 shared by the tests that run at the same time and neither kill its
    /// members nor compact it: started by the first, stopped when the last lets go of it.
    pub fn shared() -> Option<Arc<EtcdCluster>> {
        static SHARED: Mutex<Weak<EtcdCluster>> = Mutex::new(Weak::new());
        let mut slot = SHARED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(cluster) = slot.upgrade() {
            return Some(cluster);
        }
        let cluster = Arc::new(Self::start(3)?);
        *slot = Arc::downgrade(&cluster);
        Some(cluster)
    }

    fn start_with(size: usize, tls: bool) -> Option<EtcdCluster> {
        if let Err(e) = Command::new("etcd").arg("--version").stdout(Stdio::null()).status() {
            assert!(std::env::var_os("CI").is_none(), "etcd is required under CI (.ci/run installs etcd-server): {e}");
            eprintln!("etcd is not installed (apt-get install etcd-server); skipping this etcd test outside CI");
            return None;
        }
        let mut failure = String::new();
        // The ports are free when chosen, but a process outside the tests may take one before
        // etcd binds it: then start the whole cluster again on others.
        for _ in 0..PORT_TRIES {
            let dir = tempfile::tempdir().unwrap();
            let members = (0..size)
                .map(|i| Member {
                    name: format!("m{i}"),
                    client: free_port(),
                    peer: free_port(),
                    metrics: free_port(),
                    child: None,
                })
                .collect();
            let tls = tls.then(|| make_tls(dir.path()));
            let mut cluster = EtcdCluster { members, tls, dir };
            for i in 0..size {
                cluster.spawn(i);
            }
            match (0..size).try_for_each(|i| cluster.wait_healthy(i)) {
                Ok(()) => return Some(cluster),
                Err(e) if port_taken(&e) => failure = e,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("{failure}");
    }

    /// Every member's client URL, in member order.
    pub fn endpoints(&self) -> Vec<String> {
        (0..self.members.len()).map(|i| self.endpoint(i)).collect()
    }

    /// Member `i`'s client URL.
    pub fn endpoint(&self, i: usize) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.members[i].client)
    }

    /// Kills member `i` (SIGKILL) and waits for it to be gone.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts member `i` again on its data and ports and waits until it is healthy. The
    /// ports stay its own meanwhile: no test is handed them, and no port-0 bind is (see
    /// [`free_port`]).
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
        self.wait_healthy(i).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Kills every member (SIGKILL).
    pub fn kill_all(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }

    /// Starts every member that is not running, on its data, and waits until all are healthy
    /// (one member alone cannot be: it needs a quorum to elect a leader).
    pub fn start_stopped(&mut self) {
        let stopped: Vec<usize> = (0..self.members.len()).filter(|&i| self.members[i].child.is_none()).collect();
        for &i in &stopped {
            self.spawn(i);
        }
        for i in 0..self.members.len() {
            self.wait_healthy(i).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    /// The index of the member that leads, as the running members report it.
    pub fn leader(&self) -> Option<usize> {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(2))).build().into();
        let mut ids = vec![None; self.members.len()];
        let mut leader = None;
        for (i, id) in ids.iter_mut().enumerate().filter(|(i, _)| self.members[*i].child.is_some()) {
            let Ok(answer) = agent.post(format!("{}/v3/maintenance/status", self.endpoint(i))).send("{}") else {
                continue;
            };
            let Ok(text) = answer.into_body().read_to_string() else { continue };
            let Ok(status) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
            *id = status["header"]["member_id"].as_str().map(str::to_string);
            leader = leader.or_else(|| status["leader"].as_str().map(str::to_string));
        }
        let leader = leader?;
        ids.iter().position(|id| id.as_deref() == Some(leader.as_str()))
    }

    /// Turns authentication on through the gateway: user `root` with `password`, role `root`.
    pub fn enable_auth(&self, password: &str) {
        let base = self.endpoint(0);
        let steps = [
            ("/v3/auth/user/add", serde_json::json!({ "name": "root", "password": password })),
            ("/v3/auth/role/add", serde_json::json!({ "name": "root" })),
            ("/v3/auth/user/grant", serde_json::json!({ "user": "root", "role": "root" })),
            ("/v3/auth/enable", serde_json::json!({})),
        ];
        for (path, body) in steps {
            let answer = ureq::post(format!("{base}{path}"))
                .send(body.to_string())
                .unwrap_or_else(|e| panic!("{path}: {e}"))
                .into_body()
                .read_to_string()
                .unwrap();
            assert!(!answer.contains("\"error\""), "{path}: {answer}");
        }
    }

    fn log(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("{}.log", self.members[i].name))
    }

    fn spawn(&mut self, i: usize) {
        let url = |port: u16| format!("http://127.0.0.1:{port}");
        let client = self.endpoint(i);
        let initial: Vec<String> = self.members.iter().map(|m| format!("{}={}", m.name, url(m.peer))).collect();
        // One token for the whole cluster, unique to it: its first member's client port.
        let token = format!("eightfold-test-{}", self.members[0].client);
        let member = &self.members[i];
        let log = std::fs::File::create(self.log(i)).unwrap();
        let mut command = Command::new("etcd");
        command
            .arg("--name")
            .arg(&member.name)
            .arg("--data-dir")
            .arg(self.dir.path().join(&member.name))
            .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &url(member.peer), "--initial-advertise-peer-urls", &url(member.peer)])
            .args(["--listen-metrics-urls", &url(member.metrics)])
            .args(["--initial-cluster", &initial.join(",")])
            .args(["--initial-cluster-state", "new", "--initial-cluster-token", &token])
            .args(["--logger", "zap", "--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some(tls) = &self.tls {
            command
                .arg("--cert-file")
                .arg(&tls.server_cert)
                .arg("--key-file")
                .arg(&tls.server_key)
                .arg("--trusted-ca-file")
                .arg(&tls.ca)
                .arg("--client-cert-auth");
        }
        self.members[i].child = Some(command.spawn().expect("etcd starts"));
    }

    /// Polls until member `i` is healthy; why not, with a log, when a member exited or `i`
    /// was not healthy in time.
    fn wait_healthy(&mut self, i: usize) -> Result<(), String> {
        let health = format!("http://127.0.0.1:{}/health", self.members[i].metrics);
        let agent: ureq::Agent =
            ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(2))).build().into();
        let until = Instant::now() + START_TIMEOUT;
        loop {
            let answer = agent.get(&health).call().ok().and_then(|r| r.into_body().read_to_string().ok());
            if answer.is_some_and(|a| a.contains("\"health\":\"true\"")) {
                return Ok(());
            }
            // Any member: member `i` waits for a quorum, which one that exited may deny it.
            let exited = (0..self.members.len())
                .find(|&m| self.members[m].child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_some()));
            if let Some(m) = exited {
                let log = std::fs::read_to_string(self.log(m)).unwrap_or_default();
                return Err(format!("etcd member {m} exited while member {i} was starting; its log:\n{log}"));
            }
            if Instant::now() >= until {
                let log = std::fs::read_to_string(self.log(i)).unwrap_or_default();
                return Err(format!("etcd member {i} did not become healthy; its log:\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
            if std::thread::panicking() {
                let log = std::fs::read_to_string(self.log(i)).unwrap_or_default();
                eprintln!("--- etcd member {i}'s log ---\n{log}");
            }
        }
    }
}

/// An authority, a server certificate for 127.0.0.1 and a client certificate, all written
/// under `dir`.
fn make_tls(dir: &Path) -> EtcdTls {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client =
        CertificateParams::new(vec!["eightfold".to_string()]).unwrap().signed_by(&client_key, &issuer).unwrap();
    let write = |name: &str, pem: String| {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    EtcdTls {
        ca: write("ca.pem", ca.pem()),
        server_cert: write("server.pem", server.pem()),
        server_key: write("server-key.pem", server_key.serialize_pem()),
        client_cert: write("client.pem", client.pem()),
        client_key: write("client-key.pem", client_key.serialize_pem()),
    }
}
