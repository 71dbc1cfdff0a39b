//! Route 53 JSON (reference section 5) to an eightfold config.
//!
//! Simple, multivalue, failover and weighted records and TCP/HTTP(S)/string-match/calculated
//! checks map one to one. Everything else (alias records, latency, geolocation,
//! geoproximity and IP-based routing, CloudWatch and recovery-control checks) is reported by
//! name as not imported; nothing is dropped silently. The result is validated with the same
//! parser `eightfold check` uses before it is returned.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::path::Path;

use serde_json::Value;

use crate::config::Config;

/// The imported config and what could not be imported.
#[derive(Debug)]
pub struct Imported {
    /// The eightfold config (TOML).
    pub config: String,
    /// One line per record set or check that was not imported, or imported with a change.
    pub skipped: Vec<String>,
}

/// Input that cannot be imported at all.
#[derive(Debug)]
pub struct ImportError(pub String);

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ImportError {}

/// Converts record-set and health-check JSON documents (each file may hold one document,
/// several concatenated pages, or an array of pages) into a config for `zone` (default:
/// the SOA's owner).
pub fn import(
    record_sets: &[(String, String)],
    health_checks: &[(String, String)],
    zone: Option<&str>,
) -> Result<Imported, ImportError> {
    let mut sets = Vec::new();
    for (file, text) in record_sets {
        collect(file, text, "ResourceRecordSets", None, &mut sets)?;
    }
    let mut checks = Vec::new();
    for (file, text) in health_checks {
        collect(file, text, "HealthChecks", Some("HealthCheck"), &mut checks)?;
    }
    let mut skipped = Vec::new();
    let origin = match zone {
        Some(z) => absolute(z),
        None => sets
            .iter()
            .find(|s| s["Type"] == "SOA")
            .and_then(|s| s["Name"].as_str())
            .map(decode_name)
            .ok_or_else(|| ImportError("no SOA record set in the input; name the zone with --zone".into()))?,
    };
    let mut out = format!(
        "# Imported from Amazon Route 53 by eightfold {}.\n# Check it with `eightfold check --config FILE`.\n",
        env!("CARGO_PKG_VERSION")
    );
    let (check_ids, check_text) = health_check_tables(&checks, &mut skipped);
    let mut zone_text = String::new();
    let mut record_text = String::new();
    let (mut soa, mut ns) = (None, None);
    for set in &sets {
        let name = set["Name"].as_str().map(decode_name).unwrap_or_default();
        let rtype = set["Type"].as_str().unwrap_or("").to_string();
        let label = describe(set, &name, &rtype);
        if !name.ends_with(&origin) || !in_zone(&name, &origin) {
            skipped.push(format!("{label}: outside the zone {origin}, not imported"));
            continue;
        }
        if set.get("AliasTarget").is_some() {
            let target = set["AliasTarget"]["DNSName"].as_str().unwrap_or("?");
            skipped.push(format!("{label}: alias to {target}, not imported (eightfold has no alias records)"));
            continue;
        }
        let unsupported = [
            ("Region", "latency"),
            ("GeoLocation", "geolocation"),
            ("GeoProximityLocation", "geoproximity"),
            ("CidrRoutingConfig", "IP-based"),
        ];
        if let Some((_, policy)) = unsupported.iter().find(|(field, _)| set.get(*field).is_some()) {
            skipped.push(format!("{label}: {policy} routing, not imported"));
            continue;
        }
        let values: Vec<String> = set["ResourceRecords"]
            .as_array()
            .map(|rr| rr.iter().filter_map(|r| r["Value"].as_str()).map(|v| decode_value(&rtype, v)).collect())
            .unwrap_or_default();
        let ttl = set["TTL"].as_u64().unwrap_or(300);
        if name == origin && rtype == "SOA" {
            soa = values.first().cloned().map(|v| (v, ttl));
            continue;
        }
        if name == origin && rtype == "NS" {
            ns = Some((values, ttl));
            continue;
        }
        let mut record = format!("\n[[record]]\nname = {}\ntype = {}\nttl = {ttl}\n", quote(&name), quote(&rtype));
        let routing = if set.get("Weight").is_some() {
            "weighted"
        } else if set.get("Failover").is_some() {
            "failover"
        } else if set["MultiValueAnswer"].as_bool() == Some(true) {
            "multivalue"
        } else {
            "simple"
        };
        if routing != "simple" {
            let _ = writeln!(record, "routing = \"{routing}\"");
            let set_id = set["SetIdentifier"].as_str().unwrap_or("");
            let _ = writeln!(record, "set_id = {}", quote(set_id));
        }
        if let Some(weight) = set["Weight"].as_u64() {
            let _ = writeln!(record, "weight = {weight}");
        }
        if let Some(role) = set["Failover"].as_str() {
            let _ = writeln!(record, "failover = {}", quote(role));
        }
        let _ = writeln!(record, "values = [{}]", values.iter().map(|v| quote(v)).collect::<Vec<_>>().join(", "));
        if let Some(id) = set["HealthCheckId"].as_str() {
            match check_ids.get(id) {
                Some(Ok(())) if routing != "simple" => {
                    let _ = writeln!(record, "health_check = {}", quote(id));
                }
                Some(Ok(())) => skipped.push(format!("{label}: simple records are not health checked; health check {id} left off")),
                Some(Err(kind)) => skipped.push(format!("{label}: its health check {id} ({kind}) is not imported; record imported without it (always healthy)")),
                None => skipped.push(format!("{label}: health check {id} is not in the health-check input; record imported without it")),
            }
        }
        record_text.push_str(&record);
    }
    let (soa, soa_ttl) = soa.ok_or_else(|| ImportError(format!("no SOA record set for {origin} in the input")))?;
    let (ns, ns_ttl) = ns.ok_or_else(|| ImportError(format!("no NS record set for {origin} in the input")))?;
    let _ = write!(
        zone_text,
        "\n[[zone]]\norigin = {}\nsoa = {}\nttl = {soa_ttl}\nns = [{}]\nns_ttl = {ns_ttl}\n",
        quote(&origin),
        quote(&soa),
        ns.iter().map(|v| quote(v)).collect::<Vec<_>>().join(", ")
    );
    if !skipped.is_empty() {
        out.push_str("#\n# Not imported, or imported with a change:\n");
        for line in &skipped {
            let _ = writeln!(out, "#   {}", line.replace('\n', " "));
        }
    }
    out.push_str(&zone_text);
    out.push_str(&check_text);
    out.push_str(&record_text);
    // Validate with the real parser so the output is always a config `check` accepts.
    Config::parse(&out, Path::new("imported.toml"), &|_| Err(std::io::ErrorKind::NotFound.into()))
        .map_err(|e| ImportError(format!("the imported config does not validate:\n{e}")))?;
    Ok(Imported { config: out, skipped })
}

