//! The per-query path allocates nothing: a counting global allocator watches the answer path
//! (every query shape, UDP and TCP limits, signed queries good and bad) and the rate limiter's
//! count of each UDP response, after the responder's scratch has warmed up.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use eightfold::answer::{Responder, Transport};
use eightfold::config::{Config, RrlConfig};
use eightfold::health::HealthSnapshot;
use eightfold::server::rrl::{Decision, RateLimiter};
use eightfold::view::View;
use eightfold::zone::Catalog;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: defers to the system allocator; only counts calls on the current thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const ZONE: &str = "$TTL 300\n@ SOA ns1 host 1 7200 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.53\n\
static A 192.0.2.7\nmulti A 192.0.2.1\nmulti A 192.0.2.2\nmulti A 192.0.2.3\nalias CNAME static\n\
@ MX 10 ns1\n*.wild TXT \"w\"\nsub NS ns.sub\nns.sub A 192.0.2.9\n";

fn query(name: &str, qtype: u16) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, (qtype >> 8) as u8, qtype as u8, 0, 1]);
    q.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
    q
}

#[test]
fn answering_allocates_nothing() {
    let mut text = String::from(
        "[[zone]]\norigin = \"example.com.\"\nfile = \"z\"\n\
         [[health_check]]\nid = \"down\"\ntype = \"TCP\"\nip = \"127.0.0.1\"\nport = 9\ninverted = true\n",
    );
    // Health-checked, half of them down: answered from the healthy pools, as in production.
    for i in 0..16 {
        let check = if i % 2 == 0 { "health_check = \"down\"\n" } else { "" };
        text.push_str(&format!(
            "[[record]]\nname = \"mvc\"\ntype = \"AAAA\"\nrouting = \"multivalue\"\nset_id = \"{i}\"\nvalues = [\"2001:db8::{i}\"]\n{check}"
        ));
    }
    // A large health-checked set, half down: its pool is a list of member numbers.
    for i in 0..100 {
        let check = if i % 2 == 0 { "health_check = \"down\"\n" } else { "" };
        text.push_str(&format!(
            "[[record]]\nname = \"mvl\"\ntype = \"A\"\nrouting = \"multivalue\"\nset_id = \"{i}\"\nvalues = [\"10.1.0.{i}\"]\n{check}"
        ));
    }
    for i in 0..200 {
        text.push_str(&format!(
            "[[record]]\nname = \"mv\"\ntype = \"A\"\nrouting = \"multivalue\"\nset_id = \"{i}\"\nvalues = [\"10.0.{}.{}\"]\n",
            i / 256,
            i % 256
        ));
    }
    // A TSIG key: signed queries are checked, answered and signed without allocating too.
    text.push_str("[[tsig_key]]\nname = \"k.example.\"\nalgorithm = \"hmac-sha256\"\nsecret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n");
    let config = Config::parse(&text, Path::new("t.toml"), &|_| Ok(ZONE.to_string())).unwrap();
    let view = View::new(
        std::sync::Arc::new(Catalog::build(&config, 0).expect("an unsigned catalog")),
        HealthSnapshot::initial(&config.checks),
    );
    let mut responder = Responder::with_seed(3);
    // With the answer cache the workers use: misses, admissions and hits allocate nothing.
    // The workers' size, too: the cache is direct-mapped with a random key per process, and
    // with 64 slots two of these names alternating in one slot would keep each other out
    // about once in 2,000 runs.
    responder.set_cache(1024);
    let packets: Vec<Vec<u8>> = [
        ("static.example.com", 1),
        ("multi.example.com", 1),
        ("mv.example.com", 1),
        ("mvc.example.com", 28),
        ("mvl.example.com", 1),
        ("alias.example.com", 1),
        ("nothing.example.com", 1),
        ("static.example.com", 28),
        ("example.com", 15),
        ("a.wild.example.com", 16),
        ("x.sub.example.com", 1),
        ("example.org", 1),
        ("example.com", 255),
        // Spelled in other case: the folded lookup.
        ("MV.Example.com", 1),
        ("Static.EXAMPLE.com", 1),
    ]
    .iter()
    .map(|(n, t)| query(n, *t))
    .collect();
    // Signed with the key (answered and signed), another secret (BADSIG), another key
    // (BADKEY), and an hour off (BADTIME).
    const T: u64 = 1_700_000_000;
    responder.set_time(T);
    let sign = |packet: &[u8], name: &str, secret: u8, time: u64| {
        use hickory_proto::dnssec::rdata::tsig::TsigAlgorithm;
        use hickory_proto::dnssec::tsig::TSigner;
        let key = (secret..secret + 32).collect();
        let name = hickory_proto::rr::Name::from_ascii(name).unwrap();
        let signer = TSigner::new(key, TsigAlgorithm::HmacSha256, name, 300).unwrap();
        let mut m = hickory_proto::op::Message::from_vec(packet).unwrap();
        m.finalize(&signer, time as u32).unwrap();
        m.to_vec().unwrap()
    };
    let packets: Vec<Vec<u8>> = packets
        .iter()
        .cloned()
        .chain([
            sign(&packets[0], "k.example.", 0, T),
            sign(&packets[2], "k.example.", 0, T),
            sign(&packets[0], "k.example.", 1, T),
            sign(&packets[0], "other.example.", 0, T),
            sign(&packets[0], "k.example.", 0, T - 3600),
        ])
        .collect();
    let mut garbage = packets[0].clone();
    garbage.truncate(20);
    let mut out = vec![0u8; 65535];
    let rrl = RateLimiter::new(RrlConfig {
        responses_per_second: 100,
        slip: 2,
        ipv4_prefix: 24,
        ipv6_prefix: 56,
        table_size: 1024,
    });
    let client = std::net::IpAddr::from([192, 0, 2, 1]);
    let mut limited = 0;
    // Warm up: scratch buffers reach their working size.
    for p in &packets {
        responder.respond(&view, p, Transport::Udp, &mut out);
    }
    let before = ALLOCATIONS.with(Cell::get);
    let mut answered = 0;
    for _ in 0..200 {
        for p in packets.iter().chain([&garbage]) {
            for transport in [Transport::Udp, Transport::Tcp] {
                let outcome = responder.respond(&view, p, transport, &mut out);
                answered += (outcome.len > 0) as usize;
                if transport == Transport::Udp {
                    limited += (rrl.decide(client, &out, &outcome, 1) != Decision::Send) as usize;
                }
            }
        }
    }
    let after = ALLOCATIONS.with(Cell::get);
    assert_eq!(answered, 200 * 2 * (packets.len() + 1), "every packet, the garbage too, answered");
    assert_eq!(after - before, 0, "allocations on the answer path");
    assert!(limited > 0, "the rate limiter counted the responses");
    assert!(responder.cache_hits() > 1000, "the cache answered {} queries", responder.cache_hits());
    // The signed ones were what they say: answered, then BADSIG, BADKEY and BADTIME.
    let signed = &packets[packets.len() - 5..];
    let rcodes: Vec<u16> = signed.iter().map(|p| responder.respond(&view, p, Transport::Udp, &mut out).rcode).collect();
    assert_eq!(rcodes, [0, 0, 9, 9, 9]);
}
