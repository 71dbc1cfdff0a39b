//! The command-line side of the control endpoint: `eightfold status`, `reload` and
//! `override` send one HTTP request, over the control socket or TCP, and print the answer.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use super::status::{age, Status};

/// The control address the CLI uses when neither `--control` nor a config names one.
pub const DEFAULT_CONTROL: &str = "127.0.0.1:9153";
/// How long the CLI waits for the server (a reload of a large zone takes a while).
const TIMEOUT: Duration = Duration::from_secs(120);

/// Where the CLI reaches the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The control endpoint's TCP address.
    Tcp(SocketAddr),
    /// The control socket.
    Socket(PathBuf),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp(address) => write!(f, "{address}"),
            Target::Socket(path) => write!(f, "{}", path.display()),
        }
    }
}

/// One request to the control endpoint; returns the status code and body.
pub fn request(
    target: &Target,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: &str,
) -> Result<(u16, String), String> {
    match target {
        Target::Tcp(address) => {
            let stream = TcpStream::connect_timeout(address, Duration::from_secs(5)).map_err(|e| {
                format!("cannot reach the control endpoint at {address}: {e} (is `control` set in [server]?)")
            })?;
            stream.set_read_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
            exchange(stream, &address.to_string(), token, method, path, body)
        }
        Target::Socket(socket) => {
            let stream = UnixStream::connect(socket).map_err(|e| {
                let hint = match e.kind() {
                    io::ErrorKind::PermissionDenied => {
                        "run it as the server's user or a member of its group, or use --control with the token"
                    }
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => "is the server running?",
                    _ => "",
                };
                let hint = if hint.is_empty() { String::new() } else { format!(" ({hint})") };
                format!("cannot reach the control socket {}: {e}{hint}", socket.display())
            })?;
            stream.set_read_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
            exchange(stream, "localhost", token, method, path, body)
        }
    }
}

/// Sends one request on a connected stream and reads the whole answer.
fn exchange(
    mut stream: impl Read + Write,
    host: &str,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: &str,
) -> Result<(u16, String), String> {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| format!("reading the answer: {e}"))?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or("the answer was not HTTP")?;
    Ok((code, body.to_string()))
}

/// The status request for `eightfold status [NAME] [--unhealthy]`: `/status`, with the
/// filter as a query string.
pub fn status_path(name: Option<&str>, unhealthy: bool) -> String {
    let mut query: Vec<String> = Vec::new();
    if let Some(name) = name {
        // Everything but unreserved characters escaped, so any name or id survives the trip.
        let escaped: String = name
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        query.push(format!("name={escaped}"));
    }
    if unhealthy {
        query.push("unhealthy=1".to_string());
    }
    if query.is_empty() {
        "/status".to_string()
    } else {
        format!("/status?{}", query.join("&"))
    }
}

