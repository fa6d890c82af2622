//! `saml-harness diagnose` on what the SP publishes or sends: a captured AuthnRequest (with the
//! SP's metadata when given) or the SP's metadata, judged by the same checks as a run's
//! `sp-metadata/` and `authn-request/` scenarios, and rendered for people or as JSON.

use serde::Serialize;

use super::catalog::{CheckName, CheckParams};
use super::checks::{Finding, Known, Outcome, Subject, run};
use super::input::SpInput;
use super::metadata::MetadataDoc;

/// The checks' findings on one input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpDiagnosis {
    /// What was judged, for people.
    pub subject: Vec<String>,
    /// One finding per check, metadata first.
    pub findings: Vec<Finding>,
}

impl SpDiagnosis {
    /// Whether a check failed.
    pub fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.outcome == Outcome::Fail)
    }
}

/// Runs the checks that apply: on AuthnRequests, every request check (and the metadata checks
/// when the SP's metadata is given); on metadata, every metadata check.
pub fn diagnose(input: &SpInput, sp_metadata: Option<&MetadataDoc>, known: &Known) -> SpDiagnosis {
    let (metadata, requests, mut subject) = match input {
        SpInput::Requests(r) => (
            sp_metadata,
            r.as_slice(),
            r.iter()
                .map(|r| format!("AuthnRequest: {} ({})", r.name(), r.binding.words()))
                .collect::<Vec<_>>(),
        ),
        SpInput::Metadata(doc) => (Some(&**doc), &[][..], Vec::new()),
    };
    if let Some(doc) = metadata {
        subject.insert(0, format!("SP metadata: {}", doc.source));
    }
    let no_requests = "no AuthnRequest was given (INPUT is the SP's metadata)";
    let no_metadata = "no SP metadata was given (--sp-metadata)";
    let s = Subject {
        metadata: metadata.ok_or(no_metadata),
        requests: if requests.is_empty() {
            Err(no_requests)
        } else {
            Ok(requests)
        },
        // What the application asked for is not in a capture: the ForceAuthn and IsPassive
        // checks judge only the run's logins that asked for them.
        asked: None,
        known,
    };
    let findings = CheckName::ALL
        .iter()
        .filter(|c| c.needs().asked.is_none())
        .filter(|c| {
            if c.is_metadata() {
                metadata.is_some()
            } else {
                !requests.is_empty()
            }
        })
        .map(|c| run(*c, &CheckParams::default(), &s))
        .collect();
    SpDiagnosis { subject, findings }
}

/// The diagnosis for people: what was judged, the failures and warnings with their evidence,
/// then every check on one line.
pub fn text(d: &SpDiagnosis) -> String {
    let mut out = String::new();
    for line in &d.subject {
        out.push_str(line);
        out.push('\n');
    }
    let notable: Vec<&Finding> = d
        .findings
        .iter()
        .filter(|f| matches!(f.outcome, Outcome::Fail | Outcome::Warn))
        .collect();
    if !notable.is_empty() {
        out.push_str("\nNeeds attention:\n");
        for f in notable {
            out.push_str(&format!(
                "  {} {} [{}] {}\n       {}\n",
                f.outcome.as_str().to_ascii_uppercase(),
                f.check,
                f.check.rule(),
                f.check.title(),
                f.summary
            ));
            for e in &f.evidence {
                out.push_str(&format!("       - {e}\n"));
            }
        }
    }
    let count = |o: Outcome| d.findings.iter().filter(|f| f.outcome == o).count();
    out.push_str(&format!(
        "\nAll checks ({} failed, {} warned, {} passed, {} skipped):\n",
        count(Outcome::Fail),
        count(Outcome::Warn),
        count(Outcome::Pass),
        count(Outcome::Skip)
    ));
    for f in &d.findings {
        out.push_str(&format!(
            "  {} {:<36} {:<34} {}\n",
            f.outcome.as_str().to_ascii_uppercase(),
            f.check.as_str(),
            f.check.rule(),
            f.summary
        ));
    }
    out
}

/// The diagnosis as JSON (`schema_version` 1).
pub fn json(d: &SpDiagnosis) -> serde_json::Value {
    serde_json::json!({
        "schema_version": 1,
        "subject": d.subject,
        "findings": d.findings.iter().map(|f| serde_json::json!({
            "check": f.check,
            "rule": f.check.rule(),
            "outcome": f.outcome,
            "summary": f.summary,
            "evidence": f.evidence,
        })).collect::<Vec<_>>(),
    })
}
