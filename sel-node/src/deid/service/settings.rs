//! The `[deid]` section of `node.toml`: the de-identification service's
//! listener, limits, key source and default policy.
//!
//! Every field has a default, so an empty or absent section is valid; the
//! service runs only when `listen` is set.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Longest text accepted by `/pii/deidentify` and the PHI processing API,
/// in characters (the reference's limit; 422 beyond).
pub const MAX_TEXT_CHARS: usize = 500_000;

/// Default body cap: 4 MiB. A text of [`MAX_TEXT_CHARS`] characters takes up
/// to 2,000,000 bytes as UTF-8 (4 bytes per character), and up to 3,000,000
/// bytes as JSON when it is full of escaped control characters (`\u0001`,
/// 6 bytes each); 4 MiB leaves room for the rest of the request (policy
/// overrides, a record id). The reference's 1 MB cap would refuse, with
/// 413, texts its own 500,000-character limit allows.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 4 << 20;
/// Smallest body cap accepted: below it even a short request would not fit.
pub const MIN_MAX_BODY_BYTES: u64 = 1024;

/// The environment variable holding the master key by default.
pub const DEFAULT_MASTER_KEY_ENV: &str = "SEL_DEID_MASTER_KEY";

/// What happens to a finding of one label (`token` comes from the token
/// service, when one is plugged in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyAction {
    Mask,
    Hash,
    Redact,
    Keep,
    Token,
}

impl PolicyAction {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyAction::Mask => "mask",
            PolicyAction::Hash => "hash",
            PolicyAction::Redact => "redact",
            PolicyAction::Keep => "keep",
            PolicyAction::Token => "token",
        }
    }

    /// The action named `text`, if any.
    pub fn parse(text: &str) -> Option<PolicyAction> {
        match text {
            "mask" => Some(PolicyAction::Mask),
            "hash" => Some(PolicyAction::Hash),
            "redact" => Some(PolicyAction::Redact),
            "keep" => Some(PolicyAction::Keep),
            "token" => Some(PolicyAction::Token),
            _ => None,
        }
    }
}

/// The default policy of the reference service: identifiers that records
/// are joined on are hashed (salted), numbers whose layout matters are
/// masked (same width), everything else is redacted.
pub fn default_policy() -> BTreeMap<String, PolicyAction> {
    use PolicyAction::*;
    [
        ("SSN", Hash),
        ("NPI", Hash),
        ("MRN", Hash),
        ("CREDIT_CARD", Mask),
        ("PHONE", Mask),
        ("FAX", Mask),
        ("DATE", Mask),
        ("PERSON", Redact),
    ]
    .into_iter()
    .map(|(label, action)| (label.to_string(), action))
    .collect()
}

/// The `[deid]` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeidSettings {
    /// Address of the service's own listener; absent = the service is off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// Largest request body (413 beyond). See [`DEFAULT_MAX_BODY_BYTES`].
    pub max_body_bytes: u64,
    /// Requests per minute per API key (token bucket refill rate).
    pub rate_limit_per_minute: u32,
    /// Requests a key may make at once before the rate applies.
    pub rate_limit_burst: u32,
    /// Name of the environment variable holding the master key.
    pub master_key_env: String,
    /// A file with the service secret (base64, at least 32 bytes) from which
    /// the hash salt and the token secret are derived; without it they are
    /// derived from the node key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// Action for labels the policy does not name.
    pub default_action: PolicyAction,
    /// Action per label (upper case), laid over [`default_policy`].
    pub policy: BTreeMap<String, PolicyAction>,
    /// Enables `storage_type=File`: token values kept IN CLEAR in a JSON
    /// file (`deid-tokens-dev.json`), for development only. Off by default.
    pub dev_file_backend: bool,
    /// With `store = "postgres://…"`: seconds a process's claim on its
    /// async jobs lasts unless renewed (every third of it). After a process
    /// dies, its jobs are marked failed by another within about 4/3 of it.
    pub job_lease_secs: u64,
}

impl Default for DeidSettings {
    fn default() -> Self {
        DeidSettings {
            listen: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            rate_limit_per_minute: 600,
            rate_limit_burst: 60,
            master_key_env: DEFAULT_MASTER_KEY_ENV.to_string(),
            secret_file: None,
            default_action: PolicyAction::Redact,
            policy: default_policy(),
            dev_file_backend: false,
            job_lease_secs: 30,
        }
    }
}

/// `[deid]` as written in the file: the policy table is laid over the
/// default map instead of replacing it, so naming one label keeps the rest.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeidFileSettings {
    listen: Option<SocketAddr>,
    max_body_bytes: Option<u64>,
    rate_limit_per_minute: Option<u32>,
    rate_limit_burst: Option<u32>,
    master_key_env: Option<String>,
    secret_file: Option<PathBuf>,
    default_action: Option<PolicyAction>,
    #[serde(default)]
    policy: BTreeMap<String, PolicyAction>,
    dev_file_backend: Option<bool>,
    job_lease_secs: Option<u64>,
}

