//! Signing keys in BIND's file format: reading a `.key` and `.private` pair, and writing a
//! new pair. The caller reads and writes the files; this module sees only their text.
//!
//! ```text
//!  Kexample.com.+013+12345.key       ; comments
//!                                    example.com. [TTL] [IN] DNSKEY 257 3 13 <X||Y, base64>
//!  Kexample.com.+013+12345.private   Private-key-format: v1.3
//!                                    Algorithm: 13 (ECDSAP256SHA256)
//!                                    PrivateKey: <the 32-byte scalar (13) or seed (15), base64>
//!                                    Publish:, Activate:, Inactive:, Delete: (optional,
//!                                    YYYYMMDDHHMMSS, UTC): when the key is in the DNSKEY
//!                                    set and when it signs (KeyTiming)
//! ```

use std::fmt;

use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

use super::{algorithm_mnemonic, Algorithm, Dnskey, SignError, FLAGS_KSK, FLAGS_ZSK, PROTOCOL, SIGNATURE_LEN};
use crate::wire::{parse_name, Name};

/// Which of a key's two files an error is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFile {
    /// The public `.key` file.
    Key,
    /// The `.private` file.
    Private,
}

impl fmt::Display for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyFile::Key => ".key",
            KeyFile::Private => ".private",
        })
    }
}

/// Why a key file was not read: the file, its line (0: the file as a whole) and what to fix.
/// The caller, who knows the path, puts it in front.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyError {
    /// The file it is in.
    pub file: KeyFile,
    /// Its line, from 1; 0 when the problem is the file as a whole (a line missing).
    pub line: usize,
    /// What is wrong, and what to fix.
    pub reason: String,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => f.write_str(&self.reason),
            line => write!(f, "line {line}: {}", self.reason),
        }
    }
}

impl std::error::Error for KeyError {}

/// A private key and its DNSKEY, ready to sign.
pub struct SigningKey {
    dnskey: Dnskey,
    timing: KeyTiming,
    pair: Pair,
    /// ECDSA's nonces come from here (ring hedges them with the key and the message).
    rng: SystemRandom,
}

enum Pair {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// When a key is published and when it signs, from the timing fields of its `.private`
/// file (BIND's, as `dnssec-settime` sets them), in seconds since 1970. A field not given
/// means always (Publish, Activate) or never (Inactive, Delete), so a key without them is
/// published and signs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyTiming {
    /// In the DNSKEY set from then.
    pub publish: Option<u64>,
    /// Signs from then.
    pub activate: Option<u64>,
    /// Signs no more from then.
    pub inactive: Option<u64>,
    /// Out of the DNSKEY set from then.
    pub delete: Option<u64>,
}

impl KeyTiming {
    /// Whether the key is in the DNSKEY set at `now`.
    pub fn published(&self, now: u64) -> bool {
        self.publish.is_none_or(|t| t <= now) && self.delete.is_none_or(|t| now < t)
    }

    /// Whether the key signs at `now` (it is published too).
    pub fn active(&self, now: u64) -> bool {
        self.published(now) && self.activate.is_none_or(|t| t <= now) && self.inactive.is_none_or(|t| now < t)
    }

    /// The first of its times after `now`, when what it does changes.
    pub fn next_event(&self, now: u64) -> Option<u64> {
        [self.publish, self.activate, self.inactive, self.delete].into_iter().flatten().filter(|&t| t > now).min()
    }
}

