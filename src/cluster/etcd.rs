//! [`Store`] over etcd's v3 JSON gateway (etcd 3.4 and later serve it on the client port):
//! `POST /v3/kv/range`, `/v3/kv/txn`, `/v3/lease/{grant,keepalive,revoke}`, `/v3/watch`,
//! `/v3/kv/compaction` and `/v3/auth/authenticate`, JSON bodies with keys and values in
//! base64 and 64-bit numbers as strings, through `ureq` (blocking; rustls with ring for
//! `https://` endpoints), so a build needs nothing but the Rust toolchain.
//!
//! Endpoints: a call goes to the endpoint that answered last; when it cannot be reached it
//! goes on to the next, in the order given. A read, a lease call or a compaction is tried on
//! every endpoint; a transaction moves on only when it surely was not sent (the connection
//! was refused or timed out), since one that was sent may have been applied.
//!
//! Time limits: each call, all of it, within [`EtcdOptions::timeout`]; a connection within
//! [`EtcdOptions::connect_timeout`]; a watch's stream at most [`EtcdOptions::watch_idle`]
//! between two reads (etcd stays quiet while nothing changes, so a quiet stream is opened
//! again from its next revision, which costs one request and loses nothing).
//!
//! Authentication: with [`Credentials`], the client asks `/v3/auth/authenticate` for a token,
//! sends it in the `Authorization` header, and asks again once when etcd calls it invalid
//! (tokens expire). A cluster without authentication enabled is used without a token, as
//! etcd's own client does.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::{json, Value};

use super::store::{
    Event, EventKind, KeyRange, KeyValue, Lease, LeaseId, Op, Order, Range, Revision, Store, StoreError, Target, Txn,
    TxnOutcome, WatchMessage,
};

/// How long one call may take unless set otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long opening a connection may take unless set otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a watch's stream may stay quiet before it is opened again, unless set otherwise.
pub const DEFAULT_WATCH_IDLE: Duration = Duration::from_secs(10);
/// The largest answer (or watch message) read: a read of many keys should use pages.
const BODY_LIMIT: u64 = 64 << 20;

/// A user name and password for etcd's authentication.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The etcd user.
    pub user: String,
    /// Its password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).field("password", &"(hidden)").finish()
    }
}

/// How to reach etcd.
#[derive(Debug, Clone)]
pub struct EtcdOptions {
    /// Client URLs, `http://host:port` or `https://host:port`, tried in this order.
    pub endpoints: Vec<String>,
    /// User name and password, when etcd has authentication enabled.
    pub credentials: Option<Credentials>,
    /// PEM file of the certificate authorities that sign the `https://` endpoints'
    /// certificates (the public web's authorities when unset).
    pub ca_file: Option<PathBuf>,
    /// PEM files of a client certificate (chain) and its private key, for etcd's
    /// `--client-cert-auth`.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// The most one call may take.
    pub timeout: Duration,
    /// The most opening one connection may take.
    pub connect_timeout: Duration,
    /// The most a watch waits for its next message before opening its stream again.
    pub watch_idle: Duration,
}

impl EtcdOptions {
    /// These endpoints, no credentials or TLS settings, the default time limits.
    pub fn new(endpoints: Vec<String>) -> EtcdOptions {
        EtcdOptions {
            endpoints,
            credentials: None,
            ca_file: None,
            client_cert: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            watch_idle: DEFAULT_WATCH_IDLE,
        }
    }
}

/// Why a client could not be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupError {
    /// The list of endpoints is empty.
    NoEndpoints,
    /// An endpoint is not a client URL.
    Endpoint {
        /// As written.
        endpoint: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A certificate or key file could not be used.
    Pem {
        /// The file.
        path: PathBuf,
        /// Why not.
        reason: String,
    },
    /// TLS files are set but no endpoint uses TLS.
    TlsUnused,
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::NoEndpoints => write!(f, "no etcd endpoint is given (name at least one client URL)"),
            SetupError::Endpoint { endpoint, reason } => {
                write!(f, "etcd endpoint {endpoint:?} {reason} (write a client URL such as http://127.0.0.1:2379)")
            }
            SetupError::Pem { path, reason } => write!(f, "cannot use {}: {reason}", path.display()),
            SetupError::TlsUnused => write!(
                f,
                "a CA or client certificate is set for etcd, but no endpoint uses TLS (write https:// endpoints)"
            ),
        }
    }
}

