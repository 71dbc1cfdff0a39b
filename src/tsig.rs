//! TSIG (RFC 8945): the keys this server shares with its clients, checking the signature of a
//! signed query and signing the answer to it. The HMACs are `ring`'s. Nothing here does I/O
//! or reads a clock (the caller passes the time in), and nothing allocates per query: the
//! caller lends a buffer, allocated once.
//!
//! ```text
//!  [[tsig_key]] --config--> (name, Algorithm, Secret) --zone::Catalog::build--> KeyRing,
//!                                                        published with the zones
//!
//!  a signed query (wire::Rejection::Signed; the answer path's cold side):
//!    verify(keys, packet, record, now, scratch)
//!      key or algorithm unknown ........ Unsigned(BADKEY) } NOTAUTH, unsigned TSIG
//!      MAC does not match .............. Unsigned(BADSIG) } (write_unsigned_error)
//!      MAC size the RFC forbids ........ Malformed: FORMERR
//!      time signed outside the fudge ... BadTime: NOTAUTH, signed, with the server's time
//!      else Valid: the question is answered as any other; Signer::sign appends the
//!                  answer's TSIG
//! ```
//!
//! One message per query: multi-message signing (RFC 8945 section 5.3.1) is for zone
//! transfers, which this server does not serve.

use std::collections::HashMap;
use std::fmt;

use ring::hmac;

use crate::wire::{self, copy_name, rcode, rtype, Name, Opt, TsigRecord, MAX_NAME_LEN};

/// The fudge this server's signed answers carry: the seconds its clock may be off either way,
/// as `dig` and `kdig` send.
pub const FUDGE: u16 = 300;

/// The most a query can ask of the buffer [`verify`] is lent: the largest DNS message, with
/// room for the TSIG variables (two names, class, TTL and the fixed fields).
pub const SCRATCH_LEN: usize = 65_535 + 2 * MAX_NAME_LEN + 6 + 16;

/// TSIG error codes (RFC 8945 section 3) this server sends.
pub mod error {
    /// The MAC does not match.
    pub const BADSIG: u16 = 16;
    /// The key, or its algorithm, is not known.
    pub const BADKEY: u16 = 17;
    /// Time Signed is outside the fudge.
    pub const BADTIME: u16 = 18;
}

/// The HMAC algorithms keys may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// `hmac-sha256` (RFC 4635), what `tsig-keygen` and `keymgr` make by default.
    HmacSha256,
    /// `hmac-sha512` (RFC 4635).
    HmacSha512,
}

impl Algorithm {
    /// The names a config may give, for messages.
    pub const NAMES: &'static str = "hmac-sha256, hmac-sha512";

    /// The algorithm a config names (any letter case, a final dot allowed).
    pub fn parse(text: &str) -> Option<Algorithm> {
        let text = text.strip_suffix('.').unwrap_or(text);
        [Algorithm::HmacSha256, Algorithm::HmacSha512].into_iter().find(|a| a.as_str().eq_ignore_ascii_case(text))
    }

    /// Its name in a config and in presentation format.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::HmacSha512 => "hmac-sha512",
        }
    }

    /// Its name in wire form, as a TSIG record's Algorithm Name carries it.
    pub fn wire_name(self) -> &'static [u8] {
        match self {
            Algorithm::HmacSha256 => b"\x0bhmac-sha256\x00",
            Algorithm::HmacSha512 => b"\x0bhmac-sha512\x00",
        }
    }

    /// The length of its whole MAC, in bytes.
    pub fn mac_len(self) -> usize {
        self.hmac().digest_algorithm().output_len()
    }

    /// The shortest MAC accepted: half the hash, and at least 10 bytes (RFC 8945 section
    /// 5.2.2.1).
    pub fn shortest_mac(self) -> usize {
        (self.mac_len() / 2).max(10)
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            Algorithm::HmacSha256 => hmac::HMAC_SHA256,
            Algorithm::HmacSha512 => hmac::HMAC_SHA512,
        }
    }
}

