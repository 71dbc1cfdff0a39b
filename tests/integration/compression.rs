//! Names inside record data are compressed (RFC 1035 section 4.1.4) for the types RFC 3597
//! section 4 allows, and only those: the answers hold the same records as before, in as few
//! bytes as Knot sends for the same zone, and every pointer points back at a name written
//! before it. The zone is `tools/peers/answer-sizes.zone`, which `tools/answer-sizes.sh`
//! serves from eightfold and Knot alike, with a few more names for the cases Knot's figures
//! do not cover.

use std::ops::Range;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use crate::common::properties::read_name;
use crate::common::*;

/// The zone the size figures were measured on, then names for the other cases.
fn zone() -> String {
    let many: String = (1..=20).map(|i| format!("many MX {i} mx{i}\n")).collect();
    let huge: String = (1..=60).map(|i| format!("huge MX {i} mx{i}.huge\nmx{i}.huge A 192.0.2.{i}\n")).collect();
    format!(
        "{}ptr PTR mail.example.com.\nptr-out PTR host.example.net.\n_sip._tcp SRV 10 60 5060 mail\n\
         mbox MB mail\nmgroup MG mail\nmrename MR mail2\nminfo MINFO hostmaster mail\n\
         opaque TYPE65280 \\# 17 03616263076578616d706c6503636f6d00\n{many}{huge}",
        include_str!("../../tools/peers/answer-sizes.zone")
    )
}

/// The zone served with `minimal_responses`, as Knot answers (no NS set in the authority
/// section of an answer).
fn server() -> TestServer {
    let config = format!("[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 2\nminimal_responses = true\n{ZONE_BODY}");
    TestServer::start_config(&config, &[("example.com.zone", &zone())], &[])
}

/// What Knot 3.2 sends for these questions on `tools/peers/answer-sizes.zone`, asked with
/// EDNS (`tools/answer-sizes.sh`, docs/performance.md).
const KNOT: &[(&str, RecordType, usize)] = &[
    ("example.com.", RecordType::NS, 136),
    ("example.com.", RecordType::MX, 143),
    ("EXAMPLE.COM.", RecordType::MX, 143),
    ("www.sub.example.com.", RecordType::A, 116),
    ("www.hosted.example.com.", RecordType::A, 99),
    ("www.example.com.", RecordType::A, 78),
    ("outside.example.com.", RecordType::A, 77),
    ("chain.example.com.", RecordType::A, 98),
    ("www.legacy.example.com.", RecordType::A, 128),
    ("hosted-mx.example.com.", RecordType::MX, 123),
    ("mx.deep.example.com.", RecordType::MX, 85),
    ("a.wild.example.com.", RecordType::MX, 84),
    ("example.com.", RecordType::SOA, 91),
    ("nothing.example.com.", RecordType::A, 99),
    ("web.example.com.", RecordType::TXT, 95),
];

