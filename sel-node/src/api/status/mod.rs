//! The operator's status page: `GET /status` (the page) and
//! `GET /status/data` (its JSON).
//!
//! The page is one static HTML file with inline CSS and JS, compiled into
//! the binary: no build step, no external asset, nothing a CDN could
//! change. It holds no data and no secret, so it is served without a key;
//! everything it shows comes from `/status/data`, behind the local API key
//! like every other endpoint. The JS takes the key from the URL fragment
//! (never sent to a server, never in a log) or from a password field, keeps
//! it in `sessionStorage`, and sends it only in the `Authorization` header.
//!
//! The page is served with a Content-Security-Policy that allows exactly its
//! own inline script and style (by hash) and requests to this origin: a
//! value that slipped into the page as markup could not run or call out.

mod last_test;
mod view;

use std::sync::OnceLock;

use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use super::error::ApiError;
use super::reply;
use super::routes::ApiState;
use crate::model::now_millis;

pub use last_test::{LastTests, TestKind, TestLog, TestOutcome};
pub use view::{
    ConnectionView, FieldView, JobRow, LocalView, RECENT_JOBS, RemoteView, StatusView, recent_jobs,
    reduce_url,
};

/// The page, as written.
const PAGE: &str = include_str!("page.html");

/// `GET /status`: the page.
pub fn page() -> Response {
    crate::page::response(PAGE, content_security_policy())
}

/// The policy of the page: its inline script and style by SHA-256, fetches
/// to this origin only, no frames, no forms, no base URL.
fn content_security_policy() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        crate::page::content_security_policy(
            inline_block(PAGE, "script").unwrap_or_default(),
            inline_block(PAGE, "style").unwrap_or_default(),
        )
    })
}

/// The text between `<tag>` and `</tag>` (the first such block).
fn inline_block<'a>(page: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = page.find(&open)? + open.len();
    let end = start + page[start..].find(&format!("</{tag}>"))?;
    Some(&page[start..end])
}

/// `GET /status/data` (after the key check): the status as JSON.
pub fn data(state: &ApiState) -> Result<Response, ApiError> {
    let manager = &state.manager;
    let local = manager.local().ok_or(ApiError::NotInitialised)?;
    let remotes = manager
        .remotes()
        .iter()
        .map(|(remote, conn)| {
            RemoteView::new(
                remote,
                conn,
                manager.remote_down_since(&remote.id),
                &state.tests.get(&remote.id),
            )
        })
        .collect();
    let jobs = manager.jobs();
    let now = now_millis();
    let view = StatusView {
        generated_at: now,
        local: LocalView::new(&local),
        remotes,
        jobs: recent_jobs(&jobs, now),
        jobs_total: jobs.len(),
    };
    let mut r = reply::json(StatusCode::OK, &view);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// Records how `/test` or `/testLS` of `remote_id` ended, when it got as
/// far as testing (a bad or unknown remote id is not a test).
pub fn record_test(
    state: &ApiState,
    kind: TestKind,
    remote_id: &str,
    outcome: &Result<Response, ApiError>,
) {
    let (ok, detail) = match outcome {
        Ok(_) => (
            true,
            match kind {
                TestKind::Peer => "Remotes Connected",
                TestKind::LinkageService => "Linkage Service connected",
            }
            .to_owned(),
        ),
        Err(ApiError::BadRemoteId(_) | ApiError::UnknownRemote(_)) => return,
        Err(e) => (false, e.to_string()),
    };
    if state.manager.remote(remote_id).is_some() {
        state.tests.record(remote_id, kind, ok, detail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use sha2::{Digest, Sha256};

    #[test]
    fn the_policy_hashes_the_page_s_own_script_and_style() {
        let script = inline_block(PAGE, "script").expect("the page has a script");
        let style = inline_block(PAGE, "style").expect("the page has a style");
        assert!(script.contains("/status/data"));
        assert!(!style.is_empty());
        let csp = content_security_policy();
        let b64 = |s: &str| {
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(s.as_bytes()))
        };
        assert!(csp.contains(&format!("script-src 'sha256-{}'", b64(script))));
        assert!(csp.contains(&format!("style-src 'sha256-{}'", b64(style))));
        // One block of each: a second would be blocked by the policy.
        assert_eq!(PAGE.matches("<script").count(), 1);
        assert_eq!(PAGE.matches("<style").count(), 1);
    }

    #[test]
    fn the_page_never_puts_the_key_in_a_url() {
        // The key travels in the Authorization header only.
        let script = inline_block(PAGE, "script").unwrap();
        assert!(script.contains("Authorization"));
        assert!(!script.contains("?key"));
        assert!(
            !script.contains("innerHTML"),
            "data is set as text, never parsed as markup"
        );
    }
}
