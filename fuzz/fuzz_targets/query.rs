//! Arbitrary bytes into the answer path, over UDP and TCP: no panic, and every response
//! parses with hickory-proto and echoes the ID and question; and the same bytes asked four
//! times (cache miss, admission, hit, then a miss under new zones and health) get the
//! uncached path's answers (tests/common/properties.rs).
#![no_main]

#[path = "../../tests/common/properties.rs"]
mod properties;

use eightfold::answer::{Responder, Transport};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut responder = Responder::with_seed(7);
    for transport in [Transport::Udp, Transport::Tcp] {
        if let Err(e) = properties::check_query(&mut responder, data, transport) {
            panic!("{e}");
        }
    }
    let asked = [data.to_vec(), data.to_vec(), data.to_vec(), data.to_vec()];
    if let Err(e) = properties::check_cache_agrees(&asked, 3, 7) {
        panic!("{e}");
    }
});
