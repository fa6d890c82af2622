//! What changed between two reports (`report diff OLD NEW`, `run --baseline DIR`): scenarios
//! whose status changed, scenarios added, scenarios removed.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::model::{Report, ResultEntry};
use crate::scenario::Severity;
use crate::verdict::Status;

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The status changed.
    Status {
        /// The scenario.
        id: String,
        /// Before.
        old: Status,
        /// After.
        new: Status,
        /// The severity after (failures and waived failures).
        severity: Option<Severity>,
    },
    /// A scenario only in the newer report.
    Added {
        /// The scenario.
        id: String,
        /// Its status.
        status: Status,
        /// Its severity.
        severity: Option<Severity>,
    },
    /// A scenario only in the older report.
    Removed {
        /// The scenario.
        id: String,
        /// Its status then.
        status: Status,
    },
}

impl Change {
    /// The scenario id.
    pub fn id(&self) -> &str {
        match self {
            Change::Status { id, .. } | Change::Added { id, .. } | Change::Removed { id, .. } => id,
        }
    }

    /// Whether the change makes things worse: a scenario that fails or errors now and did not
    /// before (a new scenario that fails counts).
    pub fn is_regression(&self) -> bool {
        let bad = |s: Status| matches!(s, Status::Fail | Status::Error);
        match self {
            Change::Status { old, new, .. } => bad(*new) && !bad(*old),
            Change::Added { status, .. } => bad(*status),
            Change::Removed { .. } => false,
        }
    }
}

/// The changes, in id order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReportDiff {
    /// The changes.
    pub changes: Vec<Change>,
}

impl ReportDiff {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Whether a change makes things worse ([`Change::is_regression`]).
    pub fn has_regressions(&self) -> bool {
        self.changes.iter().any(Change::is_regression)
    }
}

/// Compares two reports by scenario id and status.
pub fn diff(old: &Report, new: &Report) -> ReportDiff {
    let by_id = |r: &Report| -> BTreeMap<String, ResultEntry> {
        r.results
            .iter()
            .map(|e| (e.id.clone(), e.clone()))
            .collect()
    };
    let (old, new) = (by_id(old), by_id(new));
    let mut changes = Vec::new();
    for (id, n) in &new {
        match old.get(id) {
            Some(o) if o.status != n.status => changes.push(Change::Status {
                id: id.clone(),
                old: o.status,
                new: n.status,
                severity: n.severity,
            }),
            Some(_) => {}
            None => changes.push(Change::Added {
                id: id.clone(),
                status: n.status,
                severity: n.severity,
            }),
        }
    }
    for (id, o) in &old {
        if !new.contains_key(id) {
            changes.push(Change::Removed {
                id: id.clone(),
                status: o.status,
            });
        }
    }
    changes.sort_by(|a, b| a.id().cmp(b.id()));
    ReportDiff { changes }
}

/// One line per change: `signature/unsigned-response: pass -> fail (critical)`,
/// `login/new-one: added, pass`, `login/old-one: removed (was pass)`.
pub fn render_text(diff: &ReportDiff) -> String {
    let severity =
        |s: &Option<Severity>| s.map(|s| format!(" ({})", s.as_str())).unwrap_or_default();
    let mut out = String::new();
    for change in &diff.changes {
        let _ = match change {
            Change::Status {
                id,
                old,
                new,
                severity: s,
            } => writeln!(out, "{id}: {old} -> {new}{}", severity(s)),
            Change::Added {
                id,
                status,
                severity: s,
            } => writeln!(out, "{id}: added, {status}{}", severity(s)),
            Change::Removed { id, status } => writeln!(out, "{id}: removed (was {status})"),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn a_report_does_not_differ_from_itself() {
        let report = fixtures::report();
        let d = diff(&report, &report);
        assert!(d.is_empty());
        assert_eq!(render_text(&d), "");
    }

    #[test]
    fn status_changes_additions_and_removals_are_listed_in_id_order() {
        let old = fixtures::report();
        let mut new = old.clone();
        // A regression, a fix, a removal and an addition.
        for r in &mut new.results {
            match r.id.as_str() {
                "addressing/destination-wrong/both" => {
                    r.status = Status::Fail;
                    r.severity = Some(Severity::High);
                }
                "signature/unsigned-response" => {
                    r.status = Status::Pass;
                    r.severity = None;
                }
                _ => {}
            }
        }
        new.results.retain(|r| r.id != "xml/doctype-entities");
        let mut added = new
            .results
            .iter()
            .find(|r| r.id == "addressing/destination-wrong/both")
            .expect("in the fixture")
            .clone();
        added.id = "bindings/new-one".to_owned();
        new.results.push(added);

        let d = diff(&old, &new);
        assert_eq!(
            render_text(&d),
            "addressing/destination-wrong/both: pass -> fail (high)\n\
             bindings/new-one: added, fail (high)\n\
             signature/unsigned-response: fail -> pass\n\
             xml/doctype-entities: removed (was error)\n"
        );
        assert!(d.has_regressions());
        let regressions: Vec<&str> = d
            .changes
            .iter()
            .filter(|c| c.is_regression())
            .map(Change::id)
            .collect();
        assert_eq!(
            regressions,
            ["addressing/destination-wrong/both", "bindings/new-one"]
        );
    }

    #[test]
    fn a_waiver_shows_as_a_change() {
        let old = fixtures::report();
        let mut new = old.clone();
        for r in &mut new.results {
            if r.status == Status::Waived {
                r.status = Status::Fail;
            }
        }
        assert_eq!(
            render_text(&diff(&old, &new)),
            "xsw/xsw3-assertion-wrapped: waived -> fail (critical)\n"
        );
        assert!(diff(&old, &new).has_regressions());
    }
}
