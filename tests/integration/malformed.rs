//! Bytes that are not good queries: the server replies FORMERR where it can read a header,
//! drops the rest, and keeps answering.

use std::time::Duration;

use crate::common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

fn still_answers(s: &TestServer) {
    let m = s.query("static.example.com.", RecordType::A);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert_eq!(m.answers().len(), 1);
}

fn header(id: u16, flags: u16, qd: u16, an: u16, ns: u16, ar: u16) -> Vec<u8> {
    [id, flags, qd, an, ns, ar].iter().flat_map(|v| v.to_be_bytes()).collect()
}

#[test]
fn formerr_for_readable_headers_silence_for_the_rest() {
    let s = TestServer::start(ZONE_BODY, &[("example.com.zone", ZONE)]);
    // Too short for a header: dropped.
    assert!(s.udp_raw(&[1, 2, 3]).is_none());
    // A response (QR=1): dropped, never reflected.
    let mut response = message("static.example.com.", RecordType::A, None).to_vec().unwrap();
    response[2] |= 0x80;
    assert!(s.udp_raw(&response).is_none());
    // Question cut short: FORMERR with the ID.
    let mut cut = header(0x1234, 0x0100, 1, 0, 0, 0);
    cut.extend_from_slice(b"\x06static\x07exam");
    let reply = Message::from_vec(&s.udp_raw(&cut).unwrap()).unwrap();
    assert_eq!(reply.id(), 0x1234);
    assert_eq!(reply.response_code(), ResponseCode::FormErr);
    // A compression-pointer loop in the question.
    let mut pointer_loop = header(0x2222, 0, 1, 0, 0, 0);
    pointer_loop.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
    let reply = Message::from_vec(&s.udp_raw(&pointer_loop).unwrap()).unwrap();
    assert_eq!(reply.response_code(), ResponseCode::FormErr);
    // A pointer loop in the additional section.
    let mut q = message("static.example.com.", RecordType::A, None).to_vec().unwrap();
    q[11] = 1;
    let at = q.len() as u16;
    q.extend_from_slice(&(0xC000 | at).to_be_bytes());
    q.extend_from_slice(&[0, 41, 4, 0, 0, 0, 0, 0, 0, 0]);
    let reply = s.udp_raw(&q).map(|b| Message::from_vec(&b).unwrap());
    assert!(reply.is_some_and(|r| r.response_code() == ResponseCode::FormErr));
    // No question at all.
    let reply = Message::from_vec(&s.udp_raw(&header(7, 0, 0, 0, 0, 0)).unwrap()).unwrap();
    assert_eq!(reply.response_code(), ResponseCode::FormErr);
    still_answers(&s);
}

#[test]
fn random_and_truncated_packets_do_not_stop_the_server() {
    let s = TestServer::start(ZONE_BODY, &[("example.com.zone", ZONE)]);
    let socket = s.udp_socket();
    let good = message("static.example.com.", RecordType::A, Some(1232)).to_vec().unwrap();
    let mut rng = fastrand::Rng::with_seed(42);
    for i in 0..3000 {
        let packet: Vec<u8> = match i % 3 {
            0 => (0..rng.usize(0..300)).map(|_| rng.u8(..)).collect(),
            1 => good[..rng.usize(0..good.len())].to_vec(),
            _ => {
                let mut p = good.clone();
                for _ in 0..3 {
                    let at = rng.usize(0..p.len());
                    p[at] = rng.u8(..);
                }
                p
            }
        };
        s.send_udp(&socket, &packet);
    }
    // Garbage over TCP too, then a clean query on a new connection.
    let mut stream = s.connect();
    let junk: Vec<u8> = (0..500).map(|_| rng.u8(..)).collect();
    let _ = std::io::Write::write_all(&mut stream, &junk);
    std::thread::sleep(Duration::from_millis(100));
    still_answers(&s);
    assert!(s.tcp(&message("static.example.com.", RecordType::A, None)).answers().len() == 1);
}

