//! Selection against the oracle: never more than max, never unhealthy while healthy exists.
#![no_main]

// This target uses only part of the properties shared with the test suite.
#[path = "../../tests/integration/common/properties.rs"]
#[allow(dead_code)]
mod properties;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use properties::TestMember;

#[derive(Debug, Arbitrary)]
struct Input {
    members: Vec<(Option<u8>, u8, bool)>,
    states: Vec<bool>,
    max: u8,
    seed: u64,
}

fuzz_target!(|input: Input| {
    let members: Vec<TestMember> = input
        .members
        .iter()
        .take(300)
        .map(|&(check, weight, primary)| TestMember { check: check.map(u32::from), weight, primary })
        .collect();
    let max = 1 + (input.max as usize % 64);
    if let Err(e) = properties::check_selection(&members, &input.states, max, input.seed) {
        panic!("{e}");
    }
});
