//! `sel-node`: the secure record-linkage node, as a library so that the
//! binary, the integration tests and the benchmarks share one implementation.
//!
//! Layout (each module has one job; they meet only through [`model`]):
//! * [`model`]: the node's shared vocabulary (jobs, remotes, the peer job
//!   announcement) and the seams between modules;
//! * [`settings`]: `node.toml` + command line + environment;
//! * [`tls`], [`ca`]: verified rustls configurations, and a local CA for demos
//!   and small federations;
//! * [`seal`]: the node key and AES-GCM sealing of everything secret at rest;
//! * [`store`]: persistent state behind the [`store::NodeStore`] trait (redb);
//! * [`peer`]: the peer channel: one TLS port, one multiplexed connection per
//!   remote, job announcements;
//! * [`clients`]: the node's outgoing HTTP calls (data service, linkage
//!   service, callbacks);
//! * [`jobs`]: the job table, queue, workers and the two sides of a job;
//! * [`node`]: the wiring of all of them, what `sel-node serve` runs;
//! * [`api`]: the REST API of SPEC §3 (warp);
//! * [`https`]: the accept loop (rustls, hyper) that serves a warp filter,
//!   shared by the REST API and the registry;
//! * [`registry`]: a small Mainzelliste-like registry for sites without one;
//! * [`cli`], [`encode`]: the command line and the CSV encoder.
pub mod api;
pub mod ca;
pub mod cli;
pub mod clients;
pub mod deid;
pub mod encode;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use peer::fuzzing;
pub mod https;
pub mod jobs;
pub mod model;
pub mod node;
pub mod page;
pub mod peer;
pub mod pg;
pub mod registry;
pub mod seal;
pub mod settings;
pub mod store;
pub mod tls;
