//! Reports, written from the verdicts alone: `report.json` (the versioned model), `report.md`
//! (a normalized snapshot to commit and diff), `junit.xml`; plus diff and merge of reports.

mod diff;
mod junit;
mod markdown;
mod model;
mod write;

pub use self::diff::{Change, ReportDiff, diff, render_text};
pub use self::junit::render_junit;
pub use self::markdown::{normalize, render_markdown};
pub use self::model::{
    Report, ReportError, ResultEntry, SCHEMA_VERSION, Summary, TargetInfo, merge,
};
pub use self::write::write_report;
pub use crate::waivers::StaleWaiver;
