//! The catalogue as text: `saml-harness list --format text|json|md`.

use crate::judge::describe as expectation_words;
use crate::scenario::Catalogue;

/// One line per scenario.
pub fn text(catalogue: &Catalogue) -> String {
    let width = catalogue.iter().map(|s| s.id.len()).max().unwrap_or(0);
    let mut out = String::new();
    for s in catalogue.iter() {
        out.push_str(&format!(
            "{:<width$}  {:<6}  {:<32}  {}\n",
            s.id,
            s.file.level.as_str(),
            expectation_words(&s.file.expect),
            s.file.title
        ));
    }
    out.push_str(&format!("{} scenarios\n", catalogue.len()));
    out
}

/// A JSON array of scenarios.
pub fn json(catalogue: &Catalogue) -> String {
    let items: Vec<serde_json::Value> = catalogue
        .iter()
        .map(|s| {
            serde_json::json!({
                "id": s.id,
                "title": s.file.title,
                "spec": s.file.spec,
                "rules": s.file.rules,
                "level": s.file.level,
                "severity": s.file.severity,
                "flow": s.file.flow,
                "user": s.file.user,
                "requires": s.file.requires,
                "expect": s.file.expect,
                "control": control_words(s),
            })
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&items).unwrap_or_default();
    text.push('\n');
    text
}

/// A scenario's control in words (`null` in JSON when it is its own control).
fn control_words(scenario: &crate::scenario::Scenario) -> Option<String> {
    match crate::control::derive(scenario) {
        Ok(crate::control::Need::Own) => None,
        Ok(crate::control::Need::One(c)) => Some(c.describe()),
        Ok(crate::control::Need::AnyOf(cs)) => Some(
            cs.iter()
                .map(crate::control::Control::describe)
                .collect::<Vec<_>>()
                .join(", or "),
        ),
        Err(e) => Some(format!("invalid: {e}")),
    }
}

/// Each scenario and its control: what the SP must accept for a refusal of the scenario to
/// mean something.
pub fn controls(catalogue: &Catalogue) -> String {
    let width = catalogue.iter().map(|s| s.id.len()).max().unwrap_or(0);
    let mut out = String::new();
    for s in catalogue.iter() {
        let control = control_words(s)
            .unwrap_or_else(|| "(its own: it expects the positive outcome)".to_owned());
        out.push_str(&format!("{:<width$}  {control}\n", s.id));
    }
    out
}

/// A Markdown table (the committed `scenarios/_catalogue.md`).
pub fn markdown(catalogue: &Catalogue) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = String::from(
        "# Scenario catalogue\n\n| id | spec | level | severity | expectation | title |\n|---|---|---|---|---|---|\n",
    );
    for s in catalogue.iter() {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            s.id,
            cell(&s.file.spec.join("; ")),
            s.file.level.as_str(),
            s.file.severity.as_str(),
            cell(&expectation_words(&s.file.expect)),
            cell(&s.file.title)
        ));
    }
    out.push_str(&format!("\n{} scenarios.\n", catalogue.len()));
    out
}