impl DeidSettings {
    pub(crate) fn overlay_file(&mut self, file: DeidFileSettings) {
        if file.listen.is_some() {
            self.listen = file.listen;
        }
        if let Some(v) = file.max_body_bytes {
            self.max_body_bytes = v;
        }
        if let Some(v) = file.rate_limit_per_minute {
            self.rate_limit_per_minute = v;
        }
        if let Some(v) = file.rate_limit_burst {
            self.rate_limit_burst = v;
        }
        if let Some(v) = file.master_key_env {
            self.master_key_env = v;
        }
        if file.secret_file.is_some() {
            self.secret_file = file.secret_file;
        }
        if let Some(v) = file.default_action {
            self.default_action = v;
        }
        if let Some(v) = file.dev_file_backend {
            self.dev_file_backend = v;
        }
        if let Some(v) = file.job_lease_secs {
            self.job_lease_secs = v;
        }
        for (label, action) in file.policy {
            self.policy.insert(label.to_ascii_uppercase(), action);
        }
    }

    /// What no default can make right; `Err((setting, reason))`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.max_body_bytes < MIN_MAX_BODY_BYTES {
            return Err((
                "deid.max_body_bytes",
                format!("must be at least {MIN_MAX_BODY_BYTES}"),
            ));
        }
        if self.rate_limit_per_minute == 0 {
            return Err(("deid.rate_limit_per_minute", "must be at least 1".into()));
        }
        if self.rate_limit_burst == 0 {
            return Err(("deid.rate_limit_burst", "must be at least 1".into()));
        }
        if !(1..=3600).contains(&self.job_lease_secs) {
            return Err(("deid.job_lease_secs", "must be 1 to 3600".into()));
        }
        let env_ok = !self.master_key_env.is_empty()
            && self
                .master_key_env
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !env_ok {
            return Err((
                "deid.master_key_env",
                "must be an environment variable name ([A-Za-z0-9_]+)".into(),
            ));
        }
        if let Some(label) = self.policy.keys().find(|l| !valid_label(l)) {
            return Err((
                "deid.policy",
                format!(
                    "label of {} characters is not [A-Z][A-Z0-9_]*",
                    label.chars().count()
                ),
            ));
        }
        Ok(())
    }
}

/// A finding label: `[A-Z][A-Z0-9_]*`.
pub fn valid_label(label: &str) -> bool {
    let mut chars = label.chars();
    matches!(chars.next(), Some('A'..='Z'))
        && chars.all(|c| matches!(c, 'A'..='Z' | '0'..='9' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_policy_is_laid_over_the_defaults() {
        let file: DeidFileSettings = toml::from_str(
            r#"
                listen = "127.0.0.1:8163"
                rate_limit_per_minute = 30
                [policy]
                ssn = "mask"
                ZIP = "keep"
            "#,
        )
        .unwrap();
        let mut s = DeidSettings::default();
        s.overlay_file(file);
        assert_eq!(s.listen, Some("127.0.0.1:8163".parse().unwrap()));
        assert_eq!(s.rate_limit_per_minute, 30);
        assert_eq!(s.policy["SSN"], PolicyAction::Mask);
        assert_eq!(s.policy["ZIP"], PolicyAction::Keep);
        assert_eq!(s.policy["PHONE"], PolicyAction::Mask);
        assert!(s.validate().is_ok());
    }

    #[test]
    fn bad_values_are_refused() {
        let mut s = DeidSettings {
            rate_limit_per_minute: 0,
            ..DeidSettings::default()
        };
        assert_eq!(s.validate().unwrap_err().0, "deid.rate_limit_per_minute");
        s.rate_limit_per_minute = 1;
        s.max_body_bytes = 10;
        assert_eq!(s.validate().unwrap_err().0, "deid.max_body_bytes");
        s.max_body_bytes = DEFAULT_MAX_BODY_BYTES;
        s.master_key_env = "A B".into();
        assert_eq!(s.validate().unwrap_err().0, "deid.master_key_env");
        s.master_key_env = DEFAULT_MASTER_KEY_ENV.into();
        s.policy.insert("bad-label".into(), PolicyAction::Keep);
        assert_eq!(s.validate().unwrap_err().0, "deid.policy");
        assert!(toml::from_str::<DeidFileSettings>("unknown = 1").is_err());
        assert!(toml::from_str::<DeidFileSettings>("[policy]\nSSN = \"shred\"").is_err());
    }

    #[test]
    fn the_default_cap_fits_the_longest_text_as_json() {
        // 500,000 characters of 4-byte UTF-8 plus the JSON around them.
        let text: String = std::iter::repeat_n('𝔸', MAX_TEXT_CHARS).collect();
        let body = serde_json::to_vec(&serde_json::json!({ "text": text })).unwrap();
        assert!(body.len() as u64 <= DEFAULT_MAX_BODY_BYTES);
        let escaped: String = std::iter::repeat_n('\u{1}', MAX_TEXT_CHARS).collect();
        let body = serde_json::to_vec(&serde_json::json!({ "text": escaped })).unwrap();
        assert!(body.len() as u64 <= DEFAULT_MAX_BODY_BYTES);
    }
}
