//! The DNS wire format: zero-copy query parsing and response writing into a caller's buffer.
//!
//! Nothing here allocates or does I/O. [`parse_query`] reads a packet in place; [`Writer`]
//! builds a response in a buffer the caller owns and handles truncation.

mod compress;
pub mod frame;
mod name;

pub use compress::{Block, NameCut, Patch, MAX_POINTER};
pub use name::{parse_name, skip_name, write_presentation, LowerName, Name, TextName, MAX_NAME_LEN};

/// Length of the fixed DNS header.
pub const HEADER_LEN: usize = 12;
/// UDP payload limit for a query without EDNS (RFC 1035 section 4.2.1).
pub const PLAIN_UDP_LIMIT: usize = 512;
/// Size of an OPT record with no options.
pub const OPT_LEN: usize = 11;

/// Record types the server treats specially.
pub mod rtype {
    /// IPv4 address (RFC 1035).
    pub const A: u16 = 1;
    /// Name server (RFC 1035).
    pub const NS: u16 = 2;
    /// Canonical name (RFC 1035).
    pub const CNAME: u16 = 5;
    /// Start of authority (RFC 1035).
    pub const SOA: u16 = 6;
    /// Mail destination (RFC 1035, obsolete); its RDATA is a name.
    pub const MD: u16 = 3;
    /// Mail forwarder (RFC 1035, obsolete); its RDATA is a name.
    pub const MF: u16 = 4;
    /// Mailbox domain name (RFC 1035); its RDATA is a name.
    pub const MB: u16 = 7;
    /// Mail group member (RFC 1035); its RDATA is a name.
    pub const MG: u16 = 8;
    /// Mail rename domain name (RFC 1035); its RDATA is a name.
    pub const MR: u16 = 9;
    /// Mailbox or mail list information (RFC 1035); its RDATA is two names.
    pub const MINFO: u16 = 14;
    /// Domain name pointer (RFC 1035).
    pub const PTR: u16 = 12;
    /// Mail exchange (RFC 1035).
    pub const MX: u16 = 15;
    /// Text strings (RFC 1035).
    pub const TXT: u16 = 16;
    /// IPv6 address (RFC 3596).
    pub const AAAA: u16 = 28;
    /// Service location (RFC 2782).
    pub const SRV: u16 = 33;
    /// Subtree redirection (RFC 6672).
    pub const DNAME: u16 = 39;
    /// EDNS pseudo-record (RFC 6891).
    pub const OPT: u16 = 41;
    /// Delegation signer, the parent's data (RFC 4034).
    pub const DS: u16 = 43;
    /// Signature over an RRset (RFC 4034).
    pub const RRSIG: u16 = 46;
    /// Next secure name, authenticated denial (RFC 4034).
    pub const NSEC: u16 = 47;
    /// A zone's public key (RFC 4034).
    pub const DNSKEY: u16 = 48;
    /// Child DS, the DS a child publishes for its parent to copy (RFC 7344).
    pub const CDS: u16 = 59;
    /// Child DNSKEY, the key a child publishes for its parent to make a DS of (RFC 7344).
    pub const CDNSKEY: u16 = 60;
    /// Incremental zone transfer (RFC 1995); refused.
    pub const IXFR: u16 = 251;
    /// Full zone transfer (RFC 5936); refused.
    pub const AXFR: u16 = 252;
    /// Transaction signature (RFC 8945).
    pub const TSIG: u16 = 250;
    /// Any type (RFC 8482 answers it with one RRset).
    pub const ANY: u16 = 255;
}

/// The class the server serves.
pub const CLASS_IN: u16 = 1;
/// The CHAOS class, for `id.server.` and `version.bind.`.
pub const CLASS_CH: u16 = 3;

/// Response codes (the low four bits; BADVERS needs the OPT's extended bits).
pub mod rcode {
    /// No error.
    pub const NOERROR: u8 = 0;
    /// The query could not be read.
    pub const FORMERR: u8 = 1;
    /// The server failed.
    pub const SERVFAIL: u8 = 2;
    /// The name does not exist.
    pub const NXDOMAIN: u8 = 3;
    /// The opcode is not implemented.
    pub const NOTIMP: u8 = 4;
    /// Not served here (not authoritative, or refused by policy).
    pub const REFUSED: u8 = 5;
    /// The request's signature cannot be accepted (RFC 8945).
    pub const NOTAUTH: u8 = 9;
    /// A DNAME substitution made a name longer than 255 bytes (RFC 6672 section 2.2).
    pub const YXDOMAIN: u8 = 6;
    /// Extended RCODE 16, carried as 1 in the OPT record's upper bits.
    pub const BADVERS: u16 = 16;
}

/// What the query's OPT record asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edns {
    /// The requestor's UDP payload size (values below 512 are read as 512).
    pub udp_size: u16,
    /// EDNS version.
    pub version: u8,
    /// The DNSSEC OK bit, copied back (RFC 3225 section 3).
    pub dnssec_ok: bool,
    /// The query carried an NSID option (RFC 5001).
    pub nsid: bool,
    /// The query carried an edns-tcp-keepalive option (RFC 7828).
    pub keepalive: bool,
}

/// A query read in place from a packet; its lowercased name goes to a [`LowerName`] the
/// caller reuses.
pub struct Query<'a> {
    /// The packet the query was read from.
    pub packet: &'a [u8],
    /// The question section exactly as sent (name, type, class).
    pub question: &'a [u8],
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
    /// The OPT record, if there was one.
    pub edns: Option<Edns>,
}

