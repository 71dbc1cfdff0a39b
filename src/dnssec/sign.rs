//! RRSIGs: the canonical form of an RRset (RFC 4034 sections 3.1.8.1 and 6, with RFC 6840
//! section 5.1's corrections), signed with a [`SigningKey`] or checked against a DNSKEY.
//!
//! ```text
//!  signed data = RRSIG RDATA less its signature (signer lowercase)
//!              | for each RDATA, in canonical order, duplicates once:
//!                  owner (lowercase; `*.` + the last `labels` labels when it has more)
//!                  | type | class | original TTL | RDATA length | RDATA (names of the
//!                  types RFC 4034 section 6.2 lists lowercased, NSEC's next name kept)
//! ```
//!
//! The canonical form is built in a [`Scratch`] the caller keeps, so signing a zone's many
//! RRsets allocates nothing beyond each result (and [`sign_rrset_into`] appends the result
//! to a buffer the caller keeps too).

use std::fmt;

use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ED25519};

use super::{key_tag, Algorithm, SigningKey, PROTOCOL, SIGNATURE_LEN};
use crate::wire::{rtype, LowerName, Name};

/// The fields of an RRSIG before its signature (RFC 4034 section 3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RrsigFields<'a> {
    /// The type of the RRset signed.
    pub type_covered: u16,
    /// The signing key's algorithm.
    pub algorithm: Algorithm,
    /// The owner's labels, the root and a leading `*` not counted ([`rrsig_labels`]).
    pub labels: u8,
    /// The RRset's TTL as the zone has it.
    pub original_ttl: u32,
    /// Not valid after this time (seconds since 1970, modulo 2^32: RFC 4034 section 3.1.5).
    pub expiration: u32,
    /// Not valid before this time.
    pub inception: u32,
    /// The signing key's tag.
    pub key_tag: u16,
    /// The zone the key belongs to.
    pub signer: &'a Name,
}

impl<'a> RrsigFields<'a> {
    /// The fields for signing the RRset of `type_covered` at `owner` (wire form, any case)
    /// with `key`.
    pub fn new(
        key: &'a SigningKey,
        type_covered: u16,
        owner: &[u8],
        original_ttl: u32,
        inception: u32,
        expiration: u32,
    ) -> RrsigFields<'a> {
        let dnskey = key.dnskey();
        RrsigFields {
            type_covered,
            algorithm: dnskey.algorithm(),
            labels: rrsig_labels(owner),
            original_ttl,
            expiration,
            inception,
            key_tag: dnskey.key_tag(),
            signer: dnskey.owner(),
        }
    }
}

/// Why an RRset was not signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignError {
    /// The owner is not a valid uncompressed name in wire form.
    Owner,
    /// The fields' label count is more than the owner has.
    Labels,
    /// This RDATA (its index in the set) does not hold what its type says (a name cut short,
    /// a compression pointer), or is longer than 65535 bytes.
    Rdata {
        /// Its index among the RDATAs given.
        index: usize,
    },
    /// The fields' algorithm or key tag is not the key's.
    KeyMismatch,
    /// The system's random source failed (ECDSA needs it for each signature).
    Random,
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignError::Owner => f.write_str("the owner is not a valid name in wire form"),
            SignError::Labels => f.write_str("the RRSIG's label count is more than the owner has"),
            SignError::Rdata { index } => write!(f, "RDATA {index} is malformed for its type"),
            SignError::KeyMismatch => f.write_str("the RRSIG's algorithm or key tag is not the signing key's"),
            SignError::Random => f.write_str("the system's random number source failed"),
        }
    }
}

impl std::error::Error for SignError {}

/// Buffers for the canonical form, kept between calls so that signing many RRsets does not
/// allocate for each.
#[derive(Default)]
pub struct Scratch {
    /// Every RDATA in canonical form, one after another.
    rdata: Vec<u8>,
    /// Where each lies in `rdata`.
    spans: Vec<(usize, usize)>,
    /// The signed data.
    message: Vec<u8>,
}

impl Scratch {
    /// Empty buffers; they grow to the largest RRset signed.
    pub fn new() -> Scratch {
        Scratch::default()
    }
}

/// The RRSIG's label count for `owner` (wire form): its labels, the root and a leading `*`
/// not counted (RFC 4034 section 3.1.3).
pub fn rrsig_labels(owner: &[u8]) -> u8 {
    let mut count = 0u8;
    let mut at = 0;
    while let Some(&len) = owner.get(at) {
        if len == 0 {
            break;
        }
        count = count.saturating_add(1);
        at += 1 + len as usize;
    }
    if owner.starts_with(b"\x01*") {
        count.saturating_sub(1)
    } else {
        count
    }
}