/// A shared secret. Its bytes are never printed: `Debug` shows only how many there are.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<[u8]>);

impl Secret {
    /// A secret of these bytes.
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(bytes.into_boxed_slice())
    }

    /// How many bytes it has.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// One key, ready to sign and verify.
struct Key {
    /// The key's name, lowercase (the canonical form the MAC covers).
    name: Name,
    algorithm: Algorithm,
    hmac: hmac::Key,
}

/// Every key the server knows, by name.
#[derive(Default)]
pub struct KeyRing {
    keys: HashMap<Box<[u8]>, Key>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.keys.values().map(|k| (&k.name, k.algorithm))).finish()
    }
}

impl KeyRing {
    /// A ring of `keys`; of two with one name, the last counts (config validation refuses
    /// that).
    pub fn new<'a>(keys: impl IntoIterator<Item = (&'a Name, Algorithm, &'a Secret)>) -> KeyRing {
        let keys = keys
            .into_iter()
            .map(|(name, algorithm, secret)| {
                let key = Key { name: name.clone(), algorithm, hmac: hmac::Key::new(algorithm.hmac(), &secret.0) };
                (name.as_wire().into(), key)
            })
            .collect();
        KeyRing { keys }
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// What [`verify`] found.
pub enum Verdict<'a> {
    /// Signed with a known key, the MAC matches and the time is within the fudge: answer the
    /// query, then sign the answer with [`Signer::sign`].
    Valid(Signer<'a>),
    /// The MAC matches but the time signed is outside the fudge: BADTIME, signed
    /// ([`Signer::sign_bad_time`]).
    BadTime(Signer<'a>),
    /// NOTAUTH with this TSIG error (BADKEY or BADSIG) and an unsigned TSIG record
    /// ([`write_unsigned_error`]); a signed reply would need a key and MAC that check.
    Unsigned(u16),
    /// A MAC longer than the hash or shorter than the RFC allows, or names that cannot be
    /// read: FORMERR (RFC 8945 sections 5.2 and 5.2.2.1).
    Malformed,
}

/// Signs the answer to a query whose signature checked: the key, and the query's TSIG.
pub struct Signer<'a> {
    key: &'a Key,
    packet: &'a [u8],
    record: TsigRecord,
}

/// Checks the TSIG `record` of the query `packet` against `keys` at `now` (seconds since the
/// epoch), in the order RFC 8945 section 5.2 gives: key, MAC, time. `scratch` is lent for the
/// data the MAC covers; it is sized for any query the first time, and never again.
pub fn verify<'a>(
    keys: &'a KeyRing,
    packet: &'a [u8],
    record: TsigRecord,
    now: u64,
    scratch: &mut Vec<u8>,
) -> Verdict<'a> {
    let mut name = [0u8; MAX_NAME_LEN];
    let Some(len) = copy_name(packet, record.owner, &mut name, 0) else { return Verdict::Malformed };
    name[..len].make_ascii_lowercase();
    let Some(key) = keys.keys.get(&name[..len]) else { return Verdict::Unsigned(error::BADKEY) };
    let Some(len) = copy_name(packet, record.algorithm, &mut name, 0) else { return Verdict::Malformed };
    name[..len].make_ascii_lowercase();
    if name[..len] != *key.algorithm.wire_name() {
        return Verdict::Unsigned(error::BADKEY);
    }
    let mac = record.mac(packet);
    if mac.len() > key.algorithm.mac_len() || mac.len() < key.algorithm.shortest_mac() {
        return Verdict::Malformed;
    }
    if scratch.capacity() < SCRATCH_LEN {
        // Once per responder: every later query fits.
        scratch.reserve_exact(SCRATCH_LEN);
    }
    request_data(key, packet, &record, scratch);
    let matches = if mac.len() == key.algorithm.mac_len() {
        hmac::verify(&key.hmac, scratch, mac).is_ok()
    } else {
        // A truncated MAC is compared with as many leading bytes of the whole one.
        same_bytes(&hmac::sign(&key.hmac, scratch).as_ref()[..mac.len()], mac)
    };
    if !matches {
        return Verdict::Unsigned(error::BADSIG);
    }
    let signer = Signer { key, packet, record };
    if now.abs_diff(record.time_signed(packet)) > record.fudge(packet) as u64 {
        Verdict::BadTime(signer)
    } else {
        Verdict::Valid(signer)
    }
}

