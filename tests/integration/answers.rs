//! Answer rules (RFC 1034/1035/2308/4592/6891/7766/8482) against the running binary over UDP
//! and TCP, read back with hickory-proto.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use crate::common::*;
use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::RecordType;

fn server() -> TestServer {
    let body = format!("{ZONE_BODY}{}", multivalue_records("mv16.example.com.", 16));
    TestServer::start(&body, &[("example.com.zone", ZONE)])
}

#[test]
fn header_flags_and_question_echo() {
    let s = server();
    for tcp in [false, true] {
        let q = message("StAtIc.ExAmPlE.cOm.", RecordType::A, None);
        let m = if tcp { s.tcp(&q) } else { s.udp(&q) };
        assert!(m.authoritative(), "AA over tcp={tcp}");
        assert!(!m.recursion_available());
        assert!(m.recursion_desired());
        assert_eq!(m.op_code(), OpCode::Query);
        assert_eq!(m.response_code(), ResponseCode::NoError);
        assert_eq!(m.queries(), q.queries(), "question echoed byte for byte");
        assert_eq!(addresses(&m), vec![Ipv4Addr::new(192, 0, 2, 7)]);
        assert_eq!(m.answers()[0].ttl(), 300);
        // Route 53 puts the zone's NS records in the authority section of positive answers.
        assert_eq!(m.name_servers().len(), 2);
        assert!(m.name_servers().iter().all(|r| r.record_type() == RecordType::NS));
    }
}

#[test]
fn nxdomain_and_nodata_carry_the_soa() {
    let s = server();
    let m = s.query("nothing-here.example.com.", RecordType::A);
    assert_eq!(m.response_code(), ResponseCode::NXDomain);
    assert!(m.authoritative());
    assert!(m.answers().is_empty());
    let soa = &m.name_servers()[0];
    assert_eq!(soa.record_type(), RecordType::SOA);
    assert_eq!(soa.name().to_ascii(), "example.com.");
    assert_eq!(soa.ttl(), 60, "min(SOA TTL, SOA minimum)");
    // NODATA: the name exists without the type.
    let m = s.query("static.example.com.", RecordType::AAAA);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.answers().is_empty());
    assert_eq!(m.name_servers()[0].record_type(), RecordType::SOA);
    // Empty non-terminal.
    let m = s.query("b.ent.example.com.", RecordType::A);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.answers().is_empty());
    assert_eq!(m.name_servers()[0].record_type(), RecordType::SOA);
    // Multivalue names are NODATA for other types (T9).
    let m = s.query("mv16.example.com.", RecordType::AAAA);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.answers().is_empty());
}

#[test]
fn cname_chains_inside_the_zone() {
    let s = server();
    let m = s.query("alias.example.com.", RecordType::A);
    assert_eq!(m.answers()[0].record_type(), RecordType::CNAME);
    assert_eq!(m.answers()[1].name().to_ascii(), "static.example.com.");
    assert_eq!(addresses(&m), vec![Ipv4Addr::new(192, 0, 2, 7)]);
    let m = s.query("chain1.example.com.", RecordType::A);
    assert_eq!(m.answers().len(), 3);
    // The CNAME itself when asked for.
    let m = s.query("alias.example.com.", RecordType::CNAME);
    assert_eq!(m.answers().len(), 1);
    // Out-of-zone target: only the CNAME.
    let m = s.query("outside.example.com.", RecordType::A);
    assert_eq!(m.answers().len(), 1);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    // Target that does not exist: NXDOMAIN for the last name (RFC 6604), CNAME kept.
    let m = s.query("missing.example.com.", RecordType::A);
    assert_eq!(m.answers().len(), 1);
    assert_eq!(m.response_code(), ResponseCode::NXDomain);
}

#[test]
fn wildcards_follow_rfc4592() {
    let s = server();
    let m = s.query("anything.wild.example.com.", RecordType::TXT);
    assert_eq!(m.answers().len(), 1);
    assert_eq!(m.answers()[0].name().to_ascii(), "anything.wild.example.com.");
    let m = s.query("deeper.name.wild.example.com.", RecordType::TXT);
    assert_eq!(m.answers().len(), 1);
    let m = s.query("anything.wild.example.com.", RecordType::A);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.answers().is_empty());
    // The wildcard's parent exists only as an empty non-terminal.
    let m = s.query("wild.example.com.", RecordType::TXT);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.answers().is_empty());
}