/// Why a packet is not answered normally: drop it, or answer with just an RCODE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// No reply at all: a response, or too short to read a header.
    Drop,
    /// Reply with this RCODE, echoing the question if `question_end` is set.
    Reply {
        /// The RCODE to answer with.
        rcode: u8,
        /// Where the question ends, when it could be read and is echoed.
        question_end: Option<usize>,
        /// The query's OPT record, when the packet could be read far enough to find exactly
        /// one: the reply then carries an OPT too (RFC 6891 section 6.1.1), so the client
        /// does not take the error for a server without EDNS.
        edns: Option<Edns>,
    },
    /// The query is signed with TSIG (RFC 8945): its record is readable and the last one, and
    /// the answer path checks the signature (`crate::tsig`) before it answers.
    Signed {
        /// Where the question ends.
        question_end: usize,
        /// Where the query's TSIG record starts (it is the last record).
        tsig: usize,
        /// The query's OPT record, if any.
        edns: Option<Edns>,
    },
}

/// Reads a query, writing its lowercased name into `qname`. Never panics, whatever the bytes.
pub fn parse_query<'a>(packet: &'a [u8], qname: &mut LowerName) -> Result<Query<'a>, Rejection> {
    if packet.len() < HEADER_LEN {
        return Err(Rejection::Drop);
    }
    let flags = u16::from_be_bytes([packet[2], packet[3]]);
    if flags & 0x8000 != 0 {
        return Err(Rejection::Drop);
    }
    let count = |i: usize| u16::from_be_bytes([packet[4 + 2 * i], packet[5 + 2 * i]]);
    let (qdcount, ancount, nscount, arcount) = (count(0), count(1), count(2), count(3));
    let opcode = (flags >> 11) & 0xF;
    let formerr = |question_end| Rejection::Reply { rcode: rcode::FORMERR, question_end, edns: None };
    if qdcount != 1 {
        let rcode = if opcode != 0 { rcode::NOTIMP } else { rcode::FORMERR };
        return Err(Rejection::Reply { rcode, question_end: None, edns: None });
    }
    let name_end = qname.read(packet, HEADER_LEN).ok_or(formerr(None))?;
    let question_end = name_end + 4;
    if packet.len() < question_end {
        return Err(formerr(None));
    }
    // Another opcode is NOTIMP; the rest of the packet is still read, only to find its OPT.
    let malformed = || match opcode {
        0 => formerr(Some(question_end)),
        _ => Rejection::Reply { rcode: rcode::NOTIMP, question_end: Some(question_end), edns: None },
    };
    let qtype = u16::from_be_bytes([packet[name_end], packet[name_end + 1]]);
    let qclass = u16::from_be_bytes([packet[name_end + 2], packet[name_end + 3]]);
    let mut pos = question_end;
    for _ in 0..(ancount as usize + nscount as usize) {
        pos = skip_record(packet, pos).ok_or_else(malformed)?.1;
    }
    let mut edns = None;
    let mut tsig = None;
    for _ in 0..arcount {
        let start = pos;
        let (rtype, end) = skip_record(packet, pos).ok_or_else(malformed)?;
        if rtype == rtype::OPT {
            // One OPT, owned by the root (RFC 6891 section 6.1.1).
            if edns.is_some() || packet[start] != 0 {
                return Err(malformed());
            }
            let udp_size = u16::from_be_bytes([packet[start + 3], packet[start + 4]]);
            edns = Some(Edns {
                udp_size: udp_size.max(PLAIN_UDP_LIMIT as u16),
                version: packet[start + 6],
                dnssec_ok: packet[start + 7] & 0x80 != 0,
                nsid: false,
                keepalive: false,
            });
            // Options follow the 11 fixed bytes; none at all is the common case.
            if end > start + 11 {
                if let Some(e) = &mut edns {
                    (e.nsid, e.keepalive) = options_asked(&packet[start + 11..end]);
                }
            }
        } else if rtype == rtype::TSIG && tsig.is_none() {
            tsig = Some(start);
        }
        pos = end;
    }
    if opcode != 0 {
        return Err(Rejection::Reply { rcode: rcode::NOTIMP, question_end: Some(question_end), edns });
    }
    if let Some(tsig) = tsig {
        return Err(signed(packet, question_end, tsig, pos, edns));
    }
    if qtype == rtype::OPT {
        return Err(Rejection::Reply { rcode: rcode::FORMERR, question_end: Some(question_end), edns });
    }
    Ok(Query { packet, question: &packet[HEADER_LEN..question_end], qtype, qclass, edns })
}

/// Finds again the parts of a query that [`parse_query`] said was signed
/// ([`Rejection::Signed`]): where its question ends, where its TSIG record (the last record)
/// starts, and its OPT record. Apart from `parse_query`, so that the signed path adds no
/// caller to it: it stays inlined into the answer path.
#[cold]
#[inline(never)]
pub fn signed_parts(packet: &[u8]) -> Option<(usize, usize, Option<Edns>)> {
    let question_end = skip_name(packet, HEADER_LEN)? + 4;
    let count = |i: usize| u16::from_be_bytes([packet[4 + 2 * i], packet[5 + 2 * i]]) as usize;
    let (before, additional) = (count(1) + count(2), count(3));
    let (mut pos, mut last, mut edns) = (question_end, None, None);
    for i in 0..before + additional {
        let (rtype, end) = skip_record(packet, pos)?;
        if i >= before && rtype == rtype::OPT {
            // As parse_query reads it.
            let udp_size = u16::from_be_bytes([packet[pos + 3], packet[pos + 4]]);
            let (nsid, keepalive) = options_asked(packet.get(pos + 11..end).unwrap_or(&[]));
            edns = Some(Edns {
                udp_size: udp_size.max(PLAIN_UDP_LIMIT as u16),
                version: packet[pos + 6],
                dnssec_ok: packet[pos + 7] & 0x80 != 0,
                nsid,
                keepalive,
            });
        }
        (last, pos) = (Some(pos), end);
    }
    Some((question_end, last?, edns))
}

