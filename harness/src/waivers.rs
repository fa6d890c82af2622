//! Waiver files (`targets/NAME.waivers.toml`): expected failures, each with a reason. A waived
//! failure reports as `waived`; a waiver that no longer matches a failure is reported as
//! stale, so it gets removed.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::scenario::toml_error_parts;
use crate::verdict::{Status, Verdict};

/// A waiver file, as written.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaiverFile {
    #[serde(default)]
    waiver: Vec<Waiver>,
}

/// One waiver.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waiver {
    /// A scenario id or a glob.
    pub id: String,
    /// Why the failure is accepted.
    pub reason: String,
}

/// A waiver that matches no failure any more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleWaiver {
    /// The waiver's id or glob.
    pub pattern: String,
    /// Its reason.
    pub reason: String,
    /// Scenarios it matches that now pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matched_passing: Vec<String>,
}

/// Failed to read a waiver file.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct WaiverError {
    /// The file.
    pub file: String,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// A set of waivers.
#[derive(Debug, Clone, Default)]
pub struct Waivers {
    entries: Vec<(Waiver, globset::GlobMatcher)>,
}

impl Waivers {
    /// No waivers.
    pub fn none() -> Self {
        Self::default()
    }

    /// Reads a waiver file.
    pub fn load(path: &Path) -> Result<Self, WaiverError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| WaiverError {
            file: file.clone(),
            line: None,
            message: format!("failed to read: {e}"),
        })?;
        Self::parse(&text, &file)
    }

    /// Parses a waiver file's text.
    pub fn parse(text: &str, file: &str) -> Result<Self, WaiverError> {
        let parsed: WaiverFile = toml::from_str(text).map_err(|e| {
            let (line, _, message) = toml_error_parts(text, &e);
            WaiverError {
                file: file.to_owned(),
                line,
                message,
            }
        })?;
        let mut entries = Vec::new();
        for w in parsed.waiver {
            let line = text.lines().position(|l| l.contains(&w.id)).map(|i| i + 1);
            if w.reason.trim().is_empty() {
                return Err(WaiverError {
                    file: file.to_owned(),
                    line,
                    message: format!("waiver `{}` needs a non-empty `reason`", w.id),
                });
            }
            let glob = globset::Glob::new(&w.id).map_err(|e| WaiverError {
                file: file.to_owned(),
                line,
                message: format!("invalid id glob `{}`: {}", w.id, e.kind()),
            })?;
            entries.push((w, glob.compile_matcher()));
        }
        Ok(Self { entries })
    }

    /// Turns matching failures into waived verdicts and returns the stale waivers.
    pub fn apply(&self, verdicts: &mut [Verdict]) -> Vec<StaleWaiver> {
        let mut stale = Vec::new();
        for (waiver, matcher) in &self.entries {
            let mut used = false;
            let mut passing = Vec::new();
            for v in verdicts.iter_mut().filter(|v| matcher.is_match(&v.id)) {
                match v.status {
                    Status::Fail => {
                        v.status = Status::Waived;
                        v.reason = format!("waived: {} (was: {})", waiver.reason, v.reason);
                        used = true;
                    }
                    Status::Pass => passing.push(v.id.clone()),
                    _ => {}
                }
            }
            if !used {
                stale.push(StaleWaiver {
                    pattern: waiver.id.clone(),
                    reason: waiver.reason.clone(),
                    matched_passing: passing,
                });
            }
        }
        stale
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Level;
    use crate::verdict::Evidence;

    fn verdict(id: &str, status: Status) -> Verdict {
        Verdict {
            id: id.to_owned(),
            title: String::new(),
            status,
            severity: None,
            level: Level::Must,
            expected: String::new(),
            observed: String::new(),
            reason: "r".to_owned(),
            spec: vec![],
            duration_ms: 0,
            observation: None,
            expectation: None,
            evidence: Evidence::default(),
        }
    }

    #[test]
    fn failures_are_waived_and_unused_waivers_are_stale() {
        let w = Waivers::parse(
            "[[waiver]]\nid = \"a/*\"\nreason = \"known\"\n\n[[waiver]]\nid = \"b\"\nreason = \"fixed now\"\n",
            "w.toml",
        )
        .expect("valid");
        let mut v = vec![verdict("a/x", Status::Fail), verdict("b", Status::Pass)];
        let stale = w.apply(&mut v);
        assert_eq!(v[0].status, Status::Waived);
        assert!(v[0].reason.starts_with("waived: known"));
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].pattern, "b");
        assert_eq!(stale[0].matched_passing, ["b"]);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let err =
            Waivers::parse("[[waiver]]\nid = \"a\"\nreson = \"x\"\n", "w.toml").expect_err("typo");
        assert_eq!(err.line, Some(3));
        assert!(err.to_string().contains("reson"), "{err}");
        let err = Waivers::parse("[[waiver]]\nid = \"a\"\nreason = \" \"\n", "w.toml")
            .expect_err("empty reason");
        assert!(err.to_string().contains("reason"), "{err}");
    }
}
