//! `saml-harness run --driver browser` as a user runs it: the report, and no ChromeDriver or
//! Chromium left behind, whether the run ends by itself or is stopped with Ctrl-C.
//!
//! Every process the run starts inherits a marker in its environment, so the test finds
//! exactly those (other tests may run browsers at the same time).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn keys_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    mock_idp::KeyStore::load_or_create(dir.path(), mock_idp::KeyType::Rsa2048).expect("keys");
    dir
}

/// Live processes (not zombies) whose environment holds `marker`, with their command lines.
fn marked(marker: &str) -> Vec<String> {
    let needle = format!("SAML_HARNESS_TEST_MARK={marker}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| {
            let dir = e.path();
            let environ = std::fs::read(dir.join("environ")).ok()?;
            let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
            let state = stat
                .rsplit(')')
                .next()?
                .split_whitespace()
                .next()?
                .to_owned();
            let cmdline = std::fs::read(dir.join("cmdline")).ok()?;
            let found = environ.split(|b| *b == 0).any(|v| v == needle.as_bytes());
            (found && state != "Z").then(|| {
                String::from_utf8_lossy(&cmdline)
                    .replace('\0', " ")
                    .chars()
                    .take(120)
                    .collect()
            })
        })
        .collect()
}

fn start_run(dir: &Path, keys: &Path, marker: &str, filters: &[&str]) -> Child {
    let mut args = vec![
        "run".to_owned(),
        "--driver".to_owned(),
        "browser".to_owned(),
        "--report".to_owned(),
        dir.join("report").to_string_lossy().into_owned(),
        "--idp-state".to_owned(),
        keys.to_string_lossy().into_owned(),
    ];
    for f in filters {
        args.push("--filter".to_owned());
        args.push((*f).to_owned());
    }
    Command::new(env!("CARGO_BIN_EXE_saml-harness"))
        .args(&args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("SAML_HARNESS_TEST_MARK", marker)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary runs")
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_browser_run_writes_every_report_and_leaves_no_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = keys_dir();
    let marker = format!("done-{}", std::process::id());
    let child = start_run(dir.path(), keys.path(), &marker, &["login/valid-*"]);
    let output = child.wait_with_output().expect("finishes");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("3 passed"), "{stdout}");
    for file in ["report.json", "report.md", "junit.xml", "index.html"] {
        assert!(dir.path().join("report").join(file).is_file(), "{file}");
    }
    wait_until(
        "every browser process ended",
        Duration::from_secs(5),
        || marked(&marker).is_empty(),
    );
}

#[test]
fn ctrl_c_stops_a_browser_run_writes_what_finished_and_ends_every_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = keys_dir();
    let marker = format!("interrupted-{}", std::process::id());
    let mut child = start_run(dir.path(), keys.path(), &marker, &[]);
    // Chromium is up (its renderers carry the marker too) and scenarios are running.
    wait_until("Chromium started", Duration::from_secs(60), || {
        marked(&marker).iter().any(|c| c.contains("chromium"))
    });
    std::thread::sleep(Duration::from_secs(2));
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    kill(pid, Signal::SIGINT).expect("SIGINT");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the run stops within 30 s of Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(3), "interrupted runs exit 3");
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("report/report.json")).expect("report.json written"),
    )
    .expect("json");
    // Every scenario is in the report; what did not finish is an error that says so.
    assert_eq!(report["interrupted"], true);
    let total = report["summary"]["total"].as_u64().expect("total");
    let catalogue = saml_harness::scenario::Catalogue::embedded().expect("catalogue");
    assert_eq!(usize::try_from(total).expect("count"), catalogue.len());
    let not_run = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["status"] == "error" && r["observed"] == "not run")
        .count();
    assert!(not_run > 0, "the unfinished scenarios are listed");
    let junit = std::fs::read_to_string(dir.path().join("report/junit.xml")).expect("junit");
    assert!(
        junit.contains(&format!("tests=\"{total}\"")) && junit.contains("interrupted before"),
        "junit.xml counts every scenario"
    );
    let md = std::fs::read_to_string(dir.path().join("report/report.md")).expect("md");
    assert!(md.contains("**Interrupted:**"), "{md}");
    assert!(dir.path().join("report/index.html").is_file());
    wait_until(
        "every browser process ended after Ctrl-C",
        Duration::from_secs(5),
        || marked(&marker).is_empty(),
    );
}

#[test]
fn a_killed_browser_run_leaves_no_chromedriver_or_chromium_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = keys_dir();
    let marker = format!("killed-{}", std::process::id());
    let mut child = start_run(dir.path(), keys.path(), &marker, &[]);
    wait_until("Chromium started", Duration::from_secs(60), || {
        marked(&marker).iter().any(|c| c.contains("chromium"))
    });
    // SIGKILL: the harness runs no code of its own any more; its watchdog ends the groups.
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    wait_until(
        "every browser process ended after SIGKILL",
        Duration::from_secs(10),
        || marked(&marker).is_empty(),
    );
}

#[test]
fn a_killed_run_leaves_no_sp_process_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = keys_dir();
    let marker = format!("killed-sp-{}", std::process::id());
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../targets/reference-sp.toml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_saml-harness"))
        .args(["run", "--target"])
        .arg(&target)
        .args(["--report", "report", "--idp-state"])
        .arg(keys.path())
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env("SAML_HARNESS_TEST_MARK", &marker)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(hardening::probe::Spawned)
        .expect("the binary runs");
    // The SP is the harness binary itself, started by the target's [start] (`sp serve`).
    wait_until("the SP started", Duration::from_secs(60), || {
        marked(&marker).iter().any(|c| c.contains(" sp serve"))
    });
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    wait_until(
        "the SP process ended after SIGKILL",
        Duration::from_secs(10),
        || marked(&marker).is_empty(),
    );
}
