//! `saml-harness fuzz` over HTTP against the embedded reference SP, and the round trip of a
//! minimal plan through `run --scenarios`.

use reference_sp::Weakening;
use saml_harness::fuzz::{FuzzConfig, FuzzTarget, fuzz};
use saml_harness::run::{RunConfig, TargetChoice, run};
use saml_harness::verdict::Status;

use crate::support::idp_state;

async fn replay(dir: &std::path::Path, weaken: Vec<Weakening>, report: &str) -> (u8, Vec<Status>) {
    let mut config = RunConfig::new();
    config.target = TargetChoice::EmbeddedReference { weaken };
    config.scenario_dirs = vec![dir.join("scenarios")];
    config.embedded_catalogue = false;
    config.report_dir = dir.join(report);
    config.idp_state = Some(idp_state());
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let outcome = run(config, tx, std::future::pending())
        .await
        .expect("the replay runs");
    let statuses = outcome.report.results.iter().map(|r| r.status).collect();
    (outcome.exit_code(true).code(), statuses)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_fuzzing_shrinks_a_weakening_to_a_scenario_that_run_replays() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = FuzzConfig::new();
    config.target = FuzzTarget::EmbeddedReference {
        weaken: vec![Weakening::Destination],
    };
    // Seed 1 finds the weakening at case 242 (in-process and over HTTP alike); the campaign
    // stops at the first failure, so the margin costs nothing when it is found.
    config.cases = 600;
    config.seed = 1;
    config.max_failures = 1;
    config.report_dir = dir.path().to_owned();
    let outcome = fuzz(config).await.expect("the fuzz run");
    let result = &outcome.report.result;
    assert_eq!(result.errors, 0, "{:?}", result.error_samples);
    assert_eq!(outcome.exit_code().code(), 1, "{result:?}");
    let failure = &result.failures[0];
    assert!(
        failure.minimal.alter.len() + failure.minimal.tamper.len() <= 2,
        "{:?}",
        failure.minimal
    );
    assert!(dir.path().join("fuzz.json").exists() && dir.path().join("fuzz.md").exists());
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("fuzz.json")).expect("fuzz.json"),
    )
    .expect("json");
    assert_eq!(json["mode"], "http");
    assert!(json["cases_per_second"].as_f64().unwrap_or(0.0) > 0.0);

    // The minimal scenario fails against the same weakened SP and passes against the real one.
    let (code, statuses) = replay(dir.path(), vec![Weakening::Destination], "weak").await;
    assert_eq!((code, statuses), (1, vec![Status::Fail]));
    let (code, statuses) = replay(dir.path(), Vec::new(), "strict").await;
    assert_eq!((code, statuses), (0, vec![Status::Pass]));
}