impl SigningKey {
    /// Reads a key from the text of BIND's two files, `.key` and `.private` (format v1.2
    /// or v1.3, as `dnssec-keygen`, `ldns-keygen` and `eightfold keygen` write), and checks
    /// that they are two halves of one key.
    pub fn from_bind(key_text: &str, private_text: &str) -> Result<SigningKey, KeyError> {
        let dnskey = parse_key_file(key_text)?;
        let private = parse_private_file(private_text, dnskey.algorithm())?;
        let mismatch = || KeyError {
            file: KeyFile::Private,
            line: private.line,
            reason: format!(
                "PrivateKey does not belong to the public key in the .key file (tag {}): the two files are of \
                 different keys",
                dnskey.key_tag()
            ),
        };
        let pair = match dnskey.algorithm() {
            Algorithm::EcdsaP256Sha256 => {
                let public = uncompressed_point(dnskey.public_key());
                EcdsaKeyPair::from_private_key_and_public_key(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    &private.bytes,
                    &public,
                    &SystemRandom::new(),
                )
                .map(Pair::Ecdsa)
                .map_err(|e| match e.to_string().as_str() {
                    "InconsistentComponents" => mismatch(),
                    other => KeyError {
                        file: KeyFile::Private,
                        line: private.line,
                        reason: format!(
                            "PrivateKey is not a P-256 private key for the .key's public key ({other}): is either \
                             file damaged?"
                        ),
                    },
                })?
            }
            Algorithm::Ed25519 => {
                let pair = Ed25519KeyPair::from_seed_unchecked(&private.bytes).map_err(|_| mismatch())?;
                if pair.public_key().as_ref() != dnskey.public_key() {
                    return Err(mismatch());
                }
                Pair::Ed25519(pair)
            }
        };
        Ok(SigningKey { dnskey, timing: private.timing, pair, rng: SystemRandom::new() })
    }

    /// Its public half: owner, flags, algorithm, key tag, DS.
    pub fn dnskey(&self) -> &Dnskey {
        &self.dnskey
    }

    /// When it is published and when it signs.
    pub fn timing(&self) -> KeyTiming {
        self.timing
    }

    /// Signs `message` (an RRset's canonical form, see [`super::sign_rrset`]).
    pub(super) fn sign(&self, message: &[u8]) -> Result<[u8; SIGNATURE_LEN], SignError> {
        let mut out = [0u8; SIGNATURE_LEN];
        match &self.pair {
            Pair::Ecdsa(pair) => {
                let signature = pair.sign(&self.rng, message).map_err(|_| SignError::Random)?;
                out.copy_from_slice(signature.as_ref());
            }
            Pair::Ed25519(pair) => out.copy_from_slice(pair.sign(message).as_ref()),
        }
        Ok(out)
    }
}

impl fmt::Debug for SigningKey {
    /// The public half only: a private key is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({:?})", self.dnskey)
    }
}

/// A key just made: the text of its two files, their common stem, and the key itself.
pub struct NewKey {
    /// `K<zone>.+<algorithm, 3 digits>+<key tag, 5 digits>`, as BIND names its files; the
    /// files are this with `.key` and `.private` appended.
    pub stem: String,
    /// The `.key` file.
    pub key_text: String,
    /// The `.private` file, secret.
    pub private_text: String,
    /// The key, to sign with.
    pub key: SigningKey,
}

/// Makes a new key for `zone` (a key-signing key, flags 257, when `ksk`, else a
/// zone-signing key, 256) and writes its two files' text in BIND's format, dated `now`
/// (seconds since 1970) as `dnssec-keygen` dates them.
pub fn generate(zone: &Name, algorithm: Algorithm, ksk: bool, now: u64) -> Result<NewKey, SignError> {
    let rng = SystemRandom::new();
    let (private, public) = match algorithm {
        Algorithm::EcdsaP256Sha256 => ecdsa_components(&rng)?,
        Algorithm::Ed25519 => {
            let mut seed = [0u8; 32];
            rng.fill(&mut seed).map_err(|_| SignError::Random)?;
            let pair = Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|_| SignError::Random)?;
            (seed, pair.public_key().as_ref().to_vec())
        }
    };
    let flags = if ksk { FLAGS_KSK } else { FLAGS_ZSK };
    let dnskey = Dnskey::new(zone.clone(), algorithm, flags, &public);
    let tag = dnskey.key_tag();
    let stem = format!("K{}+{:03}+{tag:05}", file_name_text(zone), algorithm.number());
    let (stamp, human) = (bind_time(now), human_time(now));
    let kind = if ksk { "key-signing" } else { "zone-signing" };
    let key_text = format!(
        "; This is a {kind} key, keyid {tag}, for {zone}\n; Created: {stamp} ({human})\n; Publish: {stamp} \
         ({human})\n; Activate: {stamp} ({human})\n{}\n",
        dnskey.record_text()
    );
    let private_text = format!(
        "Private-key-format: v1.3\nAlgorithm: {algorithm}\nPrivateKey: {}\nCreated: {stamp}\nPublish: \
         {stamp}\nActivate: {stamp}\n",
        base64::engine::general_purpose::STANDARD.encode(private)
    );
    // Read back as any key is: the files written are the files that work.
    let key = SigningKey::from_bind(&key_text, &private_text).map_err(|_| SignError::Random)?;
    Ok(NewKey { stem, key_text, private_text, key })
}

