//! Reading the site-shared Bloom-filter key from its file.
//!
//! The file holds the key as hex text (`openssl rand -hex 32`), because a text
//! file survives copying between sites, editors and configuration management
//! unchanged, while raw bytes invite newline and encoding accidents that would
//! silently give the two sites different keys. The raw text and bytes live in
//! `Zeroizing` buffers and are wiped as soon as the HMAC key schedule exists.
use protocol_spec::bloom::{KeyError, SiteKey};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Why the key file could not be used. Never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {path}: {reason}")]
    NotHex { path: PathBuf, reason: &'static str },
    #[error("key file {path}: {source}")]
    Key { path: PathBuf, source: KeyError },
}

/// Reads the hex key at `path`; white space around it is ignored.
pub fn load(path: &Path) -> Result<SiteKey, KeyFileError> {
    let text = Zeroizing::new(std::fs::read(path).map_err(|source| KeyFileError::Read {
        path: path.to_owned(),
        source,
    })?);
    let bytes = decode_hex(text.trim_ascii()).map_err(|reason| KeyFileError::NotHex {
        path: path.to_owned(),
        reason,
    })?;
    SiteKey::from_bytes(&bytes).map_err(|source| KeyFileError::Key {
        path: path.to_owned(),
        source,
    })
}

fn decode_hex(text: &[u8]) -> Result<Zeroizing<Vec<u8>>, &'static str> {
    if text.is_empty() {
        return Err("the file is empty; expected the key as hex digits");
    }
    if !text.len().is_multiple_of(2) {
        return Err("odd number of hex digits");
    }
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() / 2));
    for pair in text.chunks_exact(2) {
        match (hex_digit(pair[0]), hex_digit(pair[1])) {
            (Some(hi), Some(lo)) => out.push((hi << 4) | lo),
            _ => return Err("a character other than a hex digit (0-9, a-f, A-F)"),
        }
    }
    Ok(out)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::decode_hex;

    #[test]
    fn decodes_both_cases_and_rejects_junk() {
        assert_eq!(
            decode_hex(b"00ffA0").unwrap().as_slice(),
            &[0x00, 0xff, 0xa0]
        );
        assert!(decode_hex(b"").is_err());
        assert!(decode_hex(b"abc").is_err());
        assert!(decode_hex(b"0g").is_err());
        assert!(decode_hex(b"00 11").is_err());
    }
}
