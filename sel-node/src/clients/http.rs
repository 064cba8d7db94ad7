//! Small pieces the three clients share: reading a response body with a size
//! bound, and describing a transport failure without the URL (callback URLs
//! are not logged, and every error here ends up in job records and logs).

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// More than the limit (announced by `Content-Length` or counted).
    TooLarge { limit: u64 },
    /// The transport failed while the body was streaming.
    Transport(reqwest::Error),
}

/// Reads the whole body of `resp`, refusing more than `limit` bytes before
/// buffering them: a data service or linkage service cannot make the node
/// allocate without bound.
pub(crate) async fn read_limited(
    mut resp: reqwest::Response,
    limit: u64,
) -> Result<Vec<u8>, BodyError> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::with_capacity(resp.content_length().unwrap_or(0).min(limit) as usize);
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A transport failure in words, without the URL: "timed out", "connection
/// failed: …", and the innermost causes (they name OS and TLS errors, never
/// a body or a header).
pub(crate) fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_builder() {
        "invalid request (URL)"
    } else if e.is_body() || e.is_decode() {
        "reading the answer failed"
    } else {
        "request failed"
    };
    let e = e.without_url();
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        causes.push(s.to_string());
        source = s.source();
    }
    match causes.last() {
        Some(root) => format!("{kind}: {root}"),
        None => kind.to_owned(),
    }
}

/// A serde_json error as its category and position only: the message serde
/// writes can quote the offending input, which may be patient data.
pub(crate) fn describe_json(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "JSON of the wrong shape",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    // "missing field `records`" and "duplicate key \"name\"" name a key,
    // never a value: worth keeping.
    let msg = e.to_string();
    if (msg.starts_with("missing field ") || msg.starts_with("duplicate key "))
        && let Some(head) = msg.split(" at line").next()
    {
        return format!("{what}: {head} at line {} column {}", e.line(), e.column());
    }
    format!("{what} at line {} column {}", e.line(), e.column())
}
