//! Checking the `Authorization: apiKey apiKey="..."` header against the keys
//! an endpoint accepts.
//!
//! Keys are compared as SHA-256 digests with `subtle`, so neither the time
//! taken nor an early exit tells a caller how much of a guess was right, not
//! even its length; every accepted key is compared, whichever matches.
use protocol_spec::messages::mainsel::{SharedKey, parse_authorization_header};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroizing;

/// Whether `header` carries one of `accepted`.
pub fn key_matches(header: Option<&str>, accepted: &[&SharedKey]) -> bool {
    let Some(header) = header else {
        return false;
    };
    let Ok(presented) = parse_authorization_header(header).map(Zeroizing::new) else {
        return false;
    };
    let presented = Sha256::digest(presented.as_bytes());
    let mut any = Choice::from(0);
    for key in accepted {
        let expected = Sha256::digest(key.expose().as_bytes());
        any |= presented.as_slice().ct_eq(expected.as_slice());
    }
    any.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol_spec::messages::mainsel::authorization_header_value;

    #[test]
    fn accepts_only_a_configured_key() {
        let (a, b) = (SharedKey::new("alpha"), SharedKey::new("beta"));
        let header = authorization_header_value(&b);
        assert!(key_matches(Some(&header), &[&a, &b]));
        assert!(!key_matches(Some(&header), &[&a]));
        assert!(!key_matches(Some("apiKey apiKey=\"alph\""), &[&a]));
        assert!(!key_matches(Some("Bearer alpha"), &[&a]));
        assert!(!key_matches(None, &[&a]));
    }
}