#[test]
fn an_empty_name_exists_so_no_wildcard_covers_it() {
    let body = ZONE_BODY.replace(
        "file = \"example.com.zone\"\n",
        "file = \"example.com.zone\"\nempty_names = [\"kept.wild.example.com.\", \"*.gone\"]\n",
    );
    let s = TestServer::start(&body, &[("example.com.zone", ZONE)]);
    assert_eq!(s.query("other.wild.example.com.", RecordType::TXT).answers().len(), 1, "the wildcard still answers");
    for (name, qtype) in [
        ("kept.wild.example.com.", RecordType::TXT),
        ("kept.wild.example.com.", RecordType::A),
        ("below.kept.wild.example.com.", RecordType::TXT),
        ("x.gone.example.com.", RecordType::TXT),
        ("gone.example.com.", RecordType::A),
    ] {
        let m = s.query(name, qtype);
        let nxdomain = name.starts_with("below");
        let rcode = if nxdomain { ResponseCode::NXDomain } else { ResponseCode::NoError };
        assert_eq!(m.response_code(), rcode, "{name} {qtype}");
        assert!(m.answers().is_empty(), "{name} {qtype}: {:?}", m.answers());
        assert_eq!(m.name_servers()[0].record_type(), RecordType::SOA, "{name} {qtype}");
    }
    let dname = "$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.53\n\
                 old DNAME new.example.com.\nsub NS ns1.other.\n";
    let body = ZONE_BODY.replace(
        "file = \"example.com.zone\"\n",
        "file = \"example.com.zone\"\nempty_names = [\"a.old\", \"b.sub\", \"c.example.org.\"]\n",
    );
    let (code, out) = check(&body, &[("example.com.zone", dname)]);
    assert_eq!(code, 1, "{out}");
    for reason in [
        "a.old.example.com. lies below the DNAME at old.example.com.",
        "b.sub.example.com. lies at or below the delegation at sub.example.com.",
        "key `empty_names`: c.example.org. is outside the zone example.com.",
    ] {
        assert!(out.contains(reason), "{reason:?} missing from:\n{out}");
    }
}

#[test]
fn delegations_are_referrals_with_glue() {
    let s = server();
    for name in ["sub.example.com.", "host.sub.example.com."] {
        let m = s.query(name, RecordType::A);
        assert!(!m.authoritative(), "{name}");
        assert_eq!(m.response_code(), ResponseCode::NoError);
        assert!(m.answers().is_empty());
        assert_eq!(m.name_servers().len(), 1);
        assert_eq!(m.name_servers()[0].name().to_ascii(), "sub.example.com.");
        assert_eq!(m.additionals()[0].name().to_ascii(), "ns.sub.example.com.");
    }
}

#[test]
fn additional_addresses_for_mx_and_srv() {
    let s = server();
    let m = s.query("example.com.", RecordType::MX);
    let extra: HashSet<RecordType> = m.additionals().iter().map(|r| r.record_type()).collect();
    assert_eq!(extra, HashSet::from([RecordType::A, RecordType::AAAA]));
    let m = s.query("_sip._tcp.example.com.", RecordType::SRV);
    assert!(m.additionals().iter().any(|r| r.name().to_ascii() == "mail.example.com."));
}

#[test]
fn refused_outside_zones_notimp_and_transfers() {
    let s = server();
    assert_eq!(s.query("www.example.org.", RecordType::A).response_code(), ResponseCode::Refused);
    assert!(!s.query("www.example.org.", RecordType::A).authoritative());
    assert_eq!(s.query("example.com.", RecordType::AXFR).response_code(), ResponseCode::Refused);
    assert_eq!(s.tcp(&message("example.com.", RecordType::AXFR, None)).response_code(), ResponseCode::Refused);
    assert_eq!(s.query("example.com.", RecordType::IXFR).response_code(), ResponseCode::Refused);
    let mut notify = message("example.com.", RecordType::SOA, None);
    notify.set_op_code(OpCode::Notify);
    assert_eq!(s.udp(&notify).response_code(), ResponseCode::NotImp);
    let mut update = message("example.com.", RecordType::SOA, None);
    update.set_op_code(OpCode::Update);
    assert_eq!(s.udp(&update).response_code(), ResponseCode::NotImp);
}

/// The extended DNS error (RFC 8914) a raw response ends with: (info code, ARCOUNT), when its
/// last bytes are an EDE option with no text.
fn trailing_ede(response: &[u8]) -> Option<(u16, u16)> {
    let tail = response.get(response.len().checked_sub(6)?..)?;
    let arcount = u16::from_be_bytes([response[10], response[11]]);
    (tail[..4] == [0, 15, 0, 2]).then(|| (u16::from_be_bytes([tail[4], tail[5]]), arcount))
}

