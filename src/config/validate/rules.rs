//! The rules that span tables: which zone a record's name belongs to, and each zone's name and
//! type rules once all its records are in (SOA and NS at the apex, CNAME and DNAME exclusivity,
//! delegations).

use std::ops::Range;
use std::path::Path;

use rustc_hash::FxHashMap;

use super::zone::{Origins, RrsetBuild, ZoneBuild};
use super::Validator;
use crate::config::{rtype_name, text, FileRecords, Problem, Routing, RrsetConfig, ZoneConfig};
use crate::wire::{rtype, write_presentation, Name, HEADER_LEN, OPT_LEN};

/// The largest DNS message: what a TCP message's two-byte length can say.
pub(super) const MAX_MESSAGE: usize = 65_535;

/// The index of the zone with the longest origin that the name `wire` ends with, trying its
/// suffixes from offset `at` (a label's start) on.
pub(super) fn zone_containing(origins: &Origins, wire: &[u8], mut at: usize) -> Option<usize> {
    while at < wire.len() {
        if let Some(&zi) = origins.get(&wire[at..]) {
            return Some(zi);
        }
        at += 1 + wire[at] as usize;
    }
    None
}

impl Validator<'_> {
    /// Resolves a record's name to (absolute name, zone index).
    pub(super) fn record_owner(
        &mut self,
        text: &str,
        zones: &[ZoneBuild],
        origins: &Origins,
        span: Option<Range<usize>>,
        ctx: &str,
    ) -> Option<(Name, usize)> {
        let parsed = match text.trim() {
            "@" => text::TextName { labels: Vec::new(), absolute: false },
            other => match text::parse_name(other) {
                Ok(p) => p,
                Err(e) => {
                    self.problem(span, ctx, Some("name"), e);
                    return None;
                }
            },
        };
        let mut wire = parsed.labels.clone();
        wire.push(0);
        let as_absolute = Name::from_wire(&wire)?;
        if let Some(zi) =
            zone_containing(origins, as_absolute.as_wire(), 0).filter(|_| parsed.absolute || !parsed.labels.is_empty())
        {
            return Some((as_absolute, zi));
        }
        if parsed.absolute {
            self.problem(span, ctx, Some("name"), format!("{as_absolute} is outside every configured zone"));
            return None;
        }
        // A relative name: relative to the one zone there is.
        if zones.len() != 1 {
            self.problem(
                span,
                ctx,
                Some("name"),
                format!("{text:?} is not inside any zone; write it as an absolute name ending with a dot"),
            );
            return None;
        }
        let mut wire = parsed.labels;
        wire.extend_from_slice(zones[0].origin.as_wire());
        match Name::from_wire(&wire) {
            Some(name) => Some((name, 0)),
            None => {
                self.problem(span, ctx, Some("name"), "name too long once the zone is appended");
                None
            }
        }
    }

    /// Checks zone-wide rules (SOA, NS, CNAME exclusivity, delegations, record sets that no
    /// response can hold, with up to `max_answers` multivalue members) and produces the zone.
    pub(super) fn finish_zone(&mut self, zone: ZoneBuild, max_answers: usize) -> ZoneConfig {
        let ZoneBuild { origin, line, rrsets, file, file_failed, empty_names, dnssec, .. } = zone;
        let records = file.finish();
        let sets = Sets { file: &records, config: &rrsets };
        let ctx = format!("zone {origin}");
        let problem = |v: &mut Self, reason: String| {
            v.problems.push(Problem { file: v.source.to_path_buf(), line, context: ctx.clone(), key: None, reason });
        };
        for i in 0..sets.len() {
            let (records, size) = sets.largest_response(i, max_answers);
            if size > MAX_MESSAGE {
                let b = sets.get(i);
                problem(
                    self,
                    format!(
                        "{} {} ({}) cannot be answered: its largest answer, {records} records, takes {size} bytes \
                         with the header, question and OPT record, past the {MAX_MESSAGE} bytes of the largest DNS \
                         message (over TCP); split its values across names",
                        shown(b.owner),
                        rtype_name(b.rtype),
                        b.origin
                    ),
                );
            }
        }
        let find = |rtype: u16| sets.iter().find(|s| s.rtype == rtype && s.owner == origin.as_wire());
        match find(rtype::SOA) {
            _ if file_failed => {}
            None => problem(self, "has no SOA record at its apex".into()),
            Some(soa) if soa.values != 1 => problem(self, "has more than one SOA record".into()),
            Some(_) => {}
        }
        if !file_failed && find(rtype::NS).is_none() {
            problem(self, "has no NS records at its apex".into());
        }
        // CNAME owners first (usually few), then the first other set at each of them: no
        // map over every owner of a large zone.
        let mut owners: FxHashMap<&[u8], (Option<usize>, Option<usize>)> = FxHashMap::default();
        let mut cuts: FxHashMap<&[u8], ()> = FxHashMap::default();
        for (i, b) in sets.iter().enumerate() {
            if dnssec.is_some() && super::dnssec::reserved(b.rtype) {
                problem(self, super::dnssec::reserved_reason(&format!("{} ({})", shown(b.owner), b.origin), b.rtype));
            }
            if b.rtype == rtype::CNAME {
                owners.entry(b.owner).or_default().0.get_or_insert(i);
            }
            if b.rtype == rtype::NS && b.owner != origin.as_wire() {
                cuts.insert(b.owner, ());
            }
            if b.rtype == rtype::SOA && b.owner != origin.as_wire() {
                problem(self, format!("SOA at {} is not at the apex", shown(b.owner)));
            }
        }
        if !owners.is_empty() {
            for (i, b) in sets.iter().enumerate() {
                if b.rtype != rtype::CNAME {
                    if let Some(entry) = owners.get_mut(b.owner) {
                        entry.1.get_or_insert(i);
                    }
                }
            }
        }
        for (cname, other) in owners.values() {
            if let (Some(c), Some(o)) = (cname, other) {
                let (c, o) = (sets.get(*c), sets.get(*o));
                problem(
                    self,
                    format!(
                        "CNAME at {} ({}) cannot share its name with other data ({} at {})",
                        shown(c.owner),
                        c.origin,
                        rtype_name(o.rtype),
                        o.origin
                    ),
                );
            }
        }
        let dnames: FxHashMap<&[u8], SetInfo> =
            sets.iter().filter(|b| b.rtype == rtype::DNAME).map(|b| (b.owner, b)).collect();
        for b in dnames.values() {
            let (name, at) = (shown(b.owner), b.origin);
            if b.values > 1 {
                problem(self, format!("more than one DNAME at {name} ({at}); a name has at most one"));
            }
            if b.routing != Routing::Simple {
                problem(self, format!("DNAME at {name} ({at}) must use simple routing"));
            }
        }
        if !dnames.is_empty() {
            for b in sets.iter() {
                if let Some(d) = suffixes(b.owner).skip(1).find_map(|suffix| dnames.get(suffix)) {
                    problem(
                        self,
                        format!(
                            "{} {} ({}) lies below the DNAME at {} ({}); no name may exist below a DNAME (RFC 6672)",
                            shown(b.owner),
                            rtype_name(b.rtype),
                            b.origin,
                            shown(d.owner),
                            d.origin
                        ),
                    );
                }
            }
        }
        for name in &empty_names {
            let wire = name.as_wire();
            // A name at or below a delegation is the child zone's; below a DNAME none exists.
            let cut = suffixes(wire).find(|suffix| cuts.contains_key(suffix));
            let dname = suffixes(wire).skip(1).find(|suffix| dnames.contains_key(suffix));
            let reason = match (cut, dname) {
                (Some(cut), _) => format!("{name} lies at or below the delegation at {}", shown(cut)),
                (None, Some(dname)) => {
                    format!(
                        "{name} lies below the DNAME at {}; no name may exist below a DNAME (RFC 6672)",
                        shown(dname)
                    )
                }
                (None, None) => continue,
            };
            let (file, context) = (self.source.to_path_buf(), ctx.clone());
            self.problems.push(Problem { file, line, context, key: Some("empty_names".into()), reason });
        }
        if dnssec.is_some() {
            // A DS belongs at a delegation, on the parent's side; signing one elsewhere
            // would prove a secure child that does not exist.
            for b in sets.iter().filter(|b| b.rtype == rtype::DS && !cuts.contains_key(b.owner)) {
                let reason = format!(
                    "{} DS ({}) is not at a delegation: a DS belongs where NS records delegate a child zone",
                    shown(b.owner),
                    b.origin
                );
                problem(self, reason);
            }
        }
        if !cuts.is_empty() {
            for b in sets.iter() {
                let owner = b.owner;
                let at_cut = cuts.contains_key(owner);
                // The closest delegation strictly above the owner, if any.
                let cut_above = suffixes(owner).skip(1).find(|suffix| cuts.contains_key(suffix));
                let name = shown(owner);
                let rtype = rtype_name(b.rtype);
                if let Some(cut) = cut_above {
                    if !matches!(b.rtype, rtype::A | rtype::AAAA) {
                        problem(
                            self,
                            format!(
                                "{name} {rtype} ({}) lies below the delegation at {}; only glue (A, AAAA) may",
                                b.origin,
                                shown(cut)
                            ),
                        );
                    }
                } else if at_cut && !matches!(b.rtype, rtype::NS | rtype::DS) {
                    problem(
                        self,
                        format!("{name} {rtype} ({}) sits at a delegation point; only NS and DS may", b.origin),
                    );
                }
                if (at_cut || cut_above.is_some()) && b.routing != Routing::Simple {
                    problem(
                        self,
                        format!("{name} {rtype} ({}) is delegation data and must use simple routing", b.origin),
                    );
                }
            }
        }
        drop(owners);
        drop(cuts);
        drop(dnames);
        ZoneConfig { origin, records, rrsets: rrsets.into_iter().map(|b| b.set).collect(), empty_names, dnssec }
    }
}

