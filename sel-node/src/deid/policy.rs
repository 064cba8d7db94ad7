//! Policies: what happens to each finding's text.
//!
//! * mask: one `*` per character, so columns in lab tables keep their width;
//! * hash: `LABEL_HASH:` + hex SHA-256 of salt‖value, so records can still be
//!   joined or counted without the value (a salt is required: without one a
//!   nine-digit SSN hash is reversed by enumerating a billion candidates);
//! * redact: `[REDACTED:LABEL]`;
//! * keep: leave the text as it is.
use super::engine::Finding;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One transformation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Mask,
    Hash,
    Redact,
    Keep,
}

impl std::str::FromStr for Action {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mask" => Ok(Action::Mask),
            "hash" => Ok(Action::Hash),
            "redact" => Ok(Action::Redact),
            "keep" => Ok(Action::Keep),
            _ => Err(PolicyError::UnknownAction),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("unknown action (expected mask, hash, redact or keep)")]
    UnknownAction,
    #[error("a policy must look like LABEL=ACTION")]
    Malformed,
    #[error("the hash action needs a salt (at least 16 bytes)")]
    MissingSalt,
}

/// An action per label and a default for labels not listed.
///
/// `Debug` prints the actions but never the salt.
#[derive(Clone)]
pub struct Policy {
    pub default: Action,
    pub per_label: BTreeMap<String, Action>,
    salt: Vec<u8>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("default", &self.default)
            .field("per_label", &self.per_label)
            .field("salt", &"<hidden>")
            .finish()
    }
}

/// Minimum salt length accepted for hashing.
pub const MIN_SALT_LEN: usize = 16;

impl Policy {
    /// `default` for every label; `salt` is needed only if some action is
    /// [`Action::Hash`] (checked here and in [`Policy::set`]).
    pub fn new(default: Action, salt: Option<Vec<u8>>) -> Result<Self, PolicyError> {
        let p = Policy {
            default,
            per_label: BTreeMap::new(),
            salt: salt.unwrap_or_default(),
        };
        p.check()?;
        Ok(p)
    }

    /// Set the action of one label (`LABEL` upper case as in findings).
    pub fn set(&mut self, label: &str, action: Action) -> Result<(), PolicyError> {
        self.per_label.insert(label.to_ascii_uppercase(), action);
        self.check()
    }

    /// Parse `LABEL=ACTION` and apply it.
    pub fn set_from_str(&mut self, spec: &str) -> Result<(), PolicyError> {
        let (label, action) = spec.split_once('=').ok_or(PolicyError::Malformed)?;
        if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(PolicyError::Malformed);
        }
        self.set(label, action.parse()?)
    }

    fn check(&self) -> Result<(), PolicyError> {
        let hashes =
            self.default == Action::Hash || self.per_label.values().any(|a| *a == Action::Hash);
        if hashes && self.salt.len() < MIN_SALT_LEN {
            return Err(PolicyError::MissingSalt);
        }
        Ok(())
    }

    /// The action for `label`.
    pub fn action(&self, label: &str) -> Action {
        self.per_label.get(label).copied().unwrap_or(self.default)
    }

    /// The replacement text of `value` found with `label`.
    pub fn replace(&self, label: &str, value: &str) -> String {
        match self.action(label) {
            Action::Keep => value.to_string(),
            Action::Mask => "*".repeat(value.chars().count()),
            Action::Redact => format!("[REDACTED:{label}]"),
            Action::Hash => {
                let digest = Sha256::new()
                    .chain_update(&self.salt)
                    .chain_update(value.as_bytes())
                    .finalize();
                let mut out = format!("{label}_HASH:");
                for b in digest.iter() {
                    let _ = write!(out, "{b:02x}");
                }
                out
            }
        }
    }
}

/// `text` with every finding replaced according to `policy`. Findings are
/// those of [`super::Engine::detect`] on this text: sorted, disjoint, char
/// offsets. Findings out of range or overlapping an earlier one are skipped.
pub fn apply(text: &str, findings: &[Finding], policy: &Policy) -> String {
    // Byte offset of every char offset we need, in one pass.
    let mut wanted: Vec<usize> = findings.iter().flat_map(|f| [f.start, f.end]).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut byte_of = BTreeMap::new();
    let mut w = wanted.iter().peekable();
    for (ci, (bi, _)) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
        .enumerate()
    {
        while w.peek().is_some_and(|&&c| c == ci) {
            byte_of.insert(ci, bi);
            w.next();
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for f in findings {
        let (Some(&s), Some(&e)) = (byte_of.get(&f.start), byte_of.get(&f.end)) else {
            continue;
        };
        if s < pos || e < s {
            continue;
        }
        out.push_str(&text[pos..s]);
        out.push_str(&policy.replace(&f.label, &text[s..e]));
        pos = e;
    }
    out.push_str(&text[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(start: usize, end: usize, label: &str) -> Finding {
        Finding {
            start,
            end,
            label: label.into(),
            confidence: 1.0,
            recognizer: "t".into(),
        }
    }

    #[test]
    fn actions() {
        let salt = b"0123456789abcdef".to_vec();
        let mut p = Policy::new(Action::Redact, Some(salt.clone())).unwrap();
        p.set_from_str("PHONE=mask").unwrap();
        p.set_from_str("ssn=hash").unwrap();
        p.set_from_str("DATE=keep").unwrap();
        let text = "Zoë 412-55-7891 on 04/02/2026 tel 555-0134";
        let f = vec![
            finding(0, 3, "PERSON"),
            finding(4, 15, "SSN"),
            finding(19, 29, "DATE"),
            finding(34, 42, "PHONE"),
        ];
        let out = apply(text, &f, &p);
        let expected_hash = Sha256::new()
            .chain_update(&salt)
            .chain_update(b"412-55-7891")
            .finalize();
        let hex: String = expected_hash.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            out,
            format!("[REDACTED:PERSON] SSN_HASH:{hex} on 04/02/2026 tel ********")
        );
    }

    #[test]
    fn hash_needs_salt() {
        assert_eq!(
            Policy::new(Action::Hash, None).unwrap_err(),
            PolicyError::MissingSalt
        );
        let mut p = Policy::new(Action::Redact, Some(b"short".to_vec())).unwrap();
        assert_eq!(p.set_from_str("SSN=hash"), Err(PolicyError::MissingSalt));
        assert_eq!(p.set_from_str("SSN"), Err(PolicyError::Malformed));
        assert_eq!(p.set_from_str("SSN=shred"), Err(PolicyError::UnknownAction));
        assert!(!format!("{p:?}").contains("short"));
    }
}
