//! The peer port: accepts TCP connections, runs TLS and checks the dialer's
//! Hello (site id and shared key, compared in constant time) within a
//! deadline, then hands the authenticated stream to the hub.

use std::sync::Arc;

use subtle::ConstantTimeEq;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use super::conn::{LocalConfig, local_config};
use super::dial::HANDSHAKE_TIMEOUT;
use super::hub::Hub;
use super::wire::{self, HandshakeRefusal, Hello, MAX_HANDSHAKE, Welcome};
use crate::model::{PEER_PROTOCOL_VERSION, RemoteDirectory};

/// Handshakes (unauthenticated connections) in progress at once; further
/// connections are closed at once, so a flood cannot exhaust the node.
const MAX_HANDSHAKES: usize = 64;

/// Accepts until the hub shuts down; dropping the listener frees the port.
pub(crate) async fn accept_loop(hub: Arc<Hub>, listener: TcpListener) {
    let permits = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let accepted = tokio::select! {
            _ = hub.shutting_down() => break,
            a = listener.accept() => a,
        };
        let (tcp, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Per-connection errors (reset before accept, out of file
                // descriptors): keep serving, after a breath.
                tracing::warn!(error = %e, "peer port: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%addr, "peer port: too many handshakes in progress; connection dropped");
            continue;
        };
        let hub = hub.clone();
        tokio::spawn(async move {
            if let Err(e) = handshake(&hub, tcp).await {
                tracing::info!(%addr, error = %e, "peer handshake failed");
            }
            drop(permit);
        });
    }
}

/// TLS, Hello, the verdict, Welcome; on success the connection joins the hub.
async fn handshake(hub: &Arc<Hub>, tcp: TcpStream) -> Result<(), String> {
    let _ = tcp.set_nodelay(true);
    let acceptor = TlsAcceptor::from(hub.server_tls());
    let authenticated = async {
        let mut stream = acceptor
            .accept(tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        // The frame holds the presented key: wipe it once parsed.
        let hello = zeroize::Zeroizing::new(
            wire::read_frame(&mut stream)
                .await
                .map_err(|e| e.to_string())?,
        );
        let hello: Hello =
            wire::decode(&hello, MAX_HANDSHAKE, "hello").map_err(|e| e.to_string())?;
        let verdict = authenticate(hub.directory(), &hello).and_then(|local| {
            hub.may_accept(&hello.site, &local.site_id)
                .map(|guard| (local, guard))
        });
        let (local, guard) = match verdict {
            Ok(v) => v,
            Err(reason) => {
                let refusal = wire::encode(&Welcome::Refused {
                    reason: reason.clone(),
                });
                let _ = wire::write_frame(&mut stream, &refusal).await;
                return Err(format!("refused: {reason:?}"));
            }
        };
        let welcome = wire::encode(&Welcome::Accepted {
            version: PEER_PROTOCOL_VERSION,
            site: local.site_id,
            fingerprint: local.fingerprint,
        });
        wire::write_frame(&mut stream, &welcome)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((stream, hello.site, guard))
    };
    let (stream, site, guard) = tokio::time::timeout(HANDSHAKE_TIMEOUT, authenticated)
        .await
        .map_err(|_| format!("no handshake within {HANDSHAKE_TIMEOUT:?}"))??;
    let installed = hub.install_stream(stream, &site, false);
    drop(guard);
    installed.map(|_| ()).map_err(|e| e.to_string())
}

/// Whether the Hello's site is a configured remote presenting the key this
/// node has for it. Every failure is the same [`HandshakeRefusal::Unauthorized`].
fn authenticate(
    directory: &dyn RemoteDirectory,
    hello: &Hello,
) -> Result<LocalConfig, HandshakeRefusal> {
    if hello.version != PEER_PROTOCOL_VERSION {
        return Err(HandshakeRefusal::Unsupported {
            supported: PEER_PROTOCOL_VERSION,
        });
    }
    let local = local_config(directory).ok_or(HandshakeRefusal::Unauthorized)?;
    let remote = directory.remote(&hello.site);
    let configured = remote.as_ref().map(|r| {
        r.init
            .connection_profile
            .authentication
            .shared_key
            .expose()
            .as_bytes()
    });
    // Compare even for an unknown site so both paths do the same work.
    let presented = hello.key.expose().as_bytes();
    let key_matches: bool = configured.unwrap_or(b"").ct_eq(presented).into();
    if configured.is_none() || !key_matches || hello.site == local.site_id {
        return Err(HandshakeRefusal::Unauthorized);
    }
    Ok(local)
}