/// Gathers the items under `key` (or one item under `single`) from every JSON document in
/// `text`: an object, several concatenated objects (pages), or an array of either.
fn collect(file: &str, text: &str, key: &str, single: Option<&str>, into: &mut Vec<Value>) -> Result<(), ImportError> {
    let before = into.len();
    for document in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        let document = document.map_err(|e| ImportError(format!("{file}: not JSON: {e}")))?;
        let pages = match document {
            Value::Array(items) => items,
            other => vec![other],
        };
        for page in pages {
            if let Some(items) = page.get(key).and_then(Value::as_array) {
                into.extend(items.iter().cloned());
            } else if let Some(item) = single.and_then(|k| page.get(k)) {
                into.push(item.clone());
            } else if page.get("Name").is_some() || page.get("HealthCheckConfig").is_some() {
                into.push(page);
            } else {
                return Err(ImportError(format!(
                    "{file}: expected {key}{}",
                    single.map(|s| format!(" or {s}")).unwrap_or_default()
                )));
            }
        }
    }
    if into.len() == before && !text.trim().is_empty() {
        return Err(ImportError(format!("{file}: no {key} found")));
    }
    Ok(())
}

/// The [[health_check]] tables, and for every Route 53 check id whether it was imported
/// (`Err(type)` when its type is not supported).
fn health_check_tables(checks: &[Value], skipped: &mut Vec<String>) -> (HashMap<String, Result<(), String>>, String) {
    let mut ids = HashMap::new();
    let mut text = String::new();
    let supported = ["TCP", "HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "CALCULATED"];
    for check in checks {
        let id = check["Id"].as_str().unwrap_or("").to_string();
        let kind = check["HealthCheckConfig"]["Type"].as_str().unwrap_or("").to_string();
        if supported.contains(&kind.as_str()) {
            ids.insert(id, Ok(()));
        } else {
            skipped.push(format!("health check {id} ({kind}): not imported"));
            ids.insert(id, Err(kind));
        }
    }
    let mut seen = HashSet::new();
    for check in checks {
        let id = check["Id"].as_str().unwrap_or("");
        let c = &check["HealthCheckConfig"];
        let kind = c["Type"].as_str().unwrap_or("");
        if !matches!(ids.get(id), Some(Ok(()))) || !seen.insert(id.to_string()) {
            continue;
        }
        text.push('\n');
        if let Some(reference) = check["CallerReference"].as_str() {
            let _ = writeln!(text, "# CallerReference: {}", reference.replace('\n', " "));
        }
        let _ = write!(text, "[[health_check]]\nid = {}\ntype = {}\n", quote(id), quote(kind));
        let mut field = |key: &str, value: Option<String>| {
            if let Some(v) = value {
                let _ = writeln!(text, "{key} = {v}");
            }
        };
        if kind == "CALCULATED" {
            let children: Vec<String> = c["ChildHealthChecks"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default();
            let (kept, missing): (Vec<String>, Vec<String>) =
                children.into_iter().partition(|ch| matches!(ids.get(ch), Some(Ok(()))));
            if !missing.is_empty() {
                skipped.push(format!(
                    "health check {id} (CALCULATED): children {} not imported, left out",
                    missing.join(", ")
                ));
            }
            field("children", Some(format!("[{}]", kept.iter().map(|k| quote(k)).collect::<Vec<_>>().join(", "))));
            field("health_threshold", c["HealthThreshold"].as_u64().map(|v| v.to_string()));
        } else {
            field("ip", c["IPAddress"].as_str().map(quote));
            field("port", c["Port"].as_u64().map(|v| v.to_string()));
            if kind != "TCP" {
                field("resource_path", c["ResourcePath"].as_str().map(quote));
            }
            field("fqdn", c["FullyQualifiedDomainName"].as_str().map(quote));
            if kind.ends_with("STR_MATCH") {
                field("search_string", c["SearchString"].as_str().map(quote));
            }
            // Route 53 fills these in (30 and 3) even when the creator left them out.
            field("request_interval", c["RequestInterval"].as_u64().map(|v| v.to_string()));
            field("failure_threshold", c["FailureThreshold"].as_u64().map(|v| v.to_string()));
            if kind != "TCP" {
                field("enable_sni", c["EnableSNI"].as_bool().map(|v| v.to_string()));
            }
        }
        field("inverted", c["Inverted"].as_bool().filter(|v| *v).map(|v| v.to_string()));
        field("disabled", c["Disabled"].as_bool().filter(|v| *v).map(|v| v.to_string()));
    }
    (ids, text)
}

fn describe(set: &Value, name: &str, rtype: &str) -> String {
    match set["SetIdentifier"].as_str() {
        Some(id) => format!("record set {name} {rtype} ({id})"),
        None => format!("record set {name} {rtype}"),
    }
}

/// Route 53 names end with a dot and octal-escape special characters (`\052` is `*`);
/// returns presentation format with decimal escapes where needed.
fn decode_name(name: &str) -> String {
    let bytes = decode_octal(name);
    let mut out = String::new();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'*' if i == 0 || bytes[i - 1] == b'.' => out.push('*'),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push((b as char).to_ascii_lowercase())
            }
            _ => {
                let _ = write!(out, "\\{b:03}");
            }
        }
    }
    absolute(&out)
}