impl std::error::Error for SetupError {}

/// An etcd client: cheap to clone, shared between threads.
#[derive(Clone)]
pub struct Etcd {
    inner: Arc<Inner>,
}

impl fmt::Debug for Etcd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Etcd").field("endpoints", &self.inner.endpoints).finish_non_exhaustive()
    }
}

impl Etcd {
    /// A client for these options. Nothing is contacted yet; certificate files are read now.
    pub fn new(options: EtcdOptions) -> Result<Etcd, SetupError> {
        if options.endpoints.is_empty() {
            return Err(SetupError::NoEndpoints);
        }
        let endpoints = options.endpoints.iter().map(|e| endpoint(e)).collect::<Result<Vec<_>, _>>()?;
        let uses_tls = endpoints.iter().any(|e| e.starts_with("https://"));
        if !uses_tls && (options.ca_file.is_some() || options.client_cert.is_some()) {
            return Err(SetupError::TlsUnused);
        }
        let tls = tls_config(&options)?;
        let agent = |watch: bool| {
            let config = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .user_agent(concat!("eightfold/", env!("CARGO_PKG_VERSION")))
                .tls_config(tls.clone())
                .timeout_connect(Some(options.connect_timeout))
                .timeout_global(if watch { None } else { Some(options.timeout) })
                .timeout_send_request(Some(options.timeout))
                .timeout_recv_response(Some(options.timeout))
                .timeout_per_read(if watch { Some(options.watch_idle) } else { None })
                .build();
            ureq::Agent::new_with_config(config)
        };
        Ok(Etcd {
            inner: Arc::new(Inner {
                endpoints,
                current: AtomicUsize::new(0),
                agent: agent(false),
                watch_agent: agent(true),
                credentials: options.credentials,
                token: Mutex::new(Token::Unknown),
            }),
        })
    }

    /// The endpoints, as the client writes them.
    pub fn endpoints(&self) -> &[String] {
        &self.inner.endpoints
    }

    /// The endpoint the next call goes to first (the one that answered last).
    pub fn current_endpoint(&self) -> &str {
        &self.inner.endpoints[self.inner.current.load(Ordering::Relaxed)]
    }
}

impl Store for Etcd {
    type Watch = EtcdWatch;

    fn range(&self, keys: &KeyRange, revision: Option<Revision>, limit: Option<u64>) -> Result<Range, StoreError> {
        let mut body = range_json(keys);
        if let Some(revision) = revision {
            body["revision"] = json!(revision.to_string());
        }
        if let Some(limit) = limit {
            body["limit"] = json!(limit.to_string());
        }
        let answer = self.inner.call("/v3/kv/range", &body, Retry::Anywhere)?;
        let kvs = match answer.get("kvs") {
            Some(Value::Array(kvs)) => kvs.iter().map(key_value).collect::<Result<Vec<_>, _>>()?,
            _ => Vec::new(),
        };
        Ok(Range { revision: header_revision(&answer)?, kvs, more: answer["more"].as_bool().unwrap_or(false) })
    }

    fn txn(&self, txn: &Txn) -> Result<TxnOutcome, StoreError> {
        let compares: Vec<Value> = txn
            .compares
            .iter()
            .map(|c| {
                let result = match c.order {
                    Order::Equal => "EQUAL",
                    Order::NotEqual => "NOT_EQUAL",
                    Order::Greater => "GREATER",
                    Order::Less => "LESS",
                };
                let mut compare = json!({ "key": BASE64.encode(&c.key), "result": result });
                match &c.target {
                    Target::ModRevision(r) => {
                        compare["target"] = json!("MOD");
                        compare["mod_revision"] = json!(r.to_string());
                    }
                    Target::CreateRevision(r) => {
                        compare["target"] = json!("CREATE");
                        compare["create_revision"] = json!(r.to_string());
                    }
                    Target::Version(v) => {
                        compare["target"] = json!("VERSION");
                        compare["version"] = json!(v.to_string());
                    }
                    Target::Value(v) => {
                        compare["target"] = json!("VALUE");
                        compare["value"] = json!(BASE64.encode(v));
                    }
                }
                compare
            })
            .collect();
        let ops = |ops: &[Op]| -> Vec<Value> {
            ops.iter()
                .map(|op| match op {
                    Op::Put { key, value, lease } => {
                        let mut put = json!({ "key": BASE64.encode(key), "value": BASE64.encode(value) });
                        if let Some(lease) = lease {
                            put["lease"] = json!(lease.to_string());
                        }
                        json!({ "request_put": put })
                    }
                    Op::Delete(keys) => json!({ "request_delete_range": range_json(keys) }),
                })
                .collect()
        };
        let body = json!({ "compare": compares, "success": ops(&txn.success), "failure": ops(&txn.failure) });
        let answer = self.inner.call("/v3/kv/txn", &body, Retry::UnsentOnly)?;
        Ok(TxnOutcome {
            succeeded: answer["succeeded"].as_bool().unwrap_or(false),
            revision: header_revision(&answer)?,
        })
    }

