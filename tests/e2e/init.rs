//! `saml-harness init` against the real SPs of `targets/`, each started by init with the mock
//! IdP's metadata URL: the file it writes loads with the real parser and runs the logins as it
//! is, declaring what the run then measures. Without a working login (node-saml, the quickest
//! to start) it says what is missing, and a run stops at the session probe's TODO before
//! anything is sent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hardening::probe::free_port;
use saml_harness::init::{InitConfig, InitOutcome, StartSpec, init};
use saml_harness::run::TargetChoice;
use saml_harness::target::Extractor;
use saml_harness::verdict::Status;

/// How init starts one of the real SPs of `targets/`.
struct RealSp<'a> {
    /// Its folder under `targets/`.
    dir: &'a str,
    /// What must exist for it to start (relative to the workspace root, or absolute).
    needs: &'a [&'a str],
    /// The start command, run in its folder.
    command: &'a [&'a str],
    /// Its environment; `{port}` is the SP's port, `{state}` a fresh state folder.
    env: &'a [(&'a str, &'a str)],
    /// The metadata and login paths on the SP.
    metadata: &'a str,
    login: &'a str,
    /// The ready path, if not the metadata.
    ready: Option<&'a str>,
}

/// `init` for the node-saml app, started by init on `port`, the file going to `output`.
async fn init_node_saml(port: u16, login_path: &str, output: &Path) -> InitOutcome {
    let sp = RealSp {
        dir: "node-saml",
        needs: &["targets/node-saml/node_modules/@node-saml/node-saml"],
        command: &["node", "server.js"],
        env: &[
            ("PORT", "{port}"),
            ("IDP_METADATA_URL", "{idp.metadata_url}"),
        ],
        metadata: "/saml/metadata",
        login: login_path,
        ready: Some("/healthz"),
    };
    init_real_sp(&sp, port, output, output.parent().expect("a folder")).await
}

/// `init` for a real SP of `targets/`, started by init on `port`; the file goes to `output`,
/// the SP's state (where it keeps one) to `state`.
async fn init_real_sp(sp: &RealSp<'_>, port: u16, output: &Path, state: &Path) -> InitOutcome {
    for need in sp.needs {
        let path = crate::support::root().join(need);
        assert!(
            path.exists(),
            "{} is missing: run `cargo xtask setup` (it installs what targets/{} needs)",
            path.display(),
            sp.dir
        );
    }
    let base = format!("http://127.0.0.1:{port}");
    let fill = |v: &str| {
        v.replace("{port}", &port.to_string())
            .replace("{state}", &state.display().to_string())
    };
    let config = InitConfig {
        sp_metadata: format!("{base}{}", sp.metadata),
        login_url: format!("{base}{}", fill(sp.login)),
        probe_urls: Vec::new(),
        output: output.to_owned(),
        name: None,
        email: "alice@corp.example".to_owned(),
        start: Some(StartSpec {
            command: sp.command.iter().map(|c| (*c).to_owned()).collect(),
            cwd: Some(crate::support::root().join("targets").join(sp.dir)),
            env: sp
                .env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), fill(v)))
                .collect(),
            ready_url: sp.ready.map(|r| format!("{base}{r}")),
            ready_timeout_seconds: 60,
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

/// The other real SPs: init's file, unedited, signs the user in through every login scenario
/// that can run without a hook (Shibboleth's OneTimeUse refusal, a finding of its baseline,
/// aside), and declares what the run then measures.
async fn init_runs_as_written(sp: RealSp<'_>, expected: &[&str], known_failures: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = dir.path().join(format!("{}.toml", sp.dir));
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).expect("state folder");
    let outcome = init_real_sp(&sp, free_port(), &output, &state).await;
    assert!(
        outcome.findings.login.probe.is_some(),
        "{:?}",
        outcome.findings.login
    );
    assert!(outcome.todos.is_empty(), "{:?}", outcome.todos);
    let settings: Vec<&str> = outcome.settings.iter().map(|(s, _)| s.as_str()).collect();
    for e in expected {
        assert!(settings.contains(e), "{e} in {settings:?}");
    }
    let run = crate::support::run_against(
        TargetChoice::File(output),
        &dir.path().join("report"),
        &["login/*"],
    )
    .await;
    let failed: Vec<&str> = run
        .report
        .results
        .iter()
        .filter(|r| r.status != Status::Pass && r.status != Status::Skip)
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(
        failed,
        known_failures,
        "{:?}",
        crate::support::not_passing(&run)
    );
    assert!(run.report.summary.passed >= 9, "{:?}", run.report.summary);
    let profile = run.report.profile.as_ref().expect("a profile");
    assert!(
        profile.contradictions.is_empty(),
        "{:?}",
        profile.contradictions
    );
}

/// What SimpleSAMLphp and python3-saml accept by default (their hand-written targets declare
/// the same): either signature, unsolicited responses, the email from the NameID, anyone.
const EITHER_UNSOLICITED_NAME_ID: &[&str] = &[
    "signature=either",
    "idp-initiated=on",
    "identity=name-id",
    "jit=on",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_writes_a_shibboleth_sp_target_that_runs_as_written() {
    init_runs_as_written(
        RealSp {
            dir: "shibboleth-sp",
            needs: &["/usr/sbin/shibd", "/usr/lib/apache2/modules/mod_shib.so"],
            command: &["./start.sh"],
            env: &[
                ("SP_BASE_URL", "http://127.0.0.1:{port}"),
                ("IDP_METADATA_URL", "{idp.metadata_url}"),
                ("SHIB_SP_STATE", "{state}"),
            ],
            metadata: "/Shibboleth.sso/Metadata",
            login: "/Shibboleth.sso/Login?target=http://127.0.0.1:{port}/whoami",
            ready: None,
        },
        &["signature=either", "idp-initiated=on", "jit=on"],
        &["login/one-time-use"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_writes_a_simplesamlphp_target_that_runs_as_written() {
    init_runs_as_written(
        RealSp {
            dir: "simplesamlphp",
            needs: &["/usr/share/simplesamlphp/lib/_autoload.php", "/usr/bin/php"],
            command: &["bash", "start.sh"],
            env: &[
                ("PORT", "{port}"),
                ("IDP_METADATA_URL", "{idp.metadata_url}"),
                ("STATE_DIR", "{state}"),
            ],
            metadata: "/simplesaml/module.php/saml/sp/metadata.php/default-sp",
            login: "/login.php?email={user.email}",
            ready: None,
        },
        EITHER_UNSOLICITED_NAME_ID,
        &[],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_writes_a_python3_saml_target_that_runs_as_written() {
    init_runs_as_written(
        RealSp {
            dir: "python3-saml",
            needs: &[
                "targets/python3-saml/.venv/.installed",
                "/usr/lib/python3/dist-packages/xmlsec",
            ],
            command: &["./start.sh"],
            env: &[
                ("PORT", "{port}"),
                ("IDP_METADATA_URL", "{idp.metadata_url}"),
            ],
            metadata: "/saml/metadata",
            login: "/login?email={user.email}",
            ready: Some("/healthz"),
        },
        EITHER_UNSOLICITED_NAME_ID,
        &[],
    )
    .await;
}
