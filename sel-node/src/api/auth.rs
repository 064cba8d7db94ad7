//! The local API key check (SPEC §3 "Authentication", step 3 of the order of
//! checks).
//!
//! Both keys are hashed with SHA-256 and the digests compared with `subtle`:
//! the comparison takes the same time wherever the keys differ, and hashing
//! first means it does not end early on a length difference either, so the
//! key's length does not leak through timing.

use protocol_spec::messages::mainsel::{SharedKey, parse_authorization_header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use warp::http::{HeaderMap, header};

use super::error::ApiError;

/// Checks that the request carries `expected` in its `Authorization` header.
pub fn check_local_key(headers: &HeaderMap, expected: &SharedKey) -> Result<(), ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(ApiError::MissingAuth);
    };
    if values.next().is_some() {
        return Err(ApiError::RepeatedAuth);
    }
    // A header that is not visible ASCII cannot carry a valid key.
    let value = value.to_str().map_err(|_| ApiError::WrongKey)?;
    let given = parse_authorization_header(value).map_err(ApiError::MalformedAuth)?;
    if keys_equal(given.as_bytes(), expected.expose().as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::WrongKey)
    }
}

/// Constant-time equality of two keys of any lengths.
fn keys_equal(given: &[u8], expected: &[u8]) -> bool {
    let a = Sha256::digest(given);
    let b = Sha256::digest(expected);
    a.as_slice().ct_eq(b.as_slice()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn accepts_only_the_exact_key() {
        let key = SharedKey::new("s3cr\"et");
        assert!(check_local_key(&headers(&[r#"apiKey apiKey="s3cr\"et""#]), &key).is_ok());
        assert!(check_local_key(&headers(&[r#"APIKEY apikey="s3cr\"et""#]), &key).is_ok());
        assert!(matches!(
            check_local_key(&headers(&[r#"apiKey apiKey="s3cr""#]), &key),
            Err(ApiError::WrongKey)
        ));
        assert!(matches!(
            check_local_key(&headers(&[]), &key),
            Err(ApiError::MissingAuth)
        ));
        assert!(matches!(
            check_local_key(&headers(&["Bearer x"]), &key),
            Err(ApiError::MalformedAuth(_))
        ));
        assert!(matches!(
            check_local_key(&headers(&["apiKey apiKey=a", "apiKey apiKey=b"]), &key),
            Err(ApiError::RepeatedAuth)
        ));
    }
}
