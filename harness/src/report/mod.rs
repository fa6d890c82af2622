//! Reports, written from the verdicts alone.
//!
//! - `model.rs`: [`Report`], exactly what `report.json` holds (versioned by [`SCHEMA_VERSION`]);
//! - `json.rs`: `report.json` ([`render_json`]) and [`Report::load`];
//! - `normalize.rs`, `markdown.rs`: `report.md` ([`render_markdown`]), a snapshot with every
//!   run-specific value redacted ([`normalize()`]), to commit and diff;
//! - `junit.rs`: `junit.xml` ([`render_junit`]) for CI;
//! - `html.rs`: `index.html` ([`render_html`]) for people: self-contained, with filters and
//!   every trace;
//! - `write.rs`: [`write_report`], every file of a report folder, each atomically;
//! - `diff.rs`: what changed between two reports ([`diff()`]); `merge.rs`: joining the reports
//!   of a sharded run ([`merge()`]).

mod diff;
mod error;
#[cfg(test)]
mod fixtures;
mod html;
mod json;
mod junit;
mod markdown;
mod merge;
mod model;
mod normalize;
mod write;

pub use self::diff::{Change, ReportDiff, diff, render_text};
pub use self::error::ReportError;
pub use self::html::{INDEX_HTML, render_html};
pub use self::json::{REPORT_JSON, render_json};
pub use self::junit::{JUNIT_XML, render_junit};
pub use self::markdown::{REPORT_MD, render_markdown};
pub use self::merge::merge;
pub use self::model::{Report, ResultEntry, SCHEMA_VERSION, Summary, TargetInfo};
pub use self::normalize::normalize;
pub use self::write::{report_files, write_atomically, write_report};
pub use crate::waivers::StaleWaiver;
