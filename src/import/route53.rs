//! Route 53 JSON (reference section 5) to an eightfold config.
//!
//! Simple, multivalue, failover and weighted records and TCP/HTTP(S)/string-match/calculated
//! checks map one to one. Latency, geolocation, geoproximity and IP-based sets that have health
//! checks become multivalue sets of all their members, each with its check: every healthy member
//! is answered instead of the one Route 53 would pick for the client. Everything else (alias
//! records, those policies without health checks, CloudWatch and recovery-control checks) is
//! reported by name as not imported, and a name left with no data is listed in the zone's
//! `empty_names`, so that it answers NODATA and no imported wildcard answers for it. Nothing is
//! dropped silently.
//!
//! The apex NS and SOA can be replaced (`--ns`, `--soa-mname`, `--soa-rname`), and a warning
//! says when they still name Route 53's servers. Checks get readable ids, with the Route 53 id in
//! a comment. The output has a `[server]` table with `control`, so that `eightfold status
//! --config FILE` reaches the server that serves it. The result is validated with the same
//! parser `eightfold check` uses before it is returned.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::net::SocketAddr;
use std::path::Path;

use serde_json::Value;

use crate::config::{parse_absolute, Config};
use crate::control::client::DEFAULT_CONTROL;

/// What the import is asked to change.
#[derive(Debug, Clone)]
pub struct Options {
    /// The zone's name (default: the owner of the SOA record set).
    pub zone: Option<String>,
    /// The apex name servers, replacing the imported NS set (when not empty).
    pub ns: Vec<String>,
    /// The SOA's primary server (MNAME); by default the first of `ns` when the imported MNAME
    /// is one of Route 53's servers.
    pub soa_mname: Option<String>,
    /// The SOA's contact mailbox (RNAME).
    pub soa_rname: Option<String>,
    /// The control endpoint written to `[server]`.
    pub control: SocketAddr,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            zone: None,
            ns: Vec::new(),
            soa_mname: None,
            soa_rname: None,
            control: DEFAULT_CONTROL.parse().expect("the default control address parses"),
        }
    }
}

/// The imported config and what the operator must know about it.
#[derive(Debug)]
pub struct Imported {
    /// The eightfold config (TOML).
    pub config: String,
    /// One line per record set or check that was not imported, imported with a change, or
    /// needs the operator's attention; warnings last.
    pub notes: Vec<Note>,
}

/// One thing the import did not carry over as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// What kind of thing.
    pub kind: NoteKind,
    /// The record set, check or setting and what happened to it.
    pub text: String,
}

/// The kinds of [`Note`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NoteKind {
    /// Not imported.
    NotImported,
    /// Imported, but answered differently from Route 53.
    Changed,
    /// A name listed in `empty_names`: it answers NODATA, never a wildcard's data.
    EmptyName,
    /// The config still needs the operator: it names Route 53's own servers.
    Warning,
}