    fn lease_grant(&self, ttl: Duration) -> Result<Lease, StoreError> {
        let seconds = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        let body = json!({ "TTL": seconds.max(1).to_string() });
        let answer = self.inner.call("/v3/lease/grant", &body, Retry::Anywhere)?;
        if let Some(error) = answer["error"].as_str().filter(|e| !e.is_empty()) {
            return Err(StoreError::Refused { code: 0, message: error.to_string() });
        }
        let id = int(&answer["ID"], "ID")?;
        let ttl = int(&answer["TTL"], "TTL")?;
        Ok(Lease { id, ttl: Duration::from_secs(ttl.max(0) as u64) })
    }

    fn lease_keep_alive(&self, lease: LeaseId) -> Result<Duration, StoreError> {
        let body = json!({ "ID": lease.to_string() });
        let answer =
            self.inner.call("/v3/lease/keepalive", &body, Retry::Anywhere).map_err(|e| lease_error(e, lease))?;
        // A lease etcd no longer knows is renewed with a TTL of 0 (left out of the JSON).
        match int(&answer["TTL"], "TTL")? {
            ttl if ttl > 0 => Ok(Duration::from_secs(ttl as u64)),
            _ => Err(StoreError::LeaseNotFound(lease)),
        }
    }

    fn lease_revoke(&self, lease: LeaseId) -> Result<(), StoreError> {
        let body = json!({ "ID": lease.to_string() });
        self.inner.call("/v3/lease/revoke", &body, Retry::Anywhere).map_err(|e| lease_error(e, lease))?;
        Ok(())
    }

    fn watch(&self, keys: &KeyRange, from: Revision) -> Result<EtcdWatch, StoreError> {
        let mut watch =
            EtcdWatch { inner: Arc::clone(&self.inner), keys: keys.clone(), next: from, stream: None, ended: false };
        watch.open()?;
        Ok(watch)
    }

    fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let body = json!({ "revision": revision.to_string(), "physical": true });
        self.inner.call("/v3/kv/compaction", &body, Retry::Anywhere)?;
        Ok(())
    }
}

/// A watch over etcd's streaming `/v3/watch`; see [`Store::Watch`].
pub struct EtcdWatch {
    inner: Arc<Inner>,
    keys: KeyRange,
    /// The first revision not yet delivered: where a reopened stream starts.
    next: Revision,
    /// The open stream and the endpoint it is on.
    stream: Option<(BufReader<ureq::BodyReader<'static>>, usize)>,
    /// Whether it ended (compacted or canceled).
    ended: bool,
}

impl fmt::Debug for EtcdWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdWatch").field("keys", &self.keys).field("next", &self.next).finish_non_exhaustive()
    }
}

impl EtcdWatch {
    /// The first revision not yet delivered.
    pub fn next_revision(&self) -> Revision {
        self.next
    }

