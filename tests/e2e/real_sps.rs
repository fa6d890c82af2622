//! The catalogue against the real third-party SPs under `targets/`: each library's real
//! behaviour, reported honestly and held to its committed baseline `reports/NAME/report.md`.
//! `cargo xtask setup` installs what they need (Node.js packages, Debian packages).

use std::path::Path;

use saml_harness::run::TargetChoice;

/// Runs the catalogue against `targets/NAME.toml` after checking that `needs` exists (a
/// missing one says to run the set-up), and compares the report with the baseline.
async fn matches_its_baseline(name: &str, needs: &[&str]) {
    for path in needs {
        let path = crate::support::root().join(path);
        assert!(
            Path::new(&path).exists(),
            "{} is missing: run `cargo xtask setup` (it installs what targets/{name} needs)",
            path.display()
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let outcome = crate::support::run_against(
        TargetChoice::File(crate::support::root().join(format!("targets/{name}.toml"))),
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
    assert!(
        outcome
            .report
            .results
            .iter()
            .filter(|r| r.status == saml_harness::verdict::Status::Pass)
            .all(|r| r.control.as_ref().is_none_or(|c| c.reached)),
        "no pass rests on a control that did not reach its positive outcome"
    );
    crate::support::check_baseline(name, dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_saml_target_matches_its_committed_baseline() {
    matches_its_baseline(
        "node-saml",
        &["targets/node-saml/node_modules/@node-saml/node-saml"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shibboleth_sp_target_matches_its_committed_baseline() {
    matches_its_baseline(
        "shibboleth-sp",
        &["/usr/sbin/shibd", "/usr/lib/apache2/modules/mod_shib.so"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simplesamlphp_target_matches_its_committed_baseline() {
    matches_its_baseline(
        "simplesamlphp",
        &["/usr/share/simplesamlphp/lib/_autoload.php", "/usr/bin/php"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python3_saml_target_matches_its_committed_baseline() {
    matches_its_baseline(
        "python3-saml",
        &[
            "targets/python3-saml/.venv/.installed",
            "/usr/lib/python3/dist-packages/xmlsec",
        ],
    )
    .await;
}