impl NoteKind {
    /// The word that starts the note's line.
    pub fn label(self) -> &'static str {
        match self {
            NoteKind::NotImported => "not imported",
            NoteKind::Changed => "imported with a change",
            NoteKind::EmptyName => "empty name",
            NoteKind::Warning => "WARNING",
        }
    }
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.label(), self.text)
    }
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
/// several concatenated pages, or an array of pages) into a config.
pub fn import(
    record_sets: &[(String, String)],
    health_checks: &[(String, String)],
    options: &Options,
) -> Result<Imported, ImportError> {
    let mut sets = Vec::new();
    for (file, text) in record_sets {
        collect(file, text, "ResourceRecordSets", None, &mut sets)?;
    }
    let mut checks = Vec::new();
    for (file, text) in health_checks {
        collect(file, text, "HealthChecks", Some("HealthCheck"), &mut checks)?;
    }
    let origin = match &options.zone {
        Some(z) => absolute(z),
        None => sets
            .iter()
            .find(|s| s["Type"] == "SOA")
            .and_then(|s| s["Name"].as_str())
            .map(decode_name)
            .ok_or_else(|| ImportError("no SOA record set in the input; name the zone with --zone".into()))?,
    };
    let replacements = Replacements::parse(options)?;
    let mut notes = Vec::new();
    let importable = importable_checks(&checks, &mut notes);
    let (mut soa, mut ns) = (None, None);
    let mut records = Vec::new();
    let mut skipped = Vec::new();
    for group in groups(&sets) {
        let (name, rtype) = (&group.name, group.rtype.as_str());
        let label = describe(&group);
        if !in_zone(name, &origin) {
            notes.push(not_imported(format!("{label}: outside the zone {origin}")));
            continue;
        }
        if *name == origin
            && matches!(rtype, "SOA" | "NS")
            && group.members.iter().all(|m| m.get("AliasTarget").is_none())
        {
            let set = group.members[0];
            let values = values(set, rtype);
            let ttl = set["TTL"].as_u64().unwrap_or(300);
            if rtype == "SOA" {
                soa = values.into_iter().next().map(|v| (v, ttl));
            } else {
                ns = Some((values, ttl));
            }
            continue;
        }
        match group.policy() {
            Policy::Routed(policy) => {
                import_routed(&group, policy, &importable, &mut records, &mut skipped, &mut notes);
            }
            Policy::Plain(routing) => {
                for set in &group.members {
                    let label = describe_set(set, name, rtype);
                    if let Some(alias) = set.get("AliasTarget") {
                        let target = alias["DNSName"].as_str().unwrap_or("?");
                        let others = group.members.iter().any(|m| m.get("AliasTarget").is_none());
                        let rest = if others { "; the rest of its set was imported without it" } else { "" };
                        notes.push(not_imported(format!(
                            "{label}: alias to {target} (eightfold has no alias records){rest}"
                        )));
                        skipped.push(Skipped { name: name.clone(), rtype: rtype.to_string(), why: "alias" });
                        continue;
                    }
                    let check = member_check(set, routing != "simple", &importable, &label, &mut notes);
                    records.push(RecordOut::from_set(set, name, rtype, routing, check));
                }
            }
        }
    }
    let (soa, soa_ttl) = soa.ok_or_else(|| ImportError(format!("no SOA record set for {origin} in the input")))?;
    let (ns, ns_ttl) = ns.ok_or_else(|| ImportError(format!("no NS record set for {origin} in the input")))?;
    let (soa, ns) = replacements.apply(&soa, ns, &origin, &records, &mut notes);
    let empty = empty_names(&origin, &records, &skipped, &mut notes);
    let (check_ids, check_text) = health_check_tables(&checks, &importable, &records, &origin, &mut notes);
    notes.sort_by_key(|n| n.kind);

    let mut out = format!(
        "# Imported from Amazon Route 53 by eightfold {}.\n# Check it with `eightfold check --config FILE`.\n",
        env!("CARGO_PKG_VERSION")
    );
    if !notes.is_empty() {
        out.push_str("#\n# What was not imported as it was:\n");
        let warnings = notes.iter().filter(|n| n.kind == NoteKind::Warning);
        for note in warnings.chain(notes.iter().filter(|n| n.kind != NoteKind::Warning)) {
            let _ = writeln!(out, "#   {}", note.to_string().replace('\n', " "));
        }
    }
    let _ = write!(
        out,
        "\n[server]\n# `eightfold status`, `reload` and `override` with --config FILE reach the server here.\ncontrol = {}\n",
        quote(&options.control.to_string())
    );
    let _ = write!(
        out,
        "\n[[zone]]\norigin = {}\nsoa = {}\nttl = {soa_ttl}\nns = [{}]\nns_ttl = {ns_ttl}\n",
        quote(&origin),
        quote(&soa),
        list(&ns)
    );
    if !empty.is_empty() {
        out.push_str(
            "# Names whose records were not imported: they exist, with no data, so no wildcard answers them.\n",
        );
        let _ = writeln!(out, "empty_names = [{}]", list(&empty));
    }
    out.push_str(&check_text);
    for record in &records {
        out.push_str(&record.render(&check_ids));
    }
    // Validate with the real parser so the output is always a config `check` accepts.
    Config::parse(&out, Path::new("imported.toml"), &|_| Err(std::io::ErrorKind::NotFound.into()))
        .map_err(|e| ImportError(format!("the imported config does not validate:\n{e}")))?;
    Ok(Imported { config: out, notes })
}

/// The record sets of one name and type, in input order.
struct Group<'a> {
    name: String,
    rtype: String,
    members: Vec<&'a Value>,
}

