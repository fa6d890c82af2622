//! Diagnoses for people (text) and for machines (JSON).

use std::fmt::Write as _;

use super::checks::{Diagnosis, EmailSource, Outcome};
use super::input::Binding;

/// The text report of one or more diagnoses.
pub fn text(diagnoses: &[Diagnosis], clock_skew_seconds: i64) -> String {
    let mut out = String::new();
    for (i, d) in diagnoses.iter().enumerate() {
        if diagnoses.len() > 1 {
            let _ = writeln!(out, "== capture {} of {} ==", i + 1, diagnoses.len());
        }
        one(&mut out, d, clock_skew_seconds);
        if i + 1 < diagnoses.len() {
            out.push('\n');
        }
    }
    out
}

fn one(out: &mut String, d: &Diagnosis, skew: i64) {
    let binding = match d.binding {
        Binding::Post => "HTTP-POST",
        Binding::Redirect => "HTTP-Redirect",
        Binding::Unknown => "binding unknown",
    };
    let _ = writeln!(out, "Capture:   {} ({binding})", d.capture);
    if let Some(url) = &d.delivered_to {
        let _ = writeln!(out, "Posted to: {url}");
    }
    let _ = writeln!(
        out,
        "IdP:       {} ({})",
        d.idp.product.name(),
        d.idp.because
    );
    match &d.time {
        Some(t) => {
            let _ = writeln!(
                out,
                "Judged at: {} ({}), clock skew allowed {skew} s",
                t.at, t.source
            );
        }
        None => {
            let _ = writeln!(
                out,
                "Judged at: no time known (pass --at TIME to judge expiry and clock skew)"
            );
        }
    }
    let s = &d.summary;
    let _ = writeln!(
        out,
        "Issuer:    {}",
        s.issuer.as_deref().unwrap_or("(none)")
    );
    let _ = writeln!(
        out,
        "Status:    {}",
        s.status.as_deref().unwrap_or("(none)")
    );
    let _ = writeln!(
        out,
        "NameID:    {} ({})",
        s.name_id.as_deref().unwrap_or("(none)"),
        s.name_id_format
            .as_deref()
            .map_or("no format", |f| f.rsplit(':').next().unwrap_or(f))
    );
    let _ = writeln!(out, "Signed:    {}", s.signed);
    let _ = writeln!(
        out,
        "Email at the SP: {}",
        match &s.email_source {
            EmailSource::NameId => "from the NameID".to_owned(),
            EmailSource::Attribute(name) => format!("from the attribute {name:?}"),
            EmailSource::Unknown =>
                "not known (pass --sp-metadata or --email-attribute)".to_owned(),
        }
    );
    if s.attributes.is_empty() {
        let _ = writeln!(out, "Attributes: none");
    } else {
        let _ = writeln!(out, "Attributes:");
        for (name, values) in &s.attributes {
            let _ = writeln!(out, "  {name} = {}", values.join(", "));
        }
    }
    let count = |o: Outcome| d.checks.iter().filter(|c| c.outcome == o).count();
    let (failed, passed, skipped) = (
        count(Outcome::Fail),
        count(Outcome::Pass),
        count(Outcome::Skip),
    );
    out.push('\n');
    if failed > 0 {
        let _ = writeln!(out, "Failed checks:");
        for c in d.failures() {
            let _ = writeln!(out, "  FAIL {} [{}] {}", c.id, c.rule, c.title);
            let _ = writeln!(out, "       {}", c.evidence);
            if let Some(f) = &c.fix_idp {
                let _ = writeln!(out, "       Fix at the IdP ({}): {f}", d.idp.product.name());
            }
            if let Some(f) = &c.fix_sp {
                let _ = writeln!(out, "       Fix at the SP: {f}");
            }
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "All checks ({failed} failed, {passed} passed, {skipped} skipped):"
    );
    for c in &d.checks {
        let _ = writeln!(
            out,
            "  {:<4} {:<26} {:<32} {}",
            c.outcome.as_str().to_uppercase(),
            c.id,
            c.rule,
            c.evidence
        );
    }
    out.push('\n');
    match d.expected_refusal() {
        Some(code) => {
            let _ = writeln!(
                out,
                "Verdict: an SP that checks all of this refuses the response; the reference SP would say `{code}`."
            );
        }
        None if failed == 0 => {
            let _ = writeln!(out, "Verdict: no check failed.");
        }
        None => {
            let _ = writeln!(out, "Verdict: {failed} check(s) failed.");
        }
    }
}

/// The JSON report: one object per capture, with the expected refusal.
pub fn json(diagnoses: &[Diagnosis]) -> serde_json::Value {
    serde_json::json!({
        "schema_version": 1,
        "diagnoses": diagnoses.iter().map(|d| {
            let mut v = serde_json::to_value(d).unwrap_or(serde_json::Value::Null);
            if let Some(o) = v.as_object_mut() {
                o.insert("failed".to_owned(), serde_json::json!(d.failures().count()));
                o.insert("expected_refusal".to_owned(), serde_json::json!(d.expected_refusal()));
            }
            v
        }).collect::<Vec<_>>(),
    })
}

/// The reproduction beside its diagnosis.
pub fn reproduction_text(r: &super::reproduce::Reproduction, target: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Reproduction against {target}:");
    let _ = writeln!(
        out,
        "  diagnosis: {}",
        match (r.failed_rules.is_empty(), r.predicted_refusal) {
            (true, _) => "no check failed: the SP should sign the user in".to_owned(),
            (false, Some(code)) => format!(
                "failed {}; the reference SP would say `{code}`",
                r.failed_rules.join(", ")
            ),
            (false, None) => format!("failed {}", r.failed_rules.join(", ")),
        }
    );
    let _ = writeln!(out, "  the SP:    {}", r.observed);
    let _ = writeln!(
        out,
        "  agreement: {}",
        match (r.agrees, r.same_reason) {
            (true, true) => "the SP did what the diagnosis predicts, with the predicted reason",
            (true, false) if r.failed_rules.is_empty() =>
                "the SP signed the user in, as the diagnosis predicts",
            (true, false) =>
                "the SP refused, as the diagnosis predicts (its reason code is its own)",
            (false, _) if r.failed_rules.is_empty() =>
                "NO: the SP refused a response the diagnosis finds nothing wrong with",
            (false, _) => "NO: the SP accepted a response the diagnosis says it must refuse",
        }
    );
    for note in &r.notes {
        let _ = writeln!(out, "  mirrored:  {note}");
    }
    let _ = writeln!(
        out,
        "  plan:      {}",
        serde_json::to_string(&r.plan).unwrap_or_default()
    );
    out
}
