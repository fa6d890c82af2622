//! The `mock-idp` binary: listens on loopback, persists its keys, serves metadata with two
//! signing keys, and stops on SIGTERM. Every process started here is stopped by its pid.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hardening::probe::{Spawned, free_port};

#[tokio::test]
async fn serve_listens_on_loopback_and_keeps_its_keys() {
    let state = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_mock-idp"))
            .args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--sp",
                "https://sp.test=http://127.0.0.1:9/acs",
            ])
            .arg("--state")
            .arg(state.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(Spawned)
            .expect("spawn mock-idp")
    };
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/metadata");
    let mut first_metadata = String::new();
    for round in 0..2 {
        let child = start();
        let deadline = Instant::now() + Duration::from_secs(20);
        let metadata = loop {
            if let Ok(response) = client.get(&url).send().await {
                break response.text().await.expect("body");
            }
            assert!(
                Instant::now() < deadline,
                "mock-idp did not come up on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(metadata.matches("use=\"signing\"").count(), 2, "{metadata}");
        #[cfg(target_os = "linux")]
        {
            let tcp = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
            let local = format!("0100007F:{port:04X}");
            assert!(
                tcp.lines()
                    .any(|l| l.split_whitespace().nth(1) == Some(local.as_str())),
                "bound to 127.0.0.1"
            );
            assert!(
                !tcp.lines().any(|l| l.split_whitespace().nth(1)
                    == Some(format!("00000000:{port:04X}").as_str())),
                "not on 0.0.0.0"
            );
        }
        if round == 0 {
            first_metadata = metadata;
        } else {
            assert_eq!(first_metadata, metadata, "keys persist across restarts");
        }
        // Stop it by its pid with SIGTERM and expect a clean exit.
        let pid = child.0.id();
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .expect("kill");
        assert!(status.success());
        let mut child = child;
        let exit = child.0.wait().expect("wait");
        assert!(exit.success(), "exit after SIGTERM: {exit:?}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(state.path().join("signing-key.pem"))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
