//! Self-contained HTML pages (the node's status page, the de-id service's
//! page): one document with its script and style inline, served with a
//! Content-Security-Policy that allows exactly that script and style (by
//! SHA-256) and requests to this origin. A value that slipped into a page as
//! markup could then neither run nor call out, and nothing is loaded from
//! elsewhere (no CDN that could change what runs beside an API key).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use warp::http::{HeaderValue, header};
use warp::reply::Response;

/// The policy for a page whose only script and style are `script` and
/// `style`, inline.
pub fn content_security_policy(script: &str, style: &str) -> String {
    let hash = |s: &str| STANDARD.encode(Sha256::digest(s.as_bytes()));
    format!(
        "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; connect-src 'self'; \
         img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        hash(script),
        hash(style)
    )
}

/// `html` with the policy and the headers every page gets: no referrer, no
/// sniffing, no framing, no caching (pages show data behind keys).
pub fn response(html: &str, csp: &str) -> Response {
    let mut response = Response::new(html.to_owned().into());
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_hashes_of_exactly_the_inline_blocks() {
        let csp = content_security_policy("run()", "p{}");
        let hash = |s: &str| STANDARD.encode(Sha256::digest(s.as_bytes()));
        assert!(csp.contains(&format!("script-src 'sha256-{}'", hash("run()"))));
        assert!(csp.contains(&format!("style-src 'sha256-{}'", hash("p{}"))));
        assert!(csp.starts_with("default-src 'none'"));
        let r = response("<p>x</p>", &csp);
        assert_eq!(r.headers()[header::CONTENT_SECURITY_POLICY], csp.as_str());
        assert_eq!(r.headers()[header::X_FRAME_OPTIONS], "DENY");
    }
}
