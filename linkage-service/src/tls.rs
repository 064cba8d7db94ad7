//! TLS for the service: rustls with the ring provider, never plain HTTP.
//!
//! Without `--tls-cert`/`--tls-key` the service creates a self-signed
//! certificate in its data directory on first start and reuses it afterwards;
//! nodes pin that certificate (its path and SHA-256 fingerprint are logged).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// Sub-directory of the data dir holding the generated certificate.
pub const TLS_DIR: &str = "tls";
pub const CERT_FILE: &str = "cert.pem";
pub const KEY_FILE: &str = "key.pem";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read certificate chain from {path}: {detail}")]
    Certs { path: String, detail: String },
    #[error("{path} holds no certificate")]
    NoCerts { path: String },
    #[error("cannot read private key from {path}: {detail}")]
    Key { path: String, detail: String },
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// A certificate chain and its private key.
pub struct TlsMaterial {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("certs", &self.certs.len())
            .finish_non_exhaustive()
    }
}

impl TlsMaterial {
    /// Reads a PEM certificate chain and a PEM private key.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let certs = CertificateDer::pem_file_iter(cert)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| TlsError::Certs {
                path: cert.display().to_string(),
                detail: e.to_string(),
            })?;
        if certs.is_empty() {
            return Err(TlsError::NoCerts {
                path: cert.display().to_string(),
            });
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
            path: key.display().to_string(),
            detail: e.to_string(),
        })?;
        Ok(TlsMaterial { certs, key })
    }

    /// SHA-256 of the leaf certificate, hex, for pinning by fingerprint.
    pub fn leaf_fingerprint(&self) -> String {
        Sha256::digest(self.certs[0].as_ref())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// The certificate in `data_dir/tls/`, created on first use for `names`
/// (DNS names or IP addresses). Returns the material and the certificate path.
pub fn self_signed_in(
    data_dir: &Path,
    names: &[String],
) -> Result<(TlsMaterial, PathBuf), TlsError> {
    let dir = data_dir.join(TLS_DIR);
    let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
    if !(cert_path.exists() && key_path.exists()) {
        let generated = rcgen::generate_simple_self_signed(names.to_vec())?;
        let write_err = |path: &Path| {
            let path = path.display().to_string();
            move |source| TlsError::Write { path, source }
        };
        std::fs::create_dir_all(&dir).map_err(write_err(&dir))?;
        write_private(&key_path, generated.signing_key.serialize_pem().as_bytes())
            .map_err(write_err(&key_path))?;
        std::fs::write(&cert_path, generated.cert.pem()).map_err(write_err(&cert_path))?;
    }
    let material = TlsMaterial::from_pem_files(&cert_path, &key_path)?;
    Ok((material, cert_path))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// The rustls server configuration (ring provider; HTTP/2 and HTTP/1.1 by
/// ALPN).
pub fn server_config(material: TlsMaterial) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(material.certs, material.key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
