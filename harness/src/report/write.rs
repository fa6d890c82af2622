//! Writes a report folder, each file atomically (a temporary file, then a rename).

use std::io::Write as _;
use std::path::Path;

use super::model::{Report, ReportError};

/// Writes `report.json`, `report.md` and `junit.xml` into `dir` (created if needed).
pub fn write_report(dir: &Path, report: &Report) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut json = serde_json::to_string_pretty(report).map_err(|e| ReportError::Parse {
        path: dir.join("report.json"),
        message: e.to_string(),
    })?;
    json.push('\n');
    write_atomically(&dir.join("report.json"), &json)?;
    write_atomically(&dir.join("report.md"), &super::render_markdown(report))?;
    write_atomically(&dir.join("junit.xml"), &super::render_junit(report))?;
    Ok(())
}

fn write_atomically(path: &Path, text: &str) -> Result<(), ReportError> {
    let io = |source| ReportError::Io {
        path: path.to_owned(),
        source,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = std::fs::File::create(&temp).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&temp, path).map_err(io)
}
