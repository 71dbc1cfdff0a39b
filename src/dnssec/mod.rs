//! DNSSEC's building blocks: signing keys in BIND's file format, a zone's DNSKEY and the DS
//! its parent publishes, the canonical form of an RRset, and its RRSIG. The signatures are
//! `ring`'s: ECDSA P-256 with SHA-256 (algorithm 13) and Ed25519 (algorithm 15).
//!
//! ```text
//!  K<zone>.+013+<tag>.key / .private (text the caller read)
//!      |-- SigningKey::from_bind --> SigningKey { Dnskey, the key pair }
//!      '-- Dnskey::from_key_file --> Dnskey --> ds(), ds_text(): the DS for the parent
//!  generate(zone, algorithm, ksk, now) --> NewKey { the two files' text, their stem, the key }
//!
//!  an RRset (owner, class, uncompressed RDATAs) + RrsigFields
//!      --sign_rrset(key, .., scratch)--> RRSIG RDATA   (canonical form built in `scratch`)
//!      <-verify_rrset(dnskey, rrsig, .., scratch)--      (any DNSKEY's RDATA: tests, self-checks)
//!
//!  a multivalue set's members --subsets--> which member subsets to sign ahead of time, and
//!      the store index of the subset a query drew (rank), so answers copy an RRSIG
//!
//!  a zone's RRsets (Rrsets) + keys --sign_zone--> SignedZone: DNSKEY, CDS, CDNSKEY, the
//!      NSEC chain, and each authoritative set's RRSIGs, signed on every core
//! ```
//!
//! Nothing here reads or writes files (the caller does, and hands the text in) or reads the
//! clock (times are passed in); signing draws its nonces from the system's random source.

mod key;
mod sign;
mod signer;
pub mod subsets;

use std::fmt;

use ring::digest;

use crate::wire::Name;

pub use key::{generate, Civil, KeyError, KeyFile, KeyTiming, NewKey, SigningKey};
pub use sign::{rrsig_labels, sign_rrset, sign_rrset_into, verify_rrset, RrsigFields, Scratch, SignError};
pub use signer::{
    canonical_cmp, sign_zone, sign_zone_with, signed_ttl, write_bitmap, Rrsets, SignOptions, SignedZone, ZoneSignError,
    MAX_SIGNED_TTL,
};

/// DNSKEY flags of a zone-signing key: the Zone Key bit (RFC 4034 section 2.1.1).
pub const FLAGS_ZSK: u16 = 256;
/// DNSKEY flags of a key-signing key: Zone Key and Secure Entry Point (RFC 3757).
pub const FLAGS_KSK: u16 = 257;
/// The DNSKEY protocol field, always 3 (RFC 4034 section 2.1.2).
pub const PROTOCOL: u8 = 3;
/// DS digest type SHA-256 (RFC 4509), the one this module makes.
pub const DIGEST_SHA256: u8 = 2;
/// Length of a DS RDATA with a SHA-256 digest: key tag, algorithm, digest type, digest.
pub const DS_LEN: usize = 4 + 32;
/// Length of a signature, both algorithms: ECDSA's r and s (32 bytes each, RFC 6605) or
/// Ed25519's (RFC 8080).
pub const SIGNATURE_LEN: usize = 64;

/// The signing algorithms keys may use (RFC 8624's MUST and RECOMMENDED ones to sign with).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// 13, ECDSA on P-256 with SHA-256 (RFC 6605): the default, what Route 53 signs with.
    EcdsaP256Sha256,
    /// 15, Ed25519 (RFC 8080).
    Ed25519,
}

impl Algorithm {
    /// The values `--algorithm` and key files accept, for messages.
    pub const ACCEPTED: &'static str = "13 (ECDSAP256SHA256) or 15 (ED25519)";

    /// The algorithm a number or mnemonic names (`13`, `ECDSAP256SHA256`, `15`, `ED25519`,
    /// any letter case).
    pub fn parse(text: &str) -> Option<Algorithm> {
        let text = text.trim();
        if let Ok(number) = text.parse::<u8>() {
            return Algorithm::from_number(number);
        }
        [Algorithm::EcdsaP256Sha256, Algorithm::Ed25519].into_iter().find(|a| a.mnemonic().eq_ignore_ascii_case(text))
    }

    /// The algorithm with this number in a DNSKEY, DS or RRSIG.
    pub fn from_number(number: u8) -> Option<Algorithm> {
        match number {
            13 => Some(Algorithm::EcdsaP256Sha256),
            15 => Some(Algorithm::Ed25519),
            _ => None,
        }
    }

