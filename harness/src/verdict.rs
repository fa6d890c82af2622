//! Verdicts: what the judge decided about one scenario, with the evidence. Reports are pure
//! functions of a list of these.

use serde::{Deserialize, Serialize};

use crate::scenario::{Expectation, Level, Severity};

/// The outcome of one scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The SP did what the scenario expects.
    Pass,
    /// The SP did something else (a conformance failure).
    Fail,
    /// A should-level rule not met, or a policy behaviour that differs from the recommended one.
    Warn,
    /// Not run, with the reason (the target lacks a capability or a hook).
    Skip,
    /// Ran, but proves nothing: the scenario's control (the same exchange without the
    /// deviation) did not reach its positive outcome, so a refusal may have had any cause.
    Inconclusive,
    /// The harness or the SP's infrastructure failed (timeout, unreachable, bad target file).
    Error,
    /// A failure listed in the target's waiver file.
    Waived,
}

impl Status {
    /// Every status, in report order.
    pub const ALL: [Status; 7] = [
        Status::Pass,
        Status::Fail,
        Status::Warn,
        Status::Skip,
        Status::Inconclusive,
        Status::Error,
        Status::Waived,
    ];

    /// The lower-case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::Skip => "skip",
            Status::Inconclusive => "inconclusive",
            Status::Error => "error",
            Status::Waived => "waived",
        }
    }
}

impl Status {
    /// The word for a count of this status (`3 passed`, `1 inconclusive`).
    pub fn counted(self) -> &'static str {
        match self {
            Status::Pass => "passed",
            Status::Fail => "failed",
            Status::Warn => "warned",
            Status::Skip => "skipped",
            Status::Inconclusive => "inconclusive",
            Status::Error => "errored",
            Status::Waived => "waived",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the driver saw the SP do, as far as the judge cares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Observation {
    /// The session probe names a signed-in identity.
    SignedIn {
        /// The identity the probe yielded (an email for most SPs).
        identity: String,
        /// The role the probe yielded, when the scenario asks about roles.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role: Option<String>,
    },
    /// The session probe says nobody is signed in.
    NotSignedIn {
        /// The HTTP status of the SP's answer to the response (the ACS hop), if it got that far.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        /// The refusal reason the SP showed, read as the target file says.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// How the attempt ended when it did not end on one of the SP's pages (at an IdP that
        /// refused the connection or failed, or after a step timeout).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ended: Option<String>,
        /// Whether the last page was a password form.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        password_form: bool,
    },
    /// The exchange could not be completed (timeout, connection refused, unexpected page).
    Error {
        /// What went wrong.
        message: String,
    },
}

impl Observation {
    /// A one-line description for reports: `signed in as X`, `refused (403 destination_mismatch)`.
    pub fn summary(&self) -> String {
        match self {
            Observation::SignedIn {
                identity,
                role: None,
            } => format!("signed in as {identity}"),
            Observation::SignedIn {
                identity,
                role: Some(role),
            } => format!("signed in as {identity} (role {role})"),
            Observation::NotSignedIn {
                status,
                reason,
                ended,
                password_form,
            } => {
                let mut text = "refused".to_owned();
                match (status, reason) {
                    (Some(s), Some(r)) => text.push_str(&format!(" ({s} {r})")),
                    (Some(s), None) => text.push_str(&format!(" ({s})")),
                    (None, Some(r)) => text.push_str(&format!(" ({r})")),
                    (None, None) => {}
                }
                if let Some(e) = ended {
                    text.push_str(&format!("; {e}"));
                }
                if *password_form {
                    text.push_str("; shown a password form");
                }
                text
            }
            Observation::Error { message } => format!("error: {message}"),
        }
    }
}

/// One HTTP exchange of a scenario's trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    /// Which actor this hop talks to: `sp`, `idp`, or `other`.
    pub to: String,
    /// `GET` or `POST`.
    pub method: String,
    /// The URL requested.
    pub url: String,
    /// Form fields posted (SAMLResponse shortened), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub form: Vec<(String, String)>,
    /// The HTTP status, or none when the request failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The `Location` header of a redirect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The start of the body of a non-redirect answer (at most 2 KiB, UTF-8 lossy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_excerpt: Option<String>,
    /// Milliseconds the hop took.
    pub duration_ms: u64,
    /// A transport error, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a verdict rests on.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Evidence {
    /// Every HTTP hop, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hops: Vec<Hop>,
    /// The decoded AuthnRequest the SP sent, pretty-printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authn_request: Option<String>,
    /// The decoded Response the IdP sent, exactly as sent (not re-serialized); beyond 64 KiB
    /// only its first and last 32 KiB, around a comment saying how much was left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// The Single Logout messages of a logout flow, decoded and pretty-printed, each headed by
    /// who sent it to whom.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logout: Vec<String>,
    /// The session probe's status and body excerpt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
    /// The plan the mock IdP was given, as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<serde_json::Value>,
    /// Free-form notes (hooks run, why a step was skipped, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// What the browser showed when the scenario failed or erred (browser driver only): a PNG,
    /// base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screenshot: Option<String>,
    /// The mock IdP plan bound to the user agent by its last login (not reported: it changes
    /// from run to run); a logout flow reads the IdP's log of it.
    #[serde(skip)]
    pub plan_id: Option<String>,
}

/// The judge's decision about one scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The scenario id (its path under `scenarios/`, without `.toml`).
    pub id: String,
    /// The scenario's title.
    pub title: String,
    /// The outcome.
    pub status: Status,
    /// The severity, for failures (and waived failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// Why the severity is what it is (`critical` needs evidence: another identity signed in,
    /// a privilege gained, a fetch the witness saw).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_reason: Option<String>,
    /// The level of the rule.
    pub level: Level,
    /// What was expected, in words (`signed in as alice@corp.example`, `refused`).
    pub expected: String,
    /// What was observed, in words.
    pub observed: String,
    /// Why the status is what it is, in one line (also the skip or waiver reason).
    pub reason: String,
    /// The spec citations.
    pub spec: Vec<String>,
    /// Wall time of the scenario.
    pub duration_ms: u64,
    /// The structured observation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation: Option<Observation>,
    /// The structured expectation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expectation: Option<Expectation>,
    /// The scenario's control and what it showed (absent: the scenario expects the positive
    /// outcome itself, or did not run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<ControlRef>,
    /// The trace.
    pub evidence: Evidence,
}

/// One control of a run: the exchange, what it showed, and how many scenarios rest on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlSummary {
    /// The control in words.
    pub name: String,
    /// Whether it reached its positive outcome.
    pub reached: bool,
    /// What it showed (or why it could not run).
    pub observed: String,
    /// How many scenarios of the run name it as their control.
    pub used_by: usize,
    /// Whether it is one of the SP profile's probes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub probe: bool,
}

/// A scenario's control, as its verdict names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlRef {
    /// The control in words (`a valid sp-initiated login as member, signed at the assertion`).
    pub name: String,
    /// Whether it reached its positive outcome.
    pub reached: bool,
    /// What it showed (`signed in as alice@corp.example`, `refused (403 signature_invalid)`).
    pub observed: String,
}