/// The question's name (presentation format, lowercased) and type, for logs.
pub fn question_text(packet: &[u8]) -> Option<(String, u16)> {
    let (name, end) = LowerName::parse(packet, HEADER_LEN)?;
    let qtype = u16::from_be_bytes([*packet.get(end)?, *packet.get(end + 1)?]);
    let mut text = String::new();
    write_presentation(&mut text, name.as_wire()).ok()?;
    Some((text, qtype))
}

/// EDNS option code of the Name Server Identifier (RFC 5001).
pub const OPTION_NSID: u16 = 3;
/// EDNS option code of edns-tcp-keepalive (RFC 7828).
pub const OPTION_TCP_KEEPALIVE: u16 = 11;
/// EDNS option code of an extended DNS error (RFC 8914).
pub const OPTION_EDE: u16 = 15;

/// Extended DNS error codes (RFC 8914 section 4) the server sends.
pub mod ede {
    /// The server is not authoritative for the name (or class) asked.
    pub const NOT_AUTHORITATIVE: u16 = 20;
    /// The server does not do what was asked (zone transfers).
    pub const NOT_SUPPORTED: u16 = 21;
}

/// Which of the options the server answers an OPT record's options (its RDATA) hold: NSID,
/// and edns-tcp-keepalive. A truncated option list is read as far as it goes.
fn options_asked(mut options: &[u8]) -> (bool, bool) {
    let (mut nsid, mut keepalive) = (false, false);
    while let [c0, c1, l0, l1, rest @ ..] = options {
        match u16::from_be_bytes([*c0, *c1]) {
            OPTION_NSID => nsid = true,
            OPTION_TCP_KEEPALIVE => keepalive = true,
            _ => {}
        }
        let len = u16::from_be_bytes([*l0, *l1]) as usize;
        options = rest.get(len..).unwrap_or(&[]);
    }
    (nsid, keepalive)
}

/// Skips one resource record; returns its type and the offset past it.
fn skip_record(packet: &[u8], pos: usize) -> Option<(u16, usize)> {
    let pos = skip_name(packet, pos)?;
    let fixed = packet.get(pos..pos + 10)?;
    let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let rdlen = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
    let end = pos + 10 + rdlen;
    if end > packet.len() {
        return None;
    }
    Some((rtype, end))
}

/// The rejection of a query with a TSIG record at `tsig` whose additional section ends at
/// `end`: [`Rejection::Signed`] for the answer path to check, or FORMERR when the TSIG is not
/// the last record or cannot be read (RFC 8945 sections 5.1 and 5.2). Kept out of line: the
/// unsigned path pays one comparison per record.
#[cold]
#[inline(never)]
fn signed(packet: &[u8], question_end: usize, tsig: usize, end: usize, edns: Option<Edns>) -> Rejection {
    let last = skip_record(packet, tsig).is_some_and(|(_, past)| past == end);
    match read_tsig(packet, tsig) {
        Some(_) if last => Rejection::Signed { question_end, tsig, edns },
        _ => Rejection::Reply { rcode: rcode::FORMERR, question_end: Some(question_end), edns: None },
    }
}

/// Where the parts of a TSIG record lie in a packet (RFC 8945 section 4.2): the owner (key)
/// name, the algorithm name, and the fields after it, each checked to lie inside the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TsigRecord {
    /// Offset of the owner name (the key's name; maybe compressed).
    pub owner: usize,
    /// Offset of the algorithm name in the RDATA (maybe compressed).
    pub algorithm: usize,
    /// Offset of Time Signed (6 bytes), Fudge (2) and MAC Size (2), after the algorithm name.
    pub times: usize,
    /// Offset of the Original ID (2 bytes), after the MAC; Error (2), Other Len (2) and Other
    /// Data follow it to the record's end.
    pub original_id: usize,
    /// Offset just past the record.
    pub end: usize,
}

impl TsigRecord {
    /// Time Signed: seconds since the epoch, 48 bits.
    pub fn time_signed(&self, packet: &[u8]) -> u64 {
        packet[self.times..self.times + 6].iter().fold(0, |time, &b| time << 8 | b as u64)
    }

    /// Fudge: the seconds of error the signer allows either way.
    pub fn fudge(&self, packet: &[u8]) -> u16 {
        u16::from_be_bytes([packet[self.times + 6], packet[self.times + 7]])
    }

    /// The MAC.
    pub fn mac<'a>(&self, packet: &'a [u8]) -> &'a [u8] {
        &packet[self.times + 10..self.original_id]
    }

    /// Original ID: the message's ID when it was signed.
    pub fn original_id(&self, packet: &[u8]) -> [u8; 2] {
        [packet[self.original_id], packet[self.original_id + 1]]
    }

    /// Error, Other Len and Other Data, as they lie in the record.
    pub fn error_and_other<'a>(&self, packet: &'a [u8]) -> &'a [u8] {
        &packet[self.original_id + 2..self.end]
    }
}

/// Reads the TSIG record at `at` (RFC 8945 section 4.2): class ANY, TTL 0, and RDATA whose
/// fields fill its length exactly; `None` when it cannot be read.
pub fn read_tsig(packet: &[u8], at: usize) -> Option<TsigRecord> {
    let fixed = skip_name(packet, at)?;
    let head = packet.get(fixed..fixed + 10)?;
    let rdlen = u16::from_be_bytes([head[8], head[9]]) as usize;
    if head[2..4] != [0, 255] || head[4..8] != [0, 0, 0, 0] {
        return None;
    }
    let algorithm = fixed + 10;
    let end = algorithm + rdlen;
    let times = skip_name(packet, algorithm)?;
    let mac_size = u16::from_be_bytes(packet.get(times + 8..times + 10)?.try_into().ok()?) as usize;
    let original_id = times + 10 + mac_size;
    let other_len = u16::from_be_bytes(packet.get(original_id + 4..original_id + 6)?.try_into().ok()?) as usize;
    (original_id + 6 + other_len == end && end <= packet.len()).then_some(TsigRecord {
        owner: at,
        algorithm,
        times,
        original_id,
        end,
    })
}