    /// Its number (IANA's DNS Security Algorithm Numbers).
    pub fn number(self) -> u8 {
        match self {
            Algorithm::EcdsaP256Sha256 => 13,
            Algorithm::Ed25519 => 15,
        }
    }

    /// Its mnemonic, as BIND's key files and `dnssec-keygen -a` write it.
    pub fn mnemonic(self) -> &'static str {
        match self {
            Algorithm::EcdsaP256Sha256 => "ECDSAP256SHA256",
            Algorithm::Ed25519 => "ED25519",
        }
    }

    /// Length of a public key in a DNSKEY: ECDSA's X and Y (the point's 0x04 prefix left
    /// out, RFC 6605 section 4), or Ed25519's 32 bytes.
    pub fn public_key_len(self) -> usize {
        match self {
            Algorithm::EcdsaP256Sha256 => 64,
            Algorithm::Ed25519 => 32,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.number(), self.mnemonic())
    }
}

/// The mnemonic of any algorithm number, for messages about keys this server does not sign
/// with.
pub fn algorithm_mnemonic(number: u8) -> Option<&'static str> {
    Some(match number {
        1 => "RSAMD5",
        3 => "DSA",
        5 => "RSASHA1",
        6 => "NSEC3DSA",
        7 => "NSEC3RSASHA1",
        8 => "RSASHA256",
        10 => "RSASHA512",
        12 => "ECC-GOST",
        13 => "ECDSAP256SHA256",
        14 => "ECDSAP384SHA384",
        15 => "ED25519",
        16 => "ED448",
        _ => return None,
    })
}

/// A zone's public key: its owner (the zone's apex) and its DNSKEY RDATA.
#[derive(Clone, PartialEq, Eq)]
pub struct Dnskey {
    owner: Name,
    algorithm: Algorithm,
    flags: u16,
    /// Flags, protocol, algorithm, public key.
    rdata: Box<[u8]>,
}

impl Dnskey {
    /// The key for `owner` with these flags and public key (whose length the algorithm fixes,
    /// see [`Algorithm::public_key_len`]).
    pub fn new(owner: Name, algorithm: Algorithm, flags: u16, public_key: &[u8]) -> Dnskey {
        let mut rdata = Vec::with_capacity(4 + public_key.len());
        rdata.extend_from_slice(&flags.to_be_bytes());
        rdata.push(PROTOCOL);
        rdata.push(algorithm.number());
        rdata.extend_from_slice(public_key);
        Dnskey { owner, algorithm, flags, rdata: rdata.into_boxed_slice() }
    }

    /// Reads BIND's `.key` file (`example.com. [TTL] [IN] DNSKEY 257 3 13 <base64>`, `;`
    /// comments), as `dnssec-keygen`, `ldns-keygen` and `eightfold keygen` write it.
    pub fn from_key_file(text: &str) -> Result<Dnskey, KeyError> {
        key::parse_key_file(text)
    }

    /// The zone the key belongs to.
    pub fn owner(&self) -> &Name {
        &self.owner
    }

    /// Its algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Its flags: [`FLAGS_ZSK`], [`FLAGS_KSK`] or another value with the Zone Key bit.
    pub fn flags(&self) -> u16 {
        self.flags
    }

    /// Whether the Secure Entry Point bit is set: a key-signing key, the one a DS points to.
    pub fn is_ksk(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The public key as the DNSKEY carries it.
    pub fn public_key(&self) -> &[u8] {
        &self.rdata[4..]
    }

    /// The DNSKEY RDATA; a CDNSKEY (RFC 7344) has the same bytes.
    pub fn rdata(&self) -> &[u8] {
        &self.rdata
    }

    /// The key tag RRSIGs and DS records name the key by (RFC 4034 appendix B).
    pub fn key_tag(&self) -> u16 {
        key_tag(&self.rdata)
    }

    /// The DS RDATA for the parent zone, SHA-256 digest (RFC 4509); a CDS (RFC 7344) has the
    /// same bytes.
    pub fn ds(&self) -> [u8; DS_LEN] {
        ds(&self.owner, &self.rdata)
    }

    /// The DS in presentation format, as `dnssec-dsfromkey -2` prints it:
    /// `example.com. IN DS 12345 13 2 <HEX>`.
    pub fn ds_text(&self) -> String {
        let ds = self.ds();
        let mut text = format!("{} IN DS {} {} {} ", self.owner, self.key_tag(), ds[2], ds[3]);
        for byte in &ds[4..] {
            text.push_str(&format!("{byte:02X}"));
        }
        text
    }

    /// The DNSKEY record in presentation format, as BIND's `.key` file has it:
    /// `example.com. IN DNSKEY 257 3 13 <base64>`.
    pub fn record_text(&self) -> String {
        use base64::Engine;
        let key = base64::engine::general_purpose::STANDARD.encode(self.public_key());
        format!("{} IN DNSKEY {} {} {} {key}", self.owner, self.flags, PROTOCOL, self.algorithm.number())
    }
}

impl fmt::Debug for Dnskey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dnskey({} {} {} tag {})", self.owner, self.flags, self.algorithm, self.key_tag())
    }
}

