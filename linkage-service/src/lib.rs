//! The linkage service (LS) of a MainSEL-style record-linkage federation.
//!
//! Two nodes run a 2PC of the EpiLink score; each ends up with XOR shares of,
//! per query record, a match bit, a tentative-match bit and the index of the
//! best-scoring row of the server's database. Both post their shares here.
//! The LS XORs them and answers the client with a linkage ID (LID) per record,
//! sealed for the client's site: the server's LID on a match, a fresh one
//! otherwise. It also hands out the initial LIDs of a site (`/freshIDs`).
//!
//! Module map, one job each:
//! * [`keys`] master key, subkeys, site keys, API keys;
//! * [`lid`] LIDs and their sealed wire form;
//! * [`store`] the redb store; [`admin`] register/list/revoke;
//! * [`auth`] the `apiKey` header; [`error`] request errors and statuses;
//! * [`combine`] XOR of shares into decisions; [`resolve`] decisions into LIDs;
//! * [`jobs`] pairing the two posts of a job (long-poll, timeout);
//! * [`service`] request logic; [`routes`] warp filters; [`metrics`];
//! * [`tls`] certificates and rustls config; [`server`] the TLS accept loop.
//!
//! The wire types live in `protocol_spec::messages::linkage`.

pub mod admin;
pub mod auth;
pub mod combine;
pub mod error;
pub mod jobs;
pub mod keys;
pub mod lid;
pub mod metrics;
pub mod resolve;
pub mod routes;
pub mod server;
pub mod service;
pub mod store;
pub mod tls;

#[cfg(test)]
#[path = "../tests/common/tempdir.rs"]
pub(crate) mod test_support;