/// Writes into `scratch` what the MAC of a request covers (RFC 8945 section 4.3.3): the
/// message as it was before the TSIG record was added, under its original ID, then the TSIG
/// variables with both names in canonical (lowercase, uncompressed) form.
fn request_data(key: &Key, packet: &[u8], record: &TsigRecord, scratch: &mut Vec<u8>) {
    scratch.clear();
    scratch.extend_from_slice(&packet[..record.owner]);
    scratch[..2].copy_from_slice(&record.original_id(packet));
    // The TSIG record was counted; wire::parse_query found it in the additional section.
    let additional = u16::from_be_bytes([scratch[10], scratch[11]]).saturating_sub(1);
    scratch[10..12].copy_from_slice(&additional.to_be_bytes());
    scratch.extend_from_slice(key.name.as_wire());
    scratch.extend_from_slice(&ANY_CLASS_ZERO_TTL);
    scratch.extend_from_slice(key.algorithm.wire_name());
    // Time Signed and Fudge, then (the MAC and Original ID left out) Error, Other Len and
    // Other Data.
    scratch.extend_from_slice(&packet[record.times..record.times + 8]);
    scratch.extend_from_slice(record.error_and_other(packet));
}

/// CLASS ANY and TTL 0, as every TSIG record and its variables have them.
const ANY_CLASS_ZERO_TTL: [u8; 6] = [0, 255, 0, 0, 0, 0];

impl Signer<'_> {
    /// The length of the TSIG record [`Signer::sign`] appends; `other` when it carries Other
    /// Data (a BADTIME reply).
    pub fn record_len(&self, other: bool) -> usize {
        // The names are the key's, less any compression: as long as the key's own.
        self.key.name.as_wire().len()
            + 10
            + self.key.algorithm.wire_name().len()
            + 16
            + self.key.algorithm.mac_len()
            + if other { 6 } else { 0 }
    }

    /// Signs the response `out[..len]` (RFC 8945 section 4.3.1): appends a TSIG record whose
    /// MAC covers the query's MAC, the response and the TSIG variables, with `now` as Time
    /// Signed, and counts it in ARCOUNT. Returns the new length, or `None` when it does not
    /// fit in `out` (which is then left as it was).
    pub fn sign(&self, out: &mut [u8], len: usize, now: u64) -> Option<usize> {
        self.sign_with(out, len, Fields { time: now, fudge: FUDGE, error: 0, other: None })
    }

    /// Signs the BADTIME reply `out[..len]` (RFC 8945 section 5.2.3): the query's Time Signed
    /// and Fudge, and the server's time, `now`, in Other Data, so that the client can verify
    /// the reply and see how far its clock is off.
    pub fn sign_bad_time(&self, out: &mut [u8], len: usize, now: u64) -> Option<usize> {
        let (packet, record) = (self.packet, &self.record);
        let fields = Fields {
            time: record.time_signed(packet),
            fudge: record.fudge(packet),
            error: error::BADTIME,
            other: Some(now),
        };
        self.sign_with(out, len, fields)
    }

    fn sign_with(&self, out: &mut [u8], len: usize, fields: Fields) -> Option<usize> {
        let request_mac = self.record.mac(self.packet);
        let other = fields.other.map(time48);
        let other: &[u8] = other.as_ref().map_or(&[], |o| &o[..]);
        let mut context = hmac::Context::with_key(&self.key.hmac);
        context.update(&(request_mac.len() as u16).to_be_bytes());
        context.update(request_mac);
        context.update(&self.record.original_id(self.packet));
        context.update(out.get(2..len)?);
        context.update(self.key.name.as_wire());
        context.update(&ANY_CLASS_ZERO_TTL);
        context.update(self.key.algorithm.wire_name());
        context.update(&time48(fields.time));
        context.update(&fields.fudge.to_be_bytes());
        context.update(&fields.error.to_be_bytes());
        context.update(&(other.len() as u16).to_be_bytes());
        context.update(other);
        let mac = context.sign();
        write_record(self.packet, &self.record, out, len, &fields, mac.as_ref())
    }
}

