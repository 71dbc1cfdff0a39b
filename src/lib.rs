//! eightfold: an authoritative DNS server with Amazon Route 53's multivalue answer routing.
//!
//! Modules in the order a packet meets them:
//!
//! ```text
//!  UDP socket per worker (SO_REUSEPORT, recvmmsg)      TCP thread (mio, length-prefixed)
//!            \                                          /
//!             `--> server ---------------------------- '
//!                    |  loads the current View (arc-swap, lock-free)
//!                    v
//!                  answer::Responder::respond(packet, out)
//!                    |-- wire::parse_query        zero-copy, lowercased qname on the stack
//!                    |-- zone::Catalog::find_zone / Zone::lookup
//!                    |-- policy::{simple, multivalue, failover, weighted}(members, health, rng)
//!                    '-- wire::Writer             precompiled RDATA copied into `out`
//!                    v
//!            sendmmsg / TCP write
//!
//!  control side:  config (file -> validated Config) --> zone::Catalog::build
//!                 health (snapshot rules; the prober publishes new snapshots)
//!                 server::Shared::publish (arc-swap) <-- reload, prober
//! ```
//!
//! The core (`wire`, `zone`, `policy`, `answer`, `health` snapshots) does no I/O and reads
//! no clock; sockets live in `server`, and `config` is the only module that reads files.

pub mod answer;
pub mod config;
pub mod control;
pub mod health;
pub mod import;
pub mod policy;
pub mod server;
pub mod wire;
pub mod zone;
