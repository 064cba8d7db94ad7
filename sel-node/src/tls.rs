//! rustls configurations of the node: the server side of both listeners and
//! one verified client configuration (system roots plus the configured CA
//! bundle) for every outgoing connection.
//!
//! (Signatures fixed for the rest of the node; the implementation is being built.)

use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {detail}")]
    File { path: String, detail: String },
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// The server configuration from a PEM chain and key.
pub fn server_config(_cert: &Path, _key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    unimplemented!("tls")
}

/// The client configuration: system roots plus `ca_bundle`.
pub fn client_config(_ca_bundle: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    unimplemented!("tls")
}

/// The HTTP client for data service, linkage service and callbacks, using
/// [`client_config`].
pub fn http_client(_client: Arc<rustls::ClientConfig>) -> Result<reqwest::Client, TlsError> {
    unimplemented!("tls")
}
