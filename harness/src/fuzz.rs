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

/// Why a fuzz campaign could not run: bad input (exit code 2) or the harness or the SP's
/// infrastructure (exit code 3).
pub type FuzzError = crate::error::Error;