/// Signs the RRset at `owner` (wire form, any case) of `class` whose RDATAs (uncompressed,
/// in any order, duplicates allowed) are `rdatas`, and returns the RRSIG's RDATA.
pub fn sign_rrset(
    key: &SigningKey,
    fields: &RrsigFields<'_>,
    owner: &[u8],
    class: u16,
    rdatas: &[&[u8]],
    scratch: &mut Scratch,
) -> Result<Vec<u8>, SignError> {
    let mut out = Vec::with_capacity(18 + fields.signer.as_wire().len() + SIGNATURE_LEN);
    sign_rrset_into(key, fields, owner, class, rdatas, scratch, &mut out)?;
    Ok(out)
}

/// As [`sign_rrset`], appending the RRSIG's RDATA to `out`; on an error `out` is as it was.
pub fn sign_rrset_into(
    key: &SigningKey,
    fields: &RrsigFields<'_>,
    owner: &[u8],
    class: u16,
    rdatas: &[&[u8]],
    scratch: &mut Scratch,
    out: &mut Vec<u8>,
) -> Result<(), SignError> {
    let dnskey = key.dnskey();
    if fields.algorithm != dnskey.algorithm() || fields.key_tag != dnskey.key_tag() {
        return Err(SignError::KeyMismatch);
    }
    let message = &mut scratch.message;
    message.clear();
    message.extend_from_slice(&fields.type_covered.to_be_bytes());
    message.push(fields.algorithm.number());
    message.push(fields.labels);
    message.extend_from_slice(&fields.original_ttl.to_be_bytes());
    message.extend_from_slice(&fields.expiration.to_be_bytes());
    message.extend_from_slice(&fields.inception.to_be_bytes());
    message.extend_from_slice(&fields.key_tag.to_be_bytes());
    message.extend_from_slice(fields.signer.as_wire());
    let prefix = message.len();
    append_rrset(scratch, fields.type_covered, fields.labels, fields.original_ttl, owner, class, rdatas)?;
    let signature = key.sign(&scratch.message)?;
    out.extend_from_slice(&scratch.message[..prefix]);
    out.extend_from_slice(&signature);
    Ok(())
}

/// Checks the RRSIG RDATA `rrsig` over the RRset at `owner` (wire form, any case) of
/// `class` with `rdatas` against the DNSKEY RDATA `dnskey`: algorithm, key tag, signer
/// above the owner, and the signature. The served TTL does not enter (the signed data has
/// the RRSIG's Original TTL), nor do the validity times: they are the caller's to check
/// against its clock (RFC 4035 section 5.3.1).
pub fn verify_rrset(
    dnskey: &[u8],
    rrsig: &[u8],
    owner: &[u8],
    class: u16,
    rdatas: &[&[u8]],
    scratch: &mut Scratch,
) -> Result<(), String> {
    if dnskey.len() < 4 || dnskey[2] != PROTOCOL || u16::from_be_bytes([dnskey[0], dnskey[1]]) & 0x0100 == 0 {
        return Err("the DNSKEY is not a zone key (Zone Key flag, protocol 3)".into());
    }
    let algorithm = Algorithm::from_number(dnskey[3]).ok_or_else(|| format!("DNSKEY algorithm {}", dnskey[3]))?;
    let public = &dnskey[4..];
    if public.len() != algorithm.public_key_len() {
        return Err(format!("the DNSKEY's public key is {} bytes, not {}", public.len(), algorithm.public_key_len()));
    }
    if rrsig.len() < 19 {
        return Err("the RRSIG is cut short".into());
    }
    if rrsig[2] != algorithm.number() {
        return Err(format!("the RRSIG's algorithm is {}, the DNSKEY's {algorithm}", rrsig[2]));
    }
    let tag = u16::from_be_bytes([rrsig[16], rrsig[17]]);
    if tag != key_tag(dnskey) {
        return Err(format!("the RRSIG names key tag {tag}, the DNSKEY's is {}", key_tag(dnskey)));
    }
    let (signer, signer_end) = LowerName::parse(rrsig, 18).ok_or("the RRSIG's signer name is malformed")?;
    let signature = &rrsig[signer_end..];
    if signature.len() != SIGNATURE_LEN {
        return Err(format!("the signature is {} bytes, not {SIGNATURE_LEN}", signature.len()));
    }
    let (owned, end) = LowerName::parse(owner, 0).ok_or("the owner is not a valid name")?;
    if end != owner.len() || owned.suffix(signer.label_count()) != signer.as_wire() {
        return Err("the owner is not at or below the RRSIG's signer".into());
    }
    let type_covered = u16::from_be_bytes([rrsig[0], rrsig[1]]);
    let original_ttl = u32::from_be_bytes([rrsig[4], rrsig[5], rrsig[6], rrsig[7]]);
    scratch.message.clear();
    scratch.message.extend_from_slice(&rrsig[..18]);
    scratch.message.extend_from_slice(signer.as_wire());
    append_rrset(scratch, type_covered, rrsig[3], original_ttl, owner, class, rdatas).map_err(|e| e.to_string())?;
    let verified = match algorithm {
        Algorithm::EcdsaP256Sha256 => {
            let point = super::key::uncompressed_point(public);
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point[..]).verify(&scratch.message, signature)
        }
        Algorithm::Ed25519 => UnparsedPublicKey::new(&ED25519, public).verify(&scratch.message, signature),
    };
    verified.map_err(|_| "the signature does not verify".into())
}

