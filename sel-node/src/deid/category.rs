//! User categories: detection extended by data instead of a release.
//!
//! A category names a kind of identifier the built-in recognizers do not know
//! (a local patient number, a study id). It carries an optional regex and
//! optional context words; the engine turns it into one more recognizer whose
//! label is the upper-cased name. Persistence and the REST API over
//! categories live elsewhere; this is only the model and its validation.
use serde::{Deserialize, Serialize};

/// Upper bound on a user regex's compiled size, so a category cannot make
/// the engine allocate without limit (the regex crate matches in linear time,
/// so there is no catastrophic backtracking to guard against).
pub const USER_REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A user-defined PHI category.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    /// `[a-z][a-z0-9_]*`; the findings' label is this name upper-cased.
    pub name: String,
    /// What a value looks like. Without it the category needs context words
    /// and matches the token that follows one of them.
    #[serde(default)]
    pub regex: Option<String>,
    /// Words that announce a value (case-insensitive). With a regex they
    /// raise the confidence of a match that follows them closely.
    #[serde(default)]
    pub context: Vec<String>,
}

/// Why a category was refused. Never carries the value of a finding.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CategoryError {
    #[error("category name must match [a-z][a-z0-9_]* (got {len} characters that do not)")]
    InvalidName { len: usize },
    #[error("category `{name}`: regex does not compile: {reason}")]
    InvalidRegex { name: String, reason: String },
    #[error("category `{name}`: regex matches the empty string")]
    EmptyMatch { name: String },
    #[error("category `{name}`: needs a regex or at least one context word")]
    NothingToMatch { name: String },
    #[error("category `{name}`: a context word is empty")]
    EmptyContext { name: String },
    #[error("category `{name}` is defined twice or shadows a built-in label")]
    Duplicate { name: String },
}

/// Whether `name` is a valid category name: `[a-z][a-z0-9_]*`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

impl Category {
    /// Check the name, the regex and the context words.
    pub fn validate(&self) -> Result<(), CategoryError> {
        if !valid_name(&self.name) {
            return Err(CategoryError::InvalidName {
                len: self.name.chars().count(),
            });
        }
        let name = self.name.clone();
        if self.context.iter().any(|w| w.trim().is_empty()) {
            return Err(CategoryError::EmptyContext { name });
        }
        match &self.regex {
            Some(pattern) => {
                let re = regex::RegexBuilder::new(pattern)
                    .size_limit(USER_REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| CategoryError::InvalidRegex {
                        name: name.clone(),
                        reason: e.to_string(),
                    })?;
                if re.is_match("") {
                    return Err(CategoryError::EmptyMatch { name });
                }
            }
            None if self.context.is_empty() => return Err(CategoryError::NothingToMatch { name }),
            None => {}
        }
        Ok(())
    }

    /// The label of this category's findings.
    pub fn label(&self) -> String {
        self.name.to_ascii_uppercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(name: &str, regex: Option<&str>, context: &[&str]) -> Category {
        Category {
            name: name.into(),
            regex: regex.map(Into::into),
            context: context.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn names() {
        assert!(valid_name("patient_id"));
        assert!(valid_name("a1"));
        assert!(!valid_name("1a"));
        assert!(!valid_name("Patient"));
        assert!(!valid_name(""));
        assert!(!valid_name("a-b"));
    }

    #[test]
    fn validation() {
        assert!(cat("study_id", Some(r"STU-\d{6}"), &[]).validate().is_ok());
        assert!(cat("study_id", None, &["study id"]).validate().is_ok());
        assert!(matches!(
            cat("x", Some("("), &[]).validate(),
            Err(CategoryError::InvalidRegex { .. })
        ));
        assert!(matches!(
            cat("x", Some("a*"), &[]).validate(),
            Err(CategoryError::EmptyMatch { .. })
        ));
        assert!(matches!(
            cat("x", None, &[]).validate(),
            Err(CategoryError::NothingToMatch { .. })
        ));
        assert!(matches!(
            cat("x", None, &[" "]).validate(),
            Err(CategoryError::EmptyContext { .. })
        ));
        assert!(matches!(
            cat("X", None, &["a"]).validate(),
            Err(CategoryError::InvalidName { .. })
        ));
    }
}