/// Writes the name at `at` in `packet` into `out` from `to` on, uncompressed (following
/// pointers, at most 64 of them); returns the offset past it, or `None` when the name cannot
/// be read or does not fit.
pub fn copy_name(packet: &[u8], mut at: usize, out: &mut [u8], mut to: usize) -> Option<usize> {
    let (start, mut hops) = (to, 0);
    loop {
        let len = *packet.get(at)? as usize;
        match len {
            0 => {
                *out.get_mut(to)? = 0;
                return (to + 1 - start <= MAX_NAME_LEN).then_some(to + 1);
            }
            1..=63 => {
                out.get_mut(to..to + 1 + len)?.copy_from_slice(packet.get(at..at + 1 + len)?);
                (at, to) = (at + 1 + len, to + 1 + len);
            }
            0xC0..=0xFF => {
                hops += 1;
                if hops > 64 {
                    return None;
                }
                at = (len & 0x3F) << 8 | *packet.get(at + 1)? as usize;
            }
            _ => return None,
        }
    }
}

/// Writes the reply for a [`Rejection::Reply`]: header, the question if it was readable,
/// and an OPT record with `opt` (the query had one), nothing else. Returns the length.
///
/// The reply keeps the query's opcode; to QUERY it also echoes RD and CD, as every answer
/// does, but not to other opcodes, whose flags mean other things or nothing.
pub fn write_rejection(
    packet: &[u8],
    rcode: u8,
    question_end: Option<usize>,
    opt: Option<Opt>,
    out: &mut [u8],
) -> usize {
    let question = question_end.map_or(&[][..], |end| &packet[HEADER_LEN..end]);
    let len = HEADER_LEN + question.len();
    let total = len + if opt.is_some() { OPT_LEN } else { 0 };
    if out.len() < total || packet.len() < HEADER_LEN {
        return 0;
    }
    out[..2].copy_from_slice(&packet[..2]);
    let query = packet[2] & 0x78 == 0;
    // QR and the query's opcode, with RD and CD for QUERY; AA and RA clear.
    out[2] = 0x80 | (packet[2] & if query { 0x79 } else { 0x78 });
    out[3] = if query { packet[3] & 0x10 } else { 0 } | rcode;
    out[4..12].copy_from_slice(&[0, question_end.is_some() as u8, 0, 0, 0, 0, 0, opt.is_some() as u8]);
    out[HEADER_LEN..len].copy_from_slice(question);
    if let Some(opt) = opt {
        write_opt(&mut out[len..total], opt, 0, 0);
    }
    total
}

/// Writes the fixed part of an OPT record for `opt`, with the upper bits of `rcode` and
/// `options_len` bytes of options to follow, into `rr` (at least [`OPT_LEN`] bytes).
#[inline(always)]
fn write_opt(rr: &mut [u8], opt: Opt, rcode: u16, options_len: usize) {
    rr[0] = 0;
    rr[1..3].copy_from_slice(&rtype::OPT.to_be_bytes());
    rr[3..5].copy_from_slice(&opt.udp_size.to_be_bytes());
    rr[5] = (rcode >> 4) as u8;
    rr[6] = 0;
    rr[7] = if opt.dnssec_ok { 0x80 } else { 0 };
    rr[8] = 0;
    rr[9..11].copy_from_slice(&(options_len as u16).to_be_bytes());
}

/// Where a record's owner name comes from.
#[derive(Clone, Copy, Debug)]
pub enum Owner<'a> {
    /// A compression pointer to a name already in the message.
    Pointer(u16),
    /// A name written out in full.
    Wire(&'a [u8]),
}

impl Owner<'_> {
    /// The bytes the owner takes in the message.
    #[inline(always)]
    pub fn wire_len(&self) -> usize {
        match self {
            Owner::Pointer(_) => 2,
            Owner::Wire(wire) => wire.len(),
        }
    }
}

/// The record didn't fit under the size limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

/// Message sections records are written into, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// Records that answer the question.
    Answer = 0,
    /// The zone's SOA or NS, and referrals.
    Authority = 1,
    /// Addresses of names in the records above.
    Additional = 2,
}

/// Builds a response in a caller's buffer: header and question first, then records, then
/// the OPT record and the final flags.
pub struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
    limit: usize,
    question_end: usize,
    counts: [u16; 3],
}

impl<'a> Writer<'a> {
    /// Starts a response to `query`: copies ID, flags and the question byte for byte.
    /// `limit` is the largest message allowed, OPT included; `reserve` is kept free for the OPT.
    pub fn new(buf: &'a mut [u8], query: &Query<'_>, limit: usize, reserve: usize) -> Option<Self> {
        let question_end = HEADER_LEN + query.question.len();
        let limit = limit.min(buf.len()).checked_sub(reserve)?;
        if question_end > limit {
            return None;
        }
        buf[..2].copy_from_slice(&query.packet[..2]);
        buf[2] = 0x80 | (query.packet[2] & 0x79);
        buf[3] = query.packet[3] & 0x10;
        buf[4..12].copy_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        copy_small(&mut buf[HEADER_LEN..question_end], query.question);
        Some(Writer { buf, pos: question_end, limit, question_end, counts: [0; 3] })
    }

    /// A writer over a message already written, to write again its bytes from `pos` up to
    /// `limit` (an answer cache replaying a record set in place). Counts start at zero and
    /// are not written back.
    pub fn resume(buf: &'a mut [u8], pos: usize, limit: usize) -> Option<Self> {
        let limit = limit.min(buf.len());
        (HEADER_LEN..=limit).contains(&pos).then_some(Writer {
            buf,
            pos,
            limit,
            question_end: HEADER_LEN,
            counts: [0; 3],
        })
    }

    /// Bytes still free for records under the size limit (the OPT's reserve apart).
    pub fn room(&self) -> usize {
        self.limit.saturating_sub(self.pos)
    }

