//! CHAOS-class identity answers: `id.server.`, `hostname.bind.`, `version.bind.` and
//! `version.server.` TXT (RFC 4892), from `[server] identity` and `version`; REFUSED when the
//! server has none set.

use crate::wire::{rcode, rtype, Full, LowerName, Owner, Section, Writer, CLASS_CH, HEADER_LEN};
use crate::zone::Identity;

/// Writes the answer to a CHAOS query for `qname` of type `qtype` into `writer`; returns the
/// RCODE, AA and TC to finish the response with.
#[cold]
#[inline(never)]
pub(super) fn answer(identity: &Identity, qname: &LowerName, qtype: u16, writer: &mut Writer<'_>) -> (u16, bool, bool) {
    match text(identity, qname) {
        None => (rcode::REFUSED as u16, false, false),
        Some(rdata) if matches!(qtype, rtype::TXT | rtype::ANY) => {
            match writer.push(Section::Answer, Owner::Pointer(HEADER_LEN as u16), rtype::TXT, 0, rdata) {
                Ok(at) => {
                    writer.set_class(at, CLASS_CH);
                    (rcode::NOERROR as u16, true, false)
                }
                Err(Full) => (rcode::NOERROR as u16, true, true),
            }
        }
        Some(_) => (rcode::NOERROR as u16, true, false),
    }
}

/// The TXT RDATA that answers a CHAOS query for `qname`, when the server has one set.
fn text<'a>(identity: &'a Identity, qname: &LowerName) -> Option<&'a [u8]> {
    match qname.as_wire() {
        b"\x02id\x06server\x00" | b"\x08hostname\x04bind\x00" => identity.identity.as_deref(),
        b"\x07version\x04bind\x00" | b"\x07version\x06server\x00" => identity.version.as_deref(),
        _ => None,
    }
}
