//! The harness tests itself: against `reference-sp --weaken X`, the scenarios that declare
//! `catches = ["X"]` stop passing, and no others do. A weakening no scenario catches yet is
//! listed below with the reason, so the gap is visible rather than silently untested.

use std::collections::BTreeSet;

use reference_sp::Weakening;
use saml_harness::run::TargetChoice;
use saml_harness::scenario::Catalogue;
use saml_harness::scenario::{Expectation, Severity};
use saml_harness::verdict::{Observation, Status};

use crate::support::run_against;

/// Weakenings the catalogue does not catch yet, and why.
const KNOWN_GAPS: &[(&str, &str)] = &[];

/// Weakenings that let an attacker sign in as someone else: every identity-forgery scenario
/// (expectation `no-effect`) that catches them must fail as critical, having seen the SP sign in
/// as the forged identity, and there must be at least one.
const CRITICAL: &[&str] = &[
    "trust-first-assertion",
    "assertion-by-search",
    "nameid-text-to-first-comment",
];

/// Weakenings under which the SP dereferences a URL from the response, and a scenario whose
/// witness must record it (a critical failure whatever else the SP did).
const FETCHES: &[(&str, &str)] = &[("reference-uri", "signature/reference-uri-remote")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_weakening_is_caught_by_its_family_and_no_other_scenario() {
    let catalogue = Catalogue::embedded().expect("valid catalogue");
    let mut problems = Vec::new();
    for weakening in Weakening::ALL {
        let name = weakening.to_string();
        let expected: BTreeSet<String> = catalogue
            .iter()
            .filter(|s| s.file.catches.contains(&name))
            .map(|s| s.id.clone())
            .collect();
        let gap = KNOWN_GAPS.iter().find(|(n, _)| *n == name);
        if expected.is_empty() && gap.is_none() {
            problems.push(format!(
                "no scenario catches weakening `{name}`; add one (catches = [\"{name}\"]) or list it in KNOWN_GAPS with the reason"
            ));
            continue;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let outcome = run_against(
            TargetChoice::EmbeddedReference {
                weaken: vec![*weakening],
            },
            dir.path(),
            &[],
        )
        .await;
        let not_passing: BTreeSet<String> = outcome
            .report
            .results
            .iter()
            .filter(|r| r.status != Status::Pass && !crate::support::loopback_acs_warning(r))
            .map(|r| r.id.clone())
            .collect();
        if CRITICAL.contains(&name.as_str()) {
            let forgeries: Vec<_> = outcome
                .report
                .results
                .iter()
                .filter(|r| expected.contains(&r.id))
                .filter(|r| matches!(r.expectation, Some(Expectation::NoEffect { .. })))
                .collect();
            if forgeries.is_empty() {
                problems.push(format!(
                    "--weaken {name}: no identity-forgery scenario (outcome = \"no-effect\") catches it"
                ));
            }
            for r in forgeries {
                let forged = matches!(
                    &r.observation,
                    Some(Observation::SignedIn { identity, .. }) if identity == "admin@corp.example"
                );
                if r.severity != Some(Severity::Critical) || !forged {
                    problems.push(format!(
                        "--weaken {name}: {} must fail as critical with the admin signed in; it is {:?} {:?}: {}",
                        r.id, r.status, r.severity, r.observed
                    ));
                }
            }
        }
        for (_, id) in FETCHES.iter().filter(|(w, _)| *w == name) {
            match outcome.report.results.iter().find(|r| r.id == *id) {
                Some(r)
                    if r.severity == Some(Severity::Critical)
                        && r.reason.starts_with("the SP fetched http://127.0.0.1:") => {}
                other => problems.push(format!(
                    "--weaken {name}: {id} must fail as critical because the witness was fetched; got {:?}",
                    other.map(|r| (&r.status, &r.severity, &r.reason))
                )),
            }
        }
        if not_passing != expected {
            let missed: Vec<_> = expected.difference(&not_passing).collect();
            let extra: Vec<_> = not_passing.difference(&expected).collect();
            problems.push(format!(
                "--weaken {name}: expected exactly {expected:?} to stop passing; not caught: {missed:?}; also not passing: {extra:?}"
            ));
        }
    }
    for (name, _) in KNOWN_GAPS {
        assert!(
            Weakening::ALL.iter().any(|w| w.to_string() == *name),
            "KNOWN_GAPS names `{name}`, which is not a weakening"
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
