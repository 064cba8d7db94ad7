//! A local certificate authority for a demo or a small federation
//! (`sel-node ca init`, `sel-node ca issue NAME`).
//!
//! Sites that have no PKI of their own agree on one CA: its certificate goes
//! into every node's `ca_bundle`, and each node (and linkage service) gets a
//! leaf certificate issued by it. Verification then stays on, with no
//! self-signed certificate to pin one by one. The CA key is written only
//! readable by its owner, and no file is ever overwritten: a CA key replaced
//! by accident would orphan every certificate issued under it.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use aes_gcm::aead::Generate;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};

/// The CA certificate (PEM) inside the CA directory: what nodes trust.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The CA private key (PEM, mode 0600) inside the CA directory.
pub const CA_KEY_FILE: &str = "ca.key";
/// Common name of every CA made by `ca init`; `ca issue` names it as issuer.
const CA_NAME: &str = "sel-node local CA";
/// Years a CA certificate is valid (from the start of the current year).
const CA_YEARS: i32 = 10;
/// Years a leaf certificate is valid (from the start of the current year).
const LEAF_YEARS: i32 = 3;

/// What went wrong. Never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("{path} already exists; refusing to overwrite it")]
    Exists { path: String },
    #[error("{path}: {detail}")]
    File { path: String, detail: String },
    #[error("certificate name {name:?}: {reason}")]
    Name { name: String, reason: String },
    #[error("subject alternative name {san:?} is neither a DNS name nor an IP address")]
    San { san: String },
    #[error("{path}: the CA key does not belong to the CA certificate")]
    KeyMismatch { path: String },
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
}

/// Files written by [`init`] or [`issue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn file_err(path: &Path) -> impl Fn(std::io::Error) -> CaError + '_ {
    move |e| CaError::File {
        path: path.display().to_string(),
        detail: e.to_string(),
    }
}

/// Creates `path` with `bytes`, failing if it exists; `private` files are
/// readable by their owner only.
fn write_new(path: &Path, bytes: &[u8], private: bool) -> Result<(), CaError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CaError::Exists {
                path: path.display().to_string(),
            }
        } else {
            file_err(path)(e)
        }
    })?;
    file.write_all(bytes).map_err(file_err(path))?;
    file.sync_all().map_err(file_err(path))
}

fn refuse_existing(paths: &[&Path]) -> Result<(), CaError> {
    match paths.iter().find(|p| p.exists()) {
        Some(p) => Err(CaError::Exists {
            path: p.display().to_string(),
        }),
        None => Ok(()),
    }
}

/// The current calendar year (UTC), from the system clock.
fn current_year() -> i32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // 365.2425 days per Gregorian year; exact enough for a year boundary a
    // few hours off, and validity starts on January 1st anyway.
    1970 + (secs / 31_556_952) as i32
}

fn random_serial() -> SerialNumber {
    let mut bytes = <[u8; 16]>::generate();
    bytes[0] &= 0x7f; // a positive INTEGER
    SerialNumber::from_slice(&bytes)
}

/// The CA's parameters. `issue` rebuilds them to sign with the CA key: the
/// issuer name of a leaf is the CA's subject, so both must come from here.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_NAME);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// `sel-node ca init`: a new CA key and self-signed CA certificate in `dir`
/// (created if needed). Refuses if either file exists.
pub fn init(dir: &Path) -> Result<Issued, CaError> {
    let cert_path = dir.join(CA_CERT_FILE);
    let key_path = dir.join(CA_KEY_FILE);
    refuse_existing(&[&cert_path, &key_path])?;
    std::fs::create_dir_all(dir).map_err(file_err(dir))?;
    let key = KeyPair::generate()?;
    let mut params = ca_params();
    let year = current_year();
    params.not_before = rcgen::date_time_ymd(year, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + CA_YEARS, 1, 1);
    params.serial_number = Some(random_serial());
    let cert = params.self_signed(&key)?;
    let key_pem = zeroize::Zeroizing::new(key.serialize_pem());
    write_new(&key_path, key_pem.as_bytes(), true)?;
    write_new(&cert_path, cert.pem().as_bytes(), false)?;
    Ok(Issued {
        cert: cert_path,
        key: key_path,
    })
}

/// The subject alternative names a leaf gets when none are given.
pub fn default_sans(name: &str) -> Vec<String> {
    let mut sans = vec![name.to_string()];
    for extra in ["localhost", "127.0.0.1", "::1"] {
        if !sans.iter().any(|s| s == extra) {
            sans.push(extra.to_string());
        }
    }
    sans
}