#[test]
fn edns_errors_carry_an_opt_and_refusals_an_extended_error() {
    let s = server();
    // Outside every zone: REFUSED with EDE 20 (Not Authoritative), as Knot and NSD send.
    let query = message("www.example.org.", RecordType::A, Some(1232));
    let raw = s.udp_raw(&query.to_vec().unwrap()).expect("an answer");
    let m = Message::from_vec(&raw).unwrap();
    assert_eq!(m.response_code(), ResponseCode::Refused);
    assert!(m.extensions().is_some(), "the OPT");
    assert_eq!(trailing_ede(&raw), Some((20, 1)));
    // Zone transfers are not built: EDE 21 (Not Supported), over TCP as well.
    let raw = s.udp_raw(&message("example.com.", RecordType::AXFR, Some(1232)).to_vec().unwrap()).unwrap();
    assert_eq!(trailing_ede(&raw), Some((21, 1)));
    let m = s.tcp(&message("example.com.", RecordType::AXFR, Some(1232)));
    assert_eq!(m.response_code(), ResponseCode::Refused);
    assert!(m.extensions().is_some());
    // Without EDNS there is no OPT to carry one.
    let raw = s.udp_raw(&message("www.example.org.", RecordType::A, None).to_vec().unwrap()).unwrap();
    assert_eq!(trailing_ede(&raw), None);
    assert_eq!(u16::from_be_bytes([raw[10], raw[11]]), 0);
    // Another opcode: NOTIMP with the OPT, and RD not echoed.
    let mut notify = message("example.com.", RecordType::SOA, Some(1232));
    notify.set_op_code(OpCode::Notify);
    let m = s.udp(&notify);
    assert_eq!(m.response_code(), ResponseCode::NotImp);
    assert!(m.extensions().is_some(), "NOTIMP to an EDNS query carries an OPT");
    assert!(!m.recursion_desired(), "RD is not echoed to another opcode");
    assert_eq!(m.op_code(), OpCode::Notify);
    // A question for type OPT: FORMERR, with the OPT.
    let m = s.udp(&message("example.com.", RecordType::OPT, Some(1232)));
    assert_eq!(m.response_code(), ResponseCode::FormErr);
    assert!(m.extensions().is_some(), "FORMERR to an EDNS query carries an OPT");
    // Answers and their flags are otherwise as before.
    let m = s.query("www.example.com.", RecordType::A);
    assert!(m.recursion_desired());
}

/// `query` with a TSIG record for key `key.example.com.` (hmac-sha256, a 32-byte MAC), as a
/// client that signs its queries sends it; ARCOUNT counts it.
fn signed(query: &Message) -> Vec<u8> {
    let mut packet = query.to_vec().unwrap();
    let mut rdata = b"\x0bhmac-sha256\x00".to_vec();
    rdata.extend_from_slice(&[0, 0, 0x69, 0x50, 0, 0, 0x01, 0x2c, 0, 32]);
    rdata.extend_from_slice(&[0x5a; 32]);
    rdata.extend_from_slice(&packet[..2]);
    rdata.extend_from_slice(&[0, 0, 0, 0]);
    packet.extend_from_slice(b"\x03key\x07example\x03com\x00\x00\xfa\x00\xff\0\0\0\0");
    packet.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    packet.extend_from_slice(&rdata);
    let arcount = u16::from_be_bytes([packet[10], packet[11]]) + 1;
    packet[10..12].copy_from_slice(&arcount.to_be_bytes());
    packet
}

/// The TSIG error of the TSIG record `response` ends with (its last 6 bytes: original ID,
/// error, other length), and its MAC size, when it ends with one naming `key.example.com.`.
fn tsig_error(response: &[u8]) -> Option<(u16, u16)> {
    let owner = b"\x03key\x07example\x03com\x00\x00\xfa\x00\xff";
    let at = response.windows(owner.len()).rposition(|w| w == owner)?;
    let rdata = at + owner.len() + 6;
    let algorithm_end = rdata + 13;
    let mac_size = u16::from_be_bytes([response[algorithm_end + 8], response[algorithm_end + 9]]);
    let error = u16::from_be_bytes([response[response.len() - 4], response[response.len() - 3]]);
    Some((error, mac_size))
}

#[test]
fn a_query_signed_with_an_unknown_key_is_notauth_badkey() {
    let s = server();
    for edns in [None, Some(1232)] {
        let query = message("www.example.com.", RecordType::A, edns);
        let raw = s.udp_raw(&signed(&query)).expect("an answer");
        assert_eq!(&raw[..2], &query.to_vec().unwrap()[..2], "the ID");
        assert_eq!(raw[3] & 0x0F, 9, "NOTAUTH, not the data");
        assert_eq!(u16::from_be_bytes([raw[6], raw[7]]), 0, "no answer records");
        assert_eq!(tsig_error(&raw), Some((17, 0)), "BADKEY with an empty MAC: {raw:02x?}");
        let parsed = Message::from_vec(&raw).expect("the reply parses with hickory");
        assert_eq!(parsed.response_code(), ResponseCode::NotAuth);
        let arcount = u16::from_be_bytes([raw[10], raw[11]]);
        assert_eq!(arcount, 1 + edns.is_some() as u16, "the TSIG, and the OPT with EDNS");
    }
    // Over TCP the same.
    let mut stream = s.connect();
    write_framed(&mut stream, &signed(&message("www.example.com.", RecordType::A, None)));
    let raw = read_framed(&mut stream).expect("a TCP answer");
    assert_eq!(raw[3] & 0x0F, 9);
    assert_eq!(tsig_error(&raw), Some((17, 0)));
}

