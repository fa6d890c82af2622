//! `report.json`: the model itself, pretty-printed; and reading it back.

use std::path::Path;

use super::error::ReportError;
use super::model::{Report, SCHEMA_VERSION};

/// The name of the JSON report in a report folder.
pub const REPORT_JSON: &str = "report.json";

/// Renders `report.json`: pretty JSON with a trailing newline.
pub fn render_json(report: &Report) -> Result<String, ReportError> {
    let mut text =
        serde_json::to_string_pretty(report).map_err(|e| ReportError::Serialize(e.to_string()))?;
    text.push('\n');
    Ok(text)
}

impl Report {
    /// Reads `dir/report.json` (or `dir` itself when it is a file). A file of another schema
    /// version is refused, naming both versions.
    pub fn load(dir: &Path) -> Result<Self, ReportError> {
        let path = if dir.is_file() {
            dir.to_owned()
        } else {
            dir.join(REPORT_JSON)
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ReportError::Read {
            path: path.clone(),
            source,
        })?;
        let parse = |e: serde_json::Error| ReportError::Parse {
            path: path.clone(),
            message: e.to_string(),
        };
        let value: serde_json::Value = serde_json::from_str(&text).map_err(parse)?;
        let found = value
            .get("schema_version")
            .and_then(serde_json::Value::as_u64);
        if found != Some(u64::from(SCHEMA_VERSION)) {
            return Err(ReportError::Version { path, found });
        }
        // From the text again, not the value, so that errors carry a line and column.
        serde_json::from_str(&text).map_err(parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn report_json_round_trips_through_load() {
        let report = fixtures::report();
        let dir = tempfile::tempdir().expect("temp dir");
        let text = render_json(&report).expect("serializes");
        assert!(text.ends_with("}\n"), "trailing newline");
        std::fs::write(dir.path().join(REPORT_JSON), &text).expect("write");
        assert_eq!(Report::load(dir.path()).expect("loads"), report);
        assert_eq!(
            Report::load(&dir.path().join(REPORT_JSON)).expect("loads the file itself"),
            report
        );
    }

    #[test]
    fn report_json_is_stable() {
        let text = render_json(&fixtures::report()).expect("serializes");
        insta::assert_snapshot!("report_json", text);
    }

    #[test]
    fn another_schema_version_is_refused_naming_both() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(REPORT_JSON);
        std::fs::write(&path, r#"{"schema_version": 7, "whatever": true}"#).expect("write");
        let err = Report::load(dir.path()).expect_err("version 7");
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(
            text.contains("schema_version 7")
                && text.contains(&format!("schema_version {SCHEMA_VERSION}")),
            "{text}"
        );

        std::fs::write(&path, "{}").expect("write");
        let err = Report::load(dir.path()).expect_err("no version");
        assert!(err.to_string().contains("(none)"), "{err}");
    }

    #[test]
    fn unreadable_or_invalid_files_are_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let err = Report::load(dir.path()).expect_err("missing");
        assert!(matches!(err, ReportError::Read { .. }), "{err}");
        assert!(err.to_string().contains(REPORT_JSON), "{err}");

        let path = dir.path().join(REPORT_JSON);
        std::fs::write(
            &path,
            format!("{{\"schema_version\": {SCHEMA_VERSION},\n \"target\": 3}}"),
        )
        .expect("write");
        let err = Report::load(dir.path()).expect_err("not a report");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("failed to parse {}: ", path.display())),
            "{text}"
        );
        assert!(text.contains("line 2"), "{text}");

        std::fs::write(&path, "not json").expect("write");
        assert!(matches!(
            Report::load(dir.path()),
            Err(ReportError::Parse { .. })
        ));
    }
}
