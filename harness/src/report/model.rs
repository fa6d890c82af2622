//! The report model: exactly what `report.json` holds (schema version [`SCHEMA_VERSION`]).
//! Every other format is rendered from it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::profile::Profile;
use crate::scenario::{Expectation, Level, Severity};
use crate::verdict::{ControlRef, ControlSummary, Evidence, Observation, Status, Verdict};
use crate::waivers::StaleWaiver;

/// The version of the `report.json` schema; bump it on any change a reader could trip on.
///
/// Version 2 added `inconclusive` (a status and a count), `severity_reason` and `control` on
/// results, and the run's `profile` and `controls`.
pub const SCHEMA_VERSION: u32 = 2;

/// One run's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The schema version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The SP.
    pub target: TargetInfo,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// How long the run took.
    pub duration_ms: u64,
    /// Whether the run was interrupted (Ctrl-C, SIGTERM): the scenarios that did not finish
    /// are listed as errors.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// Counts per status, and the stale waivers.
    pub summary: Summary,
    /// What the SP accepts, as the profile's probes showed it, and where that contradicts
    /// the target's declarations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    /// Every control of the run (the same exchange as a scenario without its deviation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<ControlSummary>,
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
    /// Failed (not waived).
    pub failed: usize,
    /// Warned.
    pub warned: usize,
    /// Skipped.
    pub skipped: usize,
    /// Inconclusive: the control did not reach its positive outcome, nothing was tested.
    #[serde(default)]
    pub inconclusive: usize,
    /// Errored (harness or infrastructure).
    pub errored: usize,
    /// Waived failures.
    pub waived: usize,
    /// Waivers that no failure needs any more.
    #[serde(default)]
    pub stale_waivers: Vec<StaleWaiver>,
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
            inconclusive: count(Status::Inconclusive),
            errored: count(Status::Error),
            waived: count(Status::Waived),
            stale_waivers,
        }
    }

    /// The counts in words, in report order: `3 passed, 1 failed, ...`.
    pub fn counts(&self) -> String {
        Status::ALL
            .iter()
            .map(|s| format!("{} {}", self.count(*s), s.counted()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The count for one status.
    pub fn count(&self, status: Status) -> usize {
        match status {
            Status::Pass => self.passed,
            Status::Fail => self.failed,
            Status::Warn => self.warned,
            Status::Skip => self.skipped,
            Status::Inconclusive => self.inconclusive,
            Status::Error => self.errored,
            Status::Waived => self.waived,
        }
    }
}

/// One scenario's result: what the judge decided, field for field. A type of its own so that
/// `report.json` only changes on purpose (with [`SCHEMA_VERSION`]), not with [`Verdict`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultEntry {
    /// The scenario id.
    pub id: String,
    /// The scenario's title.
    pub title: String,
    /// The outcome.
    pub status: Status,
    /// The severity, for failures and waived failures (`null` otherwise).
    #[serde(default)]
    pub severity: Option<Severity>,
    /// Why that severity (`critical` takes evidence of a forgery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_reason: Option<String>,
    /// The level of the rule.
    pub level: Level,
    /// What was expected, in words.
    pub expected: String,
    /// What was observed, in words.
    pub observed: String,
    /// Why the status is what it is (also the skip or waiver reason).
    pub reason: String,
    /// The spec citations.
    pub spec: Vec<String>,
    /// Wall time of the scenario.
    pub duration_ms: u64,
    /// The structured observation, when the scenario ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation: Option<Observation>,
    /// The structured expectation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expectation: Option<Expectation>,
    /// The scenario's control and what it showed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<ControlRef>,
    /// The trace.
    #[serde(default)]
    pub evidence: Evidence,
}

impl From<Verdict> for ResultEntry {
    fn from(v: Verdict) -> Self {
        Self {
            id: v.id,
            title: v.title,
            status: v.status,
            severity: v.severity,
            severity_reason: v.severity_reason,
            level: v.level,
            expected: v.expected,
            observed: v.observed,
            reason: v.reason,
            spec: v.spec,
            duration_ms: v.duration_ms,
            observation: v.observation,
            expectation: v.expectation,
            control: v.control,
            evidence: v.evidence,
        }
    }
}

impl Report {
    /// A report of `verdicts`, sorted by id, with the summary counted from them, and the
    /// run's controls and SP profile.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        target: &str,
        description: Option<&str>,
        started_at: chrono::DateTime<chrono::Utc>,
        duration: Duration,
        verdicts: Vec<Verdict>,
        stale_waivers: Vec<StaleWaiver>,
        controls: Vec<ControlSummary>,
        profile: Option<Profile>,
    ) -> Self {
        let mut results: Vec<ResultEntry> = verdicts.into_iter().map(ResultEntry::from).collect();
        results.sort_by(|a, b| a.id.cmp(&b.id));
        Self {
            schema_version: SCHEMA_VERSION,
            target: TargetInfo {
                name: target.to_owned(),
                description: description.map(str::to_owned),
            },
            started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            interrupted: false,
            summary: Summary::of(&results, stale_waivers),
            profile,
            controls,
            results,
        }
    }

    /// The result of one scenario.
    pub fn result(&self, id: &str) -> Option<&ResultEntry> {
        self.results.iter().find(|r| r.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn results_are_sorted_and_counted() {
        let report = fixtures::report();
        let ids: Vec<&str> = report.results.iter().map(|r| r.id.as_str()).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(ids, sorted);
        let s = &report.summary;
        assert_eq!(
            (
                s.total,
                s.passed,
                s.failed,
                s.warned,
                s.skipped,
                s.inconclusive,
                s.errored,
                s.waived
            ),
            (8, 2, 1, 1, 1, 1, 1, 1)
        );
        for status in Status::ALL {
            assert_eq!(
                s.count(status),
                report.results.iter().filter(|r| r.status == status).count(),
                "{status}"
            );
        }
        assert_eq!(report.schema_version, SCHEMA_VERSION);
        assert_eq!(report.started_at, "2026-11-25T10:00:00.000Z");
        assert_eq!(report.duration_ms, 1234);
        assert_eq!(s.stale_waivers.len(), 1);
    }

    #[test]
    fn a_result_is_found_by_id() {
        let report = fixtures::report();
        assert_eq!(
            report
                .result("signature/unsigned-response")
                .map(|r| r.status),
            Some(Status::Fail)
        );
        assert!(report.result("nope").is_none());
    }
}