/// How a group of record sets is routed.
#[derive(Clone, Copy)]
enum Policy {
    /// A policy eightfold has: `simple`, `multivalue`, `failover` or `weighted`.
    Plain(&'static str),
    /// A policy eightfold does not have: `latency`, `geolocation`, `geoproximity`, `IP-based`.
    Routed(&'static str),
}

impl Group<'_> {
    /// The group's policy, from the field that marks it (reference section 5.1).
    fn policy(&self) -> Policy {
        let set = self.members[0];
        let routed = [
            ("Region", "latency"),
            ("GeoLocation", "geolocation"),
            ("GeoProximityLocation", "geoproximity"),
            ("CidrRoutingConfig", "IP-based"),
        ];
        if let Some((_, policy)) = routed.iter().find(|(field, _)| set.get(*field).is_some()) {
            Policy::Routed(policy)
        } else if set.get("Weight").is_some() {
            Policy::Plain("weighted")
        } else if set.get("Failover").is_some() {
            Policy::Plain("failover")
        } else if set["MultiValueAnswer"].as_bool() == Some(true) {
            Policy::Plain("multivalue")
        } else {
            Policy::Plain("simple")
        }
    }
}

/// The record sets grouped by name and type, groups in the order they first appear.
fn groups(sets: &[Value]) -> Vec<Group<'_>> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for set in sets {
        let name = set["Name"].as_str().map(decode_name).unwrap_or_default();
        let rtype = set["Type"].as_str().unwrap_or("").to_string();
        let at = *index.entry((name.clone(), rtype.clone())).or_insert_with(|| {
            groups.push(Group { name, rtype, members: Vec::new() });
            groups.len() - 1
        });
        groups[at].members.push(set);
    }
    groups
}

/// A record set that was not imported, for [`empty_names`].
struct Skipped {
    name: String,
    rtype: String,
    why: &'static str,
}

/// One `[[record]]` to write.
struct RecordOut {
    name: String,
    rtype: String,
    ttl: u64,
    routing: &'static str,
    set_id: Option<String>,
    weight: Option<u64>,
    failover: Option<String>,
    values: Vec<String>,
    /// The Route 53 id of its health check, when that check is imported.
    check: Option<String>,
}

impl RecordOut {
    /// A record set as Route 53 holds it, under `routing`.
    fn from_set(set: &Value, name: &str, rtype: &str, routing: &'static str, check: Option<String>) -> RecordOut {
        RecordOut {
            name: name.to_string(),
            rtype: rtype.to_string(),
            ttl: set["TTL"].as_u64().unwrap_or(300),
            routing,
            set_id: (routing != "simple").then(|| set["SetIdentifier"].as_str().unwrap_or("").to_string()),
            weight: set["Weight"].as_u64().filter(|_| routing == "weighted"),
            failover: set["Failover"].as_str().filter(|_| routing == "failover").map(str::to_string),
            values: values(set, rtype),
            check,
        }
    }

    /// The `[[record]]` table, with checks named by their new ids.
    fn render(&self, check_ids: &HashMap<String, String>) -> String {
        let mut text =
            format!("\n[[record]]\nname = {}\ntype = {}\nttl = {}\n", quote(&self.name), quote(&self.rtype), self.ttl);
        if self.routing != "simple" {
            let _ = writeln!(text, "routing = \"{}\"", self.routing);
        }
        if let Some(id) = &self.set_id {
            let _ = writeln!(text, "set_id = {}", quote(id));
        }
        if let Some(weight) = self.weight {
            let _ = writeln!(text, "weight = {weight}");
        }
        if let Some(role) = &self.failover {
            let _ = writeln!(text, "failover = {}", quote(role));
        }
        let _ = writeln!(text, "values = [{}]", list(&self.values));
        if let Some(id) = self.check.as_ref().and_then(|c| check_ids.get(c)) {
            let _ = writeln!(text, "health_check = {}", quote(id));
        }
        text
    }
}