    /// Opens the stream from `self.next` on the current endpoint or, failing that, the next.
    fn open(&mut self) -> Result<(), StoreError> {
        self.stream = None;
        let mut create = range_json(&self.keys);
        create["start_revision"] = json!(self.next.to_string());
        create["progress_notify"] = json!(true);
        let body = json!({ "create_request": create }).to_string();
        let inner = Arc::clone(&self.inner);
        let reader = inner.each_endpoint(Retry::Anywhere, |at| {
            let mut renewed = false;
            loop {
                let token = inner.token(at, &mut renewed)?;
                let mut request = inner
                    .watch_agent
                    .post(format!("{}/v3/watch", inner.endpoints[at]))
                    .header("Content-Type", "application/json")
                    // Ends the stream when this member loses its leader, so the watch moves to
                    // a member that still gets changes instead of waiting on one cut off.
                    .header("Grpc-Metadata-hasleader", "true");
                if let Some(token) = &token {
                    request = request.header("Authorization", token.as_str());
                }
                let response = request.send(body.as_str()).map_err(unreachable)?;
                let mut reader = BufReader::new(response.into_body().into_reader());
                let first = read_message(&mut reader).map_err(|reason| Failure::Unreachable { reason, sent: true })?;
                let result = match Answer::of(first) {
                    Answer::Ok(result) => result,
                    Answer::Error { code, message } => {
                        if inner.token_refused(code, &message, &mut renewed) {
                            continue;
                        }
                        return Err(Failure::from_code(code, message));
                    }
                };
                if result["canceled"].as_bool() == Some(true) {
                    let reason = result["cancel_reason"].as_str().unwrap_or("").to_string();
                    if reason.contains("invalid auth token") && inner.token_refused(16, &reason, &mut renewed) {
                        continue;
                    }
                    if reason.contains("no leader") {
                        return Err(Failure::Unreachable { reason, sent: false });
                    }
                    return Err(Failure::Store(cancel_error(&result, reason)));
                }
                return Ok((reader, at));
            }
        });
        match reader {
            Ok(stream) => {
                self.stream = Some(stream);
                Ok(())
            }
            Err(e) => {
                self.ended = matches!(e, StoreError::Compacted { .. } | StoreError::WatchCanceled(_));
                Err(e)
            }
        }
    }

    /// Reads one message; `None` when the stream broke or was ended by etcd for a reason
    /// that a new stream (maybe elsewhere) cures.
    fn read(&mut self) -> Option<Result<WatchMessage, StoreError>> {
        let (reader, at) = self.stream.as_mut()?;
        let at = *at;
        loop {
            let message = read_message(reader).ok()?;
            let result = match Answer::of(message) {
                Answer::Ok(result) => result,
                Answer::Error { code, message } => match Failure::from_code(code, message) {
                    Failure::Store(e) => return Some(Err(e)),
                    Failure::Unreachable { .. } => return None,
                },
            };
            if result["canceled"].as_bool() == Some(true) {
                let reason = result["cancel_reason"].as_str().unwrap_or("").to_string();
                if reason.contains("no leader") {
                    self.inner.moved_on(at);
                    return None;
                }
                if reason.contains("invalid auth token") {
                    self.inner.forget_token();
                    return None;
                }
                self.ended = true;
                return Some(Err(cancel_error(&result, reason)));
            }
            if result["created"].as_bool() == Some(true) {
                continue;
            }
            let events = match events(&result) {
                Ok(events) => events,
                Err(e) => return Some(Err(e)),
            };
            let revision = match header_revision(&result) {
                Ok(revision) => revision,
                Err(e) => return Some(Err(e)),
            };
            return Some(Ok(match events.last() {
                Some(last) => {
                    self.next = last.kv.mod_revision + 1;
                    WatchMessage::Events { revision, events }
                }
                None => {
                    self.next = self.next.max(revision + 1);
                    WatchMessage::Progress { revision }
                }
            }));
        }
    }
}

impl Iterator for EtcdWatch {
    type Item = Result<WatchMessage, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        if self.stream.is_some() {
            match self.read() {
                Some(Err(e)) => {
                    self.stream = None;
                    return Some(Err(e));
                }
                Some(message) => return Some(message),
                None if self.ended => return None,
                None => self.stream = None,
            }
        }
        Some(self.open().map(|()| WatchMessage::Reopened { from: self.next }))
    }
}

/// Which calls may be tried on the next endpoint after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Any failure to reach an endpoint: the call is safe to repeat.
    Anywhere,
    /// Only when the request surely was not sent.
    UnsentOnly,
}

/// What the client knows of its authentication token.
#[derive(Debug, Clone)]
enum Token {
    /// Not asked for yet (or refused by etcd since).
    Unknown,
    /// etcd has authentication off: calls go without a token.
    Off,
    /// The token to send.
    Known(String),
}

