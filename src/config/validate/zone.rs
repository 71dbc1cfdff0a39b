//! `[[zone]]`: each zone's origin and its data, from a zone file or inline `soa` and `ns`; and
//! the zone under construction that records are added to.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::Validator;
use crate::config::records::{FileRecordsBuilder, Full};
use crate::config::{file, rtype_name, text, MemberConfig, Problem, ReadFile, RrsetConfig};
use crate::limits;
use crate::wire::{rtype, Name};

/// Zone indices by origin in wire form, while a config is validated.
pub(super) type Origins = FxHashMap<Box<[u8]>, usize>;

/// A zone while records are still being added.
pub(super) struct ZoneBuild {
    /// The apex.
    pub(super) origin: Name,
    /// Where the zone's table starts.
    pub(super) line: Option<usize>,
    /// The zone file could not be read; its problem is reported already.
    pub(super) file_failed: bool,
    /// The zone file's record sets, packed.
    pub(super) file: FileRecordsBuilder,
    /// The zone file's path, for messages about its records.
    pub(super) file_path: Arc<str>,
    /// Record sets the config file defines, in the order they were first defined.
    pub(super) rrsets: Vec<RrsetBuild>,
    /// `empty_names`: names that exist with no records of their own.
    pub(super) empty_names: Vec<Name>,
    /// `[zone.dnssec]`, when the zone is signed and its keys could be read.
    pub(super) dnssec: Option<Arc<crate::config::DnssecConfig>>,
    /// Positions in `file` and `rrsets`, hashed by (owner, type), so lookups clone nothing.
    index: hashbrown::HashTable<SetAt>,
}

/// Where a record set of a [`ZoneBuild`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SetAt {
    /// In the zone file's records, at this index.
    File(u32),
    /// In the config file's record sets, at this index.
    Config(usize),
}

/// A record set while members are still being added.
pub(super) struct RrsetBuild {
    /// The record set so far.
    pub(super) set: RrsetConfig,
    /// Where it was defined, for messages.
    pub(super) origin: Arc<str>,
    /// Whether a member said `when_all_unhealthy`.
    pub(super) explicit_when: bool,
}

