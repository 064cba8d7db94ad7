//! Dialing a remote: TCP, verified TLS, then the Hello/Welcome handshake
//! (SPEC §3a). The result is an authenticated stream, ready for the
//! multiplexer.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::PeerError;
use super::wire::{self, HandshakeRefusal, Hello, MAX_HANDSHAKE, Welcome};
use crate::model::{PEER_PROTOCOL_VERSION, RemoteSite};

/// Longest wait for the TCP connection.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for TLS plus Hello/Welcome, on either side.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a dial failed.
pub(crate) enum DialError {
    Failed(PeerError),
    /// The remote keeps (or is dialing) the connection that wins the
    /// tie-break; it arrives from the other side.
    Duplicate,
}

impl From<PeerError> for DialError {
    fn from(e: PeerError) -> Self {
        DialError::Failed(e)
    }
}

/// Host and port of a remote's peer endpoint `https://host:port` (port 443
/// when absent).
pub(crate) fn peer_endpoint(url: &str) -> Result<(String, u16), PeerError> {
    let bad = |why: &str| {
        PeerError::Local(format!(
            "connectionProfile.url must be the remote's peer endpoint https://host:port: {why}"
        ))
    };
    let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    if uri.scheme_str() != Some("https") {
        return Err(bad("the scheme is not https"));
    }
    let host = uri.host().ok_or_else(|| bad("no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_owned(), uri.port_u16().unwrap_or(443)))
}

/// Connects to `remote`, authenticates, and returns the stream.
pub(crate) async fn dial(
    tls: Arc<rustls::ClientConfig>,
    local_id: &str,
    local_fingerprint: &str,
    remote: &RemoteSite,
) -> Result<TlsStream<TcpStream>, DialError> {
    let (host, port) = peer_endpoint(&remote.init.connection_profile.url)?;
    let name = ServerName::try_from(host.clone())
        .map_err(|_| PeerError::Local(format!("{host:?} is not a valid TLS server name")))?;
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| {
            PeerError::Unreachable(format!("no TCP connection within {CONNECT_TIMEOUT:?}"))
        })?
        .map_err(|e| PeerError::Unreachable(format!("TCP connect failed: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let hello = Hello {
        version: PEER_PROTOCOL_VERSION,
        site: local_id.to_owned(),
        key: remote
            .init
            .connection_profile
            .authentication
            .shared_key
            .clone(),
        fingerprint: local_fingerprint.to_owned(),
    };
    let handshake = async {
        let mut stream = TlsConnector::from(tls)
            .connect(name, tcp)
            .await
            .map_err(|e| PeerError::Tls(e.to_string()))?;
        let proto = |e: wire::WireError| {
            DialError::Failed(PeerError::Protocol(format!(
                "handshake with the remote: {e}"
            )))
        };
        // The encoded Hello holds the key: wipe it once written.
        let hello = zeroize::Zeroizing::new(wire::encode(&hello));
        wire::write_frame(&mut stream, &hello)
            .await
            .map_err(proto)?;
        let welcome = wire::read_frame(&mut stream).await.map_err(|e| match e {
            wire::WireError::Io(_) => DialError::Failed(PeerError::Unreachable(
                "the remote closed the connection during the handshake".into(),
            )),
            e => proto(e),
        })?;
        let welcome: Welcome = wire::decode(&welcome, MAX_HANDSHAKE, "welcome").map_err(proto)?;
        Ok::<_, DialError>((stream, welcome))
    };
    let (stream, welcome) = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
        .await
        .map_err(|_| {
            PeerError::Unreachable(format!("no handshake within {HANDSHAKE_TIMEOUT:?}"))
        })??;
    match welcome {
        Welcome::Accepted { version, site, .. } => {
            if version != PEER_PROTOCOL_VERSION {
                return Err(PeerError::Protocol(format!(
                    "the remote answered with version {version}; this node speaks {PEER_PROTOCOL_VERSION}"
                ))
                .into());
            }
            if site != remote.id {
                return Err(PeerError::Protocol(format!(
                    "the node at this URL is site {site:?}, not {:?}",
                    remote.id
                ))
                .into());
            }
            Ok(stream)
        }
        Welcome::Refused { reason } => Err(match reason {
            HandshakeRefusal::Unauthorized => DialError::Failed(PeerError::Unauthorized(
                "the remote does not accept this site id with this key (or is not initialised)"
                    .into(),
            )),
            HandshakeRefusal::Unsupported { supported } => {
                DialError::Failed(PeerError::Protocol(format!(
                    "the remote speaks peer protocol version {supported}, this node {PEER_PROTOCOL_VERSION}"
                )))
            }
            HandshakeRefusal::Duplicate => DialError::Duplicate,
            HandshakeRefusal::ShuttingDown => {
                DialError::Failed(PeerError::Unreachable("the remote is shutting down".into()))
            }
        }),
    }
}
