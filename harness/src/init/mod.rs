//! `saml-harness init`: a first target file for a new SP, written from what the SP shows.
//!
//! - `setup`: the whole command: the mock IdP (and the SP, when a start command is given)
//!   started as a run starts them, the SP's metadata read, a login tried, the SP profile
//!   probed with the run's own controls, the file written.
//! - `discover`: one login through the SP's login URL (or IdP-initiated when that fails), and
//!   where the SP shows who is signed in: the session probe and the identity extractor.
//! - `render`: the commented target file, with `# TODO:` where something was not found; it
//!   always parses as a target file.

mod discover;
mod render;
mod setup;

pub use self::discover::{IdentityProbe, LoginFinding, LoginRoute};
pub use self::render::{Findings, MetadataFacts, render};
pub use self::setup::{InitConfig, InitOutcome, StartSpec, check_output, init, write_target};