/// Reads a `.key` file into its DNSKEY.
pub(super) fn parse_key_file(text: &str) -> Result<Dnskey, KeyError> {
    let fail = |line: usize, reason: String| KeyError { file: KeyFile::Key, line, reason };
    let mut record: Option<(usize, Vec<&str>)> = None;
    for (index, full) in text.lines().enumerate() {
        let line = index + 1;
        let tokens: Vec<&str> = full.split(';').next().unwrap_or("").split_whitespace().collect();
        if tokens.is_empty() {
            continue;
        }
        if let Some((first, _)) = &record {
            return Err(fail(line, format!("a second record: a .key file holds one DNSKEY, on line {first}")));
        }
        if tokens.iter().any(|t| t.contains('(') || t.contains(')')) {
            return Err(fail(line, "the record is split with ( ): write the DNSKEY on one line".into()));
        }
        record = Some((line, tokens));
    }
    let Some((line, tokens)) = record else {
        return Err(fail(0, "no DNSKEY record: expected `example.com. IN DNSKEY 257 3 13 <base64>`".into()));
    };
    let fail = |reason: String| fail(line, reason);
    let mut tokens = tokens.into_iter();
    let owner_text = tokens.next().unwrap_or("");
    let owner = parse_name(owner_text).map_err(|e| fail(format!("owner {owner_text:?}: {e}")))?;
    if !owner.absolute {
        return Err(fail(format!("owner {owner_text:?} has no final dot: write the zone's name as `{owner_text}.`")));
    }
    let mut wire = owner.labels;
    wire.push(0);
    let owner = Name::from_wire(&wire).ok_or_else(|| fail(format!("owner {owner_text:?} is not a valid name")))?;
    // [TTL] [class], in either order, then the type.
    loop {
        match tokens.next() {
            Some(t) if t.eq_ignore_ascii_case("DNSKEY") => break,
            Some(t) if t.eq_ignore_ascii_case("IN") || t.parse::<u32>().is_ok() => {}
            Some(t) if ["DS", "CDS", "CDNSKEY", "RRSIG"].iter().any(|k| t.eq_ignore_ascii_case(k)) => {
                return Err(fail(format!("a {t} record, not a DNSKEY: give the key's .key file")))
            }
            Some(t) => {
                return Err(fail(format!("expected `[TTL] [IN] DNSKEY` after the owner, found {t:?}")));
            }
            None => return Err(fail("no DNSKEY type after the owner".into())),
        }
    }
    let mut field = |what: &str| tokens.next().ok_or_else(|| fail(format!("the record ends before its {what}")));
    let flags_text = field("flags")?;
    let flags = match flags_text.parse::<u16>() {
        Ok(flags @ (FLAGS_ZSK | FLAGS_KSK)) => flags,
        _ => {
            return Err(fail(format!(
                "flags {flags_text}: a zone's key has 256 (zone-signing) or 257 (key-signing; a revoked key, 385, \
                 is not signed with)"
            )))
        }
    };
    let protocol = field("protocol")?;
    if protocol != PROTOCOL.to_string() {
        return Err(fail(format!("protocol {protocol}: a DNSKEY's is always 3")));
    }
    let algorithm_text = field("algorithm")?;
    let algorithm = Algorithm::parse(algorithm_text).ok_or_else(|| fail(unsupported(algorithm_text)))?;
    let key_text: String = tokens.collect();
    if key_text.is_empty() {
        return Err(fail("the record ends before its public key".into()));
    }
    let public = decode(&key_text, "the public key", algorithm.public_key_len()).map_err(fail)?;
    Ok(Dnskey::new(owner, algorithm, flags, &public))
}

/// The key material of a `.private` file, and the line it was on; its timing fields.
struct PrivateKey {
    bytes: Vec<u8>,
    line: usize,
    timing: KeyTiming,
}

