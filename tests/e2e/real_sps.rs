//! The catalogue against the node-saml target app: the library's real behaviour, reported
//! honestly, and held to the committed baseline `reports/node-saml/report.md`.

use saml_harness::run::TargetChoice;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_saml_target_matches_its_committed_baseline() {
    let app = crate::support::root().join("targets/node-saml/node_modules/@node-saml/node-saml");
    assert!(
        app.is_dir(),
        "the node-saml app's npm packages are missing: run `cargo xtask setup` (it runs `npm ci` in targets/node-saml)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let outcome = crate::support::run_against(
        TargetChoice::File(crate::support::root().join("targets/node-saml.toml")),
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(
        outcome.report.summary.errored,
        0,
        "no infrastructure errors: {:?}",
        crate::support::not_passing(&outcome)
    );
    assert!(outcome.report.summary.passed > 0, "some logins work");

    crate::support::check_baseline("node-saml", dir.path());
}
