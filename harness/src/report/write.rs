//! Writes a report folder. Each file goes to a temporary file in the same folder, then is
//! renamed over the old one, so a reader sees the old file or the new one, never half a file.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::ReportError;
use super::html::{INDEX_HTML, render_html};
use super::json::{REPORT_JSON, render_json};
use super::junit::{JUNIT_XML, render_junit};
use super::markdown::{REPORT_MD, render_markdown};
use super::model::Report;

/// One file of a report folder: its name and how it is rendered.
struct Artifact {
    file: &'static str,
    render: fn(&Report) -> Result<String, ReportError>,
}

/// Every file a report folder holds, in the order they are written. A new format is one more
/// entry here.
const ARTIFACTS: &[Artifact] = &[
    Artifact {
        file: REPORT_JSON,
        render: render_json,
    },
    Artifact {
        file: REPORT_MD,
        render: |r| Ok(render_markdown(r)),
    },
    Artifact {
        file: JUNIT_XML,
        render: |r| Ok(render_junit(r)),
    },
    Artifact {
        file: INDEX_HTML,
        render: render_html,
    },
];

/// The names of the files [`write_report`] writes.
pub fn report_files() -> impl Iterator<Item = &'static str> {
    ARTIFACTS.iter().map(|a| a.file)
}

/// Writes `report.json`, `report.md`, `junit.xml` and `index.html` into `dir` (created if needed), each
/// atomically.
pub fn write_report(dir: &Path, report: &Report) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
        path: dir.to_owned(),
        source,
    })?;
    for artifact in ARTIFACTS {
        let text = (artifact.render)(report)?;
        write_atomically(&dir.join(artifact.file), text.as_bytes())?;
    }
    // Make the renames durable; not every platform can open a folder, which is fine.
    if let Ok(folder) = std::fs::File::open(dir) {
        let _ = folder.sync_all();
    }
    Ok(())
}

/// Writes `path` through a temporary file beside it and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let error = |source| ReportError::Write {
        path: path.to_owned(),
        source,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp: PathBuf = path.with_file_name(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temp, path));
    if let Err(source) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(error(source));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn a_report_folder_is_created_and_holds_every_file() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("reports").join("latest");
        let report = fixtures::report();
        write_report(&dir, &report).expect("writes");

        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .expect("lists")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["index.html", "junit.xml", "report.json", "report.md"],
            "no temporary files left"
        );
        assert_eq!(Report::load(&dir).expect("loads"), report);
        assert_eq!(
            std::fs::read_to_string(dir.join(REPORT_MD)).expect("reads"),
            render_markdown(&report)
        );
        assert_eq!(
            std::fs::read_to_string(dir.join(JUNIT_XML)).expect("reads"),
            render_junit(&report)
        );
    }

    #[test]
    fn writing_again_replaces_the_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut report = fixtures::report();
        write_report(dir.path(), &report).expect("writes");
        report.results.truncate(1);
        report.summary = super::super::model::Summary::of(&report.results, Vec::new());
        write_report(dir.path(), &report).expect("writes again");
        assert_eq!(Report::load(dir.path()).expect("loads"), report);
        assert_eq!(std::fs::read_dir(dir.path()).expect("lists").count(), 4);
    }

    #[test]
    fn a_folder_that_cannot_be_made_is_named() {
        let root = tempfile::tempdir().expect("temp dir");
        let file = root.path().join("a-file");
        std::fs::write(&file, "x").expect("write");
        let err = write_report(&file.join("sub"), &fixtures::report()).expect_err("not a folder");
        assert!(err.to_string().starts_with("failed to write "), "{err}");
        assert!(err.to_string().contains("a-file"), "{err}");
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("report.md");
        // A folder where the file should go: the rename fails.
        std::fs::create_dir(&target).expect("mkdir");
        let err = write_atomically(&target, b"new").expect_err("cannot replace a folder");
        assert!(err.to_string().contains("report.md"), "{err}");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("lists")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["report.md"]);
    }

    #[test]
    fn the_files_are_listed() {
        assert_eq!(
            report_files().collect::<Vec<_>>(),
            ["report.json", "report.md", "junit.xml", "index.html"]
        );
    }
}
