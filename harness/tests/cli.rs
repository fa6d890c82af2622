//! The `saml-harness` binary as a user runs it: exit codes, error messages, files written.

use std::path::Path;
use std::process::{Command, Output};

fn harness(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_saml-harness"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

/// A JSON file the run wrote.
fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn keys_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    mock_idp::KeyStore::load_or_create(dir.path(), mock_idp::KeyType::Rsa2048).expect("keys");
    dir
}

#[test]
fn list_prints_every_scenario_in_each_format() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let md = harness(&["list", "--format", "md"], cwd.path());
    assert!(md.status.success(), "{}", text(&md.stderr));
    let md = text(&md.stdout);
    assert!(md.contains("| `signature/unsigned-response` |"), "{md}");
    assert!(md.contains("SAML Profiles §4.1.4.5"), "{md}");

    let json = harness(&["list", "--format", "json"], cwd.path());
    let items: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    let items = items.as_array().expect("array");
    assert!(items.len() >= 20);
    assert!(
        items
            .iter()
            .all(|i| i["spec"].as_array().is_some_and(|s| !s.is_empty()))
    );

    let filtered = harness(&["list", "--filter", "signature/*"], cwd.path());
    let out = text(&filtered.stdout);
    assert!(
        out.lines().filter(|l| l.starts_with("signature/")).count() >= 3,
        "{out}"
    );
    assert!(!out.contains("login/"), "{out}");
}

#[test]
fn a_broken_scenario_file_exits_2_naming_file_line_and_field() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let dir = cwd.path().join("mine/signature");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("typo.toml"),
        "title = \"t\"\nspec = [\"x\"]\nlevel = \"must\"\nseverity = \"high\"\nexpct = { outcome = \"refused\" }\n",
    )
    .expect("write");
    let out = harness(&["list", "--scenarios", "mine"], cwd.path());
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("mine/signature/typo.toml:5:"), "{err}");
    assert!(err.contains("expct"), "{err}");

    let out = harness(&["run", "--target", "missing.toml"], cwd.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("missing.toml"));

    let out = harness(&["run", "--filter", "nothing/*"], cwd.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no scenarios selected"));
}

#[test]
fn a_conformance_failure_exits_1_and_lands_in_junit() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let keys = keys_dir();
    let dir = cwd.path().join("mine/wrong");
    std::fs::create_dir_all(&dir).expect("mkdir");
    // A scenario whose expectation is wrong on purpose: an unsigned response must be refused,
    // so "signed in" fails against a correct SP.
    std::fs::write(
        dir.join("expects-unsigned-accepted.toml"),
        "title = \"wrong on purpose\"\nspec = [\"test\"]\nlevel = \"must\"\nseverity = \"high\"\n[plan]\nsigning = { layout = \"none\" }\n[expect]\noutcome = \"signed-in\"\nas = \"member\"\n",
    )
    .expect("write");
    let out = harness(
        &[
            "run",
            "--no-embedded",
            "--scenarios",
            "mine",
            "--report",
            "out",
            "--idp-state",
            &keys.path().display().to_string(),
        ],
        cwd.path(),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("FAIL   wrong/expects-unsigned-accepted [high]"),
        "{stdout}"
    );
    let junit = std::fs::read_to_string(cwd.path().join("out/junit.xml")).expect("junit");
    assert!(junit.contains("<failure"), "{junit}");
    let json = read_json(&cwd.path().join("out/report.json"));
    assert_eq!(json["summary"]["failed"], 1);
    assert_eq!(
        json["results"][0]["observation"]["outcome"],
        "not-signed-in"
    );
}