/// A latency, geolocation, geoproximity or IP-based group: a multivalue set of all its members
/// when it has health checks and multivalue can hold it, else not imported.
fn import_routed(
    group: &Group<'_>,
    policy: &'static str,
    importable: &HashMap<String, Result<(), String>>,
    records: &mut Vec<RecordOut>,
    skipped: &mut Vec<Skipped>,
    notes: &mut Vec<Note>,
) {
    let (name, rtype) = (&group.name, group.rtype.as_str());
    let label = describe(group);
    let checked =
        |set: &&Value| set["HealthCheckId"].as_str().is_some_and(|id| matches!(importable.get(id), Some(Ok(()))));
    let why = if group.members.iter().any(|m| m.get("AliasTarget").is_some()) {
        Some(format!("{policy} routing with alias members (eightfold has no alias records)"))
    } else if matches!(rtype, "CNAME" | "NS" | "DS") {
        Some(format!("{policy} routing of {rtype} records, which a multivalue set cannot hold"))
    } else if !group.members.iter().any(checked) {
        Some(format!(
            "{policy} routing without health checks (eightfold does not route by {}; a set with health checks is \
             imported as multivalue)",
            routed_by(policy)
        ))
    } else {
        None
    };
    if let Some(why) = why {
        notes.push(not_imported(format!("{label}: {why}")));
        skipped.push(Skipped { name: name.clone(), rtype: rtype.to_string(), why: policy });
        return;
    }
    let mut seen: HashSet<String> = HashSet::new();
    for set in &group.members {
        let member_label = describe_set(set, name, rtype);
        let check = member_check(set, true, importable, &member_label, notes);
        let mut record = RecordOut::from_set(set, name, rtype, "multivalue", check);
        let all = record.values.len();
        // One value answered twice in an RRset is a duplicate record (RFC 2181 section 5).
        record.values.retain(|v| seen.insert(v.clone()));
        if record.values.len() < all {
            let what = if record.values.is_empty() { "left out" } else { "imported with the rest of its values" };
            notes.push(changed(format!("{member_label}: its values already answered by another member; {what}")));
        }
        if !record.values.is_empty() {
            records.push(record);
        }
    }
    notes.push(changed(format!(
        "{label}: {policy} routing with health checks, imported as multivalue, each member with its check: every \
         healthy member is answered (up to max_answers), not the one Route 53 picks by {}",
        routed_by(policy)
    )));
}

/// What a Route 53 policy picks a member by.
fn routed_by(policy: &str) -> &'static str {
    match policy {
        "latency" => "latency",
        "geolocation" => "the client's location",
        "geoproximity" => "distance",
        _ => "the client's network",
    }
}

/// The Route 53 id of `set`'s health check when it is imported and the record can carry it;
/// notes why not otherwise.
fn member_check(
    set: &Value,
    can_carry: bool,
    importable: &HashMap<String, Result<(), String>>,
    label: &str,
    notes: &mut Vec<Note>,
) -> Option<String> {
    let id = set["HealthCheckId"].as_str()?;
    match importable.get(id) {
        Some(Ok(())) if can_carry => Some(id.to_string()),
        Some(Ok(())) => {
            notes.push(changed(format!("{label}: simple records are not health checked; health check {id} left off")));
            None
        }
        Some(Err(kind)) => {
            notes.push(changed(format!(
                "{label}: its health check {id} ({kind}) is not imported; record imported without it (always healthy)"
            )));
            None
        }
        None => {
            notes.push(changed(format!(
                "{label}: health check {id} is not in the health-check input; record imported without it"
            )));
            None
        }
    }
}

/// The names whose records were all skipped and that nothing imported makes exist: each is
/// listed in `empty_names`, so it answers NODATA and no wildcard covers it.
fn empty_names(origin: &str, records: &[RecordOut], skipped: &[Skipped], notes: &mut Vec<Note>) -> Vec<String> {
    let owners: HashSet<&str> = records.iter().map(|r| r.name.as_str()).collect();
    // Every imported owner and its ancestors down to the apex (empty non-terminals) exist.
    let mut existing: HashSet<String> = HashSet::from([origin.to_string()]);
    for owner in &owners {
        let mut name = owner.to_string();
        while name.len() > origin.len() && existing.insert(name.clone()) {
            name = parent(&name);
        }
    }
    let cuts: Vec<&str> =
        records.iter().filter(|r| r.rtype == "NS" && r.name != origin).map(|r| r.name.as_str()).collect();
    let mut names: Vec<String> = Vec::new();
    let mut reasons: HashMap<String, Vec<String>> = HashMap::new();
    for s in skipped {
        if existing.contains(&s.name) || cuts.iter().any(|cut| in_zone(&s.name, cut)) {
            continue;
        }
        let entry = reasons.entry(s.name.clone()).or_default();
        if entry.is_empty() {
            names.push(s.name.clone());
        }
        entry.push(format!("{}: {}", s.rtype, s.why));
    }
    for name in &names {
        // What answered the name before: the wildcard at its closest existing ancestor.
        let mut encloser = parent(name);
        while !existing.contains(&encloser) && encloser.len() > origin.len() {
            encloser = parent(&encloser);
        }
        let wildcard = format!("*.{encloser}");
        let instead = if owners.contains(wildcard.as_str()) && wildcard != *name {
            format!("never the data of the wildcard {wildcard}")
        } else {
            "not NXDOMAIN".to_string()
        };
        let below = if name.starts_with("*.") {
            format!(" (a wildcard: names below {} that do not exist answer NODATA too)", parent(name))
        } else {
            String::new()
        };
        notes.push(Note {
            kind: NoteKind::EmptyName,
            text: format!(
                "{name} ({}) was not imported; it is listed in empty_names, so it answers NODATA for every type, \
                 {instead}{below}",
                reasons[name].join("; ")
            ),
        });
    }
    names
}