/// Why one call to one endpoint failed.
enum Failure {
    /// The endpoint could not be reached (or cannot serve now); `sent` when the request
    /// may have got through.
    Unreachable { reason: String, sent: bool },
    /// etcd answered with an error that another endpoint would repeat.
    Store(StoreError),
}

impl Failure {
    /// The failure an error answer (gRPC status `code`) stands for.
    fn from_code(code: i64, message: String) -> Failure {
        // 14 Unavailable: this member cannot serve now (no leader, stopping, timed out
        // waiting for the cluster); another member may.
        if code == 14 {
            return Failure::Unreachable { reason: message, sent: true };
        }
        let error = match code {
            11 if message.contains("compacted") => StoreError::Compacted { compact_revision: None },
            11 if message.contains("future revision") => StoreError::FutureRevision,
            7 | 16 => StoreError::Auth(message),
            3 if message.contains("authentication failed") || message.contains("user name is empty") => {
                StoreError::Auth(message)
            }
            _ => StoreError::Refused { code, message },
        };
        Failure::Store(error)
    }
}

/// What is shared by a client's clones and its watches.
struct Inner {
    endpoints: Vec<String>,
    /// The endpoint that answered last.
    current: AtomicUsize,
    agent: ureq::Agent,
    /// For watches: no limit on the whole call, a limit on each read.
    watch_agent: ureq::Agent,
    credentials: Option<Credentials>,
    token: Mutex<Token>,
}

impl Inner {
    /// One unary call: POST `body` to `path`, on each endpoint in turn as `retry` allows.
    fn call(&self, path: &str, body: &Value, retry: Retry) -> Result<Value, StoreError> {
        let body = body.to_string();
        self.each_endpoint(retry, |at| {
            let mut renewed = false;
            loop {
                let token = self.token(at, &mut renewed)?;
                match self.post(at, path, &body, token.as_deref())? {
                    Answer::Ok(value) => return Ok(value),
                    Answer::Error { code, message } => {
                        if self.token_refused(code, &message, &mut renewed) {
                            continue;
                        }
                        return Err(Failure::from_code(code, message));
                    }
                }
            }
        })
    }

    /// Runs `attempt` on the current endpoint, then on the others in turn while it fails to
    /// reach them (and `retry` allows); the endpoint that answers becomes the current one.
    fn each_endpoint<T>(
        &self,
        retry: Retry,
        mut attempt: impl FnMut(usize) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        let count = self.endpoints.len();
        let first = self.current.load(Ordering::Relaxed);
        let mut tried = Vec::new();
        for step in 0..count {
            let at = (first + step) % count;
            match attempt(at) {
                Ok(value) => {
                    self.current.store(at, Ordering::Relaxed);
                    return Ok(value);
                }
                Err(Failure::Store(e)) => {
                    self.current.store(at, Ordering::Relaxed);
                    return Err(e);
                }
                Err(Failure::Unreachable { reason, sent }) => {
                    tried.push(format!("{}: {reason}", self.endpoints[at]));
                    self.moved_on(at);
                    if sent && retry == Retry::UnsentOnly {
                        break;
                    }
                }
            }
        }
        Err(StoreError::Unavailable(tried))
    }

    /// Makes the endpoint after `at` the current one.
    fn moved_on(&self, at: usize) {
        self.current.store((at + 1) % self.endpoints.len(), Ordering::Relaxed);
    }

    /// The token to send, asking endpoint `at` for one when there is none yet.
    fn token(&self, at: usize, renewed: &mut bool) -> Result<Option<String>, Failure> {
        let Some(credentials) = &self.credentials else { return Ok(None) };
        let known = self.token.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match known {
            Token::Off => return Ok(None),
            Token::Known(token) => return Ok(Some(token)),
            Token::Unknown => {}
        }
        *renewed = true;
        let body = json!({ "name": credentials.user, "password": credentials.password }).to_string();
        let token = match self.post(at, "/v3/auth/authenticate", &body, None)? {
            Answer::Ok(answer) => match answer["token"].as_str() {
                Some(token) => Token::Known(token.to_string()),
                None => {
                    return Err(Failure::Store(StoreError::Malformed(
                        "an authentication answer without a token".into(),
                    )))
                }
            },
            Answer::Error { message, .. } if message.contains("authentication is not enabled") => Token::Off,
            Answer::Error { code, message } => return Err(Failure::from_code(code, message)),
        };
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = token.clone();
        Ok(match token {
            Token::Known(token) => Some(token),
            _ => None,
        })
    }

