//! Arbitrary bytes into the answer path, over UDP and TCP: no panic, and every response
//! parses with hickory-proto and echoes the ID and question, and holds the records of the
//! answer written with the names inside RDATA in full; and the same bytes asked four times
//! (cache miss, admission, hit, then a miss under new zones and health), then twice more with
//! its question name in other letter cases, get the uncached path's answers
//! (tests/integration/common/properties.rs).
#![no_main]

// This target uses only part of the properties shared with the test suite.
#[path = "../../tests/integration/common/properties.rs"]
#[allow(dead_code)]
mod properties;

use eightfold::answer::{Responder, Transport};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut responder = Responder::with_seed(7);
    for transport in [Transport::Udp, Transport::Tcp] {
        if let Err(e) = properties::check_query(&mut responder, data, transport) {
            panic!("{e}");
        }
        if let Err(e) = properties::check_compression_agrees(data, transport, 7) {
            panic!("{e}");
        }
    }
    let mut rng = fastrand::Rng::with_seed(data.len() as u64);
    let mut asked = vec![data.to_vec(); 6];
    for spelled in &mut asked[4..] {
        properties::randomize_case(spelled, &mut rng);
    }
    if let Err(e) = properties::check_cache_agrees(&asked, 3, 7) {
        panic!("{e}");
    }
});