/// Appends the RRset's records in canonical form and order to `scratch.message`.
fn append_rrset(
    scratch: &mut Scratch,
    rtype: u16,
    labels: u8,
    ttl: u32,
    owner: &[u8],
    class: u16,
    rdatas: &[&[u8]],
) -> Result<(), SignError> {
    let given = owner.len();
    let (owner, end) = LowerName::parse(owner, 0).ok_or(SignError::Owner)?;
    if end != given {
        return Err(SignError::Owner);
    }
    let labels = usize::from(labels);
    if labels > owner.label_count() {
        return Err(SignError::Labels);
    }
    // A wildcard's RRset (or one expanded from it) is signed as `*.` and the labels counted.
    let star: &[u8] = if labels < owner.label_count() { b"\x01*" } else { b"" };
    let owner = owner.suffix(labels);

    let Scratch { rdata, spans, message } = scratch;
    rdata.clear();
    spans.clear();
    for (index, data) in rdatas.iter().enumerate() {
        let start = rdata.len();
        if data.len() > usize::from(u16::MAX) || canonical_rdata(rtype, data, rdata).is_none() {
            rdata.truncate(start);
            return Err(SignError::Rdata { index });
        }
        spans.push((start, rdata.len()));
    }
    spans.sort_unstable_by(|a, b| rdata[a.0..a.1].cmp(&rdata[b.0..b.1]));
    spans.dedup_by(|a, b| rdata[a.0..a.1] == rdata[b.0..b.1]);
    for &(start, end) in spans.iter() {
        message.extend_from_slice(star);
        message.extend_from_slice(owner);
        message.extend_from_slice(&rtype.to_be_bytes());
        message.extend_from_slice(&class.to_be_bytes());
        message.extend_from_slice(&ttl.to_be_bytes());
        message.extend_from_slice(&((end - start) as u16).to_be_bytes());
        message.extend_from_slice(&rdata[start..end]);
    }
    Ok(())
}

/// Appends `data`, an RDATA of `rtype`, to `out` in canonical form: the names of the types
/// RFC 4034 section 6.2 lists lowercased, except NSEC's (RFC 6840 section 5.1). `None`
/// when the RDATA does not hold the names its type says.
fn canonical_rdata(rtype: u16, data: &[u8], out: &mut Vec<u8>) -> Option<()> {
    use rtype::{MB, MD, MF, MG, MINFO, MR};
    const RP: u16 = 17;
    const AFSDB: u16 = 18;
    const RT: u16 = 21;
    const SIG: u16 = 24;
    const PX: u16 = 26;
    const NXT: u16 = 30;
    const NAPTR: u16 = 35;
    const KX: u16 = 36;
    const A6: u16 = 38;
    let start = out.len();
    out.extend_from_slice(data);
    let data = &mut out[start..];
    // (bytes before the first name, names in a row, what follows them: Some(n) exactly n
    // bytes, None anything).
    let (skip, names, after) = match rtype {
        rtype::NS | MD | MF | rtype::CNAME | MB | MG | MR | rtype::PTR | rtype::DNAME => (0, 1, Some(0)),
        rtype::SOA => (0, 2, Some(20)),
        MINFO | RP => (0, 2, Some(0)),
        rtype::MX | AFSDB | RT | KX => (2, 1, Some(0)),
        PX => (2, 2, Some(0)),
        rtype::SRV => (6, 1, Some(0)),
        SIG | rtype::RRSIG => (18, 1, None),
        NXT => (0, 1, None),
        NAPTR => {
            // Order and preference, then flags, services and regexp as character strings.
            let mut at = 4;
            for _ in 0..3 {
                at += 1 + usize::from(*data.get(at)?);
            }
            (at, 1, Some(0))
        }
        A6 => {
            let prefix = usize::from(*data.first()?);
            if prefix > 128 {
                return None;
            }
            let suffix = 1 + (128 - prefix).div_ceil(8);
            if prefix == 0 {
                return (data.len() == suffix).then_some(());
            }
            (suffix, 1, Some(0))
        }
        // HINFO is on the list but holds no name; every other type is copied as it is.
        _ => return Some(()),
    };
    let mut at = skip;
    for _ in 0..names {
        at = lowercase_name(data, at)?;
    }
    match after {
        Some(rest) if data.len() != at + rest => None,
        _ => Some(()),
    }
}

