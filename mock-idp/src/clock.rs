//! The clock the IdP stamps responses with.
//!
//! Plans express every instant as an offset from "now", because the SP under test reads the
//! real clock. The server uses [`SystemClock`]; unit tests inject a [`FixedClock`].

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};

/// A source of the current instant.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock frozen at one instant, for deterministic tests.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// Formats an instant as SAML's `xs:dateTime` in UTC (`2026-11-24T10:00:00.000Z`).
pub(crate) fn saml_instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}
