//! Connections no client can hold: idle ones close after the header timeout, at most
//! `--max-connections` are open at once (so descriptors stay bounded), and SIGTERM does not
//! wait for idle connections.

use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hardening::probe::{
    Spawned, closed_within, free_port, idle_connections, open_descriptors, terminate_within,
};

fn healthz(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    Some(answer)
}

#[test]
fn the_binary_caps_its_connections_and_exits_promptly_on_sigterm_with_idle_ones_open() {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_reference-sp"))
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--max-connections",
            "16",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Spawned)
        .expect("starts");
    let started = Instant::now();
    while healthz(port).is_none_or(|a| !a.ends_with("ok")) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the SP did not come up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = open_descriptors(child.id());
    let idle = idle_connections(([127, 0, 0, 1], port).into(), 100);
    std::thread::sleep(Duration::from_millis(300));
    let during = open_descriptors(child.id());
    assert!(
        during <= before + 16,
        "100 idle connections: {before} descriptors before, {during} with them open"
    );
    let asked = Instant::now();
    let status = terminate_within(&mut child.0, Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| s.success()),
        "no clean exit within 5 s of SIGTERM ({status:?}, {:?})",
        asked.elapsed()
    );
    drop(idle);
}

#[tokio::test]
async fn idle_connections_do_not_stop_a_request_and_are_closed_after_the_timeout() {
    let mut config = reference_sp::Config::new();
    config.limits.header_timeout = Duration::from_millis(500);
    let sp = reference_sp::ReferenceSp::start(config).await.expect("SP");
    let addr = sp.addr();
    let check = tokio::task::spawn_blocking(move || {
        let mut idle = idle_connections(addr, 50);
        let started = Instant::now();
        let answer = healthz(addr.port()).expect("an answer");
        assert!(answer.ends_with("ok"), "{answer}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        for stream in &mut idle {
            assert!(
                closed_within(stream, Duration::from_secs(5)),
                "an idle connection stays open"
            );
        }
    });
    check.await.expect("checks");
    sp.shutdown().await.expect("shutdown");
}
