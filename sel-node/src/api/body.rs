//! Reading a request body: bounded by [`super::ApiLimits::max_body_bytes`]
//! (413 beyond), then parsed as JSON whatever the `Content-Type` says (SPEC
//! §3 **Choice**), with errors that never echo a value.

use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use warp::http::header;

use super::error::{ApiError, json_error};
use super::routes::Request;

/// Reads the whole body, refusing it as soon as it is known to be too large:
/// at once from `Content-Length`, else while it streams in, so a large body
/// is never held in memory.
pub async fn read(request: &mut Request, limit: u64) -> Result<Vec<u8>, ApiError> {
    let declared = request
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::BodyTooLarge { limit });
    }
    // A declared length is a hint, not a promise: reserve at most 1 MiB up front.
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(1 << 20) as usize);
    while let Some(chunk) = request.body.next().await {
        let chunk = chunk.map_err(|e| ApiError::BodyUnreadable(e.to_string()))?;
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(ApiError::BodyTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads and parses the body as `message` (named in the error).
pub async fn read_json<T: DeserializeOwned>(
    request: &mut Request,
    limit: u64,
    message: &'static str,
) -> Result<T, ApiError> {
    let bytes = read(request, limit).await?;
    serde_json::from_slice(&bytes).map_err(|e| json_error(message, &e))
}
