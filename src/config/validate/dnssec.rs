//! `[zone.dnssec]`: the zone's signing keys, read from BIND's key files and checked to be the
//! zone's, and its signature settings; and the records a signed zone may not hold itself.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use super::Validator;
use crate::config::{file, rtype_name, DnssecConfig, ReadFile};
use crate::dnssec::SigningKey;
use crate::limits;
use crate::wire::{rtype, Name};

/// Types the signer makes from the keys (DNSKEY, CDS, CDNSKEY, RRSIG, NSEC) or does not make
/// (NSEC3, NSEC3PARAM): a signed zone's data may hold none of them.
pub(super) fn reserved(t: u16) -> bool {
    const NSEC3: u16 = 50;
    const NSEC3PARAM: u16 = 51;
    matches!(t, rtype::DNSKEY | rtype::CDS | rtype::CDNSKEY | rtype::RRSIG | rtype::NSEC | NSEC3 | NSEC3PARAM)
}

impl Validator<'_> {
    /// A zone's `[zone.dnssec]` table: every key read, each one the zone's and none twice.
    pub(super) fn zone_dnssec(
        &mut self,
        t: &file::DnssecTable,
        origin: &Name,
        span: Option<Range<usize>>,
        ctx: &str,
        read: &ReadFile<'_>,
    ) -> Option<Arc<DnssecConfig>> {
        let mut ok = true;
        let mut keys: Vec<SigningKey> = Vec::with_capacity(t.keys.len());
        if !limits::DNSSEC_KEYS.contains(t.keys.len()) {
            let limits::Bounds { min, max, .. } = limits::DNSSEC_KEYS;
            let reason = format!("{} keys given; a signed zone has {min} to {max}", t.keys.len());
            self.problem(span.clone(), ctx, Some("keys"), reason);
            ok = false;
        }
        let folder = self.source.parent().unwrap_or(Path::new("")).to_path_buf();
        for given in &t.keys {
            // As `eightfold sign` and dnssec-dsfromkey: the stem, or either file, names both.
            let stem = given.strip_suffix(".key").or_else(|| given.strip_suffix(".private")).unwrap_or(given);
            let path = |suffix: &str| folder.join(format!("{stem}{suffix}"));
            let text = |suffix: &str| {
                let path = path(suffix);
                read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
            };
            let key = text(".key").and_then(|public| {
                let private = text(".private")?;
                SigningKey::from_bind(&public, &private).map_err(|e| format!("{stem}: {e}"))
            });
            match key {
                Ok(key) if key.dnskey().owner() != origin => {
                    let reason = format!("{stem} is a key of {}, not of {origin}", key.dnskey().owner());
                    self.problem(span.clone(), ctx, Some("keys"), reason);
                    ok = false;
                }
                Ok(key) if keys.iter().any(|k| k.dnskey().rdata() == key.dnskey().rdata()) => {
                    let reason = format!("{stem}: the key (tag {}) is given twice", key.dnskey().key_tag());
                    self.problem(span.clone(), ctx, Some("keys"), reason);
                    ok = false;
                }
                Ok(key) => keys.push(key),
                Err(reason) => {
                    self.problem(span.clone(), ctx, Some("keys"), reason);
                    ok = false;
                }
            }
        }
        let mut seconds = |given: Option<u32>, limit: limits::Limit<u32>, key: &str| {
            let value = given.unwrap_or(limit.default);
            if !limit.contains(value) {
                let reason = format!("{value} is outside {}..={} (seconds)", limit.min, limit.max);
                self.problem(span.clone(), ctx, Some(key), reason);
                ok = false;
            }
            value
        };
        let signature_validity = seconds(t.signature_validity, limits::SIGNATURE_VALIDITY, "signature_validity");
        let dynamic_signature_validity =
            seconds(t.dynamic_signature_validity, limits::DYNAMIC_SIGNATURE_VALIDITY, "dynamic_signature_validity");
        let exact_signatures = t.exact_signatures.unwrap_or(limits::EXACT_SIGNATURES.default);
        if !limits::EXACT_SIGNATURES.contains(exact_signatures) {
            let limits::Limit { min, max, .. } = limits::EXACT_SIGNATURES;
            let reason = format!("{exact_signatures} is outside {min}..={max}");
            self.problem(span.clone(), ctx, Some("exact_signatures"), reason);
            ok = false;
        }
        let sampled_subsets = t.sampled_subsets.unwrap_or(limits::SAMPLED_SUBSETS.default);
        if !limits::SAMPLED_SUBSETS.contains(sampled_subsets) {
            let limits::Limit { min, max, .. } = limits::SAMPLED_SUBSETS;
            self.problem(
                span.clone(),
                ctx,
                Some("sampled_subsets"),
                format!("{sampled_subsets} is outside {min}..={max}"),
            );
            ok = false;
        }
        let compact = match t.denial.as_deref() {
            None | Some("nsec") => false,
            Some("compact") => true,
            Some(other) => {
                let reason =
                    format!("{other:?} is not a denial of existence; give \"nsec\" (the default) or \"compact\"");
                self.problem(span.clone(), ctx, Some("denial"), reason);
                ok = false;
                false
            }
        };
        let compact_budget = t.compact_budget.unwrap_or(limits::COMPACT_BUDGET.default);
        if !limits::COMPACT_BUDGET.contains(compact_budget) {
            let limits::Limit { min, max, .. } = limits::COMPACT_BUDGET;
            self.problem(
                span.clone(),
                ctx,
                Some("compact_budget"),
                format!("{compact_budget} is outside {min}..={max}"),
            );
            ok = false;
        }
        if let Some(ttl) = t.dnskey_ttl.filter(|&ttl| !limits::DNSKEY_TTL.contains(ttl)) {
            let limits::Bounds { min, max, .. } = limits::DNSKEY_TTL;
            self.problem(span.clone(), ctx, Some("dnskey_ttl"), format!("{ttl} is outside {min}..={max}"));
            ok = false;
        }
        ok.then(|| {
            Arc::new(DnssecConfig {
                keys,
                signature_validity,
                dynamic_signature_validity,
                dnskey_ttl: t.dnskey_ttl,
                exact_signatures,
                sampled_subsets,
                compact,
                compact_budget,
            })
        })
    }
}

/// The reason a signed zone's set of `t` at `owner` is refused.
pub(super) fn reserved_reason(owner: &str, t: u16) -> String {
    format!(
        "{owner} {} in a signed zone: DNSKEY, CDS, CDNSKEY, RRSIG and NSEC are made from the [zone.dnssec] keys \
         (and NSEC3 is not supported); remove it from the zone's data",
        rtype_name(t)
    )
}
