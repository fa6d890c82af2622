//! The `reference-sp` binary.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn weaken_help_lists_every_check() {
    let out = Command::new(env!("CARGO_BIN_EXE_reference-sp"))
        .args(["serve", "--weaken", "help"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for w in reference_sp::Weakening::ALL {
        assert!(
            text.contains(w.name()),
            "{} missing from:\n{text}",
            w.name()
        );
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_reference-sp"))
        .args(["serve", "--weaken", "nope"])
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nope"));
}

#[test]
fn the_binary_serves_on_loopback_and_stops_on_sigterm() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    let port = probe.local_addr().expect("addr").port();
    drop(probe);
    let db = tempfile::tempdir().expect("tempdir");
    let child = Command::new(env!("CARGO_BIN_EXE_reference-sp"))
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--demo",
            "--admin-token",
            "bin-token",
            "--weaken",
            "audience",
            "--database",
        ])
        .arg(db.path().join("sp.sqlite"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let started = Instant::now();
    let mut up = false;
    while started.elapsed() < Duration::from_secs(20) {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read as _, Write as _};
            let _ = s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n");
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            up = answer.contains("200") && answer.ends_with("ok");
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = child.wait_with_output().expect("exits");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(up, "the SP answered /healthz");
    assert!(
        out.status.success(),
        "clean exit on SIGTERM: {:?}",
        out.status
    );
    for line in [
        format!("SP entityID: http://127.0.0.1:{port}/saml/metadata"),
        format!("ACS URL: http://127.0.0.1:{port}/saml/acs"),
        "admin token: bin-token".to_owned(),
        "WARNING: deliberately weakened (audience)".to_owned(),
    ] {
        assert!(stdout.contains(&line), "{line:?} missing from:\n{stdout}");
    }
    assert!(
        stderr.contains("WEAKENED") && stderr.contains("audience"),
        "the weakening is logged at warn level: {stderr}"
    );
    assert!(
        stderr.contains("reference SP listening") && !stderr.contains("bin-token"),
        "the INFO log says where the SP listens, never its admin token: {stderr}"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(db.path().join("sp.sqlite"))
            .expect("the database file was created")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the database is its owner's only");
}