#[test]
fn any_gets_a_minimal_answer() {
    let s = server();
    let m = s.query("example.com.", RecordType::ANY);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    let types: HashSet<RecordType> = m.answers().iter().map(|r| r.record_type()).collect();
    assert_eq!(types.len(), 1, "one RRset (RFC 8482)");
}

#[test]
fn edns_is_echoed_and_versions_checked() {
    let s = server();
    let m = s.udp(&message("static.example.com.", RecordType::A, Some(4096)));
    let opt = m.extensions().as_ref().expect("OPT echoed");
    assert_eq!(opt.max_payload(), 1232);
    assert_eq!(opt.version(), 0);
    let m = s.query("static.example.com.", RecordType::A);
    assert!(m.extensions().is_none(), "no OPT without one in the query");
    let mut q = message("static.example.com.", RecordType::A, Some(4096));
    q.extensions_mut().as_mut().unwrap().set_version(1);
    let m = s.udp(&q);
    assert_eq!(u16::from(m.response_code()), 16, "BADVERS (shares its code with BADSIG)");
    assert!(m.answers().is_empty());
}

#[test]
fn multivalue_sixteen_records_eight_distinct_all_appear() {
    let s = server();
    let mut seen: HashMap<Ipv4Addr, usize> = HashMap::new();
    let mut orders = HashSet::new();
    for _ in 0..300 {
        let m = s.query("mv16.example.com.", RecordType::A);
        let got = addresses(&m);
        assert_eq!(got.len(), 8);
        let distinct: HashSet<_> = got.iter().collect();
        assert_eq!(distinct.len(), 8, "{got:?}");
        assert!(m.answers().iter().all(|r| r.ttl() == 60));
        orders.insert(got.clone());
        for a in got {
            *seen.entry(a).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), 16, "every record appears: {seen:?}");
    assert!(orders.len() > 100, "answers vary");
}

#[test]
fn large_answer_truncated_over_udp_then_complete_over_tcp() {
    let txt: String = (0..20).map(|i| format!("big TXT \"{i:02}{}\"\n", "x".repeat(60))).collect();
    let zone = format!("{ZONE}{txt}");
    let s = TestServer::start(ZONE_BODY, &[("example.com.zone", &zone)]);
    let q = message("big.example.com.", RecordType::TXT, None);
    let m = s.udp(&q);
    assert!(m.truncated(), "over 512 bytes without EDNS");
    assert!(m.answers().is_empty(), "never silently trimmed");
    let m = s.udp(&message("big.example.com.", RecordType::TXT, Some(1232)));
    assert!(m.truncated() || m.answers().len() == 20);
    let m = s.tcp(&q);
    assert!(!m.truncated());
    assert_eq!(m.answers().len(), 20);
}

#[test]
fn answers_up_to_a_large_edns_size_arrive_whole_or_truncated() {
    // 30 TXT records take about 2,300 bytes: more than one Ethernet frame carries. Over
    // loopback the whole set comes in one datagram; where a path cannot send it in one packet
    // (AF_XDP keeps an answer within the interface's MTU) it comes truncated. It always comes.
    let txt: String = (0..30).map(|i| format!("big TXT \"{i:02}{}\"\n", "x".repeat(60))).collect();
    let zone = format!("{ZONE}{txt}");
    let config = format!("[server]\nlisten = [\"127.0.0.1:0\"]\nedns_udp_size = 4096\n{ZONE_BODY}");
    let s = TestServer::start_config(&config, &[("example.com.zone", &zone)], &[]);
    for _ in 0..2 {
        let m = s.udp(&message("big.example.com.", RecordType::TXT, Some(4096)));
        assert_eq!(m.response_code(), ResponseCode::NoError);
        assert!(m.truncated() || m.answers().len() == 30, "{} records, TC clear", m.answers().len());
        assert_eq!(m.extensions().as_ref().map(|e| e.max_payload()), Some(4096));
    }
    assert_eq!(s.tcp(&message("big.example.com.", RecordType::TXT, None)).answers().len(), 30);
}

#[test]
fn tcp_pipelines_several_queries_on_one_connection() {
    let s = server();
    let mut stream = s.connect();
    let names = ["static.example.com.", "alias.example.com.", "nothing.example.com.", "mv16.example.com."];
    let queries: Vec<Message> = names.iter().map(|n| message(n, RecordType::A, None)).collect();
    let mut batch = Vec::new();
    for q in &queries {
        let bytes = q.to_vec().unwrap();
        batch.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        batch.extend_from_slice(&bytes);
    }
    std::io::Write::write_all(&mut stream, &batch).unwrap();
    for q in &queries {
        let m = Message::from_vec(&read_framed(&mut stream).unwrap()).unwrap();
        assert_eq!(m.id(), q.id());
        assert_eq!(m.queries(), q.queries());
    }
    // The connection stays usable.
    write_framed(&mut stream, &queries[0].to_vec().unwrap());
    assert!(read_framed(&mut stream).is_some());
}