impl Drop for PrivateKey {
    fn drop(&mut self) {
        self.bytes.fill(0);
    }
}

/// Reads a `.private` file whose `.key` says `algorithm`.
fn parse_private_file(text: &str, algorithm: Algorithm) -> Result<PrivateKey, KeyError> {
    let fail = |line: usize, reason: String| KeyError { file: KeyFile::Private, line, reason };
    let (mut format, mut named, mut key) = (None, None, None);
    let mut timing = KeyTiming::default();
    for (index, full) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = full.trim();
        if trimmed.is_empty() || trimmed.starts_with(';') {
            continue;
        }
        let Some((field, value)) = trimmed.split_once(':') else {
            if trimmed.split_whitespace().any(|t| t.eq_ignore_ascii_case("DNSKEY")) {
                return Err(fail(line, "a DNSKEY record, the .key file's: give the key's .private file".into()));
            }
            return Err(fail(line, format!("expected `Field: value`, found {trimmed:?}")));
        };
        let time = match field.trim() {
            "Publish" => Some(&mut timing.publish),
            "Activate" => Some(&mut timing.activate),
            "Inactive" => Some(&mut timing.inactive),
            "Delete" => Some(&mut timing.delete),
            _ => None,
        };
        if let Some(time) = time {
            let value = value.trim();
            *time = Some(parse_time(value).ok_or_else(|| {
                fail(line, format!("{}: {value:?} is not a time as YYYYMMDDHHMMSS (UTC)", field.trim()))
            })?);
            continue;
        }
        let slot = match field.trim() {
            "Private-key-format" => &mut format,
            "Algorithm" => &mut named,
            "PrivateKey" => &mut key,
            // Timing metadata (Created, Publish, Activate, ...), and RSA's fields, which the
            // algorithm check refuses.
            _ => continue,
        };
        if slot.is_some() {
            return Err(fail(line, format!("{} given twice", field.trim())));
        }
        *slot = Some((line, value.trim()));
    }
    let missing = |field: &str| fail(0, format!("no `{field}:` line: is this BIND's .private file of the key?"));
    let (line, version) = format.ok_or_else(|| missing("Private-key-format"))?;
    if !version.starts_with("v1.") {
        return Err(fail(
            line,
            format!("Private-key-format {version}: only v1.x, BIND's format (v1.2, v1.3), is read"),
        ));
    }
    let (line, named) = named.ok_or_else(|| missing("Algorithm"))?;
    let number = named.split_whitespace().next().unwrap_or("");
    match Algorithm::parse(number) {
        Some(found) if found == algorithm => {}
        Some(found) => {
            return Err(fail(line, format!("Algorithm {found}, but the .key file's is {algorithm}: files of two keys")))
        }
        None => return Err(fail(line, unsupported(number))),
    }
    let (line, value) = key.ok_or_else(|| missing("PrivateKey"))?;
    let bytes = match algorithm {
        // ECDSA's private key is an integer, and ldns-keygen writes it without leading zero
        // bytes (OpenSSL's BN_bn2bin), so one key in 256 is 31 bytes, one in 65,536 is 30:
        // put the zeros back.
        Algorithm::EcdsaP256Sha256 => decode_integer(value, "PrivateKey", 32),
        // Ed25519's is a 32-byte seed, written whole.
        Algorithm::Ed25519 => decode(value, "PrivateKey", 32),
    }
    .map_err(|reason| fail(line, reason))?;
    Ok(PrivateKey { bytes, line, timing })
}

/// A key file's time, YYYYMMDDHHMMSS in UTC, as seconds since 1970.
fn parse_time(text: &str) -> Option<u64> {
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let field = |range: std::ops::Range<usize>| text[range].parse::<i64>().ok();
    let (year, month, day) = (field(0..4)?, field(4..6)?, field(6..8)?);
    let (hour, minute, second) = (field(8..10)?, field(10..12)?, field(12..14)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second).ok()
}

/// A message for an algorithm this server does not sign with.
fn unsupported(text: &str) -> String {
    let named = text.parse::<u8>().ok().and_then(algorithm_mnemonic).map(|m| format!(" ({m})")).unwrap_or_default();
    format!("algorithm {text}{named} is not one eightfold signs with: make a key with {}", Algorithm::ACCEPTED)
}

