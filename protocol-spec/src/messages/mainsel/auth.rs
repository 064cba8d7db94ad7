//! API keys: the `authentication` objects of the init messages and the
//! `Authorization: apiKey apiKey="<key>"` header that carries a key.
use std::fmt;

use serde::{Deserialize, Serialize};

/// The only authentication type: a shared API key.
///
/// SEL also knows an unauthenticated type (`"none"`); this project refuses it,
/// since every endpoint that changes state or reveals job results must be
/// authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthType {
    #[serde(
        rename = "apiKey",
        alias = "apikey",
        alias = "ApiKey",
        alias = "APIKey"
    )]
    ApiKey,
}

/// An API key. `Debug` never shows it, so a key cannot leak into logs through
/// a `{:?}` of a message; read it with [`SharedKey::expose`] only to compare
/// it (in constant time) or to build a header.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SharedKey(String);

impl SharedKey {
    pub fn new(key: impl Into<String>) -> Self {
        SharedKey(key.into())
    }

    /// The key itself. Callers must not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A key must be non-empty visible ASCII (`!` to `~`), so it can travel in
    /// an HTTP header without ambiguity.
    pub fn check(&self) -> Result<(), SharedKeyError> {
        if self.0.is_empty() {
            return Err(SharedKeyError::Empty);
        }
        if let Some(pos) = self.0.bytes().position(|b| !(0x21..=0x7e).contains(&b)) {
            return Err(SharedKeyError::InvalidCharacter { position: pos });
        }
        Ok(())
    }
}

impl fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedKey(<redacted>)")
    }
}

/// Why a shared key is unusable. Never contains the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SharedKeyError {
    #[error("sharedKey must not be empty")]
    Empty,
    #[error("sharedKey has a character outside visible ASCII at byte {position}")]
    InvalidCharacter { position: usize },
}

/// `{"authType": "apiKey", "sharedKey": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Authentication {
    #[serde(rename = "authType")]
    pub auth_type: AuthType,
    #[serde(rename = "sharedKey")]
    pub shared_key: SharedKey,
}

impl Authentication {
    pub fn api_key(key: impl Into<String>) -> Self {
        Authentication {
            auth_type: AuthType::ApiKey,
            shared_key: SharedKey::new(key),
        }
    }
}

/// The value of an `Authorization` header carrying `key`:
/// `apiKey apiKey="<key>"` (the form SEL sends), with `"` and `\` escaped as
/// in an RFC 7230 quoted-string.
pub fn authorization_header_value(key: &SharedKey) -> String {
    let mut v = String::with_capacity(key.0.len() + 16);
    v.push_str("apiKey apiKey=\"");
    for c in key.0.chars() {
        if c == '"' || c == '\\' {
            v.push('\\');
        }
        v.push(c);
    }
    v.push('"');
    v
}

/// Why an `Authorization` header could not be read. Never contains the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthHeaderError {
    #[error("authorization scheme must be apiKey")]
    WrongScheme,
    #[error("authorization header lacks the apiKey=\"...\" parameter")]
    MissingParameter,
    #[error("authorization header has an unterminated quoted string")]
    Unterminated,
    #[error("authorization header has text after the key")]
    TrailingText,
    #[error("the API key in the authorization header is empty")]
    EmptyKey,
}

/// Reads the key out of an `Authorization` header value.
///
/// Accepted: `apiKey apiKey="<key>"` (the reference's form; scheme and
/// parameter name are case-insensitive, as RFC 7235 says), the quoted-string
/// may use `\` escapes, and the unquoted token form `apiKey apiKey=<key>`.
pub fn parse_authorization_header(value: &str) -> Result<String, AuthHeaderError> {
    let value = value.trim();
    let (scheme, rest) = value.split_once([' ', '\t']).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("apiKey") {
        return Err(AuthHeaderError::WrongScheme);
    }
    let rest = rest.trim_start();
    let Some((name, param)) = rest.split_once('=') else {
        return Err(AuthHeaderError::MissingParameter);
    };
    if !name.trim_end().eq_ignore_ascii_case("apiKey") {
        return Err(AuthHeaderError::MissingParameter);
    }
    let param = param.trim_start();
    let key = if let Some(quoted) = param.strip_prefix('"') {
        let mut key = String::with_capacity(quoted.len());
        let mut chars = quoted.chars();
        let mut closed = false;
        while let Some(c) = chars.next() {
            match c {
                '"' => {
                    closed = true;
                    break;
                }
                '\\' => match chars.next() {
                    Some(e) => key.push(e),
                    None => return Err(AuthHeaderError::Unterminated),
                },
                c => key.push(c),
            }
        }
        if !closed {
            return Err(AuthHeaderError::Unterminated);
        }
        if !chars.as_str().trim().is_empty() {
            return Err(AuthHeaderError::TrailingText);
        }
        key
    } else {
        let token = param.trim_end();
        if token.contains(|c: char| c.is_whitespace() || c == ',') {
            return Err(AuthHeaderError::TrailingText);
        }
        token.to_owned()
    };
    if key.is_empty() {
        return Err(AuthHeaderError::EmptyKey);
    }
    Ok(key)
}