#[test]
fn built_in_demo_answers() {
    let s = TestServer::start_demo();
    let m = s.query("www.example.com.", RecordType::A);
    assert!(m.authoritative());
    assert_eq!(addresses(&m).len(), 8);
    let m = s.query("example.com.", RecordType::MX);
    assert_eq!(m.answers().len(), 1);
}

#[test]
fn tcp_idle_connections_close_and_the_cap_evicts_the_longest_idle() {
    use std::io::Read;
    use std::time::{Duration, Instant};
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 1\ntcp_idle_timeout = 2\ntcp_max_connections = 3\n{ZONE_BODY}"
    );
    let s = TestServer::start_config(&config, &[("example.com.zone", ZONE)], &[]);
    // Idle timeout: the server closes a silent connection after about two seconds.
    let mut idle = s.connect();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut byte = [0u8; 1];
    assert_eq!(idle.read(&mut byte).unwrap_or(0), 0, "closed, not answered");
    assert!(started.elapsed() < Duration::from_secs(5), "closed after the idle timeout");
    // The cap: a fourth connection evicts the longest idle of three.
    let mut first = s.connect();
    std::thread::sleep(Duration::from_millis(50));
    let _second = s.connect();
    let _third = s.connect();
    std::thread::sleep(Duration::from_millis(50));
    let mut fourth = s.connect();
    write_framed(&mut fourth, &message("static.example.com.", RecordType::A, None).to_vec().unwrap());
    assert!(read_framed(&mut fourth).is_some(), "the newest connection is served");
    first.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    assert_eq!(first.read(&mut byte).unwrap_or(0), 0, "the longest-idle connection was closed");
}

#[test]
fn zone_file_ttls_may_carry_units() {
    // BIND's TTL units, as Knot and NSD read them: $TTL, record TTLs in either field order,
    // and the SOA timers.
    let zone = "$ORIGIN example.com.\n$TTL 1h\n\
                @ IN SOA ns1 hostmaster ( 2026112101 ; serial\n    2h 15m 2w 90s )\n\
                @ NS ns1\nns1 A 192.0.2.53\n\
                plain A 192.0.2.1\n\
                day 1d IN A 192.0.2.2\n\
                mixed IN 1h30m A 192.0.2.3\n\
                1h A 192.0.2.4\n";
    let s = TestServer::start(ZONE_BODY, &[("example.com.zone", zone)]);
    let ttl = |name: &str| s.query(name, RecordType::A).answers()[0].ttl();
    assert_eq!(ttl("plain.example.com."), 3600);
    assert_eq!(ttl("day.example.com."), 86_400);
    assert_eq!(ttl("mixed.example.com."), 5_400);
    // A name that looks like a TTL stays a name.
    assert_eq!(ttl("1h.example.com."), 3600);
    let m = s.query("example.com.", RecordType::SOA);
    let text = m.answers()[0].data().to_string();
    assert!(text.ends_with("2026112101 7200 900 1209600 90"), "{text}");
    // Negative answers use min(SOA TTL, minimum).
    let m = s.query("nothing.example.com.", RecordType::A);
    assert_eq!(m.name_servers()[0].ttl(), 90);
}