/// Decodes base64; the error names `what`.
fn base64(text: &str, what: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("{what} is not valid base64 ({e}): is it cut short or damaged?"))
}

/// Decodes base64 that must be `len` bytes; the error names `what`.
fn decode(text: &str, what: &str, len: usize) -> Result<Vec<u8>, String> {
    let bytes = base64(text, what)?;
    if bytes.len() != len {
        return Err(format!("{what} is {} bytes, this algorithm's is {len}: is it cut short or damaged?", bytes.len()));
    }
    Ok(bytes)
}

/// Decodes base64 of a big-endian integer of at most `len` bytes, which the writer may have
/// written without its leading zero bytes, as `len` bytes; the error names `what`.
fn decode_integer(text: &str, what: &str, len: usize) -> Result<Vec<u8>, String> {
    let mut bytes = base64(text, what)?;
    if bytes.is_empty() || bytes.len() > len {
        let found = bytes.len();
        bytes.fill(0);
        return Err(format!("{what} is {found} bytes, this algorithm's is 1 to {len}: is it cut short or damaged?"));
    }
    let mut whole = vec![0u8; len];
    whole[len - bytes.len()..].copy_from_slice(&bytes);
    bytes.fill(0);
    Ok(whole)
}

/// The point in SEC 1's uncompressed form (0x04, X, Y) of a DNSKEY's X and Y.
pub(super) fn uncompressed_point(xy: &[u8]) -> [u8; 65] {
    let mut point = [0u8; 65];
    point[0] = 4;
    point[1..].copy_from_slice(xy);
    point
}

/// A new P-256 key: the private scalar and the public X and Y. ring makes keys only as
/// PKCS#8 documents (RFC 5915's ECPrivateKey inside, without parameters, public key
/// included); its layout for P-256 is fixed, and checked here.
fn ecdsa_components(rng: &SystemRandom) -> Result<([u8; 32], Vec<u8>), SignError> {
    const HEAD: [u8; 36] = [
        0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
        0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x6d, 0x30, 0x6b, 0x02, 0x01, 0x01, 0x04, 0x20,
    ];
    const MIDDLE: [u8; 6] = [0xa1, 0x44, 0x03, 0x42, 0x00, 0x04];
    let document =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, rng).map_err(|_| SignError::Random)?;
    let bytes = document.as_ref();
    if bytes.len() != HEAD.len() + 32 + MIDDLE.len() + 64 || bytes[..36] != HEAD || bytes[68..74] != MIDDLE {
        return Err(SignError::Random);
    }
    let mut private = [0u8; 32];
    private.copy_from_slice(&bytes[36..68]);
    Ok((private, bytes[74..].to_vec()))
}

/// A zone's name as BIND writes it in key file names: lowercase, with a final dot; bytes
/// other than letters, digits, `-` and `_` as `%xx`, so no name makes a path.
fn file_name_text(zone: &Name) -> String {
    let wire = zone.as_wire();
    if wire == [0] {
        return ".".into();
    }
    let mut text = String::new();
    let mut at = 0;
    while wire[at] != 0 {
        let len = wire[at] as usize;
        for &byte in &wire[at + 1..at + 1 + len] {
            if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
                text.push(byte as char);
            } else {
                text.push_str(&format!("%{byte:02x}"));
            }
        }
        text.push('.');
        at += 1 + len;
    }
    text
}

/// A time as key files carry it: `YYYYMMDDHHMMSS`, UTC.
fn bind_time(unix: u64) -> String {
    let t = Civil::from_unix(unix);
    format!("{:04}{:02}{:02}{:02}{:02}{:02}", t.year, t.month, t.day, t.hour, t.minute, t.second)
}

/// A time as `dnssec-keygen`'s comments show it (C's `ctime`): `Sun Dec  6 22:47:22 2026`.
fn human_time(unix: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let t = Civil::from_unix(unix);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[t.weekday],
        MONTHS[t.month as usize - 1],
        t.day,
        t.hour,
        t.minute,
        t.second,
        t.year
    )
}