    /// Whether an error answer says the token is stale or missing and a new one is worth
    /// asking for (once per call); forgets the token when so.
    fn token_refused(&self, code: i64, message: &str, renewed: &mut bool) -> bool {
        let stale = code == 16 || (code == 3 && message.contains("user name is empty"));
        if self.credentials.is_none() || *renewed || !stale {
            return false;
        }
        self.forget_token();
        true
    }

    /// Forgets the token, so that the next call asks for a new one.
    fn forget_token(&self) {
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = Token::Unknown;
    }

    /// One POST to endpoint `at`.
    fn post(&self, at: usize, path: &str, body: &str, token: Option<&str>) -> Result<Answer, Failure> {
        let mut request =
            self.agent.post(format!("{}{path}", self.endpoints[at])).header("Content-Type", "application/json");
        if let Some(token) = token {
            request = request.header("Authorization", token);
        }
        let response = request.send(body).map_err(unreachable)?;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_vec()
            .map_err(|e| Failure::Unreachable { reason: e.to_string(), sent: true })?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(value) if value.is_object() => Ok(Answer::of(value)),
            // Not etcd's gateway (a wrong port, a proxy's error page): nothing was applied.
            _ => Err(Failure::Unreachable {
                reason: format!("HTTP {status} without etcd's JSON (is this etcd's client URL?)"),
                sent: false,
            }),
        }
    }
}

/// An answer: its result, or an error with its gRPC status code.
enum Answer {
    Ok(Value),
    Error { code: i64, message: String },
}

impl Answer {
    /// Reads either form the gateway uses: a unary answer is the message itself or
    /// `{"error", "code", "message"}`; a streamed one is `{"result": message}` or
    /// `{"error": {"grpc_code", "message"}}`.
    fn of(mut value: Value) -> Answer {
        match value.get_mut("error").map(Value::take) {
            Some(Value::Object(error)) => Answer::Error {
                code: error.get("grpc_code").and_then(Value::as_i64).unwrap_or(2),
                message: error.get("message").and_then(Value::as_str).unwrap_or("").to_string(),
            },
            Some(Value::String(error)) if !error.is_empty() && value.get("code").is_some() => Answer::Error {
                code: value["code"].as_i64().unwrap_or(2),
                message: value["message"].as_str().map(str::to_string).unwrap_or(error),
            },
            _ => match value.get_mut("result").map(Value::take) {
                Some(result) => Answer::Ok(result),
                None => Answer::Ok(value),
            },
        }
    }
}

/// Reads one newline-ended JSON message of a stream; an error for a broken, quiet or ended
/// stream.
fn read_message(reader: &mut impl BufRead) -> Result<Value, String> {
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader.take(BODY_LIMIT).read_until(b'\n', &mut line).map_err(|e| e.to_string())?;
        if read == 0 {
            return Err("the stream ended".to_string());
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        return serde_json::from_slice(&line).map_err(|e| format!("a message not understood: {e}"));
    }
}

/// The error a canceled watch stands for.
fn cancel_error(result: &Value, reason: String) -> StoreError {
    match int(&result["compact_revision"], "compact_revision") {
        Ok(compact) if compact > 0 => StoreError::Compacted { compact_revision: Some(compact) },
        Ok(_) if reason.contains("permission denied") || reason.contains("auth") => StoreError::Auth(reason),
        Ok(_) if reason.is_empty() => StoreError::WatchCanceled("no reason given".to_string()),
        Ok(_) => StoreError::WatchCanceled(reason),
        Err(e) => e,
    }
}

/// A lease call's error, with "lease not found" naming the lease.
fn lease_error(error: StoreError, lease: LeaseId) -> StoreError {
    match error {
        StoreError::Refused { code: 5, .. } => StoreError::LeaseNotFound(lease),
        other => other,
    }
}

/// The failure a transport error stands for; `sent` unless it failed while connecting.
fn unreachable(error: ureq::Error) -> Failure {
    use std::io::ErrorKind;
    let sent = match &error {
        ureq::Error::Timeout(ureq::Timeout::Resolve | ureq::Timeout::Connect)
        | ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::Tls(_)
        | ureq::Error::Rustls(_) => false,
        ureq::Error::Io(e) => !matches!(
            e.kind(),
            ErrorKind::ConnectionRefused
                | ErrorKind::AddrNotAvailable
                | ErrorKind::NetworkUnreachable
                | ErrorKind::HostUnreachable
        ),
        _ => true,
    };
    Failure::Unreachable { reason: error.to_string(), sent }
}

