//! Shared helpers: paths, and one in-process run.

use std::path::{Path, PathBuf};

use saml_harness::driver::DriverKind;
use saml_harness::engine::RunOptions;
use saml_harness::run::{RunConfig, RunOutcome, TargetChoice, run};

/// The workspace root.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// One folder of mock-IdP keys for the whole test binary: RSA key generation is slow in debug
/// builds, and every run may reuse the same keys.
pub(crate) fn idp_state() -> PathBuf {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        mock_idp::KeyStore::load_or_create(dir.path(), mock_idp::KeyType::Rsa2048).expect("keys");
        dir
    });
    dir.path().to_owned()
}

/// Runs the embedded catalogue against `target`, writing reports into a temporary folder.
pub(crate) async fn run_against(
    target: TargetChoice,
    report_dir: &Path,
    filters: &[&str],
) -> RunOutcome {
    run_with(target, report_dir, filters, DriverKind::Http).await
}

/// [`run_against`] with a driver of choice (the browser driver starts ChromeDriver).
pub(crate) async fn run_with(
    target: TargetChoice,
    report_dir: &Path,
    filters: &[&str],
    driver: DriverKind,
) -> RunOutcome {
    let mut config = run_config(target, report_dir, filters);
    config.options.driver = driver;
    config.options.jobs = RunOptions::default_jobs(driver);
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    run(config, tx, std::future::pending())
        .await
        .unwrap_or_else(|e| match driver {
            DriverKind::Browser => panic!(
                "the browser run did not start ({e}); Chromium and ChromeDriver missing? run cargo xtask setup"
            ),
            DriverKind::Http => panic!("the run did not start: {e}"),
        })
}

/// The configuration of a run of the embedded catalogue against `target`, over HTTP, with the
/// test binary's shared mock-IdP keys.
pub(crate) fn run_config(target: TargetChoice, report_dir: &Path, filters: &[&str]) -> RunConfig {
    let mut config = RunConfig::new();
    config.target = target;
    config.report_dir = report_dir.to_owned();
    config.filters = filters.iter().map(|f| (*f).to_owned()).collect();
    config.idp_state = Some(idp_state());
    config
}

/// Where tests leave screenshots for people to look at: `$SAML_HARNESS_SCREENSHOTS`, when set.
pub(crate) fn save_screenshot(name: &str, png: &[u8]) {
    if let Some(dir) = std::env::var_os("SAML_HARNESS_SCREENSHOTS") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
    }
}

/// The one result of the embedded reference SP that is not a pass: it listens on loopback over
/// plain http, so its ACS is `http://127.0.0.1:PORT/saml/acs`, which the metadata check
/// reports as a warning (http is acceptable on loopback only).
pub(crate) fn loopback_acs_warning(r: &saml_harness::report::ResultEntry) -> bool {
    r.id == "sp-metadata/acs-https"
        && r.status == saml_harness::verdict::Status::Warn
        && r.reason.contains("loopback")
}

/// A readable list of the verdicts that did not pass.
pub(crate) fn not_passing(outcome: &RunOutcome) -> Vec<String> {
    outcome
        .report
        .results
        .iter()
        .filter(|r| r.status != saml_harness::verdict::Status::Pass)
        .map(|r| format!("{} {}: {} ({})", r.status, r.id, r.observed, r.reason))
        .collect()
}

/// Compares a fresh `report.md` with the committed baseline `reports/NAME/report.md`;
/// `UPDATE_BASELINES=1` rewrites the baseline instead.
pub(crate) fn check_baseline(name: &str, report_dir: &Path) {
    let fresh = std::fs::read_to_string(report_dir.join("report.md")).expect("report.md");
    let baseline = root().join("reports").join(name).join("report.md");
    if std::env::var_os("UPDATE_BASELINES").is_some() {
        std::fs::create_dir_all(baseline.parent().expect("parent")).expect("mkdir");
        std::fs::write(&baseline, &fresh).expect("write baseline");
    }
    let committed = std::fs::read_to_string(&baseline).unwrap_or_default();
    assert!(
        committed == fresh,
        "a fresh run's report.md differs from the committed baseline {}; review the change and \
         regenerate with `UPDATE_BASELINES=1 cargo nextest run -p tests`\n--- committed\n{committed}\n--- fresh\n{fresh}",
        baseline.display()
    );
}