#[test]
fn answers_are_no_larger_than_knots_and_hold_the_same_records() {
    let s = server();
    for &(name, qtype, knot) in KNOT {
        let query = message(name, qtype, Some(1232));
        let bytes = s.udp_raw(&query.to_vec().unwrap()).expect("an answer");
        let parsed = Message::from_vec(&bytes).expect("the answer parses");
        assert!(bytes.len() <= knot, "{name} {qtype}: {} bytes, Knot sends {knot}", bytes.len());
        assert!(!parsed.truncated(), "{name} {qtype}");
        check_pointers(&bytes).unwrap_or_else(|e| panic!("{name} {qtype}: {e}"));
        // The same records over TCP, where nothing is cut for size.
        let tcp = s.tcp(&query);
        assert_eq!(records(&tcp), records(&parsed), "{name} {qtype}");
    }
    // What the records say, name for name (in the question's spelling where they point into it).
    let m = s.udp(&message("EXAMPLE.COM.", RecordType::MX, Some(1232)));
    assert_eq!(m.queries()[0].name().to_ascii(), "EXAMPLE.COM.");
    let mut mx: Vec<String> = m.answers().iter().map(|r| r.data().to_string().to_lowercase()).collect();
    mx.sort();
    assert_eq!(mx, ["10 mail.example.com.", "20 mail2.example.com."]);
    let glue: Vec<String> = m.additionals().iter().map(|r| r.name().to_ascii().to_lowercase()).collect();
    assert_eq!(glue.len(), 3, "{glue:?}");
    let m = s.udp(&message("www.sub.example.com.", RecordType::A, None));
    assert!(!m.authoritative() && m.answers().is_empty());
    let mut ns: Vec<String> = m.name_servers().iter().map(|r| r.data().to_string()).collect();
    ns.sort();
    assert_eq!(ns, ["ns1.sub.example.com.", "ns2.sub.example.com."]);
    assert_eq!(m.additionals().len(), 2);
    let m = s.udp(&message("hosted-mx.example.com.", RecordType::MX, None));
    let mut mx: Vec<String> = m.answers().iter().map(|r| r.data().to_string()).collect();
    mx.sort();
    assert_eq!(mx, ["1 aspmx.l.google.com.", "5 alt1.aspmx.l.google.com.", "5 alt2.aspmx.l.google.com."]);
    let m = s.udp(&message("www.legacy.example.com.", RecordType::A, None));
    let chain: Vec<String> = m.answers().iter().map(|r| r.to_string()).collect();
    assert_eq!(chain.len(), 4, "{chain:?}");
    assert!(chain[1].ends_with("CNAME www.example.com."), "{chain:?}");
    assert_eq!(addresses(&m), [std::net::Ipv4Addr::new(192, 0, 2, 80)]);
    let m = s.udp(&message("nothing.example.com.", RecordType::A, None));
    assert_eq!(m.response_code(), ResponseCode::NXDomain);
    assert_eq!(
        m.name_servers()[0].data().to_string(),
        "ns1.example.com. hostmaster.example.com. 1 7200 900 1209600 300"
    );
}

#[test]
fn only_the_types_rfc_3597_allows_are_compressed() {
    let s = server();
    let ask = |name: &str, qtype: RecordType| {
        let bytes = s.udp_raw(&message(name, qtype, None).to_vec().unwrap()).expect("an answer");
        check_pointers(&bytes).unwrap_or_else(|e| panic!("{name} {qtype}: {e}"));
        let names = rdata_names(&bytes);
        assert!(!names.is_empty(), "{name} {qtype}: no record with names");
        names
    };
    // Compressed: the names that share a suffix with the owner, or with the names before.
    for (name, qtype, expected) in [
        ("ptr.example.com.", RecordType::PTR, &["mail.example.com."][..]),
        ("mbox.example.com.", RecordType::Unknown(7), &["mail.example.com."]),
        ("mgroup.example.com.", RecordType::Unknown(8), &["mail.example.com."]),
        ("mrename.example.com.", RecordType::Unknown(9), &["mail2.example.com."]),
        ("minfo.example.com.", RecordType::Unknown(14), &["hostmaster.example.com.", "mail.example.com."]),
        ("example.com.", RecordType::SOA, &["ns1.example.com.", "hostmaster.example.com."]),
    ] {
        let names = ask(name, qtype);
        let texts: Vec<&str> = names.iter().map(|(text, _)| text.as_str()).collect();
        assert_eq!(texts, expected, "{name}");
        assert!(names.iter().all(|(_, pointer)| *pointer), "{name}: {names:?}");
    }
    // Nothing in common with the owner: written out.
    assert_eq!(ask("ptr-out.example.com.", RecordType::PTR), [("host.example.net.".to_string(), false)]);
    // Never compressed: SRV (RFC 2782), a DNAME's target (RFC 6672), a type the server does
    // not know (its RDATA is copied as it is, whatever it looks like).
    assert_eq!(ask("_sip._tcp.example.com.", RecordType::SRV), [("mail.example.com.".to_string(), false)]);
    let dname = ask("www.legacy.example.com.", RecordType::A);
    assert_eq!(dname[0], ("example.com.".to_string(), false), "the DNAME's target: {dname:?}");
    let bytes = s.udp_raw(&message("opaque.example.com.", RecordType::Unknown(65280), None).to_vec().unwrap()).unwrap();
    let answer = &sections(&bytes)[0];
    assert_eq!(&bytes[answer.rdata.clone()], b"\x03abc\x07example\x03com\x00");
}