/// The key tag of a DNSKEY RDATA (RFC 4034 appendix B; algorithm 1 is not signed with here).
pub fn key_tag(dnskey_rdata: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for (i, &byte) in dnskey_rdata.iter().enumerate() {
        sum += if i % 2 == 0 { u32::from(byte) << 8 } else { u32::from(byte) };
    }
    sum += (sum >> 16) & 0xFFFF;
    (sum & 0xFFFF) as u16
}

/// The DS RDATA of the DNSKEY RDATA `dnskey_rdata` at `owner`: key tag, algorithm, digest
/// type 2 and SHA-256 over the owner in canonical form and the RDATA (RFC 4034 section 5.1.4,
/// RFC 4509). `dnskey_rdata` is at least the four bytes before the key.
pub fn ds(owner: &Name, dnskey_rdata: &[u8]) -> [u8; DS_LEN] {
    let mut context = digest::Context::new(&digest::SHA256);
    // `Name` is lowercase already: its wire form is the canonical form.
    context.update(owner.as_wire());
    context.update(dnskey_rdata);
    let mut out = [0u8; DS_LEN];
    out[..2].copy_from_slice(&key_tag(dnskey_rdata).to_be_bytes());
    out[2] = dnskey_rdata.get(3).copied().unwrap_or(0);
    out[3] = DIGEST_SHA256;
    out[4..].copy_from_slice(context.finish().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        let parsed = crate::wire::parse_name(text).unwrap();
        let mut wire = parsed.labels;
        wire.push(0);
        Name::from_wire(&wire).unwrap()
    }

    #[test]
    fn algorithms_parse_from_numbers_and_mnemonics() {
        assert_eq!(Algorithm::parse("13"), Some(Algorithm::EcdsaP256Sha256));
        assert_eq!(Algorithm::parse("ecdsap256sha256"), Some(Algorithm::EcdsaP256Sha256));
        assert_eq!(Algorithm::parse("ED25519"), Some(Algorithm::Ed25519));
        assert_eq!(Algorithm::parse("15"), Some(Algorithm::Ed25519));
        assert_eq!(Algorithm::parse("8"), None);
        assert_eq!(Algorithm::parse("RSASHA256"), None);
        assert_eq!(Algorithm::EcdsaP256Sha256.to_string(), "13 (ECDSAP256SHA256)");
    }

    /// RFC 6605 section 6.1's example: the DNSKEY, its tag and its SHA-256 DS.
    #[test]
    fn key_tag_and_ds_match_rfc_6605s_example() {
        use base64::Engine;
        let public = base64::engine::general_purpose::STANDARD
            .decode("GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edbkrSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA==")
            .unwrap();
        let key = Dnskey::new(name("example.net."), Algorithm::EcdsaP256Sha256, FLAGS_KSK, &public);
        assert_eq!(key.key_tag(), 55648);
        assert_eq!(
            key.ds_text(),
            "example.net. IN DS 55648 13 2 B4C8C1FE2E7477127B27115656AD6256F424625BF5C1E2770CE6D6E37DF61D17"
        );
        assert!(key.is_ksk());
        assert_eq!(key.record_text().split(' ').nth(2), Some("DNSKEY"));
    }

    /// RFC 8080 section 6's first example: an Ed25519 key's tag and SHA-256 DS.
    #[test]
    fn key_tag_and_ds_match_rfc_8080s_example() {
        use base64::Engine;
        let public =
            base64::engine::general_purpose::STANDARD.decode("l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=").unwrap();
        let key = Dnskey::new(name("example.com."), Algorithm::Ed25519, FLAGS_KSK, &public);
        assert_eq!(key.key_tag(), 3613);
        assert_eq!(
            key.ds_text(),
            "example.com. IN DS 3613 15 2 3AA5AB37EFCE57F737FC1627013FEE07BDF241BD10F3B1964AB55C78E79A304B"
        );
    }
}