/// A client URL as the client writes it (no trailing slash), or why it is not one.
fn endpoint(text: &str) -> Result<String, SetupError> {
    let wrong = |reason| SetupError::Endpoint { endpoint: text.to_string(), reason };
    let url = text.trim().trim_end_matches('/');
    let authority = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or(wrong("is not http:// or https://"))?;
    if authority.contains(['/', '?', '#', '@']) {
        return Err(wrong("has more than a scheme, a host and a port"));
    }
    let port = match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !port.contains(']') => port,
        _ => return Err(wrong("names no port (etcd's client port is usually 2379)")),
    };
    if port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(wrong("has a port that is not a number from 1 to 65535"));
    }
    Ok(url.to_string())
}

/// The TLS settings: the CA file's authorities (or the public web's) and the client
/// certificate, when set.
fn tls_config(options: &EtcdOptions) -> Result<ureq::tls::TlsConfig, SetupError> {
    use ureq::tls::{ClientCert, PemItem, RootCerts, TlsConfig};
    let read =
        |path: &PathBuf| std::fs::read(path).map_err(|e| SetupError::Pem { path: path.clone(), reason: e.to_string() });
    let pem_error = |path: &PathBuf, reason: String| SetupError::Pem { path: path.clone(), reason };
    let certificates = |path: &PathBuf| {
        let bytes = read(path)?;
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(&bytes) {
            if let PemItem::Certificate(cert) = item.map_err(|e| pem_error(path, e.to_string()))? {
                certs.push(cert);
            }
        }
        if certs.is_empty() {
            return Err(pem_error(path, "no PEM certificate in it".to_string()));
        }
        Ok(certs)
    };
    let mut builder = TlsConfig::builder();
    if let Some(path) = &options.ca_file {
        builder = builder.root_certs(RootCerts::new_with_certs(&certificates(path)?));
    }
    if let Some((cert, key)) = &options.client_cert {
        let chain = certificates(cert)?;
        let key = ureq::tls::PrivateKey::from_pem(&read(key)?)
            .map_err(|e| pem_error(key, format!("no usable PEM private key in it: {e}")))?;
        builder = builder.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    }
    Ok(builder.build())
}

/// The `key` and `range_end` fields for `keys`.
fn range_json(keys: &KeyRange) -> Value {
    let mut value = json!({ "key": BASE64.encode(&keys.start) });
    if let Some(end) = &keys.end {
        value["range_end"] = json!(BASE64.encode(end));
    }
    value
}

/// A JSON number the gateway writes as a string (or leaves out when 0).
fn int(value: &Value, field: &str) -> Result<i64, StoreError> {
    match value {
        Value::Null => Ok(0),
        Value::String(text) => {
            text.parse().map_err(|_| StoreError::Malformed(format!("{field} is {text:?}, not a number")))
        }
        Value::Number(n) => n.as_i64().ok_or_else(|| StoreError::Malformed(format!("{field} is {n}, not an integer"))),
        other => Err(StoreError::Malformed(format!("{field} is {other}, not a number"))),
    }
}

/// Base64 bytes (left out when empty).
fn bytes(value: &Value, field: &str) -> Result<Vec<u8>, StoreError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(text) => {
            BASE64.decode(text).map_err(|e| StoreError::Malformed(format!("{field} is not base64: {e}")))
        }
        other => Err(StoreError::Malformed(format!("{field} is {other}, not base64 text"))),
    }
}

/// `header.revision` of an answer.
fn header_revision(answer: &Value) -> Result<Revision, StoreError> {
    int(&answer["header"]["revision"], "header.revision")
}

/// One key-value of an answer or event.
fn key_value(value: &Value) -> Result<KeyValue, StoreError> {
    Ok(KeyValue {
        key: bytes(&value["key"], "key")?,
        value: bytes(&value["value"], "value")?,
        create_revision: int(&value["create_revision"], "create_revision")?,
        mod_revision: int(&value["mod_revision"], "mod_revision")?,
        version: int(&value["version"], "version")?,
        lease: int(&value["lease"], "lease")?,
    })
}

