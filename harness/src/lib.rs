//! SAML Harness: a conformance harness for SAML 2.0 service providers.
//!
//! The pieces, in the order one scenario flows through them:
//! [`scenario`] (the catalogue, data) and [`target`] (how to reach an SP, data) are loaded;
//! [`env`](mod@env) starts the mock IdP and, when asked, the SP; the [`engine`] runs each
//! scenario with a [`driver`] (a fresh user agent per scenario); the [`judge`] turns what the SP
//! did into a [`verdict`]; [`report`] writes reports from the verdicts alone. The [`witness`]
//! listener records anything the SP fetches while it handles a hostile document.

pub mod bench;
pub mod conformance;
pub mod control;
pub mod coverage;
pub mod driver;
pub mod engine;
pub mod env;
pub mod error;
pub mod fuzz;
pub mod init;
pub mod judge;
pub mod listing;
pub mod profile;
pub mod progress;
pub mod report;
pub mod run;
pub mod scenario;
pub mod support;
pub mod target;
pub mod template;
pub mod verdict;
pub mod vocabulary;
pub mod waivers;
mod watchdog;
pub mod witness;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}