/// Lowercases the uncompressed name at `at` in place; returns the offset past it.
fn lowercase_name(data: &mut [u8], mut at: usize) -> Option<usize> {
    let start = at;
    loop {
        let len = usize::from(*data.get(at)?);
        if len > 63 {
            return None;
        }
        let label = data.get_mut(at + 1..at + 1 + len)?;
        label.make_ascii_lowercase();
        at += 1 + len;
        if at - start > crate::wire::MAX_NAME_LEN {
            return None;
        }
        if len == 0 {
            return Some(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{generate, Algorithm};
    use super::*;

    fn wire(text: &str) -> Vec<u8> {
        let mut out = crate::wire::parse_name(text).unwrap().labels;
        out.push(0);
        out
    }

    fn key(algorithm: Algorithm) -> SigningKey {
        generate(&Name::from_wire(&wire("Example.COM.")).unwrap(), algorithm, false, 0).unwrap().key
    }

    #[test]
    fn labels_leave_out_a_leading_star() {
        assert_eq!(rrsig_labels(&wire("www.example.com.")), 3);
        assert_eq!(rrsig_labels(&wire("*.example.com.")), 2);
        assert_eq!(rrsig_labels(&wire("a.*.example.com.")), 4);
        assert_eq!(rrsig_labels(&[0]), 0);
    }

    #[test]
    fn names_in_rdata_are_lowercased_for_the_listed_types_only() {
        let canonical = |rtype: u16, data: &[u8]| {
            let mut out = Vec::new();
            canonical_rdata(rtype, data, &mut out).map(|()| out)
        };
        let mx = [&[0u8, 10][..], &wire("Mail.EXAMPLE.com.")].concat();
        assert_eq!(canonical(rtype::MX, &mx).unwrap(), [&[0u8, 10][..], &wire("mail.example.com.")].concat());
        let soa = [wire("NS1.Example.COM."), wire("Host.Example.COM."), vec![0xAB; 20]].concat();
        assert_eq!(
            canonical(rtype::SOA, &soa).unwrap(),
            [wire("ns1.example.com."), wire("host.example.com."), vec![0xAB; 20]].concat()
        );
        // NSEC's next name keeps its case (RFC 6840 section 5.1); so does every other type.
        let nsec = [wire("Next.Example.COM."), vec![0, 1, 0x40]].concat();
        assert_eq!(canonical(rtype::NSEC, &nsec).unwrap(), nsec);
        assert_eq!(canonical(rtype::TXT, b"\x03ABC").unwrap(), b"\x03ABC");
        // HINFO is on the list, but its strings are no names.
        assert_eq!(canonical(13, b"\x03CPU\x02OS").unwrap(), b"\x03CPU\x02OS");
        let naptr = [&[0u8, 1, 0, 2, 1, b'S', 3, b'S', b'I', b'P', 0][..], &wire("_Sip._UDP.Example.")].concat();
        assert!(canonical(35, &naptr).unwrap().ends_with(&wire("_sip._udp.example.")));
        // Cut short, a pointer, or bytes past the name: malformed.
        assert!(canonical(rtype::MX, &mx[..mx.len() - 1]).is_none());
        assert!(canonical(rtype::CNAME, &[0xC0, 12]).is_none());
        assert!(canonical(rtype::CNAME, &[wire("a."), vec![1]].concat()).is_none());
    }

    #[test]
    fn signatures_verify_and_any_change_breaks_them() {
        for algorithm in [Algorithm::EcdsaP256Sha256, Algorithm::Ed25519] {
            let key = key(algorithm);
            let owner = wire("WWW.Example.com.");
            let records = [&wire("Web.Example.COM.")[..]];
            let fields = RrsigFields::new(&key, rtype::CNAME, &owner, 300, 1000, 2000);
            let mut scratch = Scratch::new();
            let rrsig = sign_rrset(&key, &fields, &owner, 1, &records, &mut scratch).unwrap();
            let dnskey = key.dnskey().rdata();
            assert_eq!(rrsig.len(), 18 + wire("example.com.").len() + SIGNATURE_LEN);
            assert_eq!(&rrsig[18..31], &wire("example.com.")[..], "the signer is lowercase");
            verify_rrset(dnskey, &rrsig, &owner, 1, &records, &mut scratch).unwrap();
            // The case of the owner and of the CNAME's target does not matter.
            let lower = [&wire("web.example.com.")[..]];
            verify_rrset(dnskey, &rrsig, &wire("www.example.COM."), 1, &lower, &mut scratch).unwrap();
            // Another target, owner, class or TTL field does.
            let other = [&wire("web2.example.com.")[..]];
            assert!(verify_rrset(dnskey, &rrsig, &owner, 1, &other, &mut scratch).is_err());
            assert!(verify_rrset(dnskey, &rrsig, &wire("ftp.example.com."), 1, &records, &mut scratch).is_err());
            assert!(verify_rrset(dnskey, &rrsig, &owner, 3, &records, &mut scratch).is_err());
            let mut changed = rrsig.clone();
            changed[7] ^= 1;
            assert!(verify_rrset(dnskey, &changed, &owner, 1, &records, &mut scratch).is_err());
            // Not below the signer.
            let e = verify_rrset(dnskey, &rrsig, &wire("www.example.org."), 1, &records, &mut scratch).unwrap_err();
            assert!(e.contains("below"), "{e}");
        }
    }

    #[test]
    fn order_and_duplicates_do_not_change_the_signed_data() {
        let key = key(Algorithm::Ed25519);
        let owner = wire("web.example.com.");
        let (a, b, c) = ([192u8, 0, 2, 1], [192u8, 0, 2, 2], [10u8, 0, 0, 1]);
        let fields = RrsigFields::new(&key, rtype::A, &owner, 60, 1, 2);
        let mut scratch = Scratch::new();
        let one = sign_rrset(&key, &fields, &owner, 1, &[&a, &b, &c], &mut scratch).unwrap();
        let two = sign_rrset(&key, &fields, &owner, 1, &[&c, &b, &a, &b], &mut scratch).unwrap();
        // Ed25519 is deterministic: the same signed data, the same signature.
        assert_eq!(one, two);
        verify_rrset(key.dnskey().rdata(), &one, &owner, 1, &[&b, &c, &a], &mut scratch).unwrap();
    }

    #[test]
    fn a_wildcards_signature_verifies_for_names_it_expands_to() {
        let key = key(Algorithm::EcdsaP256Sha256);
        let owner = wire("*.Wild.example.com.");
        let record = [192u8, 0, 2, 9];
        let fields = RrsigFields::new(&key, rtype::A, &owner, 60, 1, 2);
        assert_eq!(fields.labels, 3);
        let mut scratch = Scratch::new();
        let rrsig = sign_rrset(&key, &fields, &owner, 1, &[&record], &mut scratch).unwrap();
        let dnskey = key.dnskey().rdata();
        verify_rrset(dnskey, &rrsig, &owner, 1, &[&record], &mut scratch).unwrap();
        verify_rrset(dnskey, &rrsig, &wire("a.b.wild.example.com."), 1, &[&record], &mut scratch).unwrap();
        assert!(verify_rrset(dnskey, &rrsig, &wire("a.other.example.com."), 1, &[&record], &mut scratch).is_err());
    }

    #[test]
    fn refuses_what_it_cannot_sign() {
        let key = key(Algorithm::EcdsaP256Sha256);
        let owner = wire("example.com.");
        let mut fields = RrsigFields::new(&key, rtype::MX, &owner, 60, 1, 2);
        let mut scratch = Scratch::new();
        let mut out = vec![7];
        let bad: &[u8] = &[0, 10, 0xC0, 12];
        let e = sign_rrset_into(&key, &fields, &owner, 1, &[b"\0\x0a\0", bad], &mut scratch, &mut out);
        assert_eq!(e, Err(SignError::Rdata { index: 1 }));
        assert_eq!(out, [7], "nothing appended");
        assert_eq!(sign_rrset(&key, &fields, &[3, b'a'], 1, &[], &mut scratch), Err(SignError::Owner));
        fields.labels = 3;
        assert_eq!(sign_rrset(&key, &fields, &owner, 1, &[], &mut scratch), Err(SignError::Labels));
        fields.labels = 2;
        fields.key_tag ^= 1;
        assert_eq!(sign_rrset(&key, &fields, &owner, 1, &[], &mut scratch), Err(SignError::KeyMismatch));
    }
}
