//! Every way a request can fail, with the HTTP status it maps to.
//!
//! Messages are precise about what was wrong with the request, but never
//! carry secrets (keys, LIDs, shares) and never echo an API key.

use protocol_spec::messages::linkage::{ErrorBody, LinkageRequestError, Role};
use protocol_spec::messages::mainsel::{AuthHeaderError, IdError};
use warp::http::StatusCode;

use crate::lid::LidError;

/// The expected shape of the authorization header, quoted in auth errors.
const AUTH_FORM: &str = "Authorization: apiKey apiKey=\"<key>\"";

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    // ---- 401 ----
    #[error("missing Authorization header; expected {AUTH_FORM}")]
    MissingAuth,
    #[error("malformed Authorization header ({0}); expected {AUTH_FORM}")]
    MalformedAuth(AuthHeaderError),
    #[error("the API key is not valid for any registered site")]
    InvalidApiKey,
    #[error("authenticated as site {authenticated}, but the request is for site {requested}")]
    SiteMismatch {
        authenticated: String,
        requested: String,
    },

    // ---- 400 ----
    #[error("invalid site id {id:?} in the path: {source}")]
    BadSiteId { id: String, source: IdError },
    #[error("query parameter count is missing; use ?count=n with n between 1 and {max}")]
    MissingCount { max: usize },
    #[error("query parameter count must be a positive integer, got {0:?}")]
    BadCount(String),
    #[error("query parameter count is {count}; at most {max} IDs can be requested at once")]
    CountTooLarge { count: usize, max: usize },
    #[error("query parameter count is given more than once")]
    RepeatedCount,
    #[error("request body is not a valid linkage result: {0}")]
    InvalidJson(String),
    #[error("{0}")]
    BadPost(LinkageRequestError),
    #[error("local and remote site are both {0}; a linkage job needs two sites")]
    SameSite(String),
    #[error("remote site {0} is not registered at this linkage service")]
    UnknownRemote(String),
    #[error("ids[{index}] {source}")]
    BadServerId { index: usize, source: LidError },
    #[error("ids[{index}] is not a linkage ID this service issued to the posting site")]
    ForeignServerId { index: usize },
    #[error("the server sent {server} share records but the client sent {client}")]
    LengthMismatch { server: usize, client: usize },
    #[error(
        "the two posts of the job disagree on {field}: the server says {server}, the client {client}"
    )]
    SizeMismatch {
        field: &'static str,
        server: u64,
        client: u64,
    },
    #[error(
        "the combined shares are inconsistent (a best index outside the server's database); \
         nothing was linked"
    )]
    InconsistentShares,
    #[error("both posts of the job claim role {0}; one must be server and one client")]
    RoleConflict(Role),
    #[error("the request body could not be read: {0}")]
    BodyRead(String),

    // ---- 408 / 411 / 413 ----
    #[error("the request body did not arrive within {0} ms")]
    BodyTimeout(u64),
    #[error("a Content-Length header is required")]
    LengthRequired,
    #[error("the request body exceeds the configured maximum of {0} bytes")]
    BodyTooLarge(u64),

    // ---- 409 ----
    #[error("site {site} already has a pending post for this job tag")]
    DuplicatePost { site: String },

    // ---- 503 / 504 / 500 ----
    #[error("the linkage service is at its concurrency limit; retry after {retry_after_secs} s")]
    Overloaded { retry_after_secs: u64 },
    #[error(
        "Linkage server timeout: no post from site {remote} for this job within {waited_ms} ms"
    )]
    PartnerTimeout { remote: String, waited_ms: u64 },
    #[error("internal error of the linkage service")]
    Internal,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            MissingAuth | MalformedAuth(_) | InvalidApiKey | SiteMismatch { .. } => {
                StatusCode::UNAUTHORIZED
            }
            BadSiteId { .. }
            | MissingCount { .. }
            | BadCount(_)
            | CountTooLarge { .. }
            | RepeatedCount
            | InvalidJson(_)
            | BadPost(_)
            | SameSite(_)
            | UnknownRemote(_)
            | BadServerId { .. }
            | ForeignServerId { .. }
            | LengthMismatch { .. }
            | SizeMismatch { .. }
            | InconsistentShares
            | RoleConflict(_)
            | BodyRead(_) => StatusCode::BAD_REQUEST,
            BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            LengthRequired => StatusCode::LENGTH_REQUIRED,
            BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            DuplicatePost { .. } => StatusCode::CONFLICT,
            Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            PartnerTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The HTTP response: status, `{"error": "..."}`, and the headers the
    /// status calls for (`WWW-Authenticate` on 401, `Retry-After` on 503).
    pub fn into_response(self) -> warp::reply::Response {
        let status = self.status();
        let body = ErrorBody {
            error: self.to_string(),
        };
        let mut response =
            warp::reply::with_status(warp::reply::json(&body), status).into_response_inner();
        let headers = response.headers_mut();
        match &self {
            ApiError::Overloaded { retry_after_secs } => {
                headers.insert(
                    warp::http::header::RETRY_AFTER,
                    warp::http::HeaderValue::from(*retry_after_secs),
                );
            }
            // The body was not read (or not to its end): HTTP/1.1 cannot
            // serve another request on this connection, and hyper closes it
            // after the answer. Saying so keeps a keep-alive client from
            // sending its next request down the dead connection (HTTP/2
            // ends only the stream; hyper drops the header there).
            ApiError::BodyTooLarge(_) | ApiError::BodyTimeout(_) => {
                headers.insert(
                    warp::http::header::CONNECTION,
                    warp::http::HeaderValue::from_static("close"),
                );
            }
            _ if status == StatusCode::UNAUTHORIZED => {
                headers.insert(
                    warp::http::header::WWW_AUTHENTICATE,
                    warp::http::HeaderValue::from_static("apiKey"),
                );
            }
            _ => {}
        }
        response
    }
}

/// `warp::Reply::into_response` under a name that does not clash with ours.
trait IntoResponseInner {
    fn into_response_inner(self) -> warp::reply::Response;
}

impl<T: warp::Reply> IntoResponseInner for T {
    fn into_response_inner(self) -> warp::reply::Response {
        warp::Reply::into_response(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unread_body_closes_the_connection() {
        let r = ApiError::BodyTooLarge(10).into_response();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(r.headers()[warp::http::header::CONNECTION], "close");
        let r = ApiError::LengthRequired.into_response();
        assert!(r.headers().get(warp::http::header::CONNECTION).is_none());
    }
}
