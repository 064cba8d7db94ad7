//! The page to try the service (`GET /` and `GET /ui`): paste a note, press
//! Redact, see the entities (#, label, matched value, action, span) and the
//! redacted text. One HTML document with its style and script inline, no
//! build step, nothing loaded from elsewhere.
//!
//! The Content-Security-Policy allows exactly this page's inline script and
//! style (by their SHA-256) and requests to this origin, nothing else: no
//! other script, no frame, no form target, no external fetch. The API key
//! is typed in and kept in `sessionStorage`, sent only in the `X-API-Key`
//! header of `fetch`, never in a URL. Stable element ids for tests:
//! `#key`, `#text`, `#redact`, `#entities tbody tr`, `#result`, `#status`.

use std::sync::LazyLock;

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

const SCRIPT: &str = include_str!("page.js");
const STYLE: &str = include_str!("page.css");

/// The page and its Content-Security-Policy, built once.
static PAGE: LazyLock<(String, String)> = LazyLock::new(|| {
    let csp = crate::page::content_security_policy(SCRIPT, STYLE);
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>De-identification</title>
<style>{STYLE}</style>
</head>
<body>
<h1>De-identification</h1>
<p>Paste clinical text and press Redact. The text goes to this service only; the API key stays in this tab.</p>
<label for="key">API key</label>
<input id="key" type="password" autocomplete="off" spellcheck="false">
<label for="text">Text</label>
<textarea id="text" spellcheck="false"></textarea>
<button id="redact" type="button">Redact</button>
<div id="status" role="status"></div>
<table id="entities">
<thead><tr><th>#</th><th>Label</th><th>Matched Value</th><th>Action</th><th>Span</th></tr></thead>
<tbody></tbody>
</table>
<h2>Redacted text</h2>
<pre id="result"></pre>
<script>{SCRIPT}</script>
</body>
</html>
"#
    );
    (html, csp)
});

/// The page with its security headers.
pub fn page_response() -> Response {
    let (html, csp) = &*PAGE;
    crate::page::response(html, csp)
}

/// `GET /` and `GET /ui` (no key: the page asks for one).
pub fn routes() -> BoxedFilter<(Response,)> {
    let root = warp::path::end();
    let ui = warp::path!("ui");
    root.or(ui)
        .unify()
        .and(warp::get())
        .map(page_response)
        .boxed()
}