/// The fields of a TSIG record that differ from reply to reply.
struct Fields {
    /// Time Signed.
    time: u64,
    fudge: u16,
    error: u16,
    /// Other Data: the server's time, in a BADTIME reply.
    other: Option<u64>,
}

/// Writes the reply to a query whose TSIG fails with `error`, BADKEY or BADSIG (RFC 8945
/// section 5.3.2): NOTAUTH, the question, the OPT when the query had one, and an unsigned
/// TSIG record with the query's key and algorithm names, time and fudge, original ID, the
/// error and an empty MAC. Returns the length (0 when `out` is too small).
pub fn write_unsigned_error(
    packet: &[u8],
    question_end: usize,
    record: TsigRecord,
    opt: Option<Opt>,
    error: u16,
    out: &mut [u8],
) -> usize {
    let len = wire::write_rejection(packet, rcode::NOTAUTH, Some(question_end), opt, out);
    if len == 0 {
        return 0;
    }
    let fields = Fields { time: record.time_signed(packet), fudge: record.fudge(packet), error, other: None };
    write_record(packet, &record, out, len, &fields, &[]).unwrap_or(0)
}

/// Appends at `out[at..]` a TSIG record with the key and algorithm names of the query's
/// (uncompressed), its original ID, and `fields` and `mac`; counts it in ARCOUNT and returns
/// the offset past it, or `None` when it does not fit (ARCOUNT then left as it was).
fn write_record(
    packet: &[u8],
    record: &TsigRecord,
    out: &mut [u8],
    at: usize,
    fields: &Fields,
    mac: &[u8],
) -> Option<usize> {
    let fixed = copy_name(packet, record.owner, out, at)?;
    let head = out.get_mut(fixed..fixed + 10)?;
    head[..2].copy_from_slice(&rtype::TSIG.to_be_bytes());
    head[2..8].copy_from_slice(&ANY_CLASS_ZERO_TTL);
    let rdata = fixed + 10;
    let after_name = copy_name(packet, record.algorithm, out, rdata)?;
    let other = fields.other.map(time48);
    let other: &[u8] = other.as_ref().map_or(&[], |o| &o[..]);
    let end = after_name + 16 + mac.len() + other.len();
    let tail = out.get_mut(after_name..end)?;
    let (times, rest) = tail.split_at_mut(10);
    times[..6].copy_from_slice(&time48(fields.time));
    times[6..8].copy_from_slice(&fields.fudge.to_be_bytes());
    times[8..10].copy_from_slice(&(mac.len() as u16).to_be_bytes());
    let (mac_field, rest) = rest.split_at_mut(mac.len());
    mac_field.copy_from_slice(mac);
    rest[..2].copy_from_slice(&record.original_id(packet));
    rest[2..4].copy_from_slice(&fields.error.to_be_bytes());
    rest[4..6].copy_from_slice(&(other.len() as u16).to_be_bytes());
    rest[6..].copy_from_slice(other);
    out[fixed + 8..fixed + 10].copy_from_slice(&((end - rdata) as u16).to_be_bytes());
    let additional = u16::from_be_bytes([out[10], out[11]]).wrapping_add(1);
    out[10..12].copy_from_slice(&additional.to_be_bytes());
    Some(end)
}