#[test]
fn dname_rewrites_names_below_it() {
    // A target of 3 * 64 + 2 + 1 = 195 bytes leaves 60 for the labels rewritten onto it.
    let long_target: String = ["a", "b", "c"].map(|c| format!("{c}{}.", "0".repeat(62))).concat() + "d.";
    let zone = format!(
        "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\n\
         ns1 A 192.0.2.53\n\
         old 600 DNAME new.example.com.\n\
         www.new A 192.0.2.80\n\
         ext DNAME example.net.\n\
         long DNAME {long_target}\n"
    );
    let zone = zone.as_str();
    let s = TestServer::start(ZONE_BODY, &[("example.com.zone", zone)]);
    let text = |m: &Message| m.answers().iter().map(|r| r.to_string()).collect::<Vec<_>>();

    // RFC 6672 section 3.2: the DNAME, a CNAME to the rewritten name with the DNAME's TTL,
    // then that name's answer when it is in the zone.
    let m = s.query("WWW.Old.example.com.", RecordType::A);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.authoritative());
    let answers = text(&m);
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert_eq!(m.answers()[0].record_type(), RecordType::Unknown(39));
    assert_eq!(m.answers()[0].name().to_ascii().to_lowercase(), "old.example.com.");
    assert_eq!(m.answers()[0].ttl(), 600);
    assert_eq!(m.answers()[1].record_type(), RecordType::CNAME);
    assert_eq!(m.answers()[1].name().to_ascii(), "WWW.Old.example.com.");
    assert_eq!(m.answers()[1].ttl(), 600);
    assert_eq!(m.answers()[1].data().to_string().to_lowercase(), "www.new.example.com.");
    assert_eq!(addresses(&m), vec![Ipv4Addr::new(192, 0, 2, 80)]);

    // The rewritten name does not exist: NXDOMAIN after the DNAME and CNAME (RFC 6604).
    let m = s.query("x.old.example.com.", RecordType::A);
    assert_eq!(m.response_code(), ResponseCode::NXDomain);
    assert_eq!(m.answers().len(), 2);
    assert_eq!(m.name_servers()[0].record_type(), RecordType::SOA);

    // Out of the zone: the client follows the CNAME.
    let m = s.query("a.b.ext.example.com.", RecordType::A);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert_eq!(m.answers().len(), 2);
    assert_eq!(m.answers()[1].data().to_string(), "a.b.example.net.");

    // A CNAME query stops at the synthesized CNAME.
    let m = s.query("www.old.example.com.", RecordType::CNAME);
    assert_eq!(m.answers().len(), 2);
    assert_eq!(m.answers()[1].record_type(), RecordType::CNAME);

    // The DNAME's own name answers as any name does.
    let m = s.query("old.example.com.", RecordType::Unknown(39));
    assert_eq!(m.answers().len(), 1);
    let m = s.query("old.example.com.", RecordType::A);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.answers().is_empty());

    // A rewritten name longer than 255 bytes (61 + 195): YXDOMAIN, with the DNAME.
    let m = s.query(&format!("{}.long.example.com.", "x".repeat(60)), RecordType::A);
    assert_eq!(m.response_code(), ResponseCode::YXDomain);
    assert_eq!(m.answers().len(), 1);
    assert_eq!(m.answers()[0].record_type(), RecordType::Unknown(39));
    // One byte shorter fits exactly (60 + 195 = 255): the CNAME, then the client's turn. The
    // CNAME's target is the 60 bytes below the DNAME and a pointer to the DNAME's target, so
    // the answer fits 512 bytes without EDNS (written in full it would not: 568 bytes).
    let name = format!("{}.long.example.com.", "y".repeat(59));
    for edns in [None, Some(1232)] {
        let m = s.udp(&message(&name, RecordType::A, edns));
        assert_eq!(m.response_code(), ResponseCode::NoError, "{:?}", text(&m));
        assert!(!m.truncated());
        assert_eq!(m.answers().len(), 2);
        assert_eq!(m.answers()[1].data().to_string(), format!("{}.{long_target}", "y".repeat(59)));
    }
}

