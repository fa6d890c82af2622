//! `saml-harness init` against a real SP (the node-saml app, the quickest to start): the file
//! it writes loads with the real parser and runs the logins as it is; without a working login
//! it says what is missing, and a run stops at the session probe's TODO before anything is sent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use saml_harness::init::{InitConfig, InitOutcome, StartSpec, init};
use saml_harness::run::TargetChoice;
use saml_harness::target::Extractor;
use saml_harness::verdict::Status;

/// A free loopback port for the app (the kernel's choice, released at once).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `init` for the node-saml app, started by init on `port`, the file going to `output`.
async fn init_node_saml(port: u16, login_path: &str, output: &Path) -> InitOutcome {
    let app = crate::support::root().join("targets/node-saml");
    assert!(
        app.join("node_modules/@node-saml/node-saml").exists(),
        "{} is missing: run `cargo xtask setup` (it installs the node-saml app's packages)",
        app.join("node_modules").display()
    );
    let base = format!("http://127.0.0.1:{port}");
    let config = InitConfig {
        sp_metadata: format!("{base}/saml/metadata"),
        login_url: format!("{base}{login_path}"),
        probe_urls: Vec::new(),
        output: output.to_owned(),
        name: None,
        email: "alice@corp.example".to_owned(),
        start: Some(StartSpec {
            command: vec!["node".to_owned(), "server.js".to_owned()],
            cwd: Some(app),
            env: vec![
                ("PORT".to_owned(), port.to_string()),
                (
                    "IDP_METADATA_URL".to_owned(),
                    "{idp.metadata_url}".to_owned(),
                ),
            ],
            ready_url: Some(format!("{base}/healthz")),
            ready_timeout_seconds: 30,
        }),
        idp_bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        idp_state: None,
        key_cache: Some(crate::support::idp_state()),
        key_type: mock_idp::KeyType::Rsa2048,
        step_timeout: Duration::from_secs(10),
    };
    let outcome = init(config).await.expect("init runs");
    std::fs::write(output, &outcome.text).expect("target file written");
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_writes_a_node_saml_target_that_runs_its_logins_as_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = dir.path().join("node-saml.toml");
    let port = free_port();
    let outcome = init_node_saml(port, "/login?email={user.email}", &output).await;

    let f = &outcome.findings;
    assert_eq!(
        f.metadata.entity_id,
        format!("http://127.0.0.1:{port}/saml/metadata")
    );
    let probe = f.login.probe.as_ref().expect("the session probe was found");
    assert_eq!(probe.url, format!("http://127.0.0.1:{port}/me"));
    assert_eq!(
        (probe.signed_in_status, probe.signed_out_status),
        (200, 401)
    );
    assert_eq!(probe.identity, Extractor::JsonPointer("/email".to_owned()));
    assert_eq!(f.login.anyone_signed_in, Some(true));
    // The profile, as the hand-written targets/node-saml.toml declares it.
    let settings: Vec<&str> = outcome.settings.iter().map(|(s, _)| s.as_str()).collect();
    for expected in ["signature=both", "idp-initiated=off", "jit=on"] {
        assert!(settings.contains(&expected), "{settings:?}");
    }
    assert!(outcome.todos.is_empty(), "{:?}", outcome.todos);
    assert!(
        outcome.text.contains("cwd = \"")
            && outcome
                .text
                .contains("\"IDP_METADATA_URL\" = \"{idp.metadata_url}\""),
        "{}",
        outcome.text
    );

    // The file runs as written: the harness starts the app itself from its [start].
    let reports = dir.path().join("report");
    let run = crate::support::run_against(TargetChoice::File(output), &reports, &["login/*"]).await;
    let s = &run.report.summary;
    assert_eq!(
        (s.failed, s.errored, s.inconclusive),
        (0, 0, 0),
        "{:?}",
        crate::support::not_passing(&run)
    );
    assert!(s.passed >= 5, "the logins pass: {s:?}");
    let profile = run.report.profile.as_ref().expect("a profile");
    assert!(
        profile.contradictions.is_empty(),
        "what init declared is what the run measured: {:?}",
        profile.contradictions
    );
    assert!(
        run.report
            .results
            .iter()
            .filter(|r| r.status == Status::Skip)
            .all(|r| r.reason.contains("hook")),
        "skipped only for the hooks init cannot write: {:?}",
        crate::support::not_passing(&run)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_without_a_working_login_says_what_is_missing_and_run_stops_at_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output: PathBuf = dir.path().join("broken.toml");
    // A login URL that starts no SAML login; the app refuses unsolicited responses, so the
    // IdP-initiated attempt signs nobody in either.
    let outcome = init_node_saml(free_port(), "/no-such-login", &output).await;
    let f = &outcome.findings;
    assert!(
        f.login.probe.is_none() && f.login.route.is_none(),
        "{:?}",
        f.login
    );
    assert!(
        f.login.attempts[0].contains("no AuthnRequest reached the mock IdP"),
        "{:?}",
        f.login.attempts
    );
    assert!(
        outcome.todos.iter().any(|t| t.contains("no session probe")),
        "{:?}",
        outcome.todos
    );
    // It still says what the metadata says.
    assert!(
        outcome
            .text
            .contains("acs_url = \"{sp.base_url}/saml/acs\"")
    );

    // The run refuses it before anything is sent, naming the file and the probe's line.
    let config = crate::support::run_config(
        TargetChoice::File(output.clone()),
        &dir.path().join("report"),
        &["login/*"],
    );
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let err = saml_harness::run::run(config, tx, std::future::pending())
        .await
        .expect_err("the TODO stops the run");
    let line = outcome
        .text
        .lines()
        .position(|l| l.starts_with("probe_url"))
        .expect("a probe line")
        + 1;
    assert_eq!(err.kind, saml_harness::error::ErrorKind::Input);
    assert!(
        err.message
            .contains(&format!("{}:{line}", output.display()))
            && err.message.contains("todo_probe_url"),
        "{}",
        err.message
    );
}