/// Every record set of a zone being finished, from the zone file and from the config file,
/// read alike for the rules: the zone file's first, each by an index.
struct Sets<'a> {
    file: &'a FileRecords,
    config: &'a [RrsetBuild],
}

/// What the rules read of one record set.
#[derive(Clone, Copy)]
struct SetInfo<'a> {
    owner: &'a [u8],
    rtype: u16,
    routing: Routing,
    /// Where it was defined.
    origin: Origin<'a>,
    /// Values over all members.
    values: usize,
}

impl<'a> Sets<'a> {
    fn len(&self) -> usize {
        self.file.len() + self.config.len()
    }

    fn get(&self, i: usize) -> SetInfo<'a> {
        match i.checked_sub(self.file.len()) {
            None => {
                let set = self.file.get(i);
                SetInfo {
                    owner: set.owner(),
                    rtype: set.rtype(),
                    routing: Routing::Simple,
                    origin: Origin::Line(set.defined_at()),
                    values: set.len(),
                }
            }
            Some(i) => {
                let b = &self.config[i];
                SetInfo {
                    owner: b.set.owner.as_wire(),
                    rtype: b.set.rtype,
                    routing: b.set.routing,
                    origin: Origin::Text(&b.origin),
                    values: b.set.members.iter().map(|m| m.rdata.len()).sum(),
                }
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = SetInfo<'a>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// [`largest_response`] of set `i`; a zone file's set answers all its values.
    fn largest_response(&self, i: usize, max_answers: usize) -> (usize, usize) {
        match i.checked_sub(self.file.len()) {
            None => {
                let set = self.file.get(i);
                let size = set.values().map(|v| RECORD + v.len()).sum::<usize>();
                (set.len(), HEADER_LEN + set.owner().len() + 4 + OPT_LEN + size)
            }
            Some(i) => largest_response(&self.config[i].set, max_answers),
        }
    }
}

/// Where a record set was defined, for a message.
#[derive(Clone, Copy)]
enum Origin<'a> {
    /// As the config file's record sets say it.
    Text(&'a str),
    /// A zone file and line.
    Line((&'a Path, u32)),
}

impl std::fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Text(text) => f.write_str(text),
            Origin::Line((file, line)) => write!(f, "{}:{line}", file.display()),
        }
    }
}

/// A name in wire form, for a message.
fn shown(wire: &[u8]) -> String {
    let mut text = String::new();
    match write_presentation(&mut text, wire) {
        Ok(()) => text,
        Err(_) => format!("{wire:?}"),
    }
}

/// A record in a response, after its RDATA: its owner as a compression pointer (2), type,
/// class, TTL and RDLENGTH (10).
const RECORD: usize = 2 + 10;

/// The largest response to a query for `set`'s owner and type that `set` can give, when a
/// multivalue answer has up to `max_answers` members: (records, bytes). Bytes count the
/// header, the question, an OPT record without options, and each record with its owner as a
/// compression pointer (2), type, class, TTL and RDLENGTH (10) and its RDATA.
pub(super) fn largest_response(set: &RrsetConfig, max_answers: usize) -> (usize, usize) {
    let member = |rdata: &[Vec<u8>]| (rdata.len(), rdata.iter().map(|r| RECORD + r.len()).sum::<usize>());
    let mut members: Vec<(usize, usize)> = set.members.iter().map(|m| member(&m.rdata)).collect();
    let answers = match set.routing {
        // Every member (a simple set has one).
        Routing::Simple => members.len(),
        // Up to `max_answers` members: the largest of them, at worst.
        Routing::Multivalue => {
            members.sort_unstable_by_key(|m| std::cmp::Reverse(m.1));
            max_answers
        }
        // One member: the largest, at worst.
        Routing::Failover | Routing::Weighted => {
            members.sort_unstable_by_key(|m| std::cmp::Reverse(m.1));
            1
        }
    };
    let chosen = members.iter().take(answers).fold((0, 0), |(n, size), m| (n + m.0, size + m.1));
    let fallback = member(&set.fallback);
    let (records, size) = if fallback.1 > chosen.1 { fallback } else { chosen };
    (records, HEADER_LEN + set.owner.as_wire().len() + 4 + OPT_LEN + size)
}

/// A wire name and each of its parents, down to the root.
fn suffixes(wire: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut at = Some(0usize);
    std::iter::from_fn(move || {
        let start = at?;
        let len = *wire.get(start)? as usize;
        at = (len != 0).then_some(start + 1 + len);
        Some(&wire[start..])
    })
}