/// The events of a watch message (none in a progress notice).
fn events(result: &Value) -> Result<Vec<Event>, StoreError> {
    let Some(Value::Array(events)) = result.get("events") else { return Ok(Vec::new()) };
    events
        .iter()
        .map(|event| {
            let kind = match event["type"].as_str() {
                None | Some("PUT") => EventKind::Put,
                Some("DELETE") => EventKind::Delete,
                Some(other) => return Err(StoreError::Malformed(format!("an event of type {other:?}"))),
            };
            Ok(Event { kind, kv: key_value(&event["kv"])? })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_client_urls_with_a_port() {
        assert_eq!(endpoint("http://127.0.0.1:2379/").unwrap(), "http://127.0.0.1:2379");
        assert_eq!(endpoint("https://etcd.example:2379").unwrap(), "https://etcd.example:2379");
        assert_eq!(endpoint("http://[::1]:2379").unwrap(), "http://[::1]:2379");
        for wrong in ["127.0.0.1:2379", "http://127.0.0.1", "http://[::1]", "http://h:0", "http://h:x", "http://h:1/v3"]
        {
            let error = endpoint(wrong).unwrap_err().to_string();
            assert!(error.contains(wrong) && error.contains("http://127.0.0.1:2379"), "{wrong}: {error}");
        }
    }

    #[test]
    fn no_endpoint_or_unused_tls_is_refused() {
        assert_eq!(Etcd::new(EtcdOptions::new(Vec::new())).unwrap_err(), SetupError::NoEndpoints);
        let mut options = EtcdOptions::new(vec!["http://127.0.0.1:2379".into()]);
        options.ca_file = Some("/nonexistent/ca.pem".into());
        assert_eq!(Etcd::new(options.clone()).unwrap_err(), SetupError::TlsUnused);
        options.endpoints = vec!["https://127.0.0.1:2379".into()];
        let error = Etcd::new(options).unwrap_err().to_string();
        assert!(error.contains("/nonexistent/ca.pem"), "{error}");
    }

    #[test]
    fn both_answer_forms_are_read() {
        let unary = json!({ "error": "etcdserver: mvcc: required revision has been compacted",
            "message": "etcdserver: mvcc: required revision has been compacted", "code": 11 });
        let Answer::Error { code: 11, message } = Answer::of(unary) else { panic!("not an error") };
        assert!(matches!(Failure::from_code(11, message), Failure::Store(StoreError::Compacted { .. })));
        let streamed = json!({ "error": { "grpc_code": 16, "message": "etcdserver: invalid auth token" } });
        assert!(matches!(Answer::of(streamed), Answer::Error { code: 16, .. }));
        let Answer::Ok(result) = Answer::of(json!({ "result": { "TTL": "5" } })) else { panic!("an error") };
        assert_eq!(int(&result["TTL"], "TTL").unwrap(), 5);
        let Answer::Ok(plain) = Answer::of(json!({ "header": { "revision": "7" } })) else { panic!("an error") };
        assert_eq!(header_revision(&plain).unwrap(), 7);
    }

    #[test]
    fn events_read_puts_deletes_and_refuse_nonsense() {
        let result = json!({ "header": { "revision": "9" }, "events": [
            { "kv": { "key": "YQ==", "value": "MQ==", "create_revision": "2", "mod_revision": "8", "version": "3" } },
            { "type": "DELETE", "kv": { "key": "Yg==", "mod_revision": "9" } } ] });
        let events = events(&result).unwrap();
        assert_eq!(events[0].kind, EventKind::Put);
        assert_eq!((events[0].kv.key.as_slice(), events[0].kv.value.as_slice()), (&b"a"[..], &b"1"[..]));
        assert_eq!((events[1].kind, events[1].kv.mod_revision), (EventKind::Delete, 9));
        assert!(matches!(int(&json!("x"), "f"), Err(StoreError::Malformed(_))));
        assert!(matches!(bytes(&json!("***"), "key"), Err(StoreError::Malformed(_))));
    }

    #[test]
    fn credentials_hide_the_password() {
        let credentials = Credentials { user: "root".into(), password: "secret".into() };
        assert!(!format!("{credentials:?}").contains("secret"));
    }
}