/// A UTC date and time (key files' and RRSIGs' timestamps).
pub struct Civil {
    /// The year.
    pub year: i64,
    /// 1 to 12.
    pub month: u32,
    /// 1 to 31.
    pub day: u32,
    /// 0 to 23.
    pub hour: u64,
    /// 0 to 59.
    pub minute: u64,
    /// 0 to 59.
    pub second: u64,
    /// 0 for Sunday.
    pub weekday: usize,
}

impl Civil {
    /// Seconds since 1970 as a date (Howard Hinnant's `civil_from_days`).
    pub fn from_unix(unix: u64) -> Civil {
        let days = (unix / 86_400) as i64;
        let seconds = unix % 86_400;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z - era * 146_097;
        let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let shifted_month = (5 * day_of_year + 2) / 153;
        let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
        let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 } as u32;
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: seconds / 3600,
            minute: seconds / 60 % 60,
            second: seconds % 60,
            // 1970-01-01 was a Thursday.
            weekday: ((days + 4) % 7) as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_times_read_back_as_written() {
        for unix in [0u64, 951_782_400, 1_700_000_000, 1_798_761_599, 4_102_444_800] {
            assert_eq!(parse_time(&bind_time(unix)), Some(unix), "{}", bind_time(unix));
        }
        for bad in ["2026120700000", "20261307000000", "2026120724000x", "20261232000000"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_key_publishes_and_signs_between_its_times() {
        let t = KeyTiming { publish: Some(100), activate: Some(200), inactive: Some(300), delete: Some(400) };
        let states: Vec<(bool, bool)> =
            [50, 150, 250, 350, 450].iter().map(|&n| (t.published(n), t.active(n))).collect();
        assert_eq!(states, [(false, false), (true, false), (true, true), (true, false), (false, false)]);
        assert_eq!(t.next_event(250), Some(300));
        assert_eq!(t.next_event(400), None);
        let always = KeyTiming::default();
        assert!(always.published(0) && always.active(u64::MAX - 1) && always.next_event(0).is_none());
    }

    fn name(text: &str) -> Name {
        let mut wire = parse_name(text).unwrap().labels;
        wire.push(0);
        Name::from_wire(&wire).unwrap()
    }

    /// A pair `dnssec-keygen -a ECDSAP256SHA256 -f KSK Example.COM` wrote.
    const BIND_KEY: &str = "; This is a key-signing key, keyid 59567, for Example.COM.
; Created: 20261206224722 (Sun Dec  6 22:47:22 2026)
Example.COM. IN DNSKEY 257 3 13 1rnaOMD4wDeQObnyq/9QL6vrH8mLHHr6E8xPfznGgy2OkzxxLFUA9nxa /9x/aORj3fjrP/IdTqzprv5lXxVQlw==
";
    const BIND_PRIVATE: &str = "Private-key-format: v1.3
Algorithm: 13 (ECDSAP256SHA256)
PrivateKey: jSoR4TAndpstdWVxU0s0DFxd9xT/dIR3JqENoQLvsL4=
Created: 20261206224722
";
    /// A pair `ldns-keygen -a ED25519 -k example.org` wrote (format v1.2, a comment after
    /// the record, tabs).
    const LDNS_KEY: &str =
        "example.org.\tIN\tDNSKEY\t257 3 15 WpImG/L3QhUrcppCk7XMfpAlbO8n2VSHNB0s+6yEsII= ;{id = 5961 (ksk), size = 256b}\n";
    const LDNS_PRIVATE: &str = "Private-key-format: v1.2
Algorithm: 15 (ED25519)
PrivateKey: NA+DRG3rUzelUyaALEd0ojEDsttvwfGhOEwYhPv005k=
";

    /// A pair `ldns-keygen -a ECDSAP256SHA256 -k example.org` wrote whose private key's first
    /// byte is zero: ldns leaves it out, so the key is 31 bytes.
    const LDNS_SHORT_KEY: &str = "example.org.\tIN\tDNSKEY\t257 3 13 gxemMnNYH+IQZK8KvoDnQFQlrOVWx8o0LExmYoh1yXnWRe38sFDH4XayBCp5ER55Lt8Vmd+azCIIcE1rY9hY+A== ;{id = 32294 (ksk), size = 256b}\n";
    const LDNS_SHORT_PRIVATE: &str = "Private-key-format: v1.2
Algorithm: 13 (ECDSAP256SHA256)
PrivateKey: FM7Dx10iE85kZw404XZ68zPsWJfDb7adpNNSuZ2IUg==
";

    #[test]
    fn an_ecdsa_key_written_without_its_leading_zero_bytes_is_read() {
        let key = SigningKey::from_bind(LDNS_SHORT_KEY, LDNS_SHORT_PRIVATE).unwrap();
        assert_eq!(key.dnskey().key_tag(), 32294);
        assert_eq!(key.sign(b"signed").unwrap().len(), SIGNATURE_LEN);
        // Written with the zero, as BIND and eightfold write it, it is the same key.
        let whole = LDNS_SHORT_PRIVATE
            .replace("FM7Dx10iE85kZw404XZ68zPsWJfDb7adpNNSuZ2IUg==", "ABTOw8ddIhPOZGcONOF2evMz7FiXw2+2naTTUrmdiFI=");
        let again = SigningKey::from_bind(LDNS_SHORT_KEY, &whole).unwrap();
        assert_eq!(again.dnskey(), key.dnskey());
        // A scalar shorter by more bytes is still this key only if it is this key: a key cut
        // short at the end is refused as another key's.
        let cut = LDNS_SHORT_PRIVATE
            .replace("FM7Dx10iE85kZw404XZ68zPsWJfDb7adpNNSuZ2IUg==", "FM7Dx10iE85kZw404XZ68zPsWJfDb7adpNNSuZ2I");
        let e = key_error(LDNS_SHORT_KEY, &cut);
        assert!(e.reason.contains("does not belong to the public key"), "{e}");
        let long = LDNS_SHORT_PRIVATE
            .replace("FM7Dx10iE85kZw404XZ68zPsWJfDb7adpNNSuZ2IUg==", "AAAUzsPHXSITzmRnDjThdnrzM+xYl8Nvtp2k01K5nYhS");
        let e = key_error(LDNS_SHORT_KEY, &long);
        assert_eq!((e.file, e.line), (KeyFile::Private, 3), "{e}");
        assert!(e.reason.contains("PrivateKey is 33 bytes, this algorithm's is 1 to 32"), "{e}");
        // Ed25519's seed is not an integer: 31 bytes of it are a damaged file.
        let e = key_error(
            LDNS_KEY,
            &LDNS_PRIVATE.replace(
                "NA+DRG3rUzelUyaALEd0ojEDsttvwfGhOEwYhPv005k=",
                "NA+DRG3rUzelUyaALEd0ojEDsttvwfGhOEwYhPv00w==",
            ),
        );
        assert!(e.reason.contains("PrivateKey is 31 bytes, this algorithm's is 32"), "{e}");
    }

    #[test]
    fn reads_bind_and_ldns_key_pairs() {
        let key = SigningKey::from_bind(BIND_KEY, BIND_PRIVATE).unwrap();
        assert_eq!(key.dnskey().key_tag(), 59567);
        assert_eq!(key.dnskey().owner(), &name("example.com."));
        assert!(key.dnskey().is_ksk());
        assert_eq!(
            key.dnskey().ds_text(),
            "example.com. IN DS 59567 13 2 E0E51FFF6A70BC0798464BFB05127E16B2DA188ECD572EE9F230C7C9A901AD14"
        );
        let key = SigningKey::from_bind(LDNS_KEY, LDNS_PRIVATE).unwrap();
        assert_eq!(key.dnskey().algorithm(), Algorithm::Ed25519);
        assert_eq!(key.dnskey().key_tag(), 5961);
        assert!(format!("{key:?}").contains("example.org."), "{key:?}");
    }

    #[test]
    fn a_new_key_reads_back_and_is_named_as_bind_names_it() {
        for (algorithm, ksk) in [(Algorithm::EcdsaP256Sha256, true), (Algorithm::Ed25519, false)] {
            let new = generate(&name("Example.COM."), algorithm, ksk, 1_796_597_242).unwrap();
            let tag = new.key.dnskey().key_tag();
            assert_eq!(new.stem, format!("Kexample.com.+{:03}+{tag:05}", algorithm.number()));
            let again = SigningKey::from_bind(&new.key_text, &new.private_text).unwrap();
            assert_eq!(again.dnskey(), new.key.dnskey());
            assert_eq!(again.dnskey().is_ksk(), ksk);
            assert!(
                new.key_text.contains("; Created: 20261206224722 (Sun Dec  6 22:47:22 2026)\n"),
                "{}",
                new.key_text
            );
            assert!(new.private_text.contains("\nActivate: 20261206224722\n"), "{}", new.private_text);
        }
        assert_eq!(file_name_text(&Name::root()), ".");
        assert_eq!(file_name_text(&name("a/b.example.")), "a%2fb.example.");
    }

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(bind_time(0), "19700101000000");
        assert_eq!(human_time(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(bind_time(951_782_400), "20000229000000");
        assert_eq!(human_time(4_102_444_799), "Thu Dec 31 23:59:59 2099");
    }

    fn key_error(key: &str, private: &str) -> KeyError {
        SigningKey::from_bind(key, private).unwrap_err()
    }

    #[test]
    fn a_pair_of_two_keys_is_refused() {
        let other = generate(&name("example.com."), Algorithm::EcdsaP256Sha256, true, 0).unwrap();
        let e = key_error(BIND_KEY, &other.private_text);
        assert_eq!((e.file, e.line), (KeyFile::Private, 3), "{e}");
        assert!(e.reason.contains("does not belong to the public key"), "{e}");
        let other = generate(&name("example.org."), Algorithm::Ed25519, true, 0).unwrap();
        let e = key_error(LDNS_KEY, &other.private_text);
        assert!(e.reason.contains("does not belong to the public key"), "{e}");
        let e = key_error(BIND_KEY, LDNS_PRIVATE);
        assert_eq!((e.file, e.line), (KeyFile::Private, 2), "{e}");
        assert!(e.reason.contains("Algorithm 15 (ED25519), but the .key file's is 13 (ECDSAP256SHA256)"), "{e}");
    }

    #[test]
    fn bad_key_files_name_what_to_fix() {
        let cases: [(&str, &str, KeyFile, usize, &str); 13] = [
            (
                &BIND_KEY.replace("13 1rna", "8 1rna"),
                BIND_PRIVATE,
                KeyFile::Key,
                3,
                "algorithm 8 (RSASHA256) is not one",
            ),
            (&BIND_KEY.replace("w==", ""), BIND_PRIVATE, KeyFile::Key, 3, "the public key is not valid base64"),
            (&BIND_KEY.replace(" /9x/aORj3fjrP/IdTqzprv5lXxVQlw==", ""), BIND_PRIVATE, KeyFile::Key, 3, "is 42 bytes"),
            (&BIND_KEY.replace("257", "1"), BIND_PRIVATE, KeyFile::Key, 3, "flags 1: a zone's key has 256"),
            (&BIND_KEY.replace("Example.COM. IN", "Example.COM IN"), BIND_PRIVATE, KeyFile::Key, 3, "no final dot"),
            (&BIND_KEY.replace("DNSKEY", "DS"), BIND_PRIVATE, KeyFile::Key, 3, "a DS record, not a DNSKEY"),
            (&format!("{BIND_KEY}{BIND_KEY}"), BIND_PRIVATE, KeyFile::Key, 6, "a second record"),
            ("; nothing\n", BIND_PRIVATE, KeyFile::Key, 0, "no DNSKEY record"),
            (BIND_KEY, &BIND_PRIVATE.replace("L4=", ""), KeyFile::Private, 3, "PrivateKey is not valid base64"),
            (BIND_KEY, &BIND_PRIVATE.replace("v1.3", "v2.0"), KeyFile::Private, 1, "only v1.x"),
            (BIND_KEY, &BIND_PRIVATE.replace("PrivateKey", "Key"), KeyFile::Private, 0, "no `PrivateKey:` line"),
            (BIND_KEY, BIND_KEY, KeyFile::Private, 3, "a DNSKEY record, the .key file's"),
            (BIND_KEY, "PrivateKey jSoR\n", KeyFile::Private, 1, "expected `Field: value`"),
        ];
        for (key, private, file, line, reason) in cases {
            let e = SigningKey::from_bind(key, private).expect_err(reason);
            assert_eq!((e.file, e.line), (file, line), "{e}");
            assert!(e.reason.contains(reason), "{e:?} lacks {reason:?}");
        }
    }
}
