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
//!                    |-- answer::AnswerCache      UDP: a question asked before is a copy, with
//!                    |                            multivalue rows drawn again; else on to:
//!                    |-- wire::parse_query        zero-copy, lowercased qname on the stack
//!                    |-- zone::Catalog::find_zone / Zone::lookup
//!                    |-- policy::{simple, multivalue, failover, weighted}(members, health, rng)
//!                    '-- wire::Writer             precompiled RDATA copied into `out`
//!                    v
//!            sendmmsg / TCP write
//!
//!  control side (never on a worker's path):
//!    config   file -> validated Config (the only module that reads config and zone files)
//!    zone     Config -> Catalog: flat, immutable zone data
//!    health   prober thread: probes -> thresholds -> HealthSnapshot; it is the only publisher
//!             of the View (zones + health, one arc-swap store), for new health and reloads
//!    control  start-up, signals (SIGHUP reload, SIGTERM stop), HTTP endpoint (metrics,
//!             status, reload, overrides), the CLI client
//!    import   Route 53 JSON -> config
//! ```
//!
//! The core (`wire`, `zone`, `policy`, `answer`, the health snapshot rules) does no I/O and
//! reads no clock; sockets live in `server` and `health`'s prober, files in `config`.

pub mod answer;
pub mod config;
pub mod control;
pub mod health;
pub mod import;
pub mod policy;
pub mod server;
pub mod wire;
pub mod zone;