/// Seconds since the epoch as TSIG's 48-bit time.
fn time48(seconds: u64) -> [u8; 6] {
    let b = seconds.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// Whether `a` and `b` hold the same bytes, in a time that does not depend on where they
/// differ (for truncated MACs, which `ring::hmac::verify` does not take).
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let difference = a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y));
    a.len() == b.len() && std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{read_tsig, HEADER_LEN};

    /// When the vectors below were signed.
    const T: u64 = 1_700_000_000;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
    }

    /// Signed by dnspython 2.9.2 at [`T`], key `Tsig-Key.` with the secret 0, 1, 2, ...
    /// (32 bytes for hmac-sha256, 64 for hmac-sha512): a query for `www.example.com.` A with
    /// EDNS, ID 0x1234; the response it signed to it (AA set, an OPT of 8192); and that
    /// response unsigned.
    struct Vector {
        algorithm: Algorithm,
        query: &'static str,
        response: &'static str,
    }

    const UNSIGNED_RESPONSE: &str =
        "12348500000100000000000103777777076578616d706c6503636f6d00000100010000292000000000000000";

    const VECTORS: [Vector; 2] = [
        Vector {
            algorithm: Algorithm::HmacSha256,
            query: "12340100000100000000000203777777076578616d706c6503636f6d000001000100002904d00000000000\
                    0008547369672d4b65790000fa00ff00000000003d0b686d61632d7368613235360000006553f100012c0020\
                    7516ba4bfe98bfcea5d38251a84015591a12e51bb1459933ee45d0f161218cd5123400000000",
            response: "12348500000100000000000203777777076578616d706c6503636f6d00000100010000292000000000\
                       00000008547369672d4b65790000fa00ff00000000003d0b686d61632d7368613235360000006553f1\
                       00012c002082f8ea1381cebcb70df82e3e20231ce0e0ff29f5d859f9dfc63318c2eb88dee512340000\
                       0000",
        },
        Vector {
            algorithm: Algorithm::HmacSha512,
            query: "12340100000100000000000203777777076578616d706c6503636f6d000001000100002904d00000000000\
                    0008547369672d4b65790000fa00ff00000000005d0b686d61632d7368613531320000006553f100012c0040\
                    dc038ca459f6ec36592d2abe15ff03fb7b44230b513d708ea66f1d503c62d879f1ea578ba44aae6bd8156fc6\
                    5d8220f5332b98cfb17b455db8be2194ad229f94123400000000",
            response: "12348500000100000000000203777777076578616d706c6503636f6d00000100010000292000000000\
                       00000008547369672d4b65790000fa00ff00000000005d0b686d61632d7368613531320000006553f1\
                       00012c0040c3472266bfdf219a54557bafff22012e4d73515e3da4c337bd8891e0b877483184ccc3b7\
                       b47e4e3a245ac16442ca938cb1c98ee848ccf75e8432c9ed3a857b40123400000000",
        },
    ];

    fn name(text: &str) -> Name {
        let mut wire = Vec::new();
        for label in text.split('.').filter(|l| !l.is_empty()) {
            wire.push(label.len() as u8);
            wire.extend_from_slice(label.as_bytes());
        }
        wire.push(0);
        Name::from_wire(&wire).unwrap()
    }

    fn secret(algorithm: Algorithm) -> Secret {
        Secret::new((0..algorithm.mac_len() as u8).collect())
    }

    fn ring_of(key: &str, algorithm: Algorithm, secret: &Secret) -> KeyRing {
        let name = name(key);
        KeyRing::new([(&name, algorithm, secret)])
    }

    /// The TSIG record at the end of `packet`: where it starts, found by its owner.
    fn record(packet: &[u8]) -> TsigRecord {
        let owner = b"\x08Tsig-Key\x00\x00\xfa";
        let at = packet.windows(owner.len()).rposition(|w| w == owner).expect("a TSIG record");
        read_tsig(packet, at).expect("readable")
    }

    fn check(keys: &KeyRing, packet: &[u8], now: u64) -> (Result<usize, u16>, Vec<u8>) {
        check_record(keys, packet, record(packet), now)
    }

    fn check_record(keys: &KeyRing, packet: &[u8], record: TsigRecord, now: u64) -> (Result<usize, u16>, Vec<u8>) {
        let mut scratch = Vec::new();
        let verdict = match verify(keys, packet, record, now, &mut scratch) {
            Verdict::Valid(_) => Ok(0),
            Verdict::BadTime(_) => Ok(1),
            Verdict::Unsigned(error) => Err(error),
            Verdict::Malformed => Err(0),
        };
        (verdict, scratch)
    }

    #[test]
    fn queries_signed_by_dnspython_verify_and_our_answers_are_its_bytes() {
        for vector in VECTORS {
            let (query, response) = (hex(vector.query), hex(vector.response));
            let secret = secret(vector.algorithm);
            // The key as configured, in lower case: the query spells it `Tsig-Key.`.
            let keys = ring_of("tsig-key.", vector.algorithm, &secret);
            let mut scratch = Vec::new();
            let Verdict::Valid(signer) = verify(&keys, &query, record(&query), T, &mut scratch) else {
                panic!("{:?}: the query verifies", vector.algorithm);
            };
            // What the MAC covered: the query less its TSIG, ARCOUNT one less, then the
            // variables.
            let tsig_at = record(&query).owner;
            assert_eq!(&scratch[..10], &query[..10]);
            assert_eq!(&scratch[10..12], &[0, 1], "ARCOUNT: the OPT alone");
            assert_eq!(&scratch[12..tsig_at], &query[12..tsig_at]);
            assert!(scratch[tsig_at..].starts_with(b"\x08tsig-key\x00\x00\xff\0\0\0\0\x0bhmac-sha"));
            assert!(scratch.capacity() >= SCRATCH_LEN);
            // Signing dnspython's unsigned response gives its signed response, byte for byte.
            let mut out = [0u8; 512];
            let unsigned = hex(UNSIGNED_RESPONSE);
            out[..unsigned.len()].copy_from_slice(&unsigned);
            assert_eq!(signer.record_len(false), response.len() - unsigned.len());
            let len = signer.sign(&mut out, unsigned.len(), T).expect("fits");
            assert_eq!(hex_of(&out[..len]), hex_of(&response), "{:?}", vector.algorithm);
            // Too little room: nothing signed.
            assert_eq!(signer.sign(&mut out[..len - 1], unsigned.len(), T), None);
        }
    }

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn key_mac_and_time_are_checked_in_that_order() {
        let vector = &VECTORS[0];
        let query = hex(vector.query);
        let secret = secret(vector.algorithm);
        let keys = ring_of("tsig-key.", vector.algorithm, &secret);
        assert_eq!(check(&keys, &query, T).0, Ok(0));
        // Within the query's fudge of 300 s either way, and not a second more.
        assert_eq!(check(&keys, &query, T + 300).0, Ok(0));
        assert_eq!(check(&keys, &query, T - 300).0, Ok(0));
        assert_eq!(check(&keys, &query, T + 301).0, Ok(1));
        assert_eq!(check(&keys, &query, T - 1000).0, Ok(1));
        // Another secret: BADSIG, checked before the time.
        let wrong = Secret::new(vec![7; 32]);
        assert_eq!(check(&ring_of("tsig-key.", vector.algorithm, &wrong), &query, T + 1000).0, Err(error::BADSIG));
        // Another name, or the name with another algorithm: BADKEY.
        assert_eq!(check(&ring_of("other-key.", vector.algorithm, &secret), &query, T).0, Err(error::BADKEY));
        assert_eq!(check(&ring_of("tsig-key.", Algorithm::HmacSha512, &secret), &query, T).0, Err(error::BADKEY));
        assert_eq!(check(&KeyRing::default(), &query, T).0, Err(error::BADKEY));
        // A changed byte anywhere the MAC covers: BADSIG. (Not the ID: the MAC covers the
        // original ID, so that a forwarder may change the ID.)
        for at in [3, 12, 20, record(&query).times + 2, query.len() - 3] {
            let mut changed = query.clone();
            changed[at] ^= 0x01;
            assert_eq!(check(&keys, &changed, T).0, Err(error::BADSIG), "byte {at}");
        }
        // The key's name in another letter case is the same key (canonical form).
        let mut upper = query.clone();
        let owner = record(&query).owner;
        upper[owner + 1..owner + 9].make_ascii_uppercase();
        assert_eq!(check_record(&keys, &upper, record(&query), T).0, Ok(0));
    }

    /// `query` with its MAC cut to `len` bytes (the MAC does not cover itself, so this is
    /// the query a signer that truncates sends).
    fn truncated(query: &[u8], len: usize) -> Vec<u8> {
        let record = record(query);
        let mac_at = record.times + 10;
        let mut cut = query[..mac_at + len].to_vec();
        cut[record.times + 8..record.times + 10].copy_from_slice(&(len as u16).to_be_bytes());
        cut.extend_from_slice(&query[record.original_id..]);
        let rdlen_at = record.algorithm - 2;
        let rdlen = u16::from_be_bytes([cut[rdlen_at], cut[rdlen_at + 1]]) as usize;
        let full = record.original_id - mac_at;
        cut[rdlen_at..rdlen_at + 2].copy_from_slice(&((rdlen + len - full) as u16).to_be_bytes());
        cut
    }

    #[test]
    fn truncated_macs_down_to_half_the_hash_and_ten_bytes_are_accepted() {
        for vector in VECTORS {
            let query = hex(vector.query);
            let secret = secret(vector.algorithm);
            let keys = ring_of("tsig-key.", vector.algorithm, &secret);
            let shortest = vector.algorithm.shortest_mac();
            assert_eq!(shortest, vector.algorithm.mac_len() / 2);
            assert_eq!(check(&keys, &truncated(&query, shortest), T).0, Ok(0), "{:?}", vector.algorithm);
            assert_eq!(check(&keys, &truncated(&query, shortest + 1), T).0, Ok(0));
            // Shorter than the RFC allows: FORMERR, whatever the bytes.
            assert_eq!(check(&keys, &truncated(&query, shortest - 1), T).0, Err(0));
            assert_eq!(check(&keys, &truncated(&query, 0), T).0, Err(0));
            // A wrong truncated MAC: BADSIG.
            let mut wrong = truncated(&query, shortest);
            let mac_at = record(&wrong).times + 10;
            wrong[mac_at + shortest - 1] ^= 0x80;
            assert_eq!(check(&keys, &wrong, T).0, Err(error::BADSIG));
        }
        // Longer than the hash: FORMERR.
        let vector = &VECTORS[0];
        let query = hex(vector.query);
        let mut long = truncated(&query, 32);
        let record = record(&long);
        long.insert(record.original_id, 0);
        long[record.times + 9] = 33;
        let rdlen_at = record.algorithm - 2;
        long[rdlen_at + 1] += 1;
        let keys = ring_of("tsig-key.", vector.algorithm, &secret(vector.algorithm));
        assert_eq!(check(&keys, &long, T).0, Err(0));
    }

    #[test]
    fn badtime_is_signed_with_the_query_time_and_the_server_time() {
        let vector = &VECTORS[0];
        let query = hex(vector.query);
        let secret = secret(vector.algorithm);
        let keys = ring_of("tsig-key.", vector.algorithm, &secret);
        let mut scratch = Vec::new();
        let now = T + 1000;
        let Verdict::BadTime(signer) = verify(&keys, &query, record(&query), now, &mut scratch) else {
            panic!("BADTIME");
        };
        let question_end = HEADER_LEN + 21;
        let mut out = [0u8; 512];
        let len = wire::write_rejection(&query, rcode::NOTAUTH, Some(question_end), None, &mut out);
        let unsigned = out[..len].to_vec();
        let signed = signer.sign_bad_time(&mut out, len, now).unwrap();
        let reply = &out[..signed];
        assert_eq!(reply[3] & 0x0F, rcode::NOTAUTH);
        assert_eq!(&reply[10..12], &[0, 1], "the TSIG");
        let tsig = record(reply);
        assert_eq!(tsig.time_signed(reply), T, "the query's time");
        assert_eq!(tsig.fudge(reply), 300);
        assert_eq!(tsig.mac(reply).len(), 32);
        assert_eq!(tsig.error_and_other(reply), &[0, 18, 0, 6, 0, 0, 0x65, 0x53, 0xf4, 0xe8], "BADTIME, then now");
        // The MAC: the query's MAC, the reply less its TSIG, and the reply's variables.
        let mut data = vec![0, 32];
        data.extend_from_slice(record(&query).mac(&query));
        data.extend_from_slice(&unsigned);
        data.extend_from_slice(b"\x08tsig-key\x00\x00\xff\x00\x00\x00\x00\x0bhmac-sha256\x00");
        data.extend_from_slice(&reply[tsig.times..tsig.times + 8]);
        data.extend_from_slice(tsig.error_and_other(reply));
        let key = hmac::Key::new(hmac::HMAC_SHA256, &(0..32).collect::<Vec<u8>>());
        assert!(hmac::verify(&key, &data, tsig.mac(reply)).is_ok());
    }

    #[test]
    fn unknown_keys_and_bad_signatures_get_an_unsigned_tsig() {
        let query = hex(VECTORS[0].query);
        let question_end = HEADER_LEN + 21;
        let mut out = [0u8; 512];
        let opt = Opt { udp_size: 1232, dnssec_ok: false };
        let len = write_unsigned_error(&query, question_end, record(&query), Some(opt), error::BADKEY, &mut out);
        let response = &out[..len];
        assert_eq!(response[3] & 0x0F, rcode::NOTAUTH);
        assert_eq!(&response[10..12], &[0, 2], "OPT, then TSIG");
        let rr = &response[question_end + wire::OPT_LEN..];
        assert!(rr.starts_with(b"\x08Tsig-Key\x00\x00\xfa\x00\xff\0\0\0\0"), "{rr:02x?}");
        let rdata = &rr[20..];
        assert_eq!(u16::from_be_bytes([rr[18], rr[19]]) as usize, rdata.len());
        assert!(rdata.starts_with(b"\x0bhmac-sha256\x00"));
        let fixed = &rdata[13..];
        assert_eq!(fixed, &[0, 0, 0x65, 0x53, 0xf1, 0, 0x01, 0x2c, 0, 0, 0x12, 0x34, 0, 17, 0, 0]);
        // Too small a buffer: nothing.
        assert_eq!(write_unsigned_error(&query, question_end, record(&query), None, error::BADSIG, &mut out[..40]), 0);
    }

    #[test]
    fn names_and_secrets() {
        assert_eq!(Algorithm::parse("HMAC-SHA512."), Some(Algorithm::HmacSha512));
        assert_eq!(Algorithm::parse("hmac-sha256"), Some(Algorithm::HmacSha256));
        assert_eq!(Algorithm::parse("hmac-md5"), None);
        assert_eq!((Algorithm::HmacSha256.mac_len(), Algorithm::HmacSha512.mac_len()), (32, 64));
        assert_eq!(Algorithm::HmacSha256.shortest_mac(), 16);
        let secret = Secret::new(b"do not print me".to_vec());
        assert_eq!(format!("{secret:?}"), "Secret(15 bytes)");
        let ring = ring_of("k.example.", Algorithm::HmacSha256, &secret);
        let shown = format!("{ring:?}");
        assert!(shown.contains("k.example.") && !shown.contains("print"), "{shown}");
        assert_eq!(ring.len(), 1);
    }
}