/// The first 12 hex digits of a configuration's hash, as git shortens commits.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// Renders a status report as two tables (and the fleet, in one); `colour` adds ANSI colours.
pub fn render_status(status: &Status, colour: bool) -> String {
    let paint = |text: &str, code: &str| if colour { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() };
    let state = |healthy: bool, forced: Option<&str>| {
        let word = match (healthy, forced) {
            (true, Some(_)) => "forced up".to_string(),
            (false, Some(_)) => "forced down".to_string(),
            (true, None) => "healthy".to_string(),
            (false, None) => "unhealthy".to_string(),
        };
        let code = match (healthy, forced.is_some()) {
            (_, true) => "33",
            (true, false) => "32",
            (false, false) => "31",
        };
        (word.clone(), paint(&format!("{word:<11}"), code))
    };
    let mut out = format!(
        "eightfold {}  config {}  up {} s  reloads {} ({} failed)\n",
        status.version, status.config, status.uptime_seconds, status.reloads, status.reload_failures
    );
    let filtered = status.filter.name.is_some() || status.filter.unhealthy;
    if filtered {
        let mut shown: Vec<&str> = status.filter.name.iter().map(String::as_str).collect();
        if status.filter.unhealthy {
            shown.push("--unhealthy");
        }
        out += &format!("filter: {}\n", shown.join(", "));
    }
    for zone in &status.zones {
        out += &format!("zone {}  {} names, {} record sets\n", zone.origin, zone.names, zone.record_sets);
        if let Some(d) = &zone.dnssec {
            let mut tags: Vec<String> = d.key_tags.iter().map(u16::to_string).collect();
            tags.extend(d.standby_tags.iter().map(|t| format!("{t} (published, not signing)")));
            out += &format!(
                "  signed: keys {}, {} signatures ({:.1} MB), signed {} s ago, again in {} s, first expiry in {} s\n",
                tags.join(" "),
                d.signatures,
                d.bytes as f64 / 1e6,
                super::status::age(d.signed_at),
                d.resign_at.saturating_sub(super::unix_now()),
                d.expires_at.saturating_sub(super::unix_now()),
            );
        }
    }
    if let Some(fleet) = &status.fleet {
        let reach = match (fleet.connected, fleet.local_mode) {
            (_, true) => paint("etcd out of reach: probing every check here (local mode)", "31"),
            (false, false) => paint("etcd out of reach: answering from the last view", "33"),
            (true, false) => "connected".to_string(),
        };
        out += &format!(
            "fleet {} as {}  {reach}  revision {}  probing {} checks{}\n",
            fleet.cluster,
            fleet.instance,
            fleet.revision,
            fleet.assigned_checks,
            fleet.config.as_ref().map_or(String::new(), |h| format!("  pushed config {}", short(h)))
        );
        for m in &fleet.members {
            let config = m.config.as_deref().map_or("its own config".to_string(), |h| format!("config {}", short(h)));
            out += &format!("    member {:<16} {}  {config}  {}\n", m.instance, m.listen.join(" "), m.version);
        }
    }
    for x in &status.xdp {
        out += &format!("xdp {}  {} mode, {} queues\n", x.interface, x.mode, x.queues.len());
        for q in &x.queues {
            out += &format!(
                "    queue {}  received {}  answered {}  dropped {}  tx ring full {}  passed to the stack {}  \
                 rx ring full {}  dropped by the kernel {}  fill ring empty {}  fill ring frames {}\n",
                q.queue,
                q.received,
                q.answered,
                q.dropped,
                q.tx_ring_full,
                q.passed,
                q.rx_ring_full,
                q.rx_dropped,
                q.fill_ring_empty,
                q.fill_frames
            );
        }
    }
    out += "\n";
    if status.checks.is_empty() {
        out += if filtered { "no matching health checks\n" } else { "no health checks\n" };
    } else {
        let id_width = status.checks.iter().map(|c| c.id.len()).max().unwrap_or(5).max(5);
        let target_width = status.checks.iter().map(|c| c.target.len()).max().unwrap_or(6).max(6);
        let streak_width =
            status.checks.iter().filter_map(|c| c.streak.as_ref().map(String::len)).max().unwrap_or(6).max(6);
        out += &format!(
            "{:<id_width$}  {:<15}  {:<target_width$}  {:<11}  {:<streak_width$}  LAST RESULT\n",
            "CHECK", "TYPE", "TARGET", "STATE", "STREAK"
        );
        for c in &status.checks {
            let (_, shown) = state(c.healthy, c.forced.as_deref());
            let last = match (&c.last_reason, c.last_latency_ms, c.last_checked) {
                (Some(reason), Some(ms), Some(at)) => format!("{reason} ({ms:.1} ms, {} s ago)", age(at)),
                (Some(reason), _, _) => reason.clone(),
                _ if c.disabled => "disabled: not probed".to_string(),
                _ if c.kind == "CALCULATED" => "calculated from its children".to_string(),
                _ => "not probed yet".to_string(),
            };
            let flags = match (c.inverted, c.disabled) {
                (true, true) => " [inverted, disabled]",
                (true, false) => " [inverted]",
                (false, true) => " [disabled]",
                _ => "",
            };
            let streak = c.streak.as_deref().unwrap_or("-");
            let fleet = c.fleet.as_ref().map_or(String::new(), |f| {
                let here = if f.probing { ", probed here" } else { "" };
                format!(
                    "  [{} of {} reports healthy, by {}: {}{here}]",
                    f.healthy_reports,
                    f.reports,
                    f.basis,
                    f.observers.join(" ")
                )
            });
            out += &format!(
                "{:<id_width$}  {:<15}  {:<target_width$}  {shown}  {streak:<streak_width$}  {last}{flags}{fleet}\n",
                c.id, c.kind, c.target
            );
        }
    }
    if !status.record_sets.is_empty() {
        out += "\nRECORD SET\n";
        for set in &status.record_sets {
            let mut standing = format!("{}/{} healthy", set.healthy, set.members.len());
            if set.below_max_answers {
                standing += &format!(", below max_answers {}", status.max_answers);
            }
            let mark = if set.failing_open {
                format!("  {}", paint("FAILING OPEN: answering from unhealthy members", "31"))
            } else if set.healthy == 0 && set.checked && set.when_all_unhealthy == "nodata" {
                format!("  {}", paint("no healthy member: answering NODATA", "31"))
            } else if set.healthy == 0 && set.checked && set.when_all_unhealthy == "fallback" {
                format!("  {}", paint("no healthy member: answering the fallback values", "31"))
            } else {
                String::new()
            };
            out += &format!("{} {} {} ({standing}){mark}\n", set.name, set.rtype, set.routing);
            for m in &set.members {
                let (_, shown) = state(m.healthy, None);
                let mut detail = String::new();
                if let Some(w) = m.weight {
                    detail += &format!(" weight {w}");
                }
                if let Some(f) = &m.failover {
                    detail += &format!(" {f}");
                }
                if let Some(check) = &m.health_check {
                    detail += &format!(" check {check}");
                }
                out += &format!("    {:<16} {shown}  {}{detail}\n", m.set_id, m.values.join(" "));
            }
        }
    } else if filtered {
        out += "\nno matching record sets\n";
    }
    out
}