#[test]
fn names_below_a_dname_are_refused_at_load() {
    let zone = "$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.53\n\
                old DNAME new.example.com.\nwww.old A 192.0.2.1\n";
    let (code, out) = check(ZONE_BODY, &[("example.com.zone", zone)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("www.old.example.com. A") && out.contains("below the DNAME at old.example.com."), "{out}");
    let zone = "$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.53\n\
                old DNAME new.example.com.\nold DNAME other.example.com.\n";
    let (code, out) = check(ZONE_BODY, &[("example.com.zone", zone)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("more than one DNAME at old.example.com."), "{out}");
}

/// A raw query for `name` (wire form) with class `class`, and an OPT carrying `options`.
fn raw_query(name: &[u8], qtype: u16, class: u16, options: Option<&[u8]>) -> Vec<u8> {
    let mut q = vec![0xbe, 0xef, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, options.is_some() as u8];
    q.extend_from_slice(name);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&class.to_be_bytes());
    if let Some(options) = options {
        q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
        q.extend_from_slice(&(options.len() as u16).to_be_bytes());
        q.extend_from_slice(options);
    }
    q
}

/// The EDNS options (code, data; sorted) of an answer to `static.example.com. A`, which it
/// checks first.
fn static_a_options(bytes: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let m = Message::from_vec(bytes).unwrap();
    assert_eq!(addresses(&m), vec![Ipv4Addr::new(192, 0, 2, 7)]);
    let edns = m.extensions().as_ref().expect("an OPT").clone();
    let mut options: Vec<(u16, Vec<u8>)> = edns
        .options()
        .as_ref()
        .iter()
        .map(|(code, option)| match option {
            hickory_proto::rr::rdata::opt::EdnsOption::Unknown(_, data) => (u16::from(*code), data.clone()),
            other => (u16::from(*code), format!("{other:?}").into_bytes()),
        })
        .collect();
    options.sort();
    options
}

#[test]
fn server_identity_answers_chaos_queries_and_nsid() {
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nidentity = \"edge-fra-1\"\nversion = \"eightfold test\"\nnsid = \"0x667261\"\n{ZONE_BODY}"
    );
    let s = TestServer::start_config(&config, &[("example.com.zone", ZONE)], &[]);
    let ask = |name: &[u8], qtype: u16, options: Option<&[u8]>| {
        Message::from_vec(&s.udp_raw(&raw_query(name, qtype, 3, options)).expect("an answer")).unwrap()
    };
    let txt = |m: &Message| m.answers().iter().map(|r| r.data().to_string()).collect::<Vec<_>>();
    for name in [&b"\x02id\x06server\x00"[..], b"\x08HOSTNAME\x04bind\x00"] {
        let m = ask(name, 16, None);
        assert_eq!(m.response_code(), ResponseCode::NoError);
        assert!(m.authoritative());
        assert_eq!(txt(&m), vec!["edge-fra-1"]);
        assert_eq!(m.answers()[0].dns_class(), hickory_proto::rr::DNSClass::CH);
    }
    for name in [&b"\x07version\x04bind\x00"[..], b"\x07version\x06server\x00"] {
        assert_eq!(txt(&ask(name, 16, None)), vec!["eightfold test"]);
    }
    // Another type at those names: no data. Another CHAOS name: refused.
    let m = ask(b"\x02id\x06server\x00", 1, None);
    assert_eq!((m.response_code(), m.answers().len()), (ResponseCode::NoError, 0));
    assert_eq!(ask(b"\x07authors\x04bind\x00", 16, None).response_code(), ResponseCode::Refused);

    // NSID (RFC 5001): sent only to a query that asks, after any other option.
    let nsid_of = |options: &[u8]| {
        let q = raw_query(b"\x06static\x07example\x03com\x00", 1, 1, Some(options));
        let options = static_a_options(&s.udp_raw(&q).expect("an answer"));
        options.into_iter().find_map(|(code, data)| (code == 3).then_some(data))
    };
    assert_eq!(nsid_of(&[0, 3, 0, 0]), Some(b"fra".to_vec()));
    assert_eq!(nsid_of(&[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 3, 0, 0]), Some(b"fra".to_vec()));
    assert_eq!(nsid_of(&[]), None);
}

#[test]
fn without_an_identity_chaos_queries_are_refused() {
    let s = server();
    for name in [&b"\x02id\x06server\x00"[..], b"\x07version\x04bind\x00"] {
        let m = Message::from_vec(&s.udp_raw(&raw_query(name, 16, 3, None)).unwrap()).unwrap();
        assert_eq!(m.response_code(), ResponseCode::Refused);
        assert!(m.answers().is_empty());
    }
    let q = raw_query(b"\x06static\x07example\x03com\x00", 1, 1, Some(&[0, 3, 0, 0]));
    let m = Message::from_vec(&s.udp_raw(&q).unwrap()).unwrap();
    let edns = m.extensions().as_ref().expect("an OPT");
    assert!(edns.options().as_ref().is_empty(), "no NSID configured, none sent");
}

#[test]
fn tcp_clients_that_ask_learn_the_idle_timeout() {
    let config = format!("[server]\nlisten = [\"127.0.0.1:0\"]\ntcp_idle_timeout = 25\nnsid = \"n1\"\n{ZONE_BODY}");
    let s = TestServer::start_config(&config, &[("example.com.zone", ZONE)], &[]);
    let options_of = static_a_options;
    let name = b"\x06static\x07example\x03com\x00";
    // Over TCP: edns-tcp-keepalive (code 11) with the timeout in units of 100 ms (RFC 7828).
    let mut stream = s.connect();
    write_framed(&mut stream, &raw_query(name, 1, 1, Some(&[0, 11, 0, 0])));
    let answer = read_framed(&mut stream).expect("an answer over TCP");
    assert_eq!(options_of(&answer), vec![(11, vec![0, 250])]);
    // With the NSID asked too, both; on the same connection.
    write_framed(&mut stream, &raw_query(name, 1, 1, Some(&[0, 3, 0, 0, 0, 11, 0, 0])));
    let answer = read_framed(&mut stream).expect("a second answer over TCP");
    assert_eq!(options_of(&answer), vec![(3, b"n1".to_vec()), (11, vec![0, 250])]);
    // Never over UDP (RFC 7828 section 3.2.2).
    let answer = s.udp_raw(&raw_query(name, 1, 1, Some(&[0, 11, 0, 0]))).expect("an answer over UDP");
    assert!(options_of(&answer).is_empty());
}

