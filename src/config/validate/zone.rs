//! `[[zone]]`: each zone's origin and its data, from a zone file or inline `soa` and `ns`; and
//! the zone under construction that records are added to.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::Validator;
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
    /// Record sets in the order they were first defined.
    pub(super) rrsets: Vec<RrsetBuild>,
    /// Positions in `rrsets`, hashed by (owner, type), so lookups clone nothing.
    index: hashbrown::HashTable<usize>,
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
        read: &ReadFile,
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
                rrsets: Vec::new(),
                index: hashbrown::HashTable::new(),
            };
            let ttl = t.ttl.unwrap_or(limits::ZONE_TTL.default);
            if t.file.is_some() && (t.soa.is_some() || t.ns.is_some() || t.ttl.is_some() || t.ns_ttl.is_some()) {
                self.problem(span, &ctx, Some("file"), "give either `file` or inline `soa` and `ns`, not both");
                continue;
            }
            match (&t.file, &t.soa) {
                (Some(file), _) => {
                    let path = self.source.parent().unwrap_or(Path::new("")).join(file);
                    let where_: Arc<str> = path.display().to_string().into();
                    let mut outside = Vec::new();
                    // Each value read so far, as (record set, value) positions hashed by set and
                    // RDATA: a repeated value is found in one probe, not by comparing it with
                    // every value of its set.
                    let mut values: hashbrown::HashTable<(u32, u32)> = hashbrown::HashTable::new();
                    let result = text::for_each_record(&path, &origin, read, &mut |scanned| {
                        let r = match scanned {
                            text::Scanned::File { lines } => {
                                zone.rrsets.reserve(lines);
                                let rrsets = &zone.rrsets;
                                zone.index.reserve(lines, |&i| set_hash(&rrsets[i].set.owner, rrsets[i].set.rtype));
                                return;
                            }
                            text::Scanned::Record(r) => r,
                        };
                        if !r.owner.ends_with(&origin) {
                            outside.push(format!("record \"{}\" {}", r.owner, rtype_name(r.rtype)));
                            return;
                        }
                        let (ttl, rdata) = (r.ttl, r.rdata);
                        let at = zone.position_or_insert(r.owner, r.rtype, |owner, rtype| {
                            let set = RrsetConfig::simple(owner, rtype, MemberConfig::simple(ttl));
                            RrsetBuild { set, origin: where_.clone(), explicit_when: false }
                        });
                        let rrsets = &mut zone.rrsets;
                        let value_of = |(set, value): (u32, u32)| -> &[u8] {
                            &rrsets[set as usize].set.members[0].rdata[value as usize]
                        };
                        let entry = values.entry(
                            value_hash(at, &rdata),
                            |&v| v.0 as usize == at && value_of(v) == rdata.as_slice(),
                            |&(set, value)| value_hash(set as usize, value_of((set, value))),
                        );
                        let member = &mut rrsets[at].set.members[0];
                        // RFC 2181 section 5.2: one TTL per RRset; take the smallest.
                        member.ttl = member.ttl.min(ttl);
                        if let hashbrown::hash_table::Entry::Vacant(slot) = entry {
                            // A zone file's records number far below 2^32 (each takes a line).
                            slot.insert((at as u32, member.rdata.len() as u32));
                            member.rdata.push(rdata);
                        }
                    });
                    for context in outside {
                        self.problems.push(Problem {
                            file: path.clone(),
                            line: None,
                            context,
                            key: None,
                            reason: format!("is outside the zone {origin}"),
                        });
                    }
                    match result {
                        Ok(()) => {}
                        Err((file, reason)) => {
                            zone.file_failed = true;
                            let (line, reason) = split_line(&reason);
                            self.problems.push(Problem { file, line, context: ctx.clone(), key: None, reason });
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
    /// Adds a new record set; returns its position.
    pub(super) fn insert(&mut self, set: RrsetBuild) -> usize {
        let at = self.rrsets.len();
        let hash = set_hash(&set.set.owner, set.set.rtype);
        self.rrsets.push(set);
        let rrsets = &self.rrsets;
        self.index.insert_unique(hash, at, |&i| set_hash(&rrsets[i].set.owner, rrsets[i].set.rtype));
        at
    }

    /// Where the record set of `owner` and `rtype` is, adding the one `make` builds if it
    /// is not defined yet (one hash probe either way).
    fn position_or_insert(&mut self, owner: Name, rtype: u16, make: impl FnOnce(Name, u16) -> RrsetBuild) -> usize {
        let rrsets = &self.rrsets;
        let entry = self.index.entry(
            set_hash(&owner, rtype),
            |&i| rrsets[i].set.rtype == rtype && rrsets[i].set.owner == owner,
            |&i| set_hash(&rrsets[i].set.owner, rrsets[i].set.rtype),
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(at) => *at.get(),
            hashbrown::hash_table::Entry::Vacant(slot) => {
                let at = self.rrsets.len();
                slot.insert(at);
                self.rrsets.push(make(owner, rtype));
                at
            }
        }
    }

    /// Where the record set of `owner` and `rtype` is, if defined.
    pub(super) fn position(&self, owner: &Name, rtype: u16) -> Option<usize> {
        self.index
            .find(set_hash(owner, rtype), |&i| self.rrsets[i].set.rtype == rtype && self.rrsets[i].set.owner == *owner)
            .copied()
    }
}

/// The hash a record set is found by in [`ZoneBuild::index`].
fn set_hash(owner: &Name, rtype: u16) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one((owner.as_wire(), rtype))
}

/// The hash a zone file's value is found by: its record set's position and its RDATA.
fn value_hash(set: usize, rdata: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one((set, rdata))
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
