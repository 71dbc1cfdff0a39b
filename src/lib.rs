//! eightfold: an authoritative DNS server with Amazon Route 53's multivalue answer routing.
//!
//! Modules in the order a packet meets them:
//!
//! ```text
//!  UDP socket per worker (SO_REUSEPORT, recvmmsg)      TCP thread (mio, length-prefixed)
//!            \                                          /
//!             `--> server ---------------------------- '
//!                    |  loads the current view::View (arc-swap, lock-free)
//!                    v
//!                  answer::Responder::respond(view, packet, out)
//!                    |-- answer::AnswerCache      UDP: a question asked before is a copy, with
//!                    |                            multivalue rows drawn again; else on to:
//!                    |-- wire::parse_query        zero-copy, lowercased qname on the stack
//!                    |     '-- signed (TSIG): tsig::verify, answer the query less its TSIG,
//!                    |         tsig::Signer::sign (cold, never cached)
//!                    |-- zone::Catalog::find_zone / Zone::lookup
//!                    |-- policy::{simple, multivalue, failover, weighted}(members, health, rng)
//!                    '-- wire::Writer             precompiled RDATA copied into `out`, its names
//!                                                 compressed (where they lie worked out at build)
//!                    v
//!            sendmmsg / TCP write
//!
//!  with `[server] xdp`: a BPF program on the interface steers UDP for the port into an
//!  AF_XDP socket per receive queue; server::xdp answers in the frame with the same
//!  Responder (wire::frame::parse, respond_in_place, wire::frame::turn_around) and puts it
//!  on the TX ring; everything else goes on to the kernel's stack and the sockets above
//!
//!  control side (never on a worker's path):
//!    limits   every setting's default, minimum and maximum, one row each (imports nothing;
//!             config checks against it, policy and answer size their buffers from it)
//!    dnssec   DNSSEC's keys (BIND's key files), DNSKEY and DS, an RRset's canonical form,
//!             RRSIGs made and checked (ring); zone signing is built on it
//!    tsig     TSIG keys, and the HMACs (ring) that check signed queries and sign answers
//!    config   file -> validated Config (the only module that reads config and zone files)
//!    health   the rules: measured results -> HealthSnapshot (thresholds, calculated checks)
//!    zone     Config -> Catalog: flat, immutable zone data
//!    view     View { catalog, health, healthy pools }: one Publisher, many Readers
//!    cluster  the fleet's building blocks: an etcd client behind a small store trait,
//!             rendezvous choice of a check's observers, the > 18% rule over their reports,
//!             pushed configurations (bundled, stored by hash, switched in by `push`)
//!    prober   the prober thread: probes -> thresholds -> a new View; it holds the only
//!             Publisher, for new health and for reloads
//!    control  start-up, signals (SIGHUP reload, SIGTERM stop), HTTP endpoint on TCP and
//!             the control socket (status page, metrics, status, reload, overrides), the
//!             CLI client, the manual pages
//!    import   Route 53 JSON -> config
//! ```
//!
//! Imports point one way, down this list: limits, wire, dnssec, tsig, config, health, policy,
//! zone, view, answer, server, cluster, prober, control (and import beside it), then `main`.
//! The core (`wire`, `dnssec`, `tsig`, `zone`, `policy`, `health`, `view`, `answer`) does no
//! I/O and reads no clock (a worker passes the time in; `dnssec` draws signing nonces from
//! the system's random source); sockets live in `server`, `cluster` and `prober`, files in
//! `config`.

// In data-flow order; each module imports only those above it. (Blank lines keep rustfmt
// from sorting them.)

pub mod limits;

pub mod wire;

pub mod dnssec;

pub mod tsig;

pub mod config;

pub mod health;

pub mod policy;

pub mod zone;

pub mod view;

pub mod answer;

pub mod server;

pub mod cluster;

pub mod prober;

pub mod control;

pub mod import;
