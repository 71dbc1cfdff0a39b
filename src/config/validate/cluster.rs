//! `[cluster]`: the etcd cluster a fleet of instances shares health and configuration
//! through, this instance's id in it, and the rule observers' reports are counted by.

use std::time::Duration;

use super::Validator;
use crate::config::{file, ClusterConfig, ReadFile};
use crate::limits;

/// The cluster's name when `name` is not given.
const DEFAULT_NAME: &str = "default";

impl Validator<'_> {
    /// Validates `[cluster]` (absent: a standalone server); `read` supplies `password_file`.
    pub(super) fn cluster(
        &mut self,
        table: Option<&toml::Spanned<file::ClusterTable>>,
        read: &ReadFile<'_>,
    ) -> Option<ClusterConfig> {
        let spanned = table?;
        let t = spanned.get_ref();
        let span = Some(spanned.span());
        let ctx = "[cluster]";
        let endpoints = t.endpoints.clone().unwrap_or_default();
        if endpoints.is_empty() {
            let reason = "missing: list etcd's client URLs, such as [\"http://127.0.0.1:2379\"]";
            self.problem(span.clone(), ctx, Some("endpoints"), reason);
        } else if !limits::CLUSTER_ENDPOINTS.contains(endpoints.len()) {
            let max = limits::CLUSTER_ENDPOINTS.max;
            self.problem(span.clone(), ctx, Some("endpoints"), format!("{} endpoints; at most {max}", endpoints.len()));
        }
        for endpoint in &endpoints {
            if let Err(reason) = endpoint_ok(endpoint) {
                self.problem(span.clone(), ctx, Some("endpoints"), format!("{endpoint:?} {reason}"));
            }
        }
        let name = t.name.clone().unwrap_or_else(|| DEFAULT_NAME.to_string());
        if let Err(reason) = id_ok(&name, limits::CLUSTER_NAME_LEN) {
            self.problem(span.clone(), ctx, Some("name"), format!("{name:?} {reason}"));
        }
        let instance = match &t.instance {
            Some(instance) => instance.clone(),
            None => match host_name() {
                Some(host) => host,
                None => {
                    let reason = "missing, and the host name could not be read: give this instance an id";
                    self.problem(span.clone(), ctx, Some("instance"), reason);
                    String::new()
                }
            },
        };
        if !instance.is_empty() {
            if let Err(reason) = id_ok(&instance, limits::CLUSTER_INSTANCE_LEN) {
                let from = if t.instance.is_some() { "" } else { " (the host name; set `instance`)" };
                self.problem(span.clone(), ctx, Some("instance"), format!("{instance:?}{from} {reason}"));
            }
        }
        let observers_per_check = self.whole(t.observers_per_check, limits::OBSERVERS_PER_CHECK, &span, ctx);
        let min_observers = self.whole(t.min_observers, limits::MIN_OBSERVERS, &span, ctx);
        let (key, default, min, max) = limits::HEALTHY_FRACTION;
        let healthy_fraction = t.healthy_fraction.unwrap_or(default);
        if !limits::healthy_fraction_ok(healthy_fraction) {
            let reason = format!("{healthy_fraction} is outside {min} (included) to {max} (excluded)");
            self.problem(span.clone(), ctx, key.split_once('.').map(|(_, k)| k), reason);
        }
        let lease_ttl = self.seconds(t.lease_ttl, limits::LEASE_TTL, &span, ctx);
        let fallback_after = self.seconds(t.fallback_after, limits::FALLBACK_AFTER, &span, ctx);
        let self_check_interval = self.seconds(t.self_check_interval, limits::SELF_CHECK_INTERVAL, &span, ctx);
        let debounce = limits::MEMBERSHIP_DEBOUNCE;
        let membership_debounce = self.timeout(
            t.membership_debounce,
            Duration::from_secs_f64(debounce.default),
            debounce.bounds(),
            span.clone(),
            ctx,
            "membership_debounce",
        );
        if fallback_after <= lease_ttl {
            let reason = format!(
                "{} s is not longer than lease_ttl ({} s): an instance would probe everything on its own \
                 before the fleet even noticed it gone",
                fallback_after.as_secs(),
                lease_ttl.as_secs()
            );
            self.problem(span.clone(), ctx, Some("fallback_after"), reason);
        }
        let password = match (&t.password, &t.password_file) {
            (Some(password), None) => Some(password.clone()),
            (None, Some(file)) => {
                let path = self.relative(file);
                match read(&path) {
                    Ok(text) => Some(text.trim_end_matches(['\n', '\r']).to_string()),
                    Err(e) => {
                        let reason = format!("cannot read {}: {e}", path.display());
                        self.problem(span.clone(), ctx, Some("password_file"), reason);
                        None
                    }
                }
            }
            (Some(_), Some(_)) => {
                self.problem(span.clone(), ctx, Some("password"), "give `password` or `password_file`, not both");
                None
            }
            (None, None) => None,
        };
        let credentials = match (&t.username, password) {
            (Some(user), Some(password)) => Some((user.clone(), password)),
            (Some(_), None) if t.password_file.is_none() => {
                self.problem(span.clone(), ctx, Some("username"), "needs `password` or `password_file`");
                None
            }
            (None, Some(_)) => {
                self.problem(span.clone(), ctx, Some("password"), "needs `username`");
                None
            }
            _ => None,
        };
        let client_cert = match (&t.cert_file, &t.key_file) {
            (Some(cert), Some(key)) => Some((self.relative(cert), self.relative(key))),
            (None, None) => None,
            (Some(_), None) => {
                self.problem(span.clone(), ctx, Some("cert_file"), "needs `key_file` (the certificate's private key)");
                None
            }
            (None, Some(_)) => {
                self.problem(span.clone(), ctx, Some("key_file"), "needs `cert_file`");
                None
            }
        };
        let tls_files = [("ca_file", &t.ca_file), ("cert_file", &t.cert_file), ("key_file", &t.key_file)];
        for (key, file) in tls_files {
            if let Some(file) = file {
                let path = self.relative(file);
                if let Err(e) = std::fs::metadata(&path) {
                    self.problem(span.clone(), ctx, Some(key), format!("cannot read {}: {e}", path.display()));
                }
            }
        }
        let uses_tls = endpoints.iter().any(|e| e.starts_with("https://"));
        if !uses_tls && (t.ca_file.is_some() || client_cert.is_some()) {
            let key = if t.ca_file.is_some() { "ca_file" } else { "cert_file" };
            self.problem(span.clone(), ctx, Some(key), "has no effect: no endpoint is https://");
        }
        Some(ClusterConfig {
            endpoints,
            name,
            instance,
            observers_per_check,
            healthy_fraction,
            min_observers,
            lease_ttl,
            fallback_after,
            membership_debounce,
            self_check_interval,
            credentials,
            ca_file: t.ca_file.as_ref().map(|f| self.relative(f)),
            client_cert,
        })
    }

    /// A whole number of `[cluster]` within its limit (the default when not given).
    fn whole(
        &mut self,
        value: Option<usize>,
        limit: limits::Limit<usize>,
        span: &Option<std::ops::Range<usize>>,
        ctx: &str,
    ) -> usize {
        let value = value.unwrap_or(limit.default);
        if !limit.contains(value) {
            let key = limit.key.split_once('.').map(|(_, k)| k);
            self.problem(span.clone(), ctx, key, format!("{value} is outside {}..={}", limit.min, limit.max));
            return limit.default;
        }
        value
    }

    /// Whole seconds of `[cluster]` within their limit (the default when not given).
    fn seconds(
        &mut self,
        value: Option<u64>,
        limit: limits::Limit<u64>,
        span: &Option<std::ops::Range<usize>>,
        ctx: &str,
    ) -> Duration {
        let value = value.unwrap_or(limit.default);
        if !limit.contains(value) {
            let key = limit.key.split_once('.').map(|(_, k)| k);
            let reason = format!("{value} is outside {}..={} seconds", limit.min, limit.max);
            self.problem(span.clone(), ctx, key, reason);
            return Duration::from_secs(limit.default);
        }
        Duration::from_secs(value)
    }
}

/// Whether an endpoint is an `http://` or `https://` URL with a host and port.
fn endpoint_ok(endpoint: &str) -> Result<(), &'static str> {
    let rest = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"))
        .ok_or("is not an http:// or https:// URL (etcd's client URL, such as http://127.0.0.1:2379)")?;
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') {
        return Err("is not a URL of a host and port, such as http://127.0.0.1:2379");
    }
    Ok(())
}

/// Whether a cluster name or instance id fits its length and uses only letters, digits,
/// `.`, `_` and `-` (they are parts of etcd keys, and of log lines).
fn id_ok(id: &str, bounds: limits::Bounds<usize>) -> Result<(), String> {
    if !bounds.contains(id.len()) {
        return Err(format!("is {} bytes; {} to {} are allowed", id.len(), bounds.min, bounds.max));
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
        return Err("may hold only letters, digits, `.`, `_` and `-`".to_string());
    }
    Ok(())
}

/// This host's name, as `hostname` prints it.
pub fn host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that much.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = std::str::from_utf8(&buf[..end]).ok()?.trim();
    (!name.is_empty()).then(|| name.to_string())
}