impl Validator<'_> {
    /// The zones, and each one's index by its origin in wire form (to find a duplicate, and
    /// later each record's zone, without comparing every pair).
    pub(super) fn zones(
        &mut self,
        tables: &[toml::Spanned<file::ZoneTable>],
        read: &ReadFile<'_>,
    ) -> (Vec<ZoneBuild>, Origins) {
        let mut zones: Vec<ZoneBuild> = Vec::new();
        let mut origins = Origins::default();
        if tables.is_empty() {
            self.problem(None, "", Some("zone"), "at least one [[zone]] is required");
        }
        for spanned in tables {
            let t = spanned.get_ref();
            let span = Some(spanned.span());
            let ctx = format!("zone {:?}", t.origin);
            let origin = match text::parse_absolute(&t.origin) {
                Ok(origin) => origin,
                Err(e) => {
                    self.problem(span, &ctx, Some("origin"), e);
                    continue;
                }
            };
            if origins.contains_key(origin.as_wire()) {
                self.problem(span, &ctx, Some("origin"), "zone defined more than once");
                continue;
            }
            let mut zone = ZoneBuild {
                file_failed: false,
                origin: origin.clone(),
                line: span.clone().map(|s| self.line(s.start)),
                file: FileRecordsBuilder::default(),
                file_path: Arc::from(""),
                rrsets: Vec::new(),
                empty_names: Vec::new(),
                dnssec: None,
                index: hashbrown::HashTable::new(),
            };
            for name in t.empty_names.iter().flatten() {
                match empty_name(&origin, name) {
                    Ok(name) => zone.empty_names.push(name),
                    Err(e) => self.problem(span.clone(), &ctx, Some("empty_names"), e),
                }
            }
            if let Some(table) = &t.dnssec {
                zone.dnssec = self.zone_dnssec(table, &origin, span.clone(), &format!("{ctx}: [zone.dnssec]"), read);
            }
            let ttl = t.ttl.unwrap_or(limits::ZONE_TTL.default);
            if t.file.is_some() && (t.soa.is_some() || t.ns.is_some() || t.ttl.is_some() || t.ns_ttl.is_some()) {
                self.problem(span, &ctx, Some("file"), "give either `file` or inline `soa` and `ns`, not both");
                continue;
            }
            match (&t.file, &t.soa) {
                (Some(file), _) => {
                    let path = self.source.parent().unwrap_or(Path::new("")).join(file);
                    zone.file_path = path.display().to_string().into();
                    let mut outside = Vec::new();
                    let mut files: Vec<PathBuf> = Vec::new();
                    let mut too_large = false;
                    let result = text::for_each_record(&path, &origin, read, &mut |scanned| {
                        let r = match scanned {
                            text::Scanned::File { lines, path } => {
                                files.push(path.clone());
                                zone.file.add_file(path);
                                return zone.reserve(lines);
                            }
                            text::Scanned::Record(r) => r,
                        };
                        if !r.owner.ends_with(&origin) {
                            let file = files.get(r.file as usize).cloned().unwrap_or_default();
                            outside.push((file, r.line, format!("record \"{}\" {}", r.owner, rtype_name(r.rtype))));
                            return;
                        }
                        let at = (r.file, r.line);
                        let added = zone.file_set(r.owner.as_wire(), r.rtype, r.ttl, at).and_then(|set| {
                            // RFC 2181 section 5.2: one TTL per RRset; the set takes the smallest.
                            zone.file.add_value(set, r.ttl, &r.rdata)
                        });
                        too_large |= added.is_err();
                    });
                    if too_large {
                        self.problems.push(Problem {
                            file: path.clone(),
                            line: None,
                            context: ctx.clone(),
                            key: None,
                            reason: "holds more than 4 GiB of names and record data; split it into zones".into(),
                        });
                    }
                    for (file, line, context) in outside {
                        self.problems.push(Problem {
                            file,
                            line: Some(line as usize),
                            context,
                            key: None,
                            reason: format!("is outside the zone {origin}"),
                        });
                    }
                    match result {
                        Ok(()) => {}
                        Err((file, reason)) => {
                            zone.file_failed = true;
                            match split_line(&reason) {
                                // Only the zone file itself fails without a line: it could
                                // not be read, which is the config's `file` key's problem.
                                (None, reason) if file == path => {
                                    self.problem(span.clone(), &ctx, Some("file"), reason)
                                }
                                (line, reason) => {
                                    self.problems.push(Problem { file, line, context: ctx.clone(), key: None, reason })
                                }
                            }
                        }
                    }
                }
                (None, Some(soa)) => {
                    self.inline(&mut zone, span.clone(), &ctx, "soa", rtype::SOA, std::slice::from_ref(soa), ttl);
                    match &t.ns {
                        Some(ns) if !ns.is_empty() => {
                            self.inline(&mut zone, span, &ctx, "ns", rtype::NS, ns, t.ns_ttl.unwrap_or(ttl))
                        }
                        _ => self.problem(
                            span,
                            &ctx,
                            Some("ns"),
                            "a zone without `file` needs `ns` (at least one name server)",
                        ),
                    }
                }
                (None, None) => {
                    self.problem(span, &ctx, Some("file"), "a zone needs a zone `file`, or inline `soa` and `ns`");
                    continue;
                }
            }
            origins.insert(zone.origin.as_wire().into(), zones.len());
            zones.push(zone);
        }
        (zones, origins)
    }

    /// Adds an inline `soa` or `ns` (`key`) to `zone` as a simple record set.
    #[allow(clippy::too_many_arguments)]
    fn inline(
        &mut self,
        zone: &mut ZoneBuild,
        span: Option<Range<usize>>,
        ctx: &str,
        key: &str,
        rtype: u16,
        values: &[String],
        ttl: u32,
    ) {
        let mut member = MemberConfig::simple(ttl);
        for value in values {
            match text::parse_value(&zone.origin, rtype, value, &zone.origin) {
                Ok(rdata) => {
                    member.rdata.push(rdata);
                    member.values.push(value.clone());
                }
                Err(e) => self.problem(span.clone(), ctx, Some(key), e),
            }
        }
        let set = RrsetConfig::simple(zone.origin.clone(), rtype, member);
        zone.insert(RrsetBuild { set, origin: format!("{ctx} `{key}`").into(), explicit_when: false });
    }
}