    /// Where the next record goes.
    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Appends a record; `rdata` holds the 2-byte RDLENGTH followed by the RDATA.
    /// Returns the offset of the RDATA in the message, for later compression pointers.
    #[inline]
    pub fn push(
        &mut self,
        section: Section,
        owner: Owner<'_>,
        rtype: u16,
        ttl: u32,
        rdata: &[u8],
    ) -> Result<usize, Full> {
        let mut pos = self.pos;
        match owner {
            Owner::Pointer(offset) => {
                // The common case: owner, type, class and TTL as one 10-byte store.
                let end = pos + 10 + rdata.len();
                if end > self.limit {
                    return Err(Full);
                }
                let p = (0xC000 | offset).to_be_bytes();
                let t = rtype.to_be_bytes();
                let c = CLASS_IN.to_be_bytes();
                let l = ttl.to_be_bytes();
                let head = [p[0], p[1], t[0], t[1], c[0], c[1], l[0], l[1], l[2], l[3]];
                self.buf[pos..pos + 10].copy_from_slice(&head);
                pos += 10;
            }
            Owner::Wire(wire) => {
                let end = pos + wire.len() + 8 + rdata.len();
                if end > self.limit {
                    return Err(Full);
                }
                self.buf[pos..pos + wire.len()].copy_from_slice(wire);
                pos += wire.len();
                self.buf[pos..pos + 2].copy_from_slice(&rtype.to_be_bytes());
                self.buf[pos + 2..pos + 4].copy_from_slice(&CLASS_IN.to_be_bytes());
                self.buf[pos + 4..pos + 8].copy_from_slice(&ttl.to_be_bytes());
                pos += 8;
            }
        }
        copy_small(&mut self.buf[pos..pos + rdata.len()], rdata);
        self.pos = pos + rdata.len();
        self.counts[section as usize] += 1;
        Ok(pos + 2)
    }

    /// Appends a stored record (TYPE, CLASS, TTL, RDLENGTH, RDATA) under a compression
    /// pointer, replacing its TTL with `ttl` when given. Returns the offset of the RDATA.
    #[inline(always)]
    pub fn push_record(
        &mut self,
        section: Section,
        pointer: u16,
        record: &[u8],
        ttl: Option<u32>,
    ) -> Result<usize, Full> {
        let pos = self.pos;
        let end = pos + 2 + record.len();
        let dst = match self.buf.get_mut(pos..end) {
            Some(dst) if end <= self.limit => dst,
            _ => return Err(Full),
        };
        let (head, rest) = dst.split_at_mut(2);
        head.copy_from_slice(&(0xC000 | pointer).to_be_bytes());
        copy_small(rest, record);
        if let (Some(ttl), Some(at)) = (ttl, rest.get_mut(4..8)) {
            at.copy_from_slice(&ttl.to_be_bytes());
        }
        self.pos = end;
        self.counts[section as usize] += 1;
        Ok(pos + 12)
    }

    /// Appends the records `picks` chooses from `table`, stored records (TYPE through RDATA)
    /// of `stride` bytes each, all under one compression pointer, replacing their TTL with
    /// `ttl` when given. Either every record fits or none is written.
    #[inline(always)]
    pub fn push_table(
        &mut self,
        section: Section,
        pointer: u16,
        table: &[u8],
        stride: usize,
        picks: &[u32],
        ttl: Option<u32>,
    ) -> Result<(), Full> {
        match stride {
            // A and AAAA: fixed-size moves, one 16-byte store for a whole A record.
            14 => self.push_table_of::<14, 16>(section, pointer, table, picks, ttl),
            26 => self.push_table_of::<26, 28>(section, pointer, table, picks, ttl),
            _ => {
                let mark = self.mark();
                for &i in picks {
                    let at = i as usize * stride;
                    if self.push_record(section, pointer, &table[at..at + stride], ttl).is_err() {
                        self.rewind(mark);
                        return Err(Full);
                    }
                }
                Ok(())
            }
        }
    }

    /// [`Writer::push_table`] for records of `N` bytes, `M` = `N` + 2 with the pointer.
    #[inline(always)]
    fn push_table_of<const N: usize, const M: usize>(
        &mut self,
        section: Section,
        pointer: u16,
        table: &[u8],
        picks: &[u32],
        ttl: Option<u32>,
    ) -> Result<(), Full> {
        debug_assert_eq!(N + 2, M);
        let end = self.pos + M * picks.len();
        if end > self.limit {
            return Err(Full);
        }
        let head = (0xC000 | pointer).to_be_bytes();
        let slots = &mut self.buf[self.pos..end];
        for (slot, &i) in slots.chunks_exact_mut(M).zip(picks) {
            let at = i as usize * N;
            let record: &[u8; N] = table[at..at + N].try_into().expect("N bytes");
            let slot: &mut [u8; M] = slot.try_into().expect("M bytes");
            slot[..2].copy_from_slice(&head);
            slot[2..].copy_from_slice(record);
        }
        if let Some(ttl) = ttl {
            // Mixed TTLs only: every record takes the set's one TTL.
            for slot in slots.chunks_exact_mut(M) {
                slot[6..10].copy_from_slice(&ttl.to_be_bytes());
            }
        }
        self.pos = end;
        self.counts[section as usize] += picks.len() as u16;
        Ok(())
    }

    /// Sets the class of the record whose RDATA starts at `rdata_at` (as [`Writer::push`]
    /// returned it), which `push` wrote as IN.
    pub fn set_class(&mut self, rdata_at: usize, class: u16) {
        self.buf[rdata_at - 8..rdata_at - 6].copy_from_slice(&class.to_be_bytes());
    }

    /// Drops every record, keeping header and question (for a truncated answer).
    pub fn clear_records(&mut self) {
        self.pos = self.question_end;
        self.counts = [0; 3];
    }