/// The `--ns`, `--soa-mname` and `--soa-rname` replacements, checked.
struct Replacements {
    ns: Vec<String>,
    mname: Option<String>,
    rname: Option<String>,
}

impl Replacements {
    fn parse(options: &Options) -> Result<Replacements, ImportError> {
        let name = |flag: &str, text: &str| {
            parse_absolute(&absolute(text))
                .map(|n| n.to_string())
                .map_err(|e| ImportError(format!("{flag} {text:?}: {e}")))
        };
        Ok(Replacements {
            ns: options.ns.iter().map(|n| name("--ns", n)).collect::<Result<_, _>>()?,
            mname: options.soa_mname.as_deref().map(|n| name("--soa-mname", n)).transpose()?,
            rname: options.soa_rname.as_deref().map(|n| name("--soa-rname", n)).transpose()?,
        })
    }

    /// The apex SOA and NS with the replacements made; warns about Route 53's servers left in.
    fn apply(
        &self,
        soa: &str,
        ns: Vec<String>,
        origin: &str,
        records: &[RecordOut],
        notes: &mut Vec<Note>,
    ) -> (String, Vec<String>) {
        let ns = if self.ns.is_empty() {
            ns
        } else {
            notes.push(changed(format!("apex NS {}: replaced by --ns: {}", ns.join(" "), self.ns.join(" "))));
            self.ns.clone()
        };
        let mut fields: Vec<String> = soa.split_whitespace().map(str::to_string).collect();
        if fields.len() == 7 {
            let mname = match (&self.mname, self.ns.first()) {
                (Some(mname), _) => Some((mname.clone(), "--soa-mname")),
                (None, Some(first)) if is_route53_server(&fields[0]) => Some((first.clone(), "the first --ns")),
                _ => None,
            };
            if let Some((mname, from)) = mname {
                notes.push(changed(format!("SOA MNAME {}: replaced by {from}: {mname}", fields[0])));
                fields[0] = mname;
            }
            if let Some(rname) = &self.rname {
                notes.push(changed(format!("SOA RNAME {}: replaced by --soa-rname: {rname}", fields[1])));
                fields[1] = rname.clone();
            }
        }
        let aws: Vec<&String> = ns.iter().filter(|n| is_route53_server(n)).collect();
        if !aws.is_empty() {
            notes.push(warning(format!(
                "the apex NS records name Route 53's name servers ({}): resolvers sent there ask Route 53, not this \
                 server. Give this server's names with --ns NAME (once per name server) before the zone is delegated \
                 here.",
                aws.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(" ")
            )));
        }
        if let Some(mname) = fields.first().filter(|m| is_route53_server(m)) {
            notes.push(warning(format!(
                "the SOA names Route 53's {mname} as the primary server (MNAME); set this server's name with \
                 --soa-mname NAME (or --ns, whose first name it then takes)"
            )));
        }
        if let Some(rname) = fields.get(1).filter(|r| is_route53_server(r)) {
            notes.push(warning(format!(
                "the SOA names Amazon's {rname} as the zone's contact (RNAME); set yours with --soa-rname \
                 hostmaster.{origin} (the mailbox, its @ written as a dot)"
            )));
        }
        for server in self.ns.iter().filter(|n| in_zone(n, origin)) {
            let addressed = records.iter().any(|r| r.name == *server && matches!(r.rtype.as_str(), "A" | "AAAA"));
            if !addressed {
                notes.push(warning(format!(
                    "the name server {server} (--ns) lies inside the zone but has no A or AAAA record in the input; add \
                     its addresses, or resolvers cannot reach it"
                )));
            }
        }
        (fields.join(" "), ns)
    }
}

/// Whether a name is one of Route 53's (`ns-1536.awsdns-00.co.uk.`,
/// `awsdns-hostmaster.amazon.com.`): a label starts with `awsdns-`.
fn is_route53_server(name: &str) -> bool {
    name.to_ascii_lowercase().split('.').any(|label| label.starts_with("awsdns-"))
}

