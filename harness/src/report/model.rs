//! The report model: exactly what `report.json` holds.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::verdict::{Status, Verdict};
use crate::waivers::StaleWaiver;

/// The version of the `report.json` schema.
pub const SCHEMA_VERSION: u32 = 1;

/// One run's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The schema version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The SP.
    pub target: TargetInfo,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// How long it took.
    pub duration_ms: u64,
    /// Counts per status.
    pub summary: Summary,
    /// One entry per scenario, in id order.
    pub results: Vec<ResultEntry>,
}

/// The SP a report is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// The target's name.
    pub name: String,
    /// Its description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Counts per status.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summary {
    /// All scenarios.
    pub total: usize,
    /// Passed.
    pub passed: usize,
    /// Failed.
    pub failed: usize,
    /// Warned.
    pub warned: usize,
    /// Skipped.
    pub skipped: usize,
    /// Errored.
    pub errored: usize,
    /// Waived failures.
    pub waived: usize,
    /// Waivers that no longer match a failure.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stale_waivers: Vec<StaleWaiver>,
}

/// One scenario's result: the verdict itself, so reports are exactly what the judge decided.
pub type ResultEntry = Verdict;

/// Failed to read, merge or write a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A file could not be read or written.
    #[error("failed to access {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `report.json` is not a report.
    #[error("failed to parse {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `report.json` has another schema version.
    #[error("failed to read {path}: schema_version {found}, this harness reads {SCHEMA_VERSION}")]
    Version {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u32,
    },
    /// Reports of different targets cannot be merged.
    #[error("failed to merge: reports are for targets `{0}` and `{1}`")]
    TargetMismatch(String, String),
    /// A scenario appears in two shards.
    #[error("failed to merge: scenario `{0}` is in more than one report")]
    Duplicate(String),
    /// Nothing to merge.
    #[error("failed to merge: no reports given")]
    Empty,
}

impl Summary {
    /// Counts the statuses of `results`.
    pub fn of(results: &[ResultEntry], stale_waivers: Vec<StaleWaiver>) -> Self {
        let count = |s: Status| results.iter().filter(|r| r.status == s).count();
        Self {
            total: results.len(),
            passed: count(Status::Pass),
            failed: count(Status::Fail),
            warned: count(Status::Warn),
            skipped: count(Status::Skip),
            errored: count(Status::Error),
            waived: count(Status::Waived),
            stale_waivers,
        }
    }
}

impl Report {
    /// A report of `verdicts` (sorted by id).
    pub fn new(
        target: &str,
        description: Option<&str>,
        started_at: chrono::DateTime<chrono::Utc>,
        duration: Duration,
        verdicts: Vec<Verdict>,
        stale_waivers: Vec<StaleWaiver>,
    ) -> Self {
        let mut results: Vec<ResultEntry> = verdicts;
        results.sort_by(|a, b| a.id.cmp(&b.id));
        Self {
            schema_version: SCHEMA_VERSION,
            target: TargetInfo {
                name: target.to_owned(),
                description: description.map(str::to_owned),
            },
            started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            summary: Summary::of(&results, stale_waivers),
            results,
        }
    }

    /// Reads `dir/report.json`.
    pub fn load(dir: &Path) -> Result<Self, ReportError> {
        let path = dir.join("report.json");
        let text = std::fs::read_to_string(&path).map_err(|source| ReportError::Io {
            path: path.clone(),
            source,
        })?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ReportError::Parse {
                path: path.clone(),
                message: e.to_string(),
            })?;
        let found = value
            .get("schema_version")
            .and_then(serde_json::Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0);
        if found != SCHEMA_VERSION {
            return Err(ReportError::Version { path, found });
        }
        serde_json::from_value(value).map_err(|e| ReportError::Parse {
            path,
            message: e.to_string(),
        })
    }
}

/// Joins the reports of a sharded run.
pub fn merge(reports: Vec<Report>) -> Result<Report, ReportError> {
    let mut iter = reports.into_iter();
    let mut merged = iter.next().ok_or(ReportError::Empty)?;
    let mut stale = std::mem::take(&mut merged.summary.stale_waivers);
    for report in iter {
        if report.target.name != merged.target.name {
            return Err(ReportError::TargetMismatch(
                merged.target.name.clone(),
                report.target.name,
            ));
        }
        for r in report.results {
            if merged.results.iter().any(|m| m.id == r.id) {
                return Err(ReportError::Duplicate(r.id));
            }
            merged.results.push(r);
        }
        if report.started_at < merged.started_at {
            merged.started_at = report.started_at;
        }
        merged.duration_ms = merged.duration_ms.max(report.duration_ms);
        for s in report.summary.stale_waivers {
            if !stale.contains(&s) {
                stale.push(s);
            }
        }
    }
    merged.results.sort_by(|a, b| a.id.cmp(&b.id));
    merged.summary = Summary::of(&merged.results, stale);
    Ok(merged)
}