    /// The current position, to go back to with [`Writer::rewind`].
    pub fn mark(&self) -> Mark {
        Mark { pos: self.pos, counts: self.counts }
    }

    /// Drops every record written since `mark`.
    pub fn rewind(&mut self, mark: Mark) {
        self.pos = mark.pos;
        self.counts = mark.counts;
    }

    /// Writes counts, flags and (when asked) the OPT record; returns the message length.
    pub fn finish(self, rcode: u16, authoritative: bool, truncated: bool, opt: Option<Opt>) -> usize {
        self.finish_with(rcode, authoritative, truncated, opt, &[])
    }

    /// [`Writer::finish`] with EDNS `options` (whole option TLVs, such as the NSID) in the
    /// OPT record, for which room was reserved. Rare, so kept off the common path.
    #[cold]
    #[inline(never)]
    pub fn finish_with_options(
        self,
        rcode: u16,
        authoritative: bool,
        truncated: bool,
        opt: Option<Opt>,
        options: &[u8],
    ) -> usize {
        self.finish_with(rcode, authoritative, truncated, opt, options)
    }

    #[inline(always)]
    fn finish_with(self, rcode: u16, authoritative: bool, truncated: bool, opt: Option<Opt>, options: &[u8]) -> usize {
        let Writer { buf, mut pos, counts, .. } = self;
        let mut additional = counts[2];
        if let Some(opt) = opt {
            // The reserved room guarantees the OPT fits.
            write_opt(&mut buf[pos..pos + OPT_LEN], opt, rcode, options.len());
            pos += OPT_LEN;
            if !options.is_empty() {
                buf[pos..pos + options.len()].copy_from_slice(options);
                pos += options.len();
            }
            additional += 1;
        }
        if authoritative {
            buf[2] |= 0x04;
        }
        if truncated {
            buf[2] |= 0x02;
        }
        buf[3] |= (rcode & 0xF) as u8;
        buf[6..8].copy_from_slice(&counts[0].to_be_bytes());
        buf[8..10].copy_from_slice(&counts[1].to_be_bytes());
        buf[10..12].copy_from_slice(&additional.to_be_bytes());
        pos
    }
}

/// Copies short data (an A record's RDATA is 6 bytes with its length, the whole stored
/// record 16; an AAAA record 28; a compressed SOA record about 50) with two overlapping
/// fixed-size moves instead of a `memcpy` call; longer data uses `copy_from_slice`.
#[inline(always)]
fn copy_small(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    match n {
        4..=8 => {
            dst[..4].copy_from_slice(&src[..4]);
            dst[n - 4..n].copy_from_slice(&src[n - 4..n]);
        }
        9..=16 => {
            dst[..8].copy_from_slice(&src[..8]);
            dst[n - 8..n].copy_from_slice(&src[n - 8..n]);
        }
        17..=32 => {
            dst[..16].copy_from_slice(&src[..16]);
            dst[n - 16..n].copy_from_slice(&src[n - 16..n]);
        }
        33..=64 => {
            dst[..32].copy_from_slice(&src[..32]);
            dst[n - 32..n].copy_from_slice(&src[n - 32..n]);
        }
        _ => dst.copy_from_slice(src),
    }
}

/// A position in a [`Writer`]'s message.
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    pos: usize,
    counts: [u16; 3],
}

