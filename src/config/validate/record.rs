//! `[[record]]`: each record's name, type, TTL and routing policy, its policy keys (set id,
//! health check, weight, failover role, what to answer when all are unhealthy), and its values;
//! then its place in its record set.

use std::collections::{HashMap, HashSet};

use super::rules::zone_containing;
use super::zone::{Origins, RrsetBuild, SetAt, ZoneBuild};
use super::Validator;
use crate::config::{file, rtype_name, text, FailoverRole, MemberConfig, Routing, RrsetConfig, WhenAllUnhealthy};
use crate::limits;
use crate::wire::{rtype, Name};

impl Validator<'_> {
    /// Validates every `[[record]]` and adds each to its zone's record sets.
    pub(super) fn records(
        &mut self,
        tables: &[toml::Spanned<file::RecordTable>],
        zones: &mut [ZoneBuild],
        origins: &Origins,
        checks: &HashMap<&str, usize>,
    ) {
        let mut set_ids: HashSet<(Name, u16, String)> = HashSet::new();
        for spanned in tables {
            let t = spanned.get_ref();
            let span = Some(spanned.span());
            let mut ctx = format!("record {:?} {}", t.name, t.rtype);
            if let Some(id) = &t.set_id {
                ctx.push_str(&format!(" (set_id {id:?})"));
            }
            let Some((owner, zi)) = self.record_owner(&t.name, zones, origins, span.clone(), &ctx) else { continue };
            let rtype = match text::parse_rtype(&t.rtype) {
                Ok(r) => r,
                Err(e) => {
                    self.problem(span, &ctx, Some("type"), e);
                    continue;
                }
            };
            // DS is the parent's data (RFC 4035 section 3.1.4.1): at the apex of a zone served
            // here too it belongs to the zone above, which answers DS queries for that name.
            let zi = if rtype == rtype::DS && owner == zones[zi].origin {
                let parent = 1 + owner.as_wire()[0] as usize;
                zone_containing(origins, owner.as_wire(), parent).unwrap_or(zi)
            } else {
                zi
            };
            let routing = match t.routing.as_deref().unwrap_or("simple") {
                "simple" => Routing::Simple,
                "multivalue" => Routing::Multivalue,
                "failover" => Routing::Failover,
                "weighted" => Routing::Weighted,
                other => {
                    self.problem(
                        span,
                        &ctx,
                        Some("routing"),
                        format!("{other:?} is not one of simple, multivalue, failover, weighted"),
                    );
                    continue;
                }
            };
            let before = self.problems.len();
            match rtype {
                rtype::SOA => {
                    self.problem(span.clone(), &ctx, Some("type"), "SOA comes from the zone's `soa` or zone file")
                }
                rtype::OPT | rtype::AXFR | rtype::IXFR | rtype::ANY | 250 | 253 | 254 => {
                    self.problem(span.clone(), &ctx, Some("type"), "is a meta type, not data")
                }
                _ => {}
            }
            if routing == Routing::Multivalue && matches!(rtype, rtype::CNAME | rtype::NS | rtype::DS) {
                self.problem(
                    span.clone(),
                    &ctx,
                    Some("routing"),
                    format!("multivalue is not allowed for {} records", t.rtype.to_uppercase()),
                );
            }
            let ttl = t.ttl.unwrap_or(limits::RECORD_TTL.default);
            if !limits::RECORD_TTL.contains(ttl) {
                let max = limits::RECORD_TTL.max;
                self.problem(span.clone(), &ctx, Some("ttl"), format!("{ttl} is above {max}"));
            }
            match (&t.set_id, routing) {
                (Some(_), Routing::Simple) => {
                    self.problem(span.clone(), &ctx, Some("set_id"), "simple records have no set_id")
                }
                (None, r) if r != Routing::Simple => {
                    self.problem(span.clone(), &ctx, Some("set_id"), format!("required for {} routing", r.as_str()))
                }
                (Some(id), _) if !limits::SET_ID_LEN.contains(id.len()) => {
                    let limits::Bounds { min, max, .. } = limits::SET_ID_LEN;
                    self.problem(span.clone(), &ctx, Some("set_id"), format!("must be {min} to {max} characters"))
                }
                (Some(id), _) if !set_ids.insert((owner.clone(), rtype, id.clone())) => self.problem(
                    span.clone(),
                    &ctx,
                    Some("set_id"),
                    format!("{id:?} is already used for {owner} {}", rtype_name(rtype)),
                ),
                _ => {}
            }
            let check = match &t.health_check {
                None => None,
                Some(_) if routing == Routing::Simple => {
                    self.problem(
                        span.clone(),
                        &ctx,
                        Some("health_check"),
                        "simple records are not health checked; use multivalue, failover or weighted",
                    );
                    None
                }
                Some(id) => match checks.get(id.as_str()) {
                    Some(&i) => Some(i),
                    None => {
                        self.problem(
                            span.clone(),
                            &ctx,
                            Some("health_check"),
                            format!("no health_check with id {id:?}"),
                        );
                        None
                    }
                },
            };
            // The file's weight is an i64, so that a negative or too large one is rejected here.
            let weights = i64::from(limits::WEIGHT.min)..=i64::from(limits::WEIGHT.max);
            let weight = match (t.weight, routing) {
                (Some(w), Routing::Weighted) if weights.contains(&w) => w as u8,
                (Some(w), Routing::Weighted) => {
                    let (min, max) = (weights.start(), weights.end());
                    self.problem(span.clone(), &ctx, Some("weight"), format!("{w} is outside {min}..={max}"));
                    0
                }
                (None, Routing::Weighted) => {
                    self.problem(span.clone(), &ctx, Some("weight"), "required for weighted routing");
                    0
                }
                (Some(_), _) => {
                    self.problem(span.clone(), &ctx, Some("weight"), "only for weighted routing");
                    0
                }
                (None, _) => 0,
            };
            let failover = match (t.failover.as_deref(), routing) {
                (Some("PRIMARY"), Routing::Failover) => Some(FailoverRole::Primary),
                (Some("SECONDARY"), Routing::Failover) => Some(FailoverRole::Secondary),
                (Some(other), Routing::Failover) => {
                    self.problem(
                        span.clone(),
                        &ctx,
                        Some("failover"),
                        format!("{other:?} is not PRIMARY or SECONDARY"),
                    );
                    None
                }
                (None, Routing::Failover) => {
                    self.problem(
                        span.clone(),
                        &ctx,
                        Some("failover"),
                        "required for failover routing (PRIMARY or SECONDARY)",
                    );
                    None
                }
                (Some(_), _) => {
                    self.problem(span.clone(), &ctx, Some("failover"), "only for failover routing");
                    None
                }
                (None, _) => None,
            };
            let when_all_unhealthy = match (t.when_all_unhealthy.as_deref(), routing) {
                (None, _) => None,
                (Some(_), Routing::Simple) => {
                    self.problem(span.clone(), &ctx, Some("when_all_unhealthy"), "simple records are never unhealthy");
                    None
                }
                (Some("answer_all"), _) => Some(WhenAllUnhealthy::AnswerAll),
                (Some("nodata"), _) => Some(WhenAllUnhealthy::NoData),
                (Some("fallback"), _) => Some(WhenAllUnhealthy::Fallback),
                (Some(other), _) => {
                    self.problem(
                        span.clone(),
                        &ctx,
                        Some("when_all_unhealthy"),
                        format!("{other:?} is not one of answer_all, nodata, fallback"),
                    );
                    None
                }
            };
            let mut fallback = (Vec::new(), Vec::new());
            match (&t.fallback_values, when_all_unhealthy) {
                (None, Some(WhenAllUnhealthy::Fallback)) => self.problem(
                    span.clone(),
                    &ctx,
                    Some("fallback_values"),
                    "required with `when_all_unhealthy = \"fallback\"`",
                ),
                (Some(_), w) if w != Some(WhenAllUnhealthy::Fallback) => self.problem(
                    span.clone(),
                    &ctx,
                    Some("fallback_values"),
                    "only with `when_all_unhealthy = \"fallback\"`",
                ),
                (Some(values), _) => {
                    if values.is_empty() {
                        self.problem(span.clone(), &ctx, Some("fallback_values"), "needs at least one value");
                    }
                    for value in values {
                        match text::parse_value(&owner, rtype, value, &zones[zi].origin) {
                            Ok(rdata) => {
                                fallback.0.push(rdata);
                                fallback.1.push(value.clone());
                            }
                            Err(e) => self.problem(span.clone(), &ctx, Some("fallback_values"), e),
                        }
                    }
                }
                _ => {}
            }
            if t.values.is_empty() {
                self.problem(span.clone(), &ctx, Some("values"), "needs at least one value");
            }
            if rtype == rtype::CNAME && t.values.len() > 1 {
                self.problem(span.clone(), &ctx, Some("values"), "a CNAME has exactly one value");
            }
            let mut member = MemberConfig {
                set_id: t.set_id.clone(),
                ttl,
                check,
                weight,
                failover,
                rdata: Vec::new(),
                values: Vec::new(),
            };
            let zone_origin = zones[zi].origin.clone();
            // The values so far, by position, hashed by RDATA: a value listed twice is found
            // in one probe, not by comparing it with every other.
            let mut seen: hashbrown::HashTable<usize> = hashbrown::HashTable::new();
            for value in &t.values {
                match text::parse_value(&owner, rtype, value, &zone_origin) {
                    Ok(rdata) => {
                        let hash = rdata_hash(&rdata);
                        let rdatas = &member.rdata;
                        match seen.entry(hash, |&i| rdatas[i] == rdata, |&i| rdata_hash(&rdatas[i])) {
                            hashbrown::hash_table::Entry::Occupied(_) => {
                                self.problem(span.clone(), &ctx, Some("values"), format!("{value:?} is listed twice"))
                            }
                            hashbrown::hash_table::Entry::Vacant(slot) => {
                                slot.insert(rdatas.len());
                                member.rdata.push(rdata);
                                member.values.push(value.clone());
                            }
                        }
                    }
                    Err(e) => self.problem(span.clone(), &ctx, Some("values"), e),
                }
            }
            if self.problems.len() > before {
                continue;
            }
            let key = (owner.clone(), rtype);
            let here = format!("{}:{}", self.source.display(), span.clone().map_or(0, |s| self.line(s.start)));
            let existing = match zones[zi].position(&key.0, key.1) {
                None => None,
                Some(SetAt::Config(at)) => Some(&mut zones[zi].rrsets[at]),
                Some(SetAt::File(_)) => {
                    let reason = if routing == Routing::Simple {
                        format!(
                            "{owner} {} is already defined in the zone file {}; define a record set in one place",
                            t.rtype, zones[zi].file_path
                        )
                    } else {
                        format!(
                            "{owner} {} already has simple records (in the zone file {}); routing policies cannot be mixed on one name and type",
                            t.rtype,
                            zones[zi].file_path
                        )
                    };
                    self.problem(span, &ctx, Some("routing"), reason);
                    continue;
                }
            };
            match existing {
                None => {
                    let set = RrsetConfig {
                        owner,
                        rtype,
                        routing,
                        members: vec![member],
                        when_all_unhealthy: when_all_unhealthy.unwrap_or(WhenAllUnhealthy::AnswerAll),
                        fallback: fallback.0,
                        fallback_values: fallback.1,
                    };
                    let explicit = when_all_unhealthy.is_some();
                    zones[zi].insert(RrsetBuild { set, origin: here.into(), explicit_when: explicit });
                }
                Some(existing) if existing.set.routing != routing || routing == Routing::Simple => {
                    let reason = if routing == Routing::Simple && existing.set.routing == Routing::Simple {
                        format!("a simple record set for {owner} {} is already defined at {}; put every value in one `values` list", t.rtype, existing.origin)
                    } else {
                        format!(
                            "{owner} {} already has {} records (at {}); routing policies cannot be mixed on one name and type",
                            t.rtype,
                            existing.set.routing.as_str(),
                            existing.origin
                        )
                    };
                    self.problem(span, &ctx, Some("routing"), reason);
                }
                Some(existing) => {
                    if let Some(when) = when_all_unhealthy {
                        if existing.explicit_when
                            && (existing.set.when_all_unhealthy != when || existing.set.fallback != fallback.0)
                        {
                            self.problem(
                                span,
                                &ctx,
                                Some("when_all_unhealthy"),
                                format!(
                                    "{owner} {} already says `when_all_unhealthy = {:?}` (at {}) with other fallback values; members must agree",
                                    t.rtype,
                                    existing.set.when_all_unhealthy.as_str(),
                                    existing.origin
                                ),
                            );
                            continue;
                        }
                        existing.set.when_all_unhealthy = when;
                        existing.set.fallback = fallback.0;
                        existing.set.fallback_values = fallback.1;
                        existing.explicit_when = true;
                    }
                    if routing == Routing::Failover
                        && existing.set.members.iter().any(|m| m.failover == member.failover)
                    {
                        self.problem(
                            span,
                            &ctx,
                            Some("failover"),
                            format!(
                                "{owner} {} already has a {:?} record",
                                t.rtype,
                                member.failover.unwrap_or(FailoverRole::Primary)
                            ),
                        );
                        continue;
                    }
                    if routing == Routing::Weighted && existing.set.members[0].ttl != member.ttl {
                        self.problem(
                            span,
                            &ctx,
                            Some("ttl"),
                            format!(
                                "weighted records of {owner} {} must share one TTL ({})",
                                t.rtype, existing.set.members[0].ttl
                            ),
                        );
                        continue;
                    }
                    existing.set.members.push(member);
                }
            }
        }
    }
}

/// The hash a value is found by among a record's values.
fn rdata_hash(rdata: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(rdata)
}
