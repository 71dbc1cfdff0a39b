//! The command-line side of the control endpoint: `eightfold status`, `reload` and
//! `override` send one HTTP request and print the answer.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::status::{age, Status};

/// The control address the CLI uses when neither `--control` nor a config names one.
pub const DEFAULT_CONTROL: &str = "127.0.0.1:9153";
/// How long the CLI waits for the server (a reload of a large zone takes a while).
const TIMEOUT: Duration = Duration::from_secs(120);

/// One request to the control endpoint; returns the status code and body.
pub fn request(
    address: SocketAddr,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: &str,
) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))
        .map_err(|e| format!("cannot reach the control endpoint at {address}: {e} (is `control` set in [server]?)"))?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| format!("reading the answer: {e}"))?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or("the answer was not HTTP")?;
    Ok((code, body.to_string()))
}

/// Renders a status report as two tables; `colour` adds ANSI colours.
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
    for zone in &status.zones {
        out += &format!("zone {}  {} names, {} record sets\n", zone.origin, zone.names, zone.record_sets);
    }
    out += "\n";
    if status.checks.is_empty() {
        out += "no health checks\n";
    } else {
        let id_width = status.checks.iter().map(|c| c.id.len()).max().unwrap_or(5).max(5);
        let target_width = status.checks.iter().map(|c| c.target.len()).max().unwrap_or(6).max(6);
        out += &format!(
            "{:<id_width$}  {:<15}  {:<target_width$}  {:<11}  LAST RESULT\n",
            "CHECK", "TYPE", "TARGET", "STATE"
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
            out +=
                &format!("{:<id_width$}  {:<15}  {:<target_width$}  {shown}  {last}{flags}\n", c.id, c.kind, c.target);
        }
    }
    if !status.record_sets.is_empty() {
        out += "\nRECORD SET\n";
        for set in &status.record_sets {
            let up = set.members.iter().filter(|m| m.healthy).count();
            out += &format!("{} {} {} ({up}/{} healthy)\n", set.name, set.rtype, set.routing, set.members.len());
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
    }
    out
}