/// The OPT record a response carries.
#[derive(Clone, Copy, Debug)]
pub struct Opt {
    /// Our UDP payload size.
    pub udp_size: u16,
    /// Copied from the query.
    pub dnssec_ok: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &[u8], qtype: u16, extra: &[u8], arcount: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0];
        q.extend_from_slice(&arcount.to_be_bytes());
        q.extend_from_slice(name);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        q.extend_from_slice(extra);
        q
    }

    const OPT_RR: [u8; 11] = [0, 0, 41, 0x10, 0x00, 0, 0, 0x80, 0, 0, 0];

    #[test]
    fn parses_question_and_edns() {
        let q = query(b"\x03WWW\x07example\x03com\x00", 1, &OPT_RR, 1);
        let mut qname = LowerName::new();
        let parsed = parse_query(&q, &mut qname).unwrap();
        assert_eq!(parsed.qtype, 1);
        assert_eq!(qname.as_wire(), b"\x03www\x07example\x03com\x00");
        assert_eq!(
            parsed.edns,
            Some(Edns { udp_size: 4096, version: 0, dnssec_ok: true, nsid: false, keepalive: false })
        );
    }

    #[test]
    fn rejects_what_it_must() {
        let parse_query = |p: &[u8]| parse_query(p, &mut LowerName::new()).map(|q| q.qtype);
        assert_eq!(parse_query(&[0; 5]).err(), Some(Rejection::Drop));
        let mut response = query(b"\x00", 1, &[], 0);
        response[2] |= 0x80;
        assert_eq!(parse_query(&response).err(), Some(Rejection::Drop));
        let two_opts = query(b"\x00", 1, &[OPT_RR, OPT_RR].concat(), 2);
        assert!(matches!(parse_query(&two_opts), Err(Rejection::Reply { rcode: rcode::FORMERR, .. })));
        let mut notify = query(b"\x00", 6, &[], 0);
        notify[2] = 0x20;
        assert!(matches!(parse_query(&notify), Err(Rejection::Reply { rcode: rcode::NOTIMP, .. })));
        let truncated = &query(b"\x03www\x00", 1, &[], 0)[..16];
        assert!(matches!(
            parse_query(truncated),
            Err(Rejection::Reply { rcode: rcode::FORMERR, question_end: None, .. })
        ));
    }

    #[test]
    fn rejections_of_edns_queries_carry_an_opt_and_other_opcodes_no_rd_or_cd() {
        let mut name = LowerName::new();
        let mut parse_query = |p: &[u8]| parse_query(p, &mut name).map(|_| ());
        // NOTIFY (opcode 4) with RD and CD set and an OPT: NOTIMP, the OPT found.
        let mut notify = query(b"\x00", 6, &OPT_RR, 1);
        notify[2] = 0x20 | 0x01;
        notify[3] = 0x10;
        let Err(Rejection::Reply { rcode: rcode::NOTIMP, question_end, edns: Some(_) }) = parse_query(&notify) else {
            panic!("NOTIMP with the query's OPT expected");
        };
        let opt = Opt { udp_size: 1232, dnssec_ok: false };
        let mut out = [0u8; 512];
        let len = write_rejection(&notify, rcode::NOTIMP, question_end, Some(opt), &mut out);
        assert_eq!(len, HEADER_LEN + 5 + OPT_LEN);
        assert_eq!(out[2], 0x80 | 0x20, "QR and the opcode, no RD");
        assert_eq!(out[3], rcode::NOTIMP, "no CD");
        assert_eq!(&out[10..12], &[0, 1], "ARCOUNT: the OPT");
        assert_eq!(&out[HEADER_LEN + 5..len], &[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        // A question for type OPT: FORMERR, with the OPT found too.
        let opt_question = query(b"\x00", rtype::OPT, &OPT_RR, 1);
        assert!(matches!(
            parse_query(&opt_question),
            Err(Rejection::Reply { rcode: rcode::FORMERR, edns: Some(_), .. })
        ));
        // Without an OPT in the query, none in the reply; QUERY keeps RD and CD.
        let plain = query(b"\x00", rtype::OPT, &[], 0);
        assert!(matches!(parse_query(&plain), Err(Rejection::Reply { rcode: rcode::FORMERR, edns: None, .. })));
        let mut with_flags = plain.clone();
        with_flags[2] |= 0x01;
        with_flags[3] |= 0x10;
        let len = write_rejection(&with_flags, rcode::FORMERR, Some(plain.len()), None, &mut out);
        assert_eq!(len, plain.len());
        assert_eq!((out[2] & 0x01, out[3] & 0x10), (0x01, 0x10));
    }

    /// A TSIG record for key `k.example.` and hmac-sha256 with a 32-byte MAC, as a signed
    /// query carries it.
    fn tsig_rr(class: u16) -> Vec<u8> {
        let mut rdata = b"\x0bhmac-sha256\x00".to_vec();
        rdata.extend_from_slice(&[0, 0, 0x69, 0x50, 0x00, 0x00, 0x01, 0x2c, 0, 32]);
        rdata.extend_from_slice(&[0xaa; 32]);
        rdata.extend_from_slice(&[0x12, 0x34, 0, 0, 0, 0]);
        let mut rr = b"\x01k\x07example\x00\x00\xfa".to_vec();
        rr.extend_from_slice(&class.to_be_bytes());
        rr.extend_from_slice(&[0, 0, 0, 0]);
        rr.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        rr.extend_from_slice(&rdata);
        rr
    }

    #[test]
    fn a_signed_query_is_left_to_the_answer_path_when_its_tsig_is_last_and_readable() {
        let mut name = LowerName::new();
        let signed = query(b"\x00", 1, &[&OPT_RR[..], &tsig_rr(255)].concat(), 2);
        let Err(Rejection::Signed { question_end, tsig, edns: Some(_) }) = parse_query(&signed, &mut name) else {
            panic!("a signed query is left to the answer path");
        };
        assert_eq!((question_end, tsig), (HEADER_LEN + 5, HEADER_LEN + 5 + OPT_LEN));
        let record = read_tsig(&signed, tsig).expect("readable");
        assert_eq!(record.end, signed.len());
        assert_eq!(record.time_signed(&signed), 0x6950_0000);
        assert_eq!(record.fudge(&signed), 300);
        assert_eq!(record.mac(&signed), &[0xaa; 32]);
        assert_eq!(record.original_id(&signed), [0x12, 0x34]);
        assert_eq!(record.error_and_other(&signed), &[0, 0, 0, 0]);
        // Unreadable TSIG (class not ANY), or one not last: FORMERR.
        let bad = query(b"\x00", 1, &tsig_rr(1), 1);
        assert!(matches!(parse_query(&bad, &mut name), Err(Rejection::Reply { rcode: rcode::FORMERR, .. })));
        let not_last = query(b"\x00", 1, &[&tsig_rr(255)[..], &OPT_RR].concat(), 2);
        assert!(matches!(parse_query(&not_last, &mut name), Err(Rejection::Reply { rcode: rcode::FORMERR, .. })));
        // Two TSIG records: the first is not last.
        let two = query(b"\x00", 1, &[tsig_rr(255), tsig_rr(255)].concat(), 2);
        assert!(matches!(parse_query(&two, &mut name), Err(Rejection::Reply { rcode: rcode::FORMERR, .. })));
    }

    #[test]
    fn names_are_copied_out_of_compression() {
        // "a." at 12, then "b" pointing at it.
        let packet = b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01a\x00\x01b\xc0\x0c";
        let mut out = [0u8; 8];
        assert_eq!(copy_name(packet, 15, &mut out, 1), Some(6));
        assert_eq!(&out[1..6], b"\x01b\x01a\x00");
        assert_eq!(copy_name(packet, 15, &mut out, 4), None, "does not fit");
        let pointer_loop = b"\xc0\x00";
        assert_eq!(copy_name(pointer_loop, 0, &mut [0u8; 255], 0), None);
    }

    #[test]
    fn finds_the_nsid_option_among_others() {
        let keepalive = |options: &[u8]| {
            let mut opt = OPT_RR.to_vec();
            opt[9..11].copy_from_slice(&(options.len() as u16).to_be_bytes());
            opt.extend_from_slice(options);
            let q = query(b"\x00", 1, &opt, 1);
            parse_query(&q, &mut LowerName::new()).map(|p| p.edns.map(|e| (e.nsid, e.keepalive)))
        };
        let with_options = |options: &[u8]| keepalive(options).map(|asked| asked.map(|(nsid, _)| nsid));
        assert_eq!(keepalive(&[0, 11, 0, 0]), Ok(Some((false, true))));
        assert_eq!(keepalive(&[0, 11, 0, 0, 0, 3, 0, 0]), Ok(Some((true, true))));
        assert_eq!(with_options(&[]), Ok(Some(false)));
        assert_eq!(with_options(&[0, 3, 0, 0]), Ok(Some(true)));
        // After a cookie (code 10, 8 bytes).
        assert_eq!(with_options(&[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 3, 0, 0]), Ok(Some(true)));
        assert_eq!(with_options(&[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]), Ok(Some(false)));
        // An option whose length runs past the end, or a stub: read as far as it goes.
        assert_eq!(with_options(&[0, 10, 0, 9, 0, 3, 0, 0]), Ok(Some(false)));
        assert_eq!(with_options(&[0, 3]), Ok(Some(false)));
        // An NSID code hidden inside another option's data does not count.
        assert_eq!(with_options(&[0, 10, 0, 4, 0, 3, 0, 0]), Ok(Some(false)));
    }

    #[test]
    fn the_opt_record_carries_the_nsid() {
        let q = query(b"\x01a\x00", 1, &OPT_RR, 1);
        let parsed = parse_query(&q, &mut LowerName::new()).unwrap();
        let mut buf = [0u8; 512];
        let opt = Opt { udp_size: 1232, dnssec_ok: true };
        let nsid = [0, 3, 0, 4, b'f', b'r', b'a', b'1'];
        let w = Writer::new(&mut buf, &parsed, 512, OPT_LEN + nsid.len()).unwrap();
        let len = w.finish_with_options(0, true, false, Some(opt), &nsid);
        assert_eq!(len, 19 + OPT_LEN + 8);
        assert_eq!(&buf[19..len], &[0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 8, 0, 3, 0, 4, b'f', b'r', b'a', b'1']);
        assert_eq!(&buf[10..12], &[0, 1]);
    }

    #[test]
    fn small_copies_are_exact() {
        for n in 0..70 {
            let src: Vec<u8> = (0..n as u8).map(|b| b.wrapping_mul(7).wrapping_add(1)).collect();
            let mut dst = vec![0xAAu8; n];
            copy_small(&mut dst, &src);
            assert_eq!(dst, src, "length {n}");
        }
    }

    #[test]
    fn writer_truncates_at_limit() {
        let q = query(b"\x01a\x00", 1, &[], 0);
        let parsed = parse_query(&q, &mut LowerName::new()).unwrap();
        let mut buf = [0u8; 512];
        let mut w = Writer::new(&mut buf, &parsed, 40, 0).unwrap();
        assert!(w.push(Section::Answer, Owner::Pointer(12), 1, 60, &[0, 4, 1, 2, 3, 4]).is_ok());
        assert_eq!(w.push(Section::Answer, Owner::Pointer(12), 1, 60, &[0, 4, 1, 2, 3, 4]), Err(Full));
        let len = w.finish(0, true, false, None);
        assert_eq!(len, 19 + 16);
        assert_eq!(buf[2] & 0x84, 0x84);
    }

    /// Stored records (TYPE, CLASS, TTL, RDLENGTH, RDATA) of `n` A records 10.0.0.i.
    fn a_table(n: u8, ttl: u32) -> Vec<u8> {
        let mut table = Vec::new();
        for i in 0..n {
            table.extend_from_slice(&[0, 1, 0, 1]);
            table.extend_from_slice(&ttl.to_be_bytes());
            table.extend_from_slice(&[0, 4, 10, 0, 0, i]);
        }
        table
    }

    #[test]
    fn table_records_are_copied_whole_or_not_at_all() {
        let q = query(b"\x01a\x00", 1, &[], 0);
        let parsed = parse_query(&q, &mut LowerName::new()).unwrap();
        for (stride, table) in [
            (14, a_table(4, 300)),
            (26, {
                // AAAA records: 16 bytes of RDATA.
                let mut t = Vec::new();
                for i in 0..4u8 {
                    t.extend_from_slice(&[0, 28, 0, 1, 0, 0, 1, 44, 0, 16]);
                    t.extend_from_slice(&[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, i]);
                }
                t
            }),
            (12, {
                // Any other size: 2 bytes of RDATA.
                let mut t = Vec::new();
                for i in 0..4u8 {
                    t.extend_from_slice(&[0, 99, 0, 1, 0, 0, 1, 44, 0, 2, 7, i]);
                }
                t
            }),
        ] {
            let mut buf = [0u8; 512];
            let room = 19 + 2 * (2 + stride);
            let mut w = Writer::new(&mut buf, &parsed, room, 0).unwrap();
            assert_eq!(
                w.push_table(Section::Answer, 12, &table, stride, &[3, 1, 2], None),
                Err(Full),
                "stride {stride}"
            );
            assert_eq!(w.mark().pos, 19, "nothing written when the run does not fit");
            w.push_table(Section::Answer, 12, &table, stride, &[3, 1], Some(60)).unwrap();
            let len = w.finish(0, true, false, None);
            assert_eq!(len, room);
            assert_eq!(buf[7], 2, "ANCOUNT");
            for (k, member) in [3usize, 1].into_iter().enumerate() {
                let at = 19 + k * (2 + stride);
                assert_eq!(&buf[at..at + 2], &[0xC0, 12]);
                assert_eq!(&buf[at + 6..at + 10], &60u32.to_be_bytes(), "TTL replaced");
                let record = &table[member * stride..(member + 1) * stride];
                assert_eq!(&buf[at + 2..at + 6], &record[..4]);
                assert_eq!(&buf[at + 10..at + 2 + stride], &record[8..]);
            }
        }
    }
}