#[test]
fn a_free_standing_at_in_record_data_is_the_origin() {
    // RFC 1035 section 5.1, as BIND, Knot and NSD read it; `$ORIGIN` moves it.
    let zone = "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\n\
                ns1 A 192.0.2.53\n@ A 192.0.2.1\n\
                www CNAME @\n\
                @ MX 10 @\n\
                $ORIGIN sub.example.com.\n@ A 192.0.2.2\na CNAME @\n";
    let s = TestServer::start(ZONE_BODY, &[("example.com.zone", zone)]);
    let m = s.query("www.example.com.", RecordType::A);
    assert_eq!(m.answers()[0].data().to_string(), "example.com.");
    assert_eq!(addresses(&m), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    let m = s.query("example.com.", RecordType::MX);
    assert_eq!(m.answers()[0].data().to_string(), "10 example.com.");
    let m = s.query("a.sub.example.com.", RecordType::A);
    assert_eq!(m.answers()[0].data().to_string(), "sub.example.com.");
    assert_eq!(addresses(&m), vec![Ipv4Addr::new(192, 0, 2, 2)]);
}

#[test]
fn ds_at_a_child_apex_comes_from_the_parent_zone() {
    // Both sides of a delegation served here: DS is parent-side data (RFC 4035 3.1.4.1).
    let parent = "$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.53\n\
                  sub NS ns1.sub\nns1.sub A 192.0.2.54\n\
                  sub DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n\
                  other NS ns1.other\nns1.other A 192.0.2.55\n";
    let child = "$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.54\nwww A 192.0.2.80\n";
    let body = "[[zone]]\norigin = \"example.com.\"\nfile = \"parent.zone\"\n\
                [[zone]]\norigin = \"sub.example.com.\"\nfile = \"sub.zone\"\n\
                [[zone]]\norigin = \"other.example.com.\"\nfile = \"other.zone\"\n";
    let other = child.replace("192.0.2.54", "192.0.2.55");
    let s = TestServer::start(body, &[("parent.zone", parent), ("sub.zone", child), ("other.zone", &other)]);
    let m = s.query("sub.example.com.", RecordType::DS);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.authoritative());
    assert_eq!(m.answers().len(), 1);
    assert_eq!(m.answers()[0].record_type(), RecordType::DS);
    // No DS in the parent: NODATA with the parent's SOA.
    let m = s.query("other.example.com.", RecordType::DS);
    assert!(m.answers().is_empty());
    assert_eq!(m.name_servers()[0].name().to_ascii(), "example.com.");
    // Everything else at the child apex, and DS below it, come from the child.
    let m = s.query("sub.example.com.", RecordType::NS);
    assert!(m.authoritative());
    assert_eq!(m.answers()[0].record_type(), RecordType::NS);
    let m = s.query("www.sub.example.com.", RecordType::DS);
    assert_eq!(m.name_servers()[0].name().to_ascii(), "sub.example.com.");
}

#[test]
fn the_apex_ns_set_is_not_repeated_in_authority() {
    let s = server();
    let m = s.query("example.com.", RecordType::NS);
    assert_eq!(m.answers().len(), 2);
    assert!(m.answers().iter().all(|r| r.record_type() == RecordType::NS));
    assert!(m.name_servers().is_empty(), "{:?}", m.name_servers());
    // Other positive answers still carry it (minimal_responses is off here).
    let m = s.query("example.com.", RecordType::SOA);
    assert_eq!(m.name_servers().len(), 2);
}

/// The same tests with the server behind AF_XDP (see `common::xdp`).
mod xdp {
    crate::common::xdp::also_behind_xdp!(
        header_flags_and_question_echo,
        nxdomain_and_nodata_carry_the_soa,
        cname_chains_inside_the_zone,
        wildcards_follow_rfc4592,
        an_empty_name_exists_so_no_wildcard_covers_it,
        delegations_are_referrals_with_glue,
        additional_addresses_for_mx_and_srv,
        refused_outside_zones_notimp_and_transfers,
        edns_errors_carry_an_opt_and_refusals_an_extended_error,
        a_query_signed_with_an_unknown_key_is_notauth_badkey,
        any_gets_a_minimal_answer,
        edns_is_echoed_and_versions_checked,
        multivalue_sixteen_records_eight_distinct_all_appear,
        large_answer_truncated_over_udp_then_complete_over_tcp,
        answers_up_to_a_large_edns_size_arrive_whole_or_truncated,
        tcp_pipelines_several_queries_on_one_connection,
        built_in_demo_answers,
        tcp_idle_connections_close_and_the_cap_evicts_the_longest_idle,
        zone_file_ttls_may_carry_units,
        dname_rewrites_names_below_it,
        server_identity_answers_chaos_queries_and_nsid,
        without_an_identity_chaos_queries_are_refused,
        tcp_clients_that_ask_learn_the_idle_timeout,
        a_free_standing_at_in_record_data_is_the_origin,
        ds_at_a_child_apex_comes_from_the_parent_zone,
        the_apex_ns_set_is_not_repeated_in_authority,
        ;
        udp_only:
        names_below_a_dname_are_refused_at_load => "it starts no server: `eightfold check` alone refuses the zone",
    );
}
