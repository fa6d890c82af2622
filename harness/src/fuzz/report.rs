//! The fuzz report: `fuzz.json` (everything) and `fuzz.md` (for people), written atomically.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::FuzzError;
use super::campaign::CampaignResult;

/// The report's file names.
pub const FUZZ_JSON: &str = "fuzz.json";
/// See [`FUZZ_JSON`].
pub const FUZZ_MD: &str = "fuzz.md";

/// A whole fuzz run.
#[derive(Debug, Clone, Serialize)]
pub struct FuzzReport {
    /// The format version.
    pub schema_version: u32,
    /// The target's name.
    pub target: String,
    /// `in-process` or `http`.
    pub mode: String,
    /// Checks turned off in the embedded reference SP.
    pub weaken: Vec<String>,
    /// The command line that reproduces the run.
    pub reproduce: String,
    /// What was found.
    #[serde(flatten)]
    pub result: CampaignResult,
}

/// Renders the Markdown report.
pub fn render_markdown(report: &FuzzReport) -> String {
    let r = &report.result;
    let mut out = String::new();
    let _ = writeln!(out, "# Fuzz report: {}\n", report.target);
    let _ = writeln!(out, "- mode: {}", report.mode);
    if !report.weaken.is_empty() {
        let _ = writeln!(out, "- weakened checks: {}", report.weaken.join(", "));
    }
    let _ = writeln!(out, "- seed: {}", r.seed);
    let _ = writeln!(
        out,
        "- cases: {} random ({} discarded: the mock IdP cannot build them), {} regressions replayed first",
        r.cases, r.discarded, r.regressions_replayed
    );
    let expected = r
        .expected
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(out, "- expected outcomes of the judged cases: {expected}");
    if !r.layouts.is_empty() {
        let layouts: Vec<String> = r
            .layouts
            .iter()
            .map(|l| serde_json::json!(l).as_str().unwrap_or_default().to_owned())
            .collect();
        let _ = writeln!(
            out,
            "- signing layouts the SP accepts (a valid response in each, sent first; signed cases use only these): {}",
            layouts.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "- throughput: {:.0} cases/s ({} ms; shrinking took {} ms more)",
        r.cases_per_second, r.duration_ms, r.shrink_ms
    );
    let _ = writeln!(out, "- infrastructure errors: {}", r.errors);
    for e in &r.error_samples {
        let _ = writeln!(out, "  - {e}");
    }
    let kinds = r
        .by_kind
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        out,
        "- disagreements: {}{}",
        r.disagreements,
        if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({kinds})")
        }
    );
    let _ = writeln!(out, "- reproduce: `{}`\n", report.reproduce);
    if r.failures.is_empty() {
        let _ = writeln!(out, "No disagreement with the oracle.");
        return out;
    }
    let _ = writeln!(out, "## Minimal plans\n");
    for (i, f) in r.failures.iter().enumerate() {
        let _ = writeln!(
            out,
            "### {}. {:?} ({}), {}\n",
            i + 1,
            f.kind,
            f.severity.as_str(),
            f.origin
        );
        let _ = writeln!(out, "- expected: {}", f.expected);
        let _ = writeln!(out, "- observed: {}", f.observed);
        let _ = writeln!(out, "- rules: {}", f.rules.join(", "));
        let _ = writeln!(out, "- shrink steps: {}", f.shrink_steps);
        if let Some(path) = &f.scenario {
            let _ = writeln!(out, "- scenario: `{}`", path.display());
        }
        let plan = toml::to_string(&f.minimal).unwrap_or_default();
        let _ = writeln!(out, "\n```toml\n{plan}```\n");
    }
    out
}

/// Writes `fuzz.json` and `fuzz.md` into `dir`.
pub fn write(dir: &Path, report: &FuzzReport) -> Result<(), FuzzError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        crate::error::Error::harness(format!("failed to create {}: {e}", dir.display()))
    })?;
    let json = serde_json::to_string_pretty(report).map_err(|e| {
        crate::error::Error::harness(format!("failed to serialize the report: {e}"))
    })?;
    crate::report::write_atomically(&dir.join(FUZZ_JSON), format!("{json}\n").as_bytes())
        .map_err(|e| crate::error::Error::harness(e.to_string()))?;
    crate::report::write_atomically(&dir.join(FUZZ_MD), render_markdown(report).as_bytes())
        .map_err(|e| crate::error::Error::harness(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use mock_idp::Plan;
    use mock_idp::plan::Alteration;

    use super::*;
    use crate::fuzz::campaign::{Failure, Kind};
    use crate::scenario::Severity;

    fn report(failures: Vec<Failure>) -> FuzzReport {
        FuzzReport {
            schema_version: 1,
            target: "reference-sp".into(),
            mode: "in-process".into(),
            weaken: vec!["destination".into()],
            reproduce: "saml-harness fuzz --in-process --weaken destination --cases 500 --seed 1"
                .into(),
            result: CampaignResult {
                seed: 1,
                cases: 500,
                regressions_replayed: 0,
                discarded: 40,
                errors: 0,
                error_samples: Vec::new(),
                disagreements: failures.len() as u64,
                by_kind: BTreeMap::from([("accepted".to_owned(), failures.len() as u64)]),
                expected: BTreeMap::from([
                    ("either".to_owned(), 80),
                    ("refused".to_owned(), 250),
                    ("signed-in".to_owned(), 130),
                ]),
                failures,
                duration_ms: 1250,
                shrink_ms: 40,
                cases_per_second: 400.0,
                layouts: vec![
                    mock_idp::plan::SigningLayout::Both,
                    mock_idp::plan::SigningLayout::Assertion,
                ],
            },
        }
    }

    #[test]
    fn the_markdown_names_the_seed_the_throughput_and_each_minimal_plan() {
        let minimal = Plan {
            alter: vec![Alteration::Destination {
                value: "{sp.acs_url}/".into(),
            }],
            ..Plan::default()
        };
        let failure = Failure {
            origin: "seed 1 case 31".into(),
            kind: Kind::Accepted,
            severity: Severity::High,
            expected: "refused".into(),
            observed: "signed in as alice@corp.example".into(),
            rules: vec!["CORE-3.2.2-Destination".into()],
            original: minimal.clone(),
            minimal,
            shrink_steps: 8,
            scenario: Some("reports/fuzz/scenarios/fuzz-s1-1.toml".into()),
        };
        insta::assert_snapshot!(render_markdown(&report(vec![failure])));
        assert!(render_markdown(&report(Vec::new())).contains("No disagreement with the oracle."));
    }

    #[test]
    fn the_json_carries_the_result_flat() {
        let json = serde_json::to_value(report(Vec::new())).expect("json");
        assert_eq!(json["seed"], 1);
        assert_eq!(json["cases_per_second"], 400.0);
        assert_eq!(json["mode"], "in-process");
        assert!(json["failures"].as_array().is_some_and(Vec::is_empty));
    }
}
