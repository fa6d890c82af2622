//! Property-based fuzzing of an SP's response validator: proptest [`strategy`]s over plans,
//! an [`oracle`] that derives the expected outcome from the plan, [`exec`]utors in-process
//! (the reference SP's validator) and over HTTP (any target, through the engine), and a
//! [`campaign`] that shrinks every disagreement to a minimal plan written as a scenario file.

pub mod campaign;
pub mod exec;
pub mod oracle;
pub mod report;
pub mod strategy;

mod setup;

pub use campaign::{CampaignOptions, CampaignResult, Executor, Kind};
pub use setup::{FuzzConfig, FuzzOutcome, FuzzTarget, fuzz};

/// Why a fuzz run could not produce a result.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum FuzzError {
    /// Bad input or configuration (exit code 2).
    #[error("{0}")]
    Input(String),
    /// The harness or the SP's infrastructure failed (exit code 3).
    #[error("{0}")]
    Infrastructure(String),
}

impl FuzzError {
    /// The exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            FuzzError::Input(_) => 2,
            FuzzError::Infrastructure(_) => 3,
        }
    }
}
