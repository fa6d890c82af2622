//! The whole catalogue against the reference SP, in-process, as `saml-harness run` does it.

use saml_harness::run::TargetChoice;
use saml_harness::verdict::Status;

use crate::support::{not_passing, run_against};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_passes_against_the_reference_sp_and_the_baseline_holds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outcome = run_against(
        TargetChoice::EmbeddedReference { weaken: Vec::new() },
        dir.path(),
        &[],
    )
    .await;
    let loopback = crate::support::loopback_acs_warning;
    let bad: Vec<String> = not_passing(&outcome)
        .into_iter()
        .filter(|line| !line.starts_with("warn sp-metadata/acs-https:"))
        .collect();
    assert!(bad.is_empty(), "not passing:\n{}", bad.join("\n"));
    assert_eq!(
        outcome
            .report
            .results
            .iter()
            .filter(|r| loopback(r))
            .count(),
        1,
        "the http ACS on loopback is a warning"
    );
    assert_eq!(
        outcome.exit_code(true).code(),
        0,
        "nothing inconclusive either"
    );
    assert_eq!(outcome.report.summary.inconclusive, 0);
    assert!(
        outcome
            .report
            .results
            .iter()
            .all(|r| r.control.as_ref().is_none_or(|c| c.reached)),
        "every control reaches its positive outcome on the reference SP"
    );
    let profile = outcome.report.profile.as_ref().expect("a profile");
    assert!(
        profile.contradictions.is_empty(),
        "{:?}",
        profile.contradictions
    );
    assert_eq!(
        outcome.report.summary.total,
        outcome.report.summary.passed + 1,
        "every scenario passes but the loopback warning"
    );
    for file in ["report.json", "report.md", "junit.xml"] {
        assert!(dir.path().join(file).is_file(), "{file} written");
    }

    crate::support::check_baseline("reference-sp", dir.path());
    assert!(
        outcome
            .report
            .results
            .iter()
            .all(|r| r.status == Status::Pass || loopback(r)),
        "checked above"
    );
}