/// A certificate name becomes a file name: keep it to a safe alphabet.
fn check_name(name: &str) -> Result<(), CaError> {
    let reason = if name.is_empty() || name.len() > 253 {
        Some("must have 1 to 253 characters")
    } else if name.starts_with('.') || name.starts_with('-') {
        Some("must not start with '.' or '-'")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        Some("may contain only letters, digits, '.', '-' and '_'")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(CaError::Name {
            name: name.to_string(),
            reason: reason.to_string(),
        }),
        None => Ok(()),
    }
}

/// `sel-node ca issue NAME`: a leaf key and certificate for `name`, signed
/// by the CA in `ca_dir`, written as `NAME.pem` and `NAME.key` (0600) in
/// `out_dir`. `sans` empty means [`default_sans`]. Refuses to overwrite.
pub fn issue(
    ca_dir: &Path,
    name: &str,
    sans: &[String],
    out_dir: &Path,
) -> Result<Issued, CaError> {
    check_name(name)?;
    let sans = if sans.is_empty() {
        default_sans(name)
    } else {
        sans.to_vec()
    };
    let cert_path = out_dir.join(format!("{name}.pem"));
    let key_path = out_dir.join(format!("{name}.key"));
    refuse_existing(&[&cert_path, &key_path])?;

    let ca_key_path = ca_dir.join(CA_KEY_FILE);
    let ca_cert_path = ca_dir.join(CA_CERT_FILE);
    let ca_key_pem = zeroize::Zeroizing::new(
        std::fs::read_to_string(&ca_key_path).map_err(file_err(&ca_key_path))?,
    );
    let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(|e| CaError::File {
        path: ca_key_path.display().to_string(),
        detail: format!("not a PEM private key: {e}"),
    })?;
    let ca_cert_pem = std::fs::read(&ca_cert_path).map_err(file_err(&ca_cert_path))?;
    let ca_der = {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        CertificateDer::from_pem_slice(&ca_cert_pem).map_err(|e| CaError::File {
            path: ca_cert_path.display().to_string(),
            detail: format!("not a PEM certificate: {e}"),
        })?
    };
    // The certificate embeds its public key verbatim: a key from another CA
    // would sign leaves that nobody trusting this certificate accepts.
    let public = ca_key.public_key_raw();
    if !ca_der.windows(public.len()).any(|w| w == public) {
        return Err(CaError::KeyMismatch {
            path: ca_key_path.display().to_string(),
        });
    }

    let mut params = CertificateParams::new(Vec::<String>::new())?;
    for san in &sans {
        let entry = match san.parse::<std::net::IpAddr>() {
            Ok(ip) => rcgen::SanType::IpAddress(ip),
            // rcgen takes any ASCII; rustls' parser is the judge of what a
            // client will match, so a name it refuses is refused here.
            Err(_) if rustls_pki_types::DnsName::try_from(san.as_str()).is_ok() => {
                rcgen::SanType::DnsName(
                    san.clone()
                        .try_into()
                        .map_err(|_| CaError::San { san: san.clone() })?,
                )
            }
            Err(_) => return Err(CaError::San { san: san.clone() }),
        };
        params.subject_alt_names.push(entry);
    }
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    // ECDSA keys sign; they never encipher.
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    let year = current_year();
    params.not_before = rcgen::date_time_ymd(year, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + LEAF_YEARS, 1, 1);
    params.serial_number = Some(random_serial());

    let key = KeyPair::generate()?;
    let issuer = Issuer::new(ca_params(), ca_key);
    let cert = params.signed_by(&key, &issuer)?;
    std::fs::create_dir_all(out_dir).map_err(file_err(out_dir))?;
    let key_pem = zeroize::Zeroizing::new(key.serialize_pem());
    write_new(&key_path, key_pem.as_bytes(), true)?;
    write_new(&cert_path, cert.pem().as_bytes(), false)?;
    Ok(Issued {
        cert: cert_path,
        key: key_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_not_safe_file_names_are_refused() {
        for bad in ["", "../x", "a/b", ".hidden", "-x", "a b", "ä"] {
            assert!(
                matches!(check_name(bad), Err(CaError::Name { .. })),
                "{bad:?}"
            );
        }
        for good in ["node-a", "ls.example.org", "site_1"] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn default_sans_cover_loopback_once() {
        assert_eq!(default_sans("a"), ["a", "localhost", "127.0.0.1", "::1"]);
        assert_eq!(default_sans("localhost"), ["localhost", "127.0.0.1", "::1"]);
    }

    #[test]
    fn current_year_is_plausible() {
        let y = current_year();
        assert!((2024..2200).contains(&y), "{y}");
    }
}