#[test]
fn shards_merge_into_the_whole_run_and_diff_reports_changes() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let keys = keys_dir();
    let keys = keys.path().display().to_string();
    for (shard, dir) in [("1/2", "s1"), ("2/2", "s2")] {
        let out = harness(
            &[
                "run",
                "--filter",
                "login/*",
                "--shard",
                shard,
                "--report",
                dir,
                "--idp-state",
                &keys,
            ],
            cwd.path(),
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    let out = harness(
        &["report", "merge", "s1", "s2", "--out", "merged"],
        cwd.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let merged = read_json(&cwd.path().join("merged/report.json"));
    let listed = harness(
        &["list", "--filter", "login/*", "--format", "json"],
        cwd.path(),
    );
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(
        merged["summary"]["total"].as_u64(),
        Some(listed.as_array().expect("array").len() as u64)
    );

    let same = harness(&["report", "diff", "merged", "merged"], cwd.path());
    assert_eq!(same.status.code(), Some(0));
    let changed = harness(&["report", "diff", "s1", "merged"], cwd.path());
    assert_eq!(changed.status.code(), Some(1));
    assert!(
        text(&changed.stdout).contains("login/"),
        "{}",
        text(&changed.stdout)
    );
}

#[test]
fn an_interrupted_run_says_so_in_every_format_and_lists_what_did_not_run() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let cwd = tempfile::tempdir().expect("tempdir");
    let keys = keys_dir();
    let child = Command::new(env!("CARGO_BIN_EXE_saml-harness"))
        .args([
            "run",
            "--report",
            "out",
            "--jobs",
            "1",
            "--idp-state",
            &keys.path().display().to_string(),
        ])
        .current_dir(cwd.path())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the binary runs");
    std::thread::sleep(std::time::Duration::from_secs(3));
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    kill(pid, Signal::SIGTERM).expect("SIGTERM");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(3), "an interrupted run exits 3");
    // What did not run is one line, not one per scenario (a pipe nobody drains until the end
    // holds 64 KiB).
    let printed = text(&out.stdout);
    assert!(
        printed.contains("scenarios not run: the run was interrupted")
            && !printed.contains("observed not run"),
        "{printed}"
    );
    let json = read_json(&cwd.path().join("out/report.json"));
    assert_eq!(json["interrupted"], true);
    let total = json["summary"]["total"].as_u64().expect("total");
    let catalogue = saml_harness::scenario::Catalogue::embedded().expect("catalogue");
    assert_eq!(usize::try_from(total).expect("count"), catalogue.len());
    let errored = json["summary"]["errored"].as_u64().expect("errored");
    let passed = json["summary"]["passed"].as_u64().expect("passed");
    assert!(errored > 0, "what did not run is listed");
    assert_eq!(passed + errored, total, "what finished is kept as it was");
    let junit = std::fs::read_to_string(cwd.path().join("out/junit.xml")).expect("junit");
    let suites = junit
        .lines()
        .find(|l| l.trim_start().starts_with("<testsuites"))
        .expect("a testsuites element");
    for count in [
        format!("tests=\"{total}\""),
        "failures=\"0\"".to_owned(),
        format!("errors=\"{errored}\""),
    ] {
        assert!(suites.contains(&count), "{count} in {suites}");
    }
    let md = std::fs::read_to_string(cwd.path().join("out/report.md")).expect("md");
    assert!(md.contains("**Interrupted:**"));
    let html = std::fs::read_to_string(cwd.path().join("out/index.html")).expect("html");
    assert!(html.contains("<b>Interrupted:</b>"));
}

