//! A zone's config as DNSSEC signs it, and the signed zone in presentation format, for
//! `eightfold sign`: what independent validators (`dnssec-verify`, `ldns-verify-zone`) check
//! before answers carry signatures.
//!
//! ```text
//!  ZoneConfig --rrsets--> dnssec::Rrsets --dnssec::sign_zone--> SignedZone
//!      --write_signed--> lines in canonical order: each owner's sets with their RRSIGs,
//!                        the apex's DNSKEY, CDS and CDNSKEY, the owner's NSEC
//! ```
//!
//! A record set with a routing policy (multivalue, weighted, failover) is signed as the
//! union of its members' records, with the smallest of their TTLs: the signatures of the
//! subsets answers draw are the answer path's, not made here.

use std::fmt::Write;

use base64::Engine;

use crate::config::{rtype_name, ZoneConfig};
use crate::dnssec::{canonical_cmp, signed_ttl, Rrsets, SignedZone};
use crate::wire::{rtype, skip_name, write_presentation};

/// The zone's record sets, zone file and config alike; a routed set as the union of its
/// members' records. `None` past 4 GiB of data.
pub fn rrsets(zone: &ZoneConfig) -> Option<Rrsets> {
    let mut sets = Rrsets::with_capacity(zone.rrset_count(), zone.records.data_bytes());
    for set in zone.records.iter() {
        sets.push(set.owner(), set.rtype(), set.ttl(), set.values())?;
    }
    for set in &zone.rrsets {
        let mut values: Vec<&[u8]> = set.members.iter().flat_map(|m| m.rdata.iter().map(Vec::as_slice)).collect();
        values.sort_unstable();
        values.dedup();
        let ttl = set.members.iter().map(|m| m.ttl).min().unwrap_or(0);
        sets.push(set.owner.as_wire(), set.rtype, ttl, values)?;
    }
    Some(sets)
}

/// Writes the signed zone, a record a line (`owner TTL IN TYPE RDATA`, tab-separated), to
/// `emit`, a line at a time: owners in canonical order, the SOA first, each set followed by
/// its RRSIGs, each owner's NSEC (and the apex's DNSKEY, CDS and CDNSKEY) after its data.
pub fn write_signed(zone: &Rrsets, signed: &SignedZone, mut emit: impl FnMut(&str)) {
    let mut order: Vec<u32> = (0..zone.len() as u32).collect();
    // The SOA first, then the rest of the apex and every other owner in canonical order.
    let rank = |t: u16| (t != rtype::SOA, t);
    order.sort_unstable_by(|&a, &b| {
        let (a, b) = (a as usize, b as usize);
        canonical_cmp(zone.owner(a), zone.owner(b)).then(rank(zone.rtype(a)).cmp(&rank(zone.rtype(b))))
    });
    let added = &signed.added;
    let mut line = String::new();
    let mut nsec = signed.first_nsec;
    let mut i = 0;
    while i < order.len() {
        let owner = zone.owner(order[i] as usize);
        while i < order.len() && zone.owner(order[i] as usize).eq_ignore_ascii_case(owner) {
            let set = order[i] as usize;
            write_set(&mut line, zone, set, signed.rrsigs(set), &mut emit);
            i += 1;
        }
        if canonical_cmp(owner, added.owner(0)).is_eq() {
            for set in 0..signed.first_nsec {
                write_set(&mut line, added, set, signed.added_rrsigs(set), &mut emit);
            }
        }
        if nsec < added.len() && added.owner(nsec).eq_ignore_ascii_case(owner) {
            write_set(&mut line, added, nsec, signed.added_rrsigs(nsec), &mut emit);
            nsec += 1;
        }
    }
}

/// Writes one set's records and then its RRSIGs.
fn write_set<'a>(
    line: &mut String,
    sets: &Rrsets,
    set: usize,
    rrsigs: impl Iterator<Item = &'a [u8]>,
    emit: &mut impl FnMut(&str),
) {
    let (owner, t, ttl) = (sets.owner(set), sets.rtype(set), signed_ttl(sets.ttl(set)));
    let records = sets.rdatas(set).map(|rdata| (t, rdata));
    for (shown, rdata) in records.chain(rrsigs.map(|rrsig| (rtype::RRSIG, rrsig))) {
        line.clear();
        let _ = write_presentation(line, owner);
        let _ = write!(line, "\t{ttl}\tIN\t{}\t", rtype_name(shown));
        write_rdata(line, shown, rdata);
        line.push('\n');
        emit(line);
    }
}

/// Writes RDATA of type `t` in presentation format: the common types as zone files have
/// them, any other (or a malformed one) in RFC 3597's generic form, `\# LENGTH HEX`.
pub fn write_rdata(out: &mut String, t: u16, rdata: &[u8]) {
    let start = out.len();
    if write_known(out, t, rdata).is_none() {
        out.truncate(start);
        let _ = write!(out, "\\# {}", rdata.len());
        if !rdata.is_empty() {
            out.push(' ');
            hex(out, rdata);
        }
    }
}

