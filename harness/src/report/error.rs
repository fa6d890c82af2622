//! What can go wrong reading, merging or writing reports.

use std::path::PathBuf;

use super::model::SCHEMA_VERSION;

/// Failed to read, merge or write a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A file could not be read.
    #[error("failed to read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file or folder could not be written.
    #[error("failed to write {path}: {source}")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `report.json` is not JSON, or not a report.
    #[error("failed to parse {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line and column.
        message: String,
    },
    /// `report.json` has another schema version (or none).
    #[error(
        "failed to read {path}: it has schema_version {}, this harness reads schema_version {SCHEMA_VERSION}",
        found.map_or_else(|| "(none)".to_owned(), |v| v.to_string())
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// The version found, if any.
        found: Option<u64>,
    },
    /// The report could not be serialized.
    #[error("failed to serialize the report: {0}")]
    Serialize(String),
    /// Reports of different targets cannot be merged.
    #[error("failed to merge reports: they are for different targets, `{first}` and `{other}`")]
    TargetMismatch {
        /// The first report's target.
        first: String,
        /// The other target.
        other: String,
    },
    /// A scenario appears in two shards.
    #[error("failed to merge reports: scenario `{0}` is in more than one report")]
    Duplicate(String),
    /// Nothing to merge.
    #[error("failed to merge reports: none given")]
    Empty,
}