/// Outside a terminal, a run prints one progress line per family as its last scenario
/// finishes, and nothing from xmlsec or libxml2 although signatures are refused (the
/// `signature/` family refuses every forged one); `-vv` lets the libraries speak.
#[test]
fn a_run_off_a_terminal_prints_a_line_per_family_and_no_library_noise() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let keys = keys_dir();
    let keys = keys.path().display().to_string();
    let run = |verbose: &[&str]| {
        let mut args = vec![
            "run",
            "--filter",
            "signature/*",
            "--filter",
            "login/*",
            "--idp-state",
            &keys,
        ];
        args.extend_from_slice(verbose);
        let out = harness(&args, cwd.path());
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stderr)
    };
    let quiet = run(&[]);
    let mut lines: Vec<&str> = quiet.lines().collect();
    assert_eq!(lines.len(), 2, "{quiet}");
    // The two families run side by side: either may finish first.
    lines.sort_by_key(|l| !l.contains("] login: "));
    assert!(
        lines[0].contains("] login: ") && lines[0].ends_with(" s)"),
        "{quiet}"
    );
    assert!(
        lines[1].contains("] signature: ")
            && lines[1].contains(" pass")
            && lines[1].ends_with(" s)"),
        "{quiet}"
    );
    assert!(!quiet.contains('\x1b'), "{quiet}");

    let loud = run(&["-vv"]);
    assert!(
        loud.contains("func=xmlSec"),
        "{}",
        &loud[..loud.len().min(2000)]
    );
}

#[test]
fn without_a_patience_hook_the_slow_idp_scenario_waits_for_the_sps_own_patience() {
    // The reference SP's target file as a user's target: the SP a process of its own, on a
    // free port, and no `patience` hook, so the scenario waits the SP's own 2 s.
    let cwd = tempfile::tempdir().expect("tempdir");
    let keys = keys_dir();
    let port = hardening::probe::free_port();
    let file = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../targets/reference-sp.toml"),
    )
    .expect("the reference SP's target file");
    let start = file.find("\npatience = [").expect("its patience hook");
    let end = start + file[start..].find("\n]").expect("the hook's end") + 2;
    let file = format!("{}{}", &file[..start], &file[end..]).replace("8280", &port.to_string());
    std::fs::write(cwd.path().join("sp.toml"), file).expect("write");
    let out = harness(
        &[
            "run",
            "--target",
            "sp.toml",
            "--filter",
            "fallback/idp-slow-clear-error",
            "--report",
            "out",
            "--idp-state",
            &keys.path().display().to_string(),
        ],
        cwd.path(),
    );
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{said}");
    let json = read_json(&cwd.path().join("out/report.json"));
    let result = &json["results"][0];
    assert_eq!(result["status"], "pass", "{result:#}");
    let evidence = result["evidence"].to_string();
    assert!(!evidence.contains("hook `patience`"), "{evidence}");
    // The SP gave up after its own patience, and said so.
    assert!(
        evidence.contains("did not answer within 2000 ms"),
        "{evidence}"
    );
}

#[test]
fn bench_measures_the_mock_idps_memory_in_a_process_of_its_own() {
    // A very short bench: every measure runs, and the mock IdP's memory is read from its own
    // process. No figure is checked against its budget (a debug build, a busy machine); only
    // that the figures are there and hang together.
    let cwd = tempfile::tempdir().expect("tempdir");
    let out = harness(
        &[
            "bench",
            "--seconds",
            "0.05",
            "--fuzz-cases",
            "2",
            "--http-fuzz-cases",
            "2",
            "--filter",
            "addressing/assertion-issuer-missing/response",
            "--browser-filter",
            "login/valid-response-signed",
            "--out",
            "bench",
        ],
        cwd.path(),
    );
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{said}");
    let json = read_json(&cwd.path().join("bench/bench.json"));
    let memory = &json["idp_memory"];
    let mb = |field: &str| {
        memory[field]
            .as_f64()
            .unwrap_or_else(|| panic!("{field}: {json}"))
    };
    assert!(mb("started_mb") > 1.0, "{memory}");
    assert!(
        mb("peak_mb") >= mb("end_mb") && mb("peak_mb") >= mb("started_mb"),
        "{memory}"
    );
    assert_eq!(memory["budget_mb"], 50.0);
    assert!(memory["signed_responses"].as_u64() >= Some(20), "{memory}");
    assert!(memory["oversized_requests"].as_u64() >= Some(1), "{memory}");
    assert!(json.get("idp_memory_not_measured").is_none(), "{json}");
    assert!(
        text(&out.stdout).contains("mock IdP memory (`saml-harness idp serve`): "),
        "{said}"
    );
}