/// Record values: octal escapes in character strings become zone-file decimal escapes.
fn decode_value(rtype: &str, value: &str) -> String {
    if !matches!(rtype, "TXT" | "SPF") || !value.contains('\\') {
        return value.to_string();
    }
    let mut out = String::new();
    let chars: Vec<char> = value.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\' && i + 3 < chars.len() && chars[i + 1..i + 4].iter().all(|c| ('0'..='7').contains(c)) {
            let octal: String = chars[i + 1..i + 4].iter().collect();
            if let Ok(byte) = u8::from_str_radix(&octal, 8) {
                let _ = write!(out, "\\{byte:03}");
                i += 4;
                continue;
            }
        }
        if chars[i] == '\\' && i + 1 < chars.len() {
            out.push(chars[i]);
            out.push(chars[i + 1]);
            i += 2;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn decode_octal(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() && bytes[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b)) {
            let octal = std::str::from_utf8(&bytes[i + 1..i + 4]).unwrap_or("0");
            out.push(u8::from_str_radix(octal, 8).unwrap_or(0));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

fn absolute(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    if lower.ends_with('.') {
        lower
    } else {
        format!("{lower}.")
    }
}

fn in_zone(name: &str, origin: &str) -> bool {
    name == origin || name.ends_with(&format!(".{origin}"))
}

/// A TOML basic string.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_are_decoded() {
        assert_eq!(decode_name("\\052.example.com."), "*.example.com.");
        assert_eq!(decode_name("A\\100b.Example.com"), "a\\064b.example.com.");
        assert_eq!(decode_value("TXT", "\"a\\042b\""), "\"a\\034b\"");
        assert_eq!(decode_value("TXT", "\"say \\\"hi\\\"\""), "\"say \\\"hi\\\"\"");
        assert_eq!(decode_value("A", "192.0.2.1"), "192.0.2.1");
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
