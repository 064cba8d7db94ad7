//! EpiLink record linkage and matching as a two-party protocol.
//!
//! The client holds M query records, the server N database records; both
//! hold the same [`LinkageConfig`](protocol_spec::config::LinkageConfig).
//! The result equals the plaintext reference `protocol_spec::epilink` bit
//! for bit: in linkage mode each party ends with XOR shares of (match bit,
//! tentative bit, best index) per query; in matching mode the client learns
//! the two counts and the server nothing.
//!
//! The API for the node: [`PeerOt::establish`] once per connection and
//! [`run_job`] per job ([`job`]: many jobs, both directions, concurrently
//! on one multiplexed connection, with a job tag, a cancellation token and
//! a maximum peer size). Standalone runs that set up their own OTs:
//! [`run_client`] / [`run_server`] (linkage) and [`run_client_matching`] /
//! [`run_server_matching`], each over any
//! [`Channel`](crate::channel::Channel), with [`Options`] and
//! [`ProtocolError`]. SPEC.md §8 is the written protocol with its cost and
//! what every message reveals.
//!
//! Layout, bottom up (crate-internal modules in plain code font):
//! * [`plan`]: what is computed for a configuration (compared pairs,
//!   pairings, widths), from its quantised integers only;
//! * `gadgets`: non-restoring division, signed-digit constant products,
//!   row sums, sign of a sum, lane sums — against
//!   [`Builder`](crate::circuit::Builder);
//! * `circuit`: the Boolean circuits (similarities, comparison select,
//!   decisions), written once against `Builder`;
//! * `inputs`: records → input words for every backend;
//! * `pipeline`: the per-chunk computation, written once against the
//!   `Engine` trait (plaintext or two-party);
//! * [`plain`]: the plaintext engine, tested against the reference;
//! * `ots`, `bitmul`, `vecprod`: OT streams and material, bit ×
//!   integer products and B2A, intersection counts by vector products;
//! * `twoparty`: the two-party engine (netlists on GMW, OT products);
//! * [`handshake`], [`schedule`], [`protocol`], [`error`]: the two-party
//!   run, its API and its errors; `control`: the job channel (kind byte,
//!   cancellation); [`peer_ot`], [`job`]: OT state per connection and the
//!   job API;
//! * [`cost`]: the cost table from the cost-counting backend;
//! * [`synth`]: a deterministic synthetic population for tests and the
//!   benchmark.

pub(crate) mod bitmul;
pub(crate) mod circuit;
pub(crate) mod control;
pub mod cost;
pub mod cost_engine;
pub mod error;
pub mod fixedcost;
pub(crate) mod gadgets;
pub mod handshake;
pub(crate) mod inputs;
pub mod job;
pub(crate) mod lookup;
pub(crate) mod muxprod;
pub(crate) mod ots;
pub mod peer_ot;
pub(crate) mod pipeline;
pub mod plain;
pub mod plan;
pub mod profile;
pub mod protocol;
pub mod schedule;
pub mod synth;
pub(crate) mod twoparty;
pub(crate) mod vecprod;

pub use handshake::{HandshakeError, Mode, fingerprint};
pub use job::{JobOptions, JobOutput, JobResult, PeerOt, run_job};
pub use ots::OtBackend;
pub use plan::Carries;
pub use profile::{Profile, ProfileKnobs};
pub use protocol::{
    DEFAULT_MAX_PEER_RECORDS, Options, ProgressFn, ProtocolError, ResultShare, run_client,
    run_client_matching, run_server, run_server_matching,
};
