//! SP-side conformance: checks on what the SP *publishes* (its metadata) and *sends* (its
//! AuthnRequests), rather than on what it accepts.
//!
//! Every check is implemented once here and used twice: by the `sp-metadata/` and
//! `authn-request/` scenarios of a run (the engine fetches the metadata from the target's
//! metadata URL and collects AuthnRequests by starting SP-initiated logins, see
//! [`crate::engine`]), and by `saml-harness diagnose` on a captured AuthnRequest or a metadata
//! file. A scenario names the check it runs (`expect = { outcome = "conforms", check = ... }`)
//! and its level; the check returns pass, fail, warn or skip-with-the-reason, and its evidence
//! names what was seen (the value, which request).
//!
//! - `catalog`: the checks by name, with the rule each cites, what it needs, its parameters.
//! - `metadata`: the SP's metadata, read.
//! - `request`: a captured AuthnRequest (its binding, the octets it came in), read.
//! - `schema`: validation against the SAML 2.0 XML schemas (compiled in).
//! - `checks`: the checks themselves, over a [`checks::Subject`].
//! - `input`: what `diagnose` reads for them (a captured AuthnRequest in any shape, metadata).
//! - `diagnose`: the checks on one input, rendered for people or as JSON.

pub mod catalog;
pub mod checks;
pub mod diagnose;
pub mod input;
pub mod metadata;
pub mod request;
pub mod schema;

pub use self::catalog::{CheckName, CheckParams, Needs};
pub use self::checks::{Finding, Known, Outcome, Subject, run};
pub use self::metadata::SpMetadata;
pub use self::request::{RequestBinding, SeenRequest};
