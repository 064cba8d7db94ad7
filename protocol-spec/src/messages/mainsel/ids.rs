//! Site identifiers and URLs.
//!
//! Every Mainzelliste/SEL pair has a global id of `[a-zA-Z0-9_]+`. A remote is
//! addressed by its id in request paths (`/linkRecord/{remote_id}`), and the
//! linkage service files keys under it, so the character set is enforced
//! before an id reaches a path, a log line or a map key.
use std::fmt;

/// The longest site id, in characters. Ids travel in paths, log lines,
/// store keys and the peer handshake; a bound keeps all of them small, and
/// 64 is far beyond any id a federation uses.
pub const MAX_SITE_ID_LEN: usize = 64;

/// The path segment reserved for the local configuration; never a remote id.
pub const RESERVED_LOCAL_ID: &str = "local";

/// Why a site id was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("id must not be empty")]
    Empty,
    #[error("id has character {character:?} at position {position}; only [a-zA-Z0-9_] is allowed")]
    InvalidCharacter { character: char, position: usize },
    #[error("id has {length} characters; at most {MAX_SITE_ID_LEN} are allowed")]
    TooLong { length: usize },
    #[error("\"local\" is reserved for the local configuration and cannot name a remote")]
    ReservedLocal,
}

/// Checks a global site id (`localId`, the `remoteId` of a page, ...).
pub fn check_site_id(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    if let Some((position, character)) = id
        .chars()
        .enumerate()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Err(IdError::InvalidCharacter {
            character,
            position,
        });
    }
    // All ASCII from here, so bytes are characters.
    if id.len() > MAX_SITE_ID_LEN {
        return Err(IdError::TooLong { length: id.len() });
    }
    Ok(())
}

/// Checks the id of a remote: a site id that is not `local`.
///
/// The reserved word is compared exactly: ids are case-sensitive everywhere
/// else, so `Local` is an ordinary id.
pub fn check_remote_id(id: &str) -> Result<(), IdError> {
    check_site_id(id)?;
    if id == RESERVED_LOCAL_ID {
        return Err(IdError::ReservedLocal);
    }
    Ok(())
}

/// A checked remote id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RemoteId(String);

impl RemoteId {
    pub fn parse(id: &str) -> Result<RemoteId, IdError> {
        check_remote_id(id)?;
        Ok(RemoteId(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RemoteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for RemoteId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RemoteId::parse(s)
    }
}

/// Why a URL in a message was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("URL must not be empty")]
    Empty,
    #[error("URL must start with http:// or https://")]
    Scheme,
    #[error("URL has no host")]
    NoHost,
    #[error("URL contains whitespace or a control character")]
    InvalidCharacter,
}

/// A shallow check of a URL given in a message (service, remote, callback).
///
/// Only the shape is checked here: scheme `http` or `https`, a host, no
/// whitespace. The HTTP client parses it fully when it is used; this check
/// exists so an obviously wrong URL is refused when it is configured, not
/// when a job fails later.
pub fn check_url(url: &str) -> Result<(), UrlError> {
    if url.is_empty() {
        return Err(UrlError::Empty);
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UrlError::InvalidCharacter);
    }
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        return Err(UrlError::Scheme);
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return Err(UrlError::NoHost);
    }
    Ok(())
}