#[test]
fn a_set_that_needed_tcp_now_fits_512_bytes_and_larger_ones_still_truncate() {
    let s = server();
    // Twenty MX records: 656 bytes with names in full, truncated without EDNS; compressed,
    // they fit.
    let m = s.query("many.example.com.", RecordType::MX);
    assert!(!m.truncated());
    assert_eq!(m.answers().len(), 20);
    let mut names: Vec<String> = m.answers().iter().map(|r| r.data().to_string()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 20);
    // Sixty, with addresses: truncated over UDP without EDNS, whole over TCP, where the
    // addresses' owners point at the names in the MX records.
    let query = message("huge.example.com.", RecordType::MX, None);
    let m = s.udp(&query);
    assert!(m.truncated() && m.answers().is_empty());
    let mut stream = s.connect();
    write_framed(&mut stream, &query.to_vec().unwrap());
    let bytes = read_framed(&mut stream).expect("an answer over TCP");
    check_pointers(&bytes).unwrap();
    let m = Message::from_vec(&bytes).unwrap();
    assert!(!m.truncated());
    assert_eq!(m.answers().len(), 60);
    // The addresses of the first targets (as many as an answer keeps track of).
    assert!(m.additionals().len() >= 16, "{}", m.additionals().len());
    for record in m.additionals() {
        let name = record.name().to_ascii();
        let target = m.answers().iter().any(|mx| mx.data().to_string().ends_with(&format!(" {name}")));
        assert!(target, "{name} is no MX target");
    }
}

/// Every record's text, lowercase (a name that points into the question reads in its
/// spelling), section by section, sorted (values come in random order).
fn records(m: &Message) -> [Vec<String>; 3] {
    let text = |rs: &[hickory_proto::rr::Record]| {
        let mut texts: Vec<String> = rs.iter().map(|r| r.to_string().to_lowercase()).collect();
        texts.sort();
        texts
    };
    [text(m.answers()), text(m.name_servers()), text(m.additionals())]
}

/// One record as it lies in a message.
struct Raw {
    rtype: u16,
    rdata: Range<usize>,
}

/// The records of `message`, in order.
fn sections(message: &[u8]) -> Vec<Raw> {
    let count = |i: usize| u16::from_be_bytes([message[4 + 2 * i], message[5 + 2 * i]]) as usize;
    let mut at = read_name(message, 12).expect("question").1 + 4;
    let mut raws = Vec::new();
    for _ in 0..count(1) + count(2) + count(3) {
        let (_, end, _) = read_name(message, at).expect("owner");
        let rtype = u16::from_be_bytes([message[end], message[end + 1]]);
        let len = u16::from_be_bytes([message[end + 8], message[end + 9]]) as usize;
        raws.push(Raw { rtype, rdata: end + 10..end + 10 + len });
        at = end + 10 + len;
    }
    assert_eq!(at, message.len(), "trailing bytes");
    raws
}

/// Checks that every name of every record reads back through pointers that point back.
fn check_pointers(message: &[u8]) -> Result<(), String> {
    for raw in sections(message) {
        for (at, _) in name_offsets(message, &raw) {
            let (_, end, _) = read_name(message, at)?;
            if end > raw.rdata.end {
                return Err(format!("a name in type {} RDATA runs past it", raw.rtype));
            }
        }
    }
    Ok(())
}

/// The names in the RDATA of every record that has them: the name, and whether it is
/// compressed.
fn rdata_names(message: &[u8]) -> Vec<(String, bool)> {
    let mut names = Vec::new();
    for raw in sections(message) {
        for (at, _) in name_offsets(message, &raw) {
            let (text, _, pointer) = read_name(message, at).unwrap();
            names.push((text, pointer));
        }
    }
    names
}

/// Where the names in a record's RDATA start, for the types that have them.
fn name_offsets(message: &[u8], raw: &Raw) -> Vec<(usize, ())> {
    let start = raw.rdata.start;
    let first = match raw.rtype {
        2 | 5 | 7 | 8 | 9 | 12 | 39 => start,
        15 => start + 2,
        33 => start + 6,
        6 | 14 => {
            let second = read_name(message, start).unwrap().1;
            return vec![(start, ()), (second, ())];
        }
        _ => return Vec::new(),
    };
    vec![(first, ())]
}
