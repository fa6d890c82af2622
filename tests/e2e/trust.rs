//! Verdicts that rest on evidence: a transport failure at the SP is an error (never a
//! refusal), a refusal whose control did not sign in is inconclusive (never a pass), a typo in
//! a target file stops the run before anything is sent, and verdicts do not depend on how many
//! scenarios run at once, nor on whether a scenario that needs the SP to itself got a copy of it.

use std::collections::BTreeMap;
use std::path::Path;

use saml_harness::run::TargetChoice;
use saml_harness::verdict::Status;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::run_config;

/// A loopback "SP" that answers the session probe with 401 and resets the connection of every
/// request to its ACS (SO_LINGER 0, then close: the client sees a reset, not an answer).
async fn resetting_sp() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                    if head.len() > 64 * 1024 {
                        return;
                    }
                }
                if head.starts_with(b"POST /acs") {
                    // A zero linger makes the close a reset; it does not block on drop.
                    #[allow(deprecated)]
                    let _ = stream.set_linger(Some(std::time::Duration::ZERO));
                    drop(stream);
                    return;
                }
                let body = "{\"error\":\"not_signed_in\"}";
                let answer = format!(
                    "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    (addr, task)
}

fn write_target(dir: &Path, base: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("resetting.toml");
    std::fs::write(
        &path,
        format!(
            r#"name = "resetting"
[sp]
base_url = "{base}"
entity_id = "{{sp.base_url}}/metadata"
acs_url = "{{sp.base_url}}/acs"
[login]
sp_initiated_url = "{{sp.base_url}}/login"
[session]
probe_url = "{{sp.base_url}}/me"
identity = {{ json_pointer = "/email" }}
[users.member]
email = "alice@corp.example"
[defaults]
settings = ["idp-initiated=on"]
{extra}"#
        ),
    )
    .expect("write target");
    path
}

fn scenario_dir(dir: &Path, files: &[(&str, &str)]) -> std::path::PathBuf {
    let scenarios = dir.join("scenarios");
    for (id, text) in files {
        let path = scenarios.join(format!("{id}.toml"));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write scenario");
    }
    scenarios
}

/// Runs `scenarios` alone (no embedded catalogue) against `target`, reports under `dir`.
async fn run_only(
    target: TargetChoice,
    scenarios: std::path::PathBuf,
    dir: &Path,
) -> saml_harness::run::RunOutcome {
    let mut config = run_config(target, &dir.join("report"), &[]);
    config.embedded_catalogue = false;
    config.scenario_dirs = vec![scenarios];
    run_to_end(config).await
}

/// Runs `config` to its end, with no one listening to its events.
async fn run_to_end(config: saml_harness::run::RunConfig) -> saml_harness::run::RunOutcome {
    saml_harness::run::run(
        config,
        tokio::sync::mpsc::unbounded_channel().0,
        std::future::pending(),
    )
    .await
    .expect("the run starts")
}

