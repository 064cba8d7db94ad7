//! The node's outgoing HTTP calls, each in its own module: the site's data
//! service ([`dataservice`]), the linkage service ([`linkage`]) and job
//! callbacks ([`callback`]). They share one verified `reqwest::Client`
//! (built by [`crate::tls`]), and none of them retries on its own except
//! where its doc says so: the job manager owns retry policy and job status.
pub mod callback;
pub mod dataservice;
pub mod linkage;

mod http;
