//! What to build: kernel features and log level, from the environment.

use std::collections::BTreeSet;

use crate::{Error, Result};

/// Comma-separated kernel features, replacing the caller's default.
pub const FEATURES_ENV: &str = "GITFS_HERMIT_FEATURES";
/// The kernel's log level.
pub const LOG_ENV: &str = "HERMIT_LOG_LEVEL_FILTER";
pub const DEFAULT_LOG_LEVEL: &str = "warn";
pub const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Kernel features (sorted, without duplicates: the cache key must not depend on
/// order) and log level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub features: Vec<String>,
    pub log_level: String,
}

impl Options {
    pub fn from_env(default_features: &str) -> Result<Self> {
        let features = std::env::var(FEATURES_ENV).ok();
        let log = std::env::var(LOG_ENV).ok();
        Self::parse(
            features.as_deref().unwrap_or(default_features),
            log.as_deref(),
        )
    }

    pub fn parse(features: &str, log_level: Option<&str>) -> Result<Self> {
        let set: BTreeSet<String> = features
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if let Some(bad) = set.iter().find(|f| {
            !f.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        }) {
            return Err(Error::Option {
                name: FEATURES_ENV,
                value: features.to_string(),
                why: format!("bad feature name {bad:?}"),
            });
        }
        let log_level = log_level
            .unwrap_or(DEFAULT_LOG_LEVEL)
            .trim()
            .to_ascii_lowercase();
        if !LOG_LEVELS.contains(&log_level.as_str()) {
            return Err(Error::Option {
                name: LOG_ENV,
                value: log_level,
                why: format!("expected one of {}", LOG_LEVELS.join(", ")),
            });
        }
        Ok(Self {
            features: set.into_iter().collect(),
            log_level,
        })
    }

    /// Names the build in the output directory: one library per option set.
    pub fn key(&self) -> String {
        let features = if self.features.is_empty() {
            "none".to_string()
        } else {
            self.features.join("+")
        };
        format!("{features}-log-{}", self.log_level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_sorted_and_deduplicated() {
        let o = Options::parse("tcp, pci,acpi  pci", None).unwrap();
        assert_eq!(o.features, ["acpi", "pci", "tcp"]);
        assert_eq!(o.log_level, "warn");
        assert_eq!(o.key(), "acpi+pci+tcp-log-warn");
    }

    #[test]
    fn no_features_has_a_key_too() {
        assert_eq!(
            Options::parse("", Some("Info")).unwrap().key(),
            "none-log-info"
        );
    }

    #[test]
    fn bad_names_and_levels_are_refused() {
        let e = Options::parse("pci,a/b", None).unwrap_err().to_string();
        assert!(e.contains("GITFS_HERMIT_FEATURES") && e.contains("a/b"), "{e}");
        let e = Options::parse("pci", Some("loud")).unwrap_err().to_string();
        assert!(e.contains("HERMIT_LOG_LEVEL_FILTER") && e.contains("trace"), "{e}");
    }
}
