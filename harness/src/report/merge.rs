//! Joining the reports of a sharded run (`--shard k/n`, then `report merge`).

use std::collections::BTreeSet;

use super::error::ReportError;
use super::model::{Report, Summary};
use crate::waivers::StaleWaiver;

/// Joins the reports of a sharded run: all for the same target, no scenario in two of them.
/// The results are sorted by id and counted again; `started_at` is the earliest start and
/// `duration_ms` the longest shard (shards run side by side). A waiver is stale only when it
/// is stale in every shard (a shard that did not run its scenarios reports it stale), and then
/// lists the passing scenarios of all shards. Controls are joined by name (each shard ran the
/// controls of its own scenarios, and the profile's probes); the profile is the first shard's
/// (every shard probes the same SP the same way).
pub fn merge(reports: Vec<Report>) -> Result<Report, ReportError> {
    let mut iter = reports.into_iter();
    let mut merged = iter.next().ok_or(ReportError::Empty)?;
    let mut ids: BTreeSet<String> = merged.results.iter().map(|r| r.id.clone()).collect();
    let mut stale = std::mem::take(&mut merged.summary.stale_waivers);
    for report in iter {
        if report.target.name != merged.target.name {
            return Err(ReportError::TargetMismatch {
                first: merged.target.name,
                other: report.target.name,
            });
        }
        for r in report.results {
            if !ids.insert(r.id.clone()) {
                return Err(ReportError::Duplicate(r.id));
            }
            merged.results.push(r);
        }
        if earlier(&report.started_at, &merged.started_at) {
            merged.started_at = report.started_at;
        }
        merged.duration_ms = merged.duration_ms.max(report.duration_ms);
        merged.interrupted |= report.interrupted;
        if merged.target.description.is_none() {
            merged.target.description = report.target.description;
        }
        stale = still_stale(stale, &report.summary.stale_waivers);
        if merged.profile.is_none() {
            merged.profile = report.profile;
        }
        for c in report.controls {
            match merged.controls.iter_mut().find(|m| m.name == c.name) {
                Some(m) => m.used_by += c.used_by,
                None => merged.controls.push(c),
            }
        }
    }
    merged.controls.sort_by(|a, b| a.name.cmp(&b.name));
    merged.results.sort_by(|a, b| a.id.cmp(&b.id));
    merged.summary = Summary::of(&merged.results, stale);
    Ok(merged)
}

/// The waivers stale in both lists, with their passing scenarios joined.
fn still_stale(so_far: Vec<StaleWaiver>, shard: &[StaleWaiver]) -> Vec<StaleWaiver> {
    so_far
        .into_iter()
        .filter_map(|mut s| {
            let other = shard
                .iter()
                .find(|o| o.pattern == s.pattern && o.reason == s.reason)?;
            s.matched_passing
                .extend(other.matched_passing.iter().cloned());
            s.matched_passing.sort();
            s.matched_passing.dedup();
            Some(s)
        })
        .collect()
}

/// Whether RFC 3339 instant `a` is before `b` (as text when either does not parse).
fn earlier(a: &str, b: &str) -> bool {
    match (
        chrono::DateTime::parse_from_rfc3339(a),
        chrono::DateTime::parse_from_rfc3339(b),
    ) {
        (Ok(a), Ok(b)) => a < b,
        _ => a < b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;
    use crate::verdict::Status;

    /// The fixture split into two shards by id.
    fn shards() -> (Report, Report) {
        let whole = fixtures::report();
        let (mut a, mut b) = (whole.clone(), whole);
        a.results.retain(|r| r.id.as_str() < "m");
        b.results.retain(|r| r.id.as_str() >= "m");
        a.summary = Summary::of(&a.results, a.summary.stale_waivers.clone());
        b.summary = Summary::of(&b.results, b.summary.stale_waivers.clone());
        b.started_at = "2026-11-25T09:59:58.000Z".to_owned();
        b.duration_ms = 2000;
        (a, b)
    }

    #[test]
    fn shards_merge_into_the_whole() {
        let (a, b) = shards();
        let whole = fixtures::report();
        // Reversed order on purpose: the result is sorted again.
        let merged = merge(vec![b, a]).expect("merges");
        assert_eq!(merged.results, whole.results);
        assert_eq!(merged.summary, whole.summary);
        assert_eq!(merged.started_at, "2026-11-25T09:59:58.000Z");
        assert_eq!(merged.duration_ms, 2000);
    }

    #[test]
    fn different_targets_are_refused_naming_both() {
        let (a, mut b) = shards();
        b.target.name = "other-sp".to_owned();
        let err = merge(vec![a, b]).expect_err("two targets");
        assert_eq!(
            err.to_string(),
            "failed to merge reports: they are for different targets, `example-sp` and `other-sp`"
        );
    }

    #[test]
    fn a_scenario_in_two_reports_is_refused_naming_it() {
        let (a, _) = shards();
        let err = merge(vec![a.clone(), a]).expect_err("duplicate");
        assert!(
            err.to_string()
                .contains("scenario `addressing/destination-wrong/both`"),
            "{err}"
        );
    }

    #[test]
    fn nothing_to_merge_is_an_error() {
        assert!(matches!(merge(Vec::new()), Err(ReportError::Empty)));
    }

    #[test]
    fn a_waiver_used_in_one_shard_is_not_stale() {
        let (mut a, mut b) = shards();
        let waiver = |passing: &[&str]| StaleWaiver {
            pattern: "x/*".to_owned(),
            reason: "r".to_owned(),
            matched_passing: passing.iter().map(|s| (*s).to_owned()).collect(),
        };
        a.summary.stale_waivers = vec![waiver(&["x/b"])];
        b.summary.stale_waivers = vec![waiver(&["x/a"])];
        let merged = merge(vec![a.clone(), b.clone()]).expect("merges");
        assert_eq!(merged.summary.stale_waivers, [waiver(&["x/a", "x/b"])]);

        b.summary.stale_waivers.clear();
        let merged = merge(vec![a, b]).expect("merges");
        assert!(merged.summary.stale_waivers.is_empty(), "used in shard b");
        assert_eq!(merged.summary.waived, 1);
        assert_eq!(
            merged
                .results
                .iter()
                .filter(|r| r.status == Status::Waived)
                .count(),
            1
        );
    }

    #[test]
    fn instants_compare_as_instants() {
        assert!(earlier("2026-11-25T10:00:00+01:00", "2026-11-25T09:30:00Z"));
        assert!(!earlier("2026-11-25T10:00:00Z", "2026-11-25T10:00:00.000Z"));
    }
}
