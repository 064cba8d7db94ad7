//! rustls configurations of the node: the server side of both listeners and
//! one verified client configuration (system roots plus the configured CA
//! bundle) for every outgoing connection.
//!
//! Everything uses the ring provider explicitly, so no process-wide default
//! provider has to be installed, and nothing here can switch verification
//! off: the only way to trust a certificate is to put it (or its CA) into
//! the bundle.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// Sub-directory of the data dir holding a generated certificate.
pub const TLS_DIR: &str = "tls";
pub const CERT_FILE: &str = "cert.pem";
pub const KEY_FILE: &str = "key.pem";

/// How long an outgoing connection may take to establish.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an outgoing request may wait for the next bytes of an answer.
pub const READ_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {detail}")]
    File { path: String, detail: String },
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn file_err(path: &Path, detail: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        detail: detail.to_string(),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate of a PEM file; an empty file is an error.
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| file_err(path, format!("cannot read certificates: {e}")))?;
    if certs.is_empty() {
        return Err(file_err(path, "holds no PEM certificate"));
    }
    Ok(certs)
}

/// The server configuration from a PEM chain and key.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs = read_certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| file_err(key, format!("cannot read a PEM private key: {e}")))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(format!("certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The client configuration: system roots plus `ca_bundle`.
///
/// A machine without system roots (a minimal container) is tolerated: the
/// bundle alone is then what is trusted. A bundle that cannot be read or
/// holds a certificate rustls refuses is an error, never skipped.
pub fn client_config(ca_bundle: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    if !native.errors.is_empty() {
        tracing::warn!(
            errors = native.errors.len(),
            "some system root certificates could not be loaded"
        );
    }
    let (_added, ignored) = roots.add_parsable_certificates(native.certs);
    if ignored > 0 {
        tracing::debug!(ignored, "system root certificates rustls does not parse");
    }
    if let Some(bundle) = ca_bundle {
        for (i, cert) in read_certs(bundle)?.into_iter().enumerate() {
            roots
                .add(cert)
                .map_err(|e| file_err(bundle, format!("certificate {i}: {e}")))?;
        }
    }
    if roots.is_empty() {
        tracing::warn!("no trusted root certificate: every https connection will be refused");
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The HTTP client for data service, linkage service and callbacks, using
/// [`client_config`].
///
/// Redirects are not followed: the configured URL is the one the operator
/// trusts with the request (and its `Authorization` header); a redirect
/// comes back as its 3xx status instead.
pub fn http_client(client: Arc<rustls::ClientConfig>) -> Result<reqwest::Client, TlsError> {
    reqwest::Client::builder()
        .tls_backend_preconfigured((*client).clone())
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| TlsError::Config(format!("HTTP client: {e}")))
}

/// A certificate and key in `data_dir/tls/`, generated once (self-signed,
/// for `names`: DNS names or IP addresses) for a node started without
/// certificate files, and reused on every later start. Peers trust it by
/// adding the certificate file to their CA bundle. Returns (cert, key).
pub fn self_signed(data_dir: &Path, names: &[String]) -> Result<(PathBuf, PathBuf), TlsError> {
    let dir = data_dir.join(TLS_DIR);
    let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
    match (cert_path.exists(), key_path.exists()) {
        (true, true) => return Ok((cert_path, key_path)),
        (false, false) => {}
        (true, false) => return Err(file_err(&key_path, "missing while its certificate exists")),
        (false, true) => return Err(file_err(&cert_path, "missing while its key exists")),
    }
    std::fs::create_dir_all(&dir).map_err(|e| file_err(&dir, e))?;
    let generated = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| TlsError::Config(format!("self-signed certificate: {e}")))?;
    let key_pem = zeroize::Zeroizing::new(generated.signing_key.serialize_pem());
    write_new(&key_path, key_pem.as_bytes(), true)?;
    write_new(&cert_path, generated.cert.pem().as_bytes(), false)?;
    Ok((cert_path, key_path))
}

