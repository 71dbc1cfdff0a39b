//! `[[health_check]]`: each check's type, endpoint, timing and thresholds, and the children
//! of calculated checks.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use super::Validator;
use crate::config::runtime::connect_timeout;
use crate::config::{file, text, CheckConfig, CheckKind, CheckObservers, ReadFile};
use crate::limits;

impl Validator<'_> {
    /// Validates every `[[health_check]]`; ids must be unique, and children name other checks.
    pub(super) fn checks(
        &mut self,
        tables: &[toml::Spanned<file::HealthCheckTable>],
        read: &ReadFile<'_>,
    ) -> Vec<CheckConfig> {
        let mut ids: HashMap<&str, usize> = HashMap::new();
        for (i, t) in tables.iter().enumerate() {
            let id = t.get_ref().id.as_str();
            if ids.insert(id, i).is_some() {
                self.problem(Some(t.span()), &format!("health_check {id:?}"), Some("id"), "defined more than once");
            }
        }
        let kinds: Vec<Option<CheckKind>> = tables.iter().map(|t| CheckKind::parse(&t.get_ref().kind)).collect();
        tables.iter().enumerate().map(|(i, t)| self.check(t, kinds[i], &ids, &kinds, read)).collect()
    }

    /// Validates one `[[health_check]]` of `kind` (`None`: not a known type); `ids` and
    /// `kinds` are every check's, for its children.
    fn check(
        &mut self,
        spanned: &toml::Spanned<file::HealthCheckTable>,
        kind: Option<CheckKind>,
        ids: &HashMap<&str, usize>,
        kinds: &[Option<CheckKind>],
        read: &ReadFile<'_>,
    ) -> CheckConfig {
        let t = spanned.get_ref();
        let span = Some(spanned.span());
        let ctx = format!("health_check {:?}", t.id);
        if !limits::CHECK_ID_LEN.contains(t.id.len()) {
            let limits::Bounds { min, max, .. } = limits::CHECK_ID_LEN;
            self.problem(span.clone(), &ctx, Some("id"), format!("must be {min} to {max} characters"));
        }
        let kind = kind.unwrap_or_else(|| {
            self.problem(
                span.clone(),
                &ctx,
                Some("type"),
                format!("{:?} is not one of TCP, HTTP, HTTPS, HTTP_STR_MATCH, HTTPS_STR_MATCH, CALCULATED", t.kind),
            );
            CheckKind::Tcp
        });
        let forbid = |v: &mut Self, present: bool, key: &str, why: &str| {
            if present {
                v.problem(span.clone(), &ctx, Some(key), format!("not allowed {why}"));
            }
        };
        let calculated = kind == CheckKind::Calculated;
        let mut children = Vec::new();
        if calculated {
            for (key, present) in [
                ("ip", t.ip.is_some()),
                ("port", t.port.is_some()),
                ("resource_path", t.resource_path.is_some()),
                ("fqdn", t.fqdn.is_some()),
                ("search_string", t.search_string.is_some()),
                ("request_interval", t.request_interval.is_some()),
                ("failure_threshold", t.failure_threshold.is_some()),
                ("enable_sni", t.enable_sni.is_some()),
            ] {
                forbid(self, present, key, "for CALCULATED checks");
            }
            let names = t.children.clone().unwrap_or_default();
            if !limits::CHILDREN.contains(names.len()) {
                let max = limits::CHILDREN.max;
                self.problem(span.clone(), &ctx, Some("children"), format!("more than {max} children"));
            }
            for child in &names {
                match ids.get(child.as_str()) {
                    None => {
                        self.problem(span.clone(), &ctx, Some("children"), format!("no health_check with id {child:?}"))
                    }
                    Some(&i) if kinds[i] == Some(CheckKind::Calculated) => self.problem(
                        span.clone(),
                        &ctx,
                        Some("children"),
                        format!("{child:?} is CALCULATED; calculated checks cannot nest"),
                    ),
                    Some(&i) if children.contains(&i) => {
                        self.problem(span.clone(), &ctx, Some("children"), format!("{child:?} listed twice"))
                    }
                    Some(&i) => children.push(i),
                }
            }
            if t.health_threshold.is_some_and(|h| !limits::HEALTH_THRESHOLD.contains(h)) {
                let limits::Limit { min, max, .. } = limits::HEALTH_THRESHOLD;
                self.problem(span.clone(), &ctx, Some("health_threshold"), format!("must be {min} to {max}"));
            }
        } else {
            forbid(self, t.children.is_some(), "children", "except for CALCULATED checks");
            forbid(self, t.health_threshold.is_some(), "health_threshold", "except for CALCULATED checks");
            if !kind.is_http() {
                forbid(self, t.resource_path.is_some(), "resource_path", "for TCP checks");
                forbid(self, t.enable_sni.is_some(), "enable_sni", "for TCP checks");
            }
            if !kind.is_str_match() {
                forbid(self, t.search_string.is_some(), "search_string", "except for *_STR_MATCH checks");
            }
        }
        let ip = match &t.ip {
            Some(text) => match text.parse::<IpAddr>() {
                Ok(ip) => Some(ip),
                Err(_) => {
                    self.problem(span.clone(), &ctx, Some("ip"), format!("{text:?} is not an IPv4 or IPv6 address"));
                    None
                }
            },
            None => None,
        };
        if !calculated && t.ip.is_none() && t.fqdn.is_none() {
            self.problem(span.clone(), &ctx, Some("ip"), "an endpoint check needs `ip` or `fqdn`");
        }
        if let Some(fqdn) = &t.fqdn {
            if let Err(e) = text::parse_name(fqdn) {
                self.problem(span.clone(), &ctx, Some("fqdn"), e);
            }
        }
        let port = match (t.port, kind) {
            (Some(p), _) if !limits::PORT.contains(p) => {
                let limits::Bounds { min, max, .. } = limits::PORT;
                self.problem(span.clone(), &ctx, Some("port"), format!("must be {min} to {max}"));
                0
            }
            (Some(p), _) => p,
            (None, CheckKind::Http | CheckKind::HttpStrMatch) => limits::HTTP_PORT,
            (None, CheckKind::Https | CheckKind::HttpsStrMatch) => limits::HTTPS_PORT,
            (None, CheckKind::Tcp) => {
                self.problem(span.clone(), &ctx, Some("port"), "required for TCP checks");
                0
            }
            (None, CheckKind::Calculated) => 0,
        };
        let mut resource_path = t.resource_path.clone().unwrap_or_else(|| "/".into());
        if !resource_path.starts_with('/') {
            resource_path.insert(0, '/');
        }
        if !limits::RESOURCE_PATH_LEN.contains(resource_path.len())
            || resource_path.bytes().any(|b| b <= b' ' || b == 0x7f)
        {
            let max = limits::RESOURCE_PATH_LEN.max;
            self.problem(
                span.clone(),
                &ctx,
                Some("resource_path"),
                format!("must be at most {max} characters with no spaces or control characters"),
            );
        }
        if kind.is_str_match() {
            match &t.search_string {
                None => self.problem(span.clone(), &ctx, Some("search_string"), "required for *_STR_MATCH checks"),
                Some(s) if !limits::SEARCH_STRING_LEN.contains(s.len()) => {
                    let limits::Bounds { min, max, .. } = limits::SEARCH_STRING_LEN;
                    self.problem(
                        span.clone(),
                        &ctx,
                        Some("search_string"),
                        format!("must be {min} to {max} characters"),
                    )
                }
                Some(_) => {}
            }
        }
        let interval = t.request_interval.unwrap_or(limits::REQUEST_INTERVAL.default);
        if !limits::REQUEST_INTERVAL.contains(interval) {
            let limits::Limit { min, max, .. } = limits::REQUEST_INTERVAL;
            self.problem(
                span.clone(),
                &ctx,
                Some("request_interval"),
                format!("{interval} is outside {min}..={max} seconds"),
            );
        }
        let threshold = t.failure_threshold.unwrap_or(limits::FAILURE_THRESHOLD.default);
        if !limits::FAILURE_THRESHOLD.contains(threshold) {
            let limits::Limit { min, max, .. } = limits::FAILURE_THRESHOLD;
            self.problem(
                span.clone(),
                &ctx,
                Some("failure_threshold"),
                format!("{threshold} is outside {min}..={max}"),
            );
        }
        let connect_timeout = self.timeout(
            t.connect_timeout,
            connect_timeout(kind),
            limits::CONNECT_TIMEOUT,
            span.clone(),
            &ctx,
            "connect_timeout",
        );
        let response_timeout = self.timeout(
            t.response_timeout,
            Duration::from_secs_f64(limits::RESPONSE_TIMEOUT.default),
            limits::RESPONSE_TIMEOUT.bounds(),
            span.clone(),
            &ctx,
            "response_timeout",
        );
        let body_timeout = self.timeout(
            t.body_timeout,
            Duration::from_secs_f64(limits::BODY_TIMEOUT.default),
            limits::BODY_TIMEOUT.bounds(),
            span.clone(),
            &ctx,
            "body_timeout",
        );
        if !kind.is_tls() {
            forbid(self, t.tls_verify.is_some(), "tls_verify", "except for HTTPS checks");
            forbid(self, t.tls_ca_file.is_some(), "tls_ca_file", "except for HTTPS checks");
        }
        if !kind.is_http() {
            forbid(self, t.response_timeout.is_some(), "response_timeout", "except for HTTP checks");
        }
        if !kind.is_str_match() {
            forbid(self, t.body_timeout.is_some(), "body_timeout", "except for *_STR_MATCH checks");
        }
        if calculated {
            forbid(self, t.connect_timeout.is_some(), "connect_timeout", "for CALCULATED checks");
        }
        let tls_ca = match &t.tls_ca_file {
            None => None,
            Some(file) => {
                let path = self.relative(file);
                match read(&path).map(String::into_bytes) {
                    Ok(pem) if pem_has_certificate(&pem) => Some(pem),
                    Ok(_) => {
                        self.problem(
                            span.clone(),
                            &ctx,
                            Some("tls_ca_file"),
                            format!("{} holds no PEM certificate", path.display()),
                        );
                        None
                    }
                    Err(e) => {
                        self.problem(
                            span.clone(),
                            &ctx,
                            Some("tls_ca_file"),
                            format!("cannot read {}: {e}", path.display()),
                        );
                        None
                    }
                }
            }
        };
        if tls_ca.is_some() && t.tls_verify == Some(false) {
            self.problem(span.clone(), &ctx, Some("tls_ca_file"), "has no effect with `tls_verify = false`");
        }
        let observers = match &t.observers {
            None => CheckObservers::Fleet,
            Some(file::ObserversValue::Word(word)) if word == "all" => CheckObservers::All,
            Some(file::ObserversValue::Count(n))
                if usize::try_from(*n).is_ok_and(|n| limits::CHECK_OBSERVERS.contains(n)) =>
            {
                CheckObservers::Count(*n as usize)
            }
            Some(other) => {
                let limits::Bounds { min, max, .. } = limits::CHECK_OBSERVERS;
                let written = match other {
                    file::ObserversValue::Count(n) => n.to_string(),
                    file::ObserversValue::Word(w) => format!("{w:?}"),
                };
                let reason = format!("{written} is not a count from {min} to {max}, or \"all\"");
                self.problem(span.clone(), &ctx, Some("observers"), reason);
                CheckObservers::Fleet
            }
        };
        if calculated && t.observers.is_some() {
            self.problem(span.clone(), &ctx, Some("observers"), "is not for CALCULATED checks: nothing probes them");
        }
        CheckConfig {
            observers,
            connect_timeout,
            response_timeout,
            body_timeout,
            tls_verify: t.tls_verify.unwrap_or(tls_ca.is_some()),
            tls_ca,
            id: t.id.clone(),
            kind,
            ip,
            port,
            resource_path,
            fqdn: t.fqdn.as_ref().map(|f| f.trim_end_matches('.').to_string()),
            search_string: t.search_string.clone(),
            request_interval: Duration::from_secs(interval),
            failure_threshold: threshold,
            inverted: t.inverted.unwrap_or(false),
            disabled: t.disabled.unwrap_or(false),
            enable_sni: t.enable_sni.unwrap_or(kind.is_tls()),
            children,
            health_threshold: t.health_threshold.unwrap_or(limits::HEALTH_THRESHOLD.default),
        }
    }
}

/// Whether PEM text holds at least one certificate block.
fn pem_has_certificate(pem: &[u8]) -> bool {
    pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----")
}