/// The presentation of the types rendered by name; `None` for others and malformed data.
fn write_known(out: &mut String, t: u16, d: &[u8]) -> Option<()> {
    let u16_at = |at: usize| d.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let u32_at = |at: usize| d.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let name = |out: &mut String, at: usize| -> Option<usize> {
        let end = skip_name(d, at)?;
        // No compression in zone data: a pointer is malformed here.
        if d[at..end].last() != Some(&0) {
            return None;
        }
        write_presentation(out, &d[at..end]).ok()?;
        Some(end)
    };
    let base64 = |out: &mut String, data: &[u8]| out.push_str(&base64::engine::general_purpose::STANDARD.encode(data));
    match t {
        rtype::A if d.len() == 4 => write!(out, "{}", std::net::Ipv4Addr::new(d[0], d[1], d[2], d[3])).ok()?,
        rtype::AAAA if d.len() == 16 => {
            write!(out, "{}", std::net::Ipv6Addr::from(<[u8; 16]>::try_from(d).ok()?)).ok()?
        }
        rtype::NS | rtype::CNAME | rtype::PTR | rtype::DNAME => (name(out, 0)? == d.len()).then_some(())?,
        rtype::MX => {
            write!(out, "{} ", u16_at(0)?).ok()?;
            (name(out, 2)? == d.len()).then_some(())?
        }
        rtype::SRV => {
            write!(out, "{} {} {} ", u16_at(0)?, u16_at(2)?, u16_at(4)?).ok()?;
            (name(out, 6)? == d.len()).then_some(())?
        }
        rtype::SOA => {
            let at = name(out, 0)?;
            out.push(' ');
            let at = name(out, at)?;
            if d.len() != at + 20 {
                return None;
            }
            for field in 0..5 {
                write!(out, " {}", u32_at(at + 4 * field)?).ok()?;
            }
        }
        rtype::TXT if !d.is_empty() => {
            let mut at = 0;
            while at < d.len() {
                let len = usize::from(d[at]);
                let text = d.get(at + 1..at + 1 + len)?;
                if at > 0 {
                    out.push(' ');
                }
                out.push('"');
                for &b in text {
                    match b {
                        b'"' | b'\\' => {
                            out.push('\\');
                            out.push(b as char);
                        }
                        0x20..=0x7e => out.push(b as char),
                        _ => write!(out, "\\{b:03}").ok()?,
                    }
                }
                out.push('"');
                at += 1 + len;
            }
        }
        rtype::DS | rtype::CDS if d.len() > 4 => {
            write!(out, "{} {} {} ", u16_at(0)?, d[2], d[3]).ok()?;
            hex(out, &d[4..]);
        }
        rtype::DNSKEY | rtype::CDNSKEY if d.len() > 4 => {
            write!(out, "{} {} {} ", u16_at(0)?, d[2], d[3]).ok()?;
            base64(out, &d[4..]);
        }
        rtype::RRSIG if d.len() > 18 => {
            write!(out, "{} {} {} {} ", rtype_name(u16_at(0)?), d[2], d[3], u32_at(4)?).ok()?;
            timestamp(out, u32_at(8)?);
            out.push(' ');
            timestamp(out, u32_at(12)?);
            write!(out, " {} ", u16_at(16)?).ok()?;
            let at = name(out, 18)?;
            out.push(' ');
            base64(out, &d[at..]);
        }
        rtype::NSEC => {
            let mut at = name(out, 0)?;
            while at < d.len() {
                let (window, len) = (u16::from(d[at]), usize::from(*d.get(at + 1)?));
                let bits = d.get(at + 2..at + 2 + len)?;
                for (byte, &value) in bits.iter().enumerate() {
                    for bit in 0..8 {
                        if value & (0x80 >> bit) != 0 {
                            let t = window << 8 | (byte * 8 + bit) as u16;
                            write!(out, " {}", rtype_name(t)).ok()?;
                        }
                    }
                }
                at += 2 + len;
            }
        }
        _ => return None,
    }
    Some(())
}

/// `bytes` in uppercase hex.
fn hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        let _ = write!(out, "{b:02X}");
    }
}

/// An RRSIG time as `YYYYMMDDHHmmSS` (RFC 4034 section 3.2), UTC; seconds since 1970.
fn timestamp(out: &mut String, seconds: u32) {
    let t = crate::dnssec::Civil::from_unix(u64::from(seconds));
    let _ = write!(out, "{:04}{:02}{:02}{:02}{:02}{:02}", t.year, t.month, t.day, t.hour, t.minute, t.second);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: u16, rdata: &[u8]) -> String {
        let mut out = String::new();
        write_rdata(&mut out, t, rdata);
        out
    }

    #[test]
    fn rdata_renders_as_zone_files_have_it() {
        assert_eq!(text(rtype::A, &[192, 0, 2, 1]), "192.0.2.1");
        assert_eq!(text(rtype::MX, b"\x00\x0a\x04Mail\x07example\x00"), "10 Mail.example.");
        assert_eq!(text(rtype::TXT, b"\x05a \"b\\\x00"), "\"a \\\"b\\\\\" \"\"");
        assert_eq!(text(rtype::SRV, b"\x00\x01\x00\x02\x13\xc4\x00"), "1 2 5060 .");
        // Unknown, or malformed: the generic form.
        assert_eq!(text(257, &[0, 5, b'i']), "\\# 3 000569");
        assert_eq!(text(rtype::A, &[1, 2, 3]), "\\# 3 010203");
        assert_eq!(text(rtype::CNAME, &[0xC0, 12]), "\\# 2 C00C");
        assert_eq!(text(rtype::NSEC, b"\x01a\x00\x00\x06\x40\x01\x00\x00\x00\x03"), "a. A MX RRSIG NSEC");
    }

    #[test]
    fn times_are_utc_calendar_dates() {
        let mut out = String::new();
        timestamp(&mut out, 0);
        out.push(' ');
        timestamp(&mut out, 1_709_251_199); // 2024-02-29 23:59:59, a leap day
        out.push(' ');
        timestamp(&mut out, u32::MAX);
        assert_eq!(out, "19700101000000 20240229235959 21060207062815");
    }
}