fn write_new(path: &Path, bytes: &[u8], private: bool) -> Result<(), TlsError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(|e| file_err(path, e))?;
    file.write_all(bytes).map_err(|e| file_err(path, e))?;
    file.sync_all().map_err(|e| file_err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn scratch(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sel-node-tls-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A TLS server on an ephemeral port that answers every connection with
    /// a minimal HTTP/1.1 response; returns its port.
    async fn serve(config: Arc<ServerConfig>) -> u16 {
        let mut config = (*config).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = vec![0u8; 4096];
                    let mut seen = Vec::new();
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = tls
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                        )
                        .await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        port
    }

    async fn handshake(client: Arc<ClientConfig>, port: u16) -> std::io::Result<()> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(client)
            .connect(name, tcp)
            .await?;
        tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut answer = Vec::new();
        tls.read_to_end(&mut answer).await?;
        assert!(answer.ends_with(b"ok"));
        Ok(())
    }

    #[tokio::test]
    async fn a_client_trusts_exactly_the_certificates_its_bundle_vouches_for() {
        let dir = scratch("ca");
        let ca = crate::ca::init(&dir.join("ca")).unwrap();
        let leaf = crate::ca::issue(&dir.join("ca"), "node-a", &[], &dir.join("out")).unwrap();
        let port = serve(server_config(&leaf.cert, &leaf.key).unwrap()).await;

        handshake(client_config(Some(&ca.cert)).unwrap(), port)
            .await
            .expect("the CA in the bundle vouches for the server");
        let refused = handshake(client_config(None).unwrap(), port).await;
        assert!(refused.is_err(), "a client without the CA must refuse");

        // Another CA's bundle does not help either.
        let other = crate::ca::init(&dir.join("other")).unwrap();
        assert!(
            handshake(client_config(Some(&other.cert)).unwrap(), port)
                .await
                .is_err()
        );

        // The HTTP client speaks through the same verification.
        let http = http_client(client_config(Some(&ca.cert)).unwrap()).unwrap();
        let body = http
            .get(format!("https://localhost:{port}/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "ok");
        let http = http_client(client_config(None).unwrap()).unwrap();
        assert!(
            http.get(format!("https://localhost:{port}/"))
                .send()
                .await
                .is_err()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_self_signed_certificate_is_made_once_and_trusted_through_the_bundle() {
        let dir = scratch("self");
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let (cert, key) = self_signed(&dir, &names).unwrap();
        let first = std::fs::read(&cert).unwrap();
        assert_eq!(
            self_signed(&dir, &names).unwrap(),
            (cert.clone(), key.clone())
        );
        assert_eq!(
            std::fs::read(&cert).unwrap(),
            first,
            "reused, not regenerated"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let port = serve(server_config(&cert, &key).unwrap()).await;
        handshake(client_config(Some(&cert)).unwrap(), port)
            .await
            .expect("the pinned certificate is trusted");
        assert!(handshake(client_config(None).unwrap(), port).await.is_err());

        std::fs::remove_file(&key).unwrap();
        assert!(matches!(
            self_signed(&dir, &names),
            Err(TlsError::File { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unreadable_or_empty_files_are_named_in_the_error() {
        let dir = scratch("bad");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap();
        match client_config(Some(&empty)) {
            Err(TlsError::File { path, .. }) => assert!(path.ends_with("empty.pem")),
            other => panic!("expected a file error, got {other:?}"),
        }
        assert!(matches!(
            server_config(&dir.join("missing.pem"), &empty),
            Err(TlsError::File { .. })
        ));
        let (cert, _) = self_signed(&dir, &["localhost".to_string()]).unwrap();
        match server_config(&cert, &empty) {
            Err(TlsError::File { path, .. }) => assert!(path.ends_with("empty.pem")),
            other => panic!("expected a key file error, got {other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