/// Workers answer each datagram in its own receive buffer and send the batch back through the
/// receive headers, moving the kept ones down over the dropped ones. A burst from two sockets
/// that mixes answered queries (oversized ones among them) with dropped datagrams (responses,
/// oversized or not) must get every answer, right for its query, to the socket that asked,
/// and nothing for the rest.
#[test]
fn a_burst_mixing_dropped_and_answered_datagrams_gets_each_answer_to_its_sender() {
    let s = TestServer::start(ZONE_BODY, &[("example.com.zone", ZONE)]);
    let sockets = [s.udp_socket(), s.udp_socket()];
    let names = ["static.example.com.", "ns1.example.com.", "nothing.example.com."];
    let mut expected: [Vec<(u16, &str)>; 2] = [Vec::new(), Vec::new()];
    for round in 0..3u16 {
        for k in 0..40u16 {
            let id = round * 100 + k;
            let from = (k % 2) as usize;
            let packet = match k % 5 {
                // A response: dropped, never answered.
                1 => {
                    let mut p = message(names[0], RecordType::A, None).to_vec().unwrap();
                    p[2] |= 0x80;
                    p
                }
                // Longer than any query the worker reads: FORMERR with its ID (no question)
                // for a query, nothing for a response.
                3 => {
                    let mut p = vec![0u8; 5000];
                    p[..2].copy_from_slice(&id.to_be_bytes());
                    if k % 10 == 3 {
                        p[2] = 0x80;
                    } else {
                        expected[from].push((id, ""));
                    }
                    p
                }
                _ => {
                    let name = names[(k % 3) as usize];
                    let mut m = message(name, RecordType::A, None);
                    m.set_id(id);
                    expected[from].push((id, name));
                    m.to_vec().unwrap()
                }
            };
            s.send_udp(&sockets[from], &packet);
        }
    }
    for (from, socket) in sockets.iter().enumerate() {
        socket.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = socket.recv(&mut buf) {
            let m = Message::from_vec(&buf[..n]).expect("an answer parses");
            if m.queries().is_empty() {
                assert_eq!(m.response_code(), ResponseCode::FormErr);
                got.push((m.id(), String::new()));
                continue;
            }
            let name = m.queries()[0].name().to_ascii();
            let want = if name == "nothing.example.com." { ResponseCode::NXDomain } else { ResponseCode::NoError };
            assert_eq!(m.response_code(), want, "{name}");
            let address = addresses(&m);
            match name.as_str() {
                "static.example.com." => assert_eq!(address, ["192.0.2.7".parse::<std::net::Ipv4Addr>().unwrap()]),
                "ns1.example.com." => assert_eq!(address, ["192.0.2.53".parse::<std::net::Ipv4Addr>().unwrap()]),
                _ => assert!(address.is_empty()),
            }
            got.push((m.id(), name));
        }
        got.sort();
        let mut want: Vec<(u16, String)> = expected[from].iter().map(|&(id, n)| (id, n.to_string())).collect();
        want.sort();
        assert_eq!(got, want, "socket {from}: every query answered once, to its sender, nothing else");
    }
    still_answers(&s);
}

/// An OPT record carrying `padding` bytes of EDNS padding (RFC 7830).
fn padded(query: &mut Vec<u8>, padding: usize) {
    query[11] = 1;
    query.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
    query.extend_from_slice(&(4 + padding as u16).to_be_bytes());
    query.extend_from_slice(&[0, 12]);
    query.extend_from_slice(&(padding as u16).to_be_bytes());
    query.resize(query.len() + padding, 0);
}

#[test]
fn udp_queries_longer_than_the_receive_buffer_get_formerr() {
    let s = TestServer::start(ZONE_BODY, &[("example.com.zone", ZONE)]);
    let mut query = message("static.example.com.", RecordType::A, None);
    query.set_id(0x5a5a);
    let mut big = query.to_vec().unwrap();
    padded(&mut big, 5000);
    assert!(big.len() > 5000);
    let reply = Message::from_vec(&s.udp_raw(&big).expect("a reply to a 5,000-byte query")).unwrap();
    assert_eq!(reply.id(), 0x5a5a);
    assert_eq!(reply.response_code(), ResponseCode::FormErr);
    assert!(reply.answers().is_empty());
    // As large a response (QR set) gets nothing, as a short one does.
    big[2] |= 0x80;
    assert!(s.udp_raw(&big).is_none());
    // A query that fits is answered as before.
    let mut fits = query.to_vec().unwrap();
    padded(&mut fits, 3000);
    let reply = Message::from_vec(&s.udp_raw(&fits).unwrap()).unwrap();
    assert_eq!(reply.response_code(), ResponseCode::NoError);
    assert_eq!(reply.answers().len(), 1);
    still_answers(&s);
}

/// The same tests with the server behind AF_XDP (see `common::xdp`).
mod xdp {
    crate::common::xdp::also_behind_xdp!(
        formerr_for_readable_headers_silence_for_the_rest,
        random_and_truncated_packets_do_not_stop_the_server,
        a_burst_mixing_dropped_and_answered_datagrams_gets_each_answer_to_its_sender,
        udp_queries_longer_than_the_receive_buffer_get_formerr,
        ;
        udp_only:
    );
}
