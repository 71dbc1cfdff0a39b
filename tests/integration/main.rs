//! The integration tests, one binary with a module per area, as hickory-dns does: the shared
//! harness (`common`) and the test crate's dependencies compile and link once, not once per
//! area. Each area still starts the real `eightfold` binary on loopback (see `common`).
//!
//! `tests/no_alloc.rs` stays a binary of its own: it installs a counting global allocator,
//! which would count every other test's allocations here.

mod common;

mod answers;
mod bad_input;
mod cli;
mod cluster;
mod compression;
mod contrib;
mod control;
mod control_socket;
mod dig;
mod dnssec_keys;
mod dnssec_serve;
mod dnssec_sign;
mod docs;
mod fleet;
mod generate;
mod health;
mod hygiene;
mod import;
mod layout;
mod malformed;
mod operations;
mod properties;
mod push;
mod record_sets;
mod robustness;
mod status_page;
mod transport;
mod tsig;
mod wildcard;
mod xdp;
