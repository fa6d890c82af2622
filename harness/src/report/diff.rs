//! What changed between two reports.

use std::fmt::Write as _;

use super::model::Report;
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
        /// The severity after, for failures.
        severity: Option<Severity>,
    },
    /// A scenario only in the newer report.
    Added {
        /// The scenario.
        id: String,
        /// Its status.
        status: Status,
    },
    /// A scenario only in the older report.
    Removed {
        /// The scenario.
        id: String,
    },
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
}

/// Compares two reports by scenario id and status.
pub fn diff(old: &Report, new: &Report) -> ReportDiff {
    let mut changes = Vec::new();
    for n in &new.results {
        match old.results.iter().find(|o| o.id == n.id) {
            Some(o) if o.status != n.status => changes.push(Change::Status {
                id: n.id.clone(),
                old: o.status,
                new: n.status,
                severity: n.severity,
            }),
            Some(_) => {}
            None => changes.push(Change::Added {
                id: n.id.clone(),
                status: n.status,
            }),
        }
    }
    for o in &old.results {
        if !new.results.iter().any(|n| n.id == o.id) {
            changes.push(Change::Removed { id: o.id.clone() });
        }
    }
    changes.sort_by(|a, b| id_of(a).cmp(id_of(b)));
    ReportDiff { changes }
}

fn id_of(change: &Change) -> &str {
    match change {
        Change::Status { id, .. } | Change::Added { id, .. } | Change::Removed { id } => id,
    }
}

/// One line per change: `signature/unsigned-response: pass -> fail (critical)`.
pub fn render_text(diff: &ReportDiff) -> String {
    let mut out = String::new();
    for change in &diff.changes {
        let _ = match change {
            Change::Status {
                id,
                old,
                new,
                severity,
            } => writeln!(
                out,
                "{id}: {old} -> {new}{}",
                severity
                    .map(|s| format!(" ({})", s.as_str()))
                    .unwrap_or_default()
            ),
            Change::Added { id, status } => writeln!(out, "{id}: new, {status}"),
            Change::Removed { id } => writeln!(out, "{id}: removed"),
        };
    }
    out
}
