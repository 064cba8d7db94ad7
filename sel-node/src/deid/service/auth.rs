//! The auth filter every keyed route puts first: a valid API key (`API-Key`
//! or `X-API-Key`, in that order), within its rate limit, with a body within
//! the cap. It runs before any body is read, so a refused request costs no
//! more than its headers.

use std::sync::Arc;
use std::time::Instant;

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, Method, StatusCode, header};

use super::DeidService;
use super::error::ServiceError;
use super::keys::{Caller, now_secs};
use super::rate::retry_after_secs;

/// The key headers, in the order the reference checks them.
pub const KEY_HEADERS: [&str; 2] = ["api-key", "x-api-key"];

/// The presented key: the first of [`KEY_HEADERS`] present. A header given
/// twice, empty or not visible ASCII is refused (401).
fn presented_key(headers: &HeaderMap) -> Result<&str, ServiceError> {
    for name in KEY_HEADERS {
        let mut values = headers.get_all(name).iter();
        let Some(value) = values.next() else {
            continue;
        };
        if values.next().is_some() {
            return Err(ServiceError::unauthorized(
                "API key header given more than once",
            ));
        }
        return match value.to_str() {
            Ok(v) if !v.trim().is_empty() => Ok(v.trim()),
            _ => Err(ServiceError::unauthorized("API key is not valid")),
        };
    }
    Err(ServiceError::unauthorized(
        "missing API key (send it in the API-Key or X-API-Key header)",
    ))
}

/// Refuses a body over the cap from its declared length, and a request
/// that may carry a body (POST, PUT, PATCH) without declaring its length:
/// chunked HTTP/1.1 and HTTP/2 bodies have none, and could otherwise grow
/// without bound while a handler reads them. With a declared length, hyper
/// holds the body to it, so every later body read is bounded.
fn check_body(method: &Method, headers: &HeaderMap, cap: u64) -> Result<(), ServiceError> {
    match headers.get(header::CONTENT_LENGTH) {
        Some(value) => {
            let length = value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| ServiceError::bad_request("Content-Length is not a number"))?;
            if length > cap {
                return Err(ServiceError::too_large(cap));
            }
            Ok(())
        }
        None if headers.contains_key(header::TRANSFER_ENCODING)
            || [Method::POST, Method::PUT, Method::PATCH].contains(method) =>
        {
            Err(ServiceError::new(
                StatusCode::LENGTH_REQUIRED,
                "Content-Length required",
            ))
        }
        None => Ok(()),
    }
}

impl DeidService {
    /// Who is calling, checked: key (401), rate (429 + Retry-After), body
    /// size (413). The order means an unknown caller learns nothing about
    /// the limits, and a client over its rate is told so before it uploads.
    pub fn authorize(&self, method: &Method, headers: &HeaderMap) -> Result<Caller, ServiceError> {
        let key = presented_key(headers)?;
        let caller = self
            .keys
            .check(key, now_secs())
            .map_err(|refusal| ServiceError::unauthorized(refusal.to_string()))?;
        if let Err(wait) = self.limiter.take(caller.bucket(), Instant::now()) {
            let mut e = ServiceError::new(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded");
            e.retry_after = Some(retry_after_secs(wait));
            return Err(e);
        }
        check_body(method, headers, self.config.max_body_bytes)?;
        Ok(caller)
    }
}

/// The caller of a keyed route (for routes that need to know who).
pub fn caller(service: Arc<DeidService>) -> BoxedFilter<(Caller,)> {
    warp::method()
        .and(warp::header::headers_cloned())
        .and_then(move |method: Method, headers: HeaderMap| {
            let service = Arc::clone(&service);
            async move {
                service
                    .authorize(&method, &headers)
                    .map_err(warp::reject::custom)
            }
        })
        .boxed()
}

/// The filter of DEID-ARCH.md's contract: passes requests with a valid key
/// within the limits, rejects the others with a [`ServiceError`] that the
/// service's recover handler renders.
pub fn auth(service: Arc<DeidService>) -> BoxedFilter<()> {
    caller(service).map(|_| ()).untuple_one().boxed()
}

/// Only the master key (the admin endpoints): 403 for a named key.
pub fn master(service: Arc<DeidService>) -> BoxedFilter<()> {
    caller(service)
        .and_then(|caller: Caller| async move {
            match caller {
                Caller::Master => Ok(()),
                Caller::Named { .. } => Err(warp::reject::custom(ServiceError::forbidden(
                    "key management needs the master key",
                ))),
            }
        })
        .untuple_one()
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::http::HeaderValue;

    #[test]
    fn the_first_header_wins_and_repeats_are_refused() {
        let mut h = HeaderMap::new();
        assert!(presented_key(&h).is_err());
        h.insert("x-api-key", HeaderValue::from_static("b"));
        assert_eq!(presented_key(&h).unwrap(), "b");
        h.insert("api-key", HeaderValue::from_static("a"));
        assert_eq!(presented_key(&h).unwrap(), "a");
        h.append("api-key", HeaderValue::from_static("c"));
        assert!(presented_key(&h).is_err());
    }

    #[test]
    fn bodies_are_capped_by_their_declared_length() {
        let (get, post) = (Method::GET, Method::POST);
        let mut h = HeaderMap::new();
        assert!(check_body(&get, &h, 10).is_ok());
        assert_eq!(
            check_body(&post, &h, 10).unwrap_err().status,
            StatusCode::LENGTH_REQUIRED
        );
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("11"));
        assert_eq!(
            check_body(&post, &h, 10).unwrap_err().status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("10"));
        assert!(check_body(&post, &h, 10).is_ok());
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("ten"));
        assert_eq!(
            check_body(&post, &h, 10).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        h.remove(header::CONTENT_LENGTH);
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        assert_eq!(
            check_body(&get, &h, 10).unwrap_err().status,
            StatusCode::LENGTH_REQUIRED
        );
    }
}
