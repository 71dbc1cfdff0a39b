//! `[server]`: listen addresses, workers, answer and TCP settings, the control endpoint, rate
//! limiting and the identity answers.

use std::net::SocketAddr;
use std::time::Duration;

use super::Validator;
use crate::config::{file, RrlConfig, ServerConfig};
use crate::limits;

/// Default listen address.
const DEFAULT_LISTEN: &str = "127.0.0.1:5353";

impl Validator<'_> {
    /// Validates `[server]` (absent: every default).
    pub(super) fn server(&mut self, table: Option<&toml::Spanned<file::ServerTable>>) -> ServerConfig {
        let default = file::ServerTable::default();
        let (t, span) = match table {
            Some(t) => (t.get_ref(), Some(t.span())),
            None => (&default, None),
        };
        let ctx = "[server]";
        let mut listen = Vec::new();
        for text in t.listen.clone().unwrap_or_else(|| vec![DEFAULT_LISTEN.to_string()]) {
            match text.parse::<SocketAddr>() {
                Ok(addr) => listen.push(addr),
                Err(_) => self.problem(
                    span.clone(),
                    ctx,
                    Some("listen"),
                    format!("{text:?} is not an address:port (IPv6 as \"[::1]:5353\")"),
                ),
            }
        }
        if listen.is_empty() && t.listen.is_some() {
            self.problem(span.clone(), ctx, Some("listen"), "needs at least one address");
        }
        let workers = t.workers.unwrap_or(limits::WORKERS.default);
        if !limits::WORKERS.contains(workers) {
            let max = limits::WORKERS.max;
            self.problem(span.clone(), ctx, Some("workers"), format!("{workers} is more than {max}"));
        }
        let max_answers = t.max_answers.unwrap_or(limits::MAX_ANSWERS.default);
        if !limits::MAX_ANSWERS.contains(max_answers) {
            let limits::Limit { min, max, .. } = limits::MAX_ANSWERS;
            self.problem(span.clone(), ctx, Some("max_answers"), format!("{max_answers} is outside {min}..={max}"));
        }
        let edns_udp_size = t.edns_udp_size.unwrap_or(limits::EDNS_UDP_SIZE.default);
        if !limits::EDNS_UDP_SIZE.contains(edns_udp_size) {
            let limits::Limit { min, max, .. } = limits::EDNS_UDP_SIZE;
            self.problem(span.clone(), ctx, Some("edns_udp_size"), format!("{edns_udp_size} is outside {min}..={max}"));
        }
        let answer_cache = t.answer_cache.unwrap_or(limits::ANSWER_CACHE.default);
        if answer_cache != 0 && (!answer_cache.is_power_of_two() || !limits::ANSWER_CACHE.contains(answer_cache)) {
            self.problem(
                span.clone(),
                ctx,
                Some("answer_cache"),
                format!("{answer_cache} is not 0 or a power of two up to {}", limits::ANSWER_CACHE.max),
            );
        }
        let idle = t.tcp_idle_timeout.unwrap_or(limits::TCP_IDLE_TIMEOUT.default);
        if !limits::TCP_IDLE_TIMEOUT.contains(idle) {
            let limits::Limit { min, max, .. } = limits::TCP_IDLE_TIMEOUT;
            self.problem(
                span.clone(),
                ctx,
                Some("tcp_idle_timeout"),
                format!("{idle} is outside {min}..={max} seconds"),
            );
        }
        let max_conn = t.tcp_max_connections.unwrap_or(limits::TCP_MAX_CONNECTIONS.default);
        if !limits::TCP_MAX_CONNECTIONS.contains(max_conn) {
            let limits::Limit { min, max, .. } = limits::TCP_MAX_CONNECTIONS;
            self.problem(
                span.clone(),
                ctx,
                Some("tcp_max_connections"),
                format!("{max_conn} is outside {min}..={max}"),
            );
        }
        let state_file = t.state_file.as_ref().map(|f| self.relative(f));
        let control = match &t.control {
            None => None,
            Some(text) => match text.parse::<SocketAddr>() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    self.problem(span.clone(), ctx, Some("control"), format!("{text:?} is not an address:port"));
                    None
                }
            },
        };
        if let Some(token) = &t.control_token {
            if !limits::CONTROL_TOKEN_LEN.contains(token.len())
                || token.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                let min = limits::CONTROL_TOKEN_LEN.min;
                self.problem(
                    span.clone(),
                    ctx,
                    Some("control_token"),
                    format!("must be at least {min} characters without spaces"),
                );
            }
        }
        let control_socket = match t.control_socket.as_deref() {
            Some("") => None,
            Some(path) => Some(self.relative(path)),
            None => state_file.as_deref().map(ServerConfig::default_control_socket),
        };
        if let Some(path) = &control_socket {
            let length = path.as_os_str().len();
            if !limits::CONTROL_SOCKET_LEN.contains(length) {
                let max = limits::CONTROL_SOCKET_LEN.max;
                let what = if t.control_socket.is_some() { "" } else { "the default, beside `state_file`: " };
                self.problem(
                    span.clone(),
                    ctx,
                    Some("control_socket"),
                    format!(
                        "{what}{} is {length} bytes, more than the {max} a socket address holds; set a shorter \
                         path, or \"\" for no control socket",
                        path.display()
                    ),
                );
            }
        }
        if control.is_some_and(|a| !a.ip().is_loopback()) && t.control_token.is_none() {
            self.problem(
                span.clone(),
                ctx,
                Some("control"),
                "a control endpoint off loopback needs `control_token` (it can reload and override checks)",
            );
        }
        let state_max_age = t.state_max_age.unwrap_or(limits::STATE_MAX_AGE.default);
        let tcp_message_timeout = self.timeout(
            t.tcp_message_timeout,
            Duration::from_secs_f64(limits::TCP_MESSAGE_TIMEOUT.default),
            limits::TCP_MESSAGE_TIMEOUT.bounds(),
            span.clone(),
            ctx,
            "tcp_message_timeout",
        );
        let rrl = match t.rrl_responses_per_second {
            None | Some(0) => {
                for (key, present) in [
                    ("rrl_slip", t.rrl_slip.is_some()),
                    ("rrl_ipv4_prefix", t.rrl_ipv4_prefix.is_some()),
                    ("rrl_ipv6_prefix", t.rrl_ipv6_prefix.is_some()),
                    ("rrl_table_size", t.rrl_table_size.is_some()),
                ] {
                    if present {
                        self.problem(span.clone(), ctx, Some(key), "has no effect without `rrl_responses_per_second`");
                    }
                }
                None
            }
            Some(rate) => {
                let config = RrlConfig {
                    responses_per_second: rate,
                    slip: t.rrl_slip.unwrap_or(limits::RRL_SLIP.default),
                    ipv4_prefix: t.rrl_ipv4_prefix.unwrap_or(limits::RRL_IPV4_PREFIX.default),
                    ipv6_prefix: t.rrl_ipv6_prefix.unwrap_or(limits::RRL_IPV6_PREFIX.default),
                    table_size: t.rrl_table_size.unwrap_or(limits::RRL_TABLE_SIZE.default),
                };
                if !limits::RRL_SLIP.contains(config.slip) {
                    let limits::Limit { min, max, .. } = limits::RRL_SLIP;
                    self.problem(
                        span.clone(),
                        ctx,
                        Some("rrl_slip"),
                        format!("{} is outside {min}..={max}", config.slip),
                    );
                }
                if !limits::RRL_IPV4_PREFIX.contains(config.ipv4_prefix) {
                    let limits::Limit { min, max, .. } = limits::RRL_IPV4_PREFIX;
                    self.problem(
                        span.clone(),
                        ctx,
                        Some("rrl_ipv4_prefix"),
                        format!("{} is outside {min}..={max}", config.ipv4_prefix),
                    );
                }
                if !limits::RRL_IPV6_PREFIX.contains(config.ipv6_prefix) {
                    let limits::Limit { min, max, .. } = limits::RRL_IPV6_PREFIX;
                    self.problem(
                        span.clone(),
                        ctx,
                        Some("rrl_ipv6_prefix"),
                        format!("{} is outside {min}..={max}", config.ipv6_prefix),
                    );
                }
                if !config.table_size.is_power_of_two() || !limits::RRL_TABLE_SIZE.contains(config.table_size) {
                    let limits::Limit { min, max, .. } = limits::RRL_TABLE_SIZE;
                    self.problem(
                        span.clone(),
                        ctx,
                        Some("rrl_table_size"),
                        format!("must be a power of two from {min} to {max}"),
                    );
                }
                Some(config)
            }
        };
        if t.group.is_some() && t.user.is_none() {
            self.problem(span.clone(), ctx, Some("group"), "only together with `user`");
        }
        for (key, text, bounds) in
            [("identity", &t.identity, limits::IDENTITY_LEN), ("version", &t.version, limits::VERSION_LEN)]
        {
            if text.as_ref().is_some_and(|text| !bounds.contains(text.len())) {
                let (min, max) = (bounds.min, bounds.max);
                self.problem(span.clone(), ctx, Some(key), format!("must be {min} to {max} bytes (one TXT string)"));
            }
        }
        let nsid = match t.nsid.as_deref().map(parse_nsid) {
            None => Vec::new(),
            Some(Ok(nsid)) => nsid,
            Some(Err(reason)) => {
                self.problem(span.clone(), ctx, Some("nsid"), reason);
                Vec::new()
            }
        };
        let xdp = t.xdp.clone().unwrap_or_default();
        for (i, name) in xdp.iter().enumerate() {
            if !limits::INTERFACE_NAME_LEN.contains(name.len()) {
                let limits::Bounds { min, max, .. } = limits::INTERFACE_NAME_LEN;
                self.problem(
                    span.clone(),
                    ctx,
                    Some("xdp"),
                    format!("{name:?}: an interface name is {min} to {max} bytes"),
                );
            } else if xdp[..i].contains(name) {
                self.problem(span.clone(), ctx, Some("xdp"), format!("{name:?} is named twice"));
            }
        }
        ServerConfig {
            xdp,
            identity: t.identity.clone(),
            version: t.version.clone(),
            nsid,
            tcp_message_timeout,
            rrl,
            user: t.user.clone(),
            group: t.group.clone(),
            control,
            control_token: t.control_token.clone(),
            control_socket,
            query_log: t.query_log.unwrap_or(false),
            state_file,
            state_max_age: Duration::from_secs(state_max_age),
            listen,
            workers,
            pin_workers: t.pin_workers.unwrap_or(false),
            max_answers,
            edns_udp_size,
            minimal_responses: t.minimal_responses.unwrap_or(false),
            tcp_idle_timeout: Duration::from_secs(idle),
            tcp_max_connections: max_conn,
            answer_cache,
        }
    }
}

/// An NSID as configured: `0x` and hex digits for raw bytes, else the text's bytes.
fn parse_nsid(text: &str) -> Result<Vec<u8>, String> {
    let bytes = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => {
            if hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("{text:?}: after 0x, an even number of hex digits"));
            }
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0)).collect()
        }
        None => text.as_bytes().to_vec(),
    };
    if !limits::NSID_LEN.contains(bytes.len()) {
        let limits::Bounds { min, max, .. } = limits::NSID_LEN;
        return Err(format!("must be {min} to {max} bytes"));
    }
    Ok(bytes)
}