impl ZoneBuild {
    /// The owner (wire form) and type of the record set at `at`.
    fn key(&self, at: SetAt) -> (&[u8], u16) {
        match at {
            SetAt::File(i) => self.file.owner_and_type(i),
            SetAt::Config(i) => (self.rrsets[i].set.owner.as_wire(), self.rrsets[i].set.rtype),
        }
    }

    /// Room for about `records` more zone file records.
    fn reserve(&mut self, records: usize) {
        self.file.reserve(records);
        let (file, rrsets) = (&self.file, &self.rrsets);
        self.index.reserve(records, |&at| match at {
            SetAt::File(i) => set_hash(file.owner_and_type(i)),
            SetAt::Config(i) => set_hash((rrsets[i].set.owner.as_wire(), rrsets[i].set.rtype)),
        });
    }

    /// Adds a record set the config file defines; returns its position.
    pub(super) fn insert(&mut self, set: RrsetBuild) -> usize {
        let at = self.rrsets.len();
        let hash = set_hash((set.set.owner.as_wire(), set.set.rtype));
        self.rrsets.push(set);
        let mut index = std::mem::take(&mut self.index);
        index.insert_unique(hash, SetAt::Config(at), |&at| set_hash(self.key(at)));
        self.index = index;
        at
    }

    /// The zone file's record set of `owner` and `rtype`, added (with TTL `ttl`) if it is not
    /// defined yet: one hash probe either way.
    fn file_set(&mut self, owner: &[u8], rtype: u16, ttl: u32, at: (u16, u32)) -> Result<u32, Full> {
        let hash = set_hash((owner, rtype));
        if let Some(&SetAt::File(i)) = self.index.find(hash, |&at| self.key(at) == (owner, rtype)) {
            return Ok(i);
        }
        let i = self.file.add_set(owner, rtype, ttl, at)?;
        let mut index = std::mem::take(&mut self.index);
        index.insert_unique(hash, SetAt::File(i), |&at| set_hash(self.key(at)));
        self.index = index;
        Ok(i)
    }

    /// Where the record set of `owner` and `rtype` is, if defined.
    pub(super) fn position(&self, owner: &Name, rtype: u16) -> Option<SetAt> {
        let key = (owner.as_wire(), rtype);
        self.index.find(set_hash(key), |&at| self.key(at) == key).copied()
    }
}

/// The hash a record set is found by in [`ZoneBuild::index`]: its owner (wire form) and type.
fn set_hash(key: (&[u8], u16)) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(key)
}

/// A name of `empty_names`: absolute, or relative to `origin` when written without the final
/// dot and not inside the zone as it stands (the rule for `[[record]]` names); never outside.
fn empty_name(origin: &Name, written: &str) -> Result<Name, String> {
    if written.trim() == "@" {
        return Ok(origin.clone());
    }
    let parsed = text::parse_name(written)?;
    let mut wire = parsed.labels.clone();
    wire.push(0);
    let as_absolute = Name::from_wire(&wire).ok_or_else(|| format!("{written:?} is too long"))?;
    if as_absolute.ends_with(origin) {
        return Ok(as_absolute);
    }
    if parsed.absolute {
        return Err(format!("{as_absolute} is outside the zone {origin}"));
    }
    let mut wire = parsed.labels;
    wire.extend_from_slice(origin.as_wire());
    Name::from_wire(&wire).ok_or_else(|| format!("{written:?} is too long once the zone is appended"))
}

/// Splits the zone scanner's "line L:C: reason" into a line number and the rest.
fn split_line(reason: &str) -> (Option<usize>, String) {
    if let Some(rest) = reason.strip_prefix("line ") {
        if let Some((loc, why)) = rest.split_once(": ") {
            let mut parts = loc.split(':').map(|n| n.parse::<usize>().ok());
            let (line, column) = (parts.next().flatten(), parts.next().flatten());
            // The scanner reports an error found at the end of an entry at column 1 of the
            // next line.
            let line = match (line, column) {
                (Some(l), Some(1)) if l > 1 => Some(l - 1),
                (l, _) => l,
            };
            return (line, why.to_string());
        }
    }
    (None, reason.to_string())
}