const HEAD: &str =
    "title = \"t\"\nspec = [\"SAML Profiles §4.1.4.3\"]\nlevel = \"must\"\nseverity = \"high\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_reset_at_the_acs_is_an_error_that_names_the_hop_never_a_refusal() {
    let (addr, server) = resetting_sp().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let target = write_target(dir.path(), &format!("http://{addr}"), "");
    let scenarios = scenario_dir(
        dir.path(),
        &[(
            "reset/unsigned",
            &format!(
                "{HEAD}flow = \"idp-initiated\"\n[plan]\nsigning = {{ layout = \"none\" }}\n[expect]\noutcome = \"refused\"\n"
            ),
        )],
    );
    let outcome = run_only(TargetChoice::File(target), scenarios, dir.path()).await;
    server.abort();
    let r = outcome
        .report
        .result("reset/unsigned")
        .expect("the scenario ran");
    assert_eq!(r.status, Status::Error, "{} / {}", r.observed, r.reason);
    assert!(
        r.reason.contains(&format!("POST http://{addr}/acs")),
        "the hop is named: {}",
        r.reason
    );
    assert_eq!(outcome.exit_code(false).code(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_whose_control_does_not_sign_in_is_inconclusive() {
    let dir = tempfile::tempdir().expect("tempdir");
    // `unknown` has no account at the reference SP (JIT off): a valid response for them is
    // refused too, so refusing their mis-addressed one proves nothing.
    let scenarios = scenario_dir(
        dir.path(),
        &[
            (
                "trust/unknown-user-destination",
                &format!(
                    "{HEAD}user = \"unknown\"\n[plan]\nalter = [{{ kind = \"destination\", value = \"https://other-sp.test/acs\" }}]\n[expect]\noutcome = \"refused\"\n"
                ),
            ),
            (
                "trust/member-destination",
                &format!(
                    "{HEAD}[plan]\nalter = [{{ kind = \"destination\", value = \"https://other-sp.test/acs\" }}]\n[expect]\noutcome = \"refused\"\n"
                ),
            ),
        ],
    );
    let outcome = run_only(
        TargetChoice::EmbeddedReference { weaken: Vec::new() },
        scenarios,
        dir.path(),
    )
    .await;
    let unknown = outcome
        .report
        .result("trust/unknown-user-destination")
        .expect("ran");
    assert_eq!(unknown.status, Status::Inconclusive, "{}", unknown.reason);
    let control = unknown.control.as_ref().expect("a control is named");
    assert!(!control.reached);
    assert_eq!(control.name, "a valid sp-initiated login as unknown");
    assert!(
        control.observed.contains("unknown_user"),
        "{}",
        control.observed
    );
    assert!(
        unknown
            .reason
            .contains("a valid sp-initiated login as unknown")
    );
    let member = outcome
        .report
        .result("trust/member-destination")
        .expect("ran");
    assert_eq!(member.status, Status::Pass, "{}", member.reason);
    assert!(member.control.as_ref().is_some_and(|c| c.reached));
    assert_eq!(outcome.report.summary.inconclusive, 1);
    // Inconclusive does not fail a run, unless --strict.
    assert_eq!(outcome.exit_code(false).code(), 0);
    assert_eq!(outcome.exit_code(true).code(), 1);
    // Every format says so.
    let report = dir.path().join("report");
    let md = std::fs::read_to_string(report.join("report.md")).expect("md");
    assert!(
        md.contains("| `trust/unknown-user-destination` | inconclusive |"),
        "{md}"
    );
    let junit = std::fs::read_to_string(report.join("junit.xml")).expect("junit");
    assert!(
        junit.contains("<skipped message=\"inconclusive: nothing was tested"),
        "{junit}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("report.json")).expect("json"))
            .expect("parses");
    assert_eq!(json["schema_version"], 2);
    assert_eq!(json["summary"]["inconclusive"], 1);
    let html = std::fs::read_to_string(report.join("index.html")).expect("html");
    assert!(html.contains("data-status=\"inconclusive\""));
}

#[test]
fn typos_in_a_target_file_stop_the_run_with_file_line_and_the_nearest_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = write_target(dir.path(), "http://127.0.0.1:9", "");
    let text = std::fs::read_to_string(&base).expect("read");
    let end = text.lines().count();
    for (typo, line, wanted) in [
        (
            "[capabilites]\nsingle-logout = true\n",
            end + 1,
            "unknown field `capabilites`",
        ),
        (
            "[capabilities]\nsingle-logut = true\n",
            end + 2,
            "did you mean `single-logout`?",
        ),
    ] {
        let path = dir.path().join("typo.toml");
        std::fs::write(&path, format!("{text}{typo}")).expect("write");
        let err = saml_harness::target::Target::load(&path).expect_err("a typo");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("{}:{line}:", path.display())),
            "{message}"
        );
        assert!(message.contains(wanted), "{message}");
    }
    let settings = text.replace("idp-initiated=on", "idp-initated=on");
    let path = dir.path().join("setting.toml");
    std::fs::write(&path, settings).expect("write");
    let message = saml_harness::target::Target::load(&path)
        .expect_err("a typo")
        .to_string();
    let line = text
        .lines()
        .position(|l| l.contains("idp-initiated=on"))
        .expect("the settings line")
        + 1;
    assert!(
        message.contains(&format!(":{line}:"))
            && message.contains("did you mean `idp-initiated=on`?"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_do_not_depend_on_how_many_scenarios_run_at_once() {
    let mut by_jobs = BTreeMap::new();
    for jobs in [1, 8] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = run_config(
            TargetChoice::EmbeddedReference { weaken: Vec::new() },
            dir.path(),
            &[],
        );
        config.options.jobs = jobs;
        let outcome = run_to_end(config).await;
        let verdicts: Vec<(String, Status, String)> = outcome
            .report
            .results
            .iter()
            // Run-specific values (ports, IDs, instants) redacted as in the baselines.
            .map(|r| {
                (
                    r.id.clone(),
                    r.status,
                    saml_harness::report::normalize(&r.observed),
                )
            })
            .collect();
        by_jobs.insert(jobs, verdicts);
    }
    assert_eq!(by_jobs[&1].len(), by_jobs[&8].len());
    let differ: Vec<_> = by_jobs[&1]
        .iter()
        .zip(&by_jobs[&8])
        .filter(|(a, b)| a != b)
        .collect();
    assert!(
        differ.is_empty(),
        "--jobs 1 and --jobs 8 differ: {differ:#?}"
    );
}

/// A loopback "SP" that accepts connections and never answers (a stopped process).
async fn hung_sp() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_sp_trips_the_circuit_breaker_instead_of_timing_out_every_scenario() {
    let (addr, server) = hung_sp().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let target = write_target(dir.path(), &format!("http://{addr}"), "");
    let files: Vec<(String, String)> = (0..16)
        .map(|i| {
            (
                format!("hung/s{i:02}"),
                format!(
                    "{HEAD}[plan]\nalter = [{{ kind = \"destination\", value = \"https://other-sp.test/acs\" }}]\n[expect]\noutcome = \"refused\"\n"
                ),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let scenarios = scenario_dir(dir.path(), &refs);
    let mut config = run_config(TargetChoice::File(target), &dir.path().join("report"), &[]);
    config.embedded_catalogue = false;
    config.scenario_dirs = vec![scenarios];
    config.options.step_timeout = std::time::Duration::from_secs(1);
    config.options.jobs = 2;
    let started = std::time::Instant::now();
    let outcome = run_to_end(config).await;
    let took = started.elapsed();
    server.abort();
    let results = &outcome.report.results;
    assert!(results.iter().all(|r| r.status == Status::Error));
    let not_run = results
        .iter()
        .filter(|r| r.reason.contains("not run: the SP stopped answering"))
        .count();
    assert!(not_run >= 10, "{not_run} of {} not run", results.len());
    // 16 scenarios and their control at 1 s each would take 17 s and more at 2 jobs; the
    // breaker stops after 4 in a row.
    assert!(took < std::time::Duration::from_secs(12), "{took:?}");
    assert_eq!(outcome.exit_code(false).code(), 3);
}

/// The SP's origin of a result's first hop to it.
fn sp_origin(r: &saml_harness::report::ResultEntry) -> Option<String> {
    let hop = r.evidence.hops.iter().find(|h| h.to == "sp")?;
    let rest = hop.url.strip_prefix("http://")?;
    Some(rest.split('/').next()?.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_that_needs_the_embedded_sp_to_itself_gets_a_copy_and_the_others_go_on() {
    // Two IdP outages (slow beyond the SP's patience, and down) and a `set` step need the SP and
    // the mock IdP to themselves; against the embedded reference SP each gets a copy of its
    // own, so the logins on the shared SP, meanwhile, never see an outage or a changed setting.
    let alone = [
        "fallback/idp-slow-clear-error",
        "fallback/idp-down-clear-error",
        "sso-off/reset-flow-works",
    ];
    let shared = ["flavours/okta/name-id", "flavours/entra/name-id"];
    let dir = tempfile::tempdir().expect("tempdir");
    let filters: Vec<&str> = alone.iter().chain(&shared).copied().collect();
    let config = run_config(
        TargetChoice::EmbeddedReference { weaken: Vec::new() },
        dir.path(),
        &filters,
    );
    let outcome = run_to_end(config).await;
    let results = &outcome.report.results;
    assert_eq!(results.len(), alone.len() + shared.len());
    let not_passing: Vec<_> = results
        .iter()
        .filter(|r| r.status != Status::Pass)
        .map(|r| format!("{}: {} ({})", r.id, r.status, r.reason))
        .collect();
    assert!(not_passing.is_empty(), "{not_passing:#?}");
    let own_note = |r: &saml_harness::report::ResultEntry| {
        r.evidence
            .notes
            .iter()
            .any(|n| n.contains("in an environment of its own"))
    };
    let mut origins = std::collections::BTreeSet::new();
    for r in results {
        let copied = alone.contains(&r.id.as_str());
        assert_eq!(own_note(r), copied, "{}: {:?}", r.id, r.evidence.notes);
        let origin = sp_origin(r).unwrap_or_else(|| panic!("{}: no hop to the SP", r.id));
        origins.insert((copied.then(|| r.id.clone()), origin));
    }
    // One SP for the shared scenarios, and one more for each copy.
    let distinct: std::collections::BTreeSet<_> = origins.iter().map(|(_, o)| o).collect();
    assert_eq!(distinct.len(), alone.len() + 1, "{origins:#?}");
    // The slow IdP shortened its copy's patience with the target's `patience` hook, and the
    // SP gave up by itself with its clear refusal.
    let slow = results
        .iter()
        .find(|r| r.id == "fallback/idp-slow-clear-error")
        .expect("ran");
    assert!(
        slow.evidence
            .notes
            .iter()
            .any(|n| n.contains("patience with the IdP to 500 ms (hook `patience`)")),
        "{:?}",
        slow.evidence.notes
    );
}