/// For every Route 53 check id, whether it can be imported (`Err(type)` when its type is not
/// supported).
fn importable_checks(checks: &[Value], notes: &mut Vec<Note>) -> HashMap<String, Result<(), String>> {
    let supported = ["TCP", "HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "CALCULATED"];
    let mut ids = HashMap::new();
    for check in checks {
        let id = check["Id"].as_str().unwrap_or("").to_string();
        let kind = check["HealthCheckConfig"]["Type"].as_str().unwrap_or("").to_string();
        if ids.contains_key(&id) {
            continue;
        }
        if supported.contains(&kind.as_str()) {
            ids.insert(id, Ok(()));
        } else {
            notes.push(not_imported(format!("health check {id} ({kind})")));
            ids.insert(id, Err(kind));
        }
    }
    ids
}

/// The `[[health_check]]` tables, and the readable id given to each imported Route 53 check.
fn health_check_tables(
    checks: &[Value],
    importable: &HashMap<String, Result<(), String>>,
    records: &[RecordOut],
    origin: &str,
    notes: &mut Vec<Note>,
) -> (HashMap<String, String>, String) {
    let mut first_use: HashMap<&str, &RecordOut> = HashMap::new();
    for record in records {
        if let Some(check) = &record.check {
            first_use.entry(check.as_str()).or_insert(record);
        }
    }
    let mut new_ids: HashMap<String, String> = HashMap::new();
    let mut taken: HashSet<String> = HashSet::new();
    let mut imported = Vec::new();
    for check in checks {
        let id = check["Id"].as_str().unwrap_or("");
        if !matches!(importable.get(id), Some(Ok(()))) || new_ids.contains_key(id) {
            continue;
        }
        let readable = readable_id(check, first_use.get(id).copied(), origin);
        let mut unique = readable.clone();
        let mut n = 2;
        while !taken.insert(unique.clone()) {
            unique = format!("{readable}-{n}");
            n += 1;
        }
        new_ids.insert(id.to_string(), unique);
        imported.push(check);
    }
    let mut text = String::new();
    for check in imported {
        let id = check["Id"].as_str().unwrap_or("");
        let c = &check["HealthCheckConfig"];
        let kind = c["Type"].as_str().unwrap_or("");
        text.push('\n');
        let _ = write!(text, "# Route 53 health check {id}");
        if let Some(reference) = check["CallerReference"].as_str() {
            let _ = write!(text, " (CallerReference {})", quote(&reference.replace('\n', " ")));
        }
        let _ = write!(text, "\n[[health_check]]\nid = {}\ntype = {}\n", quote(&new_ids[id]), quote(kind));
        let mut field = |key: &str, value: Option<String>| {
            if let Some(v) = value {
                let _ = writeln!(text, "{key} = {v}");
            }
        };
        if kind == "CALCULATED" {
            let listed: Vec<&str> = c["ChildHealthChecks"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let (kept, missing): (Vec<&str>, Vec<&str>) = listed.into_iter().partition(|ch| new_ids.contains_key(*ch));
            if !missing.is_empty() {
                notes.push(changed(format!(
                    "health check {id} (CALCULATED): children {} not imported, left out",
                    missing.join(", ")
                )));
            }
            let children: Vec<String> = kept.iter().map(|ch| new_ids[*ch].clone()).collect();
            field("children", Some(format!("[{}]", list(&children))));
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
    (new_ids, text)
}

/// Longest readable id before a `-N` suffix makes it unique (ids are at most 64 bytes).
const READABLE_ID_LEN: usize = 56;

/// A check's readable id (not yet unique): its CallerReference when that reads as words, else
/// the first record that uses it (name and set id), else its type and endpoint, else its
/// Route 53 id.
fn readable_id(check: &Value, used_by: Option<&RecordOut>, origin: &str) -> String {
    if let Some(reference) = check["CallerReference"].as_str().map(slug).filter(|s| reads_as_words(s)) {
        return reference;
    }
    if let Some(record) = used_by {
        let name = record.name.strip_suffix(&format!(".{origin}")).unwrap_or(origin.trim_end_matches('.'));
        let with_set = match &record.set_id {
            Some(set) => format!("{name}-{set}"),
            None => name.to_string(),
        };
        let candidate = slug(&with_set);
        if !candidate.is_empty() {
            return candidate;
        }
    }
    let c = &check["HealthCheckConfig"];
    let kind = c["Type"].as_str().unwrap_or("check");
    let endpoint = c["FullyQualifiedDomainName"].as_str().or(c["IPAddress"].as_str());
    let candidate = match (endpoint, c["Port"].as_u64()) {
        (Some(host), Some(port)) => slug(&format!("{kind}-{host}-{port}")),
        (Some(host), None) => slug(&format!("{kind}-{host}")),
        _ => String::new(),
    };
    if !candidate.is_empty() {
        return candidate;
    }
    let id = slug(check["Id"].as_str().unwrap_or(""));
    if id.is_empty() {
        slug(kind)
    } else {
        id
    }
}

/// Lowercase letters, digits, `.`, `_` and `-`, every other run of characters one `-`, no
/// separator at either end, at most [`READABLE_ID_LEN`] bytes.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out = out.trim_matches(['-', '.']).to_string();
    out.truncate(READABLE_ID_LEN);
    out.trim_end_matches(['-', '.']).to_string()
}

/// Whether a slug reads as words rather than a generated token: some word of two or more
/// letters that is not all hex digits, and no word that looks random (eight or more hex
/// digits, as in a UUID or a timestamp, or ten or more characters mixing letters and digits).
fn reads_as_words(slug: &str) -> bool {
    let words: Vec<&str> = slug.split(['-', '_', '.']).filter(|w| !w.is_empty()).collect();
    let word = |w: &&str| {
        w.len() >= 2 && w.chars().all(|c| c.is_ascii_alphabetic()) && w.chars().any(|c| !c.is_ascii_hexdigit())
    };
    let random = |w: &&str| {
        (w.len() >= 8 && w.chars().all(|c| c.is_ascii_hexdigit()))
            || (w.len() >= 10 && w.chars().any(|c| c.is_ascii_digit()) && w.chars().any(|c| c.is_ascii_alphabetic()))
    };
    words.iter().any(word) && !words.iter().any(random)
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

/// A record set's values, decoded.
fn values(set: &Value, rtype: &str) -> Vec<String> {
    set["ResourceRecords"]
        .as_array()
        .map(|rr| rr.iter().filter_map(|r| r["Value"].as_str()).map(|v| decode_value(rtype, v)).collect())
        .unwrap_or_default()
}

/// "record set NAME TYPE (set ids)" for a group.
fn describe(group: &Group<'_>) -> String {
    let ids: Vec<&str> = group.members.iter().filter_map(|s| s["SetIdentifier"].as_str()).collect();
    match (ids.is_empty(), group.members.len()) {
        (true, _) => format!("record set {} {}", group.name, group.rtype),
        (false, 1) => format!("record set {} {} ({})", group.name, group.rtype, ids[0]),
        (false, _) => format!("record sets {} {} ({})", group.name, group.rtype, ids.join(", ")),
    }
}

fn describe_set(set: &Value, name: &str, rtype: &str) -> String {
    match set["SetIdentifier"].as_str() {
        Some(id) => format!("record set {name} {rtype} ({id})"),
        None => format!("record set {name} {rtype}"),
    }
}

fn changed(text: String) -> Note {
    Note { kind: NoteKind::Changed, text }
}

fn not_imported(text: String) -> Note {
    Note { kind: NoteKind::NotImported, text }
}

fn warning(text: String) -> Note {
    Note { kind: NoteKind::Warning, text }
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

/// Whether `name` is `origin` or lies below it (both absolute, lowercase).
fn in_zone(name: &str, origin: &str) -> bool {
    name == origin || name.ends_with(&format!(".{origin}"))
}

/// The name one label up (presentation format; labels here hold no escaped dots, as
/// [`decode_name`] writes them as `\046`).
fn parent(name: &str) -> String {
    match name.split_once('.') {
        Some((_, rest)) if !rest.is_empty() => rest.to_string(),
        _ => ".".to_string(),
    }
}

/// A TOML array of basic strings, without the brackets.
fn list(items: &[String]) -> String {
    items.iter().map(|v| quote(v)).collect::<Vec<_>>().join(", ")
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

    #[test]
    fn caller_references_that_read_as_words_become_ids() {
        for (reference, readable) in [
            ("web-1-2024-01-01", true),
            ("www-primary", true),
            ("App Blue", true),
            ("alarm", true),
            ("abcdef11-2222-3333-4444-555555fedcba", false),
            ("2024-01-01T00:00:00Z", false),
            ("terraform-20240101120000000000000001", false),
            ("my-check-3f9a8b7c6d", false),
            ("a8Kq9zP2mXw", false),
            ("", false),
        ] {
            assert_eq!(reads_as_words(&slug(reference)), readable, "{reference:?}");
        }
        assert_eq!(slug("  App Blue / EU!! "), "app-blue-eu");
        assert_eq!(slug(&"x".repeat(100)).len(), READABLE_ID_LEN);
        assert!(is_route53_server("ns-1536.awsdns-00.co.uk."));
        assert!(is_route53_server("awsdns-hostmaster.amazon.com."));
        assert!(!is_route53_server("ns1.shop.example."));
    }

    /// A record set of `name` in the test zone, with `fields` (JSON members) added.
    fn set(name: &str, rtype: &str, fields: &str) -> String {
        format!(r#"{{"Name": "{name}.t.example.", "Type": "{rtype}", "TTL": 60, {fields}}}"#)
    }

    #[test]
    fn routed_sets_become_multivalue_only_when_whole_and_checked() {
        let apex = r#"{"Name": "t.example.", "Type": "SOA", "TTL": 900, "ResourceRecords": [{"Value": "ns1.t.example. h.t.example. 1 2 3 4 5"}]},
                      {"Name": "t.example.", "Type": "NS", "TTL": 900, "ResourceRecords": [{"Value": "ns1.t.example."}]}"#;
        let one = |ip: &str| format!(r#""ResourceRecords": [{{"Value": "{ip}"}}]"#);
        let sets = [
            // Geolocation with checks, two members answering the same address.
            set("geo", "A", &format!(r#""SetIdentifier": "eu", "GeoLocation": {{"ContinentCode": "EU"}}, {}, "HealthCheckId": "c1""#, one("192.0.2.1"))),
            set("geo", "A", &format!(r#""SetIdentifier": "default", "GeoLocation": {{"CountryCode": "*"}}, {}, "HealthCheckId": "c2""#, one("192.0.2.1"))),
            set("geo", "A", &format!(r#""SetIdentifier": "us", "GeoLocation": {{"CountryCode": "US"}}, {}"#, one("192.0.2.2"))),
            // Latency CNAMEs with checks: multivalue cannot hold CNAME.
            set("lat", "CNAME", &format!(r#""SetIdentifier": "east", "Region": "us-east-1", {}, "HealthCheckId": "c1""#, one("east.elb.example."))),
            // IP-based with an alias member.
            set("net", "A", &format!(r#""SetIdentifier": "office", "CidrRoutingConfig": {{"CollectionId": "x", "LocationName": "o"}}, {}, "HealthCheckId": "c1""#, one("192.0.2.9"))),
            r#"{"Name": "net.t.example.", "Type": "A", "SetIdentifier": "rest", "CidrRoutingConfig": {"CollectionId": "x", "LocationName": "*"}, "AliasTarget": {"HostedZoneId": "Z", "DNSName": "lb.example.", "EvaluateTargetHealth": true}}"#.to_string(),
        ];
        let sets = format!(r#"{{"ResourceRecordSets": [{apex}, {}]}}"#, sets.join(", "));
        let check = |id: &str, reference: &str| {
            format!(
                r#"{{"Id": "{id}", "CallerReference": "{reference}", "HealthCheckConfig": {{"IPAddress": "192.0.2.1", "Port": 80, "Type": "TCP"}}}}"#
            )
        };
        let checks = format!(r#"{{"HealthChecks": [{}, {}]}}"#, check("c1", "Web A"), check("c2", "web-a"));
        let imported = import(&[("s".into(), sets)], &[("c".into(), checks)], &Options::default()).expect("imports");
        let config = &imported.config;
        let notes: Vec<String> = imported.notes.iter().map(Note::to_string).collect();
        let has = |text: &str| notes.iter().any(|n| n.contains(text));
        assert!(config.contains("id = \"web-a\"") && config.contains("id = \"web-a-2\""), "{config}");
        assert!(
            has("record set geo.t.example. A (default): its values already answered by another member; left out"),
            "{notes:#?}"
        );
        assert!(has("record sets geo.t.example. A (eu, default, us): geolocation routing with health checks, imported as multivalue"), "{notes:#?}");
        assert!(config.contains("set_id = \"us\"") && !config.contains("set_id = \"default\""), "{config}");
        assert!(has("record set lat.t.example. CNAME (east): latency routing of CNAME records"), "{notes:#?}");
        assert!(has("record sets net.t.example. A (office, rest): IP-based routing with alias members"), "{notes:#?}");
        assert!(config.contains("empty_names = [\"lat.t.example.\", \"net.t.example.\"]"), "{config}");
    }
}
